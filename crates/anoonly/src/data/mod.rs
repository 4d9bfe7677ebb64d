//! Reading feature files into a validated [`Dataset`] (labels required) or [`Features`]
//! (labels optional, for scoring new rows), and synthetic data for the demo.
//!
//! # Formats (dispatch by extension, case-insensitive)
//! - **`.npz`** (ADBench): a zip holding `X.npy` (features, 2-D) and `y.npy` (labels, 1-D or
//!   `(n, 1)`), deflate-compressed (zip method 8) or stored (method 0). Other entries are ignored.
//! - **`.npy`**: the features alone. Labels come from [`LoadOptions::labels`] (an `.npy` label
//!   vector) if given, else from a sibling file: `X.npy` → `y.npy`, `NAME_X.npy` → `NAME_y.npy`.
//!   Without labels, [`load`] fails naming the file(s) it looked for ([`DataError::MissingLabels`])
//!   and [`load_features`] returns `y = None`.
//! - **`.csv`**: comma-separated, header row required, fields trimmed. The label column is
//!   [`LoadOptions::label_column`] if given (it must exist), else `y` if present, else `label` if
//!   present (both present is refused as ambiguous: name one explicitly). Every other column is a
//!   feature. With no label column, [`load`] fails ([`DataError::MissingLabelColumn`]) and
//!   [`load_features`] returns `y = None`.
//!
//! NPY details: format versions 1.0, 2.0 and 3.0; header (a Python dict literal) capped at
//! [`npy::MAX_HEADER_LEN`] bytes. Feature dtypes: `f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1`, little- or
//! big-endian, C or Fortran order (all ADBench Classical `X` are Fortran order; they are
//! converted to a standard C-order `Array2<f32>`). Label dtypes: the same, values exactly 0 or 1.
//!
//! [`LoadOptions::labels`] only applies to `.npy` features and [`LoadOptions::label_column`] only
//! to `.csv`; passing one for another format is refused ([`DataError::InvalidOptions`]) rather
//! than silently ignored.
//!
//! # Names
//! [`Dataset::name`] is the file stem (`CIFAR10_0.npz` → `CIFAR10_0`, `22_magic.gamma.npz` →
//! `22_magic.gamma`); for an `.npy` pair, `NAME_X.npy` → `NAME` and `X.npy` → the name of the
//! folder holding it.
//!
//! # Errors and robustness
//! Every [`DataError`] names the file, and the row / column / key where it applies. Row numbers
//! are 0-based indices into `X` (as in numpy); CSV errors also give the 1-based line number in the
//! file. Nothing is allocated from a header before the declared byte size has been checked
//! against what the file (or zip entry) can provide, and a zip entry must declare a size that
//! deflate could actually produce from its compressed bytes, so a lying header fails fast.
//! No input makes the loaders panic.

mod csv;
pub mod npy;
mod npz;
pub mod synthetic;

use ndarray::{Array1, Array2};
use std::path::{Path, PathBuf};

pub use synthetic::{demo_dataset, generate, generate_with_kinds, AnomalyKind, SyntheticParams};

/// A labeled data set: one row of `x` per sample, `y[i] = 1` for an anomaly, 0 for a normal (or
/// unlabeled) sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub name: String,
    pub x: Array2<f32>,
    pub y: Array1<u8>,
}

impl Dataset {
    /// Validates and wraps an in-memory data set: at least one row and one column, as many labels
    /// as rows, every feature finite, every label 0 or 1. (An all-normal set is allowed here;
    /// only [`load`] insists on at least one anomaly.) Errors name the data set as
    /// `dataset "NAME"` in place of a file.
    pub fn new(name: impl Into<String>, x: Array2<f32>, y: Array1<u8>) -> Result<Self, DataError> {
        let name = name.into();
        let file = format!("dataset {name:?}");
        check_shape(&file, x.nrows(), x.ncols())?;
        if x.nrows() != y.len() {
            return Err(DataError::LengthMismatch {
                file,
                x_rows: x.nrows(),
                y_len: y.len(),
            });
        }
        if let Some(((row, column), v)) = x.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(DataError::NonFinite {
                file,
                row,
                column,
                value: f64::from(*v),
                line: None,
                column_name: None,
            });
        }
        if let Some((row, v)) = y.iter().enumerate().find(|(_, v)| **v > 1) {
            return Err(DataError::BadLabel {
                file,
                row,
                value: v.to_string(),
                line: None,
            });
        }
        Ok(Self { name, x, y })
    }

    /// Number of samples.
    pub fn n_rows(&self) -> usize {
        self.x.nrows()
    }

    /// Number of features per sample.
    pub fn n_features(&self) -> usize {
        self.x.ncols()
    }

    /// Number of rows labeled 1.
    pub fn n_anomalies(&self) -> usize {
        self.y.iter().filter(|v| **v == 1).count()
    }
}

