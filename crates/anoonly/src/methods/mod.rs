//! SSAD methods behind one interface, in linfa's shape with PyOD's vocabulary:
//! a [`FitParams`] (method hyperparameters + [`TrainParams`]) is validated before any work,
//! [`FitParams::fit`] returns a fitted [`Model`], whose [`Model::decision_function`] gives
//! higher scores to more anomalous rows and [`Model::predict`] thresholds them at a
//! contamination rate. Labels: 1 = known anomaly, 0 = unlabeled.
//!
//! One file per method; each declares its network, its `L_N` and `L_A`, its sampler and
//! its scoring. The training loop and the AnoOnly switch live in [`crate::train`].

pub mod deepsad;
pub mod devnet;
pub mod feawad;
pub mod ganomaly;
pub mod prenet;
pub mod repen;
pub mod xgbod;

use std::fmt;
use std::str::FromStr;

use ndarray::{Array1, ArrayView1, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::nn::{NamedTensor, StateError};
use crate::train::{EpochReport, ParamError, TrainParams, TrainReport};

pub use deepsad::{DeepSadParams, NormScope};
pub use devnet::{DevNetLoss, DevNetParams};
pub use feawad::{FeawadCompat, FeawadParams};
pub use ganomaly::GanomalyParams;
pub use prenet::PReNetParams;
pub use repen::RepenParams;
pub use xgbod::XgbodParams;

/// What each method file provides to the shared plumbing of this module (validation, fit,
/// scoring, model files). Adding a method = one file implementing this, plus one variant in
/// [`MethodKind`], [`MethodParams`] and [`Fitted`].
pub trait Method: Sized + Clone + fmt::Debug {
    /// The method's hyperparameters (authors' defaults in `Default`).
    type Params: Clone + fmt::Debug + PartialEq + Default + Serialize;

    fn validate(params: &Self::Params) -> Result<(), ParamError>;

    /// Trains through [`crate::train::fit`]. `y`: 1 = labeled anomaly, 0 = unlabeled;
    /// the caller has checked shapes, labels, finiteness and that an anomaly exists.
    fn fit(
        params: &Self::Params,
        train: &TrainParams,
        x: ArrayView2<f32>,
        y: ArrayView1<u8>,
        observer: &mut dyn FnMut(&EpochReport),
    ) -> Result<(Self, TrainReport), FitError>;

    /// Anomaly scores (higher = more anomalous) for rows already checked.
    fn decision_function(&self, x: ArrayView2<f32>) -> Array1<f32>;

    /// Fitted state as named tensors (model files).
    fn state(&self, out: &mut Vec<NamedTensor>);

    /// Rebuilds the fitted state from [`Method::state`]'s tensors.
    fn from_state(
        params: &Self::Params,
        train: &TrainParams,
        n_features: usize,
        tensors: &[NamedTensor],
    ) -> Result<Self, StateError>;

    /// Sets the number of epochs (the CLI's `--epochs`).
    fn set_epochs(params: &mut Self::Params, epochs: usize);
}

/// The methods this crate implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MethodKind {
    DeepSad,
    DevNet,
    PReNet,
    Feawad,
    Ganomaly,
    Repen,
    Xgbod,
}

impl MethodKind {
    pub const ALL: &'static [MethodKind] = &[
        MethodKind::DeepSad,
        MethodKind::DevNet,
        MethodKind::PReNet,
        MethodKind::Feawad,
        MethodKind::Ganomaly,
        MethodKind::Repen,
        MethodKind::Xgbod,
    ];

    pub fn name(self) -> &'static str {
        match self {
            MethodKind::DeepSad => "deepsad",
            MethodKind::DevNet => "devnet",
            MethodKind::PReNet => "prenet",
            MethodKind::Feawad => "feawad",
            MethodKind::Ganomaly => "ganomaly",
            MethodKind::Repen => "repen",
            MethodKind::Xgbod => "xgbod",
        }
    }

    /// Whether the method has an AnoOnly variant (the paper's baselines do not).
    pub fn supports_anoonly(self) -> bool {
        !matches!(
            self,
            MethodKind::Ganomaly | MethodKind::Repen | MethodKind::Xgbod
        )
    }
}

