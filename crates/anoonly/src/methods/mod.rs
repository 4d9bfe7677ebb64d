//! SSAD methods behind one interface, in linfa's shape with PyOD's vocabulary:
//! a [`FitParams`] (method hyperparameters + [`TrainParams`]) is validated before any work,
//! [`FitParams::fit`] returns a fitted [`Model`], whose [`Model::decision_function`] gives
//! higher scores to more anomalous rows and [`Model::predict`] thresholds them at a
//! contamination rate. Labels: 1 = known anomaly, 0 = unlabeled.
//!
//! One file per method; each implements [`Method`]: what the method is (its names and
//! summary, whether it has an AnoOnly variant, its own normalisation, its layer widths, its
//! epochs and batch size knobs, the stages of its fit) and what it does (its network, its
//! `L_N` and `L_A`, its sampler, its scoring, its saved state). The training loop and the
//! AnoOnly switch live in
//! [`crate::train`]. The list below is the registry: [`MethodKind`], [`MethodParams`] and
//! [`Fitted`] and every dispatch over them are generated from it (`registry.rs`), so adding a
//! method is one new file, its `pub mod` line and one line in the registry. Front ends build
//! [`FitParams`] from their options with [`FitOptions`].
//!
//! ```
//! use anoonly::methods::{FitParams, MethodKind};
//! use anoonly::metrics::aucroc;
//! use anoonly::protocol::{split, SplitParams};
//!
//! // The built-in synthetic data, split as the paper's protocol does (seed 0).
//! let ds = anoonly::data::synthetic::demo_dataset(0);
//! let sp = split(ds.x.view(), ds.y.view(), &SplitParams::default(), 0)?;
//! // DeepSAD with AnoOnly at the authors' settings (50 epochs, a fraction of a second).
//! let params = FitParams::new(MethodKind::DeepSad).anoonly(true).seed(0);
//! let model = params.fit(sp.x_train.view(), sp.y_train.view())?;
//! let scores = model.decision_function(sp.x_test.view())?;
//! let auc = aucroc(sp.y_test.as_slice().unwrap(), scores.as_slice().unwrap())?;
//! // Measured: 0.908 test AUCROC (vanilla DeepSAD: 0.895).
//! assert!((auc - 0.908).abs() < 0.03, "{auc}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[macro_use]
mod registry;
mod options;

// One module per method (declared here, outside the macro, so that `cargo fmt` formats
// them), then its one line in the registry.
pub mod adsd;
pub mod deepsad;
pub mod devnet;
pub mod feawad;
pub mod ganomaly;
pub mod prenet;
pub mod repen;
pub mod rosas;
pub mod wsad_dt;
pub mod xgbod;

registry! {
    ganomaly::FittedGanomaly as Ganomaly,
    repen::FittedRepen as Repen,
    xgbod::FittedXgbod as Xgbod,
    deepsad::FittedDeepSad as DeepSad,
    feawad::FittedFeawad as Feawad,
    prenet::FittedPReNet as PReNet,
    devnet::FittedDevNet as DevNet,
    rosas::FittedRosas as Rosas,
    adsd::FittedAdsd as Adsd,
    wsad_dt::FittedWsadDt as WsadDt,
}

use std::fmt;
use std::str::FromStr;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::preprocessing::{Preprocessing, Scaler};
use crate::train::shared::StageCache;
use crate::train::{
    FitContext, FitObserver, Interrupted, Silent, StageSpec, TrainParams, TrainReport,
};
use crate::vocab::tensor::{load_vec_any, vec_tensor, NamedTensor, StateError};
use crate::vocab::{NormKind, ParamError};

pub use adsd::{AdsdCompat, AdsdParams};
pub use deepsad::{DeepSadParams, NormScope};
pub use devnet::{DevNetLoss, DevNetParams};
pub use feawad::{FeawadCompat, FeawadParams};
pub use ganomaly::GanomalyParams;
pub use options::{parse_assignment, parse_value, value_text, FitOptions};
pub use prenet::PReNetParams;
pub use repen::RepenParams;
pub use rosas::{RosasParams, TripletLa, Weighting as RosasWeighting};
pub use wsad_dt::{RegUnlabeled, WsadDtParams};
pub use xgbod::XgbodParams;

