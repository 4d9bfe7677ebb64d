//! WSAD-DT (Durani et al., ICML 2025, "Weakly Supervised Anomaly Detection via Dual-Tailed
//! Kernel") as the authors' code runs it: PyPI `wsad-dt` 1.0.0, `wsad_dt/_reference.py`,
//! byte-identical to their repository (docs/protocol.md, WSAD-DT section).
//!
//! An ensemble of `n_ensemble` = 5 encoders `d → 100 → 50 → 128`, SELU, no biases, torch
//! default init. Member `j` trains on the `j`-th consecutive part of the unlabeled rows and
//! on **all** labeled anomalies ([`sampler::partition`]), in batches of 64 drawn with
//! replacement by the authors' weighted sampler ([`sampler::MemberSampler`]: about 71%
//! anomalies per batch). Its normal and anomaly centres are the mean latents of one pass of
//! that sampler through the untrained network (components closer to 0 than 0.1 pushed to
//! ±0.1), fixed from then on. Loss per batch ([`loss`]): `loss_normal` (mean over the
//! unlabeled rows) `+ loss_abnormal` (mean over the anomalies) `+ K_uu + K_aa` (the
//! diversity regulariser on at most 8 latents of each class); Adam 1e-3, weight decay 1e-5,
//! gradient norm clipped to 1, 100 epochs. Score: the mean over members of
//! `1 − p_n/(p_n + p_a + 1e-6)` with the heavy-tailed kernel for both centres.
//!
//! Where this departs from the authors' code (each in docs/protocol.md): member `j` draws
//! from its own streams `component_rng(seed, "wsad-dt-member-j-...")` (theirs reseed torch
//! with `seed·(j+1)`, so seed 0 gives every member the same init and draws); the second,
//! unused forward pass of each step is not run; a step whose loss is not finite is skipped
//! as theirs is, and counted in the report's notes; a member whose scores are not finite
//! fails the fit (theirs averages with `nanmean`).
//!
//! AnoOnly: `L_N = loss_normal + K_uu` (unlabeled rows only), `L_A = loss_abnormal + K_aa`
//! (anomalies only); `lambda_n` weighs `L_N` through [`Reduction::ClassMeans`] and the same
//! weight on `K_uu` (`reg_unlabeled = always` keeps `K_uu` at weight 1). AnoOnly adds a torch
//! BatchNorm on the 50-d input of the last layer ([`head_norm`], so `--norm` works). The
//! normal centre still comes from the untrained network: it is not a loss.
//!
//! The members are trained one after the other and report each epoch as
//! [`Stage::Member`]; they read labels, so they are no shareable stage.

pub mod loss;
pub mod sampler;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use super::{FitError, Knobs, Method, MethodKind};
use crate::nn::{
    clip_grad_norm, eval_rows, gather_rows, pool, sum_aux, Activation, ActivationLayer, Adam, Init,
    Linear, Matrix, Mode, Module, NamedTensor, Optimizer, Sequential, StateError, EVAL_CHUNK,
};
use crate::rng::{component_rng, Rng};
use crate::train::{
    combine, head_norm, norm_layer, report_epoch, row_batch, rows_labeled, BatchLoss, EmptyBatch,
    EpochReport, FitContext, HeadNorm, Item, LossWeighting, NormFlavour, Reduction, Stage,
    TrainParams, TrainReport,
};
use crate::vocab::tensor::{load_vec, vec_tensor};
use crate::vocab::{count_in, hidden_widths, non_negative, positive, NormKind, ParamError};
use loss::{diversity, WsadDtLoss};
use sampler::{partition, MemberSampler};

/// Components of a centre closer to 0 than this are pushed to ±this (an exact 0 stays).
const CENTRE_PUSH: f32 = 0.1;

