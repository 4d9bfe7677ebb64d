//! PReNet (Pang et al. 2023, "Deep Weakly-supervised Anomaly Detection") as the AnoOnly
//! authors' code runs it (docs/protocol.md 2.4; `baselines/PReNet/{run,model,fit,utils}.py`).
//!
//! A pair network scores two rows at once: a shared feature branch
//! `φ = Linear(d→20, bias) → ReLU → [norm]` runs separately on the left and the right row
//! and `f(l, r) = Linear(40→1, bias)(φ(l) ‖ φ(r))`. The vanilla method has no norm; AnoOnly
//! adds a torch `BatchNorm1d(20, eps 1e-5, affine)` ([`head_norm`] with the method default
//! [`NormKind::None`]). The two branch calls are two forwards of the same layers: in
//! training BatchNorm normalises each half with its own batch statistics and updates its
//! running statistics twice per step (left first).
//!
//! Training (per batch of 512 pairs, 20 batches per epoch, 50 epochs): 128 (a,a) pairs of two
//! independent labeled-anomaly draws with replacement (target 8), 128 (a,u) pairs with the
//! anomaly on the left and unlabeled rows drawn without replacement (target 4), 256 (u,u)
//! pairs from two independent draws without replacement (target 0), then one random
//! permutation. `L_N = |0 − f|` on (u,u) pairs, `L_A = |target − f|` on the others,
//! [`Reduction::WeightedMean`]: the mean over the 512 pairs (vanilla) or over the 256
//! non-(u,u) pairs (AnoOnly), as the authors' code. Torch RMSprop (lr 1e-3, weight decay
//! 1e-2 as L2), cosine annealing to 1e-5 over the epochs, stepped per epoch; the last
//! weights are kept.
//!
//! Scoring (`predict_score(X, num=30)`, eval mode): for a row `x`, 30 labeled anomalies
//! `a_k` and 30 unlabeled training rows `u_k` drawn with replacement, and
//! `score(x) = mean_k [ f(a_k, x) + f(x, u_k) ]`.
//!
//! Departures from the authors' code, all deliberate:
//! - Randomness comes from this crate's streams: the authors reseed numpy per batch part
//!   with a Cantor pairing of (epoch, batch, part) — so their training batches do not depend
//!   on the run seed — and draw the scoring references from the global numpy stream. Here
//!   the batches come from `component_rng(seed, "sampler")`.
//! - The scoring draws of a row are seeded from the model seed and the row's bits (not its
//!   position), so a row scores the same alone, in any batch and in any chunking, while
//!   different rows still get independent reference draws as in the authors' loop. Two rows
//!   with identical bits get identical scores (the authors' would differ by draw noise).
//! - Scoring uses that the last layer is linear: `f(l, r) = w_L·φ(l) + w_R·φ(r) + b`, so
//!   the 60 pair forwards of a row reduce to one feature forward of the row plus
//!   precomputed `w_L·φ(a)` and `w_R·φ(u)` of the reference pools: equal to the literal
//!   pair forwards up to float rounding (checked in the tests), and ~60× cheaper.
//! - The fitted model keeps the whole reference pools: every labeled anomaly and every
//!   unlabeled training row (the authors index into the full training set too), saved in
//!   model files as `ref_anomalies` and `ref_unlabeled`.

use ndarray::{concatenate, s, Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, Axis};
use rand::seq::SliceRandom;
use rand::{Rng as _, SeedableRng};
use serde::{Deserialize, Serialize};

use super::{FitError, Knobs, Method, MethodKind};
use crate::nn::{
    pool, Activation, ActivationLayer, Init, Linear, LrSchedule, Matrix, Mode, Module, NamedTensor,
    ParamMut, RmsProp, Sequential, StateError,
};
use crate::rng::{component_rng, sub_seed, Rng};
use crate::train::{
    self, head_norm, norm_layer, Checkpoint, FitContext, HeadNorm, Item, NormFlavour, Reduction,
    Schedule, ScheduleUnit, SsadLoss, Task, TrainParams, TrainReport,
};
use crate::vocab::tensor::{load_rows, mat_tensor};
use crate::vocab::{count_in, non_negative, positive, NormKind, ParamError};

/// PReNet hyperparameters; defaults are the authors' code (docs/protocol.md 2.4).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PReNetParams {
    /// Width of the shared feature branch (authors: 20).
    pub hidden: usize,
    /// RMSprop learning rate at the start of the cosine schedule.
    pub lr: f32,
    /// L2 weight decay added to the gradient (torch RMSprop), on every parameter.
    pub weight_decay: f32,
    /// Epochs; also the cosine schedule's `T_max` (authors: `T_max=self.epochs`).
    pub epochs: usize,
    /// Batches per epoch (authors: `batch_num=20`).
    pub batches_per_epoch: usize,
    /// Pairs per batch, a multiple of 4: a quarter (a,a), a quarter (a,u), half (u,u).
    pub batch_size: usize,
    /// Target of (a,a) pairs (authors: 8).
    pub target_aa: f32,
    /// Target of (a,u) pairs (authors: 4). (u,u) pairs have target 0.
    pub target_au: f32,
    /// Final learning rate of the cosine schedule.
    pub eta_min: f32,
    /// Reference draws per test row from each pool (authors: `num=30`).
    pub n_ref: usize,
    /// BatchNorm epsilon (torch default).
    pub bn_eps: f32,
}

