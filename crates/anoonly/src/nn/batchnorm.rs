//! Batch normalisation over the feature dimension of a `(rows, features)` batch, in the two
//! flavours the authors' code uses (docs/protocol.md section 2: torch and Keras).
//!
//! Train mode normalises with the batch mean and the *biased* batch variance and
//! back-propagates through both (paper appendix A, eq. 8–15): the gradient of one row depends
//! on every row of the batch, which is exactly why AnoOnly's anomaly-only loss still moves
//! the representation of normal rows. Eval mode uses the running statistics.

use ndarray::{Array1, Axis, Zip};

use super::affine::{affine_state, Affine};
use super::{
    is_plain, load_vec, pool, vec_tensor, Matrix, Mode, Module, NamedTensor, ParamMut, StateError,
};

/// Which framework's running-statistics rule a [`BatchNorm1d`] follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BnConvention {
    /// PyTorch `BatchNorm1d`: `running ← (1−m)·running + m·batch` with `m = momentum`
    /// (0.1), and the running variance takes the *unbiased* batch variance (torch treats
    /// the running variance as an estimate of the population variance, hence Bessel's
    /// correction), while the normalisation itself uses the biased one.
    Torch,
    /// Keras `BatchNormalization` (TF 2.8, non-fused for 2-D input):
    /// `moving ← m·moving + (1−m)·batch` with `m = momentum` (0.99), and the moving variance
    /// takes the *biased* batch variance (`tf.nn.moments`, no correction).
    Keras,
}

#[derive(Clone, Debug)]
struct BnCache {
    /// Normalised input `(x − μ_B)/√(σ²_B + eps)`.
    xhat: Matrix,
    /// `1/√(σ²_B + eps)` per feature.
    inv_std: Array1<f32>,
}

/// Batch normalisation of a `(rows, features)` batch.
///
/// A train-mode batch of **one row** (torch raises an error there) is defined here as:
/// the batch variance is 0, so the output is `β` (0 without affine) and the input gradient
/// is 0; the running mean is updated with the row, and the running variance with the biased
/// variance 0 in both conventions (the unbiased factor `b/(b−1)` is undefined for b = 1 and
/// is replaced by 1). This keeps a trailing batch of one from crashing a run.
#[derive(Debug)]
pub struct BatchNorm1d {
    pub running_mean: Array1<f32>,
    pub running_var: Array1<f32>,
    /// Scale γ (`weight` in a torch state dict); `None` when affine-free.
    pub gamma: Option<Array1<f32>>,
    /// Shift β (`bias` in a torch state dict); `None` when affine-free.
    pub beta: Option<Array1<f32>>,
    pub eps: f32,
    /// Interpreted per [`BnConvention`]: torch's weight of the batch statistic, Keras's
    /// weight of the old moving statistic.
    pub momentum: f32,
    pub convention: BnConvention,
    pub grad_gamma: Option<Array1<f32>>,
    pub grad_beta: Option<Array1<f32>>,
    cache: Vec<BnCache>,
}

/// Cloning drops the forward cache (see [`super::Linear`]'s `Clone`).
impl Clone for BatchNorm1d {
    fn clone(&self) -> Self {
        BatchNorm1d {
            running_mean: self.running_mean.clone(),
            running_var: self.running_var.clone(),
            gamma: self.gamma.clone(),
            beta: self.beta.clone(),
            eps: self.eps,
            momentum: self.momentum,
            convention: self.convention,
            grad_gamma: self.grad_gamma.clone(),
            grad_beta: self.grad_beta.clone(),
            cache: Vec::new(),
        }
    }
}

impl BatchNorm1d {
    /// PyTorch `BatchNorm1d(n, eps=eps, affine=affine)`, momentum 0.1, running mean 0 and
    /// variance 1, γ = 1 and β = 0 when affine.
    pub fn torch(n: usize, eps: f32, affine: bool) -> BatchNorm1d {
        BatchNorm1d::build(n, eps, 0.1, affine, BnConvention::Torch)
    }

    /// Keras `BatchNormalization()` defaults: momentum 0.99, epsilon 1e-3, γ = 1, β = 0,
    /// moving mean 0 and variance 1.
    pub fn keras(n: usize) -> BatchNorm1d {
        BatchNorm1d::build(n, 1e-3, 0.99, true, BnConvention::Keras)
    }