/// WSAD-DT hyperparameters; defaults are the authors' code (all hard-coded there).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WsadDtParams {
    /// Hidden widths of each encoder (authors: 100, 50).
    pub hidden: Vec<usize>,
    /// Latent size (authors: 128).
    pub rep_dim: usize,
    /// Members of the ensemble, one per part of the unlabeled rows (authors: 5).
    pub n_ensemble: usize,
    /// Epochs of each member.
    pub epochs: usize,
    /// Training batch size (the authors' 64; their wrapper's `batch_size` is for scoring).
    pub batch_size: usize,
    /// Adam learning rate.
    pub lr: f32,
    /// L2 weight decay added to the gradient (torch Adam).
    pub weight_decay: f32,
    /// Largest L2 norm of all gradients together (`clip_grad_norm_`).
    pub max_grad_norm: f32,
    /// α of the heavy-tailed kernel `(1 + t/α)^(−(α+1)/2)` (training and scoring).
    pub alpha: f32,
    /// ε of the posterior's denominator and clamps.
    pub eps: f32,
    /// Latents per class the regulariser takes from a batch.
    pub reg_points: usize,
    /// σ of the regulariser's Gaussian kernel on unlabeled latents (`K_uu`).
    pub sigma_u: f32,
    /// σ of the regulariser's Gaussian kernel on anomaly latents (`K_aa`).
    pub sigma_a: f32,
    /// Whether `K_uu` belongs to `L_N` (weighted by `lambda_n`, dropped by AnoOnly; the
    /// default) or is always kept at weight 1.
    pub reg_unlabeled: RegUnlabeled,
}

/// Where the diversity regulariser on unlabeled latents `K_uu` goes (docs/protocol.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegUnlabeled {
    /// In `L_N`: computed from unlabeled rows only, as the AnoOnly rule reads it.
    #[default]
    NormalLoss,
    /// Kept at weight 1 whatever `lambda_n`: the regulariser as a property of the
    /// representation rather than a loss on normal rows.
    Always,
}

impl Default for WsadDtParams {
    fn default() -> Self {
        WsadDtParams {
            hidden: vec![100, 50],
            rep_dim: 128,
            n_ensemble: 5,
            epochs: 100,
            batch_size: 64,
            lr: 1e-3,
            weight_decay: 1e-5,
            max_grad_norm: 1.0,
            alpha: 0.2,
            eps: 1e-6,
            reg_points: 8,
            sigma_u: 0.1,
            sigma_a: 1.0,
            reg_unlabeled: RegUnlabeled::NormalLoss,
        }
    }
}

impl WsadDtParams {
    pub fn validate(&self) -> Result<(), ParamError> {
        hidden_widths("hidden", &self.hidden)?;
        count_in("rep_dim", self.rep_dim, 1, usize::MAX)?;
        count_in("n_ensemble", self.n_ensemble, 1, 1000)?;
        count_in("epochs", self.epochs, 1, 1_000_000)?;
        count_in("batch_size", self.batch_size, 1, usize::MAX)?;
        positive("lr", self.lr)?;
        non_negative("weight_decay", self.weight_decay)?;
        positive("max_grad_norm", self.max_grad_norm)?;
        positive("alpha", self.alpha)?;
        positive("eps", self.eps)?;
        if self.eps >= 0.5 {
            return Err(ParamError::new("eps", self.eps, "must be below 0.5"));
        }
        count_in("reg_points", self.reg_points, 1, 1_000_000)?;
        positive("sigma_u", self.sigma_u)?;
        positive("sigma_a", self.sigma_a)?;
        Ok(())
    }

    /// One member's encoder: `Linear` (no bias) + SELU per hidden width, the run's
    /// normalisation ([`head_norm`]: none, or AnoOnly's torch BatchNorm) on the last hidden
    /// layer, then `Linear` to the latent.
    pub fn network(&self, d_in: usize, norm: impl Into<HeadNorm>, rng: &mut Rng) -> Sequential {
        let mut layers = Vec::new();
        let mut width = d_in;
        for &h in &self.hidden {
            layers.push(Linear::new(width, h, false, Init::TorchDefault, rng).into());
            layers.push(ActivationLayer::new(Activation::Selu).into());
            width = h;
        }
        layers.extend(norm_layer(norm, width, NormFlavour::Torch { bn_eps: 1e-5 }));
        layers.push(Linear::new(width, self.rep_dim, false, Init::TorchDefault, rng).into());
        Sequential::new(layers)
    }
}

/// One fitted member: its encoder and its two fixed centres.
#[derive(Clone, Debug)]
pub struct Member {
    pub net: Sequential,
    pub loss: WsadDtLoss,
}

/// A fitted WSAD-DT ensemble.
#[derive(Clone, Debug)]
pub struct FittedWsadDt {
    pub members: Vec<Member>,
}

