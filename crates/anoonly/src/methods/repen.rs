//! REPEN (Pang et al. 2018) as ADBench runs it (docs/protocol.md 3.2), one of the paper's
//! baselines.
//!
//! Owns the triplet sampler, the triplet ranking loss, the training loop and the LeSiNN
//! ensemble that scores rows on the learned 20-d representation.
//!
//! Net: one shared `Dense(d→20, ReLU, glorot_uniform, bias 0)` applied to an example, a
//! positive (both uniform over the unlabeled rows, the positive re-drawn while it equals the
//! example) and a negative (uniform over the labeled anomalies). Loss
//! `mean(max(0, margin − (‖h_e−h_n‖² − ‖h_e−h_p‖²)))`, margin 1000; Keras Adadelta at
//! lr 0.001; 1000 epochs of 50 steps of 256 triplets; final weights.
//!
//! Speed: the 50 000 steps are the cost, two products of (rows × d) by (d × 20) each. A
//! step forwards each *distinct* row of its triplets once (the negatives come from a handful
//! of anomalies; on a small file examples and positives repeat too) and scatters the
//! triplet gradients back onto those rows, which computes the same gradient as three
//! separate passes.
//!
//! Departures from ADBench, both harmless and documented: the positive is re-drawn among
//! the unlabeled rows (ADBench re-draws `rng.choice(len(inlier_ids))`, a row *position*
//! that can be a labeled anomaly); LeSiNN's 50 subsamples are drawn once at fit time from
//! the run's seed and stored with the model (ADBench draws them from the trainer's running
//! generator at every `decision_function` call, so two calls score differently). Like
//! GANomaly it does not go through [`crate::train::fit`] (a triplet loss couples rows) and
//! has no AnoOnly variant.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use rand::Rng as _;
use serde::{Deserialize, Serialize};

use super::{FitError, Knobs, Method, MethodKind};
use crate::nn::{
    eval_rows, gather_rows, pool, Activation, Adadelta, Init, Linear, Matrix, Mode, Module,
    NamedTensor, Optimizer, Sequential, StateError,
};
use crate::rng::{component_rng, Rng};
use crate::train::{
    report_epoch, EpochReport, FitContext, Interrupted, Observer, Stage, TrainParams, TrainReport,
};
use crate::vocab::tensor::{load_rows, mat_tensor};
use crate::vocab::{count_in, positive, NormKind, ParamError};

/// REPEN hyperparameters; defaults are ADBench's (`mode='supervised'`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RepenParams {
    /// Width of the representation.
    pub hidden: usize,
    /// Triplets per step.
    pub batch_size: usize,
    /// Steps per epoch (Keras `steps_per_epoch`).
    pub steps_per_epoch: usize,
    pub epochs: usize,
    /// Confidence margin of the ranking loss.
    pub margin: f32,
    /// Adadelta learning rate (Keras default 0.001).
    pub lr: f32,
    /// LeSiNN ensemble size.
    pub ensemble_size: usize,
    /// LeSiNN subsample size.
    pub subsample_size: usize,
    /// LeSiNN: the score averages the distances to this many nearest subsample members.
    pub n_neighbors: usize,
}

impl Default for RepenParams {
    fn default() -> Self {
        RepenParams {
            hidden: 20,
            batch_size: 256,
            steps_per_epoch: 50,
            epochs: 1000,
            margin: 1000.0,
            lr: 0.001,
            ensemble_size: 50,
            subsample_size: 8,
            n_neighbors: 2,
        }
    }
}

impl RepenParams {
    pub fn validate(&self) -> Result<(), ParamError> {
        count_in("hidden", self.hidden, 1, usize::MAX)?;
        count_in("batch_size", self.batch_size, 1, usize::MAX)?;
        count_in("steps_per_epoch", self.steps_per_epoch, 1, usize::MAX)?;
        count_in("epochs", self.epochs, 1, 1_000_000)?;
        positive("margin", self.margin)?;
        positive("lr", self.lr)?;
        count_in("ensemble_size", self.ensemble_size, 1, 100_000)?;
        count_in("subsample_size", self.subsample_size, 1, 100_000)?;
        count_in(
            "n_neighbors",
            self.n_neighbors,
            1,
            self.subsample_size.max(1),
        )?;
        Ok(())
    }

    /// `Dense(d→hidden, ReLU)` with Keras' glorot_uniform kernel and zero bias.
    pub fn network(&self, d: usize, rng: &mut Rng) -> Sequential {
        Sequential::new(vec![
            Linear::new(d, self.hidden, true, Init::GlorotUniform, rng).into(),
            Activation::Relu.into(),
        ])
    }
}

