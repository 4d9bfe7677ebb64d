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
//! (`anoonly = false`, `lambda_n = 1`): it is not the SSAD loss, so the AnoOnly switch does
//! not apply to it (the authors pretrain identically in both variants).
//!
//! **Stage 2, scoring net** ([`FeawadNet`], the autoencoder's layers shared and initialised
//! from stage 1, trained end to end): `r = x − x̂`, `n_r = ‖r‖₂`, `r̂ = r / n_r`,
//! `z0 = [r̂ ‖ h ‖ n_r]` → `Dense(256, ReLU)` → `‖ n_r` → `Dense(32, ReLU)` → `‖ n_r` →
//! Keras BatchNorm(33) → `Dense(1)` = `s`. The BatchNorm is in the authors' vanilla FEAWAD
//! too (the paper's B.3 says it is added for AnoOnly only), so the method's
//! [`train::head_norm`] default is [`NormKind::Bn`] (Keras flavour) and AnoOnly keeps it.
//! Keras Adam lr 1e-4, 30 epochs × 20 steps, batches of 512 = 256 unlabeled rows at even
//! positions and 256 labeled anomalies at odd positions (both with replacement), Keras
//! batch mean ([`Reduction::BatchMean`]), best-training-loss checkpoint. Score: `s`, the
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
//! the authors' TF code: ~30–40 s). A grid shares the pretraining between cells
//! ([`crate::train::shared`]). The first
//! layer produces no input gradient and the residual, its norm and the concatenations are
//! differentiated by hand inside [`FeawadNet`].
//!
//! The fit's [`TrainReport`] is the scoring stage's, with `steps` counting both stages.

use ndarray::{concatenate, s, Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, Axis, Zip};
use rand::Rng as _;
use serde::{Deserialize, Serialize};

use super::{FitError, Knobs, Method};
use crate::nn::{
    pool, Activation, ActivationLayer, Adam, Init, Layer, Linear, LrSchedule, Matrix, Mode, Module,
    NamedTensor, ParamMut, Sequential, StateError,
};
use crate::rng::{component_rng, Rng};
use crate::train::shared::{Key, KeyBuilder, PretrainCache, Pretrained};
use crate::train::{
    self, head_norm, norm_layer, row_batch, Checkpoint, HeadNorm, Interrupted, Item, NormFlavour,
    Observer, Reduction, Schedule, ScheduleUnit, SsadLoss, Stage, Staged, Task, TrainParams,
    TrainReport,
};
use crate::vocab::{non_negative, positive, NormKind, ParamError};

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

    /// The autoencoder, layers drawn from `rng` in Keras build order (ain, ae1, ae2, ad1,
    /// ad2).
    pub fn autoencoder(&self, d: usize, rng: &mut Rng) -> Autoencoder {
        let mut dense = |i, o| -> [Layer; 2] {
            [
                Linear::new(i, o, true, Init::GlorotNormal, rng).into(),
                ActivationLayer::new(Activation::Relu).into(),
            ]
        };
        let encoder: Vec<Layer> = [
            dense(d, d),
            dense(d, self.ae_hidden),
            dense(self.ae_hidden, self.code_dim),
        ]
        .into_iter()
        .flatten()
        .collect();
        let decoder: Vec<Layer> = [
            dense(self.code_dim, self.ae_hidden),
            dense(self.ae_hidden, d),
        ]
        .into_iter()
        .flatten()
        .collect();
        Autoencoder {
            encoder: Sequential::new(encoder),
            decoder: Sequential::new(decoder),
        }
    }

    /// The scoring net around `ae`, head layers drawn from `rng`; `norm` is the layer on
    /// the 33-d input of the output layer (the method's own: Keras BatchNorm).
    pub fn scoring_net(
        &self,
        ae: Autoencoder,
        norm: impl Into<HeadNorm>,
        rng: &mut Rng,
    ) -> FeawadNet {
        let d = ae.d();
        let [w1, w2] = self.head_hidden;
        let z0 = d + self.code_dim + 1;
        let dense1 = Linear::new(z0, w1, true, Init::GlorotNormal, rng);
        let dense2 = Linear::new(w1 + 1, w2, true, Init::GlorotNormal, rng);
        let n = w2 + 1;
        let norm = norm_layer(norm, n, NormFlavour::Keras);
        let out = Linear::new(n, 1, true, Init::GlorotNormal, rng);
        FeawadNet {
            ae,
            dense1,
            dense2,
            norm,
            out,
            cache: Vec::new(),
        }
    }
}

/// The autoencoder: `encoder` = ain, ae1, ae2 (each Dense + ReLU), output `h`; `decoder` =
/// ad1, ad2, output `x̂`.
#[derive(Clone, Debug)]
pub struct Autoencoder {
    pub encoder: Sequential,
    pub decoder: Sequential,
}

