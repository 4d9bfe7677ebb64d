//! Fully connected layer `y = x·Wᵀ + b` with the weight in torch layout `(out, in)`, so that
//! state dicts map one to one onto PyTorch's `nn.Linear` (a Keras `Dense` kernel is the
//! transpose).

use ndarray::{Array1, Array2, Axis};

use super::matmul::{gemm_into, rowwise_into};
use super::{
    init, is_plain, load_mat, load_vec, make_standard1, make_standard2, mat_tensor, vec_tensor,
    Matrix, Mode, Module, NamedTensor, ParamMut, StateError,
};
use super::{par, pool};
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

impl Linear {
    /// A train-mode forward of `x` that keeps `cache` for the backward pass, where the
    /// caller has `x` in two layouts: `cache` must hold `x`'s values in a fresh row-major
    /// matrix, what [`Module::forward`] would copy `x` into (PReNet's score layer reads
    /// ndarray's column-major concatenation and builds its row-major copy row by row,
    /// cheaper than the element-by-element copy of a column-major matrix).
    ///
    /// # Panics
    /// If `cache` does not have `x`'s shape (a programming error).
    pub fn forward_cached(&mut self, x: &Matrix, cache: Matrix) -> Matrix {
        assert_eq!(cache.dim(), x.dim(), "the cached input must be x");
        let y = self.affine(x, Mode::Train);
        if is_plain(&cache) {
            self.cache.push(cache);
        } else {
            self.cache.push(pool::copy(cache.view()));
            pool::recycle(cache);
        }
        y
    }

    /// `x·Wᵀ + b` into a fresh matrix (no zero fill: the product writes every element).
    fn affine(&self, x: &Matrix, mode: Mode) -> Matrix {
        let mut y = pool::scratch(x.nrows(), self.d_out());
        match mode {
            Mode::Train => gemm_into(x.view(), self.weight.t(), y.view_mut(), false),
            // Scores: a row's output must not depend on the rest of the batch.
            Mode::Eval => rowwise_into(x.view(), self.weight.t(), y.view_mut()),
        }
        if let Some(b) = &self.bias {
            add_row_vector(&mut y, b);
        }
        y
    }
}

/// `y[i, j] += b[j]` for every row (what `y += b` computes, in one pass over flat rows).
fn add_row_vector(y: &mut Matrix, b: &Array1<f32>) {
    let (width, b_flat) = (y.ncols(), b.as_slice());
    match (y.as_slice_mut(), b_flat) {
        (Some(flat), Some(b)) if width > 0 => par::rows_mut(flat, width, |_, rows| {
            for row in rows.chunks_exact_mut(width) {
                for (v, &bj) in row.iter_mut().zip(b) {
                    *v += bj;
                }
            }
        }),
        _ => *y += b,
    }
}

/// `acc[j] += Σ_i g[i, j]`, the column sums taken as `g.sum_axis(Axis(0))` takes them (a
/// fresh row of zeros plus each row in turn, for a matrix in standard layout) and then
/// added, so the bits are those of `*acc += &g.sum_axis(Axis(0))`, without its two
/// temporaries; columns are split between threads on large matrices ([`par`]). Any other
/// layout goes through `sum_axis` itself (it sums such a matrix in another order).
pub(crate) fn add_column_sums(acc: &mut Array1<f32>, g: &Matrix) {
    let (rows, width) = g.dim();
    match (acc.as_slice_mut(), g.as_slice()) {
        (Some(acc), Some(flat)) if is_plain(g) && width > 0 && acc.len() == width => {
            par::columns_mut(acc, rows, |first, acc| {
                let mut sums = vec![0.0f32; acc.len()];
                for row in flat.chunks_exact(width) {
                    for (s, &v) in sums.iter_mut().zip(&row[first..]) {
                        *s += v;
                    }
                }
                for (a, s) in acc.iter_mut().zip(sums) {
                    *a += s;
                }
            })
        }
        _ => *acc += &g.sum_axis(Axis(0)),
    }
}

impl Module for Linear {
    fn forward(&mut self, x: &Matrix, mode: Mode) -> Matrix {
        let y = self.affine(x, mode);
        if mode == Mode::Train {
            self.cache.push(pool::copy(x.view()));
        }
        y
    }