/// One batch of triplets as positions in a matrix of representations.
#[derive(Clone, Debug, Default)]
pub struct Triplets {
    pub example: Vec<usize>,
    pub positive: Vec<usize>,
    pub negative: Vec<usize>,
}

/// The triplet ranking loss `mean(max(0, margin − (‖h_e−h_n‖² − ‖h_e−h_p‖²)))` over the
/// triplets `t` whose members are rows of `h`; the gradient with respect to `h` is added
/// into `grad` (rows shared by several triplets accumulate).
pub fn triplet_loss(h: &Matrix, t: &Triplets, margin: f32, grad: &mut Matrix) -> f32 {
    let n = t.example.len();
    if n == 0 {
        return 0.0;
    }
    let width = h.ncols();
    if grad.dim() == h.dim() {
        if let (Some(hs), Some(gs)) = (h.as_slice(), grad.as_slice_mut()) {
            return triplet_loss_flat(hs, width, t, margin, gs);
        }
    }
    let scale = 2.0 / n as f32;
    let mut sum = 0.0f32;
    for ((&e, &p), &q) in t.example.iter().zip(&t.positive).zip(&t.negative) {
        let (he, hp, hn) = (h.row(e), h.row(p), h.row(q));
        let sq = |a: ArrayView1<f32>, b: ArrayView1<f32>| {
            a.iter()
                .zip(b.iter())
                .map(|(x, y)| (x - y) * (x - y))
                .sum::<f32>()
        };
        let v = margin - (sq(he, hn) - sq(he, hp));
        if v <= 0.0 {
            continue;
        }
        sum += v;
        // dv/dh_e = 2(h_n − h_p), dv/dh_n = 2(h_e − h_n), dv/dh_p = −2(h_e − h_p).
        for j in 0..width {
            let (ve, vp, vn) = (h[[e, j]], h[[p, j]], h[[q, j]]);
            grad[[e, j]] += scale * (vn - vp);
            grad[[q, j]] += scale * (ve - vn);
            grad[[p, j]] -= scale * (ve - vp);
        }
    }
    sum / n as f32
}

/// [`triplet_loss`] on rows of `width` values in flat slices (`h` and its gradient in
/// standard layout): the same expressions in the same order, without per-element index
/// arithmetic and bounds checks (the loop was a third of a step on a 21-feature file).
fn triplet_loss_flat(h: &[f32], width: usize, t: &Triplets, margin: f32, g: &mut [f32]) -> f32 {
    let n = t.example.len();
    let scale = 2.0 / n as f32;
    let mut sum = 0.0f32;
    let row = |i: usize| &h[i * width..(i + 1) * width];
    let sq = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>();
    for ((&e, &p), &q) in t.example.iter().zip(&t.positive).zip(&t.negative) {
        let (he, hp, hn) = (row(e), row(p), row(q));
        let v = margin - (sq(he, hn) - sq(he, hp));
        if v <= 0.0 {
            continue;
        }
        sum += v;
        // dv/dh_e = 2(h_n − h_p), dv/dh_n = 2(h_e − h_n), dv/dh_p = −2(h_e − h_p); per
        // element in the order e, q, p as in `triplet_loss` (rows may repeat across
        // triplets, never within one).
        for j in 0..width {
            let (ve, vp, vn) = (he[j], hp[j], hn[j]);
            g[e * width + j] += scale * (vn - vp);
            g[q * width + j] += scale * (ve - vn);
            g[p * width + j] -= scale * (ve - vp);
        }
    }
    sum / n as f32
}

/// Draws one step's triplets (row indices of the training set): example and positive
/// uniform over `inliers`, the positive re-drawn while equal to the example, negative
/// uniform over `anomalies`. Needs two inliers and one anomaly.
pub fn draw_triplets(
    inliers: &[usize],
    anomalies: &[usize],
    batch_size: usize,
    rng: &mut Rng,
    out: &mut Triplets,
) {
    out.example.clear();
    out.positive.clear();
    out.negative.clear();
    for _ in 0..batch_size {
        out.example.push(inliers[rng.gen_range(0..inliers.len())]);
    }
    for _ in 0..batch_size {
        out.positive.push(inliers[rng.gen_range(0..inliers.len())]);
    }
    for _ in 0..batch_size {
        out.negative
            .push(anomalies[rng.gen_range(0..anomalies.len())]);
    }
    for (e, p) in out.example.iter().zip(out.positive.iter_mut()) {
        while *p == *e {
            *p = inliers[rng.gen_range(0..inliers.len())];
        }
    }
}