impl Autoencoder {
    /// Input width.
    pub fn d(&self) -> usize {
        match self.encoder.layers.first() {
            Some(Layer::Linear(l)) => l.d_in(),
            _ => 0,
        }
    }

    fn state(&self, prefix: &str, out: &mut Vec<NamedTensor>) {
        self.encoder.state(&format!("{prefix}encoder."), out);
        self.decoder.state(&format!("{prefix}decoder."), out);
    }

    fn load_state(&mut self, prefix: &str, tensors: &[NamedTensor]) -> Result<(), StateError> {
        self.encoder
            .load_state(&format!("{prefix}encoder."), tensors)?;
        self.decoder
            .load_state(&format!("{prefix}decoder."), tensors)
    }
}

/// Stage 1 as a [`Module`]: the autoencoder with output `x − x̂`, so that the MSE needs no
/// target (`L_N = mean_j out_j²`).
#[derive(Clone, Debug)]
pub struct AeResidual(pub Autoencoder);

impl Module for AeResidual {
    fn forward(&mut self, x: &Matrix, mode: Mode) -> Matrix {
        let h = self.0.encoder.forward(x, mode);
        let xhat = self.0.decoder.forward(&h, mode);
        pool::recycle(h);
        let r = pool::zip_map(x.view(), xhat.view(), |a, b| a - b);
        pool::recycle(xhat);
        r
    }

    /// The input gradient (`need_input_grad`) is left out: only the parameters matter.
    fn backward(&mut self, grad_out: &Matrix, _need_input_grad: bool) -> Option<Matrix> {
        let g_xhat = pool::map(grad_out.view(), |g| -g);
        let g_h = self.0.decoder.backward(&g_xhat, true)?;
        pool::recycle(g_xhat);
        self.0.encoder.backward(&g_h, false);
        pool::recycle(g_h);
        None
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(ParamMut<'_>)) {
        self.0.encoder.visit_params(f);
        self.0.decoder.visit_params(f);
    }

    fn zero_grad(&mut self) {
        self.0.encoder.zero_grad();
        self.0.decoder.zero_grad();
    }

    fn clear_cache(&mut self) {
        self.0.encoder.clear_cache();
        self.0.decoder.clear_cache();
    }

    fn state(&self, prefix: &str, out: &mut Vec<NamedTensor>) {
        self.0.state(prefix, out);
    }

    fn load_state(&mut self, prefix: &str, tensors: &[NamedTensor]) -> Result<(), StateError> {
        self.0.load_state(prefix, tensors)
    }
}

/// What [`FeawadNet::backward`] needs from a train-mode forward (the linear and norm layers
/// keep their own caches).
#[derive(Clone, Debug)]
struct NetCache {
    /// Unit residual `r̂` (b × d).
    rhat: Matrix,
    /// `‖r‖` per row, floored at 1e-30.
    norm: Array1<f32>,
    /// Post-ReLU outputs of the two hidden scoring layers (ReLU masks).
    a1: Matrix,
    a2: Matrix,
}

/// The whole FEAWAD scoring network: autoencoder, residual features and scoring head, as
/// one [`Module`] with output columns `[s, ‖x − x̂‖]`.
#[derive(Debug)]
pub struct FeawadNet {
    pub ae: Autoencoder,
    /// `[r̂ ‖ h ‖ n_r] → 256`.
    pub dense1: Linear,
    /// `[a1 ‖ n_r] → 32`.
    pub dense2: Linear,
    /// On `[a2 ‖ n_r]` (33-d).
    pub norm: Option<Layer>,
    /// `33 → 1` (linear) = s.
    pub out: Linear,
    cache: Vec<NetCache>,
}

/// Cloning drops the forward cache (a clone is a checkpoint).
impl Clone for FeawadNet {
    fn clone(&self) -> Self {
        FeawadNet {
            ae: self.ae.clone(),
            dense1: self.dense1.clone(),
            dense2: self.dense2.clone(),
            norm: self.norm.clone(),
            out: self.out.clone(),
            cache: Vec::new(),
        }
    }
}

fn relu_inplace(m: &mut Matrix) {
    m.mapv_inplace(|v| v.max(0.0));
}

/// `[a ‖ col]`.
fn append_col(a: &Matrix, col: &Array1<f32>) -> Matrix {
    let c = col.view().insert_axis(Axis(1));
    concatenate![Axis(1), a.view(), c]
}

/// `g ⊙ 1[a > 0]` for a ReLU output `a`.
fn relu_mask(g: &mut Matrix, a: &Matrix) {
    Zip::from(g).and(a).for_each(|g, &a| {
        if a <= 0.0 {
            *g = 0.0
        }
    });
}

impl Module for FeawadNet {
    fn forward(&mut self, x: &Matrix, mode: Mode) -> Matrix {
        let h = self.ae.encoder.forward(x, mode);
        let xhat = self.ae.decoder.forward(&h, mode);
        let mut rhat = pool::zip_map(x.view(), xhat.view(), |a, b| a - b);
        pool::recycle(xhat);
        let norm: Array1<f32> = rhat
            .rows()
            .into_iter()
            .map(|r| r.dot(&r).sqrt().max(1e-30))
            .collect();
        Zip::from(rhat.rows_mut())
            .and(&norm)
            .for_each(|mut r, &n| r.mapv_inplace(|v| v / n));
        let nc = norm.view().insert_axis(Axis(1));
        let (d, c) = (rhat.ncols(), h.ncols());
        let mut z0 = pool::zeros(x.nrows(), d + c + 1);
        z0.slice_mut(s![.., ..d]).assign(&rhat);
        z0.slice_mut(s![.., d..d + c]).assign(&h);
        z0.column_mut(d + c).assign(&norm);
        pool::recycle(h);
        let mut a1 = self.dense1.forward(&z0, mode);
        pool::recycle(z0);
        relu_inplace(&mut a1);
        let mut a2 = self.dense2.forward(&append_col(&a1, &norm), mode);
        relu_inplace(&mut a2);
        let z2 = append_col(&a2, &norm);
        let z3 = match &mut self.norm {
            Some(l) => l.forward(&z2, mode),
            None => z2,
        };
        let s = self.out.forward(&z3, mode);
        let out = concatenate![Axis(1), s.view(), nc];
        if mode == Mode::Train {
            self.cache.push(NetCache { rhat, norm, a1, a2 });
        }
        out
    }

