//! The train/test split of the official code (docs/protocol.md 1.2) and a leakage-free variant.
//!
//! Pipeline of [`split`] (ADBench protocol), all random draws from numpy's legacy MT19937
//! seeded with the run's data seed (see [`mt19937`]), in the official order, so that at a given
//! seed the rows (and their order) are those the official code picks:
//!
//! 1. (`n < min_rows`) draw `min_rows` row indices **with** replacement (`np.random.choice`);
//! 2. (`n > max_rows`) reseed, draw `max_rows` rows **without** replacement;
//! 3. stratified split as `sklearn.train_test_split(..., stratify=y)`: `n_test = ceil(test_size·n)`,
//!    per-class train counts by [`approximate_mode`], per-class permutation, then train and test
//!    lists each permuted;
//! 4. [`MinMax`] fitted on **all** train rows, applied to train and test;
//! 5. train normals cut to the first `ceil(normal_ratio·|normals|)`; labeled anomalies: the
//!    first `k` of a permutation of the train anomalies (`np.random.choice(..., k,
//!    replace=False)`), `k = max(1, ceil(gamma_la·|train anomalies|))` in ratio mode or the
//!    count asked for in ADBench's count mode (`nla`; [`Labeled`]);
//! 6. [`Setting::Clean`] drops the unlabeled train anomalies, [`Setting::Noisy`] keeps them with
//!    label 0;
//! 7. train order: `[normals, unlabeled anomalies (noisy only, ascending), labeled anomalies]`.
//!
//! [`Protocol::LeakageFree`] skips step 1 (small files are split as they are, so no row is in
//! both train and test); everything else is the same.

pub mod mt19937;

pub use mt19937::Mt19937;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

/// Which split protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// The official (ADBench) pipeline, incl. duplication of small files before the split.
    Adbench,
    /// As [`Protocol::Adbench`] without the duplication step: no train/test leakage.
    LeakageFree,
}

/// What happens to the train anomalies that are not labeled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Setting {
    /// Dropped from training (the paper's main setting, `--normal_clean`).
    Clean,
    /// Kept in training with label 0 (label noise; the official `run.py` default).
    Noisy,
}

/// The one spelling of a protocol or setting name: [`Protocol::name`] / [`Setting::name`]
/// give it, and `Display`, `FromStr` (case-insensitive, listing the known names when it
/// fails) and serde (records, grid files, results lines) all go through it, so the CLI,
/// the JSON output and the bench keys cannot disagree.
macro_rules! named_enum {
    ($ty:ident, $what:literal, [$($variant:ident => $name:literal),+ $(,)?]) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The name on the command line, in records, keys and files.
            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $ty::ALL
                    .iter()
                    .copied()
                    .find(|v| v.name().eq_ignore_ascii_case(s))
                    .ok_or_else(|| {
                        let names: Vec<&str> = $ty::ALL.iter().map(|v| v.name()).collect();
                        format!(concat!("unknown ", $what, " `{}` (known: {})"), s, names.join(", "))
                    })
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

named_enum!(Protocol, "protocol", [Adbench => "adbench", LeakageFree => "leakage-free"]);
named_enum!(Setting, "setting", [Clean => "clean", Noisy => "noisy"]);

/// How many of the train anomalies are labeled: ADBench's two modes (its `la` argument is a
/// float or an int). Both label the first `k` of one permutation of the train anomalies,
/// drawn with the same RNG consumption whatever `k` (legacy `choice` without replacement is
/// `permutation(n)[:k]`), so at a seed the labeled sets are nested: count 5 ⊂ count 10 ⊂
/// the ratio's set when that labels at least 10, and count mode labels the rows ratio mode
/// labels for the same number.
///
/// Serialised flattened into its parent (split parameters, records, cells) as one field:
/// `"gamma_la": 0.1` for a ratio, exactly as before count mode existed, so every ratio record
/// is byte-identical to an older one, or `"n_labeled_requested": 10` for a count. (Records
/// already carry `n_labeled`, the number labeled, in both modes; the requested count is its
/// own field so a record says which mode made it.)
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "LabeledFields", into = "LabeledFields")]
pub enum Labeled {
    /// `gamma_la`: this fraction of the train anomalies, `max(1, ceil(gamma_la·n))`, in
    /// `(0, 1]` (the paper's and the AnoOnly code's `--la`).
    Ratio(f64),
    /// ADBench's `nla`: exactly this many; a train split with fewer anomalies is refused
    /// (ADBench raises too). 0 labels none (ADBench's `nla = 0`: only a method that trains
    /// without anomalies can fit it).
    Count(usize),
}

/// [`Labeled`]'s fields as records spell them.
#[derive(serde::Serialize, serde::Deserialize)]
struct LabeledFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gamma_la: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n_labeled_requested: Option<usize>,
}

