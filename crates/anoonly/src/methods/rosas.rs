//! RoSAS (Xu et al., Information Processing & Management 2023, "RoSAS: Deep semi-supervised
//! anomaly detection with contamination-resilient continuous supervision") as the authors'
//! code runs it (github `xuhongzuo/rosas`, `RoSAS.py` at the settings of its `configs.yaml`;
//! docs/protocol.md 2.6).
//!
//! **Why the authors' code and not DeepOD's port.** The authors' repository is the method as
//! published (their experiments read `configs.yaml`); DeepOD 0.4.1's `RoSAS` is a later port
//! with other defaults (a 32-wide net, margin 5, fixed loss weights, no norm term). Both are
//! parameter values of this one implementation: [`RosasParams::default`] is the authors',
//! [`RosasParams::deepod`] DeepOD's (WSAD-DT's paper table ran that one).
//!
//! **Network** ([`net::RosasNet`]): `d → h → n_emb` (the embedding; `h = d + int((n_emb −
//! d)/2)`, LeakyReLU between, no biases) then `n_emb → n_emb/2 → [norm] → 1` (LeakyReLU,
//! the last Linear with a bias, tanh). Torch default init.
//!
//! **A step** (32 triplets): each triplet is (unlabeled anchor, unlabeled positive, labeled
//! anomaly); anomalies are drawn with replacement, anchors and positives each without
//! replacement among the unlabeled rows (independently, so a triplet may repeat a row). The
//! `3b` rows `x_i = [A; P; N]` carry targets −1, −1, +1; mixup pairs each with a random
//! permutation of them, `x̃ = λ x_i + (1 − λ) x_j`, `λ ~ Beta(α, α)` per row. The loss is
//! `w1 L_emb + w2 L_score + 0.01 ‖A + P + N‖_F` with the triplet-margin loss `L_emb` on the
//! embeddings (margin 1), `L_score` the mean over the mixed rows of `SL1(s̃ − ỹ) +
//! SL1(s̃ − s_mix)` ([`loss::MixupScore`]), and the authors' adaptive weights from the
//! previous epoch's means, gradient through the weights ([`loss::adaptive`]). Adam 5e-3,
//! weight decay 1e-4, 200 epochs × 16 steps, no early stopping (the protocol has no labeled
//! validation split; the authors' `MultiStepLR(milestones=(epochs,))` never fires).
//! Score: the tanh output.
//!
//! **How a step runs here.** The authors forward the anchors, positives and anomalies
//! separately, then `x̃`, `x_i` and `x_j = x_i[perm]`. Their embedding net is row-wise, so
//! `x_i`'s forward gives the three embeddings at once, and `s_j = s_i[perm]` (also with a
//! BatchNorm in the head: a permuted batch has the same statistics): a step is two forwards
//! of `3b` rows (`x_i`, `x̃`), the gradients of `s_j` scattered back onto `s_i`. The same
//! numbers in exact arithmetic; with a head BatchNorm (AnoOnly) its running statistics are
//! updated twice a step instead of six times.
//!
//! **AnoOnly** (`--anoonly`; docs/protocol.md 2.6 has the reasoning): `L_N` = the score loss
//! of mixed rows whose two rows are both unlabeled; `L_A` = the score loss of rows whose pair
//! holds a labeled anomaly, the triplet term (every triplet holds one; `triplet_la =
//! "anomaly-distance"` counts only its anomaly distance as `L_A`, weighting the
//! anchor–positive distance by `lambda_n` inside the hinge) and the norm term. The score loss
//! is reduced by the core's [`Reduction::WeightedMean`]: the plain mean over the `3b` mixed
//! rows at `lambda_n = 1` (the authors' loss), the mean over the rows with an anomaly at 0.
//! AnoOnly adds a torch BatchNorm (affine) on the `n_emb/2` input of the last Linear; the
//! unlabeled rows are still forwarded and shape its statistics.
//!
//! **Departures** (all in docs/protocol.md 2.6): randomness from this crate's streams; fewer
//! unlabeled rows than triplets per step draw anchors and positives with replacement (the
//! authors' code raises) and say so; weights of two previous means of 0 are 1/2 each (the
//! authors' loss is then NaN).
//!
//! This file is the method; its parts: [`net`] (the network), [`loss`] (the loss terms).