    /// The input gradient is never produced (the data need none); `need_input_grad` is
    /// ignored.
    fn backward(&mut self, grad_out: &Matrix, _need_input_grad: bool) -> Option<Matrix> {
        let NetCache { rhat, norm, a1, a2 } = self
            .cache
            .pop()
            .expect("FeawadNet::backward without a cached train-mode forward");
        let w1 = a1.ncols();
        let w2 = a2.ncols();
        let d = rhat.ncols();
        // dL/dn_r, collected from the output column and the three concatenations.
        let mut g_norm: Array1<f32> = grad_out.column(1).to_owned();
        let g_s = grad_out.slice(s![.., 0..1]).to_owned();
        let g_z3 = self
            .out
            .backward(&g_s, true)
            .expect("input gradient requested");
        let g_z2 = match &mut self.norm {
            Some(l) => l.backward(&g_z3, true).expect("input gradient requested"),
            None => g_z3,
        };
        g_norm += &g_z2.column(w2);
        let mut g_a2 = g_z2.slice(s![.., 0..w2]).to_owned();
        relu_mask(&mut g_a2, &a2);
        let g_z1 = self
            .dense2
            .backward(&g_a2, true)
            .expect("input gradient requested");
        g_norm += &g_z1.column(w1);
        let mut g_a1 = g_z1.slice(s![.., 0..w1]).to_owned();
        relu_mask(&mut g_a1, &a1);
        let g_z0 = self
            .dense1
            .backward(&g_a1, true)
            .expect("input gradient requested");
        g_norm += &g_z0.column(g_z0.ncols() - 1);
        let mut g_h = g_z0.slice(s![.., d..g_z0.ncols() - 1]).to_owned();
        // r̂ = r/n: dL/dr = (g_r̂ − r̂ (r̂·g_r̂))/n + g_n r̂; x̂ enters r with sign −1.
        let mut g_xhat = pool::copy(g_z0.slice(s![.., 0..d]));
        pool::recycle(g_z0);
        Zip::from(g_xhat.rows_mut())
            .and(rhat.rows())
            .and(&norm)
            .and(&g_norm)
            .for_each(|mut g, rh, &n, &gn| {
                let proj = g.dot(&rh);
                let inv = 1.0 / n;
                Zip::from(&mut g).and(&rh).for_each(|g, &r| {
                    *g = -((*g - r * proj) * inv + gn * r);
                });
            });
        let g_h_dec = self
            .ae
            .decoder
            .backward(&g_xhat, true)
            .expect("input gradient requested");
        pool::recycle(g_xhat);
        pool::recycle(rhat);
        g_h += &g_h_dec;
        pool::recycle(g_h_dec);
        self.ae.encoder.backward(&g_h, false);
        None
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(ParamMut<'_>)) {
        self.ae.encoder.visit_params(f);
        self.ae.decoder.visit_params(f);
        self.dense1.visit_params(f);
        self.dense2.visit_params(f);
        if let Some(l) = &mut self.norm {
            l.visit_params(f);
        }
        self.out.visit_params(f);
    }

    fn zero_grad(&mut self) {
        self.ae.encoder.zero_grad();
        self.ae.decoder.zero_grad();
        self.dense1.zero_grad();
        self.dense2.zero_grad();
        if let Some(l) = &mut self.norm {
            l.zero_grad();
        }
        self.out.zero_grad();
    }

    fn clear_cache(&mut self) {
        self.ae.encoder.clear_cache();
        self.ae.decoder.clear_cache();
        self.dense1.clear_cache();
        self.dense2.clear_cache();
        if let Some(l) = &mut self.norm {
            l.clear_cache();
        }
        self.out.clear_cache();
        self.cache.clear();
    }

    fn take_aux_loss(&mut self) -> Option<f32> {
        self.norm.as_mut().and_then(Module::take_aux_loss)
    }

    fn state(&self, prefix: &str, out: &mut Vec<NamedTensor>) {
        self.ae.state(&format!("{prefix}ae."), out);
        self.dense1.state(&format!("{prefix}dense1."), out);
        self.dense2.state(&format!("{prefix}dense2."), out);
        if let Some(l) = &self.norm {
            l.state(&format!("{prefix}norm."), out);
        }
        self.out.state(&format!("{prefix}out."), out);
    }

    /// All or nothing: on error the net is left unchanged.
    fn load_state(&mut self, prefix: &str, tensors: &[NamedTensor]) -> Result<(), StateError> {
        let mut net = self.clone();
        net.ae.load_state(&format!("{prefix}ae."), tensors)?;
        net.dense1
            .load_state(&format!("{prefix}dense1."), tensors)?;
        net.dense2
            .load_state(&format!("{prefix}dense2."), tensors)?;
        if let Some(l) = &mut net.norm {
            l.load_state(&format!("{prefix}norm."), tensors)?;
        }
        net.out.load_state(&format!("{prefix}out."), tensors)?;
        *self = net;
        Ok(())
    }
}

/// Stage 1's loss: Keras MSE on the residual output of [`AeResidual`]. Every item is
/// "normal"; `anomaly` is never called with the fixed weighting of stage 1 and gives the
/// same value.
#[derive(Clone, Copy, Debug)]
pub struct MseLoss;

impl SsadLoss for MseLoss {
    fn normal(&self, _: Item, out: ArrayView1<f32>, mut grad: ArrayViewMut1<f32>) -> f32 {
        let k = 1.0 / out.len().max(1) as f32;
        Zip::from(&mut grad)
            .and(&out)
            .for_each(|g, &r| *g = 2.0 * k * r);
        out.dot(&out) * k
    }

