//! GANomaly as ADBench runs it (docs/protocol.md 3.1), one of the paper's baselines.
//!
//! Owns the generator (encoder `d→h`, decoder `h→d`, second encoder `d→h`, tanh, no
//! normalisation), the discriminator (`d→100→20` tanh features, sigmoid `20→1`), their two
//! losses and the alternating training loop, and the score `Σ_j |z_j − ẑ_j|`.
//!
//! It does not go through [`crate::train::fit`]: two networks take turns on one batch, and
//! neither loss is a per-row `L_N`/`L_A`, so there is nothing for the AnoOnly switch to act
//! on (`--anoonly` and `lambda_n` are refused by [`super::FitParams::validate`]).
//!
//! Faithful to ADBench's code: only the unlabeled rows (y = 0) train; batches of 64 in file
//! order (`shuffle=False`) with the tail dropped; torch default init; torch SGD with
//! momentum 0.7 for both networks. Per batch the generator is run once: ADBench runs it
//! twice (for the D step and the G step) with the same weights, so the outputs are equal.
//! In the D step the gradient reaching the generator through `x̂` is discarded (ADBench
//! zeroes the generator's gradients before its own step); in the G step the gradient
//! reaching the discriminator is discarded likewise, and `f(x)` is a constant.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, Zip};
use serde::{Deserialize, Serialize};

use super::{FitError, Knobs, Method, MethodKind};
use crate::nn::{
    gather_rows, Activation, Init, Linear, Matrix, Mode, Module, NamedTensor, Optimizer,
    Sequential, Sgd, StateError, EVAL_CHUNK,
};
use crate::rng::{component_rng, Rng};
use crate::train::{report_epoch, EpochReport, FitContext, Stage, TrainParams, TrainReport};
use crate::vocab::{count_in, positive, NormKind, ParamError};

/// GANomaly hyperparameters; defaults are ADBench's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GanomalyParams {
    pub epochs: usize,
    pub batch_size: usize,
    /// SGD learning rate (both networks).
    pub lr: f32,
    /// SGD momentum (both networks).
    pub momentum: f32,
}

impl Default for GanomalyParams {
    fn default() -> Self {
        GanomalyParams {
            epochs: 50,
            batch_size: 64,
            lr: 0.01,
            momentum: 0.7,
        }
    }
}

impl GanomalyParams {
    pub fn validate(&self) -> Result<(), ParamError> {
        count_in("epochs", self.epochs, 1, 1_000_000)?;
        count_in("batch_size", self.batch_size, 1, usize::MAX)?;
        positive("lr", self.lr)?;
        if !(self.momentum.is_finite() && (0.0..1.0).contains(&self.momentum)) {
            return Err(ParamError::new(
                "momentum",
                self.momentum,
                "must lie in [0, 1)",
            ));
        }
        Ok(())
    }
}

/// The latent width: `d/4` for `d ≥ 8`, else `d/2` (ADBench).
pub fn latent_width(d: usize) -> usize {
    if d >= 8 {
        d / 4
    } else {
        d / 2
    }
}

fn dense(d_in: usize, d_out: usize, act: Option<Activation>, rng: &mut Rng) -> Sequential {
    let mut layers = vec![Linear::new(d_in, d_out, true, Init::TorchDefault, rng).into()];
    layers.extend(act.map(Into::into));
    Sequential::new(layers)
}

/// The generator: `z = tanh(W₁x)`, `x̂ = W₂z`, `ẑ = tanh(W₃x̂)` (biases included).
#[derive(Clone, Debug)]
pub struct Generator {
    pub encoder: Sequential,
    pub decoder: Sequential,
    pub encoder2: Sequential,
}

/// One pass of the generator: `(z, x̂, ẑ)`.
pub struct GeneratorOutput {
    pub z: Matrix,
    pub x_hat: Matrix,
    pub z_hat: Matrix,
}

impl Generator {
    pub fn new(d: usize, rng: &mut Rng) -> Generator {
        let h = latent_width(d);
        Generator {
            encoder: dense(d, h, Some(Activation::Tanh), rng),
            decoder: dense(h, d, None, rng),
            encoder2: dense(d, h, Some(Activation::Tanh), rng),
        }
    }