/// `v` with every component closer to 0 than [`CENTRE_PUSH`] pushed to ±it, keeping its
/// sign (an exact 0 stays), as the authors' `calculate_centers`.
fn push_from_zero(v: f32) -> f32 {
    if v.abs() < CENTRE_PUSH && v < 0.0 {
        -CENTRE_PUSH
    } else if v.abs() < CENTRE_PUSH && v > 0.0 {
        CENTRE_PUSH
    } else {
        v
    }
}

/// The centres of a member: the mean latent (inference mode) of the unlabeled and of the
/// anomaly draws of one pass of its sampler, then [`push_from_zero`]. Each drawn row counts
/// as often as it was drawn; a class the pass did not draw (a tiny member) takes the mean
/// over all its rows instead (the authors' code would fail there).
fn centres(
    net: &Sequential,
    x: ArrayView2<f32>,
    sampler: &MemberSampler<'_>,
    rng: &mut Rng,
) -> (Array1<f32>, Array1<f32>) {
    let mut counts = vec![0u32; x.nrows()];
    for r in sampler.pass(rng) {
        counts[r as usize] += 1;
    }
    let mean_of = |rows: &[u32], weighted: bool| -> Array1<f32> {
        let w = |r: u32| if weighted { counts[r as usize] } else { 1 };
        let rows: Vec<u32> = rows.iter().copied().filter(|&r| w(r) > 0).collect();
        let mut sum: Option<Array1<f64>> = None;
        let mut total = 0u64;
        for chunk in rows.chunks(EVAL_CHUNK) {
            let z = net.clone().forward(&gather_rows(x, chunk), Mode::Eval);
            for (zr, &r) in z.outer_iter().zip(chunk) {
                let k = f64::from(w(r));
                let part = zr.mapv(|v| f64::from(v) * k);
                sum = Some(match sum.take() {
                    Some(s) => s + part,
                    None => part,
                });
                total += u64::from(w(r));
            }
        }
        sum.map_or_else(
            || Array1::zeros(0),
            |s| s.mapv(|v| push_from_zero((v / total as f64) as f32)),
        )
    };
    let drew = |pool: &[u32]| pool.iter().any(|&r| counts[r as usize] > 0);
    let centre = |pool: &[u32]| mean_of(pool, drew(pool));
    (centre(sampler.unlabeled), centre(sampler.anomalies))
}

/// What one member's training left in the fit's report.
#[derive(Default)]
struct MemberLog {
    epoch_losses: Vec<Option<f32>>,
    steps: usize,
    empty: usize,
    skipped_nan: usize,
}

/// Everything a member's training reads.
struct MemberRun<'a, 'x> {
    params: &'a WsadDtParams,
    train: &'a TrainParams,
    x: ArrayView2<'x, f32>,
    anomaly: &'a [bool],
    index: usize,
}

