//! Element-wise activations as layers.

use ndarray::ArrayView2;

use super::{is_plain, par, pool, Matrix, Mode, Module, NamedTensor, ParamMut, StateError};

/// An element-wise nonlinearity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    Relu,
    /// Leaky ReLU with the given negative slope (torch default 0.01).
    LeakyRelu(f32),
    Tanh,
    Sigmoid,
    /// torch `selu`: `SELU_SCALE · x` for `x > 0`, else `SELU_SCALE · SELU_ALPHA · (eˣ − 1)`
    /// (WSAD-DT's encoder).
    Selu,
}

/// torch's SELU scale λ (Klambauer et al. 2017; 1.0507009873554805 rounded to f32).
pub const SELU_SCALE: f32 = 1.050_701;
/// torch's SELU α (1.6732632423543772 rounded to f32).
pub const SELU_ALPHA: f32 = 1.673_263_2;

/// SELU of one value (`exp_m1` as torch's vectorised kernel, for accuracy near 0).
#[inline(always)]
fn selu(v: f32) -> f32 {
    if v > 0.0 {
        SELU_SCALE * v
    } else {
        SELU_SCALE * SELU_ALPHA * v.exp_m1()
    }
}

impl Activation {
    /// The function itself.
    pub fn apply(self, v: f32) -> f32 {
        match self {
            Activation::Relu => v.max(0.0),
            Activation::LeakyRelu(a) => {
                if v > 0.0 {
                    v
                } else {
                    a * v
                }
            }
            Activation::Tanh => v.tanh(),
            Activation::Sigmoid => 1.0 / (1.0 + (-v).exp()),
            Activation::Selu => selu(v),
        }
    }

    /// Whether the backward pass is computed from the input (ReLU family: the derivative at
    /// 0 is 0 / the slope, as in torch; SELU: torch differentiates it from its input) or
    /// from the output (tanh, sigmoid: cheaper).
    fn caches_input(self) -> bool {
        matches!(
            self,
            Activation::Relu | Activation::LeakyRelu(_) | Activation::Selu
        )
    }

    /// Derivative, given the cached input or output (see [`Activation::caches_input`]).
    fn derivative(self, cached: f32) -> f32 {
        match self {
            Activation::Relu => {
                if cached > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::LeakyRelu(a) => {
                if cached > 0.0 {
                    1.0
                } else {
                    a
                }
            }
            Activation::Tanh => 1.0 - cached * cached,
            Activation::Sigmoid => cached * (1.0 - cached),
            // At 0 torch takes the negative branch: λα.
            Activation::Selu => {
                if cached > 0.0 {
                    SELU_SCALE
                } else {
                    SELU_SCALE * SELU_ALPHA * cached.exp()
                }
            }
        }
    }
}

/// `kind` applied to every element of `x`, as a new standard-layout matrix. One closure
/// per kind, so the element loop has no branch on the kind and vectorises (it is on the
/// hot path of every step).
fn map_kind(kind: Activation, x: ArrayView2<f32>) -> Matrix {
    if let Some(flat) = x.as_slice() {
        if par::blocks(flat.len(), flat.len()) > 1 {
            // Large enough to split between threads (element-wise: the same values).
            let mut y = pool::scratch(x.nrows(), x.ncols());
            let out = y.as_slice_mut().unwrap_or(&mut []);
            match kind {
                Activation::Relu => par::map_into(out, flat, |v| v.max(0.0)),
                Activation::LeakyRelu(a) => {
                    par::map_into(out, flat, |v| if v > 0.0 { v } else { a * v })
                }
                Activation::Tanh => par::map_into(out, flat, f32::tanh),
                Activation::Sigmoid => par::map_into(out, flat, |v| 1.0 / (1.0 + (-v).exp())),
                Activation::Selu => par::map_into(out, flat, selu),
            }
            return y;
        }
    }
    match kind {
        Activation::Relu => pool::map(x, |v| v.max(0.0)),
        Activation::LeakyRelu(a) => pool::map(x, |v| if v > 0.0 { v } else { a * v }),
        Activation::Tanh => pool::map(x, f32::tanh),
        Activation::Sigmoid => pool::map(x, |v| 1.0 / (1.0 + (-v).exp())),
        Activation::Selu => pool::map(x, selu),
    }
}

/// An [`Activation`] as a layer (no parameters, no state).
#[derive(Debug)]
pub struct ActivationLayer {
    pub kind: Activation,
    cache: Vec<Matrix>,
}

impl Clone for ActivationLayer {
    fn clone(&self) -> Self {
        ActivationLayer::new(self.kind)
    }
}

impl ActivationLayer {
    pub fn new(kind: Activation) -> ActivationLayer {
        ActivationLayer {
            kind,
            cache: Vec::new(),
        }
    }
}

impl From<Activation> for ActivationLayer {
    fn from(kind: Activation) -> Self {
        ActivationLayer::new(kind)
    }
}

impl Module for ActivationLayer {
    fn forward(&mut self, x: &Matrix, mode: Mode) -> Matrix {
        let k = self.kind;
        let x = x.view();
        let y = map_kind(k, x);
        if mode == Mode::Train {
            self.cache
                .push(pool::copy(if k.caches_input() { x } else { y.view() }));
        }
        y
    }

