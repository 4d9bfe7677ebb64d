//! Fully connected layer `y = x·Wᵀ + b` with the weight in torch layout `(out, in)`, so that
//! state dicts map one to one onto PyTorch's `nn.Linear` (a Keras `Dense` kernel is the
//! transpose).

use ndarray::{Array1, Array2, Axis};

use super::matmul::{gemm_into, rowwise_into};
use super::pool;
use super::{
    init, load_mat, load_vec, make_standard1, make_standard2, mat_tensor, vec_tensor, Matrix, Mode,
    Module, NamedTensor, ParamMut, StateError,
};
use crate::rng::Rng;

/// How a [`Linear`] layer is initialised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// PyTorch `nn.Linear` default: weight and bias `U(±1/√fan_in)` (kaiming_uniform with
    /// a = √5 reduces to this bound), used by DeepSAD and PReNet.
    TorchDefault,
    /// Keras `glorot_uniform`: weight `U(±√(6/(fan_in+fan_out)))`, bias 0 (DevNet).
    GlorotUniform,
    /// Keras `glorot_normal` (TF 2.x): truncated normal (resampled beyond 2 sd) with sd
    /// `√(2/(fan_in+fan_out)) / 0.8796…` so the truncated spread has the Glorot variance;
    /// bias 0 (FEAWAD).
    GlorotNormal,
}

/// Dense layer. Parameters are visited as `weight` then `bias`.
#[derive(Debug)]
pub struct Linear {
    /// Torch layout `(out, in)`.
    pub weight: Array2<f32>,
    pub bias: Option<Array1<f32>>,
    /// Accumulated dL/dW, same shape as `weight`.
    pub grad_weight: Array2<f32>,
    /// Accumulated dL/db.
    pub grad_bias: Option<Array1<f32>>,
    /// Inputs of the train-mode forwards not yet back-propagated (a stack).
    cache: Vec<Matrix>,
}

/// Cloning drops the forward cache (a clone is a checkpoint, not a step in progress) but keeps
/// the accumulated gradients.
impl Clone for Linear {
    fn clone(&self) -> Self {
        Linear {
            weight: self.weight.clone(),
            bias: self.bias.clone(),
            grad_weight: self.grad_weight.clone(),
            grad_bias: self.grad_bias.clone(),
            cache: Vec::new(),
        }
    }
}

impl Linear {
    /// A new layer `d_in → d_out`, drawing weights (row-major) then the bias from `rng`.
    pub fn new(d_in: usize, d_out: usize, bias: bool, init: Init, rng: &mut Rng) -> Linear {
        let (weight, b) = match init {
            Init::TorchDefault => {
                let bound = if d_in > 0 {
                    1.0 / (d_in as f32).sqrt()
                } else {
                    0.0
                };
                let w = init::uniform2(d_out, d_in, bound, rng);
                let b = bias.then(|| init::uniform1(d_out, bound, rng));
                (w, b)
            }
            Init::GlorotUniform => {
                let fan = (d_in + d_out) as f32;
                let bound = if fan > 0.0 { (6.0 / fan).sqrt() } else { 0.0 };
                let w = init::uniform2(d_out, d_in, bound, rng);
                (w, bias.then(|| Array1::zeros(d_out)))
            }
            Init::GlorotNormal => {
                let fan = (d_in + d_out) as f32;
                let sd = if fan > 0.0 {
                    (2.0 / fan).sqrt() / init::TRUNC_SD
                } else {
                    0.0
                };
                let w = init::truncated_normal2(d_out, d_in, sd, rng);
                (w, bias.then(|| Array1::zeros(d_out)))
            }
        };
        Linear::from_weights(weight, b)
    }

    /// A layer with the given weight `(out, in)` and optional bias `(out)`.
    ///
    /// # Panics
    /// If the bias length differs from the number of output features (a programming error;
    /// weights read from files go through [`Module::load_state`], which checks shapes).
    pub fn from_weights(weight: Array2<f32>, bias: Option<Array1<f32>>) -> Linear {
        let mut weight = weight;
        make_standard2(&mut weight);
        if let Some(b) = &bias {
            assert_eq!(
                b.len(),
                weight.nrows(),
                "bias length must equal out features"
            );
        }
        let grad_weight = Array2::zeros(weight.raw_dim());
        let grad_bias = bias.as_ref().map(|b| Array1::zeros(b.len()));
        Linear {
            weight,
            bias,
            grad_weight,
            grad_bias,
            cache: Vec::new(),
        }
    }

    pub fn d_in(&self) -> usize {
        self.weight.ncols()
    }

    pub fn d_out(&self) -> usize {
        self.weight.nrows()
    }

    /// Keeps gradient buffers in step with the (public) parameters, in case a caller
    /// replaced them.
    fn sync_grads(&mut self) {
        make_standard2(&mut self.weight);
        if self.grad_weight.dim() != self.weight.dim() || !self.grad_weight.is_standard_layout() {
            self.grad_weight = Array2::zeros(self.weight.raw_dim());
        }
        match &mut self.bias {
            Some(b) => {
                make_standard1(b);
                let n = b.len();
                if self.grad_bias.as_ref().map(|g| g.len()) != Some(n) {
                    self.grad_bias = Some(Array1::zeros(n));
                }
            }
            None => self.grad_bias = None,
        }
    }
}