pub mod loss;
pub mod net;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use rand::seq::SliceRandom;
use rand::Rng as _;
use rand_distr::{Beta, Distribution};
use serde::{Deserialize, Serialize};

use super::{FitError, Knobs, Method, MethodKind};
use crate::nn::{
    gather_rows, pool, Adam, Matrix, Mode, Module, NamedTensor, Optimizer, StateError,
};
use crate::rng::{component_rng, Rng};
use crate::train::{
    self, head_norm, FitContext, HeadNorm, Item, LossWeighting, Reduction, TrainParams, TrainReport,
};
use crate::vocab::{count_in, non_negative, positive, NormKind, ParamError};
pub use loss::Weighting;
use loss::{Combined, MixupScore};
use net::RosasNet;

/// Which part of the triplet term is `L_A` (docs/protocol.md 2.6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TripletLa {
    /// The whole hinge `max(0, d(A,P) − d(A,N) + m)`: every triplet holds a labeled anomaly
    /// (the rule: a term that involves one is `L_A`), so `lambda_n` leaves it alone.
    #[default]
    Whole,
    /// Only the anomaly distance: the anchor–positive distance, computed from unlabeled rows
    /// alone, is weighted by `lambda_n` inside the hinge, `max(0, lambda_n d(A,P) − d(A,N) +
    /// m)`, so AnoOnly keeps `max(0, m − d(A,N))`: nothing is driven by unlabeled–unlabeled
    /// distances.
    AnomalyDistance,
}

/// RoSAS hyperparameters; defaults are the authors' code at its `configs.yaml`
/// (docs/protocol.md 2.6). [`RosasParams::deepod`] gives DeepOD 0.4.1's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RosasParams {
    /// Width of the embedding (authors' `n_emb`: 128; DeepOD's `rep_dim`: 32); the score
    /// head's hidden layer is half of it.
    pub n_emb: usize,
    /// Width of the embedding net's hidden layer. `None` (null): the authors' rule
    /// `d + int((n_emb − d)/2)` on `d` features; DeepOD: 32.
    pub hidden: Option<usize>,
    /// Epochs (authors' configs: 200; DeepOD: 100).
    pub epochs: usize,
    /// Steps per epoch (authors: 16). `None` (null): DeepOD's `int(n_train / batch_size)`,
    /// at least 1.
    pub steps_per_epoch: Option<usize>,
    /// Triplets per step (authors' configs: 32; DeepOD: 128).
    pub batch_size: usize,
    /// Adam learning rate.
    pub lr: f32,
    /// L2 weight decay added to the gradient (torch Adam; authors 1e-4, DeepOD 1e-5).
    pub weight_decay: f32,
    /// Triplet margin (authors: 1; DeepOD: 5).
    pub margin: f32,
    /// Mixup weights `λ ~ Beta(alpha, alpha)`.
    pub alpha: f32,
    /// How the triplet and score losses are combined (authors: adaptive; DeepOD: fixed).
    pub weighting: Weighting,
    /// Temperature `T` of the adaptive weights.
    pub temperature: f32,
    /// Weight of `‖A + P + N‖_F` (authors: 0.01; DeepOD has no such term: 0).
    pub emb_norm_weight: f32,
    /// Which part of the triplet term is `L_A` (matters only for `lambda_n < 1`).
    pub triplet_la: TripletLa,
}

impl Default for RosasParams {
    fn default() -> Self {
        RosasParams {
            n_emb: 128,
            hidden: None,
            epochs: 200,
            steps_per_epoch: Some(16),
            batch_size: 32,
            lr: 5e-3,
            weight_decay: 1e-4,
            margin: 1.0,
            alpha: 0.5,
            weighting: Weighting::Adaptive,
            temperature: 2.0,
            emb_norm_weight: 0.01,
            triplet_la: TripletLa::Whole,
        }
    }
}