impl MemberRun<'_, '_> {
    /// Trains member `index` on `sampler`'s draws; reports each epoch to `observer`.
    fn train(
        &self,
        sampler: &MemberSampler<'_>,
        observer: &mut dyn crate::train::FitObserver,
        log: &mut MemberLog,
    ) -> Result<Member, FitError> {
        let (p, seed, j) = (self.params, self.train.seed, self.index);
        let stream = |what: &str| component_rng(seed, &format!("wsad-dt-member-{j}-{what}"));
        let norm = head_norm(self.train, FittedWsadDt::OWN_NORM);
        let mut net = p.network(self.x.ncols(), norm, &mut stream("init"));
        let mut draws = stream("sampler");
        let mut reg_rng = stream("reg");
        let (c_n, c_a) = centres(&net, self.x, sampler, &mut draws);
        let loss = WsadDtLoss {
            c_n,
            c_a,
            alpha: p.alpha,
            eps: p.eps,
        };
        let weighting = self.train.weighting(Reduction::ClassMeans);
        let mut opt = Adam::torch(p.weight_decay);
        for epoch in 0..p.epochs {
            let rows = sampler.pass(&mut draws);
            let (mut loss_sum, mut loss_count, mut empty) = (0.0f64, 0usize, 0usize);
            let batches = rows.chunks(p.batch_size);
            let n_batches = batches.len();
            for batch in batches {
                let (input, items) = row_batch(self.x, self.anomaly, batch);
                net.zero_grad();
                let z = net.forward(&input, Mode::Train);
                let aux = net.take_aux_loss();
                let bl = batch_loss(&loss, p, &weighting, &z, &items, batch, &mut reg_rng);
                let value = sum_aux([bl.value, aux]);
                pool::recycle(input);
                pool::recycle(z);
                log.steps += 1;
                match value {
                    Some(v) if !v.is_finite() => {
                        // The authors' `if torch.isnan(total_loss): continue`.
                        net.clear_cache();
                        log.skipped_nan += 1;
                    }
                    Some(v) => {
                        net.backward(&bl.grad, false);
                        clip_grad_norm(&mut net, p.max_grad_norm);
                        opt.step(&mut net, p.lr);
                        loss_sum += f64::from(v);
                        loss_count += 1;
                    }
                    None => {
                        // No loss (AnoOnly, no anomaly drawn): the gradients stay zero.
                        net.clear_cache();
                        empty += 1;
                        if self.train.empty_batch == EmptyBatch::Step {
                            opt.step(&mut net, p.lr);
                        }
                    }
                }
                pool::recycle(bl.grad);
            }
            let epoch_loss = (loss_count > 0).then(|| (loss_sum / loss_count as f64) as f32);
            log.epoch_losses.push(epoch_loss);
            log.empty += empty;
            let report = EpochReport {
                stage: Stage::Member {
                    index: j,
                    of: p.n_ensemble,
                },
                epoch,
                epochs: p.epochs,
                loss: epoch_loss,
                empty_batches: empty,
                batches: n_batches,
            };
            if let Err(stop) = report_epoch(observer, &report) {
                net.clear_cache();
                pool::clear();
                return Err(stop.into());
            }
        }
        net.clear_cache();
        Ok(Member { net, loss })
    }
}

/// WSAD-DT's loss on the latents `z` of one batch of training rows `rows` (`items`: which
/// are labeled anomalies) and its gradient in `z`: `lambda_n · (loss_normal + K_uu) +
/// loss_abnormal + K_aa`, the per-row terms through [`combine`] with `weighting` (its
/// [`Reduction::ClassMeans`]), `K_uu` and `K_aa` on at most `reg_points` latents of each class
/// drawn from `rng` (the draws are made whatever the weights, so a `lambda_n` sweep sees the
/// same latents). `K_uu` takes weight 1 under [`RegUnlabeled::Always`]. `None` when no term
/// carries weight (AnoOnly on a batch without anomaly).
pub fn batch_loss(
    loss: &WsadDtLoss,
    params: &WsadDtParams,
    weighting: &LossWeighting,
    z: &Matrix,
    items: &[Item],
    rows: &[u32],
    rng: &mut Rng,
) -> BatchLoss {
    let mut bl = combine(loss, z, items, weighting);
    let (mut u_pos, mut a_pos): (Vec<usize>, Vec<usize>) = (Vec::new(), Vec::new());
    for it in items {
        if it.anomaly {
            a_pos.push(it.index);
        } else {
            u_pos.push(it.index);
        }
    }
    subsample(&mut u_pos, params.reg_points, rng);
    subsample(&mut a_pos, params.reg_points, rng);
    let w_uu = match params.reg_unlabeled {
        RegUnlabeled::NormalLoss => weighting.lambda_n,
        RegUnlabeled::Always => 1.0,
    };
    let k_uu = (w_uu != 0.0 && !u_pos.is_empty())
        .then(|| w_uu * diversity(z, &u_pos, rows, params.sigma_u, w_uu, &mut bl.grad));
    let k_aa =
        (!a_pos.is_empty()).then(|| diversity(z, &a_pos, rows, params.sigma_a, 1.0, &mut bl.grad));
    bl.value = sum_aux([bl.value, k_uu, k_aa]);
    bl
}

/// Keeps `k` of `positions`, drawn without replacement (all of them when there are at most
/// `k`; the regulariser's mean does not depend on their order).
fn subsample(positions: &mut Vec<usize>, k: usize, rng: &mut Rng) {
    if positions.len() <= k {
        return;
    }
    let picked = rand::seq::index::sample(rng, positions.len(), k);
    let kept: Vec<usize> = picked.iter().map(|i| positions[i]).collect();
    *positions = kept;
}

