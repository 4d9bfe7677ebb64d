//! FEAWAD (Zhou et al., TNNLS 2021) as the AnoOnly authors' code runs it (docs/protocol.md 2.3,
//! paper appendix B.3, eq. 20/21).
//!
//! **Autoencoder** (Keras `Dense`, glorot_normal init, zero bias, ReLU everywhere including
//! the reconstruction): `x(d) → ain: d → ae1: 128 → ae2: 64 (= h) → ad1: 128 → ad2: d (= x̂)`.
//!
//! **Stage 1, pretraining**: the autoencoder alone, Keras MSE `mean_j (x_j − x̂_j)²`, Keras
//! Adam lr 1e-4, 100 epochs × 20 steps, batches of 512 unlabeled rows (drawn with
//! replacement), best-training-loss checkpoint. It runs through [`train::fit`] as a task
//! whose items are all "normal" with the MSE as `L_N` and a fixed weighting
//! (`anoonly = false`, `lambda_n = 1`, [`TrainParams::for_stage`]): it is not the SSAD loss,
//! so the AnoOnly switch does not apply to it (the authors pretrain identically in both
//! variants). It reads no label: it is declared label-free ([`PRETRAINING`]), and a grid
//! shares it between the cells with the same unlabeled rows and stage-1 settings
//! ([`crate::train::shared`]).
//!
//! **Stage 2, scoring net** ([`FeawadNet`], the autoencoder's layers shared and initialised
//! from stage 1, trained end to end): `r = x − x̂`, `n_r = ‖r‖₂`, `r̂ = r / n_r`,
//! `z0 = [r̂ ‖ h ‖ n_r]` → `Dense(256, ReLU)` → `‖ n_r` → `Dense(32, ReLU)` → `‖ n_r` →
//! Keras BatchNorm(33) → `Dense(1)` = `s`. The BatchNorm is in the authors' vanilla FEAWAD
//! too (the paper's B.3 says it is added for AnoOnly only), so the method's
//! [`train::head_norm`] default is [`NormKind::Bn`] (Keras flavour) and AnoOnly keeps it.
//! Keras Adam lr 1e-4, 30 epochs × 20 steps, batches of 512 = 256 unlabeled rows at even
//! positions and 256 labeled anomalies at odd positions (both with replacement), Keras
//! batch mean ([`Reduction::BatchMean`](crate::train::Reduction::BatchMean)), best-training-loss checkpoint. Score: `s`, the
//! BatchNorm in inference mode (moving statistics).
//!
//! **Losses** (a = 5). The network outputs two columns `[s, ‖x − x̂‖]` so that the per-item
//! losses see the reconstruction error; the score is `s` alone.
//! - [`FeawadCompat::Fixed`] (default, the paper's eq. 20/21 intent):
//!   `L_N = |s| + λ_R ‖x − x̂‖`, `L_A = max(0, a − s) + λ_R max(0, a − ‖x − x̂‖)`,
//!   `λ_R = 1` (eq. 20 names λ_R without a value; the code's implicit weight is 1).
//!   Deviation kept from eq. 20: the anomaly hinge is `max(0, a − s)` as in the code, not
//!   `max(0, a − |s|)` (which would reward large negative scores).
//! - [`FeawadCompat::Official`] replicates the authors' two bugs: (1) their batch generators
//!   re-seed `RandomState(42)` on every call, so **every training batch is the same 512
//!   rows**, in both stages: here one batch is drawn once per stage and reused at every
//!   step; (2) the loss sees the *unit* residual `r̂`, whose norm is 1, so the
//!   reconstruction terms are the constants `λ_R·1` (normal) and `λ_R·max(0, a − 1) = 4λ_R`
//!   (anomaly) with zero gradient.
//! - `Fixed` draws fresh batches at every step and back-propagates the real term.
//!
//! AnoOnly (`--anoonly`): `lambda_n = 0` through [`TrainParams::weighting`]: only `L_A`
//! is kept, still divided by the whole batch (Keras), normal rows still forwarded (their
//! BatchNorm statistics count). The gradients of ‖r̂‖ at `n_r = 0` and of the losses at
//! their kinks are 0, as in TensorFlow; `r̂` uses `max(n_r, 1e-30)` (TF would give NaN).
//!
//! Cost: about 1 GFLOP per pretraining step and 1.5 GFLOP per scoring step at d = 512
//! (2000 + 600 steps of 512 rows), i.e. about 3 TFLOP per fit: ~50 s on CIFAR10_0 on one
//! core of this project's AVX2 machines, 0.64 of the best kernel's rate (docs/roofline.md;
//! the authors' TF code: ~30–40 s). The first layer produces no input gradient and the
//! residual, its norm and the concatenations are differentiated by hand inside
//! [`FeawadNet`].
//!
//! The fit's [`TrainReport`] is the scoring stage's, with `steps` counting both stages.
//!
//! This file is the method: its parameters, its two stages ([`Method::STAGES`]) and its
//! fit. Its parts: [`net`] (the autoencoder and the scoring network), [`task`] (the losses
//! and the batch sampler of both stages), [`pretrain`] (stage 1 and its key in the store
//! of shared stages).

