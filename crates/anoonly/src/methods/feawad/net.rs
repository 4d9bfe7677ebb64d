//! FEAWAD's networks: the autoencoder (stage 1, as [`AeResidual`]) and the scoring network
//! around it ([`FeawadNet`], stage 2), with the backward pass of the residual features
//! written by hand.

use ndarray::{concatenate, s, Array1, Axis, Zip};

use super::FeawadParams;
use crate::nn::{
    par, pool, Activation, ActivationLayer, Init, Layer, Linear, Matrix, Mode, Module, NamedTensor,
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
        let xhat = self.0.decoder.forward_owned(h, mode);
        residual(x, xhat)
    }

    /// The input gradient (`need_input_grad`) is left out: only the parameters matter.
    fn backward(&mut self, grad_out: &Matrix, _need_input_grad: bool) -> Option<Matrix> {
        self.backward_owned(pool::copy(grad_out.view()), false)
    }

    /// `x̂` enters the residual with sign −1: the gradient is negated in its own buffer.
    fn backward_owned(&mut self, mut grad_out: Matrix, _need_input_grad: bool) -> Option<Matrix> {
        match grad_out.as_slice_mut() {
            Some(g) => par::rows_mut(g, 1, |_, g| {
                for v in g {
                    *v = -*v;
                }
            }),
            None => grad_out.mapv_inplace(|g| -g),
        }
        let g_h = self.0.decoder.backward_owned(grad_out, true)?;
        self.0.encoder.backward_owned(g_h, false);
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
    match m.as_slice_mut() {
        Some(v) => par::rows_mut(v, 1, |_, v| {
            for v in v {
                *v = v.max(0.0);
            }
        }),
        None => m.mapv_inplace(|v| v.max(0.0)),
    }
}

/// `[a ‖ col]`, in ndarray's layout for a concatenation along columns (column-major: the
/// layout the next layer's product has always read).
fn append_col(a: &Matrix, col: &Array1<f32>) -> Matrix {
    let c = col.view().insert_axis(Axis(1));
    concatenate![Axis(1), a.view(), c]
}

/// `[a ‖ col]` row-major, built row by row: what a layer would copy [`append_col`] into.
fn append_col_rows(a: &Matrix, col: &Array1<f32>) -> Matrix {
    let (b, w) = a.dim();
    let mut v = pool::vec_with_capacity(b * (w + 1));
    for (row, &c) in a.rows().into_iter().zip(col) {
        match row.as_slice() {
            Some(r) => v.extend_from_slice(r),
            None => v.extend(row.iter().copied()),
        }
        v.push(c);
    }
    Matrix::from_shape_vec((b, w + 1), v).expect("b × (w + 1) values")
}

/// `x − x̂` element by element, in `x̂`'s buffer when both are plain row-major matrices.
fn residual(x: &Matrix, mut xhat: Matrix) -> Matrix {
    let width = xhat.ncols().max(1);
    let same_shape = x.dim() == xhat.dim();
    match (x.as_slice(), xhat.as_slice_mut()) {
        (Some(a), Some(b)) if same_shape && a.len() == b.len() => {
            par::rows_mut(b, width, |first, b| {
                let a = &a[first * width..first * width + b.len()];
                for (b, &a) in b.iter_mut().zip(a) {
                    *b = a - *b;
                }
            });
            xhat
        }
        _ => {
            let r = pool::zip_map(x.view(), xhat.view(), |a, b| a - b);
            pool::recycle(xhat);
            r
        }
    }
}

/// Per row, `g ← −((g − r̂ (g·r̂))/n + g_n r̂)`: the gradient of `x̂` from that of `r̂` and
/// of the norm. The projection is ndarray's `dot` of the two rows (its unrolled sum), as
/// before the rows were split between threads.
fn residual_backward(g: &mut Matrix, rhat: &Matrix, norm: &Array1<f32>, g_norm: &Array1<f32>) {
    let d = g.ncols();
    let plain = g.dim() == rhat.dim() && d > 0;
    if let (true, Some(gs), Some(rs), Some(ns), Some(gns)) = (
        plain,
        g.as_slice_mut(),
        rhat.as_slice(),
        norm.as_slice(),
        g_norm.as_slice(),
    ) {
        par::rows_mut(gs, d, |first, gs| {
            for (i, grow) in gs.chunks_exact_mut(d).enumerate() {
                let k = first + i;
                let rh = &rs[k * d..(k + 1) * d];
                let proj = ndarray::aview1(&*grow).dot(&ndarray::aview1(rh));
                let inv = 1.0 / ns[k];
                let gn = gns[k];
                for (g, &r) in grow.iter_mut().zip(rh) {
                    *g = -((*g - r * proj) * inv + gn * r);
                }
            }
        });
        return;
    }
    Zip::from(g.rows_mut())
        .and(rhat.rows())
        .and(norm)
        .and(g_norm)
        .for_each(|mut g, rh, &n, &gn| {
            let proj = g.dot(&rh);
            let inv = 1.0 / n;
            Zip::from(&mut g).and(&rh).for_each(|g, &r| {
                *g = -((*g - r * proj) * inv + gn * r);
            });
        });
}

