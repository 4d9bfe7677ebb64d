//! `results.jsonl`: one JSON line per finished cell ([`ResultRecord`], typed, with a schema
//! version), appended whole as the cell finishes, so a killed run loses at most the cells in
//! flight; reading it back (migrating lines of older versions) for `--resume`, reports and
//! `bench merge`; `failures.jsonl`, the cells that failed.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::grid::{protocol_suffix, Cell, Override, Variant};
use anoonly::experiment::EvalRecord;
use anoonly::methods::{FitParams, MethodKind};
use anoonly::protocol::{Labeled, Protocol, Setting};

pub const RESULTS_FILE: &str = "results.jsonl";
pub const FAILURES_FILE: &str = "failures.jsonl";

/// The schema version of the results lines this version writes. A line says its version
/// in `schema_version`; a line without one is version 1. Reading migrates a line to this
/// version ([`ResultRecord::from_line`]):
/// - version 1 (every line written before the field existed): a `leakage-free` line's key
///   may lack the protocol suffix the key gained later (`.../seed=0` instead of
///   `.../seed=0/protocol=leakage-free`); the suffix is added, so old runs resume and merge
///   with new ones (an `adbench` key is unchanged);
/// - version 2: the key is exactly [`Cell::key`]; nothing to migrate.
///
/// A line of a later version than this one is refused (a newer `anoonly` wrote it).
pub const SCHEMA_VERSION: u32 = 2;

fn version_1() -> u32 {
    1
}

/// One results line: a finished cell's key and grid coordinates, then every field of its
/// evaluation record (`eval --json`). The one type results are written as
/// ([`ResultRecord::new`]) and read back as, by reports, `--resume` and `bench merge`
/// ([`ResultRecord::from_line`]): what reports group and compare is typed (method kind,
/// setting, protocol, variant, ablation override); the record's other fields are kept as
/// written in `details`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultRecord {
    /// The cell's key ([`Cell::key`]); first in the line, where scripts find it.
    pub key: String,
    #[serde(default = "version_1")]
    pub schema_version: u32,
    pub family: String,
    pub variant: Variant,
    #[serde(default)]
    pub ablation: Option<Override>,
    pub dataset: String,
    pub method: MethodKind,
    pub setting: Setting,
    pub protocol: Protocol,
    /// `gamma_la` (ratio mode) or `n_labeled_requested` (count mode), as the record wrote it.
    #[serde(flatten)]
    pub labeled: Labeled,
    pub seed: u64,
    pub aucroc: f64,
    pub aucpr: f64,
    pub aucpr_normal: f64,
    pub aucpr_normal_official: f64,
    pub fit_seconds: f64,
    /// The method's full hyperparameters as the line recorded them (absent in lines of
    /// versions that did not write them): what `--resume` and `bench merge` compare, since
    /// the grid's `epochs` and `set` are not in the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method_params: Option<serde_json::Value>,
    /// The evaluation record's other fields (`anoonly`, `lambda_n`, `norm`, `n_train`,
    /// `score_seconds`, `notes`, ...), as written.
    #[serde(flatten)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// Why a line is not a results line.
