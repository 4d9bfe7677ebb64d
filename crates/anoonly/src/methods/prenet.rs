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
//! [`Reduction::WeightedMean`](crate::train::Reduction::WeightedMean): the mean over the 512 pairs (vanilla) or over the 256
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
//!
//! This file is the method: its parameters, its fit and its scoring against the reference
//! pools. Its parts: [`net`] (the pair network), [`pairs`] (the pair sampler, the losses
//! and the training task).

pub mod net;
pub mod pairs;

use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, Axis};
use rand::{Rng as _, SeedableRng};
use serde::{Deserialize, Serialize};

use super::{FitError, Knobs, Method, MethodKind};
use crate::nn::{LrSchedule, Matrix, Mode, Module, NamedTensor, RmsProp, StateError};
use crate::rng::{component_rng, sub_seed, Rng};
use crate::train::{
    self, head_norm, Checkpoint, FitContext, HeadNorm, Schedule, ScheduleUnit, TrainParams,
    TrainReport,
};
use crate::vocab::tensor::{load_rows, mat_tensor};
use crate::vocab::{count_in, non_negative, positive, NormKind, ParamError};
use net::PairNet;
use pairs::{PReNetLoss, PReNetTask};

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
        if self.batch_size < 4 || !self.batch_size.is_multiple_of(4) {
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
    const DISPLAY_NAME: &'static str = "PReNet";
    const SUMMARY: &'static str =
        "PReNet (Pang et al., KDD 2023): a pairwise relation network scoring a row against \
         reference anomalies and unlabeled rows. AnoOnly (`anoonly=True`, `--anoonly`) drops \
         the loss on pairs of unlabeled rows (lambda_n = 0) and adds a BatchNorm at the end of \
         the shared feature branch.";
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

    /// The shared feature branch φ of each row (20-d: Linear, ReLU, and AnoOnly's
    /// BatchNorm when the fit had one): what the pair score layer reads of a row, on the
    /// left beside a reference anomaly and on the right beside an unlabeled row.
    fn representation(&self, x: ArrayView2<f32>) -> Option<Array2<f32>> {
        let mut feature = self.net.feature.clone();
        Some(crate::nn::eval_matrix(x, self.net.hidden(), |chunk| {
            feature.forward(chunk, Mode::Eval)
        }))
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

    fn toy_fitted(norm: NormKind) -> (FittedPReNet, Array2<f32>) {
        let mut rng = component_rng(5, "toy");
        let mut net = PairNet::new(4, 6, norm, 1e-5, &mut rng);
        // Non-trivial running statistics.
        // 32 pairs: left rows over right rows.
        let warm = Matrix::from_shape_simple_fn((64, 4), || rng.gen_range(0.0f32..1.0));
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
