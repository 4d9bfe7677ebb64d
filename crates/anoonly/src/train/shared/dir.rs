//! The cache directory: one safetensors file per stage result, named by its key, holding
//! the key, the stage's report and a checksum of everything, written atomically. A file
//! that does not read back whole is refused (the caller recomputes and replaces it).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::key::{Key, KeyBuilder};
use super::StageOutput;
use crate::output::write_atomic;
use crate::train::TrainReport;
use crate::vocab::tensor::{self, NamedTensor};

/// Subdirectory of the cache directory holding the results of label-free stages (every
/// method's: a key names its method and stage).
pub const STAGE_DIR: &str = "stages";
const FILE_FORMAT: &str = "anoonly-stage";
const FILE_VERSION: &str = "1";

/// Why a cache directory cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("cache directory {path}: {source}")]
pub struct CacheDirError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// A cache directory's [`STAGE_DIR`].
#[derive(Clone, Debug)]
pub(super) struct StageDir(PathBuf);

/// A cache file that did not read back whole (unreadable, truncated, altered, written for
/// another key).
pub(super) struct Rejected;

impl StageDir {
    /// `dir/stages`, created if needed.
    pub(super) fn open(dir: &Path) -> Result<StageDir, CacheDirError> {
        let sub = dir.join(STAGE_DIR);
        std::fs::create_dir_all(&sub).map_err(|source| CacheDirError {
            path: sub.clone(),
            source,
        })?;
        Ok(StageDir(sub))
    }

    /// The file of `key`.
    pub(super) fn file_of(&self, key: &Key) -> PathBuf {
        self.0.join(format!("{}.safetensors", key.hex()))
    }

    /// The value stored for `key`: `Ok(None)` when there is no file.
    pub(super) fn read(&self, key: &Key) -> Result<Option<StageOutput>, Rejected> {
        let bytes = match std::fs::read(self.file_of(key)) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(_) => return Err(Rejected),
        };
        decode(&bytes, key).map(Some).map_err(|_| Rejected)
    }

    /// Writes `value` as the file of `key`; `false` if it could not be written.
    pub(super) fn write(&self, key: &Key, value: &StageOutput) -> bool {
        encode(value, key).is_ok_and(|bytes| write_atomic(&self.file_of(key), &bytes).is_ok())
    }
}

/// A stage's report with its losses as bits (JSON has no NaN, and a loss must come back
/// exactly).
#[derive(Serialize, Deserialize)]
struct StoredReport {
    epoch_loss_bits: Vec<Option<u32>>,
    steps: usize,
    empty_batches: usize,
    kept_epoch: usize,
    /// The stage's notes (none from FEAWAD's pretraining today; kept so that a hit says
    /// what the computation said).
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
    let mut k = KeyBuilder::bare();
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
fn encode(value: &StageOutput, key: &Key) -> Result<Vec<u8>, String> {
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
fn decode(bytes: &[u8], key: &Key) -> Result<StageOutput, String> {
    let (tensors, meta) = tensor::from_safetensors(bytes)?;
    let field = |name: &str| {
        meta.get(name)
            .cloned()
            .ok_or_else(|| format!("no `{name}` in the header"))
    };
    if field("format")? != FILE_FORMAT || field("format_version")? != FILE_VERSION {
        return Err("not a stage cache file of this version".into());
    }
    if field("key")? != key.hex() {
        return Err("written for another key".into());
    }
    let report = field("report")?;
    if field("checksum")? != checksum(key, &report, &tensors) {
        return Err("checksum mismatch".into());
    }
    let stored: StoredReport = serde_json::from_str(&report).map_err(|e| e.to_string())?;
    Ok(StageOutput {
        tensors,
        report: stored.into(),
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::train::shared) fn value(v: f32) -> StageOutput {
        StageOutput {
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

    /// The same tensors (by name: a safetensors file keeps no order, and a network loads
    /// its state by name), values and report, bit for bit.
    pub(in crate::train::shared) fn same(a: &StageOutput, b: &StageOutput) -> bool {
        type Bits = (Vec<(String, Vec<usize>, Vec<u32>)>, Vec<u32>);
        let bits = |p: &StageOutput| -> Bits {
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

    fn key(s: &str) -> Key {
        KeyBuilder::new("test").bytes("s", s.as_bytes()).finish()
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
}