impl From<Labeled> for LabeledFields {
    fn from(l: Labeled) -> Self {
        match l {
            Labeled::Ratio(g) => LabeledFields {
                gamma_la: Some(g),
                n_labeled_requested: None,
            },
            Labeled::Count(k) => LabeledFields {
                gamma_la: None,
                n_labeled_requested: Some(k),
            },
        }
    }
}

impl TryFrom<LabeledFields> for Labeled {
    type Error = String;
    fn try_from(f: LabeledFields) -> Result<Self, String> {
        match (f.gamma_la, f.n_labeled_requested) {
            (Some(g), None) => Ok(Labeled::Ratio(g)),
            (None, Some(k)) => Ok(Labeled::Count(k)),
            (Some(_), Some(_)) => {
                Err("`gamma_la` and `n_labeled_requested` are exclusive: give one".into())
            }
            (None, None) => Err("missing field `gamma_la` (or `n_labeled_requested`)".into()),
        }
    }
}

impl Labeled {
    /// The labeled anomalies of either front-end option, exclusive: `n_labeled` (a count)
    /// or `gamma_la` (a ratio), else the protocol's default ratio.
    pub fn from_options(gamma_la: Option<f64>, n_labeled: Option<usize>) -> Result<Self, String> {
        match (gamma_la, n_labeled) {
            (Some(_), Some(_)) => {
                Err("gamma_la (a ratio) and n_labeled (a count) are exclusive: give one".into())
            }
            (_, Some(k)) => Ok(Labeled::Count(k)),
            (Some(g), None) => Ok(Labeled::Ratio(g)),
            (None, None) => Ok(SplitParams::default().labeled),
        }
    }

    /// The ratio, in ratio mode.
    pub fn ratio(self) -> Option<f64> {
        match self {
            Labeled::Ratio(g) => Some(g),
            Labeled::Count(_) => None,
        }
    }

    /// The count asked for, in count mode.
    pub fn count(self) -> Option<usize> {
        match self {
            Labeled::Ratio(_) => None,
            Labeled::Count(k) => Some(k),
        }
    }

    /// How many of `n_anomalies` train anomalies are labeled; a count above them is refused.
    pub fn k(self, n_anomalies: usize) -> Result<usize, ProtocolError> {
        match self {
            Labeled::Ratio(g) => {
                Ok(((g * n_anomalies as f64).ceil() as usize).clamp(1, n_anomalies.max(1)))
            }
            Labeled::Count(k) if k > n_anomalies => Err(ProtocolError::TooFewAnomalies {
                requested: k,
                available: n_anomalies,
                part: "the train split",
            }),
            Labeled::Count(k) => Ok(k),
        }
    }
}

/// The one spelling of a mode in bench keys and section titles: `gamma_la=0.1` (a ratio,
/// as keys were always spelled) or `n_labeled=10` (a count).
impl std::fmt::Display for Labeled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Labeled::Ratio(g) => write!(f, "gamma_la={g}"),
            Labeled::Count(k) => write!(f, "n_labeled={k}"),
        }
    }
}

/// Parameters of [`split`]. `SplitParams::default()` holds the protocol's defaults (the
/// paper's and `anoonly eval`'s), the one place front ends take them from (the CLI's flag
/// defaults, Python's `split`/`evaluate` keywords through `_anoonly.split_defaults()`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SplitParams {
    pub protocol: Protocol,
    pub setting: Setting,
    /// How many train anomalies are labeled: a ratio `gamma_la` in `(0, 1]` or a count
    /// (serialised as `gamma_la` or `n_labeled_requested`, see [`Labeled`]).
    #[serde(flatten)]
    pub labeled: Labeled,
    /// Fraction of rows in the test set, in `(0, 1)`.
    pub test_size: f64,
    /// Files with fewer rows are resampled with replacement up to this many (ADBench only).
    pub min_rows: usize,
    /// Files with more rows are subsampled without replacement to this many.
    pub max_rows: Option<usize>,
    /// Fraction of train normals kept (the first ones of the shuffled train), in `(0, 1]`.
    pub normal_ratio: f64,
}

impl Default for SplitParams {
    fn default() -> Self {
        SplitParams {
            protocol: Protocol::Adbench,
            setting: Setting::Clean,
            labeled: Labeled::Ratio(0.1),
            test_size: 0.3,
            min_rows: 1000,
            max_rows: Some(10000),
            normal_ratio: 1.0,
        }
    }
}

