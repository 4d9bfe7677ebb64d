//! Work shared between fits, so that a grid computes it once: FEAWAD's autoencoder
//! pretraining. It sees no label, so the base and AnoOnly cells of one split (and every
//! other cell whose unlabeled rows and pretraining settings are the same: ablations of the
//! head, and in the clean setting every gamma_la) would each compute the same autoencoder.
//! A [`PretrainCache`] hands it out instead: [`SharedPretraining`] keeps results in memory
//! within a process (a key being computed by one worker makes the others wait for it, never
//! compute it twice) and, given a directory, on disk across processes (`bench --cache DIR`:
//! shards, resumes, later runs).
//!
//! **Content-addressed.** A key is a BLAKE3 hash of everything the work depends on
//! ([`KeyBuilder`]): the rows in the order the sampler sees them, the initial weights, every
//! hyperparameter and seed, and the code that computes it (this crate's version, a digest of
//! its sources and of `Cargo.lock` made by `build.rs`, the target, and a fingerprint of the
//! matrix kernel's results at the fit's shapes on this CPU). So a hit is, bit for bit, what
//! the fit would have computed, and anything that could change a bit is another key.
//!
//! **Never trusted blindly.** A cache file holds its key and a checksum of its contents; a
//! file that does not read back whole (truncated, altered, written for another key, another
//! shape) is counted in [`PretrainStats::rejected`], recomputed and replaced. Files are
//! written atomically (temporary sibling, rename), so concurrent shards at worst both
//! compute a key and write the same bytes.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::output::write_atomic;
use crate::train::{Interrupted, TrainReport};
use crate::vocab::tensor::{self, NamedTensor};

/// A content key: the BLAKE3 hash of everything a piece of work depends on.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(pub [u8; 32]);

impl Key {
    /// Lower-case hex (64 characters): the cache file's name.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", &self.hex()[..16])
    }
}

/// Builds a [`Key`]: named fields, each length-prefixed, so that no two different field
/// lists hash the same bytes. It starts with the code's identity (see the module
/// documentation), so keys from another version or build never match.
pub struct KeyBuilder(blake3::Hasher);

/// A digest of this crate's sources, `Cargo.lock`, the compiler and the compile-time target
/// features (`build.rs`).
pub const CODE_DIGEST: &str = env!("ANOONLY_CODE_DIGEST");

impl KeyBuilder {
    /// A key for the work named `domain` (e.g. `feawad-pretrain`).
    pub fn new(domain: &str) -> KeyBuilder {
        let mut k = KeyBuilder(blake3::Hasher::new());
        k.bytes("anoonly-shared-work", domain.as_bytes())
            .bytes("crate_version", env!("CARGO_PKG_VERSION").as_bytes())
            .bytes("code", CODE_DIGEST.as_bytes())
            .bytes("target_arch", std::env::consts::ARCH.as_bytes())
            .bytes("target_os", std::env::consts::OS.as_bytes());
        k
    }

    fn len(&mut self, n: usize) {
        self.0.update(&(n as u64).to_le_bytes());
    }

    /// A field of raw bytes.
    pub fn bytes(&mut self, name: &str, value: &[u8]) -> &mut Self {
        self.len(name.len());
        self.0.update(name.as_bytes());
        self.len(value.len());
        self.0.update(value);
        self
    }

    pub fn u64(&mut self, name: &str, value: u64) -> &mut Self {
        self.bytes(name, &value.to_le_bytes())
    }

    /// A field of `f32` values, as their little-endian bits (so `-0.0` and `0.0`, or two
    /// NaNs, are different values, as they may be to the arithmetic).
    pub fn f32s(&mut self, name: &str, values: &[f32]) -> &mut Self {
        self.len(name.len());
        self.0.update(name.as_bytes());
        self.len(values.len() * 4);
        self.put_f32s(values);
        self
    }

    fn put_f32s(&mut self, values: &[f32]) {
        let mut buf = [0u8; 4096];
        for chunk in values.chunks(buf.len() / 4) {
            for (b, v) in buf.chunks_exact_mut(4).zip(chunk) {
                b.copy_from_slice(&v.to_le_bytes());
            }
            self.0.update(&buf[..chunk.len() * 4]);
        }
    }