impl fmt::Display for MethodKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for MethodKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        MethodKind::ALL
            .iter()
            .copied()
            .find(|m| m.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<_> = MethodKind::ALL.iter().map(|m| m.name()).collect();
                format!("unknown method `{s}` (known: {})", names.join(", "))
            })
    }
}

/// A method and its hyperparameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum MethodParams {
    DeepSad(DeepSadParams),
    DevNet(DevNetParams),
    PReNet(PReNetParams),
    Feawad(FeawadParams),
    Ganomaly(GanomalyParams),
    Repen(RepenParams),
    Xgbod(XgbodParams),
}

impl MethodParams {
    /// The authors' defaults for `kind`.
    pub fn defaults(kind: MethodKind) -> Self {
        match kind {
            MethodKind::DeepSad => MethodParams::DeepSad(DeepSadParams::default()),
            MethodKind::DevNet => MethodParams::DevNet(DevNetParams::default()),
            MethodKind::PReNet => MethodParams::PReNet(PReNetParams::default()),
            MethodKind::Feawad => MethodParams::Feawad(FeawadParams::default()),
            MethodKind::Ganomaly => MethodParams::Ganomaly(GanomalyParams::default()),
            MethodKind::Repen => MethodParams::Repen(RepenParams::default()),
            MethodKind::Xgbod => MethodParams::Xgbod(XgbodParams::default()),
        }
    }

    pub fn kind(&self) -> MethodKind {
        match self {
            MethodParams::DeepSad(_) => MethodKind::DeepSad,
            MethodParams::DevNet(_) => MethodKind::DevNet,
            MethodParams::PReNet(_) => MethodKind::PReNet,
            MethodParams::Feawad(_) => MethodKind::Feawad,
            MethodParams::Ganomaly(_) => MethodKind::Ganomaly,
            MethodParams::Repen(_) => MethodKind::Repen,
            MethodParams::Xgbod(_) => MethodKind::Xgbod,
        }
    }

    pub fn validate(&self) -> Result<(), ParamError> {
        match self {
            MethodParams::DeepSad(p) => deepsad::FittedDeepSad::validate(p),
            MethodParams::DevNet(p) => devnet::FittedDevNet::validate(p),
            MethodParams::PReNet(p) => prenet::FittedPReNet::validate(p),
            MethodParams::Feawad(p) => feawad::FittedFeawad::validate(p),
            MethodParams::Ganomaly(p) => ganomaly::FittedGanomaly::validate(p),
            MethodParams::Repen(p) => repen::FittedRepen::validate(p),
            MethodParams::Xgbod(p) => xgbod::FittedXgbod::validate(p),
        }
    }

