//! `--shard I/N`: one of N disjoint slices of a grid's cells, for array jobs.

use std::str::FromStr;

use super::GridError;

/// `--shard I/N`: the I-th (1-based) of N disjoint slices of the grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl FromStr for Shard {
    type Err = GridError;
    fn from_str(s: &str) -> Result<Self, GridError> {
        let bad = || GridError::Shard(s.to_string());
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// The cells of this shard: every N-th cell of the canonical order, starting at the
    /// I-th. Round robin rather than contiguous blocks, so that each shard gets a similar
    /// mix of slow and fast methods.
    pub fn select<T>(&self, cells: Vec<T>) -> Vec<T> {
        cells
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % self.count == self.index - 1)
            .map(|(_, c)| c)
            .collect()
    }
}