impl Default for PReNetParams {
    fn default() -> Self {
        PReNetParams {
            hidden: 20,
            lr: 1e-3,
            weight_decay: 1e-2,
            epochs: 50,
            batches_per_epoch: 20,
            batch_size: 512,
            target_aa: 8.0,
            target_au: 4.0,
            eta_min: 1e-5,
            n_ref: 30,
            bn_eps: 1e-5,
        }
    }
}

impl PReNetParams {
    pub fn validate(&self) -> Result<(), ParamError> {
        count_in("hidden", self.hidden, 1, usize::MAX)?;
        positive("lr", self.lr)?;
        non_negative("weight_decay", self.weight_decay)?;
        count_in("epochs", self.epochs, 1, 1_000_000)?;
        count_in("batches_per_epoch", self.batches_per_epoch, 1, usize::MAX)?;
        if self.batch_size < 4 || self.batch_size % 4 != 0 {
            return Err(ParamError::new(
                "batch_size",
                self.batch_size,
                "must be a positive multiple of 4 (a quarter (a,a), a quarter (a,u), half (u,u) pairs)",
            ));
        }
        for (field, v) in [("target_aa", self.target_aa), ("target_au", self.target_au)] {
            if !v.is_finite() {
                return Err(ParamError::new(field, v, "must be finite"));
            }
        }
        non_negative("eta_min", self.eta_min)?;
        count_in("n_ref", self.n_ref, 1, usize::MAX)?;
        positive("bn_eps", self.bn_eps)?;
        Ok(())
    }

    /// Unlabeled rows the authors' sampler needs: the (u,u) half of a batch is drawn
    /// without replacement. A fit on fewer draws them with replacement and says so.
    pub fn needed_unlabeled(&self) -> usize {
        self.batch_size / 2
    }

    /// The pair network for `d_in` features per row; `norm` ends the feature branch.
    pub fn network(&self, d_in: usize, norm: impl Into<HeadNorm>, rng: &mut Rng) -> PairNet {
        PairNet::new(d_in, self.hidden, norm, self.bn_eps, rng)
    }
}

/// The pair network as one [`Module`] on `[x_left | x_right]` (`b × 2d`), so that the
/// training core drives it like any other net. Output `b × 1`.
///
/// Parameters are visited in torch's order (`feature.0.weight`, `feature.0.bias`, the norm's
/// `weight`/`bias`, `reg.weight`, `reg.bias`); state names are torch's state-dict names.
#[derive(Clone, Debug)]
pub struct PairNet {
    /// Shared branch `Linear(d→h) → ReLU → [norm]`.
    pub feature: Sequential,
    /// `Linear(2h→1)`; its first `h` weights act on the left row.
    pub reg: Linear,
    d: usize,
}

impl PairNet {
    /// Draws the branch's linear layer, then the score layer (torch default init).
    pub fn new(
        d: usize,
        hidden: usize,
        norm: impl Into<HeadNorm>,
        bn_eps: f32,
        rng: &mut Rng,
    ) -> PairNet {
        let mut layers = vec![
            Linear::new(d, hidden, true, Init::TorchDefault, rng).into(),
            ActivationLayer::new(Activation::Relu).into(),
        ];
        layers.extend(norm_layer(norm, hidden, NormFlavour::Torch { bn_eps }));
        let reg = Linear::new(2 * hidden, 1, true, Init::TorchDefault, rng);
        PairNet {
            feature: Sequential::new(layers),
            reg,
            d,
        }
    }

    /// Features per row (the input has twice as many columns).
    pub fn d_in(&self) -> usize {
        self.d
    }

    fn hidden(&self) -> usize {
        self.reg.d_in() / 2
    }

    /// `[left | right]` as one pair input.
    pub fn pair_input(left: ArrayView2<f32>, right: ArrayView2<f32>) -> Matrix {
        concatenate![Axis(1), left, right]
    }

    /// The branch φ of `x` in inference mode.
    pub fn features(&self, x: ArrayView2<f32>) -> Matrix {
        self.feature.clone().forward(&x.to_owned(), Mode::Eval)
    }
}

impl Module for PairNet {
    fn forward(&mut self, x: &Matrix, mode: Mode) -> Matrix {
        assert_eq!(
            x.ncols(),
            2 * self.d,
            "PairNet input must be [left | right]"
        );
        let left = columns(x, 0, self.d);
        let right = columns(x, self.d, self.d);
        let fl = self.feature.forward(&left, mode);
        let fr = self.feature.forward(&right, mode);
        pool::recycle(left);
        pool::recycle(right);
        let h = concatenate![Axis(1), fl, fr];
        self.reg.forward(&h, mode)
    }