impl FittedWsadDt {
    /// The score of each row for each member (one column per member).
    fn member_scores(&self, x: ArrayView2<f32>) -> Vec<Array1<f32>> {
        self.members
            .iter()
            .map(|m| eval_rows(&m.net, x, |z| m.loss.score(z)))
            .collect()
    }

    /// The ensemble's scores: the mean of the members' scores.
    pub fn scores(&self, x: ArrayView2<f32>) -> Array1<f32> {
        let per = self.member_scores(x);
        let mut sum = Array1::<f32>::zeros(x.nrows());
        for s in &per {
            sum += s;
        }
        let k = self.members.len().max(1) as f32;
        sum.mapv(|v| v / k)
    }
}

/// The hidden features `net`'s last layer reads, in inference mode (chunks of
/// [`EVAL_CHUNK`] rows).
fn hidden_features(net: &Sequential, x: ArrayView2<f32>) -> Array2<f32> {
    let n = net.layers.len().saturating_sub(1);
    let mut body = Sequential::new(net.layers[..n].to_vec());
    let parts: Vec<Array2<f32>> = x
        .axis_chunks_iter(Axis(0), EVAL_CHUNK)
        .map(|chunk| body.forward(&chunk.to_owned(), Mode::Eval))
        .collect();
    let views: Vec<_> = parts.iter().map(Array2::view).collect();
    ndarray::concatenate(Axis(0), &views).unwrap_or_else(|_| Array2::zeros((0, 0)))
}

impl Method for FittedWsadDt {
    type Params = WsadDtParams;
    const NAME: &'static str = "wsad-dt";
    const DISPLAY_NAME: &'static str = "WSADDT";
    const SUMMARY: &'static str =
        "WSAD-DT (Durani et al., ICML 2025): weakly supervised anomaly detection with \
         dual-tailed kernels; an ensemble of encoders, each trained on one part of the \
         unlabeled rows and all labeled anomalies, pulls each row towards its class's centre \
         (light-tailed kernel) and away from the other (heavy-tailed kernel), with a kernel \
         diversity regulariser within each class; the score is the members' mean heavy-tailed \
         posterior of the anomaly centre. AnoOnly (`anoonly=True`, `--anoonly`) drops every \
         term on unlabeled rows (their kernel loss and their diversity term; lambda_n = 0) and \
         adds a BatchNorm before each encoder's last layer.";
    const SUPPORTS_ANOONLY: bool = true;
    /// None (AnoOnly adds a torch BatchNorm before the last layer).
    const OWN_NORM: NormKind = NormKind::None;
    /// Its anomaly centre and `loss_abnormal` need labeled anomalies.
    const TRAINS_WITHOUT_ANOMALIES: bool = false;

