//! The numeric core: small dense layers with explicit backward passes on `ndarray` (f32),
//! optimisers and learning-rate schedules, with PyTorch's and Keras's semantics where the
//! authors' code uses them (docs/protocol.md section 2).
//!
//! Why our own: the heads are small MLPs; a hand-written forward/backward is the fastest
//! option measured on these machines and builds in seconds.
//!
//! Conventions:
//! - A batch is a [`Matrix`] of shape (rows, features).
//! - [`Module::forward`] in [`Mode::Train`] pushes what the backward pass needs onto a
//!   per-layer stack; [`Module::backward`] pops the most recent one. A layer may therefore be
//!   forwarded several times before the backward passes (PReNet's shared branch runs on the
//!   left and the right halves of a pair batch); backward calls then come in reverse order
//!   and parameter gradients accumulate. [`Mode::Eval`] caches nothing.
//! - Parameter gradients accumulate until [`Module::zero_grad`].
//! - Parameters are visited in a fixed order ([`Module::visit_params`]); optimisers keep
//!   their state in that order.

pub mod activation;
mod affine;
pub mod batchnorm;
pub mod bn_loss;
pub mod init;
pub mod layernorm;
pub mod linear;
pub mod matmul;
pub mod optim;
pub mod par;
pub mod pool;
pub mod schedule;
pub mod sequential;

pub use activation::{Activation, ActivationLayer};
pub use batchnorm::{BatchNorm1d, BnConvention};
pub use bn_loss::BnLoss;
pub use layernorm::LayerNorm;
pub use linear::{Init, Linear};
pub use matmul::{available_threads, matmul_threads, with_matmul_threads, with_threads};
pub use optim::{
    clip_grad_norm, Adadelta, Adam, AdamConvention, Optimizer, RmsProp, RmsPropConvention, Sgd,
};
pub use schedule::LrSchedule;
pub use sequential::{Layer, Sequential};

// The state vocabulary lives at the bottom of the crate (`crate::vocab::tensor`); the
// layers read and write their state through it.
pub(crate) use crate::vocab::tensor::{load_mat, load_vec, mat_tensor, vec_tensor};
pub use crate::vocab::tensor::{NamedTensor, StateError};

use ndarray::{Array1, Array2};

/// A batch of rows, or a weight matrix.
pub type Matrix = Array2<f32>;

/// The bit patterns of `values`: the crate's tests compare results bit for bit (thread
/// counts, owned and borrowed passes, SIMD and plain kernels) through this one helper.
#[cfg(test)]
pub(crate) fn bits<'a>(values: impl IntoIterator<Item = &'a f32>) -> Vec<u32> {
    values.into_iter().map(|v| v.to_bits()).collect()
}

/// A row number as index lists hold it: `usize`, or `u32` where lists of every row of a
/// large file are kept (split indices, DeepSAD's permutation) and half the size matters.
pub trait RowIndex: Copy {
    fn row(self) -> usize;
}

impl RowIndex for usize {
    fn row(self) -> usize {
        self
    }
}

impl RowIndex for u32 {
    fn row(self) -> usize {
        self as usize
    }
}

/// Copies the rows `idx` of `x` into a new matrix (a batch). Row-wise memcpy when `x` is
/// in standard layout: several times faster than `select`, which goes through
/// `concatenate`, and it runs once per step.
pub fn gather_rows<I: RowIndex>(x: ndarray::ArrayView2<f32>, idx: &[I]) -> Matrix {
    pool::gather(x, idx.iter().map(|i| i.row()), 0..x.ncols())
}

/// Rows per forward pass at inference. It bounds memory only: in [`Mode::Eval`] every layer
/// is row-wise, so scores do not depend on it. 1024 rows x 100 units is 0.4 MB per layer
/// output; 4096 made the scoring pass the peak of `eval` on 16_http.
pub const EVAL_CHUNK: usize = 1024;

/// Inference-mode forward of `x` in chunks of [`EVAL_CHUNK`] rows, each output row reduced
/// to one value by `per_row` (a score).
pub fn eval_rows<M: Module + Clone>(
    net: &M,
    x: ndarray::ArrayView2<f32>,
    mut per_row: impl FnMut(ndarray::ArrayView1<f32>) -> f32,
) -> Array1<f32> {
    let mut net = net.clone();
    let mut out = Vec::with_capacity(x.nrows());
    for chunk in x.axis_chunks_iter(ndarray::Axis(0), EVAL_CHUNK) {
        let chunk = pool::copy(chunk);
        let y = net.forward(&chunk, Mode::Eval);
        out.extend(y.outer_iter().map(&mut per_row));
        pool::recycle(chunk);
        pool::recycle(y);
    }
    pool::clear();
    Array1::from(out)
}

/// Inference-mode output rows of `x` whole, chunk by chunk as [`eval_rows`] scores them:
/// `width` values per row (the output width, given so that no row still gives the right
/// shape). For a method's hidden features ([`crate::methods::Method::representation`]);
/// row-wise like the scores, so a row's result does not depend on the others.
pub fn eval_matrix(
    x: ndarray::ArrayView2<f32>,
    width: usize,
    mut forward: impl FnMut(&Matrix) -> Matrix,
) -> Matrix {
    let mut out = Matrix::zeros((x.nrows(), width));
    let mut start = 0;
    for chunk in x.axis_chunks_iter(ndarray::Axis(0), EVAL_CHUNK) {
        let chunk = pool::copy(chunk);
        let y = forward(&chunk);
        out.slice_mut(ndarray::s![start..start + y.nrows(), ..])
            .assign(&y);
        start += y.nrows();
        pool::recycle(chunk);
        pool::recycle(y);
    }
    pool::clear();
    out
}

