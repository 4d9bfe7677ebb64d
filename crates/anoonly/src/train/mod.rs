//! The one training core. Every method runs through [`fit`]: it owns the epoch loop, the
//! optimiser steps, the learning-rate schedule, best-epoch checkpoints, and the AnoOnly
//! switch ([`loss`] on the loss side, [`head_norm`] on the architecture side).
//!
//! A method only declares a [`Task`]: its batches, the network input of a batch, its
//! `L_N` and `L_A` (through [`SsadLoss`]), how the batch mean is taken ([`Reduction`]) and
//! any extra regulariser.
//!
//! [`stages`]: the stages of a fit as a method declares them, and the context a fit gets
//! ([`FitContext`]: its observer and the store of shared stages); [`shared`]: that store,
//! content-addressed, in memory and in a cache directory.

pub mod loss;
pub mod shared;
pub mod stages;

// The parameter vocabulary train speaks in (re-exported for callers of `train`).
use crate::vocab::non_negative;
pub use crate::vocab::{NormKind, ParamError};
pub use loss::{combine, BatchLoss, Item, LossWeighting, Reduction, SsadLoss};
pub use stages::{FitContext, StageSpec};

use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};

use ndarray::{ArrayView1, ArrayView2};

use crate::nn::{
    gather_rows, pool, sum_aux, BatchNorm1d, BnLoss, Layer, LayerNorm, LrSchedule, Matrix, Mode,
    Module, Optimizer, RowIndex,
};
use crate::rng::Rng;

/// Training parameters shared by every method (linfa style: plain data, checked by
/// [`TrainParams::validate`] before any work).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainParams {
    /// AnoOnly: `lambda_n = 0` (no loss on normal rows) and a normalisation layer before
    /// the last layer when the method has none.
    pub anoonly: bool,
    /// Weight of `L_N` (`--lambda-n`). `None`: 1 for the vanilla method, 0 under AnoOnly.
    ///
    /// The rule, for every method: the batch loss is [`combine`]'s
    /// `(lambda_n · Σ_N l_n + Σ_A l_a) / denominator` with the method's [`Reduction`], and the
    /// architecture is decided by `anoonly` and `norm` alone ([`head_norm`]). Hence, bit for
    /// bit for a fixed seed (tests/ablation.rs): `lambda_n = 1` is the vanilla method and
    /// `--anoonly` is `lambda_n = 0` with AnoOnly's architecture. `--lambda-n 0` *without*
    /// `--anoonly` means: no loss on normal rows, the method's own architecture. That is
    /// AnoOnly for DeepSAD and FEAWAD (which have a BatchNorm of their own) and "AnoOnly
    /// without its BatchNorm" for DevNet and PReNet (add `--norm bn` to get AnoOnly).
    /// Likewise `--anoonly --lambda-n X` is AnoOnly's architecture with weight X on `L_N`.
    pub lambda_n: Option<f32>,
    /// The run's seed; every component derives its own stream from it.
    pub seed: u64,
    /// What to do with a batch that has no loss (AnoOnly and no labeled anomaly in it).
    pub empty_batch: EmptyBatch,
    /// Override of the layer before the last layer (`None`: the method's choice).
    pub norm: Option<NormKind>,
    /// Weight of the BN† loss `L_BN` when the norm is [`NormKind::BnLoss`]
    /// ([`DEFAULT_BN_LOSS_WEIGHT`]; absent from model files written before it existed).
    #[serde(default = "default_bn_loss_weight")]
    pub bn_loss_weight: f32,
}

/// The paper's weight of `L_BN` (eq. 5): the default of every front end's
/// `bn_loss_weight` (`--bn-loss-weight`, Python's keyword, model files without the field).
pub const DEFAULT_BN_LOSS_WEIGHT: f32 = 1.0;

fn default_bn_loss_weight() -> f32 {
    DEFAULT_BN_LOSS_WEIGHT
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            anoonly: false,
            lambda_n: None,
            seed: 0,
            empty_batch: EmptyBatch::Step,
            norm: None,
            bn_loss_weight: DEFAULT_BN_LOSS_WEIGHT,
        }
    }
}

impl TrainParams {
    /// The effective weight of `L_N`.
    pub fn lambda_n(&self) -> f32 {
        self.lambda_n
            .unwrap_or(if self.anoonly { 0.0 } else { 1.0 })
    }