/// What a method is and what it does: each method file implements this once, and the
/// registry routes every front end, fit, record and model file to it. Every item is
/// required (except [`Method::relative_cost`], [`Method::STAGES`], whose default is one
/// stage sharing nothing, and [`Method::TRAINS_WITHOUT_ANOMALIES`], whose default refuses),
/// so a method that forgets one does not compile.
pub trait Method: Sized + Clone + fmt::Debug + Send + Sync + 'static {
    /// The method's hyperparameters (authors' defaults in `Default`); serialised by field
    /// name (model files, records, `--set NAME=VALUE`).
    type Params: Clone
        + fmt::Debug
        + PartialEq
        + Default
        + Serialize
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static;

    /// The name on the command line, in records, results and model files.
    const NAME: &'static str;

    /// The name as its authors write it (`DeepSAD`, `FEAWAD`): the Python class's name.
    const DISPLAY_NAME: &'static str;

    /// One paragraph for users: what the method is, with its citation, and what AnoOnly
    /// (`anoonly=True`, `--anoonly`) means for it, or that it has none. The Python class's
    /// docstring (followed by its hyperparameters and their defaults).
    const SUMMARY: &'static str;

    /// Whether the method has an AnoOnly variant: a per-row `L_N` the AnoOnly switch can
    /// drop. The paper's baselines do not, and refuse `anoonly`, `lambda_n` and `norm`.
    const SUPPORTS_ANOONLY: bool;

    /// The method's own normalisation before its last layer, the one `--norm` replaces and
    /// AnoOnly keeps ([`NormKind::None`] for a method without one).
    const OWN_NORM: NormKind;

    /// Whether the method trains without any labeled anomaly (every label 0; Python's
    /// `y=None`). DeepSAD does: it is then Deep SVDD, its loss on the unlabeled rows only,
    /// as the authors' and PyOD's DeepSAD with no labeled anomaly. [`FitParams::fit`]
    /// refuses such data for a method that does not, and for a variant without a loss on
    /// unlabeled rows (`lambda_n = 0`, AnoOnly), before any work. The default is the safe
    /// answer, refusal; each method file states its own.
    const TRAINS_WITHOUT_ANOMALIES: bool = false;

    /// Checks every hyperparameter's range, naming the field.
    fn validate(params: &Self::Params) -> Result<(), ParamError>;

    /// The typed knobs front ends set without knowing the method: its epochs (`--epochs`)
    /// and its batch size (`--batch-size`, records), `None` where it has no such thing.
    fn knobs(params: &mut Self::Params) -> Knobs<'_>;

    /// The widths of the method's layers on `n_features` inputs, as a chain named by
    /// hyperparameter (input first): each pair of consecutive widths must be the shape of
    /// at least one weight matrix the method allocates, so their products bound its
    /// layers' sizes before anything is allocated ([`MethodParams::check_widths`]). A
    /// method without a network returns the input alone.
    fn layer_widths(params: &Self::Params, n_features: usize) -> Vec<(&'static str, usize)>;

    /// The stages of the method's fit, in order ([`StageSpec`]): what each reads (labels or
    /// not, which hyperparameters) and costs. A label-free stage is shared between fits
    /// with the same unlabeled rows and settings of that stage: [`Method::fit`] looks it up
    /// in [`FitContext::stages`] by the key built from this declaration
    /// ([`crate::train::stages::StageKeyBuilder`]), and `bench` groups, orders and shards
    /// cells and scales budgets from it. Empty (the default): one stage that reads
    /// everything, nothing to share.
    const STAGES: &'static [StageSpec] = &[];

    /// Trains through [`crate::train::fit`] (or its own loop), reporting every epoch to
    /// `ctx.observer` and returning [`FitError::Interrupted`] when it asks to stop; a
    /// method with a label-free stage takes it from `ctx.stages` when given (and leaves
    /// there what it computed): the same model, bit for bit. `y`: 1 = labeled anomaly, 0 =
    /// unlabeled; the caller has checked shapes, labels, finiteness, the layer widths and
    /// that an anomaly exists.
    fn fit(
        params: &Self::Params,
        train: &TrainParams,
        x: ArrayView2<f32>,
        y: ArrayView1<u8>,
        ctx: FitContext<'_>,
    ) -> Result<(Self, TrainReport), FitError>;

    /// Anomaly scores (higher = more anomalous) for rows already checked.
    fn decision_function(&self, x: ArrayView2<f32>) -> Array1<f32>;

    /// The hidden features the method's last layer reads (the paper's Fig. 10, "hidden
    /// features before the last layer"; DeepOD's `return_rep`), in inference mode, one row
    /// per input row, for rows already checked; chunked like the scores, so a row's features
    /// do not depend on the other rows. Where AnoOnly adds or keeps a BatchNorm before the
    /// last layer, they are its output: what AnoOnly changes. `None` for a method without
    /// such a layer (XGBOD's trees). docs/python.md lists each method's choice.
    fn representation(&self, x: ArrayView2<f32>) -> Option<Array2<f32>>;

    /// Fitted state as named tensors (model files).
    fn state(&self, out: &mut Vec<NamedTensor>);

    /// Rebuilds the fitted state from [`Method::state`]'s tensors.
    fn from_state(
        params: &Self::Params,
        train: &TrainParams,
        n_features: usize,
        tensors: &[NamedTensor],
    ) -> Result<Self, StateError>;

    /// A rough relative cost of one fit on `n_rows` training rows, so that `bench` starts
    /// the slow cells first (DeepSAD = 1 per 1,000 rows).
    fn relative_cost(n_rows: usize) -> f64 {
        rows_in_thousands(n_rows)
    }
}