    fn anomaly(&self, item: Item, out: ArrayView1<f32>, grad: ArrayViewMut1<f32>) -> f32 {
        self.normal(item, out, grad)
    }
}

/// FEAWAD's `L_N` and `L_A` on the output `[s, ‖x − x̂‖]` (see the module doc).
#[derive(Clone, Copy, Debug)]
pub struct FeawadLoss {
    pub margin: f32,
    pub lambda_r: f32,
    pub compat: FeawadCompat,
}

impl SsadLoss for FeawadLoss {
    /// `|s| + λ_R ‖x − x̂‖` (official: `|s| + λ_R·1`, constant).
    fn normal(&self, _: Item, out: ArrayView1<f32>, mut grad: ArrayViewMut1<f32>) -> f32 {
        let (s, n) = (out[0], out[1]);
        grad[0] = if s > 0.0 {
            1.0
        } else if s < 0.0 {
            -1.0
        } else {
            0.0
        };
        match self.compat {
            FeawadCompat::Fixed => {
                grad[1] = self.lambda_r;
                s.abs() + self.lambda_r * n
            }
            FeawadCompat::Official => {
                grad[1] = 0.0;
                s.abs() + self.lambda_r
            }
        }
    }

    /// `max(0, a − s) + λ_R max(0, a − ‖x − x̂‖)` (official: the second term is
    /// `λ_R max(0, a − 1)`, constant).
    fn anomaly(&self, _: Item, out: ArrayView1<f32>, mut grad: ArrayViewMut1<f32>) -> f32 {
        let (s, n) = (out[0], out[1]);
        let a = self.margin;
        grad[0] = if s < a { -1.0 } else { 0.0 };
        let hinge_s = (a - s).max(0.0);
        match self.compat {
            FeawadCompat::Fixed => {
                grad[1] = if n < a { -self.lambda_r } else { 0.0 };
                hinge_s + self.lambda_r * (a - n).max(0.0)
            }
            FeawadCompat::Official => {
                grad[1] = 0.0;
                hinge_s + self.lambda_r * (a - 1.0).max(0.0)
            }
        }
    }
}

/// The batch sampler of both stages: `batch_size` positions, even ones an unlabeled row and
/// odd ones a labeled anomaly (stage 2; stage 1 has unlabeled rows only), all drawn
/// uniformly with replacement. `reuse` (official mode) draws one batch on the first call
/// and returns it for every step of the stage.
#[derive(Clone, Debug)]
pub struct Sampler {
    pub unlabeled: Vec<usize>,
    pub anomalies: Vec<usize>,
    pub batch_size: usize,
    pub steps_per_epoch: usize,
    pub reuse: bool,
    fixed: Option<Vec<usize>>,
}

impl Sampler {
    pub fn new(
        unlabeled: Vec<usize>,
        anomalies: Vec<usize>,
        batch_size: usize,
        steps_per_epoch: usize,
        reuse: bool,
    ) -> Sampler {
        Sampler {
            unlabeled,
            anomalies,
            batch_size,
            steps_per_epoch,
            reuse,
            fixed: None,
        }
    }