    /// Reverse order of the forwards: the score layer, the right branch call, the left one.
    fn backward(&mut self, grad_out: &Matrix, need_input_grad: bool) -> Option<Matrix> {
        let h = self.hidden();
        let gh = self
            .reg
            .backward(grad_out, true)
            .expect("Linear returns the input gradient when asked");
        let gl = gh.slice(s![.., ..h]).to_owned();
        let gr = gh.slice(s![.., h..]).to_owned();
        let dr = self.feature.backward(&gr, need_input_grad);
        let dl = self.feature.backward(&gl, need_input_grad);
        match (dl, dr) {
            (Some(dl), Some(dr)) => Some(concatenate![Axis(1), dl, dr]),
            _ => None,
        }
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(ParamMut<'_>)) {
        self.feature.visit_params(f);
        self.reg.visit_params(f);
    }

    fn zero_grad(&mut self) {
        self.feature.zero_grad();
        self.reg.zero_grad();
    }

    fn clear_cache(&mut self) {
        self.feature.clear_cache();
        self.reg.clear_cache();
    }

    fn state(&self, prefix: &str, out: &mut Vec<NamedTensor>) {
        self.feature.state(&format!("{prefix}feature."), out);
        self.reg.state(&format!("{prefix}reg."), out);
    }

    /// All or nothing.
    fn load_state(&mut self, prefix: &str, tensors: &[NamedTensor]) -> Result<(), StateError> {
        let mut feature = self.feature.clone();
        let mut reg = self.reg.clone();
        feature.load_state(&format!("{prefix}feature."), tensors)?;
        reg.load_state(&format!("{prefix}reg."), tensors)?;
        self.feature = feature;
        self.reg = reg;
        Ok(())
    }

    /// The BN† terms of both branch calls (each half of the pair batch is its own batch for
    /// the norm, as for BatchNorm).
    fn take_aux_loss(&mut self) -> Option<f32> {
        self.feature.take_aux_loss()
    }
}

/// Columns `start..start + n` of `x` as a new matrix, copied row by row (a column slice
/// of a row-major matrix is not contiguous; `to_owned` on it goes element by element).
fn columns(x: &Matrix, start: usize, n: usize) -> Matrix {
    pool::gather(x.view(), 0..x.nrows(), start..start + n)
}

/// Which kind of pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PairKind {
    /// Two labeled anomalies.
    AnomalyAnomaly,
    /// Labeled anomaly on the left, unlabeled row on the right.
    AnomalyUnlabeled,
    /// Two unlabeled rows.
    UnlabeledUnlabeled,
}

/// One training pair: training-row indices and the regression target.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pair {
    pub left: usize,
    pub right: usize,
    pub kind: PairKind,
    pub target: f32,
}

/// One batch of pairs, drawn as the authors' `sampler_pairs` does (docs/protocol.md 2.4):
/// parts A0, A1, A2 (`batch/4` anomalies each, with replacement), U3 (`batch/4` unlabeled,
/// without replacement), U4, U5 (`batch/2` unlabeled each, without replacement);
/// left = [A0, A2, U4], right = [A1, U3, U5]; then one permutation of the pairs.
///
/// With `replace_unlabeled` the three unlabeled parts are drawn with replacement instead,
/// as DeepOD's PReNet draws every pair (for training sets with fewer than `batch/2`
/// unlabeled rows, where the authors' draw is impossible; see [`FittedPReNet`]'s `fit`).
///
/// # Panics
/// If `anomalies` or `unlabeled` is empty, or `unlabeled` has fewer than `batch_size / 2`
/// rows without `replace_unlabeled` (the fit checks first).
pub fn sample_pairs(
    anomalies: &[usize],
    unlabeled: &[usize],
    batch_size: usize,
    target_aa: f32,
    target_au: f32,
    replace_unlabeled: bool,
    rng: &mut Rng,
) -> Vec<Pair> {
    let q = batch_size / 4;
    let h = batch_size / 2;
    assert!(!anomalies.is_empty(), "PReNet needs a labeled anomaly");
    assert!(!unlabeled.is_empty(), "PReNet needs an unlabeled row");
    assert!(
        replace_unlabeled || unlabeled.len() >= h,
        "PReNet needs batch_size/2 unlabeled rows to draw them without replacement"
    );
    let with_replacement = |pool: &[usize], n: usize, rng: &mut Rng| -> Vec<usize> {
        (0..n).map(|_| pool[rng.gen_range(0..pool.len())]).collect()
    };
    let without_replacement = |pool: &[usize], n: usize, rng: &mut Rng| -> Vec<usize> {
        rand::seq::index::sample(rng, pool.len(), n)
            .into_iter()
            .map(|i| pool[i])
            .collect()
    };
    let a0 = with_replacement(anomalies, q, rng);
    let a1 = with_replacement(anomalies, q, rng);
    let a2 = with_replacement(anomalies, q, rng);
    let draw_unlabeled = if replace_unlabeled {
        with_replacement
    } else {
        without_replacement
    };
    let u3 = draw_unlabeled(unlabeled, q, rng);
    let u4 = draw_unlabeled(unlabeled, h, rng);
    let u5 = draw_unlabeled(unlabeled, h, rng);
    let mut pairs = Vec::with_capacity(batch_size);
    let mut push = |l: &[usize], r: &[usize], kind: PairKind, target: f32| {
        for (&left, &right) in l.iter().zip(r) {
            pairs.push(Pair {
                left,
                right,
                kind,
                target,
            });
        }
    };
    push(&a0, &a1, PairKind::AnomalyAnomaly, target_aa);
    push(&a2, &u3, PairKind::AnomalyUnlabeled, target_au);
    push(&u4, &u5, PairKind::UnlabeledUnlabeled, 0.0);
    pairs.shuffle(rng);
    pairs
}

/// PReNet's L1 losses on a pair score: `L_N = |0 − f|` for (u,u) pairs, `L_A = |t − f|`
/// with the pair's target `t` ([`Item::target`]) for the others. The gradient at a tie is
/// 0, as torch's `abs` backward (`sign(0) = 0`).
#[derive(Clone, Copy, Debug, Default)]
pub struct PReNetLoss;

fn l1(target: f32, out: ArrayView1<f32>, mut grad: ArrayViewMut1<f32>) -> f32 {
    let r = out[0] - target;
    grad[0] = if r > 0.0 {
        1.0
    } else if r < 0.0 {
        -1.0
    } else {
        0.0
    };
    r.abs()
}