impl SplitParams {
    /// Checks the ranges of the fractions and the caps.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        let bad = |field: &'static str, reason: String| {
            Err(ProtocolError::InvalidParam { field, reason })
        };
        if let Labeled::Ratio(g) = self.labeled {
            if !(g > 0.0 && g <= 1.0) {
                return bad("gamma_la", format!("{g} is not in (0, 1]"));
            }
        }
        if !(self.test_size > 0.0 && self.test_size < 1.0) {
            return bad("test_size", format!("{} is not in (0, 1)", self.test_size));
        }
        if !(self.normal_ratio > 0.0 && self.normal_ratio <= 1.0) {
            return bad(
                "normal_ratio",
                format!("{} is not in (0, 1]", self.normal_ratio),
            );
        }
        if let Some(m) = self.max_rows {
            if m < 4 {
                return bad("max_rows", format!("{m} leaves too few rows to stratify"));
            }
        }
        Ok(())
    }
}

/// How the rows were resampled before the split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Resampling {
    None,
    /// Drawn with replacement up to `min_rows` from `from` rows.
    Duplicated {
        from: usize,
    },
    /// Drawn without replacement down to `max_rows` from `from` rows.
    Subsampled {
        from: usize,
    },
}

/// Why a split cannot be made.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum ProtocolError {
    #[error("invalid split parameter `{field}`: {reason}")]
    InvalidParam { field: &'static str, reason: String },
    #[error("x has {x_rows} rows but y has {y_len} labels")]
    ShapeMismatch { x_rows: usize, y_len: usize },
    #[error("label at row {index} is {value}, expected 0 or 1")]
    InvalidLabel { index: usize, value: u8 },
    #[error("feature at row {row}, column {col} is not finite")]
    NonFiniteFeature { row: usize, col: usize },
    #[error(
        "class {class} has {count} rows (after resampling): at least 2 are needed to stratify"
    )]
    ClassTooSmall { class: u8, count: usize },
    #[error("{n_rows} rows give {n_train} train and {n_test} test rows: each needs at least 2 to stratify")]
    TooFewRows {
        n_rows: usize,
        n_train: usize,
        n_test: usize,
    },
    #[error("the train split holds no anomaly, so none can be labeled")]
    NoAnomalyInTrain,
    /// Count mode asked for more labeled anomalies than there are (ADBench refuses too).
    #[error("n_labeled = {requested} but {part} has {available} anomalies")]
    TooFewAnomalies {
        requested: usize,
        available: usize,
        /// `the train split`, or `the file` (`fit --n-labeled`).
        part: &'static str,
    },
    #[error("{n_rows} rows: a split indexes rows with 32 bits, at most 4294967295 rows")]
    TooManyRows { n_rows: usize },
}

/// Min-max scaling fitted on the train rows: `(x − min) / scale`, with `scale = max − min`, or
/// 1 for a constant column (so it maps to `x − min`). No clipping: test rows may leave `[0, 1]`.
#[derive(Clone, Debug, PartialEq)]
pub struct MinMax {
    pub min: Array1<f32>,
    pub scale: Array1<f32>,
}

impl MinMax {
    /// Fits on the rows of `x` (at least one row).
    pub fn fit(x: ArrayView2<f32>) -> Self {
        Self::fit_iter(x.ncols(), x.rows().into_iter())
    }

    fn fit_iter<'a>(d: usize, rows: impl Iterator<Item = ArrayView1<'a, f32>>) -> Self {
        let mut min = Array1::from_elem(d, f32::INFINITY);
        let mut max = Array1::from_elem(d, f32::NEG_INFINITY);
        let mut n_rows = 0usize;
        for row in rows {
            n_rows += 1;
            for ((v, lo), hi) in row.iter().zip(min.iter_mut()).zip(max.iter_mut()) {
                *lo = lo.min(*v);
                *hi = hi.max(*v);
            }
        }
        let scale = ndarray::Zip::from(&min).and(&max).map_collect(|&lo, &hi| {
            let r = hi - lo;
            if r > 0.0 && r.is_finite() {
                r
            } else {
                1.0
            }
        });
        if n_rows == 0 {
            min.fill(0.0);
        }
        MinMax { min, scale }
    }

    /// Fits on the rows `rows` of `x`, visited in that order: equal to `fit` on
    /// `x.select(Axis(0), rows)` without the copy.
    pub fn fit_rows(x: ArrayView2<f32>, rows: &[u32]) -> Self {
        Self::fit_iter(x.ncols(), rows.iter().map(|&r| x.row(r as usize)))
    }

    /// The rows `rows` of `x`, in that order, scaled.
    pub fn scaled_rows(&self, x: ArrayView2<f32>, rows: &[u32]) -> Array2<f32> {
        let mut out = Vec::with_capacity(rows.len() * x.ncols());
        for &r in rows {
            out.extend(x.row(r as usize).iter().copied());
        }
        let mut out = Array2::from_shape_vec((rows.len(), x.ncols()), out)
            .expect("rows.len() rows of x.ncols() values");
        self.transform_inplace(&mut out);
        out
    }

    /// Scales a copy of `x`.
    pub fn transform(&self, x: ArrayView2<f32>) -> Array2<f32> {
        let mut out = x.to_owned();
        self.transform_inplace(&mut out);
        out
    }

    /// Scales `x` in place (computed in f64, stored as f32).
    pub fn transform_inplace(&self, x: &mut Array2<f32>) {
        affine_inplace(x, &self.min, &self.scale);
    }
}