pub mod net;
pub mod pretrain;
pub mod task;

use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2};
use serde::{Deserialize, Serialize};

use super::{FitError, Knobs, Method};
use crate::nn::{Adam, LrSchedule, Mode, Module, NamedTensor, StateError};
use crate::rng::component_rng;
use crate::train::{
    self, head_norm, Checkpoint, FitContext, Schedule, ScheduleUnit, StageSpec, TrainParams,
    TrainReport,
};
use crate::vocab::{non_negative, positive, NormKind, ParamError};
use net::FeawadNet;
use task::{FeawadLoss, FeawadTask, Sampler};

/// Which FEAWAD: the fixed one (default) or the authors' code with its two bugs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeawadCompat {
    /// Fresh batches at every step and the real reconstruction term `‖x − x̂‖`.
    #[default]
    Fixed,
    /// The authors' code: one batch per stage reused at every step, and constant
    /// reconstruction terms (norm of the unit residual) with zero gradient.
    Official,
}

/// FEAWAD hyperparameters; defaults are the authors' code (docs/protocol.md 2.3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeawadParams {
    /// Width of `ae1` and `ad1` (authors: 128).
    pub ae_hidden: usize,
    /// Width of the code `h` (`ae2`, authors: 64).
    pub code_dim: usize,
    /// Widths of the two hidden scoring layers (authors: 256, 32).
    pub head_hidden: [usize; 2],
    /// Keras Adam learning rate of both stages.
    pub lr: f32,
    /// Pretraining epochs (0: no pretraining).
    pub pretrain_epochs: usize,
    /// Scoring-net epochs (the CLI's `--epochs`).
    pub epochs: usize,
    /// Batches per epoch, both stages.
    pub steps_per_epoch: usize,
    pub batch_size: usize,
    /// The margin `a`.
    pub margin: f32,
    /// Weight λ_R of the reconstruction terms.
    pub lambda_r: f32,
    pub compat: FeawadCompat,
}

impl Default for FeawadParams {
    fn default() -> Self {
        FeawadParams {
            ae_hidden: 128,
            code_dim: 64,
            head_hidden: [256, 32],
            lr: 1e-4,
            pretrain_epochs: 100,
            epochs: 30,
            steps_per_epoch: 20,
            batch_size: 512,
            margin: 5.0,
            lambda_r: 1.0,
            compat: FeawadCompat::Fixed,
        }
    }
}

fn at_least(field: &'static str, v: usize, min: usize) -> Result<(), ParamError> {
    if v < min || v > 1_000_000 {
        Err(ParamError::new(
            field,
            v,
            format!("must be in {min}..=1000000"),
        ))
    } else {
        Ok(())
    }
}

impl FeawadParams {
    pub fn validate(&self) -> Result<(), ParamError> {
        at_least("ae_hidden", self.ae_hidden, 1)?;
        at_least("code_dim", self.code_dim, 1)?;
        if self.head_hidden.contains(&0) {
            return Err(ParamError::new(
                "head_hidden",
                format!("{:?}", self.head_hidden),
                "widths must be > 0",
            ));
        }
        positive("lr", self.lr)?;
        at_least("pretrain_epochs", self.pretrain_epochs, 0)?;
        at_least("epochs", self.epochs, 1)?;
        at_least("steps_per_epoch", self.steps_per_epoch, 1)?;
        at_least("batch_size", self.batch_size, 2)?;
        positive("margin", self.margin)?;
        non_negative("lambda_r", self.lambda_r)?;
        Ok(())
    }
}

