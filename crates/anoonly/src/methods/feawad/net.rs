//! FEAWAD's networks: the autoencoder (stage 1, as [`AeResidual`]) and the scoring network
//! around it ([`FeawadNet`], stage 2), with the backward pass of the residual features
//! written by hand.

use ndarray::{concatenate, s, Array1, Axis, Zip};

use super::FeawadParams;
use crate::nn::{
    pool, Activation, ActivationLayer, Init, Layer, Linear, Matrix, Mode, Module, NamedTensor,
    ParamMut, Sequential, StateError,
};
use crate::rng::Rng;
use crate::train::{norm_layer, HeadNorm, NormFlavour};

impl FeawadParams {
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

    pub(super) fn state(&self, prefix: &str, out: &mut Vec<NamedTensor>) {
        self.encoder.state(&format!("{prefix}encoder."), out);
        self.decoder.state(&format!("{prefix}decoder."), out);
    }

    pub(super) fn load_state(
        &mut self,
        prefix: &str,
        tensors: &[NamedTensor],
    ) -> Result<(), StateError> {
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

impl FeawadNet {
    /// The same head around another autoencoder (stage 2 starts from stage 1's).
    pub fn with_autoencoder(self, ae: Autoencoder) -> FeawadNet {
        FeawadNet { ae, ..self }
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

impl FeawadNet {
    /// Everything up to the output layer: its 33-d input `z3` (`[a2 ‖ n_r]` after the norm
    /// layer) and what a train-mode backward needs.
    fn head_input(&mut self, x: &Matrix, mode: Mode) -> (Matrix, NetCache) {
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
        (z3, NetCache { rhat, norm, a1, a2 })
    }

    /// The output layer's 33-d input in inference mode (FEAWAD's hidden features before
    /// its last layer, [`crate::methods::Method::representation`]).
    pub fn representation(&mut self, x: &Matrix) -> Matrix {
        self.head_input(x, Mode::Eval).0
    }
}

impl Module for FeawadNet {
    fn forward(&mut self, x: &Matrix, mode: Mode) -> Matrix {
        let (z3, cache) = self.head_input(x, mode);
        let s = self.out.forward(&z3, mode);
        let nc = cache.norm.view().insert_axis(Axis(1));
        let out = concatenate![Axis(1), s.view(), nc];
        if mode == Mode::Train {
            self.cache.push(cache);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::NormKind;
    use rand::{Rng as _, SeedableRng};

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
}