/// Features to score, with labels when the file has them.
#[derive(Clone, Debug, PartialEq)]
pub struct Features {
    pub name: String,
    pub x: Array2<f32>,
    pub y: Option<Array1<u8>>,
}

/// Where the labels are; see the [module documentation](self) for the defaults.
#[derive(Default, Clone, Debug)]
pub struct LoadOptions {
    /// CSV only: name of the label column (default: `y`, else `label`).
    pub label_column: Option<String>,
    /// `.npy` only: an `.npy` file of labels (default: the sibling `y.npy` / `NAME_y.npy`).
    pub labels: Option<PathBuf>,
}

/// Why a file could not be loaded. Every message starts with the file (for [`Dataset::new`]:
/// `dataset "NAME"`); `row` fields are 0-based row indices into `X`, `line` fields 1-based lines
/// of a CSV file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// Extension other than `.npz`, `.npy`, `.csv`.
    #[error("{file}: unsupported file extension {ext:?} (expected .npz, .npy or .csv)")]
    UnsupportedFormat { file: String, ext: String },
    /// An option that does not apply to this format.
    #[error("{file}: {detail}")]
    InvalidOptions { file: String, detail: String },
    /// Zero-byte file.
    #[error("{file}: file is empty")]
    EmptyFile { file: String },
    /// Not a readable NPY array: bad magic, unknown version, malformed header, missing key.
    #[error("{file}: {array}: not a valid NPY array: {detail}")]
    BadNpy {
        file: String,
        array: String,
        detail: String,
    },
    /// NPY header longer than [`npy::MAX_HEADER_LEN`].
    #[error("{file}: {array}: NPY header of {len} bytes exceeds the {max}-byte limit")]
    HeaderTooLong {
        file: String,
        array: String,
        len: u64,
        max: usize,
    },
    /// A dtype the loader does not convert.
    #[error(
        "{file}: {array}: unsupported dtype {dtype:?} \
         (supported: f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1, little or big endian)"
    )]
    UnsupportedDtype {
        file: String,
        array: String,
        dtype: String,
    },
    /// Wrong number of dimensions (X must be 2-D, y 1-D or `(n, 1)`), or a shape too large to
    /// address.
    #[error("{file}: {array}: shape {shape:?} not supported: {expected}")]
    BadShape {
        file: String,
        array: String,
        shape: Vec<u64>,
        expected: String,
    },
    /// The header declares more data than the file / zip entry holds.
    #[error(
        "{file}: {array}: truncated: shape {shape:?} of dtype {dtype} needs {needed} bytes of \
         data, only {available} available"
    )]
    Truncated {
        file: String,
        array: String,
        shape: Vec<u64>,
        dtype: String,
        needed: u64,
        available: u64,
    },
    /// Corrupt, truncated or unsupported zip archive or entry.
    #[error("{file}: corrupt or unsupported zip archive: {detail}")]
    Zip { file: String, detail: String },
    /// An `.npz` without `X.npy` (or, for [`load`], `y.npy`).
    #[error("{file}: archive has no {key:?} entry (entries found: {found:?})")]
    MissingKey {
        file: String,
        key: String,
        found: Vec<String>,
    },
    /// `.npy` features without labels, for [`load`].
    #[error("{file}: no labels: {}; pass the label file explicitly", looked_for_text(.looked_for))]
    MissingLabels {
        file: String,
        looked_for: Vec<PathBuf>,
    },
    /// Zero rows.
    #[error("{file}: no data rows")]
    NoRows { file: String },
    /// Zero feature columns.
    #[error("{file}: no feature columns")]
    NoColumns { file: String },
    /// NaN or ±Inf among the features (or a float too large for f32); the first in row order.
    #[error(
        "{file}: non-finite feature value {value:?} at row {row}, column {column}{} \
         (features must be finite f32)",
        csv_place(*.line, .column_name)
    )]
    NonFinite {
        file: String,
        row: usize,
        column: usize,
        value: f64,
        line: Option<u64>,
        column_name: Option<String>,
    },
    /// As many labels as rows are needed.
    #[error("{file}: X has {x_rows} rows but y has {y_len} labels")]
    LengthMismatch {
        file: String,
        x_rows: usize,
        y_len: usize,
    },
    /// A label other than 0 or 1; the first one.
    #[error("{file}: label {value} at row {row}{} is not 0 or 1", line_place(*.line))]
    BadLabel {
        file: String,
        row: usize,
        value: String,
        line: Option<u64>,
    },
    /// [`load`] needs at least one anomaly (label 1).
    #[error(
        "{file}: no anomaly (label 1) among its {n_rows} rows; an evaluation needs anomalies to label and to test on"
    )]
    NoAnomaly { file: String, n_rows: usize },
    /// CSV row with a different number of fields than the header.
    #[error("{file}: line {line} (row {row}) has {found} fields, the header has {expected}")]
    RaggedRow {
        file: String,
        line: u64,
        row: usize,
        expected: usize,
        found: usize,
    },
    /// CSV feature or label cell that is not a number.
    #[error(
        "{file}: line {line} (row {row}), column {column:?}: cannot parse {text:?} as a number"
    )]
    NonNumeric {
        file: String,
        line: u64,
        row: usize,
        column: String,
        text: String,
    },
    /// The requested label column is not in the CSV header. `column` is the requested name,
    /// or `y|label` when the defaults were looked for.
    #[error("{file}: label column {} not found; header: {header:?}", label_column_text(.column))]
    MissingLabelColumn {
        file: String,
        column: String,
        header: Vec<String>,
    },
    /// Both default label columns `y` and `label` are present.
    #[error(
        "{file}: both \"y\" and \"label\" columns are present; name the label column explicitly"
    )]
    AmbiguousLabelColumn { file: String },
    /// Other CSV-level problems (invalid UTF-8, duplicate column names, ...).
    #[error("{file}: CSV error{}: {detail}", line_place(*.line))]
    Csv {
        file: String,
        line: Option<u64>,
        detail: String,
    },
}