    /// Keras `BatchNormalization(center=False, scale=False)`: Keras momentum and epsilon,
    /// no γ/β (the paper's BN* in a Keras method).
    pub fn keras_no_affine(n: usize) -> BatchNorm1d {
        BatchNorm1d::build(n, 1e-3, 0.99, false, BnConvention::Keras)
    }

    fn build(n: usize, eps: f32, momentum: f32, affine: bool, c: BnConvention) -> BatchNorm1d {
        BatchNorm1d {
            running_mean: Array1::zeros(n),
            running_var: Array1::ones(n),
            gamma: affine.then(|| Array1::ones(n)),
            beta: affine.then(|| Array1::zeros(n)),
            eps,
            momentum,
            convention: c,
            grad_gamma: affine.then(|| Array1::zeros(n)),
            grad_beta: affine.then(|| Array1::zeros(n)),
            cache: Vec::new(),
        }
    }

    pub fn num_features(&self) -> usize {
        self.running_mean.len()
    }

    pub fn affine(&self) -> bool {
        self.gamma.is_some()
    }

    fn update_running(&mut self, mean: &Array1<f32>, var_biased: &Array1<f32>, b: usize) {
        let (keep, take, var_factor) = match self.convention {
            BnConvention::Torch => {
                let f = if b > 1 {
                    b as f32 / (b as f32 - 1.0)
                } else {
                    1.0
                };
                (1.0 - self.momentum, self.momentum, f)
            }
            BnConvention::Keras => (self.momentum, 1.0 - self.momentum, 1.0),
        };
        Zip::from(&mut self.running_mean)
            .and(mean)
            .for_each(|r, &m| *r = keep * *r + take * m);
        Zip::from(&mut self.running_var)
            .and(var_biased)
            .for_each(|r, &v| *r = keep * *r + take * (v * var_factor));
    }