fn not_a_line(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl ResultRecord {
    /// The line a finished cell writes: the cell's key and coordinates, then its record's
    /// fields. Built by reading the record's JSON text as a line is read, so what is
    /// written is what reading gives back (an f32 is the f64 of its shortest spelling, as
    /// in the text).
    pub fn new(cell: &Cell, record: &EvalRecord) -> Result<Self, ResultsError> {
        ResultRecord::line_of(cell, record).map_err(|message| ResultsError::Record {
            key: cell.key(),
            message,
        })
    }

    fn line_of(cell: &Cell, record: &EvalRecord) -> Result<Self, String> {
        let mut line = serde_json::Map::new();
        line.insert("key".into(), cell.key().into());
        line.insert("schema_version".into(), SCHEMA_VERSION.into());
        line.insert("family".into(), cell.dataset.family.clone().into());
        line.insert(
            "variant".into(),
            serde_json::to_value(cell.variant).map_err(not_a_line)?,
        );
        line.insert(
            "ablation".into(),
            serde_json::to_value(&cell.ablation).map_err(not_a_line)?,
        );
        let text = serde_json::to_string(record).map_err(not_a_line)?;
        let fields: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&text).map_err(not_a_line)?;
        line.extend(fields);
        serde_json::from_value(serde_json::Value::Object(line)).map_err(not_a_line)
    }

    /// Reads one line of `results.jsonl`, of any schema version up to [`SCHEMA_VERSION`],
    /// migrated to this one.
    pub fn from_line(line: &str) -> Result<Self, String> {
        let mut r: ResultRecord = serde_json::from_str(line).map_err(not_a_line)?;
        match r.schema_version {
            1 => {
                let suffix = protocol_suffix(r.protocol);
                if !r.key.ends_with(&suffix) {
                    r.key.push_str(&suffix);
                }
            }
            SCHEMA_VERSION => {}
            v => {
                return Err(format!(
                    "schema version {v}: written by a newer anoonly (this one reads versions 1 to {SCHEMA_VERSION})"
                ))
            }
        }
        r.schema_version = SCHEMA_VERSION;
        Ok(r)
    }

    /// This line's method parameters against what `fit` would run now: the names of the
    /// parameters that differ, with both values (empty if they agree or the line has no
    /// record of them).
    pub fn config_differences(&self, fit: &FitParams) -> Vec<String> {
        let Some(old) = self.method_params.as_ref().and_then(|v| v.as_object()) else {
            return Vec::new();
        };
        // Through the text, as the line was written: an f32 read back from JSON is the
        // f64 of its shortest spelling, not the f32 widened.
        let now = serde_json::to_string(&fit.method)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
        let Some(now) = now.as_ref().and_then(|v| v.as_object()) else {
            return Vec::new();
        };
        let names: std::collections::BTreeSet<&String> = old.keys().chain(now.keys()).collect();
        names
            .into_iter()
            .filter(|n| old.get(*n) != now.get(*n))
            .map(|n| {
                let shown =
                    |v: Option<&serde_json::Value>| v.map_or("(none)".into(), |v| v.to_string());
                format!("{n} was {}, now {}", shown(old.get(n)), shown(now.get(n)))
            })
            .collect()
    }
}

/// Refuses to let a finished line stand for a cell the grid now configures differently:
/// `--resume` would skip the cell and the report would mix two settings under one key.
pub fn check_same_config(
    dir: &Path,
    stored: &ResultRecord,
    fit: &FitParams,
) -> Result<(), ResultsError> {
    let diffs = stored.config_differences(fit);
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(ResultsError::ConfigChanged {
            path: dir.join(RESULTS_FILE),
            key: stored.key.clone(),
            differences: diffs.join("; "),
        })
    }
}

/// `bench merge`: two lines of one key from two directories must come from the same
/// method parameters (the protocol is in the key), or the merge would keep one and drop
/// the other silently.
pub fn check_same_cell(
    first_dir: &Path,
    first: &ResultRecord,
    dir: &Path,
    other: &ResultRecord,
) -> Result<(), ResultsError> {
    match (&first.method_params, &other.method_params) {
        (Some(a), Some(b)) if a != b => Err(ResultsError::MergeConflict {
            key: first.key.clone(),
            first: first_dir.join(RESULTS_FILE),
            second: dir.join(RESULTS_FILE),
            differences: format!("method parameters {a} and {b}"),
        }),
        _ => Ok(()),
    }
}

/// A cell that failed (`failures.jsonl`); it is run again on `--resume`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Failure {
    pub key: String,
    pub error: String,
}