/// `n_rows / 1000`, at least 1: the size term of [`Method::relative_cost`].
pub fn rows_in_thousands(n_rows: usize) -> f64 {
    (n_rows.max(1000) as f64) / 1000.0
}

/// A method's typed knobs (see [`Method::knobs`]).
pub struct Knobs<'a> {
    /// Passes over the training data; `None` for a method that does not train in epochs.
    pub epochs: Option<&'a mut usize>,
    /// Rows (or pairs, or triplets) per training batch; `None` for a method without batches.
    pub batch_size: Option<&'a mut usize>,
}

impl<'a> Knobs<'a> {
    /// The knobs of a method that has both.
    pub fn new(epochs: &'a mut usize, batch_size: &'a mut usize) -> Self {
        Knobs {
            epochs: Some(epochs),
            batch_size: Some(batch_size),
        }
    }
}

impl MethodKind {
    /// Whether the method trains in epochs (has an `epochs` knob, [`Method::knobs`]): what
    /// `--epochs`, a grid's `epochs` and Python's `epochs=` apply to. XGBOD grows boosting
    /// rounds instead.
    pub fn trains_in_epochs(self) -> bool {
        MethodParams::defaults(self).epochs().is_some()
    }

    /// The names of the methods that train without labeled anomalies, for messages.
    fn trained_without_anomalies() -> String {
        let names: Vec<&str> = MethodKind::ALL
            .iter()
            .filter(|m| m.trains_without_anomalies())
            .map(|m| m.name())
            .collect();
        names.join(", ")
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
            .find(|m| m.name().eq_ignore_ascii_case(s) || m.display_name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<_> = MethodKind::ALL.iter().map(|m| m.name()).collect();
                format!("unknown method `{s}` (known: {})", names.join(", "))
            })
    }
}