    fn knobs(p: &mut WsadDtParams) -> Knobs<'_> {
        Knobs::new(&mut p.epochs, &mut p.batch_size)
    }

    fn layer_widths(p: &WsadDtParams, n_features: usize) -> Vec<(&'static str, usize)> {
        let mut w = vec![("n_features", n_features)];
        w.extend(p.hidden.iter().map(|&h| ("hidden", h)));
        w.push(("rep_dim", p.rep_dim));
        w
    }

    /// 5 members × 100 epochs of `N/64` steps: about 20 DeepSADs.
    fn relative_cost(n_rows: usize) -> f64 {
        20.0 * super::rows_in_thousands(n_rows)
    }

    fn validate(params: &WsadDtParams) -> Result<(), ParamError> {
        params.validate()
    }

    fn fit(
        params: &WsadDtParams,
        train_params: &TrainParams,
        x: ArrayView2<f32>,
        y: ArrayView1<u8>,
        ctx: FitContext<'_>,
    ) -> Result<(Self, TrainReport), FitError> {
        let observer = ctx.observer;
        let unlabeled = rows_labeled(y, 0);
        let anomalies = rows_labeled(y, 1);
        let k = params.n_ensemble;
        if unlabeled.len() < k {
            return Err(FitError::TooFewUnlabeled {
                method: MethodKind::WsadDt,
                found: unlabeled.len(),
                needed: k,
            });
        }
        let anomaly: Vec<bool> = y.iter().map(|&v| v == 1).collect();
        let mut log = MemberLog::default();
        let mut members = Vec::with_capacity(k);
        for j in 0..k {
            let sampler = MemberSampler::new(
                partition(&unlabeled, k, j),
                &anomalies,
                unlabeled.len(),
                x.nrows(),
            );
            let run = MemberRun {
                params,
                train: train_params,
                x,
                anomaly: &anomaly,
                index: j,
            };
            members.push(run.train(&sampler, observer, &mut log)?);
        }
        pool::clear();
        let mut report = TrainReport {
            epoch_losses: log.epoch_losses,
            steps: log.steps,
            empty_batches: log.empty,
            kept_epoch: params.epochs - 1,
            notes: Vec::new(),
        };
        if log.skipped_nan > 0 {
            report.notes.push(format!(
                "wsad-dt: {} of {} training steps had a non-finite loss and were skipped (as the authors' code does)",
                log.skipped_nan, log.steps
            ));
        }
        Ok((FittedWsadDt { members }, report))
    }

    fn decision_function(&self, x: ArrayView2<f32>) -> Array1<f32> {
        self.scores(x)
    }

    /// The members' hidden features before their last layers, side by side (member 0's
    /// columns first): what the ensemble's last layers read.
    fn representation(&self, x: ArrayView2<f32>) -> Option<Array2<f32>> {
        let parts: Vec<Array2<f32>> = self
            .members
            .iter()
            .map(|m| hidden_features(&m.net, x))
            .collect();
        let views: Vec<_> = parts.iter().map(Array2::view).collect();
        ndarray::concatenate(Axis(1), &views).ok()
    }

    fn state(&self, out: &mut Vec<NamedTensor>) {
        for (j, m) in self.members.iter().enumerate() {
            m.net.state(&format!("member{j}.net."), out);
            out.push(vec_tensor(format!("member{j}.c_n"), &m.loss.c_n));
            out.push(vec_tensor(format!("member{j}.c_a"), &m.loss.c_a));
        }
    }

    fn from_state(
        params: &WsadDtParams,
        train: &TrainParams,
        n_features: usize,
        tensors: &[NamedTensor],
    ) -> Result<Self, StateError> {
        let norm = head_norm(train, Self::OWN_NORM);
        let members = (0..params.n_ensemble)
            .map(|j| {
                let mut net = params.network(n_features, norm, &mut component_rng(0, "load"));
                net.load_state(&format!("member{j}.net."), tensors)?;
                let c_n = load_vec(tensors, &format!("member{j}.c_n"), params.rep_dim)?;
                let c_a = load_vec(tensors, &format!("member{j}.c_a"), params.rep_dim)?;
                Ok(Member {
                    net,
                    loss: WsadDtLoss {
                        c_n,
                        c_a,
                        alpha: params.alpha,
                        eps: params.eps,
                    },
                })
            })
            .collect::<Result<Vec<_>, StateError>>()?;
        Ok(FittedWsadDt { members })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centre_components_are_pushed_from_zero() {
        assert_eq!(push_from_zero(0.05), 0.1);
        assert_eq!(push_from_zero(-0.01), -0.1);
        assert_eq!(push_from_zero(0.0), 0.0);
        assert_eq!(push_from_zero(-0.3), -0.3);
    }

    #[test]
    fn network_has_the_authors_shape_and_anoonly_adds_a_batchnorm_before_the_last_layer() {
        use crate::nn::Layer;
        let p = WsadDtParams::default();
        let kinds = |norm: NormKind| -> Vec<&'static str> {
            p.network(7, norm, &mut component_rng(0, "t"))
                .layers
                .iter()
                .map(|l| match l {
                    Layer::Linear(l) if l.bias.is_none() => "lin",
                    Layer::Linear(_) => "lin+b",
                    Layer::BatchNorm(_) => "bn",
                    Layer::Act(a) if a.kind == Activation::Selu => "selu",
                    _ => "other",
                })
                .collect()
        };
        assert_eq!(kinds(NormKind::None), ["lin", "selu", "lin", "selu", "lin"]);
        assert_eq!(
            kinds(NormKind::Bn),
            ["lin", "selu", "lin", "selu", "bn", "lin"]
        );
    }
}
