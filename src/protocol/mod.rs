//! The train/test split of the official code (protocol.md 1.2) and a leakage-free variant.
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
//! 5. train normals cut to the first `ceil(normal_ratio·|normals|)`; labeled anomalies:
//!    `k = max(1, ceil(gamma_la·|train anomalies|))` drawn without replacement;
//! 6. [`Setting::Clean`] drops the unlabeled train anomalies, [`Setting::Noisy`] keeps them with
//!    label 0;
//! 7. train order: `[normals, unlabeled anomalies (noisy only, ascending), labeled anomalies]`.
//!
//! [`Protocol::LeakageFree`] skips step 1 (small files are split as they are, so no row is in
//! both train and test); everything else is the same.

pub mod mt19937;

pub use mt19937::Mt19937;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

/// Which split protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// The official (ADBench) pipeline, incl. duplication of small files before the split.
    Adbench,
    /// As [`Protocol::Adbench`] without the duplication step: no train/test leakage.
    LeakageFree,
}

/// What happens to the train anomalies that are not labeled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Setting {
    /// Dropped from training (the paper's main setting, `--normal_clean`).
    Clean,
    /// Kept in training with label 0 (label noise; the official `run.py` default).
    Noisy,
}

/// Parameters of [`split`].
#[derive(Clone, Debug)]
pub struct SplitParams {
    pub protocol: Protocol,
    pub setting: Setting,
    /// Fraction of train anomalies that are labeled, in `(0, 1]`.
    pub gamma_la: f64,
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
            gamma_la: 0.1,
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
        if !(self.gamma_la > 0.0 && self.gamma_la <= 1.0) {
            return bad("gamma_la", format!("{} is not in (0, 1]", self.gamma_la));
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
        let d = x.ncols();
        let mut min = Array1::from_elem(d, f32::INFINITY);
        let mut max = Array1::from_elem(d, f32::NEG_INFINITY);
        for row in x.rows() {
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
        if x.nrows() == 0 {
            min.fill(0.0);
        }
        MinMax { min, scale }
    }

    /// Scales a copy of `x`.
    pub fn transform(&self, x: ArrayView2<f32>) -> Array2<f32> {
        let mut out = x.to_owned();
        self.transform_inplace(&mut out);
        out
    }

    /// Scales `x` in place (computed in f64, stored as f32).
    pub fn transform_inplace(&self, x: &mut Array2<f32>) {
        for mut row in x.rows_mut() {
            for ((v, lo), s) in row.iter_mut().zip(self.min.iter()).zip(self.scale.iter()) {
                *v = ((f64::from(*v) - f64::from(*lo)) / f64::from(*s)) as f32;
            }
        }
    }
}

/// Row indices of a split, into the caller's (original) rows. Duplicated rows repeat an index.
#[derive(Clone, Debug, PartialEq)]
pub struct SplitIndices {
    /// Final train rows, in train order `[normals, unlabeled anomalies (noisy), labeled]`.
    pub train: Vec<usize>,
    /// Labels of `train`: 1 = labeled anomaly, 0 = unlabeled.
    pub train_labels: Vec<u8>,
    /// All rows of the train split (the MinMax fit set), in split order.
    pub train_all: Vec<usize>,
    /// Test rows, in split order.
    pub test: Vec<usize>,
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
    pub idx_train: Vec<usize>,
    /// Original row index of each `x_test` row.
    pub idx_test: Vec<usize>,
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
    let n0 = y.len();
    // Step 1/2: resampling; `rows[i]` is the original index of row i.
    let mut rng = Mt19937::from_seed(seed);
    let mut rows: Vec<usize> = (0..n0).collect();
    let mut resampled = Resampling::None;
    if params.protocol == Protocol::Adbench && n0 < params.min_rows && n0 > 0 {
        rng = Mt19937::from_seed(seed);
        rows = rng.choice_with_replacement(n0, params.min_rows);
        resampled = Resampling::Duplicated { from: n0 };
    }
    if let Some(cap) = params.max_rows {
        if rows.len() > cap {
            rng = Mt19937::from_seed(seed);
            let pick = rng.choice_without_replacement(rows.len(), cap);
            rows = pick.into_iter().map(|i| rows[i]).collect();
            resampled = Resampling::Subsampled { from: n0 };
        }
    }
    let n = rows.len();
    let labels: Vec<u8> = rows.iter().map(|&r| y[r]).collect();