/// `x[i, j] <- (x[i, j] - offset[j]) / scale[j]`, computed in f64 and stored as f32: the
/// arithmetic of the split's [`MinMax`] and of a model's
/// [`crate::preprocessing::Scaler`].
pub(crate) fn affine_inplace(x: &mut Array2<f32>, offset: &Array1<f32>, scale: &Array1<f32>) {
    for mut row in x.rows_mut() {
        for ((v, lo), s) in row.iter_mut().zip(offset.iter()).zip(scale.iter()) {
            *v = ((f64::from(*v) - f64::from(*lo)) / f64::from(*s)) as f32;
        }
    }
}

/// Row indices of a split, into the caller's (original) rows. Duplicated rows repeat an index.
///
/// Indices are `u32` (a split refuses more than 2^32 rows): at 567k rows each index vector
/// of `usize` would be 4.5 MB against 6.8 MB of data (16_http), and a split holds several.
#[derive(Clone, Debug, PartialEq)]
pub struct SplitIndices {
    /// Final train rows, in train order `[normals, unlabeled anomalies (noisy), labeled]`.
    pub train: Vec<u32>,
    /// Labels of `train`: 1 = labeled anomaly, 0 = unlabeled.
    pub train_labels: Vec<u8>,
    /// All rows of the train split (the MinMax fit set), in split order.
    pub train_all: Vec<u32>,
    /// Test rows, in split order.
    pub test: Vec<u32>,
    pub n_labeled: usize,
    pub n_unlabeled_anomalies: usize,
    pub n_rows_used: usize,
    pub resampled: Resampling,
}

/// A split, scaled.
#[derive(Clone, Debug)]
pub struct Split {
    pub x_train: Array2<f32>,
    /// 1 = labeled anomaly, 0 = unlabeled (normal, or an unlabeled anomaly in the noisy setting).
    pub y_train: Array1<u8>,
    pub x_test: Array2<f32>,
    /// True labels.
    pub y_test: Array1<u8>,
    pub n_labeled: usize,
    /// Anomalies kept in train with label 0 (noisy setting; 0 when clean).
    pub n_unlabeled_anomalies: usize,
    /// Rows after resampling (the number the split is made on).
    pub n_rows_used: usize,
    pub resampled: Resampling,
    /// Original row index of each `x_train` row.
    pub idx_train: Vec<u32>,
    /// Original row index of each `x_test` row.
    pub idx_test: Vec<u32>,
    /// The scaler fitted on the train split.
    pub scaler: MinMax,
}

/// sklearn `_approximate_mode`: per-class draws summing to `n_draws`, the floor of each class's
/// proportional share plus the remainder given to the largest fractional parts (ties broken by
/// `rng`, as `rng.choice(inds, k, replace=False)`). Same float arithmetic as numpy.
pub fn approximate_mode(class_counts: &[usize], n_draws: usize, rng: &mut Mt19937) -> Vec<usize> {
    let total: usize = class_counts.iter().sum();
    let continuous: Vec<f64> = class_counts
        .iter()
        .map(|&c| c as f64 / total as f64 * n_draws as f64)
        .collect();
    let mut floored: Vec<f64> = continuous.iter().map(|c| c.floor()).collect();
    let mut need = (n_draws as f64 - floored.iter().sum::<f64>()) as i64;
    if need > 0 {
        let remainder: Vec<f64> = continuous
            .iter()
            .zip(&floored)
            .map(|(c, f)| c - f)
            .collect();
        let mut values = remainder.clone();
        values.sort_by(|a, b| b.total_cmp(a));
        values.dedup();
        for value in values {
            let inds: Vec<usize> = (0..remainder.len())
                .filter(|&i| remainder[i] == value)
                .collect();
            let add_now = inds.len().min(need as usize);
            for p in rng.choice_without_replacement(inds.len(), add_now) {
                floored[inds[p]] += 1.0;
            }
            need -= add_now as i64;
            if need == 0 {
                break;
            }
        }
    }
    floored.iter().map(|&f| f as usize).collect()
}

/// Number of test rows for `n` rows (`ceil(test_size·n)`, sklearn's rule).
pub fn n_test_rows(n: usize, test_size: f64) -> usize {
    (test_size * n as f64).ceil() as usize
}