/// Maps the row indices of a step onto distinct rows (first-seen order), so that each row
/// is forwarded once. `stamp`/`slot` are per-row scratch of the training set's length,
/// reused across steps (`step` tells this step's marks from older ones).
struct Dedup {
    stamp: Vec<usize>,
    slot: Vec<usize>,
    rows: Vec<usize>,
    local: Triplets,
}

impl Dedup {
    fn new(n: usize) -> Dedup {
        Dedup {
            stamp: vec![usize::MAX; n],
            slot: vec![0; n],
            rows: Vec::new(),
            local: Triplets::default(),
        }
    }

    fn map(&mut self, step: usize, t: &Triplets) {
        self.rows.clear();
        let Dedup {
            stamp,
            slot,
            rows,
            local,
        } = self;
        let mut put = |src: &[usize], dst: &mut Vec<usize>| {
            dst.clear();
            for &r in src {
                if stamp[r] != step {
                    stamp[r] = step;
                    slot[r] = rows.len();
                    rows.push(r);
                }
                dst.push(slot[r]);
            }
        };
        put(&t.example, &mut local.example);
        put(&t.positive, &mut local.positive);
        put(&t.negative, &mut local.negative);
    }
}

/// The LeSiNN ensemble on representations: `members` subsamples of equal size stacked in
/// `refs`; a row's score is the mean over members of its mean Euclidean distance to its
/// `k` nearest subsample points.
#[derive(Clone, Debug)]
pub struct Lesinn {
    pub refs: Array2<f32>,
    pub members: usize,
    pub k: usize,
}

impl Lesinn {
    pub fn score(&self, h: ArrayView1<f32>) -> f32 {
        let size = self.refs.nrows() / self.members.max(1);
        let k = self.k.min(size).max(1);
        let mut dist = vec![0.0f64; size];
        let mut total = 0.0f64;
        for m in 0..self.members {
            for (i, d) in dist.iter_mut().enumerate() {
                let r = self.refs.row(m * size + i);
                *d = r
                    .iter()
                    .zip(h.iter())
                    .map(|(&a, &b)| {
                        let v = f64::from(a) - f64::from(b);
                        v * v
                    })
                    .sum::<f64>()
                    .sqrt();
            }
            dist.sort_by(f64::total_cmp);
            total += dist[..k].iter().sum::<f64>() / k as f64;
        }
        (total / self.members.max(1) as f64) as f32
    }
}

/// A fitted REPEN model: the representation network and the LeSiNN reference sets.
#[derive(Clone, Debug)]
pub struct FittedRepen {
    pub net: Sequential,
    pub lesinn: Lesinn,
}

impl FittedRepen {
    pub fn scores(&self, x: ArrayView2<f32>) -> Array1<f32> {
        eval_rows(&self.net, x, |h| self.lesinn.score(h))
    }
}

/// Trains the representation: `epochs × steps_per_epoch` Adadelta steps on fresh triplets.
fn train_net(
    params: &RepenParams,
    x: ArrayView2<f32>,
    inliers: &[usize],
    anomalies: &[usize],
    net: &mut Sequential,
    rng: &mut Rng,
    observer: Observer<'_>,
) -> Result<TrainReport, Interrupted> {
    let mut opt = Adadelta::keras();
    let mut triplets = Triplets::default();
    let mut dedup = Dedup::new(x.nrows());
    let mut report = TrainReport::default();
    let mut step = 0usize;
    for epoch in 0..params.epochs {
        let mut sum = 0.0f64;
        for _ in 0..params.steps_per_epoch {
            draw_triplets(inliers, anomalies, params.batch_size, rng, &mut triplets);
            dedup.map(step, &triplets);
            net.zero_grad();
            // The net keeps the gathered rows as its cache (no copy); every buffer of the
            // step goes back to nn::pool, so no step faults fresh pages in.
            let h = net.forward_owned(gather_rows(x, &dedup.rows), Mode::Train);
            let mut grad = pool::zeros(h.nrows(), h.ncols());
            sum += f64::from(triplet_loss(&h, &dedup.local, params.margin, &mut grad));
            pool::recycle(h);
            net.backward_owned(grad, false);
            opt.step(net, params.lr);
            step += 1;
        }
        let loss = Some((sum / params.steps_per_epoch as f64) as f32);
        report.epoch_losses.push(loss);
        report_epoch(
            observer,
            &EpochReport {
                stage: Stage::Train,
                epoch,
                epochs: params.epochs,
                loss,
                empty_batches: 0,
                batches: params.steps_per_epoch,
            },
        )?;
    }
    report.steps = step;
    report.kept_epoch = params.epochs - 1;
    net.clear_cache();
    pool::clear();
    Ok(report)
}

