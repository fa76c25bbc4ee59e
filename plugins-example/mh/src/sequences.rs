//! The `.mh_sequences` file: named sets of message numbers, as nmh writes them.
//!
//! Each sequence is one line `name: 1-3 7 9-12`. nmh reads the file as header fields, so
//! a line that starts with a space or a tab continues the one before; nmh itself writes
//! each sequence on one line, and so do we.
//!
//! The file is shared with nmh and with the user's own sequences (`cur`, `todo`, ...):
//! only the sequences we change are rewritten, every other line is written back byte for
//! byte, in its place. Tokens we cannot read as numbers are kept too, so that a sequence
//! we touch (a deleted message is removed from every sequence, as `rmm` does) loses
//! nothing else.

use std::fmt;

/// A set of message numbers, kept as sorted, disjoint, non-adjacent inclusive ranges so
/// that `all: 1-100000` costs one range, not a hundred thousand numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct NumberSet {
    ranges: Vec<(u32, u32)>,
    /// Tokens that are neither a number nor a range (or are out of range), kept as they
    /// are so that rewriting the sequence does not lose them.
    unparsed: Vec<String>,
}

impl NumberSet {
    pub fn new() -> Self {
        NumberSet::default()
    }

    /// Reads `1-3 7 9-12` (any whitespace between tokens, newlines included).
    pub fn parse(text: &str) -> NumberSet {
        let mut set = NumberSet::new();
        for token in text.split_ascii_whitespace() {
            match parse_token(token) {
                Some((low, high)) => set.ranges.push((low, high)),
                None => set.unparsed.push(token.to_owned()),
            }
        }
        set.normalize();
        set
    }

    fn normalize(&mut self) {
        self.ranges.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(self.ranges.len());
        for &(low, high) in &self.ranges {
            match merged.last_mut() {
                Some(last) if u64::from(low) <= u64::from(last.1) + 1 => {
                    last.1 = last.1.max(high);
                }
                _ => merged.push((low, high)),
            }
        }
        self.ranges = merged;
    }

    /// The index of the first range that ends at or after `number`.
    fn position(&self, number: u32) -> usize {
        self.ranges.partition_point(|&(_, high)| high < number)
    }

    pub fn contains(&self, number: u32) -> bool {
        let index = self.position(number);
        self.ranges
            .get(index)
            .is_some_and(|&(low, _)| low <= number)
    }

    /// Adds `number`; returns whether the set changed.
    pub fn insert(&mut self, number: u32) -> bool {
        if self.contains(number) {
            return false;
        }
        let index = self.position(number);
        self.ranges.insert(index, (number, number));
        // Merge with the neighbours it touches.
        if let Some(&(low, high)) = self.ranges.get(index + 1) {
            if number.checked_add(1) == Some(low) {
                self.ranges[index].1 = high;
                self.ranges.remove(index + 1);
            }
        }
        if index > 0 && self.ranges[index - 1].1.checked_add(1) == Some(number) {
            self.ranges[index - 1].1 = self.ranges[index].1;
            self.ranges.remove(index);
        }
        true
    }

    /// Removes `number`; returns whether the set changed.
    pub fn remove(&mut self, number: u32) -> bool {
        let index = self.position(number);
        let Some(&(low, high)) = self.ranges.get(index) else {
            return false;
        };
        if low > number {
            return false;
        }
        match (low == number, high == number) {
            (true, true) => {
                self.ranges.remove(index);
            }
            (true, false) => self.ranges[index].0 = number + 1,
            (false, true) => self.ranges[index].1 = number - 1,
            (false, false) => {
                self.ranges[index].1 = number - 1;
                self.ranges.insert(index + 1, (number + 1, high));
            }
        }
        true
    }

    /// Adds `number` if `on`, removes it otherwise; returns whether the set changed.
    pub fn set(&mut self, number: u32, on: bool) -> bool {
        if on {
            self.insert(number)
        } else {
            self.remove(number)
        }
    }

    /// Every number and every unreadable token of `other` added to this set.
    pub fn merge(&mut self, other: &NumberSet) {
        self.ranges.extend_from_slice(&other.ranges);
        self.normalize();
        for token in &other.unparsed {
            if !self.unparsed.contains(token) {
                self.unparsed.push(token.clone());
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty() && self.unparsed.is_empty()
    }

    /// The numbers, ascending (for tests and small sets: a range is expanded).
    #[cfg(test)]
    pub fn numbers(&self) -> Vec<u32> {
        self.ranges
            .iter()
            .flat_map(|&(low, high)| low..=high)
            .collect()
    }
}

/// `7` or `9-12`, with positive numbers that fit a UID; anything else is `None`.
fn parse_token(token: &str) -> Option<(u32, u32)> {
    let number = |text: &str| -> Option<u32> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse::<u32>().ok().filter(|&n| n > 0)
    };
    match token.split_once('-') {
        None => number(token).map(|n| (n, n)),
        Some((low, high)) => {
            let (low, high) = (number(low)?, number(high)?);
            (low <= high).then_some((low, high))
        }
    }
}

impl fmt::Display for NumberSet {
    /// nmh's spelling: `1-3 7 9-12`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut separator = |f: &mut fmt::Formatter<'_>| {
            let result = if first { Ok(()) } else { f.write_str(" ") };
            first = false;
            result
        };
        for &(low, high) in &self.ranges {
            separator(f)?;
            if low == high {
                write!(f, "{low}")?;
            } else {
                write!(f, "{low}-{high}")?;
            }
        }
        for token in &self.unparsed {
            separator(f)?;
            f.write_str(token)?;
        }
        Ok(())
    }
}