    /// Sets one hyperparameter by its field name, the value given as JSON (`0.001`,
    /// `[100, 20]`) or as a bare word for enum fields (`paper`, `official`). Used by the
    /// CLI's `--set`, `--loss` and `--compat`, so no method needs CLI code of its own.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ParamError> {
        let mut json = serde_json::to_value(&*self)
            .map_err(|e| ParamError::new("params", key, e.to_string()))?;
        let obj = json
            .as_object_mut()
            .ok_or_else(|| ParamError::new("params", key, "not an object"))?;
        if key == "method" || !obj.contains_key(key) {
            let mut known: Vec<&str> = obj
                .keys()
                .map(String::as_str)
                .filter(|k| *k != "method")
                .collect();
            known.sort_unstable();
            return Err(ParamError::new(
                "set",
                key,
                format!(
                    "{} has no parameter `{key}` (it has: {})",
                    self.kind(),
                    known.join(", ")
                ),
            ));
        }
        let parsed = serde_json::from_str::<serde_json::Value>(value)
            .unwrap_or_else(|_| serde_json::Value::String(value.to_string()));
        obj.insert(key.to_string(), parsed);
        let updated: MethodParams = serde_json::from_value(json)
            .map_err(|e| ParamError::new("set", format!("{key}={value}"), e.to_string()))?;
        *self = updated;
        Ok(())
    }

    /// The normalisation a fit with `train` builds before the last layer: `--norm` if
    /// given, else the method's own, or AnoOnly's BatchNorm where the method has none.
    pub fn head_norm(&self, train: &TrainParams) -> crate::train::NormKind {
        let own = match self {
            MethodParams::DeepSad(_) => deepsad::OWN_NORM,
            MethodParams::DevNet(_) => devnet::OWN_NORM,
            MethodParams::PReNet(_) => prenet::OWN_NORM,
            MethodParams::Feawad(_) => feawad::OWN_NORM,
            // Baselines build no network with a normalisation layer (and refuse --norm).
            MethodParams::Ganomaly(_) | MethodParams::Repen(_) | MethodParams::Xgbod(_) => {
                crate::train::NormKind::None
            }
        };
        crate::train::head_norm(train, own).kind
    }

    /// The method's `batch_size` hyperparameter, where it has one.
    pub fn batch_size(&self) -> Option<usize> {
        let json = serde_json::to_value(self).ok()?;
        json.get("batch_size")?.as_u64().map(|b| b as usize)
    }

    /// Overrides the number of epochs.
    pub fn set_epochs(&mut self, epochs: usize) {
        match self {
            MethodParams::DeepSad(p) => deepsad::FittedDeepSad::set_epochs(p, epochs),
            MethodParams::DevNet(p) => devnet::FittedDevNet::set_epochs(p, epochs),
            MethodParams::PReNet(p) => prenet::FittedPReNet::set_epochs(p, epochs),
            MethodParams::Feawad(p) => feawad::FittedFeawad::set_epochs(p, epochs),
            MethodParams::Ganomaly(p) => ganomaly::FittedGanomaly::set_epochs(p, epochs),
            MethodParams::Repen(p) => repen::FittedRepen::set_epochs(p, epochs),
            MethodParams::Xgbod(p) => xgbod::FittedXgbod::set_epochs(p, epochs),
        }
    }
}

/// Everything a fit needs besides the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitParams {
    pub method: MethodParams,
    pub train: TrainParams,
}

/// Why a fit was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error(transparent)]
    Param(#[from] ParamError),
    #[error("training data: x has {x_rows} rows but y has {y_rows} labels")]
    LengthMismatch { x_rows: usize, y_rows: usize },
    #[error("training data has no rows or no features")]
    Empty,
    #[error("training data: label {value} at row {row} (labels must be 1 = known anomaly, 0 = unlabeled)")]
    BadLabel { row: usize, value: u8 },
    #[error("training data has no labeled anomaly (label 1): {method} needs at least one")]
    NoLabeledAnomaly { method: MethodKind },
    #[error(
        "training data has {found} unlabeled rows (label 0): {method} needs at least {needed}"
    )]
    TooFewUnlabeled {
        method: MethodKind,
        found: usize,
        needed: usize,
    },
    #[error("training data: non-finite value at row {row}, column {col}")]
    NonFinite { row: usize, col: usize },
    #[error("training data has {found} rows: {method} keeps an n x n kernel matrix and accepts at most {max}")]
    TooManyRows {
        method: MethodKind,
        found: usize,
        max: usize,
    },
    #[error("training data has {found} rows: batches index rows with 32 bits, at most 4294967295")]
    RowIndexLimit { found: usize },
    #[error("{0}")]
    NetworkTooLarge(String),
    #[error("training diverged: the fitted model gives non-finite scores on its training data (try a lower learning rate)")]
    Diverged,
}

/// Why scoring was refused.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error("the model was trained on {expected} features, the data has {found}")]
    FeatureCount { expected: usize, found: usize },
    #[error("non-finite value at row {row}, column {col}")]
    NonFinite { row: usize, col: usize },
    #[error("contamination {0} must lie in (0, 0.5]")]
    Contamination(f64),
}