fn looked_for_text(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        "no sibling label file naming rule applies (X.npy → y.npy, NAME_X.npy → NAME_y.npy)".into()
    } else {
        format!("looked for {paths:?}")
    }
}

fn label_column_text(column: &str) -> String {
    if column == csv::DEFAULT_LABEL_COLUMNS.join("|") {
        let names: Vec<String> = csv::DEFAULT_LABEL_COLUMNS
            .iter()
            .map(|n| format!("{n:?}"))
            .collect();
        format!("{} (the defaults)", names.join(" or "))
    } else {
        format!("{column:?}")
    }
}

fn line_place(line: Option<u64>) -> String {
    line.map(|l| format!(" (line {l})")).unwrap_or_default()
}

fn csv_place(line: Option<u64>, column_name: &Option<String>) -> String {
    match (line, column_name) {
        (Some(l), Some(c)) => format!(" (line {l}, column {c:?})"),
        (Some(l), None) => format!(" (line {l})"),
        (None, Some(c)) => format!(" (column {c:?})"),
        (None, None) => String::new(),
    }
}

pub(crate) fn check_shape(file: &str, rows: usize, cols: usize) -> Result<(), DataError> {
    if rows == 0 {
        return Err(DataError::NoRows { file: file.into() });
    }
    if cols == 0 {
        return Err(DataError::NoColumns { file: file.into() });
    }
    Ok(())
}

pub(crate) fn io_err(file: &str, source: std::io::Error) -> DataError {
    DataError::Io {
        file: file.into(),
        source,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Npz,
    Npy,
    Csv,
}

fn format_of(path: &Path, file: &str) -> Result<Format, DataError> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "npz" => Ok(Format::Npz),
        "npy" => Ok(Format::Npy),
        "csv" => Ok(Format::Csv),
        _ => Err(DataError::UnsupportedFormat {
            file: file.into(),
            ext,
        }),
    }
}

/// The data set's name: the file stem; for `NAME_X.npy` → `NAME`, for `X.npy` → its folder.
fn dataset_name(path: &Path, format: Format) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if format == Format::Npy {
        if stem == "X" {
            if let Some(dir) = path
                .parent()
                .and_then(|p| p.file_name())
                .map(|d| d.to_string_lossy().into_owned())
            {
                return dir;
            }
        } else if let Some(base) = stem.strip_suffix("_X") {
            if !base.is_empty() {
                return base.to_string();
            }
        }
    }
    stem
}

/// The sibling label files an `.npy` feature file may have, in the order they are tried.
fn npy_label_candidates(path: &Path) -> Vec<PathBuf> {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Vec::new();
    };
    let Some((stem, ext)) = name.rsplit_once('.') else {
        return Vec::new();
    };
    let label_stem = if stem == "X" {
        "y".to_string()
    } else if let Some(base) = stem.strip_suffix("_X") {
        format!("{base}_y")
    } else {
        return Vec::new();
    };
    vec![path.with_file_name(format!("{label_stem}.{ext}"))]
}

fn invalid_option(file: &str, option: &str, format: &str) -> DataError {
    DataError::InvalidOptions {
        file: file.into(),
        detail: format!("option `{option}` does not apply to {format} files"),
    }
}

