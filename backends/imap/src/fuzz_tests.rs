//! The fuzzing entry points of [`crate::fuzzing`] on random input, a few seconds in CI.

use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        // PROPTEST_CASES runs longer by hand.
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(3000),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Pieces that IMAP responses are made of, so random streams reach the parsers' cases.
const PIECE: &str = "\\* |t1 |\\+ |OK |NO |BAD |BYE |FETCH |LIST |SEARCH |EXISTS |CAPABILITY \
    |\\(|\\)|\\[|\\]|\\{[0-9]{1,3}\\+?\\}\r\n|\\{99999999999\\}\r\n|\"[^\"\r\n]{0,8}\"|UID [0-9]{1,10} \
    |FLAGS \\(\\\\Seen [a-z$]{0,5}\\) |RFC822.SIZE [0-9]{1,10} |BODY\\[\\] |INTERNALDATE \"1-Jan-2020 00:00:00 \\+0000\" \
    |\\[UIDVALIDITY [0-9]{1,10}\\] |\\[APPENDUID [0-9]{1,3} [0-9:,]{1,9}\\] |\\(\\\\Noselect\\) \"/\" \
    |MODSEQ \\([0-9]{1,5}\\) |VANISHED \\(EARLIER\\) [0-9:,*]{1,8}|&[A-Za-z0-9+,]{0,6}-|[0-9]{1,4}|[a-zA-Z/.]{1,6}| |\r\n|\n|NIL";

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_bytes(stream in proptest::collection::vec(any::<u8>(), 0..400), chunk in 1usize..64) {
        crate::fuzzing::responses(&stream, chunk);
    }

    #[test]
    fn streams_of_imap_pieces(
        pieces in proptest::collection::vec(proptest::string::string_regex(PIECE).unwrap(), 0..40),
        chunk in 1usize..64,
    ) {
        crate::fuzzing::responses(pieces.concat().as_bytes(), chunk);
    }
}