/// Draws the LeSiNN subsamples (without replacement, `min(subsample_size, n)` rows each)
/// and stores their representations.
fn draw_lesinn(
    params: &RepenParams,
    net: &Sequential,
    x: ArrayView2<f32>,
    rng: &mut Rng,
) -> Lesinn {
    let size = params.subsample_size.min(x.nrows());
    let mut rows = Vec::with_capacity(params.ensemble_size * size);
    for _ in 0..params.ensemble_size {
        rows.extend(rand::seq::index::sample(rng, x.nrows(), size));
    }
    let refs = net.clone().forward(&gather_rows(x, &rows), Mode::Eval);
    Lesinn {
        refs,
        members: params.ensemble_size,
        k: params.n_neighbors,
    }
}

impl Method for FittedRepen {
    type Params = RepenParams;
    const NAME: &'static str = "repen";
    const DISPLAY_NAME: &'static str = "REPEN";
    const SUMMARY: &'static str =
        "REPEN (Pang et al., KDD 2018), a baseline of the paper: a representation learned with \
         a triplet ranking loss (labeled anomalies as negatives), scored by a LeSiNN \
         nearest-neighbour ensemble. No AnoOnly variant: its triplet loss couples rows.";
    const SUPPORTS_ANOONLY: bool = false;
    /// None: a baseline without a normalisation layer.
    const OWN_NORM: NormKind = NormKind::None;
    /// Its triplets take their negatives from the labeled anomalies.
    const TRAINS_WITHOUT_ANOMALIES: bool = false;

