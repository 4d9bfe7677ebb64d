//! ADSD (Jiang et al., KDD 2023, "Anomaly Detection with Score Distribution Discrimination")
//! as its authors' code runs it (github `Minqi824/Overlap`, `baseline/ADSD`, the MLP
//! backbone its `run.py` evaluates; docs/protocol.md 3.4).
//!
//! **Network**: `Linear(d, 100) → ReLU → Linear(100, 20) → ReLU → Linear(20, 1) →
//! BatchNorm1d(1)`, biases everywhere, torch default init, torch BatchNorm (affine, eps 1e-5,
//! momentum 0.1) **on the one-dimensional score**, after the last layer. The score is that
//! BatchNorm's output with its running statistics.
//!
//! **Training**: batches of 128 unlabeled rows and 128 labeled anomalies (drawn with
//! replacement), the BatchNorm normalising the 256 scores together; the loss is the overlap
//! of the two score densities ([`overlap`]: Gaussian KDEs of bandwidth 1 on a 1,000-point
//! grid, the area beyond a randomly chosen intersection). Torch SGD (lr 1e-3, momentum 0.7,
//! weight decay 1e-2), 20 epochs, no early stopping, the last weights.
//!
//! **No AnoOnly variant**: the loss is one area over both densities, with no separate loss
//! on unlabeled rows for `lambda_n` to weigh, and the method already normalises with batch
//! statistics (on the score, after the last layer): it is a competitor. `--anoonly`,
//! `--lambda-n` and `--norm` are refused.
//!
//! **The authors' batches and their bugs** ([`AdsdCompat`]): their sampler reseeds every RNG
//! with the batch number, so the batches are fixed before training, the same in every epoch
//! and for every run seed; it uses each unlabeled row at most once and drops the last 128–255
//! of them; it makes no batch (and crashes) below 256 unlabeled rows; and the loss reseeds
//! every RNG from the epoch and step numbers before choosing the intersection. By default
//! ([`AdsdCompat::Fixed`]) every epoch draws fresh batches from the run's stream, covering
//! every unlabeled row once (the last batch completed with rows from the start of the
//! epoch's permutation), fewer than 128 unlabeled rows make one balanced batch of what there
//! is (with a note), and the intersection is drawn from the run's stream.
//! [`AdsdCompat::Official`] replicates the semantics (not numpy's streams): batches drawn
//! once from streams seeded by the batch number alone, reused every epoch, the leftover rows
//! unused, the intersection from a stream seeded by the epoch and step alone.
//!
//! This file is the method; its part [`overlap`] is the loss.

pub mod overlap;

use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2};
use rand::seq::SliceRandom;
use rand::Rng as _;
use serde::{Deserialize, Serialize};

use super::{FitError, Knobs, Method, MethodKind};
use crate::nn::{
    eval_matrix, eval_rows, gather_rows, pool, Activation, BatchNorm1d, Init, Layer, Linear, Mode,
    Module, NamedTensor, Optimizer, Sequential, Sgd, StateError,
};
use crate::rng::{component_rng, Rng};
use crate::train::{self, FitContext, TrainParams, TrainReport};
use crate::vocab::{count_in, hidden_widths, non_negative, positive, NormKind, ParamError};

/// Which batches and intersection draws: fixed (default) or the authors' semantics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdsdCompat {
    /// Fresh batches every epoch covering every unlabeled row, the intersection drawn from
    /// the run's stream; any number of unlabeled rows.
    #[default]
    Fixed,
    /// The authors' code: batches fixed before training and independent of the seed (each
    /// from a stream seeded by its number), reused every epoch, the leftover unlabeled rows
    /// unused, at least `batch_size` unlabeled rows needed; the intersection from a stream
    /// seeded by the Cantor pairing of epoch and step.
    Official,
}

/// ADSD hyperparameters; defaults are the authors' (`baseline/ADSD/run.py`, MLP).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdsdParams {
    /// Hidden widths, ReLU after each (authors: 100, 20).
    pub hidden: Vec<usize>,
    /// SGD learning rate.
    pub lr: f32,
    /// SGD momentum.
    pub momentum: f32,
    /// L2 weight decay added to the gradient (torch SGD), on every parameter.
    pub weight_decay: f32,
    pub epochs: usize,
    /// Rows per batch, an even number: half unlabeled rows, half labeled anomalies.
    pub batch_size: usize,
    /// KDE bandwidth of the unlabeled scores.
    pub bw_u: f32,
    /// KDE bandwidth of the anomaly scores.
    pub bw_a: f32,
    /// Points of the grid the densities are integrated on.
    pub grid_points: usize,
    /// Epsilon of the score's BatchNorm (torch default).
    pub bn_eps: f32,
    pub compat: AdsdCompat,
}