    /// The rows `rows` of `x`, in that order (the sampler's view of a data matrix), with
    /// their count and width.
    pub fn rows(
        &mut self,
        name: &str,
        x: ArrayView2<f32>,
        rows: impl ExactSizeIterator<Item = usize>,
    ) -> &mut Self {
        self.u64(&format!("{name}.rows"), rows.len() as u64);
        self.u64(&format!("{name}.cols"), x.ncols() as u64);
        self.len(name.len());
        self.0.update(name.as_bytes());
        self.len(rows.len() * x.ncols() * 4);
        let mut scratch = Vec::new();
        for r in rows {
            let row = x.row(r);
            match row.as_slice() {
                Some(s) => self.put_f32s(s),
                None => {
                    scratch.clear();
                    scratch.extend(row.iter().copied());
                    self.put_f32s(&scratch);
                }
            }
        }
        self
    }

    /// Named tensors (a network's state): each name, shape and values, in order.
    pub fn tensors(&mut self, name: &str, tensors: &[NamedTensor]) -> &mut Self {
        self.u64(&format!("{name}.count"), tensors.len() as u64);
        for t in tensors {
            self.bytes("tensor.name", t.name.as_bytes());
            let shape: Vec<u8> = t
                .shape
                .iter()
                .flat_map(|&s| (s as u64).to_le_bytes())
                .collect();
            self.bytes("tensor.shape", &shape);
            self.f32s("tensor.data", &t.data);
        }
        self
    }

    pub fn finish(&self) -> Key {
        Key(*self.0.finalize().as_bytes())
    }
}

/// A pretrained network: its state (as [`crate::nn::Module::state`] writes it) and the
/// pretraining's report.
#[derive(Clone, Debug)]
pub struct Pretrained {
    pub tensors: Vec<NamedTensor>,
    pub report: TrainReport,
}

impl Pretrained {
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

/// Where finished pretrainings are kept, by key. `get` and `put` are the store; a fit calls
/// [`PretrainCache::get_or_compute`], which a store shared by concurrent fits overrides so
/// that a key is computed once ([`SharedPretraining`]).
pub trait PretrainCache: Send + Sync {
    fn get(&self, key: &Key) -> Option<Arc<Pretrained>>;

    fn put(&self, key: &Key, value: Arc<Pretrained>);

    /// The value of `key`: a stored one, else `compute`'s, stored. `compute` may stop
    /// (its observer interrupted the fit): nothing is stored then.
    fn get_or_compute(
        &self,
        key: &Key,
        compute: &mut dyn FnMut() -> Result<Pretrained, Interrupted>,
    ) -> Result<Arc<Pretrained>, Interrupted> {
        if let Some(v) = self.get(key) {
            return Ok(v);
        }
        let v = Arc::new(compute()?);
        self.put(key, Arc::clone(&v));
        Ok(v)
    }
}

/// What a [`SharedPretraining`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PretrainStats {
    /// Pretrainings computed.
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

impl PretrainStats {
    /// Requests served without computing.
    pub fn reused(&self) -> usize {
        self.memory_hits + self.disk_hits
    }
}

/// The default memory budget of a [`SharedPretraining`]: 256 MiB (CIFAR10's autoencoder is
/// 1.7 MB; least recently used entries go first beyond it).
pub const DEFAULT_MEMORY_BUDGET: usize = 256 << 20;

/// The [`PretrainCache`] of a bench run: in memory (bounded, least recently used first
/// out), optionally backed by a directory, and computing each key once among concurrent
/// callers: the first caller of a key computes it while later callers of that key wait for
/// its result.
pub struct SharedPretraining {
    state: Mutex<MemoryState>,
    done: Condvar,
    budget: usize,
    dir: Option<PathBuf>,
    computed: AtomicUsize,
    memory_hits: AtomicUsize,
    disk_hits: AtomicUsize,
    waited: AtomicUsize,
    rejected: AtomicUsize,
    write_errors: AtomicUsize,
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
        value: Arc<Pretrained>,
        used: u64,
    },
}

/// Subdirectory of the cache directory holding pretrained networks.
pub const PRETRAIN_DIR: &str = "pretrain";
const FILE_FORMAT: &str = "anoonly-pretrain";
const FILE_VERSION: &str = "1";

/// Why a cache directory cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("cache directory {path}: {source}")]
pub struct CacheDirError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

