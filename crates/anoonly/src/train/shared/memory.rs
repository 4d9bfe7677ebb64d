//! The store of a bench run ([`SharedStages`]): stage results in memory (bounded, least
//! recently used first out), optionally backed by a cache directory ([`super::dir`]), each
//! key computed once among concurrent callers, with counts per stage.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::dir::{CacheDirError, StageDir};
use super::key::Key;
use super::{StageCache, StageId, StageKey, StageOutput, StageStats};
use crate::train::Interrupted;

/// The default memory budget of a [`SharedStages`]: 256 MiB (CIFAR10's autoencoder is
/// 1.7 MB; least recently used entries go first beyond it).
pub const DEFAULT_MEMORY_BUDGET: usize = 256 << 20;

/// The [`StageCache`] of a bench run: in memory (bounded, least recently used first out),
/// optionally backed by a directory, and computing each key once among concurrent callers:
/// the first caller of a key computes it while later callers of that key wait for its
/// result.
pub struct SharedStages {
    state: Mutex<MemoryState>,
    done: Condvar,
    budget: usize,
    dir: Option<StageDir>,
    counts: Mutex<BTreeMap<StageId, StageStats>>,
}

#[derive(Default)]
struct MemoryState {
    entries: HashMap<Key, Slot>,
    bytes: usize,
    clock: u64,
}

enum Slot {
    /// A caller is computing it; the others wait.
    Computing,
    Ready {
        value: Arc<StageOutput>,
        used: u64,
    },
}

impl SharedStages {
    /// In memory only, holding about `budget` bytes.
    pub fn in_memory(budget: usize) -> SharedStages {
        SharedStages {
            state: Mutex::new(MemoryState::default()),
            done: Condvar::new(),
            budget,
            dir: None,
            counts: Mutex::new(BTreeMap::new()),
        }
    }

    /// Backed by `dir` (created if needed; entries go to
    /// `dir/`[`super::STAGE_DIR`]`/KEY.safetensors`).
    pub fn with_dir(mut self, dir: &Path) -> Result<SharedStages, CacheDirError> {
        self.dir = Some(StageDir::open(dir)?);
        Ok(self)
    }

    /// What the store did, all stages together.
    pub fn stats(&self) -> StageStats {
        let mut total = StageStats::default();
        for (_, s) in self.stage_stats() {
            total.add(&s);
        }
        total
    }

    /// What the store did per stage, in (method, stage) order.
    pub fn stage_stats(&self) -> Vec<(StageId, StageStats)> {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.iter().map(|(id, s)| (*id, *s)).collect()
    }

    fn count(&self, id: StageId, f: impl FnOnce(&mut StageStats)) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        f(counts.entry(id).or_default());
    }

    fn lock(&self) -> MutexGuard<'_, MemoryState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The file of `key` in the cache directory.
    pub fn file_of(&self, key: &StageKey) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.file_of(&key.hash))
    }

    fn read_disk(&self, key: &StageKey) -> Option<Arc<StageOutput>> {
        match self.dir.as_ref()?.read(&key.hash) {
            Ok(v) => v.map(Arc::new),
            Err(_) => {
                self.count(key.id, |s| s.rejected += 1);
                None
            }
        }
    }

    fn write_disk(&self, key: &StageKey, value: &StageOutput) {
        if let Some(dir) = &self.dir {
            if !dir.write(&key.hash, value) {
                self.count(key.id, |s| s.write_errors += 1);
            }
        }
    }

    /// Stores a finished value and evicts the least recently used ready entries beyond the
    /// budget (never the one just stored).
    fn store(&self, state: &mut MemoryState, key: &Key, value: Arc<StageOutput>) {
        state.clock += 1;
        let used = state.clock;
        state.bytes += value.bytes();
        if let Some(Slot::Ready { value: old, .. }) =
            state.entries.insert(*key, Slot::Ready { value, used })
        {
            state.bytes -= old.bytes();
        }
        while state.bytes > self.budget {
            let oldest = state
                .entries
                .iter()
                .filter_map(|(k, s)| match s {
                    Slot::Ready { used, value } if k != key => Some((*used, *k, value.bytes())),
                    _ => None,
                })
                .min();
            let Some((_, k, b)) = oldest else { break };
            state.entries.remove(&k);
            state.bytes -= b;
        }
    }

    /// Looks `key` up in memory, waiting while another caller computes it. `None`: the
    /// caller now owns the computation (a `Computing` slot is in place).
    fn claim(&self, key: &StageKey) -> Option<Arc<StageOutput>> {
        let mut state = self.lock();
        let mut waited = false;
        loop {
            state.clock += 1;
            let now = state.clock;
            match state.entries.get_mut(&key.hash) {
                Some(Slot::Ready { value, used }) => {
                    *used = now;
                    self.count(key.id, |s| {
                        s.memory_hits += 1;
                        s.waited += usize::from(waited);
                    });
                    return Some(Arc::clone(value));
                }
                Some(Slot::Computing) => {
                    waited = true;
                    state = self.done.wait(state).unwrap_or_else(|p| p.into_inner());
                }
                None => {
                    state.entries.insert(key.hash, Slot::Computing);
                    return None;
                }
            }
        }
    }
}