/// Most triplets per step: a step holds `6 × batch_size` rows of the network's widths.
const MAX_TRIPLETS: usize = 1 << 20;

impl RosasParams {
    /// DeepOD 0.4.1's `RoSAS()` defaults (`deepod/models/tabular/rosas.py`): `d → 32 → 32`
    /// embedding, `32 → 16 → 1` head, 128 triplets, `int(n_train/128)` steps, 100 epochs,
    /// margin 5, fixed 0.5/0.5 weights, no norm term, Adam weight decay 1e-5. On the command
    /// line: `--epochs 100 --batch-size 128 --set n_emb=32 --set hidden=32 --set
    /// steps_per_epoch=null --set margin=5 --set weighting=fixed --set emb_norm_weight=0
    /// --set weight_decay=1e-5`.
    pub fn deepod() -> RosasParams {
        RosasParams {
            n_emb: 32,
            hidden: Some(32),
            epochs: 100,
            steps_per_epoch: None,
            batch_size: 128,
            lr: 5e-3,
            weight_decay: 1e-5,
            margin: 5.0,
            alpha: 0.5,
            weighting: Weighting::Fixed,
            temperature: 2.0,
            emb_norm_weight: 0.0,
            triplet_la: TripletLa::Whole,
        }
    }

    pub fn validate(&self) -> Result<(), ParamError> {
        count_in("n_emb", self.n_emb, 2, usize::MAX)?;
        if let Some(h) = self.hidden {
            count_in("hidden", h, 1, usize::MAX)?;
        }
        count_in("epochs", self.epochs, 1, 1_000_000)?;
        if let Some(s) = self.steps_per_epoch {
            count_in("steps_per_epoch", s, 1, 1_000_000)?;
        }
        count_in("batch_size", self.batch_size, 1, MAX_TRIPLETS)?;
        positive("lr", self.lr)?;
        non_negative("weight_decay", self.weight_decay)?;
        non_negative("margin", self.margin)?;
        positive("alpha", self.alpha)?;
        positive("temperature", self.temperature)?;
        non_negative("emb_norm_weight", self.emb_norm_weight)?;
        Ok(())
    }

    /// The embedding net's hidden width on `d` features: `hidden`, or the authors'
    /// `d + int((n_emb − d) * 0.5)` (Python's `int` truncates toward zero, as Rust's integer
    /// division does: 74 for d = 21, 320 for d = 512).
    pub fn hidden_width(&self, d: usize) -> usize {
        self.hidden.unwrap_or_else(|| {
            let diff = self.n_emb as i128 - d as i128;
            (d as i128 + diff / 2).max(1) as usize
        })
    }

    /// Steps per epoch on `n_rows` training rows.
    pub fn steps(&self, n_rows: usize) -> usize {
        self.steps_per_epoch
            .unwrap_or_else(|| (n_rows / self.batch_size).max(1))
    }

    /// The network on `d` features; `norm` before the last Linear.
    pub fn network(&self, d: usize, norm: impl Into<HeadNorm>, rng: &mut Rng) -> RosasNet {
        RosasNet::new(d, self.hidden_width(d), self.n_emb, norm.into(), rng)
    }
}

/// The row indices of one step's triplets, stacked `[anchors; positives; anomalies]`.
pub fn draw_triplets(
    unlabeled: &[u32],
    anomalies: &[u32],
    b: usize,
    replace_unlabeled: bool,
    rng: &mut Rng,
) -> Vec<u32> {
    // The authors' order of draws: anomalies (with replacement), anchors, positives.
    let neg: Vec<u32> = (0..b)
        .map(|_| anomalies[rng.gen_range(0..anomalies.len())])
        .collect();
    let unlabeled_draw = |rng: &mut Rng| -> Vec<u32> {
        if replace_unlabeled {
            (0..b)
                .map(|_| unlabeled[rng.gen_range(0..unlabeled.len())])
                .collect()
        } else {
            rand::seq::index::sample(rng, unlabeled.len(), b)
                .into_iter()
                .map(|i| unlabeled[i])
                .collect()
        }
    };
    let mut rows = unlabeled_draw(rng);
    rows.extend(unlabeled_draw(rng));
    rows.extend(neg);
    rows
}