impl SharedPretraining {
    /// In memory only, holding about `budget` bytes.
    pub fn in_memory(budget: usize) -> SharedPretraining {
        SharedPretraining {
            state: Mutex::new(MemoryState::default()),
            done: Condvar::new(),
            budget,
            dir: None,
            computed: AtomicUsize::new(0),
            memory_hits: AtomicUsize::new(0),
            disk_hits: AtomicUsize::new(0),
            waited: AtomicUsize::new(0),
            rejected: AtomicUsize::new(0),
            write_errors: AtomicUsize::new(0),
        }
    }

    /// Backed by `dir` (created if needed; entries go to `dir/pretrain/KEY.safetensors`).
    pub fn with_dir(mut self, dir: &Path) -> Result<SharedPretraining, CacheDirError> {
        let sub = dir.join(PRETRAIN_DIR);
        std::fs::create_dir_all(&sub).map_err(|source| CacheDirError {
            path: sub.clone(),
            source,
        })?;
        self.dir = Some(sub);
        Ok(self)
    }

    pub fn stats(&self) -> PretrainStats {
        let n = |a: &AtomicUsize| a.load(Ordering::SeqCst);
        PretrainStats {
            computed: n(&self.computed),
            memory_hits: n(&self.memory_hits),
            disk_hits: n(&self.disk_hits),
            waited: n(&self.waited),
            rejected: n(&self.rejected),
            write_errors: n(&self.write_errors),
        }
    }