/// Removes a `Computing` slot whose computation did not finish (interrupted, or a panic),
/// so that a waiting caller takes it over.
struct Claim<'a> {
    cache: &'a SharedStages,
    key: Key,
    finished: bool,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if !self.finished {
            let mut state = self.cache.lock();
            if matches!(state.entries.get(&self.key), Some(Slot::Computing)) {
                state.entries.remove(&self.key);
            }
            drop(state);
            self.cache.done.notify_all();
        }
    }
}

impl StageCache for SharedStages {
    fn get(&self, key: &StageKey) -> Option<Arc<StageOutput>> {
        let mut state = self.lock();
        state.clock += 1;
        let now = state.clock;
        if let Some(Slot::Ready { value, used }) = state.entries.get_mut(&key.hash) {
            *used = now;
            self.count(key.id, |s| s.memory_hits += 1);
            return Some(Arc::clone(value));
        }
        drop(state);
        let v = self.read_disk(key)?;
        self.count(key.id, |s| s.disk_hits += 1);
        let mut state = self.lock();
        if !matches!(state.entries.get(&key.hash), Some(Slot::Computing)) {
            self.store(&mut state, &key.hash, Arc::clone(&v));
        }
        Some(v)
    }

    fn put(&self, key: &StageKey, value: Arc<StageOutput>) {
        self.write_disk(key, &value);
        let mut state = self.lock();
        self.store(&mut state, &key.hash, value);
        drop(state);
        self.done.notify_all();
    }