/// Stage 1, the autoencoder pretraining ([`pretrain::pretrain`]): reads no label, only the unlabeled
/// rows, so fits with the same rows and stage-1 settings share it. Its cost: 2,000 of a
/// default fit's 2,600 steps, each a little cheaper than a scoring step (the autoencoder
/// alone).
pub const PRETRAINING: StageSpec = StageSpec {
    name: "pretrain",
    description: "autoencoder pretraining",
    reads_labels: false,
    params: &[
        "ae_hidden",
        "code_dim",
        "lr",
        "pretrain_epochs",
        "steps_per_epoch",
        "batch_size",
        "compat",
    ],
    epochs_param: Some("pretrain_epochs"),
    cost_fraction: 0.7,
};

/// Stage 2, the scoring network trained end to end from the pretrained autoencoder, on
/// unlabeled rows and labeled anomalies: the AnoOnly switch acts here. It reads the
/// autoencoder's widths too (its layers are part of the network) and the settings both
/// stages share (`lr`, `steps_per_epoch`, `batch_size`, `compat`).
pub const SCORING: StageSpec = StageSpec {
    name: "scoring",
    description: "scoring network training",
    reads_labels: true,
    params: &[
        "ae_hidden",
        "code_dim",
        "head_hidden",
        "lr",
        "epochs",
        "steps_per_epoch",
        "batch_size",
        "margin",
        "lambda_r",
        "compat",
    ],
    epochs_param: None,
    cost_fraction: 0.3,
};

/// A fitted FEAWAD model.
#[derive(Clone, Debug)]
pub struct FittedFeawad {
    /// Boxed: the net is large beside the other methods' fitted states.
    pub net: Box<FeawadNet>,
}

/// Rows scored per forward pass at inference.
const SCORE_CHUNK: usize = 4096;

impl FittedFeawad {
    /// The network outputs `[s, ‖x − x̂‖]` in inference mode.
    pub fn outputs(&self, x: ArrayView2<f32>) -> Array2<f32> {
        let mut net = (*self.net).clone();
        let mut out = Array2::<f32>::zeros((x.nrows(), 2));
        let mut start = 0;
        while start < x.nrows() {
            let end = (start + SCORE_CHUNK).min(x.nrows());
            let o = net.forward(&x.slice(s![start..end, ..]).to_owned(), Mode::Eval);
            out.slice_mut(s![start..end, ..]).assign(&o);
            start = end;
        }
        out
    }
}

impl Method for FittedFeawad {
    type Params = FeawadParams;
    const NAME: &'static str = "feawad";
    const DISPLAY_NAME: &'static str = "FEAWAD";
    const SUMMARY: &'static str =
        "FEAWAD (Zhou et al., TNNLS 2021): an autoencoder, pretrained without labels, whose \
         features and reconstruction error feed a deviation scorer. `compat=\"official\"` \
         replicates the authors' code's bugs. AnoOnly (`anoonly=True`, `--anoonly`) drops the \
         loss on unlabeled rows in the scorer's training (lambda_n = 0; the pretraining is the \
         same in both variants) and keeps FEAWAD's own BatchNorm before the output layer.";
    const SUPPORTS_ANOONLY: bool = true;
    /// A Keras BatchNorm on the head's 33-d input (in the authors' vanilla FEAWAD too).
    const OWN_NORM: NormKind = NormKind::Bn;