/// `g ⊙ 1[a > 0]` for a ReLU output `a`.
fn relu_mask(g: &mut Matrix, a: &Matrix) {
    let width = g.ncols().max(1);
    if g.dim() == a.dim() {
        if let (Some(gs), Some(as_)) = (g.as_slice_mut(), a.as_slice()) {
            par::rows_mut(gs, width, |first, gs| {
                let a = &as_[first * width..first * width + gs.len()];
                for (g, &a) in gs.iter_mut().zip(a) {
                    if a <= 0.0 {
                        *g = 0.0
                    }
                }
            });
            return;
        }
    }
    Zip::from(g).and(a).for_each(|g, &a| {
        if a <= 0.0 {
            *g = 0.0
        }
    });
}

/// Per row: `‖r‖` (floored at 1e-30) into `norm`, and `r ← r/‖r‖`. The norm is ndarray's
/// `dot` of the row with itself (its 8-way unrolled sum), as before the rows were split
/// between threads.
fn normalise_rows(rhat: &mut Matrix) -> Array1<f32> {
    let (b, d) = rhat.dim();
    let mut norm = vec![0.0f32; b];
    match rhat.as_slice_mut() {
        Some(flat) if d > 0 => par::rows2_mut(flat, d, &mut norm, 1, |_, rows, norms| {
            for (r, n) in rows.chunks_exact_mut(d).zip(norms.iter_mut()) {
                let view = ndarray::aview1(&*r);
                *n = view.dot(&view).sqrt().max(1e-30);
                for v in r {
                    *v /= *n;
                }
            }
        }),
        _ => {
            for (r, n) in rhat.rows_mut().into_iter().zip(norm.iter_mut()) {
                *n = r.dot(&r).sqrt().max(1e-30);
            }
            Zip::from(rhat.rows_mut())
                .and(&Array1::from(norm.clone()))
                .for_each(|mut r, &n| r.mapv_inplace(|v| v / n));
        }
    }
    Array1::from(norm)
}

/// `z0 = [r̂ ‖ h ‖ n_r]` row by row into a fresh row-major matrix.
fn concat_z0(rhat: &Matrix, h: &Matrix, norm: &Array1<f32>) -> Matrix {
    let (b, d, c) = (rhat.nrows(), rhat.ncols(), h.ncols());
    let w = d + c + 1;
    let mut z0 = pool::scratch(b, w);
    match (
        z0.as_slice_mut(),
        rhat.as_slice(),
        h.as_slice(),
        norm.as_slice(),
    ) {
        (Some(z), Some(r), Some(hs), Some(n)) if w > 0 => par::rows_mut(z, w, |first, z| {
            for (i, row) in z.chunks_exact_mut(w).enumerate() {
                let k = first + i;
                row[..d].copy_from_slice(&r[k * d..(k + 1) * d]);
                row[d..d + c].copy_from_slice(&hs[k * c..(k + 1) * c]);
                row[d + c] = n[k];
            }
        }),
        _ => {
            z0.slice_mut(s![.., ..d]).assign(rhat);
            z0.slice_mut(s![.., d..d + c]).assign(h);
            z0.column_mut(d + c).assign(norm);
        }
    }
    z0
}

