//! `results.jsonl`: one JSON line per finished cell, appended whole as the cell finishes,
//! so a killed run loses at most the cells in flight; reading it back for `--resume`,
//! reports and `bench merge`.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::grid::{protocol_suffix, Cell, Override, Variant};
use anoonly::experiment::EvalRecord;
use anoonly::methods::FitParams;

/// A cell's ablation override as its results line records it: the switch's name and the
/// value as spelled. Reports group by these strings, so a results file reads and reports
/// the same whatever version of the grid wrote it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Ablation {
    pub name: String,
    pub value: String,
}

impl std::fmt::Display for Ablation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.name, self.value)
    }
}

pub const RESULTS_FILE: &str = "results.jsonl";
pub const FAILURES_FILE: &str = "failures.jsonl";

/// A results line as written: the cell's key and grid coordinates, then every field of
/// `eval --json`.
#[derive(Serialize)]
pub struct ResultLine<'a> {
    pub key: String,
    pub family: &'a str,
    pub variant: Variant,
    pub ablation: Option<&'a Override>,
    #[serde(flatten)]
    pub record: &'a EvalRecord,
}

impl<'a> ResultLine<'a> {
    pub fn new(cell: &'a Cell, record: &'a EvalRecord) -> Self {
        ResultLine {
            key: cell.key(),
            family: &cell.dataset.family,
            variant: cell.variant,
            ablation: cell.ablation.as_ref(),
            record,
        }
    }
}

/// A results line as read back: what reports need (other fields are ignored, so lines
/// from older or newer versions with extra fields still read).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredResult {
    pub key: String,
    pub dataset: String,
    pub family: String,
    pub method: String,
    pub variant: Variant,
    pub setting: String,
    pub protocol: String,
    pub gamma_la: f64,
    pub seed: u64,
    #[serde(default)]
    pub ablation: Option<Ablation>,
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
}

impl StoredResult {
    /// Keys of lines written before the protocol was part of the key name a
    /// `leakage-free` cell without it: such a key gets the suffix today's key has, so old
    /// runs resume and merge with new ones (an `adbench` key is unchanged).
    fn normalise_key(&mut self) {
        let suffix = protocol_suffix(&self.protocol);
        if !self.key.ends_with(&suffix) {
            self.key.push_str(&suffix);
        }
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
    stored: &StoredResult,
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
    first: &StoredResult,
    dir: &Path,
    other: &StoredResult,
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

/// Reads a JSON-lines file. A last line without its newline is the line a killed run was
/// writing: it is reported as `torn` (the byte length of the complete part) and not
/// parsed. Any other unreadable line is an error naming the file and the line.
fn read_lines<T: for<'de> Deserialize<'de>>(
    path: &Path,
) -> Result<(Vec<T>, Option<u64>), ResultsError> {
    let (lines, torn) = read_raw_lines(path)?;
    Ok((lines.into_iter().map(|(_, v)| v).collect(), torn))
}

/// Complete lines (text and value) and the torn tail's offset, if any.
type RawLines<T> = (Vec<(String, T)>, Option<u64>);

/// [`read_lines`] keeping each line's text beside its parsed value.
fn read_raw_lines<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<RawLines<T>, ResultsError> {
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
        let v = serde_json::from_str(line).map_err(|e| ResultsError::Parse {
            path: path.to_path_buf(),
            line: i + 1,
            message: e.to_string(),
        })?;
        out.push((line.to_string(), v));
    }
    Ok((out, torn))
}

/// All results of a run directory, de-duplicated by key (the first line of a key wins).
pub fn read_results(dir: &Path) -> Result<Vec<StoredResult>, ResultsError> {
    let (mut lines, _) = read_lines::<StoredResult>(&dir.join(RESULTS_FILE))?;
    lines.iter_mut().for_each(StoredResult::normalise_key);
    let mut seen = std::collections::HashSet::new();
    Ok(lines
        .into_iter()
        .filter(|r| seen.insert(r.key.clone()))
        .collect())
}

/// The complete results lines of a run directory with their text, in file order, keys
/// not de-duplicated (for `bench merge`, which keeps every field of a line).
pub fn read_raw_results(dir: &Path) -> Result<Vec<(String, StoredResult)>, ResultsError> {
    let path = dir.join(RESULTS_FILE);
    if !path.is_file() {
        return Err(ResultsError::Io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no results file here"),
        ));
    }
    let mut lines = read_raw_lines::<StoredResult>(&path)?.0;
    lines.iter_mut().for_each(|(_, r)| r.normalise_key());
    Ok(lines)
}

/// Failures of a run directory whose cell has no result (latest error per key).
pub fn read_failures(dir: &Path, results: &[StoredResult]) -> Result<Vec<Failure>, ResultsError> {
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
    pub done: Vec<StoredResult>,
}

/// Opens (creating) the run directory `dir`. Without `resume`, an existing results file
/// is an error rather than silently mixed with the new run.
pub fn open_run(dir: &Path, resume: bool) -> Result<RunFiles, ResultsError> {
    std::fs::create_dir_all(dir).map_err(|e| ResultsError::Io(dir.to_path_buf(), e))?;
    let rpath = dir.join(RESULTS_FILE);
    if !resume && rpath.exists() {
        return Err(ResultsError::Exists(rpath));
    }
    let (mut done, torn) = read_lines::<StoredResult>(&rpath)?;
    done.iter_mut().for_each(StoredResult::normalise_key);
    let fpath = dir.join(FAILURES_FILE);
    let (_, ftorn) = read_lines::<Failure>(&fpath)?;
    Ok(RunFiles {
        results: Appender::open(&rpath, torn)?,
        failures: Appender::open(&fpath, ftorn)?,
        done,
    })
}