/// One logical line of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Entry {
    Sequence {
        name: String,
        set: NumberSet,
        /// The line as read (continuation lines included); written back unless
        /// `rewritten`.
        raw: Vec<u8>,
        /// Changed by us: written as `name: set` (or left out when the set is empty).
        rewritten: bool,
    },
    /// Anything else (a blank line, a line without a name): kept as it is.
    Other(Vec<u8>),
}

/// The whole `.mh_sequences` file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Sequences {
    entries: Vec<Entry>,
    changed: bool,
}

impl Sequences {
    /// Reads the file's bytes. Never fails: what is not a sequence is kept as it is.
    pub fn parse(bytes: &[u8]) -> Sequences {
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            let continues = matches!(line.first(), Some(b' ' | b'\t'));
            match chunks.last_mut() {
                Some(chunk) if continues => chunk.extend_from_slice(line),
                _ => chunks.push(line.to_vec()),
            }
        }
        let entries = chunks.into_iter().map(parse_entry).collect();
        Sequences {
            entries,
            changed: false,
        }
    }

    /// The file's new bytes: the lines as read, with the sequences we changed rewritten
    /// in place (empty ones left out, as nmh does) and new ones at the end.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for entry in &self.entries {
            let bytes: Vec<u8> = match entry {
                Entry::Sequence {
                    name,
                    set,
                    rewritten: true,
                    ..
                } => {
                    if set.is_empty() {
                        continue;
                    }
                    format!("{name}: {set}\n").into_bytes()
                }
                Entry::Sequence { raw, .. } | Entry::Other(raw) => raw.clone(),
            };
            if !out.is_empty() && !out.ends_with(b"\n") {
                out.push(b'\n');
            }
            out.extend_from_slice(&bytes);
        }
        out
    }

    /// Whether anything was changed since the file was read.
    pub fn is_changed(&self) -> bool {
        self.changed
    }

    /// The sequence `name` (the union, should the file name it twice); empty if absent.
    pub fn get(&self, name: &str) -> NumberSet {
        let mut result = NumberSet::new();
        for entry in &self.entries {
            if let Entry::Sequence { name: n, set, .. } = entry {
                if n == name {
                    result.merge(set);
                }
            }
        }
        result
    }

    /// The names of the sequences in the file, each once, in file order.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for entry in &self.entries {
            if let Entry::Sequence { name, .. } = entry {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
        names
    }

    /// Applies `change` to the sequence `name` (created at the end of the file if absent);
    /// the line is rewritten only if the set changed. Returns whether it did.
    pub fn update(&mut self, name: &str, change: impl FnOnce(&mut NumberSet)) -> bool {
        let before = self.get(name);
        let mut after = before.clone();
        change(&mut after);
        let positions: Vec<usize> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, entry)| matches!(entry, Entry::Sequence { name: n, .. } if n == name))
            .map(|(index, _)| index)
            .collect();
        if after == before {
            return false;
        }
        match positions.split_first() {
            None => self.entries.push(Entry::Sequence {
                name: name.to_owned(),
                set: after,
                raw: Vec::new(),
                rewritten: true,
            }),
            Some((&first, duplicates)) => {
                // One line for the sequence from now on: the first, holding the union.
                for &index in duplicates.iter().rev() {
                    self.entries.remove(index);
                }
                if let Entry::Sequence { set, rewritten, .. } = &mut self.entries[first] {
                    *set = after;
                    *rewritten = true;
                }
            }
        }
        self.changed = true;
        true
    }

    /// Removes `number` from every sequence but those named in `keep` (as `rmm` does for
    /// a message it removes).
    pub fn remove_everywhere(&mut self, number: u32, keep: &[&str]) {
        for name in self.names() {
            if !keep.contains(&name.as_str()) {
                self.update(&name, |set| {
                    set.remove(number);
                });
            }
        }
    }

    /// Moves `from` to `to` in every sequence that holds it (a message was renumbered).
    pub fn move_number(&mut self, from: u32, to: u32) {
        for name in self.names() {
            if self.get(&name).contains(from) {
                self.update(&name, |set| {
                    set.remove(from);
                    set.insert(to);
                });
            }
        }
    }
}