/// The split as row indices only (labels `y` are enough). [`split`] gathers and scales the rows.
///
/// Written to keep few row-count index vectors alive at once (about 1.7 rows' worth of
/// `u32` at most), because at 567k rows the indices, not the data, used to set the peak
/// memory of `eval`. The draws are those of the official code, step by step in one MT19937
/// stream (the pipeline of the module documentation): `resample` (steps 1/2),
/// `stratified_split` (step 3), `label_anomalies` (steps 5 to 7).
pub fn split_indices(
    y: ArrayView1<u8>,
    params: &SplitParams,
    seed: u64,
) -> Result<SplitIndices, ProtocolError> {
    params.validate()?;
    if let Some(index) = y.iter().position(|&v| v > 1) {
        return Err(ProtocolError::InvalidLabel {
            index,
            value: y[index],
        });
    }
    if u32::try_from(y.len()).is_err() {
        return Err(ProtocolError::TooManyRows { n_rows: y.len() });
    }
    let (mut rng, rows, resampled) = resample(y.len(), params, seed);
    let n = rows.as_ref().map_or(y.len(), Vec::len);
    let orig = |i: u32| -> u32 { rows.as_ref().map_or(i, |r| r[i as usize]) };
    let label = |i: u32| -> u8 { y[orig(i) as usize] };
    let (mut train, mut test) = stratified_split(n, label, params.test_size, &mut rng)?;
    let labeled = label_anomalies(&train, label, orig, params, &mut rng)?;
    for i in train.iter_mut().chain(test.iter_mut()) {
        *i = orig(*i);
    }
    Ok(SplitIndices {
        train: labeled.order,
        train_labels: labeled.labels,
        train_all: train,
        test,
        n_labeled: labeled.n_labeled,
        n_unlabeled_anomalies: labeled.n_unlabeled_anomalies,
        n_rows_used: n,
        resampled,
    })
}

/// Steps 1/2: the rows the split is made on, as original indices (`None`: all rows in
/// order), and the generator as the later steps continue it. ADBench files under
/// `min_rows` are drawn up to it with replacement; files over `max_rows` are drawn down to
/// it without replacement; each draw reseeds the stream first, as the official code does.
fn resample(n0: usize, params: &SplitParams, seed: u64) -> (Mt19937, Option<Vec<u32>>, Resampling) {
    let mut rng = Mt19937::from_seed(seed);
    let mut rows: Option<Vec<u32>> = None;
    let mut resampled = Resampling::None;
    if params.protocol == Protocol::Adbench && n0 < params.min_rows && n0 > 0 {
        rng = Mt19937::from_seed(seed);
        let drawn = rng.choice_with_replacement(n0, params.min_rows);
        rows = Some(drawn.into_iter().map(|i| i as u32).collect());
        resampled = Resampling::Duplicated { from: n0 };
    }
    if let Some(cap) = params.max_rows {
        let len = rows.as_ref().map_or(n0, Vec::len);
        if len > cap {
            rng = Mt19937::from_seed(seed);
            let mut pick = rng.permutation_u32(len);
            pick.truncate(cap);
            if let Some(r) = &rows {
                for i in pick.iter_mut() {
                    *i = r[*i as usize];
                }
            }
            pick.shrink_to_fit();
            rows = Some(pick);
            resampled = Resampling::Subsampled { from: n0 };
        }
    }
    (rng, rows, resampled)
}

/// Step 3: sklearn's `StratifiedShuffleSplit._iter_indices` for two classes on rows `0..n`
/// of labels `label`: per-class train and test counts by [`approximate_mode`], each class's
/// rows shuffled, then the train and the test lists each shuffled. Returns (train, test) as
/// positions in `0..n`.
fn stratified_split(
    n: usize,
    label: impl Fn(u32) -> u8,
    test_size: f64,
    rng: &mut Mt19937,
) -> Result<(Vec<u32>, Vec<u32>), ProtocolError> {
    let n_test = n_test_rows(n, test_size);
    let n_train = n - n_test.min(n);
    let n_anomalies = (0..n as u32).filter(|&i| label(i) == 1).count();
    let mut class_idx: [Vec<u32>; 2] = [0u8, 1].map(|c| {
        let mut idx = Vec::with_capacity(if c == 1 { n_anomalies } else { n - n_anomalies });
        idx.extend((0..n as u32).filter(|&i| label(i) == c));
        idx
    });
    for (c, idx) in class_idx.iter().enumerate() {
        if idx.len() < 2 {
            return Err(ProtocolError::ClassTooSmall {
                class: c as u8,
                count: idx.len(),
            });
        }
    }
    if n_train < 2 || n_test < 2 {
        return Err(ProtocolError::TooFewRows {
            n_rows: n,
            n_train,
            n_test,
        });
    }
    let counts = [class_idx[0].len(), class_idx[1].len()];
    let n_i = approximate_mode(&counts, n_train, rng);
    let remaining = [counts[0] - n_i[0], counts[1] - n_i[1]];
    let t_i = approximate_mode(&remaining, n_test, rng);
    rng.shuffle(&mut class_idx[0]);
    rng.shuffle(&mut class_idx[1]);
    let [normal, anomaly] = class_idx;
    let mut test = Vec::with_capacity(n_test);
    test.extend_from_slice(&normal[n_i[0]..n_i[0] + t_i[0]]);
    test.extend_from_slice(&anomaly[n_i[1]..n_i[1] + t_i[1]]);
    // The train list grows in the normals' own buffer (its first `n_i[0]` are the train
    // normals), so the two lists never coexist with a copy of the larger class.
    let mut train = normal;
    train.truncate(n_i[0]);
    train.extend_from_slice(&anomaly[..n_i[1]]);
    train.shrink_to_fit();
    drop(anomaly);
    rng.shuffle(&mut train);
    rng.shuffle(&mut test);
    Ok((train, test))
}