    pub fn forward(&mut self, x: &Matrix, mode: Mode) -> GeneratorOutput {
        let z = self.encoder.forward(x, mode);
        let x_hat = self.decoder.forward(&z, mode);
        let z_hat = self.encoder2.forward(&x_hat, mode);
        GeneratorOutput { z, x_hat, z_hat }
    }

    fn zero_grad(&mut self) {
        self.encoder.zero_grad();
        self.decoder.zero_grad();
        self.encoder2.zero_grad();
    }
}

/// The discriminator: features `f(x) = tanh(W₅ tanh(W₄x))` and `D(x) = σ(W₆ f(x))`.
#[derive(Clone, Debug)]
pub struct Discriminator {
    pub features: Sequential,
    pub classifier: Sequential,
}

impl Discriminator {
    pub fn new(d: usize, rng: &mut Rng) -> Discriminator {
        let mut features = dense(d, 100, Some(Activation::Tanh), rng);
        features
            .layers
            .extend(dense(100, 20, Some(Activation::Tanh), rng).layers);
        Discriminator {
            features,
            classifier: dense(20, 1, Some(Activation::Sigmoid), rng),
        }
    }
}

/// torch `BCELoss` of probabilities `p` against a constant target `y` (mean), and its
/// gradient with respect to `p` as torch computes it: `(p − y) / max(p(1−p), 1e-12) / n`,
/// logs clamped at −100.
pub fn bce(p: ArrayView1<f32>, y: f32) -> (f32, Array1<f32>) {
    let n = p.len().max(1) as f32;
    let mut sum = 0.0f32;
    let grad = p.mapv(|p| {
        sum -= y * p.ln().max(-100.0) + (1.0 - y) * (1.0 - p).ln().max(-100.0);
        (p - y) / (p * (1.0 - p)).max(1e-12) / n
    });
    (sum / n, grad)
}

/// The discriminator's loss `(BCE(D(x), 0) + BCE(D(x̂), 1)) / 2` (real = 0, fake = 1) and
/// its gradients with respect to `D(x)` and `D(x̂)`.
pub fn discriminator_loss(
    p_real: ArrayView1<f32>,
    p_fake: ArrayView1<f32>,
) -> (f32, Array1<f32>, Array1<f32>) {
    let (lr, gr) = bce(p_real, 0.0);
    let (lf, gf) = bce(p_fake, 1.0);
    ((lr + lf) / 2.0, gr * 0.5, gf * 0.5)
}

/// The generator's loss and its gradients.
pub struct GeneratorLoss {
    pub value: f32,
    /// dL/dx̂ from the contextual term `L1(x, x̂)` only.
    pub d_x_hat: Matrix,
    pub d_z: Matrix,
    pub d_z_hat: Matrix,
    /// dL/df(x̂) (the adversarial feature term).
    pub d_f_fake: Matrix,
}

/// Mean absolute difference of `a` and `b` and its gradient with respect to `a`
/// (`sign(a − b)/n`, torch's sign of 0 being 0).
fn l1(a: &Matrix, b: &Matrix) -> (f32, Matrix) {
    let n = a.len().max(1) as f32;
    let mut sum = 0.0f32;
    let mut grad = Matrix::zeros(a.raw_dim());
    Zip::from(&mut grad).and(a).and(b).for_each(|g, &a, &b| {
        let d = a - b;
        sum += d.abs();
        *g = if d > 0.0 {
            1.0 / n
        } else if d < 0.0 {
            -1.0 / n
        } else {
            0.0
        };
    });
    (sum / n, grad)
}