impl SsadLoss for PReNetLoss {
    fn normal(&self, item: Item, out: ArrayView1<f32>, grad: ArrayViewMut1<f32>) -> f32 {
        l1(item.target, out, grad)
    }

    fn anomaly(&self, item: Item, out: ArrayView1<f32>, grad: ArrayViewMut1<f32>) -> f32 {
        l1(item.target, out, grad)
    }
}

/// The training task: `batches_per_epoch` freshly sampled pair batches per epoch.
struct PReNetTask<'a> {
    x: ArrayView2<'a, f32>,
    anomalies: Vec<usize>,
    unlabeled: Vec<usize>,
    /// Fewer than `batch_size / 2` unlabeled rows: drawn with replacement.
    replace_unlabeled: bool,
    params: PReNetParams,
    loss: PReNetLoss,
}

impl Task for PReNetTask<'_> {
    type Net = PairNet;
    type Batch = Vec<Pair>;

    fn epoch_batches(&mut self, _epoch: usize, rng: &mut Rng) -> Vec<Vec<Pair>> {
        let p = &self.params;
        (0..p.batches_per_epoch)
            .map(|_| {
                sample_pairs(
                    &self.anomalies,
                    &self.unlabeled,
                    p.batch_size,
                    p.target_aa,
                    p.target_au,
                    self.replace_unlabeled,
                    rng,
                )
            })
            .collect()
    }

    fn input(&self, batch: &Vec<Pair>) -> (Matrix, Vec<Item>) {
        pair_batch(self.x, batch)
    }

    fn loss(&self) -> &dyn SsadLoss {
        &self.loss
    }

    fn reduction(&self) -> Reduction {
        Reduction::WeightedMean
    }
}

/// The pair net's input `[x_left | x_right]` for `pairs` and their loss items ((u,u) pairs
/// carry `L_N`, the others `L_A`).
pub fn pair_batch(x: ArrayView2<f32>, pairs: &[Pair]) -> (Matrix, Vec<Item>) {
    let d = x.ncols();
    // Written row by row into a reused buffer (no zero fill first: it is all overwritten).
    let mut values = pool::vec_with_capacity(pairs.len() * 2 * d);
    let mut items = Vec::with_capacity(pairs.len());
    for (i, p) in pairs.iter().enumerate() {
        for r in [p.left, p.right] {
            let row = x.row(r);
            match row.as_slice() {
                Some(s) => values.extend_from_slice(s),
                None => values.extend(row.iter().copied()),
            }
        }
        items.push(Item {
            index: i,
            anomaly: p.kind != PairKind::UnlabeledUnlabeled,
            target: p.target,
        });
    }
    let input = Matrix::from_shape_vec((pairs.len(), 2 * d), values).expect("2d values a pair");
    (input, items)
}

/// A fitted PReNet: the pair net, the reference pools and the scoring seed.
#[derive(Clone, Debug)]
pub struct FittedPReNet {
    pub net: PairNet,
    /// Every labeled anomaly of the training set (`k × d`).
    pub ref_anomalies: Array2<f32>,
    /// Every unlabeled training row (`m × d`).
    pub ref_unlabeled: Array2<f32>,
    /// Draws per pool and test row.
    pub n_ref: usize,
    /// The run seed; the scoring draws derive from it.
    pub seed: u64,
    /// `w_L·φ(a)` per reference anomaly (cached, recomputed on load).
    left_anomaly: Array1<f32>,
    /// `w_R·φ(u)` per unlabeled reference row (cached, recomputed on load).
    right_unlabeled: Array1<f32>,
}

/// Rows per feature forward at inference (memory bound only: eval mode is row-wise).
const SCORE_CHUNK: usize = 4096;

/// `Σ_j w_j φ_j` for each row of `phi`, accumulated in order.
fn dot_rows(phi: &Matrix, w: ArrayView1<f32>) -> Array1<f32> {
    phi.outer_iter()
        .map(|r| {
            r.iter()
                .zip(w.iter())
                .fold(0.0f32, |acc, (a, b)| acc + a * b)
        })
        .collect()
}

/// SplitMix64 finaliser.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The seed of one row's scoring draws: the model's scoring stream and the row's bits.
pub fn row_seed(score_seed: u64, row: ArrayView1<f32>) -> u64 {
    let mut h = score_seed;
    for v in row {
        h = mix(h ^ u64::from(v.to_bits()));
    }
    mix(h ^ row.len() as u64)
}

impl FittedPReNet {
    fn new(
        net: PairNet,
        ref_anomalies: Array2<f32>,
        ref_unlabeled: Array2<f32>,
        n_ref: usize,
        seed: u64,
    ) -> FittedPReNet {
        let h = net.hidden();
        let w = net.reg.weight.row(0).to_owned();
        let left_anomaly = dot_rows(&net.features(ref_anomalies.view()), w.slice(s![..h]));
        let right_unlabeled = dot_rows(&net.features(ref_unlabeled.view()), w.slice(s![h..]));
        FittedPReNet {
            net,
            ref_anomalies,
            ref_unlabeled,
            n_ref,
            seed,
            left_anomaly,
            right_unlabeled,
        }
    }