/// One step's mixup: the permutation `perm` of the `3b` rows and `λ` per row (the authors'
/// order: `randperm`, then the Dirichlet draws).
pub fn draw_mixup(n: usize, beta: &Beta<f32>, rng: &mut Rng) -> (Vec<usize>, Vec<f32>) {
    let mut perm: Vec<usize> = (0..n).collect();
    perm.shuffle(rng);
    let lam = (0..n).map(|_| beta.sample(rng)).collect();
    (perm, lam)
}

/// The mixed rows `λ_r x_r + (1 − λ_r) x_perm(r)`.
pub fn mix_rows(x: &Matrix, perm: &[usize], lam: &[f32]) -> Matrix {
    let mut out = pool::zeros(x.nrows(), x.ncols());
    for (r, mut row) in out.outer_iter_mut().enumerate() {
        let (l, a, b) = (lam[r], x.row(r), x.row(perm[r]));
        for ((o, &va), &vb) in row.iter_mut().zip(a.iter()).zip(b.iter()) {
            *o = va * l + vb * (1.0 - l);
        }
    }
    out
}

/// The losses of one step, before weighting.
#[derive(Clone, Copy, Debug, Default)]
pub struct StepLosses {
    pub emb: f32,
    pub score: f32,
    pub norm: f32,
    /// The weighted total, the norm term and any loss the net adds itself (BN†) included.
    pub total: f32,
}

/// What a training step needs besides the net and the batch.
pub struct StepSettings<'a> {
    pub params: &'a RosasParams,
    pub weighting: LossWeighting,
    /// Previous-epoch means of `L_emb` and `L_score` (1 in the first epoch).
    pub pre: (f64, f64),
}

/// Forward, loss and backward of one step on the stacked triplet rows `x_i = [A; P; N]`
/// (`3b × d`), with mixup `perm`/`lam`: leaves the gradients in `net` (zeroed first) and
/// returns the losses. The optimiser step is the caller's.
pub fn step(
    net: &mut RosasNet,
    xi: &Matrix,
    perm: &[usize],
    lam: &[f32],
    s: &StepSettings<'_>,
) -> StepLosses {
    let p = s.params;
    let n = xi.nrows();
    let b = n / 3;
    net.zero_grad();
    let xt = mix_rows(xi, perm, lam);
    let emb = net.enc.forward(xi, Mode::Train);
    let si = net.head.forward(&emb, Mode::Train);
    let et = net.enc.forward(&xt, Mode::Train);
    let st = net.head.forward(&et, Mode::Train);
    pool::recycle(xt);
    pool::recycle(et);
    let aux = net.take_aux_loss();

    // The triplet term and the norm term on the embeddings.
    let w_pos = match p.triplet_la {
        TripletLa::Whole => 1.0,
        TripletLa::AnomalyDistance => s.weighting.lambda_n,
    };
    let (l_emb, g_emb) = loss::triplet(emb.view(), b, p.margin, w_pos);
    let (l_norm, g_norm) = if p.emb_norm_weight > 0.0 {
        let (v, g) = loss::sum_norm(emb.view(), b);
        (v, Some(g))
    } else {
        (0.0, None)
    };
    pool::recycle(emb);

    // The score loss per mixed row, weighted by the core: `[s̃, s_i, s_j]` per row.
    let target = |r: usize| if r >= 2 * b { 1.0f32 } else { -1.0 };
    let mut out3 = Array2::<f32>::zeros((n, 3));
    let mut items = Vec::with_capacity(n);
    for r in 0..n {
        let j = perm[r];
        out3[[r, 0]] = st[[r, 0]];
        out3[[r, 1]] = si[[r, 0]];
        out3[[r, 2]] = si[[j, 0]];
        items.push(Item {
            index: r,
            anomaly: r >= 2 * b || j >= 2 * b,
            target: lam[r] * target(r) + (1.0 - lam[r]) * target(j),
        });
    }
    pool::recycle(si);
    pool::recycle(st);
    let mixup = MixupScore { lam: lam.to_vec() };
    let bl = train::combine(&mixup, &out3, &items, &s.weighting);
    let l_score = bl.value.unwrap_or(0.0);

    let c: Combined = match p.weighting {
        Weighting::Adaptive => loss::adaptive(
            f64::from(l_emb),
            f64::from(l_score),
            s.pre.0,
            s.pre.1,
            f64::from(p.temperature),
        ),
        Weighting::Fixed => loss::fixed(f64::from(l_emb), f64::from(l_score)),
    };
    let (d_emb, d_score) = (c.d_emb as f32, c.d_score as f32);

    // Backward, the most recent forward (x̃) first.
    let mut gt = pool::zeros(n, 1);
    let mut gi = pool::zeros(n, 1);
    for r in 0..n {
        gt[[r, 0]] = d_score * bl.grad[[r, 0]];
        gi[[r, 0]] += d_score * bl.grad[[r, 1]];
        gi[[perm[r], 0]] += d_score * bl.grad[[r, 2]];
    }
    if let Some(g) = net.head.backward(&gt, true) {
        net.enc.backward(&g, false);
        pool::recycle(g);
    }
    if let Some(mut g) = net.head.backward(&gi, true) {
        g.scaled_add(d_emb, &g_emb);
        if let Some(gn) = &g_norm {
            g.scaled_add(p.emb_norm_weight, gn);
        }
        net.enc.backward(&g, false);
        pool::recycle(g);
    }
    pool::recycle(gt);
    pool::recycle(gi);
    let total = c.value + f64::from(p.emb_norm_weight) * f64::from(l_norm);
    StepLosses {
        emb: l_emb,
        score: l_score,
        norm: l_norm,
        total: (total as f32) + aux.unwrap_or(0.0),
    }
}