    pub fn validate(&self) -> Result<(), ParamError> {
        if let Some(l) = self.lambda_n {
            if !l.is_finite() || l < 0.0 {
                return Err(ParamError::new(
                    "lambda_n",
                    l,
                    "must be a finite number >= 0",
                ));
            }
        }
        non_negative("bn_loss_weight", self.bn_loss_weight)?;
        Ok(())
    }

    /// The loss weighting for a method that reduces with `reduction`.
    pub fn weighting(&self, reduction: Reduction) -> LossWeighting {
        LossWeighting {
            lambda_n: self.lambda_n(),
            reduction,
        }
    }
}

/// A batch without labeled anomaly under AnoOnly has no loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EmptyBatch {
    /// The authors' code: the loss is NaN, every loss gradient is zero, and the optimiser
    /// still steps (momentum and weight decay move the weights; BatchNorm running
    /// statistics were updated by the forward pass). The default.
    Step,
    /// Skip the optimiser step (the forward pass still updates running statistics).
    Skip,
}

/// The normalisation a network is built with: the kind and, for [`NormKind::BnLoss`], the
/// weight of `L_BN` (irrelevant at inference, where the BN† layer is the identity).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HeadNorm {
    pub kind: NormKind,
    pub bn_loss_weight: f32,
}

impl From<NormKind> for HeadNorm {
    fn from(kind: NormKind) -> Self {
        HeadNorm {
            kind,
            bn_loss_weight: DEFAULT_BN_LOSS_WEIGHT,
        }
    }
}

/// The architecture half of the AnoOnly switch: the normalisation before the last layer.
/// An explicit override wins; otherwise AnoOnly adds a BatchNorm where the method has none
/// (paper section 3.3), and keeps the method's own where it has one.
pub fn head_norm(params: &TrainParams, method_default: NormKind) -> HeadNorm {
    let kind = match params.norm {
        Some(n) => n,
        None if params.anoonly && method_default == NormKind::None => NormKind::Bn,
        None => method_default,
    };
    HeadNorm {
        kind,
        bn_loss_weight: params.bn_loss_weight,
    }
}

/// Which framework's layer defaults a method follows (the authors' code: torch for DeepSAD
/// and PReNet, Keras for DevNet and FEAWAD).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NormFlavour {
    /// torch `BatchNorm1d(eps = bn_eps)`, `LayerNorm(eps = 1e-5)`.
    Torch { bn_eps: f32 },
    /// Keras `BatchNormalization()` (eps 1e-3, momentum 0.99), `LayerNormalization()`
    /// (eps 1e-3).
    Keras,
}

/// The layer for `norm` on `n` features (`None` for [`NormKind::None`]): the one place
/// where the methods' `--norm` choices become layers.
pub fn norm_layer(norm: impl Into<HeadNorm>, n: usize, flavour: NormFlavour) -> Option<Layer> {
    let norm = norm.into();
    Some(match (norm.kind, flavour) {
        (NormKind::None, _) => return None,
        (NormKind::LayerNorm, NormFlavour::Torch { .. }) => LayerNorm::new(n, 1e-5, true).into(),
        (NormKind::LayerNorm, NormFlavour::Keras) => LayerNorm::new(n, 1e-3, true).into(),
        (NormKind::BnNoAffine, NormFlavour::Torch { bn_eps }) => {
            BatchNorm1d::torch(n, bn_eps, false).into()
        }
        (NormKind::BnNoAffine, NormFlavour::Keras) => BatchNorm1d::keras_no_affine(n).into(),
        (NormKind::Bn, NormFlavour::Torch { bn_eps }) => BatchNorm1d::torch(n, bn_eps, true).into(),
        (NormKind::Bn, NormFlavour::Keras) => BatchNorm1d::keras(n).into(),
        (NormKind::BnLoss, _) => BnLoss::new(n, norm.bn_loss_weight).into(),
    })
}

/// Which weights a fit returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Checkpoint {
    /// The weights after the last step (PyTorch methods).
    Last,
    /// The weights at the end of the epoch with the lowest mean training loss (Keras
    /// `ModelCheckpoint(monitor='loss', save_best_only=True)`: DevNet, FEAWAD).
    BestTrainLoss,
}

/// When the learning-rate schedule advances.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduleUnit {
    Batch,
    Epoch,
}