/// The fitted state of one method.
#[derive(Clone, Debug)]
pub enum Fitted {
    DeepSad(deepsad::FittedDeepSad),
    DevNet(devnet::FittedDevNet),
    /// Boxed: it holds the reference pools inline (clippy `large_enum_variant`).
    PReNet(Box<prenet::FittedPReNet>),
    Feawad(feawad::FittedFeawad),
    Ganomaly(ganomaly::FittedGanomaly),
    Repen(repen::FittedRepen),
    /// Boxed: it holds the detector bank inline.
    Xgbod(Box<xgbod::FittedXgbod>),
}

/// A fitted model: its parameters, input width, fitted state and training scores (kept
/// for PyOD-style thresholds at a contamination rate).
#[derive(Clone, Debug)]
pub struct Model {
    pub params: FitParams,
    pub n_features: usize,
    pub fitted: Fitted,
    /// Decision scores of the training rows.
    pub train_scores: Array1<f32>,
    /// Training summary (not saved in model files).
    pub report: TrainReport,
}

fn first_non_finite(x: ArrayView2<f32>) -> Option<(usize, usize)> {
    x.indexed_iter()
        .find(|(_, v)| !v.is_finite())
        .map(|(ij, _)| ij)
}

impl FitParams {
    /// The authors' defaults for `kind`, vanilla (no AnoOnly), seed 0.
    pub fn new(kind: MethodKind) -> Self {
        FitParams {
            method: MethodParams::defaults(kind),
            train: TrainParams::default(),
        }
    }

    /// Sets the AnoOnly switch.
    pub fn anoonly(mut self, on: bool) -> Self {
        self.train.anoonly = on;
        self
    }

    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.train.seed = seed;
        self
    }

    /// Checks that the network these parameters build on `n_features` inputs stays within
    /// [`crate::model_file::MAX_LAYER_WEIGHTS`] per layer, before anything is allocated
    /// (a `--set hidden=[10^12]` would otherwise abort on allocation). `fit` checks it;
    /// the CLI and `bench` call it early too, to refuse before loading or splitting data.
    pub fn check_network(&self, n_features: usize) -> Result<(), String> {
        crate::model_file::check_widths(
            &self.method,
            n_features,
            crate::model_file::MAX_LAYER_WEIGHTS,
        )
    }

    pub fn validate(&self) -> Result<(), ParamError> {
        self.method.validate()?;
        let kind = self.method.kind();
        if !kind.supports_anoonly() {
            let no_variant = format!("{kind} is a baseline without an AnoOnly variant");
            if self.train.anoonly {
                return Err(ParamError::new("anoonly", true, no_variant));
            }
            if let Some(l) = self.train.lambda_n {
                return Err(ParamError::new("lambda_n", l, no_variant));
            }
            if let Some(n) = self.train.norm {
                return Err(ParamError::new("norm", format!("{n:?}"), no_variant));
            }
        }
        self.train.validate()
    }

    /// Trains on `x` with labels `y` (1 = known anomaly, 0 = unlabeled).
    pub fn fit(&self, x: ArrayView2<f32>, y: ArrayView1<u8>) -> Result<Model, FitError> {
        self.fit_observed(x, y, &mut |_| {})
    }

    /// [`FitParams::fit`] with a per-epoch observer (progress display).
    pub fn fit_observed(
        &self,
        x: ArrayView2<f32>,
        y: ArrayView1<u8>,
        observer: &mut dyn FnMut(&EpochReport),
    ) -> Result<Model, FitError> {
        self.validate()?;
        if x.nrows() != y.len() {
            return Err(FitError::LengthMismatch {
                x_rows: x.nrows(),
                y_rows: y.len(),
            });
        }
        if x.nrows() == 0 || x.ncols() == 0 {
            return Err(FitError::Empty);
        }
        self.check_network(x.ncols()).map_err(|reason| {
            FitError::NetworkTooLarge(format!("{}: {reason}", self.method.kind()))
        })?;
        if u32::try_from(x.nrows()).is_err() {
            return Err(FitError::RowIndexLimit { found: x.nrows() });
        }
        if let Some((row, &value)) = y.iter().enumerate().find(|(_, &v)| v > 1) {
            return Err(FitError::BadLabel { row, value });
        }
        if !y.iter().any(|&v| v == 1) {
            return Err(FitError::NoLabeledAnomaly {
                method: self.method.kind(),
            });
        }
        if let Some((row, col)) = first_non_finite(x) {
            return Err(FitError::NonFinite { row, col });
        }
        let (fitted, report) = match &self.method {
            MethodParams::DeepSad(p) => {
                let (f, r) = deepsad::FittedDeepSad::fit(p, &self.train, x, y, observer)?;
                (Fitted::DeepSad(f), r)
            }
            MethodParams::DevNet(p) => {
                let (f, r) = devnet::FittedDevNet::fit(p, &self.train, x, y, observer)?;
                (Fitted::DevNet(f), r)
            }
            MethodParams::PReNet(p) => {
                let (f, r) = prenet::FittedPReNet::fit(p, &self.train, x, y, observer)?;
                (Fitted::PReNet(Box::new(f)), r)
            }
            MethodParams::Feawad(p) => {
                let (f, r) = feawad::FittedFeawad::fit(p, &self.train, x, y, observer)?;
                (Fitted::Feawad(f), r)
            }
            MethodParams::Ganomaly(p) => {
                let (f, r) = ganomaly::FittedGanomaly::fit(p, &self.train, x, y, observer)?;
                (Fitted::Ganomaly(f), r)
            }
            MethodParams::Repen(p) => {
                let (f, r) = repen::FittedRepen::fit(p, &self.train, x, y, observer)?;
                (Fitted::Repen(f), r)
            }
            MethodParams::Xgbod(p) => {
                let (f, r) = xgbod::FittedXgbod::fit(p, &self.train, x, y, observer)?;
                (Fitted::Xgbod(Box::new(f)), r)
            }
        };
        let mut model = Model {
            params: self.clone(),
            n_features: x.ncols(),
            fitted,
            train_scores: Array1::zeros(0),
            report,
        };
        let train_scores = model.raw_scores(x);
        if train_scores.iter().any(|s| !s.is_finite()) {
            return Err(FitError::Diverged);
        }
        model.train_scores = train_scores;
        Ok(model)
    }
}