    /// The reference rows drawn for test row `row`: `n_ref` anomaly indices then `n_ref`
    /// unlabeled indices (into the pools), with replacement.
    pub fn reference_draws(&self, row: ArrayView1<f32>) -> (Vec<usize>, Vec<usize>) {
        let mut rng = Rng::seed_from_u64(row_seed(sub_seed(self.seed, "score"), row));
        let k = self.ref_anomalies.nrows();
        let m = self.ref_unlabeled.nrows();
        let a = (0..self.n_ref).map(|_| rng.gen_range(0..k)).collect();
        let u = (0..self.n_ref).map(|_| rng.gen_range(0..m)).collect();
        (a, u)
    }

    /// `mean_k [ f(a_k, x) + f(x, u_k) ]` per row (BatchNorm in inference mode).
    pub fn scores(&self, x: ArrayView2<f32>) -> Array1<f32> {
        let h = self.net.hidden();
        let w = self.net.reg.weight.row(0);
        let b = self.net.reg.bias.as_ref().map_or(0.0, |b| b[0]);
        let (wl, wr) = (w.slice(s![..h]), w.slice(s![h..]));
        let mut scores = Array1::<f32>::zeros(x.nrows());
        let mut start = 0;
        while start < x.nrows() {
            let end = (start + SCORE_CHUNK).min(x.nrows());
            let phi = self.net.features(x.slice(s![start..end, ..]));
            let x_right = dot_rows(&phi, wr);
            let x_left = dot_rows(&phi, wl);
            for i in start..end {
                let (ia, iu) = self.reference_draws(x.row(i));
                let mut sum = 0.0f32;
                for (&a, &u) in ia.iter().zip(&iu) {
                    // f(a, x) + f(x, u) with f(l, r) = w_L·φ(l) + w_R·φ(r) + b.
                    sum += (self.left_anomaly[a] + x_right[i - start] + b)
                        + (x_left[i - start] + self.right_unlabeled[u] + b);
                }
                scores[i] = sum / self.n_ref as f32;
            }
            start = end;
        }
        scores
    }

    /// The same scores from the literal pair forwards (60 pair rows per test row), for
    /// checking [`FittedPReNet::scores`]; slow.
    pub fn scores_by_pair_forwards(&self, x: ArrayView2<f32>) -> Array1<f32> {
        let mut net = self.net.clone();
        x.outer_iter()
            .map(|row| {
                let (ia, iu) = self.reference_draws(row);
                let xs = row
                    .broadcast((self.n_ref, row.len()))
                    .expect("row broadcasts")
                    .to_owned();
                let a = self.ref_anomalies.select(Axis(0), &ia);
                let u = self.ref_unlabeled.select(Axis(0), &iu);
                let s_ax = net.forward(&PairNet::pair_input(a.view(), xs.view()), Mode::Eval);
                let s_xu = net.forward(&PairNet::pair_input(xs.view(), u.view()), Mode::Eval);
                (&s_ax + &s_xu).sum() / self.n_ref as f32
            })
            .collect()
    }
}

impl Method for FittedPReNet {
    type Params = PReNetParams;
    const NAME: &'static str = "prenet";
    const SUPPORTS_ANOONLY: bool = true;
    /// None (AnoOnly ends the feature branch with a torch BatchNorm).
    const OWN_NORM: NormKind = NormKind::None;
    /// Its (a,a) and (a,u) pairs need labeled anomalies.
    const TRAINS_WITHOUT_ANOMALIES: bool = false;