/// Why results could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{path}, line {line}: not a results line: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("cell {key}: its record cannot be written as a results line: {message}")]
    Record { key: String, message: String },
    #[error("{0} already exists: pass --resume to continue that run, or choose another --out")]
    Exists(PathBuf),
    #[error("{path}: cell {key} finished with other settings than this grid gives it ({differences}); its key does not say so, so it cannot be resumed or merged with them: use another --out, or the settings of that run (its grid.json)")]
    ConfigChanged {
        path: PathBuf,
        key: String,
        differences: String,
    },
    #[error("cell {key} is in {first} and {second} with different settings ({differences}): they are not the same cell and cannot be merged")]
    MergeConflict {
        key: String,
        first: PathBuf,
        second: PathBuf,
        differences: String,
    },
}

/// A line of one of a run directory's JSON-lines files.
trait JsonLine: Sized {
    fn parse(line: &str) -> Result<Self, String>;
}

impl JsonLine for ResultRecord {
    fn parse(line: &str) -> Result<Self, String> {
        ResultRecord::from_line(line)
    }
}

impl JsonLine for Failure {
    fn parse(line: &str) -> Result<Self, String> {
        serde_json::from_str(line).map_err(not_a_line)
    }
}

/// Reads a JSON-lines file. A last line without its newline is the line a killed run was
/// writing: it is reported as `torn` (the byte length of the complete part) and not
/// parsed. Any other unreadable line is an error naming the file and the line.
fn read_lines<T: JsonLine>(path: &Path) -> Result<(Vec<T>, Option<u64>), ResultsError> {
    let (lines, torn) = read_raw_lines(path)?;
    Ok((lines.into_iter().map(|(_, v)| v).collect(), torn))
}

/// Complete lines (text and value) and the torn tail's offset, if any.
type RawLines<T> = (Vec<(String, T)>, Option<u64>);

/// [`read_lines`] keeping each line's text beside its parsed value.
fn read_raw_lines<T: JsonLine>(path: &Path) -> Result<RawLines<T>, ResultsError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), None)),
        Err(e) => return Err(ResultsError::Io(path.to_path_buf(), e)),
    };
    let complete = text.rfind('\n').map_or(0, |i| i + 1);
    let torn = (complete < text.len()).then_some(complete as u64);
    let mut out = Vec::new();
    for (i, line) in text[..complete].lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v = T::parse(line).map_err(|message| ResultsError::Parse {
            path: path.to_path_buf(),
            line: i + 1,
            message,
        })?;
        out.push((line.to_string(), v));
    }
    Ok((out, torn))
}

/// All results of a run directory, de-duplicated by key (the first line of a key wins).
pub fn read_results(dir: &Path) -> Result<Vec<ResultRecord>, ResultsError> {
    let (lines, _) = read_lines::<ResultRecord>(&dir.join(RESULTS_FILE))?;
    let mut seen = std::collections::HashSet::new();
    Ok(lines
        .into_iter()
        .filter(|r| seen.insert(r.key.clone()))
        .collect())
}

/// The complete results lines of a run directory with their text, in file order, keys
/// not de-duplicated (for `bench merge`, which keeps every field of a line).
pub fn read_raw_results(dir: &Path) -> Result<Vec<(String, ResultRecord)>, ResultsError> {
    let path = dir.join(RESULTS_FILE);
    if !path.is_file() {
        return Err(ResultsError::Io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no results file here"),
        ));
    }
    Ok(read_raw_lines::<ResultRecord>(&path)?.0)
}

/// Failures of a run directory whose cell has no result (latest error per key).
pub fn read_failures(dir: &Path, results: &[ResultRecord]) -> Result<Vec<Failure>, ResultsError> {
    let (lines, _) = read_lines::<Failure>(&dir.join(FAILURES_FILE))?;
    let done: std::collections::HashSet<&str> = results.iter().map(|r| r.key.as_str()).collect();
    let mut latest: BTreeMap<String, Failure> = BTreeMap::new();
    for f in lines {
        if !done.contains(f.key.as_str()) {
            latest.insert(f.key.clone(), f);
        }
    }
    Ok(latest.into_values().collect())
}