/// `(MSE(f(x̂), f(x)) + L1(x, x̂) + L1(z, ẑ)) / 3` with means over all elements, as
/// ADBench's generator step; `f(x)` and `x` are constants.
pub fn generator_loss(
    x: &Matrix,
    g: &GeneratorOutput,
    f_real: &Matrix,
    f_fake: &Matrix,
) -> GeneratorLoss {
    let third = 1.0 / 3.0;
    let n = f_fake.len().max(1) as f32;
    let diff = f_fake - f_real;
    let mse = diff.iter().map(|d| d * d).sum::<f32>() / n;
    let d_f_fake = diff * (2.0 / n * third);
    let (ctx, d_ctx) = l1(&g.x_hat, x);
    let (enc, d_enc) = l1(&g.z, &g.z_hat);
    GeneratorLoss {
        value: (mse + ctx + enc) * third,
        d_x_hat: d_ctx * third,
        d_z: &d_enc * third,
        d_z_hat: d_enc * -third,
        d_f_fake,
    }
}

fn column(v: Array1<f32>) -> Matrix {
    v.insert_axis(Axis(1))
}

/// The optimiser state of one GANomaly fit: one torch SGD per sub-network (SGD is
/// element-wise, so this equals one SGD over each network's parameter list).
struct Optimisers {
    g: [Sgd; 3],
    d: [Sgd; 2],
}

/// One batch: a discriminator step, then a generator step. Returns `(loss_D, loss_G)`.
fn train_batch(
    gen: &mut Generator,
    disc: &mut Discriminator,
    opt: &mut Optimisers,
    x: &Matrix,
    lr: f32,
) -> (f32, f32) {
    gen.zero_grad();
    let out = gen.forward(x, Mode::Train);

    // Discriminator step (backward in reverse order of the forwards: fake, then real).
    disc.features.zero_grad();
    disc.classifier.zero_grad();
    let f_real = disc.features.forward(x, Mode::Train);
    let p_real = disc.classifier.forward(&f_real, Mode::Train);
    let f_fake = disc.features.forward(&out.x_hat, Mode::Train);
    let p_fake = disc.classifier.forward(&f_fake, Mode::Train);
    let (loss_d, g_real, g_fake) = discriminator_loss(p_real.column(0), p_fake.column(0));
    for g in [g_fake, g_real] {
        if let Some(df) = disc.classifier.backward(&column(g), true) {
            disc.features.backward(&df, false);
        }
    }
    opt.d[0].step(&mut disc.features, lr);
    opt.d[1].step(&mut disc.classifier, lr);

    // Generator step against the updated discriminator.
    let loss_g = generator_backward(gen, disc, x, &out);
    opt.g[0].step(&mut gen.encoder, lr);
    opt.g[1].step(&mut gen.decoder, lr);
    opt.g[2].step(&mut gen.encoder2, lr);
    (loss_d, loss_g)
}

/// The generator's loss for the train-mode pass `out` of `x` (cached in `gen`), its
/// gradients accumulated into the generator's parameters; the discriminator's gradients
/// from this pass are discarded.
fn generator_backward(
    gen: &mut Generator,
    disc: &mut Discriminator,
    x: &Matrix,
    out: &GeneratorOutput,
) -> f32 {
    let f_real = disc.features.forward(x, Mode::Eval);
    let f_fake = disc.features.forward(&out.x_hat, Mode::Train);
    let loss = generator_loss(x, out, &f_real, &f_fake);
    let mut d_x_hat = loss.d_x_hat;
    if let Some(d) = disc.features.backward(&loss.d_f_fake, true) {
        d_x_hat += &d;
    }
    disc.features.zero_grad();
    if let Some(d) = gen.encoder2.backward(&loss.d_z_hat, true) {
        d_x_hat += &d;
    }
    let mut d_z = loss.d_z;
    if let Some(d) = gen.decoder.backward(&d_x_hat, true) {
        d_z += &d;
    }
    gen.encoder.backward(&d_z, false);
    loss.value
}

/// GANomaly's batches: consecutive normal rows in file order (`shuffle=False`).
pub use crate::train::ordered_batches;

/// A fitted GANomaly model: the generator (the discriminator is not needed to score).
#[derive(Clone, Debug)]
pub struct FittedGanomaly {
    pub generator: Generator,
}

