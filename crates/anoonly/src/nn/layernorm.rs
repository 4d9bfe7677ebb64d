//! Layer normalisation over the feature dimension of each row (torch `nn.LayerNorm(n)`):
//! unlike batch normalisation, a row's output does not depend on the other rows of the batch
//! and there are no running statistics, so train and eval modes compute the same thing.

use ndarray::{Array1, Axis, Zip};

use super::affine::{affine_state, Affine};
use super::{Matrix, Mode, Module, NamedTensor, ParamMut, StateError};

#[derive(Clone, Debug)]
struct LnCache {
    xhat: Matrix,
    /// `1/√(σ²_row + eps)` per row.
    inv_std: Array1<f32>,
}

/// Layer normalisation with optional element-wise affine (γ = 1, β = 0 at init).
#[derive(Debug)]
pub struct LayerNorm {
    pub gamma: Option<Array1<f32>>,
    pub beta: Option<Array1<f32>>,
    pub eps: f32,
    pub grad_gamma: Option<Array1<f32>>,
    pub grad_beta: Option<Array1<f32>>,
    n: usize,
    cache: Vec<LnCache>,
}

/// Cloning drops the forward cache.
impl Clone for LayerNorm {
    fn clone(&self) -> Self {
        LayerNorm {
            gamma: self.gamma.clone(),
            beta: self.beta.clone(),
            eps: self.eps,
            grad_gamma: self.grad_gamma.clone(),
            grad_beta: self.grad_beta.clone(),
            n: self.n,
            cache: Vec::new(),
        }
    }
}

impl LayerNorm {
    /// torch `nn.LayerNorm(n, eps=eps, elementwise_affine=affine)` (torch's eps is 1e-5).
    pub fn new(n: usize, eps: f32, affine: bool) -> LayerNorm {
        LayerNorm {
            gamma: affine.then(|| Array1::ones(n)),
            beta: affine.then(|| Array1::zeros(n)),
            eps,
            grad_gamma: affine.then(|| Array1::zeros(n)),
            grad_beta: affine.then(|| Array1::zeros(n)),
            n,
            cache: Vec::new(),
        }
    }

    pub fn num_features(&self) -> usize {
        self.n
    }

    fn affine_mut(&mut self) -> Affine<'_> {
        Affine {
            gamma: &mut self.gamma,
            beta: &mut self.beta,
            grad_gamma: &mut self.grad_gamma,
            grad_beta: &mut self.grad_beta,
        }
    }

    fn sync_grads(&mut self) {
        self.affine_mut().sync();
    }
}

impl Module for LayerNorm {
    fn forward(&mut self, x: &Matrix, mode: Mode) -> Matrix {
        let n = x.ncols().max(1) as f32;
        let mut xhat = x.clone();
        let mut inv_std = Array1::<f32>::zeros(x.nrows());
        for (mut row, is) in xhat.rows_mut().into_iter().zip(inv_std.iter_mut()) {
            let mean = row.sum() / n;
            row -= mean;
            let var = row.iter().map(|v| v * v).sum::<f32>() / n;
            *is = 1.0 / (var + self.eps).sqrt();
            row *= *is;
        }
        let mut y = xhat.clone();
        if let Some(g) = &self.gamma {
            y *= g;
        }
        if let Some(b) = &self.beta {
            y += b;
        }
        if mode == Mode::Train {
            self.cache.push(LnCache { xhat, inv_std });
        }
        y
    }

    /// Per row: `dx = inv_std/n · (n·dx̂ − Σ dx̂ − x̂·Σ(dx̂·x̂))`, `dx̂ = γ·dy`.
    fn backward(&mut self, grad_out: &Matrix, need_input_grad: bool) -> Option<Matrix> {
        let LnCache { xhat, inv_std } = self
            .cache
            .pop()
            .expect("LayerNorm::backward without a cached train-mode forward");
        self.sync_grads();
        if let Some(gb) = &mut self.grad_beta {
            *gb += &grad_out.sum_axis(Axis(0));
        }
        if let Some(gg) = &mut self.grad_gamma {
            *gg += &(grad_out * &xhat).sum_axis(Axis(0));
        }
        if !need_input_grad {
            return None;
        }
        let mut d = grad_out.clone();
        if let Some(g) = &self.gamma {
            d *= g;
        }
        let n = d.ncols().max(1) as f32;
        for ((mut dr, xr), &is) in d.rows_mut().into_iter().zip(xhat.rows()).zip(&inv_std) {
            let md = dr.sum() / n;
            let mdx = Zip::from(&dr).and(&xr).fold(0.0f32, |a, &d, &x| a + d * x) / n;
            Zip::from(&mut dr)
                .and(&xr)
                .for_each(|d, &x| *d = is * (*d - md - x * mdx));
        }
        Some(d)
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(ParamMut<'_>)) {
        self.sync_grads();
        self.affine_mut().visit(f);
    }

    fn zero_grad(&mut self) {
        self.affine_mut().zero_grad();
    }

    fn clear_cache(&mut self) {
        self.cache.clear();
    }

    fn state(&self, prefix: &str, out: &mut Vec<NamedTensor>) {
        affine_state(prefix, &self.gamma, &self.beta, out);
    }

    fn load_state(&mut self, prefix: &str, tensors: &[NamedTensor]) -> Result<(), StateError> {
        let n = self.n;
        self.affine_mut().load(prefix, tensors, n)?;
        self.sync_grads();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn rows_are_standardised() {
        let mut ln = LayerNorm::new(3, 0.0, true);
        let y = ln.forward(&array![[1.0, 2.0, 3.0], [10.0, 10.0, 40.0]], Mode::Eval);
        for row in y.rows() {
            assert!(row.sum().abs() < 1e-5);
            assert!((row.iter().map(|v| v * v).sum::<f32>() / 3.0 - 1.0).abs() < 1e-5);
        }
    }
}