/// The optimisation schedule a method declares.
#[derive(Clone, Debug)]
pub struct Schedule {
    pub epochs: usize,
    pub base_lr: f32,
    pub lr_schedule: LrSchedule,
    pub unit: ScheduleUnit,
    pub checkpoint: Checkpoint,
}

/// What a method declares to the training core.
pub trait Task {
    /// The network (a [`Module`]; cloned for best-epoch checkpoints).
    type Net: Module + Clone;
    /// A batch description (row indices, pairs, ...).
    type Batch;

    /// The batches of epoch `epoch`, drawn from `rng` (the core's sampler stream).
    fn epoch_batches(&mut self, epoch: usize, rng: &mut Rng) -> Vec<Self::Batch>;

    /// The network input of a batch and its items (which carry `L_A`, targets).
    fn input(&self, batch: &Self::Batch) -> (Matrix, Vec<Item>);

    /// The method's `L_N` and `L_A`.
    fn loss(&self) -> &dyn SsadLoss;

    /// How the batch mean is taken.
    fn reduction(&self) -> Reduction;

    /// An extra regulariser that belongs to the loss (Keras kernel L2): adds its gradient
    /// to the network's accumulated gradients and returns its value.
    fn penalty(&self, _net: &mut Self::Net) -> f32 {
        0.0
    }
}

/// The batches of one pass over `n` rows: consecutive ranges of `batch_size`, the tail
/// dropped (torch `DataLoader(drop_last=True)`); fewer rows than a batch make one batch
/// (torch would train no step at all, which no user wants). Ranges index the rows in file
/// order (GANomaly) or a shuffled order of them (DeepSAD).
pub fn ordered_batches(n: usize, batch_size: usize) -> Vec<std::ops::Range<usize>> {
    let b = batch_size.min(n).max(1);
    (0..n / b).map(|i| i * b..(i + 1) * b).collect()
}

/// The [`TrainReport::notes`] line of a fit whose [`ordered_batches`] made one batch of
/// fewer rows than `batch_size` (the authors' `drop_last` loader would train on none).
pub fn one_batch_note(method: &str, rows: usize, batch_size: usize) -> Option<String> {
    (rows < batch_size).then(|| {
        format!(
            "{method}: {rows} training rows, fewer than batch_size = {batch_size}: each epoch trained on one batch of all of them (the authors' loader drops an incomplete batch and would train on none)"
        )
    })
}

/// The rows of `y` with label `value`, as `u32` and allocated once at their exact count:
/// a sampler's pool of unlabeled rows is nearly the row count (395k rows on 16_http's
/// train split), where `usize` and a growing `collect` cost 4 MB at the peak instead of
/// 1.6 MB. Fits refuse more than 2^32 rows, so the indices fit.
pub fn rows_labeled(y: ArrayView1<u8>, value: u8) -> Vec<u32> {
    let mut rows = Vec::with_capacity(y.iter().filter(|&&v| v == value).count());
    rows.extend((0..y.len() as u32).filter(|&i| y[i as usize] == value));
    rows
}

/// The network input and items of a batch of training rows: the rows `batch` of `x`
/// (gathered row by row) and, per item, whether it carries `L_A` (`anomaly[row]`). The
/// common case of [`Task::input`] for methods whose items are rows.
pub fn row_batch<I: RowIndex>(
    x: ArrayView2<f32>,
    anomaly: &[bool],
    batch: &[I],
) -> (Matrix, Vec<Item>) {
    let items = batch
        .iter()
        .enumerate()
        .map(|(index, &r)| Item {
            index,
            anomaly: anomaly[r.row()],
            target: 0.0,
        })
        .collect();
    (gather_rows(x, batch), items)
}

/// Which part of a fit an [`EpochReport`] comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// The method's training loop (the SSAD loss, GANomaly's and REPEN's own loops).
    Train,
    /// A label-free stage before it, not the SSAD loss (FEAWAD's autoencoder pretraining).
    Pretrain,
    /// XGBOD's unsupervised detectors (one report when they are fitted).
    Detectors,
    /// XGBOD's boosting rounds (one report per round).
    Boosting,
    /// The training loop of member `index` (0-based) of an ensemble of `of` networks
    /// trained one after the other (WSAD-DT); `epoch` counts within the member.
    Member { index: usize, of: usize },
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Train => "epoch",
            Stage::Pretrain => "pretraining epoch",
            Stage::Detectors => "detector stage",
            Stage::Boosting => "boosting round",
            Stage::Member { index, of } => {
                return write!(f, "member {}/{of} epoch", index + 1);
            }
        })
    }
}

