//! The two sides of an account, and data held once per side.
//!
//! As in isync, where per-side data is an array indexed by side (`stores[t]`, with `t ^ 1`
//! the other side), everything the host keeps for both sides is a [`PerSide`] indexed by
//! [`Side`]: one loop body over [`Side::BOTH`] serves both directions, and no code outside
//! this module needs to ask which side it is on.

use std::fmt;
use std::ops::{Index, IndexMut};

use serde::{Deserialize, Serialize};

/// The two repositories of an account, named as in the config (`localrepository`,
/// `remoterepository`). Neither is assumed to be a local store or a server.
///
/// Serialized as `"Local"` / `"Remote"` (the state stores it in pending copies).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Side {
    Local,
    Remote,
}

impl Side {
    /// Both sides, local first: the order in which per-side work is done unless a caller
    /// says otherwise.
    pub const BOTH: [Side; 2] = [Side::Local, Side::Remote];

    pub fn other(self) -> Side {
        match self {
            Side::Local => Side::Remote,
            Side::Remote => Side::Local,
        }
    }

    /// `"local"` or `"remote"`, as in messages.
    pub fn name(self) -> &'static str {
        match self {
            Side::Local => "local",
            Side::Remote => "remote",
        }
    }

    fn index(self) -> usize {
        match self {
            Side::Local => 0,
            Side::Remote => 1,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One `T` for each side, indexed by [`Side`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PerSide<T> {
    sides: [T; 2],
}

impl<T> PerSide<T> {
    pub const fn new(local: T, remote: T) -> Self {
        PerSide {
            sides: [local, remote],
        }
    }

    /// The value `make` gives for each side, called for the local side first.
    pub fn from_fn(mut make: impl FnMut(Side) -> T) -> Self {
        PerSide::new(make(Side::Local), make(Side::Remote))
    }

    /// Like [`PerSide::from_fn`], stopping at the first error.
    pub fn try_from_fn<E>(make: impl FnMut(Side) -> Result<T, E>) -> Result<Self, E> {
        Self::try_from_fn_starting_with(Side::Local, make)
    }

    /// Like [`PerSide::try_from_fn`], calling `make` for `first` first, so that an error
    /// there stops before the other side is touched.
    pub fn try_from_fn_starting_with<E>(
        first: Side,
        mut make: impl FnMut(Side) -> Result<T, E>,
    ) -> Result<Self, E> {
        let made_first = make(first)?;
        let made_second = make(first.other())?;
        Ok(match first {
            Side::Local => PerSide::new(made_first, made_second),
            Side::Remote => PerSide::new(made_second, made_first),
        })
    }

    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> PerSide<U> {
        let [local, remote] = self.sides;
        PerSide::new(f(local), f(remote))
    }

    pub fn as_ref(&self) -> PerSide<&T> {
        let [local, remote] = &self.sides;
        PerSide::new(local, remote)
    }

    pub fn as_mut(&mut self) -> PerSide<&mut T> {
        let [local, remote] = &mut self.sides;
        PerSide::new(local, remote)
    }

    /// The values, local first.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.sides.iter()
    }
}

impl<T> PerSide<Option<T>> {
    /// Both values if both sides have one.
    pub fn transpose(self) -> Option<PerSide<T>> {
        let [local, remote] = self.sides;
        Some(PerSide::new(local?, remote?))
    }
}

impl<T> Index<Side> for PerSide<T> {
    type Output = T;

    fn index(&self, side: Side) -> &T {
        &self.sides[side.index()]
    }
}

impl<T> IndexMut<Side> for PerSide<T> {
    fn index_mut(&mut self, side: Side) -> &mut T {
        &mut self.sides[side.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_other_side_of_each_side() {
        assert_eq!(Side::Local.other(), Side::Remote);
        assert_eq!(Side::Remote.other(), Side::Local);
        for side in Side::BOTH {
            assert_eq!(side.other().other(), side);
        }
        assert_eq!(Side::BOTH, [Side::Local, Side::Remote]);
        assert_eq!(Side::Remote.to_string(), "remote");
    }

    #[test]
    fn the_serialized_names_stay_those_in_existing_state_files() {
        assert_eq!(serde_json::to_string(&Side::Local).unwrap(), "\"Local\"");
        assert_eq!(
            serde_json::from_str::<Side>("\"Remote\"").unwrap(),
            Side::Remote
        );
    }

    #[test]
    fn values_are_indexed_by_side() {
        let mut counts = PerSide::new(1, 2);
        assert_eq!((counts[Side::Local], counts[Side::Remote]), (1, 2));
        counts[Side::Remote] += 5;
        assert_eq!(counts, PerSide::new(1, 7));
        assert_eq!(counts.iter().sum::<i32>(), 8);
        assert_eq!(
            PerSide::from_fn(Side::name),
            PerSide::new("local", "remote")
        );
        assert_eq!(counts.map(|n| n * 10), PerSide::new(10, 70));
        for side in Side::BOTH {
            *counts.as_mut()[side] = 0;
        }
        assert_eq!(counts, PerSide::default());
        assert_eq!(counts.as_ref()[Side::Local], &0);
    }

    #[test]
    fn fallible_construction_stops_at_the_first_error_in_the_order_asked() {
        let mut order = Vec::new();
        let made: Result<PerSide<&str>, ()> =
            PerSide::try_from_fn_starting_with(Side::Remote, |side| {
                order.push(side);
                Ok(side.name())
            });
        assert_eq!(made, Ok(PerSide::new("local", "remote")));
        assert_eq!(order, vec![Side::Remote, Side::Local]);

        let mut order = Vec::new();
        let failed: Result<PerSide<()>, Side> = PerSide::try_from_fn(|side| {
            order.push(side);
            Err(side)
        });
        assert_eq!(failed, Err(Side::Local));
        assert_eq!(order, vec![Side::Local], "the remote side is never asked");
    }

    #[test]
    fn both_or_nothing() {
        assert_eq!(
            PerSide::new(Some(1), Some(2)).transpose(),
            Some(PerSide::new(1, 2))
        );
        assert_eq!(PerSide::new(Some(1), None).transpose(), None);
        assert_eq!(PerSide::<Option<u8>>::new(None, None).transpose(), None);
    }
}