impl Model {
    fn raw_scores(&self, x: ArrayView2<f32>) -> Array1<f32> {
        match &self.fitted {
            Fitted::DeepSad(f) => f.decision_function(x),
            Fitted::DevNet(f) => f.decision_function(x),
            Fitted::PReNet(f) => f.decision_function(x),
            Fitted::Feawad(f) => f.decision_function(x),
            Fitted::Ganomaly(f) => f.decision_function(x),
            Fitted::Repen(f) => f.decision_function(x),
            Fitted::Xgbod(f) => f.decision_function(x),
        }
    }

    /// Anomaly scores: higher = more anomalous.
    pub fn decision_function(&self, x: ArrayView2<f32>) -> Result<Array1<f32>, ScoreError> {
        if x.ncols() != self.n_features {
            return Err(ScoreError::FeatureCount {
                expected: self.n_features,
                found: x.ncols(),
            });
        }
        if let Some((row, col)) = first_non_finite(x) {
            return Err(ScoreError::NonFinite { row, col });
        }
        Ok(self.raw_scores(x))
    }

    /// The score above which a row is called an anomaly: the `1 − contamination` quantile
    /// of the training scores (PyOD's `threshold_`, linear interpolation like
    /// `numpy.percentile`).
    pub fn threshold(&self, contamination: f64) -> Result<f32, ScoreError> {
        if !(contamination > 0.0 && contamination <= 0.5) {
            return Err(ScoreError::Contamination(contamination));
        }
        let mut s: Vec<f32> = self.train_scores.to_vec();
        s.sort_by(f32::total_cmp);
        if s.is_empty() {
            return Ok(f32::INFINITY);
        }
        let pos = (1.0 - contamination) * (s.len() - 1) as f64;
        let lo = pos.floor() as usize;
        let hi = pos.ceil() as usize;
        let frac = (pos - lo as f64) as f32;
        Ok(s[lo] + (s[hi] - s[lo]) * frac)
    }