impl Serialize for MethodKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for MethodKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for MethodParams {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut value = serde_json::Value::deserialize(d)?;
        let fields = value
            .as_object_mut()
            .ok_or_else(|| D::Error::custom("method parameters must be an object"))?;
        let name = match fields.remove("method") {
            Some(serde_json::Value::String(s)) => s,
            Some(other) => {
                return Err(D::Error::custom(format!("`method` is {other}, not a name")))
            }
            None => return Err(D::Error::missing_field("method")),
        };
        let kind: MethodKind = name.parse().map_err(D::Error::custom)?;
        MethodParams::from_fields_json(kind, value).map_err(D::Error::custom)
    }
}

impl MethodParams {
    /// Every hyperparameter of `kind` with its default, by name (sorted): what `--set` and
    /// the Python keyword arguments accept.
    pub fn param_defaults(kind: MethodKind) -> Vec<(String, serde_json::Value)> {
        match MethodParams::defaults(kind).fields_json() {
            Ok(serde_json::Value::Object(m)) => m.into_iter().collect(),
            _ => Vec::new(),
        }
    }

    /// Sets one hyperparameter by its field name to a JSON value (`0.001`, `[100, 20]`,
    /// `"paper"`): the Python bindings' keyword arguments. An unknown name is refused with
    /// the list of known ones; a value of the wrong type names the field. Ranges are checked
    /// by [`MethodParams::validate`].
    pub fn set_value(&mut self, name: &str, value: serde_json::Value) -> Result<(), ParamError> {
        let shown = value_text(&value);
        self.set_shown(name, value, &shown)
    }

    /// [`MethodParams::set_value`] with the value as text: JSON (`0.001`, `[100, 20]`) or a
    /// bare word for enum fields (`paper`, `official`), as `--set NAME=VALUE` gives it
    /// ([`parse_value`]).
    pub fn set(&mut self, name: &str, text: &str) -> Result<(), ParamError> {
        self.set_shown(name, parse_value(text), text)
    }

    fn set_shown(
        &mut self,
        name: &str,
        value: serde_json::Value,
        shown: &str,
    ) -> Result<(), ParamError> {
        let kind = self.kind();
        let field = || std::borrow::Cow::Owned(name.to_string());
        let mut json = self
            .fields_json()
            .map_err(|e| ParamError::new(field(), shown, e.to_string()))?;
        let obj = json
            .as_object_mut()
            .ok_or_else(|| ParamError::new(field(), shown, "not an object"))?;
        if !obj.contains_key(name) {
            let known: Vec<&str> = obj.keys().map(String::as_str).collect();
            return Err(ParamError::new(
                field(),
                shown,
                format!(
                    "{kind} has no parameter `{name}` (it has: {})",
                    known.join(", ")
                ),
            ));
        }
        obj.insert(name.to_string(), value);
        // The error names the field itself (`invalid parameter `lr` = fast: invalid type:
        // string "fast", expected f32`), not the front end's flag.
        *self = MethodParams::from_fields_json(kind, json)
            .map_err(|e| ParamError::new(field(), shown, e.to_string()))?;
        Ok(())
    }

    /// The normalisation a fit with `train` builds before the last layer: `--norm` if
    /// given, else the method's own, or AnoOnly's BatchNorm where the method has none.
    pub fn head_norm(&self, train: &TrainParams) -> NormKind {
        crate::train::head_norm(train, self.kind().own_norm()).kind
    }

    /// The method's batch size, where it has one.
    pub fn batch_size(&self) -> Option<usize> {
        self.clone().knobs().batch_size.map(|b| *b)
    }

    /// The method's epochs, where it trains in epochs (front ends map their `epochs`
    /// option to it; XGBOD has boosting rounds instead).
    pub fn epochs(&self) -> Option<usize> {
        self.clone().knobs().epochs.map(|e| *e)
    }

    /// Sets the training batch size (`--batch-size`); an error for a method without one.
    pub fn set_batch_size(&mut self, batch_size: usize) -> Result<(), ParamError> {
        let kind = self.kind();
        match self.knobs().batch_size {
            Some(b) => {
                *b = batch_size;
                Ok(())
            }
            None => Err(ParamError::new(
                "batch_size",
                batch_size,
                format!("{kind} has no training batches"),
            )),
        }
    }