    fn lock(&self) -> MutexGuard<'_, MemoryState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The file of `key` in the cache directory.
    pub fn file_of(&self, key: &Key) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{}.safetensors", key.hex())))
    }

    fn read_disk(&self, key: &Key) -> Option<Arc<Pretrained>> {
        let path = self.file_of(key)?;
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(_) => {
                self.rejected.fetch_add(1, Ordering::SeqCst);
                return None;
            }
        };
        match decode(&bytes, key) {
            Ok(v) => Some(Arc::new(v)),
            Err(_) => {
                self.rejected.fetch_add(1, Ordering::SeqCst);
                None
            }
        }
    }

    fn write_disk(&self, key: &Key, value: &Pretrained) {
        let Some(path) = self.file_of(key) else {
            return;
        };
        let ok = encode(value, key).is_ok_and(|bytes| write_atomic(&path, &bytes).is_ok());
        if !ok {
            self.write_errors.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Stores a finished value and evicts the least recently used ready entries beyond the
    /// budget (never the one just stored).
    fn store(&self, state: &mut MemoryState, key: &Key, value: Arc<Pretrained>) {
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
    fn claim(&self, key: &Key) -> Option<Arc<Pretrained>> {
        let mut state = self.lock();
        let mut waited = false;
        loop {
            state.clock += 1;
            let now = state.clock;
            match state.entries.get_mut(key) {
                Some(Slot::Ready { value, used }) => {
                    *used = now;
                    self.memory_hits.fetch_add(1, Ordering::SeqCst);
                    if waited {
                        self.waited.fetch_add(1, Ordering::SeqCst);
                    }
                    return Some(Arc::clone(value));
                }
                Some(Slot::Computing) => {
                    waited = true;
                    state = self.done.wait(state).unwrap_or_else(|p| p.into_inner());
                }
                None => {
                    state.entries.insert(*key, Slot::Computing);
                    return None;
                }
            }
        }
    }
}

/// Removes a `Computing` slot whose computation did not finish (interrupted, or a panic),
/// so that a waiting caller takes it over.
struct Claim<'a> {
    cache: &'a SharedPretraining,
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

impl PretrainCache for SharedPretraining {
    fn get(&self, key: &Key) -> Option<Arc<Pretrained>> {
        let mut state = self.lock();
        state.clock += 1;
        let now = state.clock;
        if let Some(Slot::Ready { value, used }) = state.entries.get_mut(key) {
            *used = now;
            self.memory_hits.fetch_add(1, Ordering::SeqCst);
            return Some(Arc::clone(value));
        }
        drop(state);
        let v = self.read_disk(key)?;
        self.disk_hits.fetch_add(1, Ordering::SeqCst);
        let mut state = self.lock();
        if !matches!(state.entries.get(key), Some(Slot::Computing)) {
            self.store(&mut state, key, Arc::clone(&v));
        }
        Some(v)
    }

    fn put(&self, key: &Key, value: Arc<Pretrained>) {
        self.write_disk(key, &value);
        let mut state = self.lock();
        self.store(&mut state, key, value);
        drop(state);
        self.done.notify_all();
    }

    fn get_or_compute(
        &self,
        key: &Key,
        compute: &mut dyn FnMut() -> Result<Pretrained, Interrupted>,
    ) -> Result<Arc<Pretrained>, Interrupted> {
        if let Some(v) = self.claim(key) {
            return Ok(v);
        }
        let mut claim = Claim {
            cache: self,
            key: *key,
            finished: false,
        };
        let value = match self.read_disk(key) {
            Some(v) => {
                self.disk_hits.fetch_add(1, Ordering::SeqCst);
                v
            }
            None => {
                let v = Arc::new(compute()?);
                self.computed.fetch_add(1, Ordering::SeqCst);
                self.write_disk(key, &v);
                v
            }
        };
        let mut state = self.lock();
        self.store(&mut state, key, Arc::clone(&value));
        claim.finished = true;
        drop(state);
        self.done.notify_all();
        Ok(value)
    }
}

/// A pretraining report with its losses as bits (JSON has no NaN, and a loss must come back
/// exactly).
#[derive(Serialize, Deserialize)]
struct StoredReport {
    epoch_loss_bits: Vec<Option<u32>>,
    steps: usize,
    empty_batches: usize,
    kept_epoch: usize,
    /// The fit's notes (none from FEAWAD's pretraining today; kept so that a hit says what
    /// the computation said).
    #[serde(default)]
    notes: Vec<String>,
}

impl From<&TrainReport> for StoredReport {
    fn from(r: &TrainReport) -> Self {
        StoredReport {
            epoch_loss_bits: r.epoch_losses.iter().map(|l| l.map(f32::to_bits)).collect(),
            steps: r.steps,
            empty_batches: r.empty_batches,
            kept_epoch: r.kept_epoch,
            notes: r.notes.clone(),
        }
    }
}

impl From<StoredReport> for TrainReport {
    fn from(r: StoredReport) -> Self {
        TrainReport {
            epoch_losses: r
                .epoch_loss_bits
                .into_iter()
                .map(|l| l.map(f32::from_bits))
                .collect(),
            steps: r.steps,
            empty_batches: r.empty_batches,
            kept_epoch: r.kept_epoch,
            notes: r.notes,
        }
    }
}

/// The checksum a cache file carries: its key, report and every tensor (name, shape,
/// values, in name order: a safetensors file does not keep the order), so that a file
/// altered anywhere, or written for another key, does not match.
fn checksum(key: &Key, report_json: &str, tensors: &[NamedTensor]) -> String {
    let mut sorted: Vec<&NamedTensor> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut k = KeyBuilder(blake3::Hasher::new());
    k.bytes("key", &key.0)
        .bytes("report", report_json.as_bytes())
        .u64("tensors", sorted.len() as u64);
    for t in sorted {
        k.tensors("tensor", std::slice::from_ref(t));
    }
    k.finish().hex()
}

/// A cache file: a safetensors file whose metadata holds the format, the key, the report and
/// the checksum.
fn encode(value: &Pretrained, key: &Key) -> Result<Vec<u8>, String> {
    let report =
        serde_json::to_string(&StoredReport::from(&value.report)).map_err(|e| e.to_string())?;
    let meta = [
        ("format", FILE_FORMAT.to_string()),
        ("format_version", FILE_VERSION.to_string()),
        ("key", key.hex()),
        ("checksum", checksum(key, &report, &value.tensors)),
        ("report", report),
    ];
    tensor::to_safetensors(value.tensors.clone(), &meta)
}

/// Reads a cache file back, checking everything [`encode`] wrote.
fn decode(bytes: &[u8], key: &Key) -> Result<Pretrained, String> {
    let (tensors, meta) = tensor::from_safetensors(bytes)?;
    let field = |name: &str| {
        meta.get(name)
            .cloned()
            .ok_or_else(|| format!("no `{name}` in the header"))
    };
    if field("format")? != FILE_FORMAT || field("format_version")? != FILE_VERSION {
        return Err("not a pretraining cache file of this version".into());
    }
    if field("key")? != key.hex() {
        return Err("written for another key".into());
    }
    let report = field("report")?;
    if field("checksum")? != checksum(key, &report, &tensors) {
        return Err("checksum mismatch".into());
    }
    let stored: StoredReport = serde_json::from_str(&report).map_err(|e| e.to_string())?;
    Ok(Pretrained {
        tensors,
        report: stored.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    fn value(v: f32) -> Pretrained {
        Pretrained {
            tensors: vec![
                NamedTensor::new(
                    "a.weight",
                    vec![2, 3],
                    vec![v, -0.0, 1.5, f32::MIN, 2.0, 3.0],
                ),
                NamedTensor::new("a.bias", vec![2], vec![0.25, v]),
            ],
            report: TrainReport {
                epoch_losses: vec![Some(0.5), None, Some(f32::NAN)],
                steps: 30,
                empty_batches: 0,
                kept_epoch: 0,
                notes: vec!["one note".into()],
            },
        }
    }

    fn key(s: &str) -> Key {
        KeyBuilder::new("test").bytes("s", s.as_bytes()).finish()
    }

    /// The same tensors (by name: a safetensors file keeps no order, and a network loads
    /// its state by name), values and report, bit for bit.
    fn same(a: &Pretrained, b: &Pretrained) -> bool {
        type Bits = (Vec<(String, Vec<usize>, Vec<u32>)>, Vec<u32>);
        let bits = |p: &Pretrained| -> Bits {
            let mut tensors: Vec<_> = p
                .tensors
                .iter()
                .map(|t| {
                    let data = t.data.iter().map(|v| v.to_bits()).collect();
                    (t.name.clone(), t.shape.clone(), data)
                })
                .collect();
            tensors.sort();
            let losses = p
                .report
                .epoch_losses
                .iter()
                .map(|l| l.map_or(u32::MAX, f32::to_bits))
                .collect();
            (tensors, losses)
        };
        bits(a) == bits(b) && a.report.steps == b.report.steps
    }

    #[test]
    fn keys_are_length_prefixed_and_depend_on_every_field() {
        let a = KeyBuilder::new("d")
            .bytes("x", b"ab")
            .bytes("y", b"c")
            .finish();
        let b = KeyBuilder::new("d")
            .bytes("x", b"a")
            .bytes("y", b"bc")
            .finish();
        assert_ne!(a, b);
        assert_ne!(
            KeyBuilder::new("d").f32s("v", &[0.0]).finish(),
            KeyBuilder::new("d").f32s("v", &[-0.0]).finish()
        );
        let x = ndarray::array![[1.0f32, 2.0], [3.0, 4.0]];
        let rows = |r: Vec<usize>| {
            KeyBuilder::new("d")
                .rows("x", x.view(), r.into_iter())
                .finish()
        };
        assert_eq!(rows(vec![0, 1]), rows(vec![0, 1]));
        assert_ne!(rows(vec![0, 1]), rows(vec![1, 0]));
        assert_eq!(
            KeyBuilder::new("d")
                .rows("x", x.t(), [0usize, 1].into_iter())
                .finish(),
            KeyBuilder::new("d")
                .rows(
                    "x",
                    x.t().as_standard_layout().view(),
                    [0usize, 1].into_iter()
                )
                .finish()
        );
        assert_eq!(key("a").hex().len(), 64);
    }

    #[test]
    fn files_round_trip_exactly_and_damaged_ones_are_refused() {
        let k = key("a");
        let v = value(7.0);
        let bytes = encode(&v, &k).unwrap();
        assert!(same(&decode(&bytes, &k).unwrap(), &v));
        assert!(decode(&bytes, &key("b")).is_err(), "another key");
        assert!(decode(&bytes[..bytes.len() - 1], &k).is_err(), "truncated");
        assert!(decode(&[], &k).is_err(), "empty");
        for i in (0..bytes.len()).step_by(7) {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            if let Ok(d) = decode(&bad, &k) {
                // A flip in the header's padding or JSON spacing leaves the content intact.
                assert!(same(&d, &v), "byte {i} altered the content unnoticed");
            }
        }
    }

    #[test]
    fn memory_and_disk_serve_what_was_stored() {
        let dir = tempfile::tempdir().unwrap();
        let c = SharedPretraining::in_memory(1 << 20)
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
        let c2 = SharedPretraining::in_memory(1 << 20)
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
        let c3 = SharedPretraining::in_memory(1 << 20)
            .with_dir(dir.path())
            .unwrap();
        let e = c3.get_or_compute(&k, &mut || Ok(value(1.0))).unwrap();
        assert!(same(&a, &e));
        assert_eq!((c3.stats().rejected, c3.stats().computed), (1, 1));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), len);
    }

    #[test]
    fn least_recently_used_entries_leave_beyond_the_budget() {
        let one = value(0.0).bytes();
        let c = SharedPretraining::in_memory(2 * one + one / 2);
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
        let c = SharedPretraining::in_memory(1 << 20);
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