/// Reads features and, when present, labels. For [`load`]'s sake `need_labels` turns "no labels
/// found" into an error naming what was looked for.
fn read_any(path: &Path, opts: &LoadOptions, need_labels: bool) -> Result<Features, DataError> {
    let file = path.display().to_string();
    let format = format_of(path, &file)?;
    let name = dataset_name(path, format);
    let (x, y) = match format {
        Format::Npz => {
            if opts.labels.is_some() {
                return Err(invalid_option(&file, "labels", ".npz"));
            }
            if opts.label_column.is_some() {
                return Err(invalid_option(&file, "label_column", ".npz"));
            }
            npz::read_npz(path, &file, need_labels)?
        }
        Format::Npy => {
            if opts.label_column.is_some() {
                return Err(invalid_option(&file, "label_column", ".npy"));
            }
            let x = npy::read_matrix_file(path, &file)?;
            let y = match &opts.labels {
                Some(p) => Some(npy::read_labels_file(p)?),
                None => {
                    let candidates = npy_label_candidates(path);
                    match candidates.iter().find(|p| p.is_file()) {
                        Some(p) => Some(npy::read_labels_file(p)?),
                        None if need_labels => {
                            return Err(DataError::MissingLabels {
                                file,
                                looked_for: candidates,
                            })
                        }
                        None => None,
                    }
                }
            };
            (x, y)
        }
        Format::Csv => {
            if opts.labels.is_some() {
                return Err(invalid_option(&file, "labels", ".csv"));
            }
            csv::read_csv(path, &file, opts.label_column.as_deref(), need_labels)?
        }
    };
    checked_features(file, name, x, y)
}

/// Wraps what a reader returned, refusing labels that do not match the rows.
fn checked_features(
    file: String,
    name: String,
    x: Array2<f32>,
    y: Option<Array1<u8>>,
) -> Result<Features, DataError> {
    if let Some(y) = &y {
        if y.len() != x.nrows() {
            return Err(DataError::LengthMismatch {
                file,
                x_rows: x.nrows(),
                y_len: y.len(),
            });
        }
    }
    Ok(Features { name, x, y })
}

/// An `.npz` archive held in memory, read with exactly the checks of [`load_features`];
/// `name` stands for the file in errors and is the returned [`Features::name`]. For callers
/// holding bytes, and for the fuzz targets (`fuzz/`), which must not touch the disk.
pub fn read_npz_bytes(name: &str, bytes: &[u8]) -> Result<Features, DataError> {
    let len = bytes.len() as u64;
    let (x, y) = npz::read_npz_from(std::io::Cursor::new(bytes), len, name, false)?;
    checked_features(name.into(), name.into(), x, y)
}

/// A CSV file held in memory, read with exactly the checks of [`load_features`] (label
/// column `label_column`, else the defaults); see [`read_npz_bytes`].
pub fn read_csv_bytes(
    name: &str,
    bytes: &[u8],
    label_column: Option<&str>,
) -> Result<Features, DataError> {
    if bytes.is_empty() {
        return Err(DataError::EmptyFile { file: name.into() });
    }
    let (x, y) = csv::read_csv_from(bytes, name, label_column, false)?;
    checked_features(name.into(), name.into(), x, y)
}

/// Loads a labeled data set for evaluation: [`load_labeled`], and at least one row must be
/// an anomaly ([`DataError::NoAnomaly`]): the protocol splits anomalies into train and test.
/// See the [module documentation](self) for formats and label lookup.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Dataset, DataError> {
    let ds = load_labeled(path, opts)?;
    if !ds.y.iter().any(|v| *v == 1) {
        return Err(DataError::NoAnomaly {
            file: path.display().to_string(),
            n_rows: ds.y.len(),
        });
    }
    Ok(ds)
}

/// Loads a labeled data set for training (`fit`, Python's `load_data`): labels are
/// required, all-0 labels are accepted (whether a method trains without labeled anomalies
/// is the fit's decision: [`crate::methods::FitParams::fit`]).
pub fn load_labeled(path: &Path, opts: &LoadOptions) -> Result<Dataset, DataError> {
    let f = read_any(path, opts, true)?;
    let Some(y) = f.y else {
        // read_any(.., true) never returns unlabeled features; keep a clear error anyway.
        return Err(DataError::MissingLabels {
            file: path.display().to_string(),
            looked_for: Vec::new(),
        });
    };
    Ok(Dataset {
        name: f.name,
        x: f.x,
        y,
    })
}

/// Loads features to score; labels are returned when the file (or its sibling) has them, and
/// validated if so. All-normal labels are accepted here.
pub fn load_features(path: &Path, opts: &LoadOptions) -> Result<Features, DataError> {
    read_any(path, opts, false)
}