    fn draw(&self, rng: &mut Rng) -> Vec<usize> {
        (0..self.batch_size)
            .map(|i| {
                let pool = if i % 2 == 1 && !self.anomalies.is_empty() {
                    &self.anomalies
                } else {
                    &self.unlabeled
                };
                pool[rng.gen_range(0..pool.len())]
            })
            .collect()
    }

    /// The batches of one epoch.
    pub fn epoch(&mut self, rng: &mut Rng) -> Vec<Vec<usize>> {
        if self.reuse {
            if self.fixed.is_none() {
                self.fixed = Some(self.draw(rng));
            }
            let b = self.fixed.clone().unwrap_or_default();
            vec![b; self.steps_per_epoch]
        } else {
            (0..self.steps_per_epoch).map(|_| self.draw(rng)).collect()
        }
    }
}

/// A task of either stage (`Net` = [`AeResidual`] or [`FeawadNet`]).
struct FeawadTask<'a, N, L> {
    x: ArrayView2<'a, f32>,
    anomaly: Vec<bool>,
    sampler: Sampler,
    loss: L,
    _net: std::marker::PhantomData<N>,
}

impl<N: Module + Clone, L: SsadLoss> Task for FeawadTask<'_, N, L> {
    type Net = N;
    type Batch = Vec<usize>;

    fn epoch_batches(&mut self, _epoch: usize, rng: &mut Rng) -> Vec<Vec<usize>> {
        self.sampler.epoch(rng)
    }

    fn input(&self, batch: &Vec<usize>) -> (Matrix, Vec<Item>) {
        row_batch(self.x, &self.anomaly, batch)
    }

    fn loss(&self) -> &dyn SsadLoss {
        &self.loss
    }

    fn reduction(&self) -> Reduction {
        Reduction::BatchMean
    }
}

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

/// The training parameters of stage 1: not the SSAD loss, so a fixed weighting, whatever
/// the AnoOnly switch says (the seed and the rest are the fit's).
fn pretrain_train_params(train_params: &TrainParams) -> TrainParams {
    TrainParams {
        anoonly: false,
        lambda_n: Some(1.0),
        norm: None,
        ..train_params.clone()
    }
}

/// The key of a pretraining ([`crate::train::shared`]): everything [`pretrain`] reads. The rows
/// the sampler draws from, in its order (the sampler sees positions into `unlabeled`);
/// the initial weights (they are the architecture and the init stream); every stage-1
/// hyperparameter; its training parameters (the seed of its sampler among them); and the
/// matrix kernel's results at its shapes on this CPU (`kernel_fingerprint`, below). The code
/// (its version, sources, dependencies, compiler) is in every key ([`KeyBuilder::new`]).
/// Scoring-stage settings (`epochs`, `head_hidden`, `margin`, `lambda_r`), the labeled
/// anomalies, the AnoOnly switch and the head's normalisation are not read by stage 1, so
/// cells differing only in them share the key.
pub fn pretrain_key(
    params: &FeawadParams,
    train_params: &TrainParams,
    ae: &Autoencoder,
    x: ArrayView2<f32>,
    unlabeled: &[usize],
) -> Key {
    let mut init = Vec::new();
    ae.state("", &mut init);
    let fixed = pretrain_train_params(train_params);
    let mut k = KeyBuilder::new("feawad-pretrain");
    k.u64("ae_hidden", params.ae_hidden as u64)
        .u64("code_dim", params.code_dim as u64)
        .u64("pretrain_epochs", params.pretrain_epochs as u64)
        .u64("steps_per_epoch", params.steps_per_epoch as u64)
        .u64("batch_size", params.batch_size as u64)
        .u64("lr", u64::from(params.lr.to_bits()))
        .bytes(
            "compat",
            serde_json::to_string(&params.compat)
                .unwrap_or_default()
                .as_bytes(),
        )
        .bytes(
            "train_params",
            serde_json::to_string(&fixed).unwrap_or_default().as_bytes(),
        )
        .bytes("kernel", &kernel_fingerprint(params, x.ncols()))
        .tensors("init", &init)
        .rows("x", x, unlabeled.iter().copied());
    k.finish()
}

