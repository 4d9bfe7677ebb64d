//! PReNet's pair network ([`PairNet`]): one feature branch run on the left and the right
//! row of a pair, and a linear score on both.

use ndarray::{concatenate, ArrayView2, Axis};

use crate::nn::{
    pool, Activation, ActivationLayer, Init, Linear, Matrix, Mode, Module, NamedTensor, ParamMut,
    Sequential, StateError,
};
use crate::rng::Rng;
use crate::train::{norm_layer, HeadNorm, NormFlavour};

/// The pair network as one [`Module`] on the left rows stacked over the right rows
/// (`2b × d`: row `i` and row `b + i` are pair `i`), so that the training core drives it
/// like any other net and each half is a block of whole rows (the branch's input, cut off
/// with one copy of the right half). Output `b × 1`.
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

    pub(super) fn hidden(&self) -> usize {
        self.reg.d_in() / 2
    }

    /// The left rows over the right rows as one pair input.
    pub fn pair_input(left: ArrayView2<f32>, right: ArrayView2<f32>) -> Matrix {
        assert_eq!(left.dim(), right.dim(), "a pair input needs equal halves");
        concatenate![Axis(0), left, right]
    }

    /// The score layer on `[φ(left) ‖ φ(right)]`: the concatenation in ndarray's layout
    /// (column-major, as `concatenate` along columns builds it), which the score layer's
    /// product reads; the layer keeps a row-major copy, built here row by row.
    fn score(&mut self, fl: &Matrix, fr: &Matrix, mode: Mode) -> Matrix {
        let h = concatenate![Axis(1), fl.view(), fr.view()];
        if mode == Mode::Eval {
            return self.reg.forward(&h, mode);
        }
        let (b, w) = fl.dim();
        let mut rows = pool::vec_with_capacity(2 * b * w);
        for (l, r) in fl.rows().into_iter().zip(fr.rows()) {
            rows.extend(l.iter().copied());
            rows.extend(r.iter().copied());
        }
        let cache = Matrix::from_shape_vec((b, 2 * w), rows).expect("b × 2h values");
        self.reg.forward_cached(&h, cache)
    }

    /// The branch φ of `x` in inference mode.
    pub fn features(&self, x: ArrayView2<f32>) -> Matrix {
        self.feature.clone().forward(&x.to_owned(), Mode::Eval)
    }
}

impl Module for PairNet {
    fn forward(&mut self, x: &Matrix, mode: Mode) -> Matrix {
        let b = half_rows(x, self.d);
        let left = pool::gather(x.view(), 0..b, 0..self.d);
        let right = pool::gather(x.view(), b..2 * b, 0..self.d);
        self.forward_halves(left, right, mode)
    }

    /// The left half keeps `x`'s buffer; the right half is its one copy.
    fn forward_owned(&mut self, x: Matrix, mode: Mode) -> Matrix {
        let b = half_rows(&x, self.d);
        if !is_standard(&x) {
            let y = self.forward(&x, mode);
            pool::recycle(x);
            return y;
        }
        let right = pool::gather(x.view(), b..2 * b, 0..self.d);
        let (mut values, _) = x.into_raw_vec_and_offset();
        values.truncate(b * self.d);
        let left = Matrix::from_shape_vec((b, self.d), values).expect("b × d values");
        self.forward_halves(left, right, mode)
    }