    fn get_or_compute(
        &self,
        key: &StageKey,
        compute: &mut dyn FnMut() -> Result<StageOutput, Interrupted>,
    ) -> Result<Arc<StageOutput>, Interrupted> {
        if let Some(v) = self.claim(key) {
            return Ok(v);
        }
        let mut claim = Claim {
            cache: self,
            key: key.hash,
            finished: false,
        };
        let value = match self.read_disk(key) {
            Some(v) => {
                self.count(key.id, |s| s.disk_hits += 1);
                v
            }
            None => {
                let v = Arc::new(compute()?);
                self.count(key.id, |s| s.computed += 1);
                self.write_disk(key, &v);
                v
            }
        };
        let mut state = self.lock();
        self.store(&mut state, &key.hash, Arc::clone(&value));
        claim.finished = true;
        drop(state);
        self.done.notify_all();
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::super::dir::tests::{same, value};
    use super::super::KeyBuilder;
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    const ID: StageId = StageId {
        method: "test",
        stage: "one",
    };

    fn key(s: &str) -> StageKey {
        StageKey {
            id: ID,
            hash: KeyBuilder::new("test").bytes("s", s.as_bytes()).finish(),
        }
    }

    #[test]
    fn memory_and_disk_serve_what_was_stored() {
        let dir = tempfile::tempdir().unwrap();
        let c = SharedStages::in_memory(1 << 20)
            .with_dir(dir.path())
            .unwrap();
        let k = key("a");
        let mut calls = 0;
        let mut compute = || {
            calls += 1;
            Ok(value(1.0))
        };
        let a = c.get_or_compute(&k, &mut compute).unwrap();
        let b = c.get_or_compute(&k, &mut compute).unwrap();
        assert_eq!(calls, 1);
        assert!(same(&a, &b));
        assert_eq!((c.stats().computed, c.stats().memory_hits), (1, 1));
        // A new process (a new cache on the same directory) reads it from disk.
        let c2 = SharedStages::in_memory(1 << 20)
            .with_dir(dir.path())
            .unwrap();
        let d = c2
            .get_or_compute(&k, &mut || panic!("must not compute"))
            .unwrap();
        assert!(same(&a, &d));
        assert_eq!(c2.stats().disk_hits, 1);
        // A truncated file is refused and replaced by the recomputed value.
        let path = c2.file_of(&k).unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let c3 = SharedStages::in_memory(1 << 20)
            .with_dir(dir.path())
            .unwrap();
        let e = c3.get_or_compute(&k, &mut || Ok(value(1.0))).unwrap();
        assert!(same(&a, &e));
        assert_eq!((c3.stats().rejected, c3.stats().computed), (1, 1));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), len);
    }

    #[test]
    fn counts_are_kept_per_stage() {
        let c = SharedStages::in_memory(1 << 20);
        let other = StageKey {
            id: StageId {
                method: "test",
                stage: "two",
            },
            hash: KeyBuilder::new("test2").finish(),
        };
        for k in [key("a"), key("a"), other, key("b")] {
            c.get_or_compute(&k, &mut || Ok(value(0.0))).unwrap();
        }
        let per = c.stage_stats();
        assert_eq!(per.len(), 2);
        assert_eq!(per[0].0, ID);
        assert_eq!((per[0].1.computed, per[0].1.memory_hits), (2, 1));
        assert_eq!((per[1].1.computed, per[1].1.memory_hits), (1, 0));
        assert_eq!((c.stats().computed, c.stats().reused()), (3, 1));
    }

    #[test]
    fn least_recently_used_entries_leave_beyond_the_budget() {
        let one = value(0.0).bytes();
        let c = SharedStages::in_memory(2 * one + one / 2);
        for s in ["a", "b", "c"] {
            c.get_or_compute(&key(s), &mut || Ok(value(0.0))).unwrap();
            if s == "b" {
                assert!(c.get(&key("a")).is_some());
            }
        }
        assert!(c.get(&key("a")).is_some(), "recently used, kept");
        assert!(c.get(&key("b")).is_none(), "least recently used, evicted");
        assert!(c.get(&key("c")).is_some());
    }

    #[test]
    fn concurrent_callers_compute_a_key_once_and_an_interrupted_one_is_taken_over() {
        let c = SharedStages::in_memory(1 << 20);
        let calls = AtomicUsize::new(0);
        let started = AtomicBool::new(false);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let v = c
                        .get_or_compute(&key("k"), &mut || {
                            started.store(true, Ordering::SeqCst);
                            calls.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(200));
                            Ok(value(3.0))
                        })
                        .unwrap();
                    assert!(same(&v, &value(3.0)));
                });
            }
        });
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let st = c.stats();
        assert_eq!((st.computed, st.memory_hits), (1, 3));
        assert!(started.load(Ordering::SeqCst));
        // The first caller of another key is interrupted while a second one waits: the
        // second computes it.
        let k = key("interrupted");
        let calls = AtomicUsize::new(0);
        std::thread::scope(|s| {
            let first = s.spawn(|| {
                c.get_or_compute(&k, &mut || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(200));
                    Err(Interrupted {
                        stage: crate::train::Stage::Pretrain,
                        epoch: 0,
                        epochs: 1,
                    })
                })
            });
            std::thread::sleep(std::time::Duration::from_millis(50));
            let second = s.spawn(|| {
                c.get_or_compute(&k, &mut || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok(value(4.0))
                })
            });
            assert!(first.join().unwrap().is_err());
            assert!(same(&second.join().unwrap().unwrap(), &value(4.0)));
        });
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
