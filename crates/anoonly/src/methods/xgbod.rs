//! XGBOD (Zhao & Hryniewicki 2018) as ADBench runs it: PyOD 1.0.0's `XGBOD()` defaults
//! (docs/protocol.md 3.3). The 41 unsupervised detectors of [`crate::detectors::Tos`] are fitted
//! on all training rows (labels unused); the classifier, gradient-boosted trees with
//! XGBoost's parameters ([`crate::boost`]), is trained on `[X ‖ TOS]` with the labels, the
//! TOS columns unscaled (PyOD concatenates raw scores); the score is `P(class 1)`.
//!
//! A baseline: it has no AnoOnly variant, so `--anoonly`, `lambda_n` and `norm` are refused
//! ([`super::MethodKind::supports_anoonly`]). It does not train in epochs: `--epochs` is
//! refused; its training length is `n_estimators`, the number of boosting rounds
//! (`--set n_estimators=N`). A fit reports the detector stage once and then each boosting
//! round to its observer, which may stop it between rounds.

use std::time::Instant;

use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2};

use super::{FitError, Knobs, Method};
use crate::boost::{Booster, Gbt, GbtParams};
use crate::detectors::{Tos, TosTiming};
use crate::nn::{NamedTensor, StateError};
use crate::train::{
    report_epoch, EpochReport, FitContext, FitObserver, Stage, TrainParams, TrainReport,
};
use crate::vocab::{NormKind, ParamError};

/// XGBOD's hyperparameters: those of its boosted trees (the detector grid is fixed).
pub type XgbodParams = GbtParams;

/// Training rows above which the n² f32 kernel matrix of the OCSVM grid (400 MB at the
/// limit) is refused; the ADBench protocol caps a file at 10,000 rows, so train ≤ 7,000.
pub const MAX_TRAIN_ROWS: usize = 10_000;

/// Wall time of the two stages of a fit.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct XgbodTiming {
    pub detectors: TosTiming,
    pub detectors_total: f64,
    pub booster: f64,
}

/// A fitted XGBOD: the detector bank and the trees.
#[derive(Clone, Debug)]
pub struct FittedXgbod {
    pub tos: Tos,
    pub booster: Gbt,
}

/// `[X ‖ TOS]`, the classifier's input.
pub fn assemble(x: ArrayView2<f32>, tos: &Array2<f32>) -> Array2<f32> {
    let d = x.ncols();
    let mut out = Array2::zeros((x.nrows(), d + tos.ncols()));
    out.slice_mut(s![.., ..d]).assign(&x);
    out.slice_mut(s![.., d..]).assign(tos);
    out
}

impl FittedXgbod {
    /// Fits and reports how long each stage took.
    pub fn fit_timed(
        params: &XgbodParams,
        seed: u64,
        x: ArrayView2<f32>,
        y: ArrayView1<u8>,
        observer: &mut dyn FitObserver,
    ) -> Result<(Self, TrainReport, XgbodTiming), FitError> {
        if x.nrows() > MAX_TRAIN_ROWS {
            return Err(FitError::TooManyRows {
                method: super::MethodKind::Xgbod,
                found: x.nrows(),
                max: MAX_TRAIN_ROWS,
            });
        }
        let t0 = Instant::now();
        let (tos, train_tos, detectors) = Tos::fit(x, seed);
        let detectors_total = t0.elapsed().as_secs_f64();
        let stage = |stage, epoch, epochs, loss| EpochReport {
            stage,
            epoch,
            epochs,
            loss,
            empty_batches: 0,
            batches: 1,
        };
        report_epoch(observer, &stage(Stage::Detectors, 0, 1, None))?;
        let t0 = Instant::now();
        let features = assemble(x, &train_tos);
        let mut report = TrainReport::default();
        let epochs = params.n_estimators;
        let mut stopped = None;
        let booster = Gbt::fit_observed(params, features.view(), y, &mut |round, loss| {
            report.epoch_losses.push(Some(loss));
            let r = stage(Stage::Boosting, round, epochs, Some(loss));
            report_epoch(observer, &r).map_err(|e| stopped = Some(e))
        });
        let Some(booster) = booster else {
            return Err(stopped.map_or(FitError::Diverged, FitError::Interrupted));
        };
        report.steps = epochs;
        report.kept_epoch = epochs.saturating_sub(1);
        let timing = XgbodTiming {
            detectors,
            detectors_total,
            booster: t0.elapsed().as_secs_f64(),
        };
        Ok((FittedXgbod { tos, booster }, report, timing))
    }

    /// The classifier's input for new rows.
    pub fn features(&self, x: ArrayView2<f32>) -> Array2<f32> {
        assemble(x, &self.tos.features(x))
    }
}

impl Method for FittedXgbod {
    type Params = XgbodParams;
    const NAME: &'static str = "xgbod";
    const DISPLAY_NAME: &'static str = "XGBOD";
    const SUMMARY: &'static str =
        "XGBOD (Zhao & Hryniewicki, IJCNN 2018), a baseline of the paper: gradient-boosted \
         trees on the features and the scores of 41 unsupervised detectors. No AnoOnly variant. \
         It does not train in epochs: its boosting rounds are `n_estimators`, as in PyOD's \
         XGBOD (the CLI's `--set n_estimators=N`).";
    const SUPPORTS_ANOONLY: bool = false;
    /// None: a baseline without a network.
    const OWN_NORM: NormKind = NormKind::None;
    /// A supervised classifier on the detectors' scores: it needs both classes.
    const TRAINS_WITHOUT_ANOMALIES: bool = false;

    fn knobs(p: &mut XgbodParams) -> Knobs<'_> {
        // Boosting rounds (`n_estimators`) are not epochs, and there are no batches.
        let _ = p;
        Knobs {
            epochs: None,
            batch_size: None,
        }
    }

    fn layer_widths(p: &XgbodParams, n_features: usize) -> Vec<(&'static str, usize)> {
        let _ = p;
        vec![("n_features", n_features)]
    }

    fn relative_cost(n_rows: usize) -> f64 {
        4.0 * super::rows_in_thousands(n_rows)
    }

    fn validate(p: &XgbodParams) -> Result<(), ParamError> {
        p.validate()
    }

    fn fit(
        params: &XgbodParams,
        train: &TrainParams,
        x: ArrayView2<f32>,
        y: ArrayView1<u8>,
        ctx: FitContext<'_>,
    ) -> Result<(Self, TrainReport), FitError> {
        let observer = ctx.observer;
        let (f, r, _) = Self::fit_timed(params, train.seed, x, y, observer)?;
        Ok((f, r))
    }

    fn decision_function(&self, x: ArrayView2<f32>) -> Array1<f32> {
        self.booster.predict_proba(self.features(x).view())
    }

    /// None: gradient-boosted trees score `[X ‖ TOS]`; there is no hidden layer.
    fn representation(&self, _x: ArrayView2<f32>) -> Option<Array2<f32>> {
        None
    }

    fn state(&self, out: &mut Vec<NamedTensor>) {
        self.tos.state("tos.", out);
        self.booster.state("boost.", out);
    }

    fn from_state(
        _params: &XgbodParams,
        _train: &TrainParams,
        n_features: usize,
        tensors: &[NamedTensor],
    ) -> Result<Self, StateError> {
        let tos = Tos::from_state("tos.", n_features, tensors)?;
        let booster = Gbt::from_state("boost.", n_features + tos.n_features(), tensors)?;
        Ok(FittedXgbod { tos, booster })
    }
}