    /// Keeps `x` itself when the kind caches its input and `x` has the layout of the copy
    /// [`Module::forward`] would keep.
    fn forward_owned(&mut self, x: Matrix, mode: Mode) -> Matrix {
        if mode == Mode::Train && self.kind.caches_input() && is_plain(&x) {
            let y = map_kind(self.kind, x.view());
            self.cache.push(x);
            return y;
        }
        let y = self.forward(&x, mode);
        pool::recycle(x);
        y
    }

    fn backward(&mut self, grad_out: &Matrix, need_input_grad: bool) -> Option<Matrix> {
        let cached = self
            .cache
            .pop()
            .expect("ActivationLayer::backward without a cached train-mode forward");
        if !need_input_grad {
            pool::recycle(cached);
            return None;
        }
        let k = self.kind;
        let (go, c) = (grad_out.view(), cached.view());
        let g = match k {
            Activation::Relu => pool::zip_map(go, c, |g, c| if c > 0.0 { g } else { 0.0 }),
            Activation::LeakyRelu(a) => {
                pool::zip_map(go, c, |g, c| if c > 0.0 { g } else { a * g })
            }
            _ => pool::zip_map(go, c, |g, c| g * k.derivative(c)),
        };
        pool::recycle(cached);
        Some(g)
    }

    /// Writes the input gradient over `grad_out` (the same expression per element as
    /// [`Module::backward`]).
    fn backward_owned(&mut self, mut grad_out: Matrix, need_input_grad: bool) -> Option<Matrix> {
        if !need_input_grad || !is_plain(&grad_out) {
            let g = self.backward(&grad_out, need_input_grad);
            pool::recycle(grad_out);
            return g;
        }
        let cached = self
            .cache
            .pop()
            .expect("ActivationLayer::backward without a cached train-mode forward");
        let k = self.kind;
        match (grad_out.as_slice_mut(), cached.as_slice()) {
            (Some(g), Some(c)) if is_plain(&cached) && g.len() == c.len() => {
                let width = cached.ncols().max(1);
                par::rows_mut(g, width, |first, g| {
                    let c = &c[first * width..first * width + g.len()];
                    match k {
                        Activation::Relu => {
                            for (g, &c) in g.iter_mut().zip(c) {
                                *g = if c > 0.0 { *g } else { 0.0 };
                            }
                        }
                        Activation::LeakyRelu(a) => {
                            for (g, &c) in g.iter_mut().zip(c) {
                                *g = if c > 0.0 { *g } else { a * *g };
                            }
                        }
                        _ => {
                            for (g, &c) in g.iter_mut().zip(c) {
                                *g *= k.derivative(c);
                            }
                        }
                    }
                });
                pool::recycle(cached);
                Some(grad_out)
            }
            _ => {
                self.cache.push(cached);
                let g = self.backward(&grad_out, need_input_grad);
                pool::recycle(grad_out);
                g
            }
        }
    }