impl Module for Linear {
    fn forward(&mut self, x: &Matrix, mode: Mode) -> Matrix {
        let mut y = pool::zeros(x.nrows(), self.d_out());
        match mode {
            Mode::Train => gemm_into(x.view(), self.weight.t(), y.view_mut(), false),
            // Scores: a row's output must not depend on the rest of the batch.
            Mode::Eval => rowwise_into(x.view(), self.weight.t(), y.view_mut()),
        }
        if let Some(b) = &self.bias {
            y += b;
        }
        if mode == Mode::Train {
            self.cache.push(pool::copy(x.view()));
        }
        y
    }

    fn backward(&mut self, grad_out: &Matrix, need_input_grad: bool) -> Option<Matrix> {
        let x = self
            .cache
            .pop()
            .expect("Linear::backward without a cached train-mode forward");
        self.sync_grads();
        // dW += gᵀ·x, accumulated in place (no temporary).
        gemm_into(grad_out.t(), x.view(), self.grad_weight.view_mut(), true);
        pool::recycle(x);
        if let Some(gb) = &mut self.grad_bias {
            *gb += &grad_out.sum_axis(Axis(0));
        }
        need_input_grad.then(|| {
            let mut g = pool::zeros(grad_out.nrows(), self.d_in());
            gemm_into(grad_out.view(), self.weight.view(), g.view_mut(), false);
            g
        })
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(ParamMut<'_>)) {
        self.sync_grads();
        if let (Some(w), Some(g)) = (self.weight.as_slice_mut(), self.grad_weight.as_slice_mut()) {
            f(ParamMut {
                name: "weight",
                value: w,
                grad: g,
            });
        }
        if let (Some(b), Some(gb)) = (&mut self.bias, &mut self.grad_bias) {
            if let (Some(v), Some(g)) = (b.as_slice_mut(), gb.as_slice_mut()) {
                f(ParamMut {
                    name: "bias",
                    value: v,
                    grad: g,
                });
            }
        }
    }

    fn zero_grad(&mut self) {
        self.grad_weight.fill(0.0);
        if let Some(g) = &mut self.grad_bias {
            g.fill(0.0);
        }
    }

    fn clear_cache(&mut self) {
        self.cache.clear();
    }

    fn state(&self, prefix: &str, out: &mut Vec<NamedTensor>) {
        out.push(mat_tensor(format!("{prefix}weight"), &self.weight));
        if let Some(b) = &self.bias {
            out.push(vec_tensor(format!("{prefix}bias"), b));
        }
    }

    fn load_state(&mut self, prefix: &str, tensors: &[NamedTensor]) -> Result<(), StateError> {
        let (o, i) = self.weight.dim();
        let w = load_mat(tensors, &format!("{prefix}weight"), o, i)?;
        let b = match &self.bias {
            Some(_) => Some(load_vec(tensors, &format!("{prefix}bias"), o)?),
            None => None,
        };
        self.weight = w;
        if b.is_some() {
            self.bias = b;
        }
        self.sync_grads();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use rand::SeedableRng;

    #[test]
    fn forward_is_x_wt_plus_b() {
        let mut l = Linear::from_weights(
            array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
            Some(array![0.5, -0.5, 1.0]),
        );
        let y = l.forward(&array![[1.0, -1.0]], Mode::Eval);
        assert_eq!(y, array![[-0.5, -1.5, 0.0]]);
    }

    #[test]
    fn backward_accumulates_and_skips_input_grad() {
        let mut l = Linear::from_weights(array![[1.0, 2.0]], Some(array![0.0]));
        let x = array![[1.0, 3.0], [2.0, -1.0]];
        l.forward(&x, Mode::Train);
        l.forward(&x, Mode::Train);
        let g = array![[1.0], [1.0]];
        assert!(l.backward(&g, false).is_none());
        let dx = l.backward(&g, true).expect("input grad");
        assert_eq!(dx, array![[1.0, 2.0], [1.0, 2.0]]);
        assert_eq!(l.grad_weight, array![[6.0, 4.0]]);
        assert_eq!(l.grad_bias, Some(array![4.0]));
        l.zero_grad();
        assert_eq!(l.grad_weight, array![[0.0, 0.0]]);
    }

    #[test]
    fn init_bounds() {
        let mut r = Rng::seed_from_u64(0);
        let l = Linear::new(16, 4, true, Init::TorchDefault, &mut r);
        assert!(l.weight.iter().all(|v| v.abs() <= 0.25));
        assert!(l
            .bias
            .as_ref()
            .is_some_and(|b| b.iter().all(|v| v.abs() <= 0.25)));
        let l = Linear::new(10, 14, true, Init::GlorotUniform, &mut r);
        assert!(l.weight.iter().all(|v| v.abs() <= 0.5));
        assert!(l.bias.as_ref().is_some_and(|b| b.iter().all(|&v| v == 0.0)));
        let l = Linear::new(10, 14, false, Init::GlorotNormal, &mut r);
        let sd = (2.0f32 / 24.0).sqrt() / init::TRUNC_SD;
        assert!(l.weight.iter().all(|v| v.abs() <= 2.0 * sd + 1e-6));
        assert!(l.bias.is_none());
    }
}