    /// Keeps `x` itself for the backward pass when it has the layout of the copy
    /// [`Module::forward`] keeps (so the backward products see the same operands).
    fn forward_owned(&mut self, x: Matrix, mode: Mode) -> Matrix {
        let y = self.affine(&x, mode);
        match mode {
            Mode::Train if is_plain(&x) => self.cache.push(x),
            Mode::Train => {
                self.cache.push(pool::copy(x.view()));
                pool::recycle(x);
            }
            Mode::Eval => pool::recycle(x),
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
            add_column_sums(gb, grad_out);
        }
        need_input_grad.then(|| {
            let mut g = pool::scratch(grad_out.nrows(), self.d_in());
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
    use crate::nn::bits;
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

    fn filled(r: usize, c: usize, seed: u64) -> Matrix {
        let mut rng = Rng::seed_from_u64(seed);
        Matrix::from_shape_simple_fn((r, c), || rand::Rng::gen_range(&mut rng, -1.0f32..1.0))
    }

    /// The owned passes, the fused bias add and column sums and the unfilled buffers give
    /// the bits of the passes they replace (`y += b`, `sum_axis`, zero-filled outputs), at
    /// 1 and 2 threads with every product and pass split. The shapes are large enough for
    /// the outputs to come from recycled buffers (full of NaN here: a product that read
    /// its unfilled output would show them).
    #[test]
    fn fused_and_owned_passes_match_the_reference_bit_for_bit() {
        super::par::set_min_work(0);
        super::super::matmul::set_gemm_threaded_min_work(0);
        for threads in [1, 2] {
            crate::nn::with_threads(threads, || {
                let mut rng = Rng::seed_from_u64(1);
                let l = Linear::new(37, 40, true, Init::TorchDefault, &mut rng);
                let x = filled(500, 37, 2);
                let g = filled(500, 40, 3);
                // Reference: zero-filled product, `y += b`, cached copy, `sum_axis`.
                let mut y_ref = Matrix::zeros((500, 40));
                gemm_into(x.view(), l.weight.t(), y_ref.view_mut(), false);
                y_ref += l.bias.as_ref().unwrap();
                let mut gw_ref = Matrix::zeros((40, 37));
                gemm_into(g.t(), x.view(), gw_ref.view_mut(), true);
                let gb_ref = g.sum_axis(Axis(0));
                let mut dx_ref = Matrix::zeros((500, 37));
                gemm_into(g.view(), l.weight.view(), dx_ref.view_mut(), false);
                // Recycled buffers full of NaN (20,000 floats: what the 500×40 output and
                // the 500×37 input gradient take) must not show through.
                for _ in 0..4 {
                    pool::recycle(Matrix::from_elem((100, 200), f32::NAN));
                }
                let (mut a, mut b) = (l.clone(), l.clone());
                let ya = a.forward(&x, Mode::Train);
                let yb = b.forward_owned(x.clone(), Mode::Train);
                assert_eq!(bits(&ya), bits(&y_ref));
                assert_eq!(bits(&yb), bits(&y_ref));
                let da = a.backward(&g, true).unwrap();
                let db = b.backward_owned(g.clone(), true).unwrap();
                assert_eq!(bits(&da), bits(&dx_ref));
                assert_eq!(bits(&db), bits(&dx_ref));
                // A column-major input read by the product, its row-major copy kept as
                // the cache: the bits of the forward that copies it itself.
                let xc = x.t().as_standard_layout().into_owned().reversed_axes();
                let (mut c, mut d) = (l.clone(), l.clone());
                let yc = c.forward(&xc, Mode::Train);
                let yd = d.forward_cached(&xc, pool::copy(xc.view()));
                assert_eq!(bits(&yc), bits(&yd));
                let (dc, dd) = (c.backward(&g, true).unwrap(), d.backward(&g, true).unwrap());
                assert_eq!(bits(&dc), bits(&dd));
                assert_eq!(bits(&c.grad_weight), bits(&d.grad_weight));
                assert_eq!(bits(&c.grad_weight), bits(&gw_ref));
                for m in [&a, &b] {
                    assert_eq!(bits(&m.grad_weight), bits(&gw_ref));
                    let gb = m.grad_bias.as_ref().unwrap();
                    assert_eq!(bits(gb), bits(&gb_ref));
                }
                // Column sums in every layout `sum_axis` distinguishes: plain, one column,
                // column-major (summed its own way), and on top of a non-zero accumulator.
                for g in [filled(300, 900, 4), filled(64, 1, 5), filled(40, 7, 6)] {
                    let f = g.t().as_standard_layout().into_owned();
                    for m in [g.clone(), f.reversed_axes()] {
                        let mut acc = Array1::from_elem(m.ncols(), 0.25f32);
                        let mut want = acc.clone();
                        want += &m.sum_axis(Axis(0));
                        add_column_sums(&mut acc, &m);
                        assert_eq!(bits(&acc), bits(&want));
                    }
                }
                pool::clear();
            });
        }
    }
}
