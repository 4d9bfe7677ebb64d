//! The paper's BN† (Table 2): no BatchNorm, and instead the explicit loss `L_BN` of eq. 5
//! on the features BatchNorm would have normalised, as an identity layer whose backward
//! pass adds the gradient of the weighted `L_BN`.
//!
//! Per train-mode forward of a batch `H = {h_i}` (`b` rows, `n` features), eq. 5's first
//! line read with `h'` = the raw features `h` (BatchNorm is gone, so nothing normalises
//! them; docs/protocol.md section 4):
//!
//! `L_BN = ‖(1/b) Σ_i h_i‖₂ + ‖(1/(b−1)) Σ_i h_i ⊙ h_i − 1‖₂`
//!
//! i.e. the batch mean is pulled to 0 and the (zero-centred, Bessel-corrected) second
//! moment to 1, which is what BatchNorm enforces by construction. Decisions:
//! - The first line of eq. 5 is the definition. Its second line writes the mean term as
//!   `(1/b) Σ ‖h_i‖₂`, which is not equal to it (it is an upper bound by the triangle
//!   inequality, and would pull every row to 0 rather than the batch mean); we do not use it.
//! - `b = 1`: the variance term needs two rows (`1/(b−1)`), exactly as torch's BatchNorm
//!   refuses a training batch of one; it is left out and only the mean term remains.
//! - At a zero norm (`‖·‖₂ = 0`) the term's gradient is taken as 0 (its subgradient).
//! - Sums run in f64; the value is per batch (eq. 5 sums over batches, the training core
//!   adds it to the batch's mean `L_A`).
//!
//! Eval mode is the identity and computes nothing.

use ndarray::Array1;

use super::{Matrix, Mode, Module, NamedTensor, ParamMut, StateError};

/// What the backward pass needs from one train-mode forward: the gradient of the weighted
/// `L_BN` with respect to the layer's input (computed with the value, it only depends on
/// the input).
#[derive(Clone, Debug)]
struct BnLossCache {
    grad: Matrix,
}

/// Identity layer carrying `weight · L_BN` (see the module documentation).
#[derive(Debug)]
pub struct BnLoss {
    /// Weight of `L_BN` in the training loss (the paper: 1).
    pub weight: f32,
    n: usize,
    /// Sum of the weighted `L_BN` values of the train-mode forwards since the last
    /// [`Module::take_aux_loss`].
    pending: Option<f64>,
    cache: Vec<BnLossCache>,
}

/// Cloning drops the forward cache and the pending value (a clone is a checkpoint).
impl Clone for BnLoss {
    fn clone(&self) -> Self {
        BnLoss {
            weight: self.weight,
            n: self.n,
            pending: None,
            cache: Vec::new(),
        }
    }
}

impl BnLoss {
    /// An `L_BN` on `n` features with weight `weight`.
    pub fn new(n: usize, weight: f32) -> BnLoss {
        BnLoss {
            weight,
            n,
            pending: None,
            cache: Vec::new(),
        }
    }

    pub fn num_features(&self) -> usize {
        self.n
    }

    /// The unweighted `L_BN` of the batch `h` and its gradient with respect to `h`.
    pub fn value_and_grad(h: &Matrix) -> (f32, Matrix) {
        let (b, n) = h.dim();
        let mut grad = Matrix::zeros((b, n));
        if b == 0 {
            return (0.0, grad);
        }
        let mut sum = Array1::<f64>::zeros(n);
        let mut sq = Array1::<f64>::zeros(n);
        for row in h.rows() {
            for ((s, q), &v) in sum.iter_mut().zip(sq.iter_mut()).zip(row.iter()) {
                let v = f64::from(v);
                *s += v;
                *q += v * v;
            }
        }
        let bf = b as f64;
        let mean = sum / bf;
        let mean_norm = mean.dot(&mean).sqrt();
        let mut value = mean_norm;
        // d‖m‖/dh_ij = m_j / (‖m‖ b)
        let g_mean: Array1<f64> = if mean_norm > 0.0 {
            mean.mapv(|m| m / (mean_norm * bf))
        } else {
            Array1::zeros(n)
        };
        // d‖v − 1‖/dh_ij = (v_j − 1)/‖v − 1‖ · 2 h_ij/(b − 1)
        let g_var: Array1<f64> = if b > 1 {
            let dev = sq.mapv(|q| q / (bf - 1.0) - 1.0);
            let dev_norm = dev.dot(&dev).sqrt();
            value += dev_norm;
            if dev_norm > 0.0 {
                dev.mapv(|d| 2.0 * d / (dev_norm * (bf - 1.0)))
            } else {
                Array1::zeros(n)
            }
        } else {
            Array1::zeros(n)
        };
        for (mut g, row) in grad.rows_mut().into_iter().zip(h.rows()) {
            for (j, (gv, &v)) in g.iter_mut().zip(row.iter()).enumerate() {
                *gv = (g_mean[j] + g_var[j] * f64::from(v)) as f32;
            }
        }
        (value as f32, grad)
    }
}

impl Module for BnLoss {
    fn forward(&mut self, x: &Matrix, mode: Mode) -> Matrix {
        if mode == Mode::Train {
            let (value, mut grad) = BnLoss::value_and_grad(x);
            grad.mapv_inplace(|g| g * self.weight);
            let v = f64::from(self.weight) * f64::from(value);
            self.pending = Some(self.pending.unwrap_or(0.0) + v);
            self.cache.push(BnLossCache { grad });
        }
        x.clone()
    }

    fn backward(&mut self, grad_out: &Matrix, need_input_grad: bool) -> Option<Matrix> {
        let cache = self
            .cache
            .pop()
            .expect("BnLoss::backward without a train-mode forward");
        need_input_grad.then(|| grad_out + &cache.grad)
    }

    fn visit_params(&mut self, _f: &mut dyn FnMut(ParamMut<'_>)) {}

    fn zero_grad(&mut self) {}

    fn clear_cache(&mut self) {
        self.cache.clear();
        self.pending = None;
    }

    fn state(&self, _prefix: &str, _out: &mut Vec<NamedTensor>) {}

    fn load_state(&mut self, _prefix: &str, _tensors: &[NamedTensor]) -> Result<(), StateError> {
        Ok(())
    }

    fn take_aux_loss(&mut self) -> Option<f32> {
        self.pending.take().map(|v| v as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn hand_computed_value() {
        // mean = (1, 0), ‖mean‖ = 1; Σh² / (b − 1 = 1) − 1 = (0 + 4, 4 + 4) − 1 = (3, 7),
        // ‖·‖ = √58
        let h = array![[0.0f32, 2.0], [2.0, -2.0]];
        let (v, _) = BnLoss::value_and_grad(&h);
        assert!((v - (1.0 + 58f32.sqrt())).abs() < 1e-5, "{v}");
    }

    #[test]
    fn batch_of_one_keeps_only_the_mean_term() {
        let h = array![[3.0f32, 4.0]];
        let (v, g) = BnLoss::value_and_grad(&h);
        assert_eq!(v, 5.0);
        assert_eq!(g, array![[0.6f32, 0.8]]);
    }

    #[test]
    fn identity_in_eval_mode_and_no_loss() {
        let mut l = BnLoss::new(2, 1.0);
        let h = array![[0.5f32, 2.0], [2.0, -2.0]];
        assert_eq!(l.forward(&h, Mode::Eval), h);
        assert_eq!(l.take_aux_loss(), None);
        assert_eq!(l.forward(&h, Mode::Train), h);
        assert!(l.take_aux_loss().is_some());
        assert_eq!(l.take_aux_loss(), None);
    }
}