/// The training rows of a split and their labels.
struct TrainRows {
    /// Original row indices in train order `[normals, unlabeled anomalies (noisy),
    /// labeled anomalies]`.
    order: Vec<u32>,
    /// 1 = labeled anomaly, 0 = unlabeled.
    labels: Vec<u8>,
    n_labeled: usize,
    n_unlabeled_anomalies: usize,
}

/// Steps 5 to 7 on the train split `train` (positions, mapped to original rows by
/// `orig`): the first `ceil(normal_ratio · normals)` normals kept, the first `k` of a
/// permutation of the anomalies labeled ([`Labeled::k`]), the unlabeled ones kept (noisy) or
/// dropped (clean), in the official order.
fn label_anomalies(
    train: &[u32],
    label: impl Fn(u32) -> u8,
    orig: impl Fn(u32) -> u32,
    params: &SplitParams,
    rng: &mut Mt19937,
) -> Result<TrainRows, ProtocolError> {
    let n_normal = train.iter().filter(|&&i| label(i) == 0).count();
    let keep_normals = ((n_normal as f64 * params.normal_ratio).ceil() as usize).min(n_normal);
    let pos_anomaly: Vec<usize> = (0..train.len()).filter(|&p| label(train[p]) == 1).collect();
    if pos_anomaly.is_empty() {
        return Err(ProtocolError::NoAnomalyInTrain);
    }
    let k = params.labeled.k(pos_anomaly.len())?;
    let pick = rng.permutation_u32(pos_anomaly.len());
    let labeled = &pick[..k];
    let mut order: Vec<u32> = train
        .iter()
        .copied()
        .filter(|&i| label(i) == 0)
        .take(keep_normals)
        .map(&orig)
        .collect();
    let mut n_unlabeled_anomalies = 0;
    if params.setting == Setting::Noisy {
        let mut is_labeled = vec![false; pos_anomaly.len()];
        for &j in labeled {
            is_labeled[j as usize] = true;
        }
        for (j, &p) in pos_anomaly.iter().enumerate() {
            if !is_labeled[j] {
                order.push(orig(train[p]));
                n_unlabeled_anomalies += 1;
            }
        }
    }
    let n_unlabeled = order.len();
    order.extend(
        labeled
            .iter()
            .map(|&j| orig(train[pos_anomaly[j as usize]])),
    );
    let mut labels = vec![0u8; n_unlabeled];
    labels.resize(order.len(), 1);
    Ok(TrainRows {
        order,
        labels,
        n_labeled: k,
        n_unlabeled_anomalies,
    })
}

/// The labels of a whole file with only `n` of its anomalies left labeled (`anoonly fit
/// --n-labeled`, where no split is made): the first `n` of a permutation of its anomaly rows
/// (taken in row order), drawn as step 5 draws the labeled anomalies (numpy's MT19937 seeded
/// with `seed`); the other anomalies become unlabeled rows (label 0), since they stay in the
/// data. A file with fewer than `n` anomalies is refused.
pub fn keep_labeled(y: ArrayView1<u8>, n: usize, seed: u64) -> Result<Array1<u8>, ProtocolError> {
    if let Some(index) = y.iter().position(|&v| v > 1) {
        return Err(ProtocolError::InvalidLabel {
            index,
            value: y[index],
        });
    }
    let anomalies: Vec<usize> = (0..y.len()).filter(|&i| y[i] == 1).collect();
    if n > anomalies.len() {
        return Err(ProtocolError::TooFewAnomalies {
            requested: n,
            available: anomalies.len(),
            part: "the file",
        });
    }
    let pick = Mt19937::from_seed(seed).permutation_u32(anomalies.len());
    let mut out = Array1::zeros(y.len());
    for &j in &pick[..n] {
        out[anomalies[j as usize]] = 1;
    }
    Ok(out)
}