/// Training mode uses batch statistics in normalisation layers (and back-propagates through
/// them); evaluation mode uses running statistics and caches nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

/// A parameter as an optimiser sees it: its values and its accumulated gradient, flattened.
pub struct ParamMut<'a> {
    /// Name as in a PyTorch state dict (`weight`, `bias`).
    pub name: &'static str,
    pub value: &'a mut [f32],
    pub grad: &'a mut [f32],
}

/// A differentiable layer (or a stack of them).
pub trait Module {
    /// Forward pass. In [`Mode::Train`] caches what [`Module::backward`] needs.
    fn forward(&mut self, x: &Matrix, mode: Mode) -> Matrix;

    /// Backward pass for the most recent cached forward: accumulates parameter gradients and
    /// returns dL/d(input) when `need_input_grad` (the first layer of a net does not need it,
    /// which saves the largest matrix product of the step).
    fn backward(&mut self, grad_out: &Matrix, need_input_grad: bool) -> Option<Matrix>;

    /// [`Module::forward`] of an input the caller no longer needs: a layer that caches its
    /// input keeps this one instead of a copy, an element-wise layer may write its output
    /// over it. Same results as [`Module::forward`] bit for bit (what a layer keeps has the
    /// layout its copy would have had). The default forwards and hands the buffer back to
    /// [`pool`].
    fn forward_owned(&mut self, x: Matrix, mode: Mode) -> Matrix {
        let y = self.forward(&x, mode);
        pool::recycle(x);
        y
    }

    /// [`Module::backward`] of a gradient the caller no longer needs: an element-wise layer
    /// writes the input gradient over it. Same results as [`Module::backward`] bit for bit.
    fn backward_owned(&mut self, grad_out: Matrix, need_input_grad: bool) -> Option<Matrix> {
        let g = self.backward(&grad_out, need_input_grad);
        pool::recycle(grad_out);
        g
    }

    /// Visits trainable parameters in a fixed order.
    fn visit_params(&mut self, f: &mut dyn FnMut(ParamMut<'_>));

    /// Sets all accumulated parameter gradients to zero.
    fn zero_grad(&mut self);

    /// Drops cached forward passes (after an aborted step).
    fn clear_cache(&mut self);

    /// Parameters and buffers, names prefixed by `prefix` (e.g. `"2."` gives `"2.weight"`).
    fn state(&self, prefix: &str, out: &mut Vec<NamedTensor>);

    /// Loads what [`Module::state`] wrote.
    fn load_state(&mut self, prefix: &str, tensors: &[NamedTensor]) -> Result<(), StateError>;

    /// The loss terms the module itself added during the train-mode forwards since the
    /// last call (the BN† loss of [`BnLoss`]), and resets them; `None` when it has none.
    /// Their gradients are added by the module's own backward pass; the training core only
    /// adds the value to the reported loss. Containers must sum their children's.
    fn take_aux_loss(&mut self) -> Option<f32> {
        None
    }
}

/// Sums optional auxiliary losses (`None` when every part is `None`).
pub fn sum_aux(parts: impl IntoIterator<Item = Option<f32>>) -> Option<f32> {
    parts.into_iter().fold(None, |acc, p| match (acc, p) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
    })
}

/// Whether `a` is row-major and contiguous with exactly the strides a fresh `(rows, cols)`
/// matrix has (`is_standard_layout` also accepts other strides on an axis of length 1).
/// What a layer may keep in place of the standard-layout copy it would otherwise make, and
/// the layout the flat-slice passes below assume.
pub(crate) fn is_plain(a: &Matrix) -> bool {
    let (r, c) = a.dim();
    let want: [isize; 2] = if r == 0 || c == 0 {
        [0, 0]
    } else {
        [c as isize, 1]
    };
    a.strides() == want && a.as_slice().is_some()
}

/// Makes `a` standard (row-major, contiguous) so that it can be handed out as a slice.
pub(crate) fn make_standard2(a: &mut Array2<f32>) {
    if !a.is_standard_layout() {
        *a = a.as_standard_layout().into_owned();
    }
}

/// Makes `a` contiguous so that it can be handed out as a slice.
pub(crate) fn make_standard1(a: &mut Array1<f32>) {
    if a.as_slice().is_none() {
        *a = a.iter().copied().collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, s};

    #[test]
    fn gather_rows_matches_select_in_both_layouts() {
        let x = array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]];
        let idx = [2, 0, 2];
        let want = x.select(ndarray::Axis(0), &idx);
        assert_eq!(gather_rows(x.view(), &idx), want);
        let t = x.t().to_owned(); // 2 x 3; its transpose view is not contiguous
        assert_eq!(gather_rows(t.t(), &idx), want);
        assert_eq!(
            gather_rows(x.slice(s![.., ..1]), &[1usize]),
            array![[3.0f32]]
        );
        assert_eq!(gather_rows(x.view(), &[2u32, 0, 2]), want);
    }
}