    fn apply_affine(&self, y: &mut Matrix) {
        if let Some(g) = &self.gamma {
            *y *= g;
        }
        if let Some(b) = &self.beta {
            *y += b;
        }
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

/// Batch mean, biased batch variance and `1/√(σ² + eps)` per column.
struct BatchStats {
    mean: Array1<f32>,
    var: Array1<f32>,
    inv_std: Array1<f32>,
}

/// The batch statistics of a plain `b × n` matrix (`b, n > 0`; `flat` its values), each
/// computed as the general path computes it: the mean as `sum_axis`'s row-by-row column
/// sums divided by `b`, the variance as the sum of squared deviations row after row
/// divided by `b` (hence the same bits).
fn batch_stats(flat: &[f32], n: usize, eps: f32) -> BatchStats {
    let b = flat.len() / n;
    let bf = b as f32;
    let mut mean = vec![0.0f32; n];
    for row in flat.chunks_exact(n) {
        for (s, &v) in mean.iter_mut().zip(row) {
            *s += v;
        }
    }
    for m in &mut mean {
        *m /= bf;
    }
    let mut var = vec![0.0f32; n];
    for row in flat.chunks_exact(n) {
        for ((v, &xi), &m) in var.iter_mut().zip(row).zip(&mean) {
            *v += (xi - m) * (xi - m);
        }
    }
    for v in &mut var {
        *v /= bf;
    }
    let inv_std = var.iter().map(|&v| 1.0 / (v + eps).sqrt()).collect();
    BatchStats {
        mean: Array1::from(mean),
        var: Array1::from(var),
        inv_std,
    }
}

/// `x̂ = (x − μ)·inv_std` element by element into `xhat` (the expression of the general
/// path: `x − μ` rounded, then the product). `xhat` may be `x`'s own buffer.
fn normalise_in_place(xhat: &mut [f32], s: &BatchStats) {
    let (mean, inv_std) = (slice(&s.mean), slice(&s.inv_std));
    let n = mean.len();
    for row in xhat.chunks_exact_mut(n) {
        for ((v, &m), &is) in row.iter_mut().zip(mean).zip(inv_std) {
            *v = (*v - m) * is;
        }
    }
}

/// [`normalise_in_place`] from `x` into another matrix.
fn normalise(x: &[f32], s: &BatchStats, xhat: &mut Matrix) {
    let out = xhat.as_slice_mut().unwrap_or(&mut []);
    out.copy_from_slice(x);
    normalise_in_place(out, s);
}

/// Whether the cached forward of `c` and the gradient `g` can take the fused backward
/// passes (both plain, same non-empty shape).
fn plain_cache(c: &BnCache, g: &Matrix) -> bool {
    is_plain(&c.xhat) && c.xhat.dim() == g.dim() && g.nrows() > 0 && g.ncols() > 0
}

impl BatchNorm1d {
    /// The rest of a train-mode forward from `x̂`: the output `γ·x̂ + β` (as the general
    /// path: the product, then the sum), the running statistics, the cache.
    fn finish_train_forward(&mut self, xhat: Matrix, s: BatchStats, b: usize) -> Matrix {
        let n = xhat.ncols();
        let mut y = pool::scratch(b, n);
        let src = xhat.as_slice().unwrap_or(&[]);
        let dst = y.as_slice_mut().unwrap_or(&mut []);
        let (g, bt) = (self.gamma.as_ref(), self.beta.as_ref());
        let (g, bt) = (g.map(slice), bt.map(slice));
        for (yr, xr) in dst.chunks_exact_mut(n).zip(src.chunks_exact(n)) {
            for (j, (y, &v)) in yr.iter_mut().zip(xr).enumerate() {
                let mut v = v;
                if let Some(g) = g {
                    v *= g[j];
                }
                if let Some(bt) = bt {
                    v += bt[j];
                }
                *y = v;
            }
        }
        self.update_running(&s.mean, &s.var, b);
        self.cache.push(BnCache {
            xhat,
            inv_std: s.inv_std,
        });
        y
    }

    /// The backward pass of a plain batch in two passes over it. The first takes, per
    /// column and row after row, what the general path takes in separate passes: the sum
    /// of `dy` for β's gradient, `Σ dy·x̂` into γ's, `dx̂ = γ·dy` with its sum and its sum
    /// against `x̂`; the second writes `dx`. Every accumulator sees the same terms in the
    /// same order as in [`BatchNorm1d::general_backward`], so the bits are the same.
    /// `dx` (when given) receives the input gradient; it may be `g` itself
    /// ([`BatchNorm1d::fused_backward_in_place`]).
    fn fused_backward(&mut self, g: &[f32], dx: Option<&mut [f32]>) {
        let (xhat, inv_std, mean_d, mean_dx) = self.fused_first_pass(g, dx.is_some());
        if let Some(dx) = dx {
            let n = mean_d.len();
            let gamma = self.gamma.as_ref().map(slice);
            for ((d_row, g_row), x_row) in dx
                .chunks_exact_mut(n)
                .zip(g.chunks_exact(n))
                .zip(xhat.as_slice().unwrap_or(&[]).chunks_exact(n))
            {
                for (j, ((d, &gv), &x)) in d_row.iter_mut().zip(g_row).zip(x_row).enumerate() {
                    let dh = match gamma {
                        Some(gm) => gv * gm[j],
                        None => gv,
                    };
                    *d = inv_std[j] * (dh - mean_d[j] - x * mean_dx[j]);
                }
            }
        }
        pool::recycle(xhat);
    }

    /// [`BatchNorm1d::fused_backward`] with the input gradient written over `g`.
    fn fused_backward_in_place(&mut self, g: &mut [f32], need_input_grad: bool) {
        let (xhat, inv_std, mean_d, mean_dx) = self.fused_first_pass(g, need_input_grad);
        if need_input_grad {
            let n = mean_d.len();
            let gamma = self.gamma.as_ref().map(slice);
            for (g_row, x_row) in g
                .chunks_exact_mut(n)
                .zip(xhat.as_slice().unwrap_or(&[]).chunks_exact(n))
            {
                for (j, (gv, &x)) in g_row.iter_mut().zip(x_row).enumerate() {
                    let dh = match gamma {
                        Some(gm) => *gv * gm[j],
                        None => *gv,
                    };
                    *gv = inv_std[j] * (dh - mean_d[j] - x * mean_dx[j]);
                }
            }
        }
        pool::recycle(xhat);
    }

    /// The first pass of the fused backward: pops the cache, adds β's and γ's gradients,
    /// and (when the input gradient is wanted) returns the column means of `dx̂` and of
    /// `dx̂·x̂`, with `x̂` and `inv_std`.
    #[allow(clippy::type_complexity)]
    fn fused_first_pass(
        &mut self,
        g: &[f32],
        need_input_grad: bool,
    ) -> (Matrix, Vec<f32>, Vec<f32>, Vec<f32>) {
        let BnCache { xhat, inv_std } = self
            .cache
            .pop()
            .expect("BatchNorm1d::backward without a cached train-mode forward");
        self.sync_grads();
        let (b, n) = xhat.dim();
        let xs = xhat.as_slice().unwrap_or(&[]);
        let gamma = self.gamma.as_ref().map(slice);
        let mut beta_sums = self.grad_beta.is_some().then(|| vec![0.0f32; n]);
        let mut gg = self.grad_gamma.as_mut().map(slice_mut);
        let (mut sum_d, mut sum_dx) = (vec![0.0f32; n], vec![0.0f32; n]);
        for (g_row, x_row) in g.chunks_exact(n).zip(xs.chunks_exact(n)) {
            if let Some(bs) = beta_sums.as_mut() {
                for (s, &gv) in bs.iter_mut().zip(g_row) {
                    *s += gv;
                }
            }
            if let Some(gg) = gg.as_mut() {
                for ((s, &gv), &x) in gg.iter_mut().zip(g_row).zip(x_row) {
                    *s += gv * x;
                }
            }
            if need_input_grad {
                for (j, (&gv, &x)) in g_row.iter().zip(x_row).enumerate() {
                    let d = match gamma {
                        Some(gm) => gv * gm[j],
                        None => gv,
                    };
                    sum_d[j] += d;
                    sum_dx[j] += d * x;
                }
            }
        }
        if let (Some(gb), Some(bs)) = (self.grad_beta.as_mut(), beta_sums) {
            for (a, s) in slice_mut(gb).iter_mut().zip(bs) {
                *a += s;
            }
        }
        let bf = b as f32;
        let mean_d = sum_d.iter().map(|&s| s / bf).collect();
        let mean_dx = sum_dx.iter().map(|&s| s / bf).collect();
        (xhat, inv_std.to_vec(), mean_d, mean_dx)
    }

    /// A train-mode forward for any layout: the path every batch took before the fused
    /// passes; a batch in another layout (FEAWAD's concatenated head input) still takes it.
    fn general_train_forward(&mut self, x: &Matrix) -> Matrix {
        let b = x.nrows();
        let n = x.ncols();
        let (mean, var) = if b == 0 {
            (Array1::zeros(n), Array1::zeros(n))
        } else {
            let mean = x.sum_axis(Axis(0)) / b as f32;
            let mut var = Array1::<f32>::zeros(n);
            let (vs, ms) = (slice_mut(&mut var), slice(&mean));
            for row in x.rows() {
                match row.as_slice() {
                    Some(r) => {
                        for ((v, &xi), &m) in vs.iter_mut().zip(r).zip(ms) {
                            *v += (xi - m) * (xi - m);
                        }
                    }
                    None => {
                        for ((v, &xi), &m) in vs.iter_mut().zip(row.iter()).zip(ms) {
                            *v += (xi - m) * (xi - m);
                        }
                    }
                }
            }
            var /= b as f32;
            (mean, var)
        };
        let inv_std = var.mapv(|v| 1.0 / (v + self.eps).sqrt());
        let mut xhat = x - &mean;
        xhat *= &inv_std;
        let mut y = xhat.clone();
        self.apply_affine(&mut y);
        if b > 0 {
            self.update_running(&mean, &var, b);
        }
        self.cache.push(BnCache { xhat, inv_std });
        y
    }

    /// The backward pass for any layout: the path every batch took before the fused
    /// passes below; a batch in another layout (FEAWAD's concatenated head input) still
    /// takes it.
    fn general_backward(&mut self, grad_out: &Matrix, need_input_grad: bool) -> Option<Matrix> {
        let BnCache { xhat, inv_std } = self
            .cache
            .pop()
            .expect("BatchNorm1d::backward without a cached train-mode forward");
        self.sync_grads();
        let b = grad_out.nrows();
        if let Some(gb) = &mut self.grad_beta {
            *gb += &grad_out.sum_axis(Axis(0));
        }
        if let Some(gg) = &mut self.grad_gamma {
            add_column_dots(slice_mut(gg), grad_out, &xhat);
        }
        if !need_input_grad {
            return None;
        }
        // Standard layout (a copy we need anyway), so the loops below run over flat slices.
        let mut dxhat = grad_out.as_standard_layout().into_owned();
        if let Some(g) = &self.gamma {
            dxhat *= g;
        }
        let n = dxhat.ncols();
        if b == 0 || n == 0 {
            return Some(dxhat);
        }
        let sum_d = dxhat.sum_axis(Axis(0));
        let mut sum_dx = Array1::<f32>::zeros(n);
        add_column_dots(slice_mut(&mut sum_dx), &dxhat, &xhat);
        let bf = b as f32;
        let mean_d = sum_d / bf;
        let mean_dx = sum_dx / bf;
        let (md, mdx, is) = (slice(&mean_d), slice(&mean_dx), slice(&inv_std));
        let xh = xhat.as_standard_layout();
        let rows = dxhat
            .as_slice_mut()
            .into_iter()
            .flat_map(|d| d.chunks_exact_mut(n));
        for (d, xh) in rows.zip(xh.as_slice().into_iter().flat_map(|x| x.chunks_exact(n))) {
            for ((((d, &x), &m), &mx), &s) in d.iter_mut().zip(xh).zip(md).zip(mdx).zip(is) {
                *d = s * (*d - m - x * mx);
            }
        }
        Some(dxhat)
    }
}

impl Module for BatchNorm1d {
    fn forward(&mut self, x: &Matrix, mode: Mode) -> Matrix {
        let b = x.nrows();
        match mode {
            Mode::Eval => {
                let inv_std = self.running_var.mapv(|v| 1.0 / (v + self.eps).sqrt());
                let mut y = x - &self.running_mean;
                y *= &inv_std;
                self.apply_affine(&mut y);
                y
            }
            Mode::Train if b > 0 && x.ncols() > 0 && is_plain(x) => {
                let mut xhat = pool::scratch(b, x.ncols());
                let stats = batch_stats(x.as_slice().unwrap_or(&[]), x.ncols(), self.eps);
                normalise(x.as_slice().unwrap_or(&[]), &stats, &mut xhat);
                self.finish_train_forward(xhat, stats, b)
            }
            Mode::Train => self.general_train_forward(x),
        }
    }

    /// Normalises a plain `x` in its own buffer.
    fn forward_owned(&mut self, mut x: Matrix, mode: Mode) -> Matrix {
        let (b, n) = x.dim();
        if mode != Mode::Train || b == 0 || n == 0 || !is_plain(&x) {
            let y = self.forward(&x, mode);
            pool::recycle(x);
            return y;
        }
        let flat = x.as_slice_mut().unwrap_or(&mut []);
        // The statistics are read before any element is overwritten.
        let stats = batch_stats(flat, n, self.eps);
        normalise_in_place(flat, &stats);
        self.finish_train_forward(x, stats, b)
    }

    /// Full BN backward:
    /// `dx = inv_std/b · (b·dx̂ − Σ dx̂ − x̂·Σ(dx̂·x̂))` with `dx̂ = γ·dy`.
    fn backward(&mut self, grad_out: &Matrix, need_input_grad: bool) -> Option<Matrix> {
        if is_plain(grad_out) && self.cache.last().is_some_and(|c| plain_cache(c, grad_out)) {
            let mut dx = need_input_grad.then(|| pool::scratch(grad_out.nrows(), grad_out.ncols()));
            let g = grad_out.as_slice().unwrap_or(&[]);
            self.fused_backward(g, dx.as_mut().and_then(|d| d.as_slice_mut()));
            return dx;
        }
        self.general_backward(grad_out, need_input_grad)
    }

    /// Writes the input gradient over `grad_out`.
    fn backward_owned(&mut self, mut grad_out: Matrix, need_input_grad: bool) -> Option<Matrix> {
        if is_plain(&grad_out) && self.cache.last().is_some_and(|c| plain_cache(c, &grad_out)) {
            self.fused_backward_in_place(
                grad_out.as_slice_mut().unwrap_or(&mut []),
                need_input_grad,
            );
            if need_input_grad {
                return Some(grad_out);
            }
            pool::recycle(grad_out);
            return None;
        }
        let dx = self.general_backward(&grad_out, need_input_grad);
        pool::recycle(grad_out);
        dx
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
        out.push(vec_tensor(
            format!("{prefix}running_mean"),
            &self.running_mean,
        ));
        out.push(vec_tensor(
            format!("{prefix}running_var"),
            &self.running_var,
        ));
    }

    fn load_state(&mut self, prefix: &str, tensors: &[NamedTensor]) -> Result<(), StateError> {
        let n = self.num_features();
        let rm = load_vec(tensors, &format!("{prefix}running_mean"), n)?;
        let rv = load_vec(tensors, &format!("{prefix}running_var"), n)?;
        self.affine_mut().load(prefix, tensors, n)?;
        self.running_mean = rm;
        self.running_var = rv;
        self.sync_grads();
        Ok(())
    }
}

/// A freshly allocated 1-D array as a slice (always contiguous).
/// `acc[j] += Σ_i a[i, j]·b[i, j]`, rows in order (the same order, hence the same bits, as
/// the per-row loops this replaces). Over flat slices the compiler vectorises the inner loop;
/// with per-row ndarray iterators BatchNorm's backward was the largest cost of a DeepSAD
/// step (35 % of a fit on 16_http). `as_standard_layout` copies only a non-standard input.
fn add_column_dots(acc: &mut [f32], a: &Matrix, b: &Matrix) {
    let n = acc.len();
    if n == 0 {
        return;
    }
    let (a, b) = (a.as_standard_layout(), b.as_standard_layout());
    let (a, b) = (a.as_slice().unwrap_or(&[]), b.as_slice().unwrap_or(&[]));
    for (ra, rb) in a.chunks_exact(n).zip(b.chunks_exact(n)) {
        for ((s, &x), &y) in acc.iter_mut().zip(ra).zip(rb) {
            *s += x * y;
        }
    }
}

fn slice(a: &Array1<f32>) -> &[f32] {
    a.as_slice().unwrap_or(&[])
}

fn slice_mut(a: &mut Array1<f32>) -> &mut [f32] {
    a.as_slice_mut().unwrap_or(&mut [])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::bits;
    use ndarray::array;

    #[test]
    fn torch_running_stats_use_unbiased_variance() {
        let mut bn = BatchNorm1d::torch(2, 1e-5, true);
        let x = array![[1.0, 0.0], [2.0, 0.0], [6.0, 3.0]];
        bn.forward(&x, Mode::Train);
        // column 0: mean 3, biased var 14/3, unbiased 7; column 1: mean 1, unbiased 3.
        let rm = array![0.3, 0.1];
        let rv = array![0.9 + 0.7, 0.9 + 0.3];
        assert!((&bn.running_mean - &rm).iter().all(|d| d.abs() < 1e-6));
        assert!((&bn.running_var - &rv).iter().all(|d| d.abs() < 1e-6));
    }

    #[test]
    fn keras_running_stats_use_biased_variance() {
        let mut bn = BatchNorm1d::keras(2);
        let x = array![[1.0, 0.0], [2.0, 0.0], [6.0, 3.0]];
        bn.forward(&x, Mode::Train);
        let rm = array![0.03, 0.01];
        let rv = array![0.99 + 0.01 * 14.0 / 3.0, 0.99 + 0.01 * 2.0];
        assert!((&bn.running_mean - &rm).iter().all(|d| d.abs() < 1e-6));
        assert!((&bn.running_var - &rv).iter().all(|d| d.abs() < 1e-6));
    }

    #[test]
    fn train_output_is_standardised() {
        let mut bn = BatchNorm1d::torch(1, 0.0, false);
        let y = bn.forward(&array![[1.0], [3.0]], Mode::Train);
        assert!((y[[0, 0]] + 1.0).abs() < 1e-6 && (y[[1, 0]] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn batch_of_one_is_defined() {
        for mut bn in [BatchNorm1d::torch(3, 1e-5, true), BatchNorm1d::keras(3)] {
            bn.beta = Some(array![0.5, -1.0, 2.0]);
            let y = bn.forward(&array![[1.0, 2.0, 3.0]], Mode::Train);
            assert_eq!(y, array![[0.5, -1.0, 2.0]]);
            let dx = bn.backward(&array![[1.0, 1.0, 1.0]], true).expect("dx");
            assert!(dx.iter().all(|v| *v == 0.0));
            assert!(bn.running_var.iter().all(|v| v.is_finite()));
        }
        let mut bn = BatchNorm1d::torch(1, 1e-5, true);
        bn.forward(&array![[4.0]], Mode::Train);
        assert!((bn.running_mean[0] - 0.4).abs() < 1e-6);
        assert!((bn.running_var[0] - 0.9).abs() < 1e-6);
    }

    fn state_bits(bn: &BatchNorm1d) -> Vec<u32> {
        let mut v = Vec::new();
        bn.state("", &mut v);
        let mut out = Vec::new();
        for t in v {
            out.extend(t.data.iter().map(|x| x.to_bits()));
        }
        for g in [&bn.grad_gamma, &bn.grad_beta].into_iter().flatten() {
            out.extend(g.iter().map(|x| x.to_bits()));
        }
        out
    }

    /// The fused passes (borrowed and owned) give the bits of the general path on plain
    /// batches: outputs, input gradients, parameter gradients and running statistics, in
    /// both conventions, with and without affine, with and without the input gradient.
    #[test]
    fn fused_passes_match_the_general_path_bit_for_bit() {
        let mut seed = 7u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 1.5
        };
        let x = Matrix::from_shape_simple_fn((37, 9), &mut next);
        let g = Matrix::from_shape_simple_fn((37, 9), &mut next);
        let one_col = Matrix::from_shape_simple_fn((20, 1), &mut next);
        let g_one = Matrix::from_shape_simple_fn((20, 1), &mut next);
        let mut keras = BatchNorm1d::keras(9);
        keras.gamma = Some(Array1::from_shape_fn(9, |j| 0.5 + j as f32 / 7.0));
        keras.beta = Some(Array1::from_shape_fn(9, |j| j as f32 / 5.0 - 0.3));
        let layers = [
            BatchNorm1d::torch(9, 1e-4, false),
            BatchNorm1d::torch(9, 1e-5, true),
            keras,
            BatchNorm1d::keras_no_affine(9),
        ];
        for layer in layers {
            for need in [true, false] {
                // Twice in a row, so the running statistics and the accumulated gradients
                // are compared after two updates.
                let (mut r, mut a, mut o) = (layer.clone(), layer.clone(), layer.clone());
                for _ in 0..2 {
                    let yr = r.general_train_forward(&x);
                    let ya = a.forward(&x, Mode::Train);
                    let yo = o.forward_owned(x.clone(), Mode::Train);
                    assert_eq!(bits(&yr), bits(&ya));
                    assert_eq!(bits(&yr), bits(&yo));
                    let dr = r.general_backward(&g, need);
                    let da = a.backward(&g, need);
                    let dd = o.backward_owned(g.clone(), need);
                    assert_eq!(dr.is_some(), need);
                    for d in [&da, &dd] {
                        assert_eq!(dr.as_ref().map(bits), d.as_ref().map(bits));
                    }
                    assert_eq!(state_bits(&r), state_bits(&a));
                    assert_eq!(state_bits(&r), state_bits(&o));
                }
            }
            let (mut r, mut a) = (
                BatchNorm1d::torch(1, 1e-5, true),
                BatchNorm1d::torch(1, 1e-5, true),
            );
            assert_eq!(
                bits(&r.general_train_forward(&one_col)),
                bits(&a.forward(&one_col, Mode::Train))
            );
            assert_eq!(
                r.general_backward(&g_one, true).map(|m| bits(&m)),
                a.backward(&g_one, true).map(|m| bits(&m))
            );
            assert_eq!(state_bits(&r), state_bits(&a));
        }
    }
}