/// Checks what every split needs of `x` and `y`: as many labels as rows, finite features.
fn check_xy(x: ArrayView2<f32>, y: ArrayView1<u8>) -> Result<(), ProtocolError> {
    if x.nrows() != y.len() {
        return Err(ProtocolError::ShapeMismatch {
            x_rows: x.nrows(),
            y_len: y.len(),
        });
    }
    for ((row, col), v) in x.indexed_iter() {
        if !v.is_finite() {
            return Err(ProtocolError::NonFiniteFeature { row, col });
        }
    }
    Ok(())
}

/// A split decided but not yet copied: its row indices and the scaler fitted on its train
/// split. [`split`] and [`split_owned`] build one and then copy or move the rows; a caller
/// that needs one part at a time (fit, then score) can gather each with
/// [`MinMax::scaled_rows`] and hold only that part.
#[derive(Clone, Debug)]
pub struct SplitPlan {
    pub indices: SplitIndices,
    pub scaler: MinMax,
}

/// Checks `x` and `y`, draws the split's rows and fits the scaler on the train split.
pub fn plan(
    x: ArrayView2<f32>,
    y: ArrayView1<u8>,
    params: &SplitParams,
    seed: u64,
) -> Result<SplitPlan, ProtocolError> {
    check_xy(x, y)?;
    let indices = split_indices(y, params, seed)?;
    let scaler = MinMax::fit_rows(x, &indices.train_all);
    Ok(SplitPlan { indices, scaler })
}

/// Splits `x`, `y` (labels 0/1, 1 = anomaly) under `params` at the run's data `seed`, and scales
/// both parts with a [`MinMax`] fitted on the whole train split. `x` is left as it is; the
/// train and test rows are copies (see [`split_owned`] to reuse `x`'s memory instead).
pub fn split(
    x: ArrayView2<f32>,
    y: ArrayView1<u8>,
    params: &SplitParams,
    seed: u64,
) -> Result<Split, ProtocolError> {
    let SplitPlan { indices, scaler } = plan(x, y, params, seed)?;
    Ok(copy_parts(x, y, indices, scaler))
}

/// The [`Split`] of a plan, its rows copied out of `x`.
fn copy_parts(x: ArrayView2<f32>, y: ArrayView1<u8>, s: SplitIndices, scaler: MinMax) -> Split {
    Split {
        x_train: scaler.scaled_rows(x, &s.train),
        y_train: Array1::from(s.train_labels),
        x_test: scaler.scaled_rows(x, &s.test),
        y_test: s.test.iter().map(|&r| y[r as usize]).collect(),
        n_labeled: s.n_labeled,
        n_unlabeled_anomalies: s.n_unlabeled_anomalies,
        n_rows_used: s.n_rows_used,
        resampled: s.resampled,
        idx_train: s.train,
        idx_test: s.test,
        scaler,
    }
}

/// [`split`] that takes `x` and `y` by value and reuses `x`'s memory: the rows are permuted
/// in place to `[train, test, unused]`, then the test rows are moved out of the buffer's
/// tail slab by slab while the buffer shrinks behind them, leaving the train rows. The peak
/// is about `x` itself instead of `x` plus both parts, which is what keeps `eval` on a
/// 567k-row file under 3x the data (issue 7, docs/scale.md). Gives exactly [`split`]'s
/// result. Files duplicated before the split (`Resampling::Duplicated`, small by
/// definition) repeat rows and are copied as [`split`] does.
pub fn split_owned(
    x: Array2<f32>,
    y: Array1<u8>,
    params: &SplitParams,
    seed: u64,
) -> Result<Split, ProtocolError> {
    let SplitPlan { indices: s, scaler } = plan(x.view(), y.view(), params, seed)?;
    if matches!(s.resampled, Resampling::Duplicated { .. }) {
        return Ok(copy_parts(x.view(), y.view(), s, scaler));
    }
    let SplitIndices {
        train,
        train_labels,
        train_all,
        test,
        n_labeled,
        n_unlabeled_anomalies,
        n_rows_used,
        resampled,
    } = s;
    drop(train_all);
    let y_test: Array1<u8> = test.iter().map(|&r| y[r as usize]).collect();
    drop(y);
    let (n_train, n_test) = (train.len(), test.len());
    // The permutation `[train, test, every other row]` (rows are distinct: no duplication).
    let n0 = x.nrows();
    let mut used = BitSet::new(n0);
    let mut perm = train;
    perm.reserve_exact(n0 - n_train);
    perm.extend_from_slice(&test);
    drop(test);
    for &r in &perm {
        used.insert(r as usize);
    }
    perm.extend((0..n0 as u32).filter(|&r| !used.contains(r as usize)));
    drop(used);
    let d = x.ncols();
    let mut buf = into_row_major_vec(x);
    permute_rows_inplace(&mut buf, d, &perm);
    perm.truncate(n_train + n_test);
    let idx_test = perm.split_off(n_train);
    perm.shrink_to_fit();
    let x_test = take_tail(&mut buf, n_train * d, n_test * d);
    let mut x_test = Array2::from_shape_vec((n_test, d), x_test).expect("n_test rows of d");
    let mut x_train = Array2::from_shape_vec((n_train, d), buf).expect("n_train rows of d");
    scaler.transform_inplace(&mut x_train);
    scaler.transform_inplace(&mut x_test);
    Ok(Split {
        x_train,
        y_train: Array1::from(train_labels),
        x_test,
        y_test,
        n_labeled,
        n_unlabeled_anomalies,
        n_rows_used,
        resampled,
        idx_train: perm,
        idx_test,
        scaler,
    })
}