    /// 1 where the score exceeds [`Model::threshold`], else 0 (PyOD's `predict`).
    pub fn predict(
        &self,
        x: ArrayView2<f32>,
        contamination: f64,
    ) -> Result<Array1<u8>, ScoreError> {
        let t = self.threshold(contamination)?;
        Ok(self.decision_function(x)?.mapv(|s| u8::from(s > t)))
    }

    /// The method.
    pub fn kind(&self) -> MethodKind {
        self.params.method.kind()
    }

    /// Tensors of the fitted state (for model files).
    pub(crate) fn tensors(&self) -> Vec<NamedTensor> {
        let mut out = Vec::new();
        match &self.fitted {
            Fitted::DeepSad(f) => f.state(&mut out),
            Fitted::DevNet(f) => f.state(&mut out),
            Fitted::PReNet(f) => f.state(&mut out),
            Fitted::Feawad(f) => f.state(&mut out),
            Fitted::Ganomaly(f) => f.state(&mut out),
            Fitted::Repen(f) => f.state(&mut out),
            Fitted::Xgbod(f) => f.state(&mut out),
        }
        out.push(vector("train_scores", &self.train_scores));
        out
    }

    /// Rebuilds a model from its parameters and saved tensors.
    pub(crate) fn from_tensors(
        params: FitParams,
        n_features: usize,
        tensors: &[NamedTensor],
    ) -> Result<Model, crate::nn::StateError> {
        let train_scores = find_vector(tensors, "train_scores", None)?;
        let fitted = match &params.method {
            MethodParams::DeepSad(p) => Fitted::DeepSad(deepsad::FittedDeepSad::from_state(
                p,
                &params.train,
                n_features,
                tensors,
            )?),
            MethodParams::DevNet(p) => Fitted::DevNet(devnet::FittedDevNet::from_state(
                p,
                &params.train,
                n_features,
                tensors,
            )?),
            MethodParams::Feawad(p) => Fitted::Feawad(feawad::FittedFeawad::from_state(
                p,
                &params.train,
                n_features,
                tensors,
            )?),
            MethodParams::PReNet(p) => {
                let f = prenet::FittedPReNet::from_state(p, &params.train, n_features, tensors)?;
                Fitted::PReNet(Box::new(f))
            }
            MethodParams::Ganomaly(p) => {
                let f =
                    ganomaly::FittedGanomaly::from_state(p, &params.train, n_features, tensors)?;
                Fitted::Ganomaly(f)
            }
            MethodParams::Repen(p) => {
                let f = repen::FittedRepen::from_state(p, &params.train, n_features, tensors)?;
                Fitted::Repen(f)
            }
            MethodParams::Xgbod(p) => {
                let f = xgbod::FittedXgbod::from_state(p, &params.train, n_features, tensors)?;
                Fitted::Xgbod(Box::new(f))
            }
        };
        Ok(Model {
            params,
            n_features,
            fitted,
            train_scores,
            report: TrainReport::default(),
        })
    }
}

/// A named 1-D tensor.
pub(crate) fn vector(name: &str, v: &Array1<f32>) -> NamedTensor {
    NamedTensor {
        name: name.to_string(),
        shape: vec![v.len()],
        data: v.to_vec(),
    }
}

/// The 1-D tensor `name` of a saved state, checked for length and finiteness.
pub(crate) fn find_vector(
    tensors: &[NamedTensor],
    name: &str,
    len: Option<usize>,
) -> Result<Array1<f32>, crate::nn::StateError> {
    let t = tensors
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| crate::nn::StateError::Missing(name.to_string()))?;
    let ok =
        t.shape.len() == 1 && len.map_or(true, |l| t.shape[0] == l) && t.data.len() == t.shape[0];
    if !ok {
        return Err(crate::nn::StateError::Shape {
            name: name.to_string(),
            expected: vec![len.unwrap_or(t.data.len())],
            found: t.shape.clone(),
        });
    }
    if t.data.iter().any(|v| !v.is_finite()) {
        return Err(crate::nn::StateError::NonFinite(name.to_string()));
    }
    Ok(Array1::from(t.data.clone()))
}