impl FittedGanomaly {
    /// `Σ_j |z_j − ẑ_j|` per row.
    pub fn scores(&self, x: ArrayView2<f32>) -> Array1<f32> {
        let mut gen = self.generator.clone();
        let mut out = Vec::with_capacity(x.nrows());
        for chunk in x.axis_chunks_iter(Axis(0), EVAL_CHUNK) {
            let g = gen.forward(&chunk.to_owned(), Mode::Eval);
            out.extend(g.z.outer_iter().zip(g.z_hat.outer_iter()).map(|(z, zh)| {
                z.iter()
                    .zip(zh.iter())
                    .map(|(a, b)| (a - b).abs())
                    .sum::<f32>()
            }));
        }
        Array1::from(out)
    }
}

impl Method for FittedGanomaly {
    type Params = GanomalyParams;
    const NAME: &'static str = "ganomaly";
    const DISPLAY_NAME: &'static str = "GANomaly";
    const SUMMARY: &'static str =
        "GANomaly (Akcay et al., ACCV 2018), a baseline of the paper: an \
         encoder-decoder-encoder GAN trained on the unlabeled rows, scoring a row by the \
         distance between its two latent codes. No AnoOnly variant: it has no per-row loss on \
         normal data to drop.";
    const SUPPORTS_ANOONLY: bool = false;
    /// None: a baseline without a normalisation layer.
    const OWN_NORM: NormKind = NormKind::None;
    /// It trains on the unlabeled rows only and never uses labeled anomalies (ADBench).
    const TRAINS_WITHOUT_ANOMALIES: bool = true;