    fn knobs(p: &mut FeawadParams) -> Knobs<'_> {
        Knobs::new(&mut p.epochs, &mut p.batch_size)
    }

    fn layer_widths(p: &FeawadParams, n_features: usize) -> Vec<(&'static str, usize)> {
        vec![
            ("n_features", n_features),
            ("ae_hidden", p.ae_hidden),
            ("code_dim", p.code_dim),
            ("head_hidden", p.head_hidden[0]),
            ("head_hidden", p.head_hidden[1]),
        ]
    }

    fn relative_cost(n_rows: usize) -> f64 {
        let _ = n_rows;
        // 2,600 steps of 512 rows whatever the file size.
        100.0
    }

    fn validate(params: &FeawadParams) -> Result<(), ParamError> {
        params.validate()
    }

    const STAGES: &'static [StageSpec] = &[PRETRAINING, SCORING];

    /// With `ctx.stages`, stage 1 is looked up by its [`pretrain::pretrain_key`] and computed (and
    /// left there) only when absent. A pretraining taken from the store reports no
    /// [`crate::train::Stage::Pretrain`] epochs to the observer; the model is the same, bit
    /// for bit.
    fn fit(
        params: &FeawadParams,
        train_params: &TrainParams,
        x: ArrayView2<f32>,
        y: ArrayView1<u8>,
        ctx: FitContext<'_>,
    ) -> Result<(Self, TrainReport), FitError> {
        let FitContext { observer, stages } = ctx;
        let seed = train_params.seed;
        let anomaly: Vec<bool> = y.iter().map(|&v| v == 1).collect();
        let unlabeled: Vec<usize> = (0..x.nrows()).filter(|&i| !anomaly[i]).collect();
        let anomalies: Vec<usize> = (0..x.nrows()).filter(|&i| anomaly[i]).collect();
        if unlabeled.is_empty() {
            return Err(FitError::Param(ParamError::new(
                "y",
                "all 1",
                "FEAWAD needs at least one unlabeled row (label 0)",
            )));
        }
        let mut init = component_rng(seed, "feawad-init");
        let ae = params.autoencoder(x.ncols(), &mut init);
        // The head is drawn before pretraining so that its init does not depend on it.
        let norm = head_norm(train_params, Self::OWN_NORM);
        let head_template = params.scoring_net(ae.clone(), norm, &mut init);
        let (ae, pre_steps) = match stages {
            Some(cache) if params.pretrain_epochs > 0 => {
                pretrain::shared_pretrain(cache, params, train_params, ae, x, &unlabeled, observer)?
            }
            _ => {
                let (ae, report) =
                    pretrain::pretrain(params, train_params, ae, x, &unlabeled, observer)?;
                (ae, report.steps)
            }
        };
        let mut net = head_template.with_autoencoder(ae);
        let mut task: FeawadTask<'_, FeawadNet, FeawadLoss> = FeawadTask {
            x,
            anomaly,
            sampler: Sampler::new(
                unlabeled,
                anomalies,
                params.batch_size,
                params.steps_per_epoch,
                params.compat == FeawadCompat::Official,
            ),
            loss: FeawadLoss {
                margin: params.margin,
                lambda_r: params.lambda_r,
                compat: params.compat,
            },
            _net: std::marker::PhantomData,
        };
        let schedule = Schedule {
            epochs: params.epochs,
            base_lr: params.lr,
            lr_schedule: LrSchedule::Constant,
            unit: ScheduleUnit::Batch,
            checkpoint: Checkpoint::BestTrainLoss,
        };
        let mut rng = component_rng(seed, "feawad-sampler");
        let mut report = train::fit(
            &mut task,
            &mut net,
            &mut Adam::keras(),
            &schedule,
            train_params,
            &mut rng,
            observer,
        )?;
        report.steps += pre_steps;
        Ok((FittedFeawad { net: Box::new(net) }, report))
    }

    fn decision_function(&self, x: ArrayView2<f32>) -> Array1<f32> {
        self.outputs(x).column(0).to_owned()
    }

    /// The 33-d input of the output layer: the second head layer's 32 ReLU outputs and the
    /// reconstruction-error norm, after FEAWAD's own (Keras) BatchNorm.
    fn representation(&self, x: ArrayView2<f32>) -> Option<Array2<f32>> {
        let mut net = (*self.net).clone();
        let width = net.out.d_in();
        Some(crate::nn::eval_matrix(x, width, |chunk| {
            net.representation(chunk)
        }))
    }

    fn state(&self, out: &mut Vec<NamedTensor>) {
        self.net.state("net.", out);
    }

    fn from_state(
        params: &FeawadParams,
        train: &TrainParams,
        n_features: usize,
        tensors: &[NamedTensor],
    ) -> Result<Self, StateError> {
        let mut rng = component_rng(0, "load");
        let ae = params.autoencoder(n_features, &mut rng);
        let mut net = params.scoring_net(ae, head_norm(train, Self::OWN_NORM), &mut rng);
        net.load_state("net.", tensors)?;
        Ok(FittedFeawad { net: Box::new(net) })
    }
}