fn parse_entry(chunk: Vec<u8>) -> Entry {
    let Some(colon) = chunk.iter().position(|&b| b == b':') else {
        return Entry::Other(chunk);
    };
    let (Ok(name), Ok(value)) = (
        std::str::from_utf8(&chunk[..colon]),
        std::str::from_utf8(&chunk[colon + 1..]),
    ) else {
        return Entry::Other(chunk);
    };
    let name = name.trim_end_matches([' ', '\t']);
    if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Entry::Other(chunk);
    }
    Entry::Sequence {
        name: name.to_owned(),
        set: NumberSet::parse(value),
        raw: chunk.clone(),
        rewritten: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_sets_parse_format_and_round_trip_with_ranges() {
        let set = NumberSet::parse(" 9-12 1-3\t7 2  4 ");
        assert_eq!(set.to_string(), "1-4 7 9-12");
        assert_eq!(NumberSet::parse(&set.to_string()), set);
        assert_eq!(set.numbers(), vec![1, 2, 3, 4, 7, 9, 10, 11, 12]);
        assert!(set.contains(4) && set.contains(9) && !set.contains(5) && !set.contains(13));

        // Adjacent ranges merge; invalid tokens are kept after the numbers.
        let set = NumberSet::parse("5-6 1-2 3 x 0 7-3 -4 99999999999 8");
        assert_eq!(set.to_string(), "1-3 5-6 8 x 0 7-3 -4 99999999999");
        assert_eq!(NumberSet::parse("").to_string(), "");
        assert!(NumberSet::parse("  ").is_empty());
        assert_eq!(NumberSet::parse("1-4294967295").to_string(), "1-4294967295");
    }

    #[test]
    fn number_sets_insert_and_remove_keep_ranges_tidy() {
        let mut set = NumberSet::parse("1-3 7 9-12");
        assert!(set.insert(5));
        assert_eq!(set.to_string(), "1-3 5 7 9-12");
        assert!(set.insert(4));
        assert_eq!(set.to_string(), "1-5 7 9-12");
        assert!(set.insert(8));
        assert_eq!(set.to_string(), "1-5 7-12");
        assert!(set.insert(6));
        assert_eq!(set.to_string(), "1-12");
        assert!(!set.insert(6));
        assert!(set.remove(6));
        assert_eq!(set.to_string(), "1-5 7-12");
        assert!(set.remove(1) && set.remove(12));
        assert_eq!(set.to_string(), "2-5 7-11");
        assert!(!set.remove(6) && !set.remove(100));
        assert!(set.remove(7));
        assert_eq!(set.to_string(), "2-5 8-11");
        for n in [2, 3, 4, 5, 8, 9, 10, 11] {
            assert!(set.remove(n));
        }
        assert!(set.is_empty());
        assert!(set.insert(u32::MAX) && set.insert(u32::MAX - 1));
        assert_eq!(set.to_string(), format!("{}-{}", u32::MAX - 1, u32::MAX));
    }

    #[test]
    fn the_file_round_trips_and_only_changed_lines_are_rewritten() {
        let text = b"cur: 7\nunseen: 2-4  9\nfoo: 1 3\n bar-continued 5\nnot a sequence\n\nflagged: 3\nunseen: 11";
        let mut sequences = Sequences::parse(text);
        assert_eq!(
            sequences.render(),
            text.to_vec(),
            "unchanged: byte for byte"
        );
        assert!(!sequences.is_changed());
        assert_eq!(sequences.get("unseen").to_string(), "2-4 9 11");
        assert_eq!(sequences.get("foo").to_string(), "1 3 5 bar-continued");
        assert_eq!(sequences.names(), vec!["cur", "unseen", "foo", "flagged"]);

        // Changing unseen merges its two lines into the first; a new sequence goes last.
        assert!(sequences.update("unseen", |set| {
            set.remove(3);
        }));
        assert!(!sequences.update("flagged", |set| {
            set.insert(3);
        }));
        assert!(sequences.update("replied", |set| {
            set.insert(2);
        }));
        assert!(sequences.is_changed());
        assert_eq!(
            String::from_utf8(sequences.render()).unwrap(),
            "cur: 7\nunseen: 2 4 9 11\nfoo: 1 3\n bar-continued 5\nnot a sequence\n\nflagged: 3\nreplied: 2\n"
        );

        // An emptied sequence disappears; removal spares the names kept.
        sequences.remove_everywhere(3, &["cur"]);
        sequences.update("cur", |set| {
            set.insert(3);
        });
        sequences.remove_everywhere(3, &["cur"]);
        sequences.move_number(9, 12);
        assert_eq!(
            String::from_utf8(sequences.render()).unwrap(),
            "cur: 3 7\nunseen: 2 4 11-12\nfoo: 1 5 bar-continued\nnot a sequence\n\nreplied: 2\n"
        );
    }

    #[test]
    fn an_empty_or_odd_file_is_kept_as_it_is() {
        assert_eq!(Sequences::parse(b"").render(), b"".to_vec());
        let odd = b" leading continuation\n:no name\n\xff\xfe: 1\nname with space: 1\n";
        let sequences = Sequences::parse(odd);
        assert!(sequences.names().is_empty());
        assert_eq!(sequences.render(), odd.to_vec());
    }
}