/// One epoch as seen by an observer (progress display).
#[derive(Clone, Debug)]
pub struct EpochReport {
    pub stage: Stage,
    /// 0-based, within the stage.
    pub epoch: usize,
    /// Epochs of the stage.
    pub epochs: usize,
    /// Mean loss over the batches that had one.
    pub loss: Option<f32>,
    /// Batches without loss (AnoOnly, no labeled anomaly).
    pub empty_batches: usize,
    pub batches: usize,
}

impl std::fmt::Display for EpochReport {
    /// The progress line every front end shows: `epoch 3/50 loss 0.1234` (`loss -` for an
    /// epoch without loss, e.g. XGBOD's detector stage).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{} loss ", self.stage, self.epoch + 1, self.epochs)?;
        match self.loss {
            Some(l) => write!(f, "{l:.4}"),
            None => f.write_str("-"),
        }
    }
}

/// What watches a fit epoch by epoch, and may stop it: every training loop reports each
/// epoch (each stage's epochs, each boosting round) to its observer and stops when it
/// returns `Break`, so a front end can show progress and honour Ctrl-C within one epoch.
/// Closures `FnMut(&EpochReport) -> ControlFlow<()>` are observers.
pub trait FitObserver {
    fn on_epoch(&mut self, report: &EpochReport) -> ControlFlow<()>;
}

impl<F: FnMut(&EpochReport) -> ControlFlow<()>> FitObserver for F {
    fn on_epoch(&mut self, report: &EpochReport) -> ControlFlow<()> {
        self(report)
    }
}

/// The observer of a fit nobody watches: never stops it.
pub struct Silent;

impl FitObserver for Silent {
    fn on_epoch(&mut self, _: &EpochReport) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

/// An observer seen through one stage of a fit: reports go on with their `stage` set
/// (FEAWAD's pretraining runs the training core, which reports [`Stage::Train`]).
pub struct Staged<'a> {
    pub stage: Stage,
    pub inner: &'a mut dyn FitObserver,
}

impl FitObserver for Staged<'_> {
    fn on_epoch(&mut self, report: &EpochReport) -> ControlFlow<()> {
        self.inner.on_epoch(&EpochReport {
            stage: self.stage,
            ..report.clone()
        })
    }
}

/// A fit stopped by its observer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the fit was interrupted at {stage} {} of {epochs}: no model was fitted", .epoch + 1)]
pub struct Interrupted {
    pub stage: Stage,
    /// The 0-based epoch after which it stopped.
    pub epoch: usize,
    pub epochs: usize,
}

/// Reports `report` to `observer`: `Err` when it asks to stop.
pub fn report_epoch(
    observer: &mut dyn FitObserver,
    report: &EpochReport,
) -> Result<(), Interrupted> {
    match observer.on_epoch(report) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(()) => Err(Interrupted {
            stage: report.stage,
            epoch: report.epoch,
            epochs: report.epochs,
        }),
    }
}

/// The end of one epoch of a method's own training loop (one that does not run through
/// [`fit`]): records the epoch's mean loss in `report` and reports the epoch to `observer`;
/// when it asks to stop, drops `net`'s cached forwards and this thread's step buffers, as
/// [`fit`] does, and returns [`Interrupted`].
pub fn own_loop_epoch(
    observer: &mut dyn FitObserver,
    report: &mut TrainReport,
    net: &mut dyn Module,
    (epoch, epochs): (usize, usize),
    loss: Option<f32>,
    batches: usize,
) -> Result<(), Interrupted> {
    report.epoch_losses.push(loss);
    let epoch_report = EpochReport {
        stage: Stage::Train,
        epoch,
        epochs,
        loss,
        empty_batches: 0,
        batches,
    };
    report_epoch(observer, &epoch_report).inspect_err(|_| {
        net.clear_cache();
        pool::clear();
    })
}

/// The end of a method's own training loop of `epochs` epochs: the last epoch's weights are
/// kept, `net`'s cached forwards and this thread's step buffers dropped (as [`fit`] ends).
pub fn own_loop_end(report: &mut TrainReport, net: &mut dyn Module, epochs: usize) {
    report.kept_epoch = epochs.saturating_sub(1);
    net.clear_cache();
    pool::clear();
}

