//! Reuse of the large per-step matrices of training (batch inputs, layer outputs, cached
//! inputs, gradients), so that a step does not hand megabytes back to the kernel and fault
//! them in again.
//!
//! Why: glibc serves these blocks (a 512×512 batch is 1 MB) from the top of its heap and
//! trims the heap whenever more than twice the largest freed block is free at its top. A
//! training step frees all of its matrices at its end, so every step returned its memory
//! and the next faulted it in again, zeroed page by page: PReNet spent more time in the
//! kernel than in user code (3.3 s system against 2.7 s user per fit on CIFAR10_0), FEAWAD
//! an eighth of its time. Raising glibc's thresholds instead would be process-wide, and
//! would stop the data buffers of `protocol::split_owned` from being `mremap`ped smaller
//! (docs/scale.md).
//!
//! A per-thread free list: [`recycle`] keeps a buffer of at least [`MIN_LEN`] floats (smaller
//! ones are cheap to allocate and are dropped), at most [`MAX_BUFFERS`] of them; the makers
//! below take a kept buffer when one fits. The values never depend on the pool (a buffer is
//! always fully written before use), only the allocation count does.
//! [`train::fit`](crate::train::fit) and [`eval_rows`](super::eval_rows) empty the pool when
//! they end, so nothing is kept between fits or after scoring.

use std::cell::RefCell;

use ndarray::{ArrayView2, Zip};

use super::Matrix;

/// Buffers below this many floats (64 KiB) are not kept.
pub const MIN_LEN: usize = 16 * 1024;
/// At most this many buffers are kept per thread.
pub const MAX_BUFFERS: usize = 24;

thread_local! {
    static POOL: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// A kept buffer whose capacity is between `n` and `2n` (the smallest such), with the
/// length and values it had.
fn take(n: usize) -> Option<Vec<f32>> {
    if n < MIN_LEN {
        return None;
    }
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        let best = p
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= n && v.capacity() <= 2 * n)
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i);
        best.map(|i| p.swap_remove(i))
    })
}

/// An empty vector with room for `n` floats: a kept buffer whose capacity is between `n`
/// and `2n` when there is one (the smallest such), else a new allocation.
pub fn vec_with_capacity(n: usize) -> Vec<f32> {
    match take(n) {
        Some(mut v) => {
            v.clear();
            v
        }
        None => Vec::with_capacity(n),
    }
}

/// A `rows × cols` matrix of zeros.
pub fn zeros(rows: usize, cols: usize) -> Matrix {
    let n = rows * cols;
    let mut v = vec_with_capacity(n);
    v.resize(n, 0.0);
    Matrix::from_shape_vec((rows, cols), v).expect("rows·cols values")
}

/// A `rows × cols` matrix whose values are unspecified: a kept buffer's stale values (zeros
/// where it was shorter), or zeros. For a result that is written whole before it is read
/// (a product without `accumulate`, an element-wise pass): it saves [`zeros`]'s fill, a
/// pass over memory the next pass overwrites anyway. Always initialised memory, so no value
/// can leak from outside this process's own earlier matrices.
pub fn scratch(rows: usize, cols: usize) -> Matrix {
    let n = rows * cols;
    let mut v = take(n).unwrap_or_default();
    if v.len() >= n {
        v.truncate(n);
    } else {
        v.resize(n, 0.0);
    }
    Matrix::from_shape_vec((rows, cols), v).expect("rows·cols values")
}

/// A standard-layout copy of `x` (one memcpy when `x` is in standard layout).
pub fn copy(x: ArrayView2<f32>) -> Matrix {
    match x.as_slice() {
        Some(s) => {
            let mut v = vec_with_capacity(s.len());
            v.extend_from_slice(s);
            Matrix::from_shape_vec(x.raw_dim(), v).expect("same shape")
        }
        None => map(x, |v| v),
    }
}

/// The rows `rows` of `x`, columns `cols`, as a standard-layout matrix (row-wise memcpy when
/// `x` is in standard layout): a batch gathered from the data, or a column block of one.
pub fn gather(
    x: ArrayView2<f32>,
    rows: impl ExactSizeIterator<Item = usize>,
    cols: std::ops::Range<usize>,
) -> Matrix {
    let (n, w) = (rows.len(), cols.len());
    let mut v = vec_with_capacity(n * w);
    match x.as_slice() {
        Some(flat) => {
            let d = x.ncols();
            for i in rows {
                v.extend_from_slice(&flat[i * d + cols.start..i * d + cols.end]);
            }
        }
        None => {
            for i in rows {
                v.extend(x.row(i).iter().skip(cols.start).take(w).copied());
            }
        }
    }
    Matrix::from_shape_vec((n, w), v).expect("n·w values")
}

/// `f` applied to every element of `x`, as a standard-layout matrix. A column-major `x`
/// (what ndarray's `concatenate` along columns builds) is read column block by column
/// block, not element by element through ndarray's strided iterator (seven times fewer
/// instructions on FEAWAD's and PReNet's concatenated layer inputs); the values and their
/// order are the same.
pub fn map(x: ArrayView2<f32>, f: impl Fn(f32) -> f32) -> Matrix {
    let mut v = vec_with_capacity(x.len());
    let (r, c) = x.dim();
    let transposed = x.t();
    match (x.as_slice(), transposed.as_slice()) {
        (Some(s), _) => v.extend(s.iter().map(|&e| f(e))),
        (None, Some(t)) if r > 0 => {
            for i in 0..r {
                v.extend(t[i..].iter().step_by(r).take(c).map(|&e| f(e)));
            }
        }
        _ => {
            for row in x.rows() {
                v.extend(row.iter().map(|&e| f(e)));
            }
        }
    }
    Matrix::from_shape_vec(x.raw_dim(), v).expect("same shape")
}