    /// Sets the number of epochs (`--epochs`); an error for a method that does not train
    /// in epochs (XGBOD grows boosting rounds: its `n_estimators`).
    pub fn set_epochs(&mut self, epochs: usize) -> Result<(), ParamError> {
        let kind = self.kind();
        let names: Vec<String> = MethodParams::param_defaults(kind)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        match self.knobs().epochs {
            Some(e) => {
                *e = epochs;
                Ok(())
            }
            None => Err(ParamError::new(
                "epochs",
                epochs,
                format!(
                    "{kind} does not train in epochs (set its own parameters instead: {})",
                    names.join(", ")
                ),
            )),
        }
    }

    /// Refuses a network that needs more than `max_weights` weights in one layer, *before*
    /// it is built. The methods allocate their layers from the hyperparameters, so
    /// `hidden = [10^12]` from a front end or a forged model-file header would otherwise
    /// abort on allocation. Each pair of consecutive widths of [`Method::layer_widths`] is
    /// the shape of at least one weight matrix, so each product is a lower bound on one
    /// layer's size. Model files use the number of values the file holds as the bound,
    /// which limits the allocation to a small multiple of the file size; fits use
    /// [`MAX_LAYER_WEIGHTS`].
    pub fn check_widths(&self, n_features: usize, max_weights: u128) -> Result<(), String> {
        let chain = self.layer_widths(n_features);
        for pair in chain.windows(2) {
            let ((k0, w0), (k1, w1)) = (pair[0], pair[1]);
            let (w0, w1) = (w0 as u128, w1 as u128);
            if w0 * w1 > max_weights {
                return Err(format!(
                    "layer widths {k0} = {w0} x {k1} = {w1} need more than {max_weights} weights"
                ));
            }
        }
        Ok(())
    }
}

/// Most weights one layer of a network trained here may have (2^26, 256 MB as f32; with its
/// gradient and Adam's two moments about 1 GB). The widest default network has
/// `n_features x 100` weights in its first layer.
pub const MAX_LAYER_WEIGHTS: u128 = 1 << 26;

/// Everything a fit needs besides the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitParams {
    pub method: MethodParams,
    pub train: TrainParams,
    /// The scaling the model learns from its training rows and applies to every row it
    /// scores ([`crate::preprocessing`]). Left out of the JSON when none, so the
    /// configurations (model files, results) of fits without it read as before it existed.
    #[serde(default, skip_serializing_if = "Preprocessing::is_none")]
    pub preprocessing: Preprocessing,
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
    #[error(
        "training data has no labeled anomaly (label 1): {method} needs at least one (methods that train without: {})",
        MethodKind::trained_without_anomalies()
    )]
    NoLabeledAnomaly { method: MethodKind },
    #[error(
        "training data has no labeled anomaly (label 1) and lambda_n = 0 (AnoOnly): {method} would have no loss to train on; label at least one anomaly, or train the vanilla method (lambda_n > 0), which learns from the unlabeled rows alone"
    )]
    NoLoss { method: MethodKind },
    #[error(
        "training data has {found} unlabeled rows (label 0): {method} needs at least {needed}"
    )]
    TooFewUnlabeled {
        method: MethodKind,
        found: usize,
        needed: usize,
    },
    #[error("training data: non-finite value (NaN or inf) at row {row}, column {col}")]
    NonFinite { row: usize, col: usize },
    #[error("training data: the value at row {row}, column {col} is beyond float32's range once scaled ({kind} preprocessing)")]
    ScaledOverflow {
        kind: Preprocessing,
        row: usize,
        col: usize,
    },
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
    /// The observer asked to stop (Ctrl-C in a front end): nothing was fitted.
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

/// Why scoring was refused.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error("the model was trained on {expected} features, the data has {found}")]
    FeatureCount { expected: usize, found: usize },
    #[error("non-finite value (NaN or inf) at row {row}, column {col}")]
    NonFinite { row: usize, col: usize },
    #[error("the value at row {row}, column {col} is beyond float32's range once scaled by the model's {kind} preprocessing (fitted on training values far narrower)")]
    ScaledOverflow {
        kind: Preprocessing,
        row: usize,
        col: usize,
    },
    #[error("contamination {0} must lie in (0, 0.5]")]
    Contamination(f64),
    #[error("{0} has no hidden features before a last layer (no network scores its rows)")]
    NoRepresentation(MethodKind),
}