impl Default for AdsdParams {
    fn default() -> Self {
        AdsdParams {
            hidden: vec![100, 20],
            lr: 1e-3,
            momentum: 0.7,
            weight_decay: 1e-2,
            epochs: 20,
            batch_size: 256,
            bw_u: 1.0,
            bw_a: 1.0,
            grid_points: 1000,
            bn_eps: 1e-5,
            compat: AdsdCompat::Fixed,
        }
    }
}

impl AdsdParams {
    pub fn validate(&self) -> Result<(), ParamError> {
        hidden_widths("hidden", &self.hidden)?;
        positive("lr", self.lr)?;
        if !(self.momentum.is_finite() && (0.0..1.0).contains(&self.momentum)) {
            return Err(ParamError::new(
                "momentum",
                self.momentum,
                "must lie in [0, 1)",
            ));
        }
        non_negative("weight_decay", self.weight_decay)?;
        count_in("epochs", self.epochs, 1, 1_000_000)?;
        if self.batch_size < 2 || !self.batch_size.is_multiple_of(2) || self.batch_size > 1 << 20 {
            return Err(ParamError::new(
                "batch_size",
                self.batch_size,
                "must be an even number in 2..=1048576 (half unlabeled rows, half labeled anomalies)",
            ));
        }
        positive("bw_u", self.bw_u)?;
        positive("bw_a", self.bw_a)?;
        count_in("grid_points", self.grid_points, 2, 1_000_000)?;
        positive("bn_eps", self.bn_eps)?;
        Ok(())
    }

    /// Rows of each kind in a batch.
    pub fn half(&self) -> usize {
        self.batch_size / 2
    }

    /// The network on `d` features, drawing each layer's weight then bias in forward order.
    pub fn network(&self, d: usize, rng: &mut Rng) -> Sequential {
        let mut layers = Vec::new();
        let mut width = d;
        for &h in &self.hidden {
            layers.push(Linear::new(width, h, true, Init::TorchDefault, rng).into());
            layers.push(Activation::Relu.into());
            width = h;
        }
        layers.push(Linear::new(width, 1, true, Init::TorchDefault, rng).into());
        layers.push(BatchNorm1d::torch(1, self.bn_eps, true).into());
        Sequential::new(layers)
    }
}

/// `0.5 (a + b)(a + b + 1) + b`, the authors' `Utils.unique` (Cantor pairing).
pub fn cantor(a: u64, b: u64) -> u64 {
    (a + b) * (a + b + 1) / 2 + b
}

/// One batch: unlabeled row indices, then labeled-anomaly row indices.
pub type Batch = (Vec<u32>, Vec<u32>);

/// The batches of one epoch by default ([`AdsdCompat::Fixed`]): a fresh permutation of the
/// unlabeled rows cut into `ceil(n_u / half)` batches of `half`, the last one completed
/// cyclically from the permutation's start (every row used, every batch balanced), each
/// with `half` anomalies drawn with replacement. Fewer than `half` unlabeled rows: one batch
/// of all of them and as many anomalies.
pub fn fresh_batches(
    unlabeled: &[u32],
    anomalies: &[u32],
    half: usize,
    rng: &mut Rng,
) -> Vec<Batch> {
    let mut perm = unlabeled.to_vec();
    perm.shuffle(rng);
    let n_u = perm.len();
    let per = half.min(n_u);
    let count = n_u.div_ceil(per);
    (0..count)
        .map(|k| {
            let u: Vec<u32> = (0..per).map(|t| perm[(k * per + t) % n_u]).collect();
            let a: Vec<u32> = (0..per)
                .map(|_| anomalies[rng.gen_range(0..anomalies.len())])
                .collect();
            (u, a)
        })
        .collect()
}