/// `f(x, y)` element by element for two matrices of the same shape (over flat slices, which
/// the compiler vectorises, when both are in standard layout).
pub fn zip_map(x: ArrayView2<f32>, y: ArrayView2<f32>, f: impl Fn(f32, f32) -> f32) -> Matrix {
    assert_eq!(x.dim(), y.dim(), "zip_map: shapes differ");
    if let (Some(a), Some(b)) = (x.as_slice(), y.as_slice()) {
        let mut v = vec_with_capacity(a.len());
        v.extend(a.iter().zip(b).map(|(&a, &b)| f(a, b)));
        return Matrix::from_shape_vec(x.raw_dim(), v).expect("same shape");
    }
    let mut out = zeros(x.nrows(), x.ncols());
    Zip::from(&mut out)
        .and(x)
        .and(y)
        .for_each(|o, &a, &b| *o = f(a, b));
    out
}

/// Hands `m`'s buffer back for reuse (dropped when small or when the pool is full).
pub fn recycle(m: Matrix) {
    if m.len() < MIN_LEN {
        return;
    }
    let (v, offset) = m.into_raw_vec_and_offset();
    if offset.is_some_and(|o| o != 0) {
        return;
    }
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < MAX_BUFFERS {
            p.push(v);
        }
    });
}

/// Drops every kept buffer of this thread.
pub fn clear() {
    POOL.with(|p| p.borrow_mut().clear());
}

/// Buffers kept on this thread (for tests).
pub fn kept() -> usize {
    POOL.with(|p| p.borrow().len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, s};

    #[test]
    fn buffers_are_reused_values_are_fresh_and_small_ones_dropped() {
        clear();
        let mut a = zeros(200, 100);
        a.fill(7.0);
        let ptr = a.as_ptr();
        recycle(a);
        assert_eq!(kept(), 1);
        let b = zeros(100, 200);
        assert_eq!(b.as_ptr(), ptr, "the kept buffer is reused");
        assert!(b.iter().all(|&v| v == 0.0));
        recycle(b);
        // Too small a request for that buffer (it would waste more than half of it).
        let c = zeros(50, 100);
        assert_ne!(c.as_ptr(), ptr);
        recycle(array![[1.0f32]]);
        assert_eq!(kept(), 1);
        let x = Matrix::from_shape_fn((300, 60), |(i, j)| (i * 60 + j) as f32);
        assert_eq!(copy(x.t()), x.t());
        assert_eq!(copy(x.slice(s![.., 1..])), x.slice(s![.., 1..]));
        assert_eq!(map(x.view(), |v| 2.0 * v), &x * 2.0);
        assert_eq!(zip_map(x.view(), x.t().t(), |a, b| a - b), zeros(300, 60));
        let xt = x.t().as_standard_layout().into_owned();
        assert_eq!(zip_map(x.view(), xt.t(), |a, b| a + b), &x * 2.0);
        assert_eq!(
            gather(x.view(), [4usize, 0, 4].into_iter(), 2..5),
            x.select(ndarray::Axis(0), &[4, 0, 4]).slice(s![.., 2..5])
        );
        assert_eq!(
            gather(xt.t(), [7usize, 1].into_iter(), 0..60),
            x.select(ndarray::Axis(0), &[7, 1])
        );
        clear();
        assert_eq!(kept(), 0);
        let many: Vec<Matrix> = (0..MAX_BUFFERS + 5).map(|_| zeros(200, 100)).collect();
        for m in many {
            recycle(m);
        }
        assert_eq!(kept(), MAX_BUFFERS);
        assert!(kept() <= MAX_BUFFERS);
        clear();
    }

    /// `map` reads a column-major matrix block by block and any other layout row by row:
    /// the values of the element-by-element map in logical order, in standard layout,
    /// whatever the input's layout and shape (empty ones included).
    #[test]
    fn map_gives_the_element_by_element_values_in_every_layout() {
        let x = Matrix::from_shape_fn((300, 61), |(i, j)| (i * 61 + j) as f32 - 5000.5);
        let f = |v: f32| v.mul_add(0.25, 1.0).sin();
        let cols = x.t().as_standard_layout().into_owned().reversed_axes();
        let views = [
            x.view(),
            cols.view(),
            x.slice(s![.., 1..]),
            x.slice(s![..;3, ..;2]),
            cols.slice(s![2..9, ..]),
            x.slice(s![0..1, ..]),
            cols.slice(s![.., 4..5]),
            x.slice(s![0..0, ..]),
            cols.slice(s![.., 0..0]),
        ];
        for v in views {
            let want: Vec<u32> = v.iter().map(|&e| f(e).to_bits()).collect();
            let got = map(v, f);
            assert_eq!(got.dim(), v.dim());
            assert!(got.is_standard_layout());
            assert_eq!(got.iter().map(|e| e.to_bits()).collect::<Vec<_>>(), want);
        }
    }

    /// `scratch` hands out a kept buffer without clearing it (stale values from this
    /// thread's own matrices, zeros where it was shorter), in the requested shape.
    #[test]
    fn scratch_reuses_a_kept_buffer_in_the_requested_shape() {
        clear();
        let a = Matrix::from_elem((100, 200), 3.0f32);
        let ptr = a.as_ptr();
        recycle(a);
        let b = scratch(150, 120);
        assert_eq!(b.as_ptr(), ptr);
        assert_eq!(b.dim(), (150, 120));
        assert!(b.is_standard_layout());
        assert!(b.iter().all(|&v| v == 3.0));
        let small = scratch(3, 4);
        assert_eq!(small, Matrix::zeros((3, 4)));
        assert_eq!(scratch(0, 7).dim(), (0, 7));
        clear();
    }
}