/// A fitted model: its parameters, input width, fitted state and training scores (kept
/// for PyOD-style thresholds at a contamination rate).
#[derive(Clone, Debug)]
pub struct Model {
    pub params: FitParams,
    pub n_features: usize,
    /// The scaling fitted on the training rows (`params.preprocessing`), applied to every
    /// row before the method sees it; `None` without preprocessing.
    pub scaler: Option<Scaler>,
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
            preprocessing: Preprocessing::None,
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
    /// [`MAX_LAYER_WEIGHTS`] per layer, before anything is allocated (a
    /// `--set hidden=[10^12]` would otherwise abort on allocation). `fit` checks it;
    /// `experiment` and `bench` call it early too, to refuse before splitting data.
    pub fn check_network(&self, n_features: usize) -> Result<(), FitError> {
        self.method
            .check_widths(n_features, MAX_LAYER_WEIGHTS)
            .map_err(|reason| {
                FitError::NetworkTooLarge(format!("{}: {reason}", self.method.kind()))
            })
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
        self.fit_observed(x, y, &mut Silent)
    }

    /// [`FitParams::fit`] with a per-epoch observer: progress display, and a way to stop
    /// the fit (the observer returns `ControlFlow::Break`; the fit then returns
    /// [`FitError::Interrupted`] within one epoch and no model).
    pub fn fit_observed(
        &self,
        x: ArrayView2<f32>,
        y: ArrayView1<u8>,
        observer: &mut dyn FitObserver,
    ) -> Result<Model, FitError> {
        self.fit_shared(x, y, observer, None)
    }