/// What this CPU's matrix kernel computes at a pretraining step's shapes: a hash of one
/// train-mode forward and backward of a fixed autoencoder on a fixed batch (every product
/// shape of a step, as a step computes them). gemm picks its micro-kernel and its depth
/// blocks at run time from the CPU's instruction set and cache sizes (docs/determinism.md),
/// so two machines may round differently; their keys then differ. Computed once per shape
/// and process (about one step: 15 ms at 512 x 512).
fn kernel_fingerprint(params: &FeawadParams, d: usize) -> [u8; 32] {
    type Shape = (usize, usize, usize, usize);
    static MEMO: std::sync::Mutex<std::collections::BTreeMap<Shape, [u8; 32]>> =
        std::sync::Mutex::new(std::collections::BTreeMap::new());
    let shape = (params.batch_size, d, params.ae_hidden, params.code_dim);
    if let Some(f) = MEMO.lock().ok().and_then(|m| m.get(&shape).copied()) {
        return f;
    }
    let mut rng = component_rng(0, "kernel-fingerprint");
    let mut net = AeResidual(params.autoencoder(d, &mut rng));
    let x = Matrix::from_shape_simple_fn((params.batch_size, d), || rng.gen_range(0.0f32..1.0));
    net.zero_grad();
    let out = net.forward(&x, Mode::Train);
    net.backward(&out, false);
    let mut k = KeyBuilder::new("kernel-fingerprint");
    k.f32s("out", out.as_slice().unwrap_or(&[]));
    net.visit_params(&mut |p| {
        k.f32s(p.name, p.grad);
    });
    net.clear_cache();
    pool::recycle(out);
    let f = k.finish().0;
    if let Ok(mut m) = MEMO.lock() {
        m.insert(shape, f);
    }
    f
}

/// Stage 1 alone: pretrains `ae` on the unlabeled rows (exposed for tests). Its epochs
/// reach `observer` as [`Stage::Pretrain`], which may stop it like any training loop.
pub fn pretrain(
    params: &FeawadParams,
    train_params: &TrainParams,
    ae: Autoencoder,
    x: ArrayView2<f32>,
    unlabeled: &[usize],
    observer: Observer<'_>,
) -> Result<(Autoencoder, TrainReport), Interrupted> {
    let anomaly = vec![false; x.nrows()];
    let mut net = AeResidual(ae);
    if params.pretrain_epochs == 0 {
        return Ok((net.0, TrainReport::default()));
    }
    let mut task: FeawadTask<'_, AeResidual, MseLoss> = FeawadTask {
        x,
        anomaly,
        sampler: Sampler::new(
            unlabeled.to_vec(),
            Vec::new(),
            params.batch_size,
            params.steps_per_epoch,
            params.compat == FeawadCompat::Official,
        ),
        loss: MseLoss,
        _net: std::marker::PhantomData,
    };
    let fixed = pretrain_train_params(train_params);
    let schedule = Schedule {
        epochs: params.pretrain_epochs,
        base_lr: params.lr,
        lr_schedule: LrSchedule::Constant,
        unit: ScheduleUnit::Batch,
        checkpoint: Checkpoint::BestTrainLoss,
    };
    let mut rng = component_rng(train_params.seed, "feawad-pretrain-sampler");
    let mut staged = Staged {
        stage: Stage::Pretrain,
        inner: observer,
    };
    let report = train::fit(
        &mut task,
        &mut net,
        &mut Adam::keras(),
        &schedule,
        &fixed,
        &mut rng,
        &mut staged,
    )
    .map_err(|i| Interrupted {
        stage: Stage::Pretrain,
        ..i
    })?;
    Ok((net.0, report))
}