/// The authors' batches ([`AdsdCompat::Official`]): while at least `2 half` unlabeled rows
/// remain, batch `n` draws `half` of them without replacement (removed from the pool, which
/// stays in row order as numpy's `setdiff1d` keeps it) and `half` anomalies with
/// replacement, from a stream seeded by `n` alone. Empty below `2 half` unlabeled rows.
pub fn official_batches(unlabeled: &[u32], anomalies: &[u32], half: usize) -> Vec<Batch> {
    let mut pool_u = unlabeled.to_vec();
    let mut out = Vec::new();
    let mut n = 0u64;
    while pool_u.len() >= 2 * half {
        let mut rng = component_rng(n, "adsd-official-batch");
        let picked = rand::seq::index::sample(&mut rng, pool_u.len(), half).into_vec();
        let u: Vec<u32> = picked.iter().map(|&i| pool_u[i]).collect();
        let mut keep = vec![true; pool_u.len()];
        for &i in &picked {
            keep[i] = false;
        }
        let mut it = keep.iter();
        pool_u.retain(|_| *it.next().unwrap_or(&true));
        let a: Vec<u32> = (0..half)
            .map(|_| anomalies[rng.gen_range(0..anomalies.len())])
            .collect();
        out.push((u, a));
        n += 1;
    }
    out
}

/// A fitted ADSD model.
#[derive(Clone, Debug)]
pub struct FittedAdsd {
    pub net: Sequential,
}

impl FittedAdsd {
    /// The features the last Linear reads (the last hidden layer's ReLU output).
    fn features(&self, x: ArrayView2<f32>) -> Array2<f32> {
        let upto = self.net.layers.len() - 2;
        let width = self.hidden_width();
        let mut body = Sequential::new(self.net.layers[..upto].to_vec());
        eval_matrix(x, width, |chunk| body.forward(chunk, Mode::Eval))
    }

    /// The last hidden width (the input width of the last Linear).
    fn hidden_width(&self) -> usize {
        match &self.net.layers[self.net.layers.len() - 2] {
            Layer::Linear(l) => l.d_in(),
            _ => 0,
        }
    }
}

impl Method for FittedAdsd {
    type Params = AdsdParams;
    const NAME: &'static str = "adsd";
    const DISPLAY_NAME: &'static str = "ADSD";
    const SUMMARY: &'static str =
        "ADSD (Jiang et al., KDD 2023, the Overlap paper): an MLP whose one-dimensional score \
         passes a BatchNorm, trained to minimise the overlap of the kernel density estimates of \
         the unlabeled and the anomaly scores of each batch. A competitor without an AnoOnly \
         variant (`anoonly=True` is refused): its loss is one area over both densities, with no \
         separate loss on unlabeled rows, and its BatchNorm on the score is the closest prior use \
         of batch statistics in semi-supervised anomaly detection.";
    const SUPPORTS_ANOONLY: bool = false;
    /// None before the last layer (its BatchNorm is after it, on the score).
    const OWN_NORM: NormKind = NormKind::None;
    /// The anomaly density needs labeled anomalies.
    const TRAINS_WITHOUT_ANOMALIES: bool = false;