    fn knobs(p: &mut PReNetParams) -> Knobs<'_> {
        Knobs::new(&mut p.epochs, &mut p.batch_size)
    }

    fn layer_widths(p: &PReNetParams, n_features: usize) -> Vec<(&'static str, usize)> {
        vec![("n_features", n_features), ("hidden", p.hidden)]
    }

    fn relative_cost(n_rows: usize) -> f64 {
        2.0 * super::rows_in_thousands(n_rows)
    }

    fn validate(params: &PReNetParams) -> Result<(), ParamError> {
        params.validate()
    }

    fn fit(
        params: &PReNetParams,
        train_params: &TrainParams,
        x: ArrayView2<f32>,
        y: ArrayView1<u8>,
        ctx: FitContext<'_>,
    ) -> Result<(Self, TrainReport), FitError> {
        let observer = ctx.observer;
        let anomalies: Vec<usize> = (0..y.len()).filter(|&i| y[i] == 1).collect();
        let unlabeled: Vec<usize> = (0..y.len()).filter(|&i| y[i] == 0).collect();
        if anomalies.is_empty() {
            return Err(FitError::NoLabeledAnomaly {
                method: MethodKind::PReNet,
            });
        }
        if unlabeled.is_empty() {
            return Err(FitError::TooFewUnlabeled {
                method: MethodKind::PReNet,
                found: 0,
                needed: 1,
            });
        }
        // The authors' sampler draws the (u,u) half of a batch without replacement, so it
        // needs `batch_size / 2` unlabeled rows (256 by default: a 200-row MVTec-AD train
        // split has fewer). Below that, every unlabeled draw is with replacement, as
        // DeepOD's PReNet draws its pairs; where there are enough rows the authors' draws
        // are untouched (same random stream, same pairs).
        let replace_unlabeled = unlabeled.len() < params.needed_unlabeled();
        let note = replace_unlabeled.then(|| {
            format!(
                "prenet: {} unlabeled training rows, fewer than batch_size/2 = {}: the unlabeled rows of the training pairs were drawn with replacement (as DeepOD's PReNet), not without (the authors' code)",
                unlabeled.len(),
                params.needed_unlabeled()
            )
        });
        let seed = train_params.seed;
        let norm = head_norm(train_params, Self::OWN_NORM);
        let mut net = params.network(x.ncols(), norm, &mut component_rng(seed, "init"));
        let ref_anomalies = x.select(Axis(0), &anomalies);
        let ref_unlabeled = x.select(Axis(0), &unlabeled);
        let mut task = PReNetTask {
            x,
            anomalies,
            unlabeled,
            replace_unlabeled,
            params: params.clone(),
            loss: PReNetLoss,
        };
        let schedule = Schedule {
            epochs: params.epochs,
            base_lr: params.lr,
            lr_schedule: LrSchedule::Cosine {
                t_max: params.epochs,
                eta_min: params.eta_min,
            },
            unit: ScheduleUnit::Epoch,
            checkpoint: Checkpoint::Last,
        };
        let mut opt = RmsProp::torch(params.weight_decay);
        let mut report = train::fit(
            &mut task,
            &mut net,
            &mut opt,
            &schedule,
            train_params,
            &mut component_rng(seed, "sampler"),
            observer,
        )?;
        report.notes.extend(note);
        let fitted = FittedPReNet::new(net, ref_anomalies, ref_unlabeled, params.n_ref, seed);
        Ok((fitted, report))
    }

    fn decision_function(&self, x: ArrayView2<f32>) -> Array1<f32> {
        self.scores(x)
    }

    fn state(&self, out: &mut Vec<NamedTensor>) {
        self.net.state("net.", out);
        out.push(mat_tensor("ref_anomalies", &self.ref_anomalies));
        out.push(mat_tensor("ref_unlabeled", &self.ref_unlabeled));
    }

    fn from_state(
        params: &PReNetParams,
        train: &TrainParams,
        n_features: usize,
        tensors: &[NamedTensor],
    ) -> Result<Self, StateError> {
        let norm = head_norm(train, Self::OWN_NORM);
        let mut net = params.network(n_features, norm, &mut component_rng(0, "load"));
        net.load_state("net.", tensors)?;
        let ref_anomalies = load_rows(tensors, "ref_anomalies", n_features)?;
        let ref_unlabeled = load_rows(tensors, "ref_unlabeled", n_features)?;
        Ok(FittedPReNet::new(
            net,
            ref_anomalies,
            ref_unlabeled,
            params.n_ref,
            train.seed,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::{combine, LossWeighting};
    use ndarray::array;

    fn item(index: usize, anomaly: bool, target: f32) -> Item {
        Item {
            index,
            anomaly,
            target,
        }
    }

    #[test]
    fn l1_loss_values_and_gradients_by_hand() {
        let mut g = Array1::zeros(1);
        let v = PReNetLoss.normal(item(0, false, 0.0), array![-1.5f32].view(), g.view_mut());
        assert_eq!((v, g[0]), (1.5, -1.0));
        let v = PReNetLoss.anomaly(item(0, true, 8.0), array![5.0f32].view(), g.view_mut());
        assert_eq!((v, g[0]), (3.0, -1.0));
        let v = PReNetLoss.anomaly(item(0, true, 4.0), array![4.5f32].view(), g.view_mut());
        assert_eq!((v, g[0]), (0.5, 1.0));
        let v = PReNetLoss.anomaly(item(0, true, 4.0), array![4.0f32].view(), g.view_mut());
        assert_eq!((v, g[0]), (0.0, 0.0));
    }

    /// Batch of four pairs: (a,a) target 8 scored 6, (a,u) target 4 scored 5, two (u,u)
    /// scored 1 and −3. Vanilla: (2 + 1 + 1 + 3)/4; AnoOnly: (2 + 1)/2.
    #[test]
    fn batch_loss_vanilla_and_anoonly_by_hand() {
        let out = array![[6.0f32], [5.0], [1.0], [-3.0]];
        let items = vec![
            item(0, true, 8.0),
            item(1, true, 4.0),
            item(2, false, 0.0),
            item(3, false, 0.0),
        ];
        let vanilla = TrainParams::default();
        let l = combine(
            &PReNetLoss,
            &out,
            &items,
            &vanilla.weighting(Reduction::WeightedMean),
        );
        assert_eq!(l.value, Some(7.0 / 4.0));
        assert_eq!(l.grad, array![[-0.25f32], [0.25], [0.25], [-0.25]]);
        let ao = TrainParams {
            anoonly: true,
            ..TrainParams::default()
        };
        let w: LossWeighting = ao.weighting(Reduction::WeightedMean);
        let l = combine(&PReNetLoss, &out, &items, &w);
        assert_eq!(l.value, Some(1.5));
        assert_eq!(l.grad, array![[-0.5f32], [0.5], [0.0], [0.0]]);
    }

    #[test]
    fn sampler_with_replacement_draws_from_few_unlabeled_rows() {
        let anomalies: Vec<usize> = (0..3).collect();
        let unlabeled: Vec<usize> = (100..110).collect();
        let mut rng = component_rng(5, "t");
        let pairs = sample_pairs(&anomalies, &unlabeled, 512, 8.0, 4.0, true, &mut rng);
        assert_eq!(pairs.len(), 512);
        let count = |k: PairKind| pairs.iter().filter(|p| p.kind == k).count();
        assert_eq!(count(PairKind::AnomalyAnomaly), 128);
        assert_eq!(count(PairKind::AnomalyUnlabeled), 128);
        assert_eq!(count(PairKind::UnlabeledUnlabeled), 256);
        // Every unlabeled side comes from the 10 rows, and each of them is drawn.
        let mut seen: Vec<usize> = pairs
            .iter()
            .flat_map(|p| match p.kind {
                PairKind::AnomalyAnomaly => vec![],
                PairKind::AnomalyUnlabeled => vec![p.right],
                PairKind::UnlabeledUnlabeled => vec![p.left, p.right],
            })
            .collect();
        assert!(seen.iter().all(|i| (100..110).contains(i)));
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 10);
    }

    #[test]
    fn sampler_composition_targets_and_sides() {
        let anomalies: Vec<usize> = (0..5).collect();
        let unlabeled: Vec<usize> = (100..400).collect();
        let mut rng = component_rng(4, "t");
        let pairs = sample_pairs(&anomalies, &unlabeled, 512, 8.0, 4.0, false, &mut rng);
        assert_eq!(pairs.len(), 512);
        let is_a = |i: usize| i < 5;
        let count = |k: PairKind| pairs.iter().filter(|p| p.kind == k).count();
        assert_eq!(count(PairKind::AnomalyAnomaly), 128);
        assert_eq!(count(PairKind::AnomalyUnlabeled), 128);
        assert_eq!(count(PairKind::UnlabeledUnlabeled), 256);
        for p in &pairs {
            match p.kind {
                PairKind::AnomalyAnomaly => {
                    assert!(is_a(p.left) && is_a(p.right));
                    assert_eq!(p.target, 8.0);
                }
                PairKind::AnomalyUnlabeled => {
                    assert!(is_a(p.left) && !is_a(p.right), "anomaly on the left");
                    assert_eq!(p.target, 4.0);
                }
                PairKind::UnlabeledUnlabeled => {
                    assert!(!is_a(p.left) && !is_a(p.right));
                    assert_eq!(p.target, 0.0);
                }
            }
        }
        // Without replacement within each unlabeled part: the right sides of the (u,u)
        // pairs are distinct, and so are those of the (a,u) pairs.
        for kind in [PairKind::UnlabeledUnlabeled, PairKind::AnomalyUnlabeled] {
            let mut r: Vec<usize> = pairs
                .iter()
                .filter(|p| p.kind == kind)
                .map(|p| p.right)
                .collect();
            let n = r.len();
            r.sort_unstable();
            r.dedup();
            assert_eq!(r.len(), n, "{kind:?}");
        }
        let mut l: Vec<usize> = pairs
            .iter()
            .filter(|p| p.kind == PairKind::UnlabeledUnlabeled)
            .map(|p| p.left)
            .collect();
        l.sort_unstable();
        l.dedup();
        assert_eq!(l.len(), 256);
        // Permuted: the kinds are not in blocks.
        assert!(pairs[..128]
            .iter()
            .any(|p| p.kind != PairKind::AnomalyAnomaly));
        // Items follow the pairs.
        let x = Array2::from_shape_fn((400, 3), |(i, j)| (i * 3 + j) as f32);
        let (input, items) = pair_batch(x.view(), &pairs);
        assert_eq!(input.dim(), (512, 6));
        for (i, (p, it)) in pairs.iter().zip(&items).enumerate() {
            assert_eq!(it.index, i);
            assert_eq!(it.anomaly, p.kind != PairKind::UnlabeledUnlabeled);
            assert_eq!(it.target, p.target);
            assert_eq!(input[[i, 0]], (p.left * 3) as f32);
            assert_eq!(input[[i, 3]], (p.right * 3) as f32);
        }
    }

    fn loss_of(out: &Matrix, r: &Matrix) -> f64 {
        out.iter()
            .zip(r.iter())
            .map(|(&o, &w)| f64::from(w) * f64::from(o) * f64::from(o))
            .sum()
    }

    fn params_flat(net: &mut PairNet) -> Vec<Vec<f32>> {
        let mut v = Vec::new();
        net.visit_params(&mut |p| v.push(p.value.to_vec()));
        v
    }

    fn grads_flat(net: &mut PairNet) -> Vec<Vec<f32>> {
        let mut v = Vec::new();
        net.visit_params(&mut |p| v.push(p.grad.to_vec()));
        v
    }

    fn set_param(net: &mut PairNet, k: usize, j: usize, value: f32) {
        let mut i = 0;
        net.visit_params(&mut |p| {
            if i == k {
                p.value[j] = value;
            }
            i += 1;
        });
    }

    fn rel_err(analytic: &[f32], numeric: &[f64]) -> f64 {
        let (mut d2, mut n2) = (0.0f64, 0.0f64);
        for (&a, &n) in analytic.iter().zip(numeric) {
            d2 += (f64::from(a) - n).powi(2);
            n2 += n * n;
        }
        (d2 / n2.max(1e-20)).sqrt()
    }

    /// Finite differences through both BatchNorm forwards (separate left/right batch
    /// statistics), in train mode, for every parameter and for the input.
    #[test]
    fn pair_net_gradient_matches_finite_differences() {
        let mut rng = component_rng(11, "fd");
        let d = 6;
        let b = 9;
        for norm in [NormKind::Bn, NormKind::None] {
            let mut net = PairNet::new(d, 5, norm, 1e-5, &mut rng);
            // Push the ReLU inputs away from 0 with a positive bias so the FD is smooth.
            if let crate::nn::Layer::Linear(l) = &mut net.feature.layers[0] {
                if let Some(bias) = &mut l.bias {
                    bias.fill(0.3);
                }
            }
            let x = Matrix::from_shape_simple_fn((b, 2 * d), || rng.gen_range(-0.5f32..0.5));
            let r = Matrix::from_shape_simple_fn((b, 1), || rng.gen_range(-1.0f32..1.0));
            let eval = |net: &mut PairNet, x: &Matrix| {
                let out = net.forward(x, Mode::Train);
                net.clear_cache();
                loss_of(&out, &r)
            };
            net.zero_grad();
            let out = net.forward(&x, Mode::Train);
            let dx = net
                .backward(&(&out * &r * 2.0), true)
                .expect("input gradient");
            let grads = grads_flat(&mut net);
            let values = params_flat(&mut net);
            let step = 1e-3f32;
            for (k, vals) in values.iter().enumerate() {
                let mut numeric = Vec::new();
                for (j, &v) in vals.iter().enumerate() {
                    set_param(&mut net, k, j, v + step);
                    let lp = eval(&mut net, &x);
                    set_param(&mut net, k, j, v - step);
                    let lm = eval(&mut net, &x);
                    set_param(&mut net, k, j, v);
                    numeric.push((lp - lm) / (2.0 * f64::from(step)));
                }
                let scale = numeric.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                if scale < 1e-3 {
                    // The feature bias before BatchNorm has an exact zero gradient.
                    assert!(
                        grads[k].iter().all(|g| g.abs() < 1e-4),
                        "{norm:?} param {k}"
                    );
                    continue;
                }
                let e = rel_err(&grads[k], &numeric);
                assert!(e < 1e-2, "{norm:?} param {k}: rel err {e:.2e}");
            }
            let mut numeric = Vec::new();
            for i in 0..b {
                for j in 0..2 * d {
                    let mut xp = x.clone();
                    xp[[i, j]] += step;
                    let mut xm = x.clone();
                    xm[[i, j]] -= step;
                    numeric.push(
                        (eval(&mut net, &xp) - eval(&mut net, &xm)) / (2.0 * f64::from(step)),
                    );
                }
            }
            let dx: Vec<f32> = dx.iter().copied().collect();
            let e = rel_err(&dx, &numeric);
            assert!(e < 1e-2, "{norm:?} input: rel err {e:.2e}");
        }
    }

    #[test]
    fn bn_running_stats_are_updated_twice_left_first() {
        let mut rng = component_rng(2, "bn");
        let mut net = PairNet::new(3, 4, NormKind::Bn, 1e-5, &mut rng);
        let x = Matrix::from_shape_simple_fn((8, 6), || rng.gen_range(-1.0f32..1.0));
        let mut reference = net.feature.clone();
        reference.forward(&x.slice(s![.., ..3]).to_owned(), Mode::Train);
        reference.forward(&x.slice(s![.., 3..]).to_owned(), Mode::Train);
        net.forward(&x, Mode::Train);
        net.clear_cache();
        let mut a = Vec::new();
        let mut b = Vec::new();
        net.feature.state("", &mut a);
        reference.state("", &mut b);
        assert_eq!(a, b);
        // Momentum 0.1 applied twice: the running mean is not the one-update value.
        let mut once = PairNet::new(3, 4, NormKind::Bn, 1e-5, &mut component_rng(2, "bn"));
        once.feature
            .forward(&x.slice(s![.., ..3]).to_owned(), Mode::Train);
        let mut c = Vec::new();
        once.feature.state("", &mut c);
        assert_ne!(a, c);
    }

    fn toy_fitted(norm: NormKind) -> (FittedPReNet, Array2<f32>) {
        let mut rng = component_rng(5, "toy");
        let mut net = PairNet::new(4, 6, norm, 1e-5, &mut rng);
        // Non-trivial running statistics.
        let warm = Matrix::from_shape_simple_fn((32, 8), || rng.gen_range(0.0f32..1.0));
        net.forward(&warm, Mode::Train);
        net.clear_cache();
        let ra = Array2::from_shape_simple_fn((3, 4), || rng.gen_range(0.0f32..1.0));
        let ru = Array2::from_shape_simple_fn((40, 4), || rng.gen_range(0.0f32..1.0));
        let x = Array2::from_shape_simple_fn((25, 4), || rng.gen_range(0.0f32..1.0));
        (FittedPReNet::new(net, ra, ru, 30, 9), x)
    }

    #[test]
    fn fast_scores_equal_literal_pair_forwards() {
        for norm in [NormKind::Bn, NormKind::None] {
            let (f, x) = toy_fitted(norm);
            let fast = f.scores(x.view());
            let slow = f.scores_by_pair_forwards(x.view());
            for (a, b) in fast.iter().zip(slow.iter()) {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn a_row_scores_the_same_alone_and_in_any_batch() {
        let (f, x) = toy_fitted(NormKind::Bn);
        let all = f.scores(x.view());
        for i in [0, 7, 24] {
            let alone = f.scores(x.slice(s![i..i + 1, ..]));
            assert_eq!(alone[0].to_bits(), all[i].to_bits());
        }
        let mut rev = x.clone();
        rev.invert_axis(Axis(0));
        let back = f.scores(rev.view());
        assert_eq!(back[0].to_bits(), all[24].to_bits());
        // Different rows draw different references.
        assert_ne!(f.reference_draws(x.row(0)), f.reference_draws(x.row(1)));
    }

    #[test]
    fn params_are_checked() {
        assert!(PReNetParams::default().validate().is_ok());
        let bad = PReNetParams {
            batch_size: 510,
            ..PReNetParams::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("batch_size"));
        let bad = PReNetParams {
            n_ref: 0,
            ..PReNetParams::default()
        };
        assert!(bad.validate().is_err());
    }
}