    fn knobs(p: &mut RepenParams) -> Knobs<'_> {
        Knobs::new(&mut p.epochs, &mut p.batch_size)
    }

    fn layer_widths(p: &RepenParams, n_features: usize) -> Vec<(&'static str, usize)> {
        vec![("n_features", n_features), ("hidden", p.hidden)]
    }

    fn relative_cost(n_rows: usize) -> f64 {
        let _ = n_rows;
        // Measured CPU: 18-32 s whatever the size (50,000 steps).
        20.0
    }

    fn validate(params: &RepenParams) -> Result<(), ParamError> {
        params.validate()
    }

    fn fit(
        params: &RepenParams,
        train: &TrainParams,
        x: ArrayView2<f32>,
        y: ArrayView1<u8>,
        ctx: FitContext<'_>,
    ) -> Result<(Self, TrainReport), FitError> {
        let observer = ctx.observer;
        let inliers: Vec<usize> = (0..y.len()).filter(|&i| y[i] == 0).collect();
        let anomalies: Vec<usize> = (0..y.len()).filter(|&i| y[i] == 1).collect();
        if inliers.len() < 2 {
            return Err(FitError::TooFewUnlabeled {
                method: MethodKind::Repen,
                found: inliers.len(),
                needed: 2,
            });
        }
        if anomalies.is_empty() {
            return Err(FitError::NoLabeledAnomaly {
                method: MethodKind::Repen,
            });
        }
        let seed = train.seed;
        let mut net = params.network(x.ncols(), &mut component_rng(seed, "init"));
        let mut rng = component_rng(seed, "triplets");
        let report = train_net(
            params, x, &inliers, &anomalies, &mut net, &mut rng, observer,
        )?;
        net.clear_cache();
        let lesinn = draw_lesinn(params, &net, x, &mut component_rng(seed, "lesinn"));
        Ok((FittedRepen { net, lesinn }, report))
    }

    fn decision_function(&self, x: ArrayView2<f32>) -> Array1<f32> {
        self.scores(x)
    }

    /// The learned representation (`hidden` wide, 20 by default): what the LeSiNN scorer
    /// reads, REPEN having no last layer of its own.
    fn representation(&self, x: ArrayView2<f32>) -> Option<Array2<f32>> {
        let width = match self.net.layers.first() {
            Some(crate::nn::Layer::Linear(l)) => l.d_out(),
            _ => 0,
        };
        let mut net = self.net.clone();
        Some(crate::nn::eval_matrix(x, width, |chunk| {
            net.forward(chunk, Mode::Eval)
        }))
    }

    fn state(&self, out: &mut Vec<NamedTensor>) {
        self.net.state("net.", out);
        out.push(mat_tensor("lesinn.refs", &self.lesinn.refs));
    }

    fn from_state(
        params: &RepenParams,
        _train: &TrainParams,
        n_features: usize,
        tensors: &[NamedTensor],
    ) -> Result<Self, StateError> {
        let mut net = params.network(n_features, &mut component_rng(0, "load"));
        net.load_state("net.", tensors)?;
        let name = "lesinn.refs";
        let refs = load_rows(tensors, name, params.hidden)?;
        if refs.nrows() % params.ensemble_size != 0 {
            return Err(StateError::Shape {
                name: name.to_string(),
                expected: vec![params.ensemble_size * params.subsample_size, params.hidden],
                found: refs.shape().to_vec(),
            });
        }
        Ok(FittedRepen {
            net,
            lesinn: Lesinn {
                refs,
                members: params.ensemble_size,
                k: params.n_neighbors,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::bits;

    /// Forwarding each distinct row once and scattering the triplet gradients back gives
    /// the gradient of three separate passes (example, positive, negative batches).
    #[test]
    fn distinct_rows_give_the_gradient_of_three_passes() {
        let mut rng = component_rng(3, "t");
        let x = Array2::from_shape_fn((30, 5), |_| rng.gen_range(-1.0f32..1.0));
        let params = RepenParams {
            hidden: 4,
            ..RepenParams::default()
        };
        let net = params.network(5, &mut rng);
        let inliers: Vec<usize> = (0..27).collect();
        let mut t = Triplets::default();
        draw_triplets(&inliers, &[27, 28, 29], 40, &mut rng, &mut t);
        let weight_grad = |net: &mut Sequential| {
            let mut g = Vec::new();
            net.visit_params(&mut |p| g.extend_from_slice(p.grad));
            g
        };
        // Distinct rows.
        let mut a = net.clone();
        let mut dd = Dedup::new(30);
        dd.map(0, &t);
        assert!(dd.rows.len() < 120);
        let h = a.forward(&gather_rows(x.view(), &dd.rows), Mode::Train);
        let mut g = Matrix::zeros(h.raw_dim());
        let va = triplet_loss(&h, &dd.local, 1000.0, &mut g);
        a.backward(&g, false);
        // Three stacked passes of 40 rows each.
        let mut b = net.clone();
        let all: Vec<usize> = [&t.example[..], &t.positive[..], &t.negative[..]].concat();
        let stacked = Triplets {
            example: (0..40).collect(),
            positive: (40..80).collect(),
            negative: (80..120).collect(),
        };
        let h = b.forward(&gather_rows(x.view(), &all), Mode::Train);
        let mut g = Matrix::zeros(h.raw_dim());
        let vb = triplet_loss(&h, &stacked, 1000.0, &mut g);
        b.backward(&g, false);
        assert_eq!(va, vb);
        let (ga, gb) = (weight_grad(&mut a), weight_grad(&mut b));
        let scale = gb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(scale > 0.0);
        for (u, v) in ga.iter().zip(&gb) {
            assert!((u - v).abs() <= 1e-5 * scale, "{u} vs {v}");
        }
    }

    /// The flat-slice loss (standard-layout representations and gradient) gives the
    /// bits of the indexed loop it replaced, which any other layout still takes: the loss
    /// and the accumulated gradient, with rows shared between triplets, hinge terms on
    /// both sides of zero, and a gradient that already holds values.
    #[test]
    fn flat_triplet_loss_matches_the_indexed_loop_bit_for_bit() {
        let mut rng = component_rng(5, "flat");
        let h = Array2::from_shape_fn((60, 20), |_| rng.gen_range(-1.0f32..1.0));
        let h_cols = h.t().as_standard_layout().into_owned().reversed_axes();
        assert!(h_cols.as_slice().is_none());
        let inliers: Vec<usize> = (0..50).collect();
        let mut t = Triplets::default();
        draw_triplets(&inliers, &[50, 53, 59], 256, &mut rng, &mut t);
        let start = Array2::from_shape_fn((60, 20), |_| rng.gen_range(-0.1f32..0.1));
        for margin in [0.5f32, 3.0, 1000.0] {
            let (mut g_flat, mut g_loop) = (start.clone(), start.clone());
            let flat = triplet_loss(&h, &t, margin, &mut g_flat);
            let indexed = triplet_loss(&h_cols, &t, margin, &mut g_loop);
            assert_eq!(flat.to_bits(), indexed.to_bits(), "margin {margin}");
            assert_eq!(bits(&g_flat), bits(&g_loop), "margin {margin}");
        }
        // At margin 0.5 some hinges are active and some are not (both branches ran).
        let sq = |a: usize, b: usize| (&h.row(a) - &h.row(b)).mapv(|v| v * v).sum();
        let active = (0..t.example.len())
            .filter(|&i| {
                let (e, p, q) = (t.example[i], t.positive[i], t.negative[i]);
                0.5 - (sq(e, q) - sq(e, p)) > 0.0
            })
            .count();
        assert!(active > 0 && active < t.example.len(), "{active} active");
    }
}