/// A fitted RoSAS model.
#[derive(Clone, Debug)]
pub struct FittedRosas {
    pub net: RosasNet,
}

impl Method for FittedRosas {
    type Params = RosasParams;
    const NAME: &'static str = "rosas";
    const DISPLAY_NAME: &'static str = "RoSAS";
    const SUMMARY: &'static str =
        "RoSAS (Xu et al., Information Processing & Management 2023): triplets of two unlabeled \
         rows and a labeled anomaly train an embedding (triplet-margin loss), and mixup of the \
         batch rows trains a tanh score towards the mixed targets (-1 unlabeled, +1 anomaly) \
         with a consistency term; the authors' settings (compat with DeepOD's port: \
         RosasParams::deepod). AnoOnly (`anoonly=True`, `--anoonly`) drops the score loss of \
         mixed rows made of two unlabeled rows (lambda_n = 0), keeps the triplet and norm terms \
         (each involves a labeled anomaly) and adds a BatchNorm before the last layer.";
    const SUPPORTS_ANOONLY: bool = true;
    /// None (AnoOnly adds a torch BatchNorm on the input of the last Linear).
    const OWN_NORM: NormKind = NormKind::None;
    /// Every triplet needs a labeled anomaly.
    const TRAINS_WITHOUT_ANOMALIES: bool = false;

