//! Work shared between fits, so that a grid computes it once: the results of label-free
//! stages ([`crate::train::stages`]; FEAWAD's autoencoder pretraining). Such a stage sees no
//! label, so the base and AnoOnly cells of one split (and every other cell whose unlabeled
//! rows and settings of that stage are the same: ablations of later stages, and in the
//! clean setting every gamma_la) would each compute the same result. A [`StageCache`]
//! hands it out instead: [`SharedStages`] keeps results in memory within a process (a key
//! being computed by one worker makes the others wait for it, never compute it twice) and,
//! given a directory, on disk across processes (`bench --cache DIR`: shards, resumes, later
//! runs), in its [`STAGE_DIR`].
//!
//! **Content-addressed.** A key is a BLAKE3 hash of everything the work depends on
//! ([`KeyBuilder`], [`key`]), built from the stage's declaration
//! ([`crate::train::stages::StageKeyBuilder`]) and what the method adds: the rows in the
//! order the sampler sees them, the initial weights, every hyperparameter the stage
//! declares and the seed, and the code that computes it (this crate's version, a digest of
//! its sources and of `Cargo.lock` made by `build.rs`, the target, and a fingerprint of the
//! matrix kernel's results at the fit's shapes on this CPU). So a hit is, bit for bit, what
//! the fit would have computed, and anything that could change a bit is another key.
//!
//! **Never trusted blindly.** A cache file holds its key and a checksum of its contents; a
//! file that does not read back whole (truncated, altered, written for another key, another
//! shape) is counted in [`StageStats::rejected`], recomputed and replaced ([`dir`]). Files
//! are written atomically (temporary sibling, rename), so concurrent shards at worst both
//! compute a key and write the same bytes.
//!
//! Layout: [`key`] (content keys), [`memory`] (the in-memory store that computes each key
//! once among concurrent fits, backed by the directory), [`dir`] (the cache files).

pub mod dir;
pub mod key;
pub mod memory;

use std::sync::Arc;

use crate::train::{Interrupted, TrainReport};
use crate::vocab::tensor::NamedTensor;

pub use dir::{CacheDirError, STAGE_DIR};
pub use key::{Key, KeyBuilder, CODE_DIGEST};
pub use memory::{SharedStages, DEFAULT_MEMORY_BUDGET};

/// Which stage of which method a key belongs to: what a store counts per
/// ([`SharedStages::stage_stats`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StageId {
    /// The method's name ([`crate::methods::Method::NAME`]).
    pub method: &'static str,
    /// The stage's name ([`crate::train::stages::StageSpec::name`]).
    pub stage: &'static str,
}

/// The key of one stage's result: its stage and its content hash (which holds the stage
/// too).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StageKey {
    pub id: StageId,
    pub hash: Key,
}

/// A stage's result: the state of the network it trained (as [`crate::nn::Module::state`]
/// writes it) and the stage's report.
#[derive(Clone, Debug)]
pub struct StageOutput {
    pub tensors: Vec<NamedTensor>,
    pub report: TrainReport,
}

impl StageOutput {
    /// Bytes held (for the memory budget).
    pub fn bytes(&self) -> usize {
        self.tensors
            .iter()
            .map(|t| t.data.len() * 4 + t.name.len() + 64)
            .sum::<usize>()
            + self.report.epoch_losses.len() * 8
            + 64
    }
}

/// Where finished stage results are kept, by key. `get` and `put` are the store; a fit
/// calls [`StageCache::get_or_compute`], which a store shared by concurrent fits overrides
/// so that a key is computed once ([`SharedStages`]).
pub trait StageCache: Send + Sync {
    fn get(&self, key: &StageKey) -> Option<Arc<StageOutput>>;

    fn put(&self, key: &StageKey, value: Arc<StageOutput>);

    /// The value of `key`: a stored one, else `compute`'s, stored. `compute` may stop
    /// (its observer interrupted the fit): nothing is stored then.
    fn get_or_compute(
        &self,
        key: &StageKey,
        compute: &mut dyn FnMut() -> Result<StageOutput, Interrupted>,
    ) -> Result<Arc<StageOutput>, Interrupted> {
        if let Some(v) = self.get(key) {
            return Ok(v);
        }
        let v = Arc::new(compute()?);
        self.put(key, Arc::clone(&v));
        Ok(v)
    }
}

/// What a [`SharedStages`] did, for one stage or in all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageStats {
    /// Stage results computed.
    pub computed: usize,
    /// Served from memory (including those a worker waited for).
    pub memory_hits: usize,
    /// Read from the cache directory.
    pub disk_hits: usize,
    /// Requests that waited for another worker computing the same key.
    pub waited: usize,
    /// Cache files that did not read back whole (recomputed and replaced).
    pub rejected: usize,
    /// Cache files that could not be written (the results are unaffected).
    pub write_errors: usize,
}

impl StageStats {
    /// Requests served without computing.
    pub fn reused(&self) -> usize {
        self.memory_hits + self.disk_hits
    }

    /// Both counts added.
    pub fn add(&mut self, other: &StageStats) {
        self.computed += other.computed;
        self.memory_hits += other.memory_hits;
        self.disk_hits += other.disk_hits;
        self.waited += other.waited;
        self.rejected += other.rejected;
        self.write_errors += other.write_errors;
    }
}