/// Moves `buf[at..at + len]` into a new vector and cuts `buf` to `at` values. The copy goes
/// a slab at a time from the end, each slab followed by a shrink of `buf`, and the new
/// vector starts as untouched zero pages: where the allocator hands the tail of a large
/// block back to the system (glibc's `mremap`), resident memory grows by one slab, not by
/// `len`. Elsewhere the result is the same, only the peak is not lowered.
fn take_tail(buf: &mut Vec<f32>, at: usize, len: usize) -> Vec<f32> {
    const SLAB: usize = 1 << 16;
    buf.truncate(at + len);
    buf.shrink_to_fit();
    let mut out = vec![0f32; len];
    let mut end = len;
    while end > 0 {
        let start = end.saturating_sub(SLAB);
        out[start..end].copy_from_slice(&buf[at + start..at + end]);
        buf.truncate(at + start);
        buf.shrink_to_fit();
        end = start;
    }
    out
}

/// A fixed-size set of row numbers, one bit each.
struct BitSet(Vec<u64>);

impl BitSet {
    fn new(n: usize) -> Self {
        BitSet(vec![0; n.div_ceil(64)])
    }

    fn insert(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }

    fn contains(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
}

/// `x`'s values in row-major order, without a copy when `x` is contiguous row-major (as
/// every loader's matrix is).
fn into_row_major_vec(x: Array2<f32>) -> Vec<f32> {
    if x.as_slice().is_none() {
        return x.as_standard_layout().iter().copied().collect();
    }
    let len = x.len();
    let (mut v, offset) = x.into_raw_vec_and_offset();
    let offset = offset.unwrap_or(0);
    if offset > 0 {
        v.copy_within(offset..offset + len, 0);
    }
    v.truncate(len);
    v
}

/// Reorders the rows of the row-major `buf` (rows of `d` values) in place so that row `j`
/// becomes the old row `perm[j]`, following the permutation's cycles with one row of
/// scratch. `perm` must be a permutation of `0..rows`.
fn permute_rows_inplace(buf: &mut [f32], d: usize, perm: &[u32]) {
    let n = perm.len();
    let mut done = BitSet::new(n);
    let mut tmp = vec![0f32; d];
    for start in 0..n {
        if done.contains(start) || perm[start] as usize == start {
            continue;
        }
        tmp.copy_from_slice(&buf[start * d..(start + 1) * d]);
        let mut j = start;
        loop {
            done.insert(j);
            let k = perm[j] as usize;
            if k == start {
                buf[j * d..(j + 1) * d].copy_from_slice(&tmp);
                break;
            }
            buf.copy_within(k * d..(k + 1) * d, j * d);
            j = k;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One spelling per value: `Display`, `FromStr` (any case) and serde agree, and an
    /// unknown name lists the known ones.
    #[test]
    fn names_round_trip_through_every_reader() {
        fn check<T>(all: &[T], what: &str)
        where
            T: Copy
                + PartialEq
                + std::fmt::Debug
                + std::fmt::Display
                + std::str::FromStr<Err = String>
                + serde::Serialize
                + serde::de::DeserializeOwned,
        {
            for &v in all {
                let name = v.to_string();
                assert_eq!(name.parse::<T>(), Ok(v));
                assert_eq!(name.to_uppercase().parse::<T>(), Ok(v));
                let json = serde_json::to_string(&v).unwrap();
                assert_eq!(json, format!("\"{name}\""));
                assert_eq!(serde_json::from_str::<T>(&json).unwrap(), v);
            }
            let e = "nosuch".parse::<T>().unwrap_err();
            assert!(
                e.starts_with(&format!("unknown {what} `nosuch` (known: ")),
                "{e}"
            );
            assert!(serde_json::from_str::<T>("\"nosuch\"").is_err());
        }
        check(Protocol::ALL, "protocol");
        check(Setting::ALL, "setting");
        // The spellings records, keys and grid files have always used.
        let names: Vec<String> = Protocol::ALL.iter().map(|p| p.to_string()).collect();
        assert_eq!(names, ["adbench", "leakage-free"]);
        let names: Vec<String> = Setting::ALL.iter().map(|s| s.to_string()).collect();
        assert_eq!(names, ["clean", "noisy"]);
    }
}