    fn knobs(p: &mut RosasParams) -> Knobs<'_> {
        Knobs::new(&mut p.epochs, &mut p.batch_size)
    }

    fn layer_widths(p: &RosasParams, n_features: usize) -> Vec<(&'static str, usize)> {
        // The authors' hidden width follows from n_emb (and d): named after it.
        let hidden = match p.hidden {
            Some(_) => "hidden",
            None => "hidden (from n_emb)",
        };
        vec![
            ("n_features", n_features),
            (hidden, p.hidden_width(n_features)),
            ("n_emb", p.n_emb),
            ("n_emb", p.n_emb / 2),
        ]
    }

    /// 200 × 16 steps of 2 × 96 rows whatever the data: about DeepSAD's cost on 12,000 rows.
    fn relative_cost(_n_rows: usize) -> f64 {
        12.0
    }

    fn validate(params: &RosasParams) -> Result<(), ParamError> {
        params.validate()
    }

    fn fit(
        params: &RosasParams,
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
                method: MethodKind::Rosas,
            });
        }
        if unlabeled.is_empty() {
            return Err(FitError::TooFewUnlabeled {
                method: MethodKind::Rosas,
                found: 0,
                needed: 1,
            });
        }
        let b = params.batch_size;
        let mut report = TrainReport::default();
        let replace_unlabeled = unlabeled.len() < b;
        if replace_unlabeled {
            report.notes.push(format!(
                "rosas: {} unlabeled training rows, fewer than batch_size = {b}: anchors and positives were drawn with replacement (the authors' code draws them without and raises)",
                unlabeled.len()
            ));
        }
        if params.steps_per_epoch.is_none() && x.nrows() < b {
            report.notes.push(format!(
                "rosas: {} training rows, fewer than batch_size = {b}: one step per epoch (DeepOD's int(n / batch_size) would train none)",
                x.nrows()
            ));
        }
        let seed = train_params.seed;
        let norm = head_norm(train_params, Self::OWN_NORM);
        let mut net = params.network(x.ncols(), norm, &mut component_rng(seed, "init"));
        let mut sampler = component_rng(seed, "sampler");
        let mut mixer = component_rng(seed, "mixup");
        let beta = Beta::new(params.alpha, params.alpha)
            .map_err(|e| FitError::Param(ParamError::new("alpha", params.alpha, e.to_string())))?;
        let mut opt = Adam::torch(params.weight_decay);
        let steps = params.steps(x.nrows());
        let mut settings = StepSettings {
            params,
            weighting: train_params.weighting(Reduction::WeightedMean),
            pre: (1.0, 1.0),
        };
        for epoch in 0..params.epochs {
            let (mut sum_total, mut sum_emb, mut sum_score) = (0.0f64, 0.0f64, 0.0f64);
            for _ in 0..steps {
                let rows =
                    draw_triplets(&unlabeled, &anomalies, b, replace_unlabeled, &mut sampler);
                let xi = gather_rows(x, &rows);
                let (perm, lam) = draw_mixup(rows.len(), &beta, &mut mixer);
                let l = step(&mut net, &xi, &perm, &lam, &settings);
                pool::recycle(xi);
                opt.step(&mut net, params.lr);
                sum_total += f64::from(l.total);
                sum_emb += f64::from(l.emb);
                sum_score += f64::from(l.score);
                report.steps += 1;
            }
            let mean = |s: f64| s / steps as f64;
            // The authors' `pre_loss_emb = losses1.mean()`, `pre_loss_score = losses2.mean()`.
            settings.pre = (mean(sum_emb), mean(sum_score));
            let loss = Some(mean(sum_total) as f32);
            train::own_loop_epoch(
                observer,
                &mut report,
                &mut net,
                (epoch, params.epochs),
                loss,
                steps,
            )?;
        }
        train::own_loop_end(&mut report, &mut net, params.epochs);
        Ok((FittedRosas { net }, report))
    }

    fn decision_function(&self, x: ArrayView2<f32>) -> Array1<f32> {
        self.net.scores(x)
    }

    fn representation(&self, x: ArrayView2<f32>) -> Option<Array2<f32>> {
        Some(self.net.features(x))
    }

    fn state(&self, out: &mut Vec<NamedTensor>) {
        self.net.state("net.", out);
    }

    fn from_state(
        params: &RosasParams,
        train: &TrainParams,
        n_features: usize,
        tensors: &[NamedTensor],
    ) -> Result<Self, StateError> {
        let norm = head_norm(train, Self::OWN_NORM);
        let mut net = params.network(n_features, norm, &mut component_rng(0, "load"));
        net.load_state("net.", tensors)?;
        Ok(FittedRosas { net })
    }
}