    fn knobs(p: &mut AdsdParams) -> Knobs<'_> {
        Knobs::new(&mut p.epochs, &mut p.batch_size)
    }

    fn layer_widths(p: &AdsdParams, n_features: usize) -> Vec<(&'static str, usize)> {
        let mut w = vec![("n_features", n_features)];
        w.extend(p.hidden.iter().map(|&h| ("hidden", h)));
        w
    }

    /// 20 passes over the unlabeled rows, twice their number in rows, plus the KDE.
    fn relative_cost(n_rows: usize) -> f64 {
        0.5 * super::rows_in_thousands(n_rows)
    }

    fn validate(params: &AdsdParams) -> Result<(), ParamError> {
        params.validate()
    }

    fn fit(
        params: &AdsdParams,
        train_params: &TrainParams,
        x: ArrayView2<f32>,
        y: ArrayView1<u8>,
        ctx: FitContext<'_>,
    ) -> Result<(Self, TrainReport), FitError> {
        let observer = ctx.observer;
        let unlabeled = train::rows_labeled(y, 0);
        let anomalies = train::rows_labeled(y, 1);
        if anomalies.is_empty() {
            return Err(FitError::NoLabeledAnomaly {
                method: MethodKind::Adsd,
            });
        }
        let half = params.half();
        let needed = match params.compat {
            AdsdCompat::Fixed => 1,
            AdsdCompat::Official => params.batch_size,
        };
        if unlabeled.len() < needed {
            return Err(FitError::TooFewUnlabeled {
                method: MethodKind::Adsd,
                found: unlabeled.len(),
                needed,
            });
        }
        let mut report = TrainReport::default();
        if params.compat == AdsdCompat::Fixed && unlabeled.len() < params.batch_size {
            report.notes.push(format!(
                "adsd: {} unlabeled training rows, fewer than batch_size = {}: the authors' sampler would make no batch (and crash); each epoch trained on {}",
                unlabeled.len(),
                params.batch_size,
                if unlabeled.len() < half {
                    format!("one batch of all {0} unlabeled rows and {0} labeled anomalies", unlabeled.len())
                } else {
                    format!("{} batches of {half} unlabeled rows and {half} labeled anomalies", unlabeled.len().div_ceil(half))
                }
            ));
        }
        let seed = train_params.seed;
        let mut net = params.network(x.ncols(), &mut component_rng(seed, "init"));
        let mut sampler = component_rng(seed, "sampler");
        let mut chooser = component_rng(seed, "intersection");
        let official = match params.compat {
            AdsdCompat::Official => Some(official_batches(&unlabeled, &anomalies, half)),
            AdsdCompat::Fixed => None,
        };
        let mut opt = Sgd::torch_with_decay(params.momentum, params.weight_decay);
        let bw = (f64::from(params.bw_u), f64::from(params.bw_a));
        for epoch in 0..params.epochs {
            let batches = match &official {
                Some(b) => b.clone(),
                None => fresh_batches(&unlabeled, &anomalies, half, &mut sampler),
            };
            let mut sum = 0.0f64;
            for (i, (u, a)) in batches.iter().enumerate() {
                let rows: Vec<u32> = u.iter().chain(a).copied().collect();
                let input = gather_rows(x, &rows);
                net.zero_grad();
                let out = net.forward(&input, Mode::Train);
                pool::recycle(input);
                let s_u: Vec<f32> = out.slice(s![..u.len(), 0]).to_vec();
                let s_a: Vec<f32> = out.slice(s![u.len().., 0]).to_vec();
                let loss = match params.compat {
                    AdsdCompat::Fixed => {
                        overlap::overlap(&s_u, &s_a, bw, params.grid_points, |n| {
                            chooser.gen_range(0..n)
                        })
                    }
                    AdsdCompat::Official => {
                        overlap::overlap(&s_u, &s_a, bw, params.grid_points, |n| {
                            let pair = cantor(epoch as u64, i as u64);
                            component_rng(pair, "adsd-official-intersection").gen_range(0..n)
                        })
                    }
                };
                let mut grad = pool::zeros(out.nrows(), 1);
                for (g, v) in grad.iter_mut().zip(loss.grad_u.iter().chain(&loss.grad_a)) {
                    *g = *v;
                }
                pool::recycle(out);
                net.backward(&grad, false);
                pool::recycle(grad);
                opt.step(&mut net, params.lr);
                sum += loss.value;
                report.steps += 1;
            }
            let loss = Some((sum / batches.len().max(1) as f64) as f32);
            train::own_loop_epoch(
                observer,
                &mut report,
                &mut net,
                (epoch, params.epochs),
                loss,
                batches.len(),
            )?;
        }
        train::own_loop_end(&mut report, &mut net, params.epochs);
        Ok((FittedAdsd { net }, report))
    }

    fn decision_function(&self, x: ArrayView2<f32>) -> Array1<f32> {
        eval_rows(&self.net, x, |r| r[0])
    }

    fn representation(&self, x: ArrayView2<f32>) -> Option<Array2<f32>> {
        Some(self.features(x))
    }

    fn state(&self, out: &mut Vec<NamedTensor>) {
        self.net.state("net.", out);
    }

    fn from_state(
        params: &AdsdParams,
        _train: &TrainParams,
        n_features: usize,
        tensors: &[NamedTensor],
    ) -> Result<Self, StateError> {
        let mut net = params.network(n_features, &mut component_rng(0, "load"));
        net.load_state("net.", tensors)?;
        Ok(FittedAdsd { net })
    }
}