    fn knobs(p: &mut GanomalyParams) -> Knobs<'_> {
        Knobs::new(&mut p.epochs, &mut p.batch_size)
    }

    fn layer_widths(p: &GanomalyParams, n_features: usize) -> Vec<(&'static str, usize)> {
        let _ = p;
        // Its widths follow the input: the encoders are d x latent_width(d).
        vec![
            ("n_features", n_features),
            ("latent_width", latent_width(n_features)),
        ]
    }

    fn relative_cost(n_rows: usize) -> f64 {
        // Measured CPU: 7 s on CIFAR10_0.
        3.0 * super::rows_in_thousands(n_rows)
    }

    fn validate(params: &GanomalyParams) -> Result<(), ParamError> {
        params.validate()
    }

    fn fit(
        params: &GanomalyParams,
        train: &TrainParams,
        x: ArrayView2<f32>,
        y: ArrayView1<u8>,
        ctx: FitContext<'_>,
    ) -> Result<(Self, TrainReport), FitError> {
        let observer = ctx.observer;
        let d = x.ncols();
        if latent_width(d) == 0 {
            return Err(FitError::Param(ParamError::new(
                "n_features",
                d,
                "GANomaly needs at least 2 features (its latent width is d/2 below 8)",
            )));
        }
        let normal = crate::train::rows_labeled(y, 0);
        if normal.is_empty() {
            return Err(FitError::TooFewUnlabeled {
                method: MethodKind::Ganomaly,
                found: 0,
                needed: 1,
            });
        }
        let mut rng = component_rng(train.seed, "init");
        let mut gen = Generator::new(d, &mut rng);
        let mut disc = Discriminator::new(d, &mut rng);
        let sgd = || Sgd::torch(params.momentum);
        let mut opt = Optimisers {
            g: [sgd(), sgd(), sgd()],
            d: [sgd(), sgd()],
        };
        let batches = ordered_batches(normal.len(), params.batch_size);
        let mut report = TrainReport::default();
        for epoch in 0..params.epochs {
            let mut sum = 0.0f64;
            for r in &batches {
                let xb = gather_rows(x, &normal[r.clone()]);
                let (_, loss_g) = train_batch(&mut gen, &mut disc, &mut opt, &xb, params.lr);
                sum += f64::from(loss_g);
                report.steps += 1;
            }
            let loss = Some((sum / batches.len() as f64) as f32);
            report.epoch_losses.push(loss);
            report_epoch(
                observer,
                &EpochReport {
                    stage: Stage::Train,
                    epoch,
                    epochs: params.epochs,
                    loss,
                    empty_batches: 0,
                    batches: batches.len(),
                },
            )?;
        }
        report.kept_epoch = params.epochs - 1;
        report.notes.extend(crate::train::one_batch_note(
            Self::NAME,
            normal.len(),
            params.batch_size,
        ));
        Ok((FittedGanomaly { generator: gen }, report))
    }

    fn decision_function(&self, x: ArrayView2<f32>) -> Array1<f32> {
        self.scores(x)
    }

    /// The generator's latent code `z = tanh(W₁x)` (`d/4` wide): GANomaly scores with no
    /// last layer, by the distance of `z` to its re-encoding `ẑ`, so its hidden features
    /// are the code the score compares (DeepOD's encoder features).
    fn representation(&self, x: ArrayView2<f32>) -> Option<Array2<f32>> {
        let mut encoder = self.generator.encoder.clone();
        let width = latent_width(x.ncols());
        Some(crate::nn::eval_matrix(x, width, |chunk| {
            encoder.forward(chunk, Mode::Eval)
        }))
    }

    fn state(&self, out: &mut Vec<NamedTensor>) {
        self.generator.encoder.state("encoder.", out);
        self.generator.decoder.state("decoder.", out);
        self.generator.encoder2.state("encoder2.", out);
    }

    fn from_state(
        _params: &GanomalyParams,
        _train: &TrainParams,
        n_features: usize,
        tensors: &[NamedTensor],
    ) -> Result<Self, StateError> {
        let mut g = Generator::new(n_features, &mut component_rng(0, "load"));
        g.encoder.load_state("encoder.", tensors)?;
        g.decoder.load_state("decoder.", tensors)?;
        g.encoder2.load_state("encoder2.", tensors)?;
        Ok(FittedGanomaly { generator: g })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::ParamMut;
    use rand::Rng as _;

    fn params_of(net: &mut Sequential) -> Vec<(Vec<f32>, Vec<f32>)> {
        let mut v = Vec::new();
        net.visit_params(&mut |p: ParamMut<'_>| v.push((p.value.to_vec(), p.grad.to_vec())));
        v
    }

    fn part_mut(g: &mut Generator, part: usize) -> &mut Sequential {
        match part {
            0 => &mut g.encoder,
            1 => &mut g.decoder,
            _ => &mut g.encoder2,
        }
    }

    /// The generator step's gradients through all three sub-networks and the
    /// discriminator's features (first weight matrix of each sub-network, a few entries),
    /// against central differences of its loss (smooth away from the L1 kinks, which random
    /// data avoids).
    #[test]
    fn generator_gradients_match_finite_differences() {
        let mut rng = component_rng(11, "t");
        let d = 8;
        let x = Matrix::from_shape_fn((6, d), |_| rng.gen_range(-1.0f32..1.0));
        let mut gen = Generator::new(d, &mut rng);
        let mut disc = Discriminator::new(d, &mut rng);
        gen.zero_grad();
        let out = gen.forward(&x, Mode::Train);
        generator_backward(&mut gen, &mut disc, &x, &out);
        let loss_at = |g: &Generator| {
            let mut g = g.clone();
            let mut dd = disc.clone();
            let o = g.forward(&x, Mode::Eval);
            let fr = dd.features.forward(&x, Mode::Eval);
            let ff = dd.features.forward(&o.x_hat, Mode::Eval);
            f64::from(generator_loss(&x, &o, &fr, &ff).value)
        };
        let h = 1e-2f32;
        for part in 0..3 {
            let analytic = params_of(part_mut(&mut gen, part));
            let (w0, g0) = &analytic[0];
            let scale = g0.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!(scale > 0.0, "part {part}: zero gradient");
            for i in (0..w0.len()).step_by(w0.len() / 5 + 1) {
                let at = |delta: f32| {
                    let mut g = gen.clone();
                    let mut k = 0;
                    part_mut(&mut g, part).visit_params(&mut |p: ParamMut<'_>| {
                        if k == 0 {
                            p.value[i] += delta;
                        }
                        k += 1;
                    });
                    loss_at(&g)
                };
                let fd = ((at(h) - at(-h)) / (2.0 * f64::from(h))) as f32;
                assert!(
                    (fd - g0[i]).abs() < 2e-2 * scale,
                    "part {part} weight {i}: fd {fd} vs {}",
                    g0[i]
                );
            }
        }
    }
}