    fn visit_params(&mut self, _f: &mut dyn FnMut(ParamMut<'_>)) {}

    fn zero_grad(&mut self) {}

    fn clear_cache(&mut self) {
        self.cache.clear();
    }

    fn state(&self, _prefix: &str, _out: &mut Vec<NamedTensor>) {}

    fn load_state(&mut self, _prefix: &str, _tensors: &[NamedTensor]) -> Result<(), StateError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::bits;
    use ndarray::array;

    #[test]
    fn values_and_derivatives() {
        let x = array![[-2.0, 0.0, 3.0]];
        let mut l = ActivationLayer::new(Activation::LeakyRelu(0.01));
        assert_eq!(l.forward(&x, Mode::Train), array![[-0.02, 0.0, 3.0]]);
        let g = l.backward(&array![[1.0, 1.0, 1.0]], true).expect("dx");
        assert_eq!(g, array![[0.01, 0.01, 1.0]]);
        let mut l = ActivationLayer::new(Activation::Relu);
        assert_eq!(l.forward(&x, Mode::Eval), array![[0.0, 0.0, 3.0]]);
        let s = Activation::Sigmoid.apply(0.0);
        assert!((s - 0.5).abs() < 1e-7);
    }

    #[test]
    fn selu_matches_torch_values_and_derivatives() {
        // torch.nn.functional.selu(torch.tensor([-2., -0.5, 0., 1.5])) and its gradient.
        let x = array![[-2.0f32, -0.5, 0.0, 1.5]];
        let mut l = ActivationLayer::new(Activation::Selu);
        let y = l.forward(&x, Mode::Train);
        let want = [-1.520_166_5f32, -0.691_758_16, 0.0, 1.576_051_5];
        for (a, b) in y.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        let g = l
            .backward(&array![[1.0f32, 1.0, 1.0, 1.0]], true)
            .expect("dx");
        let want = [0.237_932_86f32, 1.066_341_2, 1.758_099_3, 1.050_701];
        for (a, b) in g.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }

    /// The owned passes (the input kept as the cache, the gradient written over
    /// `grad_out`) and the forward split between threads give the bits of the borrowed
    /// passes, for every kind, at 1 and 2 threads with every pass split, on a plain input
    /// and on a column-major one (which takes the borrowed path). Inputs hit the kinks
    /// (exact zeros) and both signs.
    #[test]
    fn owned_and_split_passes_match_the_borrowed_ones_bit_for_bit() {
        super::par::set_min_work(0);
        let x = Matrix::from_shape_fn((300, 70), |(i, j)| {
            let v = ((i * 70 + j) % 23) as f32 / 4.0 - 2.75;
            if (i + j) % 17 == 0 {
                0.0
            } else {
                v
            }
        });
        let g = Matrix::from_shape_fn((300, 70), |(i, j)| ((i * 7 + j * 3) % 19) as f32 - 9.5);
        let x_cols = x.t().as_standard_layout().into_owned().reversed_axes();
        let kinds = [
            Activation::Relu,
            Activation::LeakyRelu(0.01),
            Activation::Tanh,
            Activation::Sigmoid,
            Activation::Selu,
        ];
        for threads in [1, 2] {
            crate::nn::with_threads(threads, || {
                for kind in kinds {
                    for input in [&x, &x_cols] {
                        let (mut a, mut b) =
                            (ActivationLayer::new(kind), ActivationLayer::new(kind));
                        let ya = a.forward(input, Mode::Train);
                        let yb = b.forward_owned(input.clone(), Mode::Train);
                        assert_eq!(bits(&ya), bits(&yb), "{kind:?} forward");
                        assert!(ya
                            .iter()
                            .zip(input)
                            .all(|(y, &v)| y.to_bits() == kind.apply(v).to_bits()));
                        let ga = a.backward(&g, true).expect("dx");
                        let gb = b.backward_owned(g.clone(), true).expect("dx");
                        assert_eq!(bits(&ga), bits(&gb), "{kind:?} backward");
                        let ye =
                            ActivationLayer::new(kind).forward_owned(input.clone(), Mode::Eval);
                        assert_eq!(bits(&ya), bits(&ye), "{kind:?} eval");
                        // Without the input gradient: nothing, and the cache is consumed.
                        b.forward_owned(input.clone(), Mode::Train);
                        assert!(b.backward_owned(g.clone(), false).is_none());
                        assert!(b.cache.is_empty());
                    }
                }
            });
        }
        super::pool::clear();
    }
}