    // Step 3: stratified split (sklearn StratifiedShuffleSplit._iter_indices, 2 classes).
    let n_test = n_test_rows(n, params.test_size);
    let n_train = n - n_test.min(n);
    let class_idx: [Vec<usize>; 2] = [0u8, 1].map(|c| (0..n).filter(|&i| labels[i] == c).collect());
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
    let n_i = approximate_mode(&counts, n_train, &mut rng);
    let remaining = [counts[0] - n_i[0], counts[1] - n_i[1]];
    let t_i = approximate_mode(&remaining, n_test, &mut rng);
    let mut train = Vec::with_capacity(n_train);
    let mut test = Vec::with_capacity(n_test);
    for c in 0..2 {
        let perm = rng.permutation(counts[c]);
        let shuffled: Vec<usize> = perm.iter().map(|&p| class_idx[c][p]).collect();
        train.extend_from_slice(&shuffled[..n_i[c]]);
        test.extend_from_slice(&shuffled[n_i[c]..n_i[c] + t_i[c]]);
    }
    rng.shuffle(&mut train);
    rng.shuffle(&mut test);

    // Step 5: labeled anomalies (positions within the train split).
    let pos_normal: Vec<usize> = (0..train.len())
        .filter(|&p| labels[train[p]] == 0)
        .collect();
    let keep_normals = (pos_normal.len() as f64 * params.normal_ratio).ceil() as usize;
    let pos_normal = &pos_normal[..keep_normals.min(pos_normal.len())];
    let pos_anomaly: Vec<usize> = (0..train.len())
        .filter(|&p| labels[train[p]] == 1)
        .collect();
    if pos_anomaly.is_empty() {
        return Err(ProtocolError::NoAnomalyInTrain);
    }
    let k =
        ((params.gamma_la * pos_anomaly.len() as f64).ceil() as usize).clamp(1, pos_anomaly.len());
    let pos_labeled: Vec<usize> = rng
        .choice_without_replacement(pos_anomaly.len(), k)
        .into_iter()
        .map(|i| pos_anomaly[i])
        .collect();
    let mut is_labeled = vec![false; train.len()];
    for &p in &pos_labeled {
        is_labeled[p] = true;
    }
    // Steps 6/7: order [normals, unlabeled anomalies (ascending), labeled anomalies].
    let mut order: Vec<usize> = pos_normal.to_vec();
    let mut n_unlabeled_anomalies = 0;
    if params.setting == Setting::Noisy {
        let unlabeled: Vec<usize> = pos_anomaly
            .iter()
            .copied()
            .filter(|&p| !is_labeled[p])
            .collect();
        n_unlabeled_anomalies = unlabeled.len();
        order.extend(unlabeled);
    }
    let n_unlabeled = order.len();
    order.extend_from_slice(&pos_labeled);
    let mut train_labels = vec![0u8; n_unlabeled];
    train_labels.resize(order.len(), 1);

    let to_orig = |v: &[usize]| -> Vec<usize> { v.iter().map(|&i| rows[i]).collect() };
    let train_all = to_orig(&train);
    Ok(SplitIndices {
        train: order.iter().map(|&p| train_all[p]).collect(),
        train_labels,
        train_all,
        test: to_orig(&test),
        n_labeled: k,
        n_unlabeled_anomalies,
        n_rows_used: n,
        resampled,
    })
}

/// Splits `x`, `y` (labels 0/1, 1 = anomaly) under `params` at the run's data `seed`, and scales
/// both parts with a [`MinMax`] fitted on the whole train split.
pub fn split(
    x: ArrayView2<f32>,
    y: ArrayView1<u8>,
    params: &SplitParams,
    seed: u64,
) -> Result<Split, ProtocolError> {
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
    let s = split_indices(y, params, seed)?;
    let scaler = MinMax::fit(x.select(Axis(0), &s.train_all).view());
    let mut x_train = x.select(Axis(0), &s.train);
    let mut x_test = x.select(Axis(0), &s.test);
    scaler.transform_inplace(&mut x_train);
    scaler.transform_inplace(&mut x_test);
    Ok(Split {
        x_train,
        y_train: Array1::from(s.train_labels),
        x_test,
        y_test: s.test.iter().map(|&r| y[r]).collect(),
        n_labeled: s.n_labeled,
        n_unlabeled_anomalies: s.n_unlabeled_anomalies,
        n_rows_used: s.n_rows_used,
        resampled: s.resampled,
        idx_train: s.train,
        idx_test: s.test,
        scaler,
    })
}