    /// [`FitParams::fit_observed`] taking the results of the method's label-free stages
    /// ([`Method::STAGES`]; FEAWAD's pretrained autoencoder) from `shared` when it holds
    /// them, and leaving there what this fit computed: the same model, bit for bit, as
    /// without it ([`crate::train::shared`]).
    pub fn fit_shared(
        &self,
        x: ArrayView2<f32>,
        y: ArrayView1<u8>,
        observer: &mut dyn FitObserver,
        shared: Option<&dyn StageCache>,
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
        self.check_network(x.ncols())?;
        if u32::try_from(x.nrows()).is_err() {
            return Err(FitError::RowIndexLimit { found: x.nrows() });
        }
        if let Some((row, &value)) = y.iter().enumerate().find(|(_, &v)| v > 1) {
            return Err(FitError::BadLabel { row, value });
        }
        if !y.iter().any(|&v| v == 1) {
            let method = self.method.kind();
            if !method.trains_without_anomalies() {
                return Err(FitError::NoLabeledAnomaly { method });
            }
            if method.supports_anoonly() && self.train.lambda_n() == 0.0 {
                return Err(FitError::NoLoss { method });
            }
        }
        if let Some((row, col)) = first_non_finite(x) {
            return Err(FitError::NonFinite { row, col });
        }
        let scaler = Scaler::fit(self.preprocessing, x);
        let scaled = scaler.as_ref().map(|s| s.transform(x));
        if let Some((row, col)) = scaled.as_ref().and_then(|s| first_non_finite(s.view())) {
            let kind = self.preprocessing;
            return Err(FitError::ScaledOverflow { kind, row, col });
        }
        let x = match &scaled {
            Some(s) => s.view(),
            None => x.view(),
        };
        let ctx = FitContext {
            observer,
            stages: shared,
        };
        let (fitted, report) = self.method.fit_method(&self.train, x, y, ctx)?;
        let mut model = Model {
            params: self.clone(),
            n_features: x.ncols(),
            scaler,
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
        self.fitted.decision_function(x)
    }

    /// Checks rows to score: the model's feature count, every value finite.
    fn check_rows(&self, x: ArrayView2<f32>) -> Result<(), ScoreError> {
        if x.ncols() != self.n_features {
            return Err(ScoreError::FeatureCount {
                expected: self.n_features,
                found: x.ncols(),
            });
        }
        match first_non_finite(x) {
            Some((row, col)) => Err(ScoreError::NonFinite { row, col }),
            None => Ok(()),
        }
    }

    /// Anomaly scores: higher = more anomalous.
    pub fn decision_function(&self, x: ArrayView2<f32>) -> Result<Array1<f32>, ScoreError> {
        self.check_rows(x)?;
        match self.scaled(x)? {
            Some(scaled) => Ok(self.raw_scores(scaled.view())),
            None => Ok(self.raw_scores(x)),
        }
    }

    /// `x` (finite, `n_features` columns) through the model's preprocessing: what the
    /// method reads in place of the caller's rows (every scoring path goes through it);
    /// `None` without preprocessing (the rows as they are).
    pub fn scaled(&self, x: ArrayView2<f32>) -> Result<Option<Array2<f32>>, ScoreError> {
        let Some(scaler) = &self.scaler else {
            return Ok(None);
        };
        let scaled = scaler.transform(x);
        if let Some((row, col)) = first_non_finite(scaled.view()) {
            let kind = scaler.kind;
            return Err(ScoreError::ScaledOverflow { kind, row, col });
        }
        Ok(Some(scaled))
    }

    /// The hidden features before the method's last layer for each row of `x`
    /// ([`Method::representation`]: the paper's Fig. 10, DeepOD's `return_rep`), checked and
    /// preprocessed as [`Model::decision_function`] reads its input; an error for a method
    /// without them.
    pub fn representation(&self, x: ArrayView2<f32>) -> Result<Array2<f32>, ScoreError> {
        self.check_rows(x)?;
        let rep = match self.scaled(x)? {
            Some(scaled) => self.fitted.representation(scaled.view()),
            None => self.fitted.representation(x),
        };
        rep.ok_or(ScoreError::NoRepresentation(self.kind()))
    }

    /// The score above which a row is called an anomaly: the `1 − contamination` quantile
    /// of the training scores (PyOD's `threshold_`, linear interpolation like
    /// `numpy.percentile`).
    pub fn threshold(&self, contamination: f64) -> Result<f32, ScoreError> {
        crate::probability::check_contamination(contamination)?;
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

    /// 1 where the score exceeds [`Model::threshold`], else 0 (PyOD's `predict`,
    /// [`crate::probability::is_anomaly`]).
    pub fn predict(
        &self,
        x: ArrayView2<f32>,
        contamination: f64,
    ) -> Result<Array1<u8>, ScoreError> {
        let t = self.threshold(contamination)?;
        Ok(self
            .decision_function(x)?
            .mapv(|s| u8::from(crate::probability::is_anomaly(s, t))))
    }

    /// The method.
    pub fn kind(&self) -> MethodKind {
        self.params.method.kind()
    }

    /// Tensors of the fitted state (for model files).
    pub(crate) fn tensors(&self) -> Vec<NamedTensor> {
        let mut out = Vec::new();
        self.fitted.state(&mut out);
        out.push(vec_tensor("train_scores", &self.train_scores));
        if let Some(s) = &self.scaler {
            s.state(&mut out);
        }
        out
    }

    /// Rebuilds a model from its parameters and saved tensors.
    pub(crate) fn from_tensors(
        params: FitParams,
        n_features: usize,
        tensors: &[NamedTensor],
    ) -> Result<Model, StateError> {
        let train_scores = load_vec_any(tensors, "train_scores")?;
        let scaler = Scaler::from_state(params.preprocessing, n_features, tensors)?;
        let fitted = params
            .method
            .load_fitted(&params.train, n_features, tensors)?;
        Ok(Model {
            params,
            n_features,
            scaler,
            fitted,
            train_scores,
            report: TrainReport::default(),
        })
    }
}