impl FeawadNet {
    /// Everything up to the output layer: its 33-d input `z3` (`[a2 ‖ n_r]` after the norm
    /// layer) and what a train-mode backward needs.
    fn head_input(&mut self, x: &Matrix, mode: Mode) -> (Matrix, NetCache) {
        let h = self.ae.encoder.forward(x, mode);
        let xhat = self.ae.decoder.forward(&h, mode);
        let mut rhat = residual(x, xhat);
        let norm = normalise_rows(&mut rhat);
        let z0 = concat_z0(&rhat, &h, &norm);
        pool::recycle(h);
        // dense1 keeps z0 as its cache.
        let mut a1 = self.dense1.forward_owned(z0, mode);
        relu_inplace(&mut a1);
        let z1 = append_col(&a1, &norm);
        let mut a2 = match mode {
            // The product reads the column-major concatenation; the layer keeps the
            // row-major copy built row by row.
            Mode::Train => self.dense2.forward_cached(&z1, append_col_rows(&a1, &norm)),
            Mode::Eval => self.dense2.forward(&z1, mode),
        };
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
        let mut g_a1 = pool::gather(g_z1.view(), 0..g_z1.nrows(), 0..w1);
        pool::recycle(g_z1);
        relu_mask(&mut g_a1, &a1);
        pool::recycle(a1);
        let g_z0 = self
            .dense1
            .backward_owned(g_a1, true)
            .expect("input gradient requested");
        let z = g_z0.ncols();
        g_norm += &g_z0.column(z - 1);
        let mut g_h = pool::gather(g_z0.view(), 0..g_z0.nrows(), d..z - 1);
        // r̂ = r/n: dL/dr = (g_r̂ − r̂ (r̂·g_r̂))/n + g_n r̂; x̂ enters r with sign −1.
        let mut g_xhat = pool::gather(g_z0.view(), 0..g_z0.nrows(), 0..d);
        pool::recycle(g_z0);
        residual_backward(&mut g_xhat, &rhat, &norm, &g_norm);
        let g_h_dec = self
            .ae
            .decoder
            .backward_owned(g_xhat, true)
            .expect("input gradient requested");
        pool::recycle(rhat);
        g_h += &g_h_dec;
        pool::recycle(g_h_dec);
        self.ae.encoder.backward_owned(g_h, false);
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
    use crate::nn::bits;
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

    fn grads(net: &mut dyn Module) -> Vec<u32> {
        let mut out = Vec::new();
        net.visit_params(&mut |p| out.extend(bits(p.grad.iter())));
        out
    }

    /// The fused element-wise passes of the scoring net (split between threads by rows)
    /// give the bits of the expressions they replaced, written out here as they were, at
    /// 1 and 2 threads with every pass split; inputs include exact zeros (ReLU kinks).
    #[test]
    fn fused_passes_match_the_expressions_they_replaced_bit_for_bit() {
        crate::nn::par::set_min_work(0);
        let mut rng = Rng::seed_from_u64(8);
        let (b, d, c) = (300, 70, 9);
        let mut draw = |r, k| {
            Matrix::from_shape_simple_fn((r, k), || {
                let v: f32 = rng.gen_range(-1.0f32..1.0);
                if v.abs() < 0.05 {
                    0.0
                } else {
                    v
                }
            })
        };
        let (x, xhat, h, g, a) = (draw(b, d), draw(b, d), draw(b, c), draw(b, d), draw(b, d));
        let g_norm: Array1<f32> = draw(b, 1).column(0).to_owned();
        let x_cols = x.t().as_standard_layout().into_owned().reversed_axes();
        // The expressions as they were.
        let r_ref = pool::zip_map(x.view(), xhat.view(), |a, b| a - b);
        let mut rhat_ref = r_ref.clone();
        let norm_ref: Array1<f32> = rhat_ref
            .rows()
            .into_iter()
            .map(|r| r.dot(&r).sqrt().max(1e-30))
            .collect();
        Zip::from(rhat_ref.rows_mut())
            .and(&norm_ref)
            .for_each(|mut r, &n| r.mapv_inplace(|v| v / n));
        let mut z0_ref = Matrix::zeros((b, d + c + 1));
        z0_ref.slice_mut(s![.., ..d]).assign(&rhat_ref);
        z0_ref.slice_mut(s![.., d..d + c]).assign(&h);
        z0_ref.column_mut(d + c).assign(&norm_ref);
        let mut gx_ref = g.clone();
        Zip::from(gx_ref.rows_mut())
            .and(rhat_ref.rows())
            .and(&norm_ref)
            .and(&g_norm)
            .for_each(|mut g, rh, &n, &gn| {
                let proj = g.dot(&rh);
                let inv = 1.0 / n;
                Zip::from(&mut g).and(&rh).for_each(|g, &r| {
                    *g = -((*g - r * proj) * inv + gn * r);
                });
            });
        let mut mask_ref = g.clone();
        Zip::from(&mut mask_ref).and(&a).for_each(|g, &a| {
            if a <= 0.0 {
                *g = 0.0
            }
        });
        let relu_ref = a.mapv(|v| v.max(0.0));
        let cat_ref = pool::copy(append_col(&h, &norm_ref).view());
        for threads in [1, 2] {
            crate::nn::with_threads(threads, || {
                let r = residual(&x, xhat.clone());
                assert_eq!(bits(&r), bits(&r_ref), "{threads}: residual");
                let r_cols = residual(&x_cols, xhat.clone());
                assert_eq!(
                    bits(&r_cols),
                    bits(&r_ref),
                    "{threads}: residual, x by columns"
                );
                let mut rhat = r.clone();
                let norm = normalise_rows(&mut rhat);
                assert_eq!(bits(&norm), bits(&norm_ref), "{threads}: norms");
                assert_eq!(bits(&rhat), bits(&rhat_ref), "{threads}: unit residual");
                let z0 = concat_z0(&rhat, &h, &norm);
                assert_eq!(bits(&z0), bits(&z0_ref), "{threads}: z0");
                let mut gx = g.clone();
                residual_backward(&mut gx, &rhat, &norm, &g_norm);
                assert_eq!(bits(&gx), bits(&gx_ref), "{threads}: residual backward");
                let mut m = g.clone();
                relu_mask(&mut m, &a);
                assert_eq!(bits(&m), bits(&mask_ref), "{threads}: ReLU mask");
                let mut rl = a.clone();
                relu_inplace(&mut rl);
                assert_eq!(bits(&rl), bits(&relu_ref), "{threads}: ReLU");
                let cat = append_col_rows(&h, &norm);
                assert_eq!(cat.dim(), cat_ref.dim());
                assert_eq!(
                    bits(&cat),
                    bits(&cat_ref),
                    "{threads}: row-major concatenation"
                );
                pool::clear();
            });
        }
    }

    /// A train step of the scoring net and of the autoencoder stage: the same outputs and
    /// parameter gradients at 1 and 2 threads with every product and pass split, and the
    /// autoencoder's owned backward (the gradient negated in place) gives the bits of the
    /// decoder's and encoder's own backward passes on `−g`.
    #[test]
    fn train_steps_do_not_depend_on_threads_and_the_residual_backward_is_the_layers() {
        crate::nn::par::set_min_work(0);
        crate::nn::matmul::set_gemm_threaded_min_work(0);
        let mut rng = Rng::seed_from_u64(4);
        let x = Matrix::from_shape_simple_fn((200, 5), || rng.gen_range(0.0f32..1.0));
        let w = Matrix::from_shape_simple_fn((200, 2), || rng.gen_range(-1.0f32..1.0));
        let gr = Matrix::from_shape_simple_fn((200, 5), || rng.gen_range(-1.0f32..1.0));
        for norm in [NormKind::Bn, NormKind::None] {
            let base = small_net(norm, 3);
            let step = |threads| {
                crate::nn::with_threads(threads, || {
                    let mut net = base.clone();
                    net.zero_grad();
                    let out = net.forward(&x, Mode::Train);
                    assert!(net.backward(&w, false).is_none());
                    let mut ae = AeResidual(base.ae.clone());
                    ae.zero_grad();
                    let r = ae.forward_owned(x.clone(), Mode::Train);
                    assert!(ae.backward_owned(gr.clone(), true).is_none());
                    (bits(&out), grads(&mut net), bits(&r), grads(&mut ae))
                })
            };
            let one = step(1);
            assert!(step(2) == one, "{norm:?}: 2 threads differ from 1");
            // The autoencoder's backward through its layers' borrowed passes.
            let mut ae = base.ae.clone();
            ae.encoder.zero_grad();
            ae.decoder.zero_grad();
            let hid = ae.encoder.forward(&x, Mode::Train);
            let xh = ae.decoder.forward(&hid, Mode::Train);
            let r_ref = &x - &xh;
            let neg = gr.mapv(|g| -g);
            let g_h = ae.decoder.backward(&neg, true).expect("input gradient");
            ae.encoder.backward(&g_h, false);
            let mut want = grads(&mut ae.encoder);
            want.extend(grads(&mut ae.decoder));
            assert_eq!(one.2, bits(&r_ref), "{norm:?}: residual");
            assert_eq!(one.3, want, "{norm:?}: autoencoder gradients");
        }
    }
}