/// Summary of a whole fit.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TrainReport {
    pub epoch_losses: Vec<Option<f32>>,
    pub steps: usize,
    pub empty_batches: usize,
    /// The epoch whose weights were kept (0-based).
    pub kept_epoch: usize,
    /// What the fit did differently from the authors' code to train on this data (e.g.
    /// PReNet drawing pairs with replacement from few unlabeled rows), one sentence each:
    /// front ends show them (the CLI on stderr, Python as warnings).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Observer of training progress (see [`FitObserver`]).
pub type Observer<'a> = &'a mut dyn FitObserver;

/// Runs the training loop of `task` on `net`.
///
/// Per batch: forward in training mode, the weighted loss ([`combine`]), backward, the
/// task's penalty, one optimiser step at the scheduled learning rate. The net's own loss
/// terms (BN†, [`Module::take_aux_loss`]) are added to the reported batch loss; their
/// gradients came with the backward pass. A batch is empty (no loss) only when it has
/// neither a weighted item loss nor such a term: under BN† an anomaly-free AnoOnly batch
/// still trains on `L_BN` (eq. 7). After each epoch the observer sees an [`EpochReport`];
/// when it asks to stop, the fit returns [`Interrupted`] (the net is then half-trained and
/// the caller drops it).
#[allow(clippy::too_many_arguments)]
pub fn fit<T: Task>(
    task: &mut T,
    net: &mut T::Net,
    optimizer: &mut dyn Optimizer,
    schedule: &Schedule,
    params: &TrainParams,
    rng: &mut Rng,
    observer: Observer<'_>,
) -> Result<TrainReport, Interrupted> {
    let weighting = params.weighting(task.reduction());
    let mut report = TrainReport::default();
    let mut best: Option<(f32, T::Net, usize)> = None;
    let mut sched_t = 0usize;
    for epoch in 0..schedule.epochs {
        let batches = task.epoch_batches(epoch, rng);
        let n_batches = batches.len();
        let mut loss_sum = 0.0f64;
        let mut loss_count = 0usize;
        let mut empty = 0usize;
        for batch in &batches {
            let (input, items) = task.input(batch);
            net.zero_grad();
            // The net owns the batch and the loss gradient (a layer keeps its input instead
            // of a copy); their buffers serve the next step (nn::pool).
            let out = net.forward_owned(input, Mode::Train);
            let aux = net.take_aux_loss();
            let bl = combine(task.loss(), &out, &items, &weighting);
            net.backward_owned(bl.grad, false);
            pool::recycle(out);
            let penalty = task.penalty(net);
            let lr = schedule.lr_schedule.lr(schedule.base_lr, sched_t);
            match sum_aux([bl.value, aux]) {
                Some(v) => {
                    loss_sum += f64::from(v + penalty);
                    loss_count += 1;
                    optimizer.step(net, lr);
                }
                None => {
                    empty += 1;
                    if params.empty_batch == EmptyBatch::Step {
                        optimizer.step(net, lr);
                    }
                }
            }
            report.steps += 1;
            if schedule.unit == ScheduleUnit::Batch {
                sched_t += 1;
            }
        }
        if schedule.unit == ScheduleUnit::Epoch {
            sched_t += 1;
        }
        let epoch_loss = (loss_count > 0).then(|| (loss_sum / loss_count as f64) as f32);
        report.epoch_losses.push(epoch_loss);
        report.empty_batches += empty;
        if schedule.checkpoint == Checkpoint::BestTrainLoss {
            if let Some(l) = epoch_loss {
                if best.as_ref().is_none_or(|(b, _, _)| l < *b) {
                    best = Some((l, net.clone(), epoch));
                }
            }
        }
        let epoch_report = EpochReport {
            stage: Stage::Train,
            epoch,
            epochs: schedule.epochs,
            loss: epoch_loss,
            empty_batches: empty,
            batches: n_batches,
        };
        if let Err(stop) = report_epoch(observer, &epoch_report) {
            // A stopped fit keeps no buffer on this thread either.
            net.clear_cache();
            pool::clear();
            return Err(stop);
        }
    }
    report.kept_epoch = schedule.epochs.saturating_sub(1);
    if let Some((_, kept, epoch)) = best {
        *net = kept;
        report.kept_epoch = epoch;
    }
    net.clear_cache();
    pool::clear();
    Ok(report)
}