/// An append-only JSON-lines file shared by the worker threads: each line is written with
/// one `write_all` under a lock and flushed before the next cell's line, so lines never
/// interleave and a finished cell is on disk (in the page cache, which survives the
/// process) before it counts as done.
pub struct Appender {
    path: PathBuf,
    file: Mutex<File>,
}

impl Appender {
    /// Opens `path` for appending, first cutting off a torn last line left by a killed run.
    fn open(path: &Path, torn: Option<u64>) -> Result<Self, ResultsError> {
        let io = |e| ResultsError::Io(path.to_path_buf(), e);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        if let Some(len) = torn {
            file.set_len(len).map_err(io)?;
        }
        Ok(Appender {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    pub fn append<T: Serialize>(&self, value: &T) -> Result<(), ResultsError> {
        let mut line = serde_json::to_string(value)
            .map_err(|e| ResultsError::Io(self.path.clone(), std::io::Error::other(e)))?;
        line.push('\n');
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        f.write_all(line.as_bytes())
            .and_then(|_| f.flush())
            .map_err(|e| ResultsError::Io(self.path.clone(), e))
    }
}

/// The two append-only files of a run directory and the results already in it.
pub struct RunFiles {
    pub results: Appender,
    pub failures: Appender,
    pub done: Vec<ResultRecord>,
}

/// Opens (creating) the run directory `dir`. Without `resume`, an existing results file
/// is an error rather than silently mixed with the new run.
pub fn open_run(dir: &Path, resume: bool) -> Result<RunFiles, ResultsError> {
    std::fs::create_dir_all(dir).map_err(|e| ResultsError::Io(dir.to_path_buf(), e))?;
    let rpath = dir.join(RESULTS_FILE);
    if !resume && rpath.exists() {
        return Err(ResultsError::Exists(rpath));
    }
    let (done, torn) = read_lines::<ResultRecord>(&rpath)?;
    let fpath = dir.join(FAILURES_FILE);
    let (_, ftorn) = read_lines::<Failure>(&fpath)?;
    Ok(RunFiles {
        results: Appender::open(&rpath, torn)?,
        failures: Appender::open(&fpath, ftorn)?,
        done,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::{DatasetRef, Grid};
    use anoonly::vocab::NormKind;

    /// A line as version 1 wrote it (no `schema_version`; a fixture line of
    /// crates/anoonly/tests/fixtures/bench, its key's protocol suffix dropped as lines
    /// written before the suffix have it).
    const V1_LINE: &str = r#"{"key":"MVTec-AD_cable/deepsad/anoonly/clean/gamma_la=0.1/seed=1","family":"MVTec-AD","variant":"anoonly","ablation":{"name":"norm","value":"bn"},"dataset":"MVTec-AD_cable","method":"deepsad","anoonly":true,"lambda_n":0.0,"setting":"clean","protocol":"leakage-free","gamma_la":0.1,"seed":1,"aucroc":0.75,"aucpr":0.5,"aucpr_normal":0.9,"aucpr_normal_official":0.6,"fit_seconds":1.5,"score_seconds":0.01,"n_train":574,"n_labeled":15,"n_unlabeled_anomalies":0,"n_test":300,"n_test_anomalies":60,"empty_batches":0}"#;

    #[test]
    fn version_1_lines_read_typed_and_migrated() {
        let r = ResultRecord::from_line(V1_LINE).unwrap();
        assert_eq!(r.schema_version, SCHEMA_VERSION);
        assert_eq!(
            r.key,
            "MVTec-AD_cable/deepsad/anoonly/clean/gamma_la=0.1/seed=1/protocol=leakage-free"
        );
        assert_eq!(
            (r.method, r.variant, r.setting, r.protocol),
            (
                MethodKind::DeepSad,
                Variant::AnoOnly,
                Setting::Clean,
                Protocol::LeakageFree
            )
        );
        assert_eq!(r.ablation, Some(Override::norm(NormKind::Bn)));
        assert_eq!(r.method_params, None);
        // The record's other fields are kept.
        assert_eq!(r.details["n_train"], 574);
        assert_eq!(r.details["anoonly"], true);
        // An `adbench` key has nothing to add; a migrated key is not patched twice.
        let adbench = V1_LINE.replace("leakage-free", "adbench");
        let a = ResultRecord::from_line(&adbench).unwrap();
        assert_eq!(
            a.key,
            "MVTec-AD_cable/deepsad/anoonly/clean/gamma_la=0.1/seed=1"
        );
        let suffixed = V1_LINE.replace("seed=1\"", "seed=1/protocol=leakage-free\"");
        assert_eq!(ResultRecord::from_line(&suffixed).unwrap().key, r.key);
    }

    #[test]
    fn lines_of_a_newer_schema_or_bad_values_are_refused() {
        let v3 = V1_LINE.replacen("{", "{\"schema_version\":3,", 1);
        let e = ResultRecord::from_line(&v3).unwrap_err();
        assert!(
            e.contains("schema version 3: written by a newer anoonly"),
            "{e}"
        );
        for (from, to, want) in [
            ("\"deepsad\"", "\"nosuch\"", "unknown method `nosuch`"),
            ("\"clean\"", "\"dirty\"", "unknown setting `dirty`"),
            (
                "\"value\":\"bn\"",
                "\"value\":\"batchnorm\"",
                "norm=batchnorm",
            ),
            ("\"aucroc\":0.75,", "", "missing field `aucroc`"),
        ] {
            let e = ResultRecord::from_line(&V1_LINE.replace(from, to)).unwrap_err();
            assert!(e.contains(want), "{to}: {e}");
        }
    }

    /// What a finished cell writes reads back as the same record, its key first (where
    /// scripts/slurm/test.sh finds it) and its version stated.
    #[test]
    fn a_written_line_reads_back_as_the_same_record() {
        let grid = Grid {
            synthetic: vec![3],
            methods: vec![MethodKind::DevNet],
            epochs: Some(1),
            ..Grid::default()
        };
        let cell = Cell {
            ablation: Some(Override::lambda_n(0.001)),
            protocol: Protocol::LeakageFree,
            ..grid.cells().unwrap().remove(0)
        };
        let ds = crate::load(&DatasetRef::synthetic(3)).unwrap();
        let mut rec = crate::run_cell(&cell, &grid, &ds, None).unwrap();
        // A value serde_json's default (not correctly rounded) parser reads one ulp off
        // (0.99240589198036): the line must keep the record's f64 bit for bit.
        rec.aucroc = 0.992_405_891_980_360_1;
        let line = ResultRecord::new(&cell, &rec).unwrap();
        let text = serde_json::to_string(&line).unwrap();
        assert!(
            text.starts_with(&format!(
                "{{\"key\":\"{}\",\"schema_version\":2,",
                cell.key()
            )),
            "{text}"
        );
        let back = ResultRecord::from_line(&text).unwrap();
        assert_eq!(back, line);
        assert_eq!(back.method, MethodKind::DevNet);
        assert_eq!(back.ablation, cell.ablation);
        assert_eq!(back.aucroc.to_bits(), rec.aucroc.to_bits());
        // Every field of the record is in the line, the f32 ones as the record spells them.
        let record: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(&rec).unwrap()).unwrap();
        let written: serde_json::Value = serde_json::from_str(&text).unwrap();
        for (k, v) in record.as_object().unwrap() {
            assert_eq!(&written[k], v, "{k}");
        }
        assert_eq!(written["lambda_n"], serde_json::json!(0.001));
    }
}