    /// Reverse order of the forwards: the score layer, the right branch call, the left one.
    /// The input gradient has the input's layout (left rows over right rows).
    fn backward(&mut self, grad_out: &Matrix, need_input_grad: bool) -> Option<Matrix> {
        let h = self.hidden();
        let gh = self
            .reg
            .backward(grad_out, true)
            .expect("Linear returns the input gradient when asked");
        let gl = pool::gather(gh.view(), 0..gh.nrows(), 0..h);
        let gr = pool::gather(gh.view(), 0..gh.nrows(), h..2 * h);
        pool::recycle(gh);
        let dr = self.feature.backward_owned(gr, need_input_grad);
        let dl = self.feature.backward_owned(gl, need_input_grad);
        match (dl, dr) {
            (Some(dl), Some(dr)) => Some(concatenate![Axis(0), dl, dr]),
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

impl PairNet {
    /// The branch on each half (left first: a BatchNorm updates its running statistics in
    /// that order), then the score layer; the branch keeps each half as its cache.
    fn forward_halves(&mut self, left: Matrix, right: Matrix, mode: Mode) -> Matrix {
        let fl = self.feature.forward_owned(left, mode);
        let fr = self.feature.forward_owned(right, mode);
        let s = self.score(&fl, &fr, mode);
        pool::recycle(fl);
        pool::recycle(fr);
        s
    }
}

/// Rows per half of a pair input for a branch of width `d`.
///
/// # Panics
/// If `x` is not `2b × d` (a programming error: the training task builds the input).
fn half_rows(x: &Matrix, d: usize) -> usize {
    assert!(
        x.ncols() == d && x.nrows().is_multiple_of(2),
        "PairNet input must be the left rows over the right rows (2b × {d}), got {:?}",
        x.dim()
    );
    x.nrows() / 2
}

/// Row-major and contiguous from the first element, so that the first rows of the buffer
/// are the left half.
fn is_standard(x: &Matrix) -> bool {
    x.is_standard_layout() && x.as_slice().is_some_and(|s| s.as_ptr() == x.as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::bits;
    use crate::rng::component_rng;
    use crate::vocab::NormKind;
    use ndarray::s;
    use rand::Rng as _;

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
            // Left rows over right rows.
            let x = Matrix::from_shape_simple_fn((2 * b, d), || rng.gen_range(-0.5f32..0.5));
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
            for i in 0..2 * b {
                for j in 0..d {
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
        let x = Matrix::from_shape_simple_fn((16, 3), || rng.gen_range(-1.0f32..1.0));
        let mut reference = net.feature.clone();
        reference.forward(&x.slice(s![..8, ..]).to_owned(), Mode::Train);
        reference.forward(&x.slice(s![8.., ..]).to_owned(), Mode::Train);
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
            .forward(&x.slice(s![..8, ..]).to_owned(), Mode::Train);
        let mut c = Vec::new();
        once.feature.state("", &mut c);
        assert_ne!(a, c);
    }

    fn all_bits(net: &mut PairNet) -> Vec<u32> {
        let mut out: Vec<u32> = grads_flat(net).iter().flat_map(bits).collect();
        let mut state = Vec::new();
        net.state("", &mut state);
        for t in state {
            out.extend(bits(t.data.iter()));
        }
        out
    }

    /// The pair input as left rows over right rows, the owned forward (the left half keeps
    /// the input's buffer) and the score layer's row-major cache give the bits of the
    /// branch and score layers' own passes on the two halves (the computation before the
    /// layout changed): outputs, parameter gradients, running statistics, input gradient,
    /// at 1 and 2 threads with every product and pass split, for a plain input and for one
    /// in another layout (which the owned forward hands to the borrowed one).
    #[test]
    fn owned_pair_passes_match_the_layers_on_each_half_bit_for_bit() {
        crate::nn::par::set_min_work(0);
        crate::nn::matmul::set_gemm_threaded_min_work(0);
        let mut rng = component_rng(12, "owned");
        let (d, b) = (30, 256);
        let left = Matrix::from_shape_simple_fn((b, d), || rng.gen_range(-1.0f32..1.0));
        let right = Matrix::from_shape_simple_fn((b, d), || rng.gen_range(-1.0f32..1.0));
        let g = Matrix::from_shape_simple_fn((b, 1), || rng.gen_range(-1.0f32..1.0));
        let x = PairNet::pair_input(left.view(), right.view());
        let x_cols = x.t().as_standard_layout().into_owned().reversed_axes();
        for norm in [NormKind::Bn, NormKind::None] {
            let base = PairNet::new(d, 20, norm, 1e-5, &mut rng);
            // The reference: the layers' borrowed passes on each half.
            let mut r = base.clone();
            let fl = r.feature.forward(&left, Mode::Train);
            let fr = r.feature.forward(&right, Mode::Train);
            let y_want = r.reg.forward(&concatenate![Axis(1), fl, fr], Mode::Train);
            let gh = r.reg.backward(&g, true).expect("input gradient");
            let h = fl.ncols();
            let dr = r
                .feature
                .backward(&gh.slice(s![.., h..]).to_owned(), true)
                .expect("input gradient");
            let dl = r
                .feature
                .backward(&gh.slice(s![.., ..h]).to_owned(), true)
                .expect("input gradient");
            let d_want = concatenate![Axis(0), dl, dr];
            let want = (bits(&y_want), bits(&d_want), all_bits(&mut r));
            for threads in [1, 2] {
                crate::nn::with_threads(threads, || {
                    for input in [&x, &x_cols] {
                        let (mut a, mut o) = (base.clone(), base.clone());
                        let ya = a.forward(input, Mode::Train);
                        let yo = o.forward_owned(input.clone(), Mode::Train);
                        let da = a.backward(&g, true).expect("input gradient");
                        let dd = o.backward_owned(g.clone(), true).expect("input gradient");
                        for (y, dx, net) in [(ya, da, &mut a), (yo, dd, &mut o)] {
                            let got = (bits(&y), bits(&dx), all_bits(net));
                            assert!(got == want, "{norm:?}, {threads} threads");
                        }
                    }
                    crate::nn::pool::clear();
                });
            }
        }
    }
}