/// Stage 1 through `cache`: the pretrained autoencoder of its [`pretrain_key`], computed by
/// [`pretrain`] from `ae` when the cache does not hold it, and its step count.
fn shared_pretrain(
    cache: &dyn PretrainCache,
    params: &FeawadParams,
    train_params: &TrainParams,
    ae: Autoencoder,
    x: ArrayView2<f32>,
    unlabeled: &[usize],
    observer: Observer<'_>,
) -> Result<(Autoencoder, usize), Interrupted> {
    let key = pretrain_key(params, train_params, &ae, x, unlabeled);
    let mut spare = Some(ae.clone());
    let got = cache.get_or_compute(&key, &mut || {
        let start = spare.take().unwrap_or_else(|| ae.clone());
        let (trained, report) = pretrain(params, train_params, start, x, unlabeled, observer)?;
        let mut tensors = Vec::new();
        trained.state("", &mut tensors);
        Ok(Pretrained { tensors, report })
    })?;
    // Loaded into a copy: a load that fails half-way must not alter the initial weights.
    let mut out = spare.take().unwrap_or_else(|| ae.clone());
    match out.load_state("", &got.tensors) {
        Ok(()) => Ok((out, got.report.steps)),
        // Not this autoencoder's state (a store that hands out another key's value):
        // compute it here rather than trust it.
        Err(_) => {
            let (trained, report) = pretrain(params, train_params, ae, x, unlabeled, observer)?;
            Ok((trained, report.steps))
        }
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

    fn fit(
        params: &FeawadParams,
        train_params: &TrainParams,
        x: ArrayView2<f32>,
        y: ArrayView1<u8>,
        observer: Observer<'_>,
    ) -> Result<(Self, TrainReport), FitError> {
        Self::fit_shared(params, train_params, x, y, observer, None)
    }

    /// With `shared`, stage 1 is looked up by its [`pretrain_key`] and computed (and left
    /// there) only when absent. A pretraining taken from the store reports no
    /// [`Stage::Pretrain`] epochs to `observer`; the model is the same, bit for bit.
    fn fit_shared(
        params: &FeawadParams,
        train_params: &TrainParams,
        x: ArrayView2<f32>,
        y: ArrayView1<u8>,
        observer: Observer<'_>,
        shared: Option<&dyn PretrainCache>,
    ) -> Result<(Self, TrainReport), FitError> {
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
        let (ae, pre_steps) = match shared {
            Some(cache) if params.pretrain_epochs > 0 => {
                shared_pretrain(cache, params, train_params, ae, x, &unlabeled, observer)?
            }
            _ => {
                let (ae, report) = pretrain(params, train_params, ae, x, &unlabeled, observer)?;
                (ae, report.steps)
            }
        };
        let mut net = FeawadNet {
            ae,
            ..head_template
        };
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

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use rand::SeedableRng;

    fn item(anomaly: bool) -> Item {
        Item {
            index: 0,
            anomaly,
            target: 0.0,
        }
    }

    fn eval(loss: &FeawadLoss, anomaly: bool, out: [f32; 2]) -> (f32, [f32; 2]) {
        let o = array![out[0], out[1]];
        let mut g = Array1::<f32>::zeros(2);
        let v = if anomaly {
            loss.anomaly(item(true), o.view(), g.view_mut())
        } else {
            loss.normal(item(false), o.view(), g.view_mut())
        };
        (v, [g[0], g[1]])
    }

    #[test]
    fn fixed_losses_use_the_real_reconstruction_error() {
        let l = FeawadLoss {
            margin: 5.0,
            lambda_r: 0.5,
            compat: FeawadCompat::Fixed,
        };
        // |−2| + 0.5·3
        assert_eq!(eval(&l, false, [-2.0, 3.0]), (3.5, [-1.0, 0.5]));
        assert_eq!(eval(&l, false, [1.5, 0.0]), (1.5, [1.0, 0.5]));
        // max(0, 5 − 1) + 0.5·max(0, 5 − 3)
        assert_eq!(eval(&l, true, [1.0, 3.0]), (5.0, [-1.0, -0.5]));
        // both hinges inactive
        assert_eq!(eval(&l, true, [6.0, 7.0]), (0.0, [0.0, 0.0]));
    }

    #[test]
    fn official_reconstruction_terms_are_constants_without_gradient() {
        let l = FeawadLoss {
            margin: 5.0,
            lambda_r: 1.0,
            compat: FeawadCompat::Official,
        };
        // ‖r̂‖ = 1: |s| + 1 and max(0, 5 − s) + 4, whatever the reconstruction error.
        for n in [0.0, 3.0, 40.0] {
            assert_eq!(eval(&l, false, [-2.0, n]), (3.0, [-1.0, 0.0]));
            assert_eq!(eval(&l, true, [1.0, n]), (8.0, [-1.0, 0.0]));
            assert_eq!(eval(&l, true, [9.0, n]), (4.0, [0.0, 0.0]));
        }
    }

    #[test]
    fn mse_loss_is_the_keras_mean_square() {
        let mut g = Array1::<f32>::zeros(4);
        let v = MseLoss.normal(
            item(false),
            array![1.0f32, -2.0, 0.0, 1.0].view(),
            g.view_mut(),
        );
        assert_eq!(v, 6.0 / 4.0);
        assert_eq!(g, array![0.5f32, -1.0, 0.0, 0.5]);
    }

    fn small_params() -> FeawadParams {
        FeawadParams {
            ae_hidden: 6,
            code_dim: 3,
            head_hidden: [7, 4],
            ..FeawadParams::default()
        }
    }

    fn small_net(norm: NormKind, seed: u64) -> FeawadNet {
        let p = small_params();
        let mut rng = Rng::seed_from_u64(seed);
        let ae = p.autoencoder(5, &mut rng);
        let mut net = p.scoring_net(ae, norm, &mut rng);
        // Zero biases put exact zeros (ReLU kinks) behind a dead layer; move them away.
        net.visit_params(&mut |q| {
            if q.name == "bias" {
                for v in q.value.iter_mut() {
                    *v = rng.gen_range(0.05f32..0.3);
                }
            }
        });
        net
    }

    /// `L = Σ w ⊙ out` in f64 (train mode, caches dropped).
    fn scalar_loss(net: &mut FeawadNet, x: &Matrix, w: &Matrix) -> f64 {
        let out = net.forward(x, Mode::Train);
        net.clear_cache();
        out.iter()
            .zip(w.iter())
            .map(|(&o, &w)| f64::from(o) * f64::from(w))
            .sum()
    }

    fn nudge(net: &mut FeawadNet, k: usize, j: usize, delta: f32) {
        let mut i = 0;
        net.visit_params(&mut |p| {
            if i == k {
                p.value[j] += delta;
            }
            i += 1;
        });
    }

    #[test]
    fn scoring_net_gradient_matches_finite_differences() {
        for norm in [NormKind::Bn, NormKind::None] {
            let mut net = small_net(norm, 11);
            let mut rng = Rng::seed_from_u64(5);
            let x = Matrix::from_shape_simple_fn((8, 5), || rng.gen_range(0.0f32..1.0));
            let w = Matrix::from_shape_simple_fn((8, 2), || rng.gen_range(-1.0f32..1.0));
            net.zero_grad();
            net.forward(&x, Mode::Train);
            assert!(net.backward(&w, false).is_none());
            let mut grads: Vec<Vec<f32>> = Vec::new();
            net.visit_params(&mut |p| grads.push(p.grad.to_vec()));
            assert_eq!(grads.len(), 8 * 2 + usize::from(norm == NormKind::Bn) * 2);
            let h = 1e-3f32;
            let (mut err2, mut ref2, mut max_err, mut scale) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
            for (k, g) in grads.iter().enumerate() {
                let (mut ke, mut kr) = (0.0f64, 0.0f64);
                for (j, &a) in g.iter().enumerate() {
                    let mut n = net.clone();
                    nudge(&mut n, k, j, h);
                    let lp = scalar_loss(&mut n, &x, &w);
                    nudge(&mut n, k, j, -2.0 * h);
                    let lm = scalar_loss(&mut n, &x, &w);
                    let fd = (lp - lm) / (2.0 * f64::from(h));
                    let e = (f64::from(a) - fd).abs();
                    err2 += e * e;
                    ref2 += fd * fd;
                    max_err = max_err.max(e);
                    scale = scale.max(fd.abs());
                    ke += e * e;
                    kr += fd * fd;
                }
                assert!(
                    ke.sqrt() <= 2e-2 * kr.sqrt() + 1e-3,
                    "{norm:?} parameter {k}: err {:.3e} ref {:.3e}",
                    ke.sqrt(),
                    kr.sqrt()
                );
            }
            let rel = (err2 / ref2).sqrt();
            assert!(
                rel < 1e-2 && max_err / scale < 2e-2,
                "{norm:?}: L2 rel err {rel:.2e}, max-norm rel err {:.2e}",
                max_err / scale
            );
        }
    }

    #[test]
    fn official_sampler_reuses_one_batch_and_fixed_draws_fresh_ones() {
        let unl: Vec<usize> = (0..50).collect();
        let ano: Vec<usize> = (50..55).collect();
        let mut rng = Rng::seed_from_u64(0);
        let mut off = Sampler::new(unl.clone(), ano.clone(), 16, 4, true);
        let e0 = off.epoch(&mut rng);
        let e1 = off.epoch(&mut rng);
        assert_eq!(e0.len(), 4);
        assert!(e0.iter().chain(e1.iter()).all(|b| *b == e0[0]));
        let mut fresh = Sampler::new(unl, ano, 16, 4, false);
        let f0 = fresh.epoch(&mut rng);
        assert!(f0.windows(2).all(|w| w[0] != w[1]));
        assert_ne!(f0, fresh.epoch(&mut rng));
        for b in e0.iter().chain(f0.iter()) {
            assert_eq!(b.len(), 16);
            for (i, &r) in b.iter().enumerate() {
                assert_eq!(r >= 50, i % 2 == 1, "position {i}: row {r}");
            }
        }
    }

    #[test]
    fn pretraining_lowers_the_reconstruction_error() {
        let p = FeawadParams {
            pretrain_epochs: 5,
            batch_size: 32,
            lr: 1e-3,
            ..small_params()
        };
        let mut rng = Rng::seed_from_u64(2);
        let x = Matrix::from_shape_simple_fn((64, 5), || rng.gen_range(0.0f32..1.0));
        let unl: Vec<usize> = (0..64).collect();
        for compat in [FeawadCompat::Fixed, FeawadCompat::Official] {
            let p = FeawadParams {
                compat,
                ..p.clone()
            };
            let ae = p.autoencoder(5, &mut Rng::seed_from_u64(1));
            let (_, report) = pretrain(
                &p,
                &TrainParams::default(),
                ae,
                x.view(),
                &unl,
                &mut crate::train::Silent,
            )
            .unwrap();
            assert_eq!(report.steps, 100);
            let l: Vec<f32> = report.epoch_losses.iter().flatten().copied().collect();
            assert!(l[4] < l[0], "{compat:?}: {l:?}");
        }
    }
}
