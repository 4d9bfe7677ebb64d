//! The matrix products: the two functions every product of training and inference goes
//! through, and the number of threads they may use.
//!
//! **Training: [`gemm_into`].** The `Linear` train-mode forward and both backward products,
//! on the `gemm` crate (pure Rust; AVX2+FMA micro-kernels on x86-64 chosen at run time, NEON
//! on aarch64). Chosen by measurement against matrixmultiply (ndarray's `dot`, the kernel
//! before) and OpenBLAS at the methods' own shapes: `benches/roofline.rs`, docs/roofline.md.
//!
//! **Inference: [`rowwise_into`] / [`matmul_rowwise`].** Eval-mode forwards (scores) and
//! XGBOD's distance and kernel blocks, on matrixmultiply, because a row's result must not
//! depend on the other rows of the batch: a row scores the same alone, in any chunk and in
//! any batch (docs/determinism.md). gemm does not guarantee that: it picks other code paths
//! for thin products (a horizontal dot-product kernel when `m·n ≤ 256`, matrix-vector
//! kernels when a side is 1, other depth blocks when both sides are ≤ 64), which round
//! differently, so a 7-row slice scored differently from the same rows in a full batch.
//! matrixmultiply runs one micro-kernel with fixed block sizes at every shape. Its threads are
//! ours: the rows of the result split into one block per thread, each block a
//! single-threaded matrixmultiply call, hence the same bits at any thread count.
//!
//! **Threads.** A per-thread setting, 1 unless a caller widens it for a scope with
//! [`with_matmul_threads`]. So a library or Python caller never starts threads it did not
//! ask for, a `bench` worker computes its cell's products on its own thread without doing
//! anything, and `--threads N` is one call around the command. Scores do not depend on it
//! (docs/determinism.md): `gemm` splits the rows and columns of the result between
//! threads, never the inner dimension, and its block sizes do not depend on the thread
//! count.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis, LinalgScalar};

thread_local! {
    static THREADS: Cell<usize> = const { Cell::new(1) };
    static RECORD: RefCell<Option<BTreeMap<Product, u64>>> = const { RefCell::new(None) };
}

/// The threads a product started on this thread may use (1 unless set by
/// [`with_matmul_threads`]).
pub fn matmul_threads() -> usize {
    THREADS.with(Cell::get)
}

/// Runs `f` with the products it starts on this thread using up to `threads` threads (at
/// least 1), then restores the previous setting (also when `f` panics). Threads other than
/// the caller's (e.g. `bench` workers) keep their own setting, 1 by default.
pub fn with_matmul_threads<R>(threads: usize, f: impl FnOnce() -> R) -> R {
    struct Restore(usize);
    impl Drop for Restore {
        fn drop(&mut self) {
            THREADS.with(|t| t.set(self.0));
        }
    }
    let _restore = Restore(THREADS.with(|t| t.replace(threads.max(1))));
    f()
}

/// The threads "all cores" means: what the machine lets this process use
/// (`std::thread::available_parallelism`, which follows CPU affinity and cgroup quotas), 1
/// if it cannot tell. The default of the command's `--threads` and of Python's `n_jobs`.
pub fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Runs `f` with up to `threads` threads (at least 1) for its products and passes, in a pool
/// of its own: `f` runs on one of the pool's threads (the caller waits, asleep), and the
/// products ([`gemm_into`], [`rowwise_into`]) and the large passes of a step
/// ([`super::par`]) share their work with the pool's other threads. What the caller had
/// set with [`with_matmul_threads`] and [`count_products`] carries over.
///
/// Why a pool per call, with the fit's thread inside it: a parallel region started by a
/// thread outside a pool (rayon's global pool, as [`with_matmul_threads`] alone does) is
/// handed to the pool's threads while the caller sleeps, two wake-ups per region, each
/// waiting for a descheduled thread on a loaded machine; started by a worker, the region's
/// first block runs at once on the worker and any block nobody has taken yet is run by the
/// worker itself. Exactly `threads` threads, none of them spinning between regions (rayon's
/// idle workers yield a few dozen times, then sleep), and the pool ends with the call, so
/// nothing stays behind. Results do not depend on `threads` (docs/determinism.md).
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    let threads = threads.max(1);
    if threads == 1 {
        return with_matmul_threads(1, f);
    }
    if rayon::current_thread_index().is_some() && rayon::current_num_threads() == threads {
        // Already on a worker of a pool of this size (a nested call).
        return with_matmul_threads(threads, f);
    }
    let pool = match rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("anoonly-{i}"))
        // The caller's work runs here: as much stack as a main thread has.
        .stack_size(8 << 20)
        .build()
    {
        Ok(p) => p,
        // No threads to be had: the same results on this one.
        Err(_) => return with_matmul_threads(1, f),
    };
    let recording = RECORD.with(|r| r.borrow().is_some());
    let (out, seen) = pool.install(move || {
        with_matmul_threads(threads, || {
            if recording {
                let (out, seen) = count_products(f);
                (out, Some(seen))
            } else {
                (f(), None)
            }
        })
    });
    if let Some(seen) = seen {
        RECORD.with(|r| {
            if let Some(map) = r.borrow_mut().as_mut() {
                for (p, n) in seen {
                    *map.entry(p).or_insert(0) += n;
                }
            }
        });
    }
    out
}

/// The element types the kernel multiplies (`f32` for the networks, `f64` for XGBOD's
/// one-class SVM decision values).
pub trait Scalar: LinalgScalar + Send + Sync {}
impl Scalar for f32 {}
impl Scalar for f64 {}

/// `c ← a·b`, or `c ← c + a·b` when `accumulate`. Any memory layout of the three
/// (transposed views included: the backward products pass `gᵀ` as a view, no copy).
///
/// # Panics
/// If the shapes do not match (a programming error).
pub fn gemm_into<T: Scalar>(
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    mut c: ArrayViewMut2<T>,
    accumulate: bool,
) {
    let (m, k, n) = checked_dims(&a, &b, c.dim());
    let (sa, sb) = (a.strides(), b.strides());
    let (sc0, sc1) = (c.strides()[0], c.strides()[1]);
    let parallelism = match matmul_threads() {
        t if t > 1 && m * k * n >= gemm_threaded_min_work() => gemm::Parallelism::Rayon(t),
        _ => gemm::Parallelism::None,
    };
    let (alpha, beta) = (if accumulate { T::one() } else { T::zero() }, T::one());
    // SAFETY: the pointers and element strides come from live ndarray views whose shapes
    // were checked above, so every index gemm forms lies inside them; `c` is a unique
    // borrow, so it aliases neither `a` nor `b`. gemm accepts any (also negative or zero)
    // strides, and reads `c` only when `read_dst` is true.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            sc1,
            sc0,
            accumulate,
            a.as_ptr(),
            sa[1],
            sa[0],
            b.as_ptr(),
            sb[1],
            sb[0],
            alpha,
            beta,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// `a·b` as a new standard-layout matrix ([`gemm_into`]).
pub fn matmul<T: Scalar>(a: ArrayView2<T>, b: ArrayView2<T>) -> Array2<T> {
    let mut c = Array2::zeros((a.nrows(), b.ncols()));
    gemm_into(a, b, c.view_mut(), false);
    c
}

/// `c ← a·b` where row `i` of `c` depends on row `i` of `a` alone, bit for bit, whatever
/// the other rows, their number and the thread count (see the module documentation).
///
/// # Panics
/// If the shapes do not match (a programming error).
pub fn rowwise_into<T: Scalar>(a: ArrayView2<T>, b: ArrayView2<T>, mut c: ArrayViewMut2<T>) {
    let (m, k, n) = checked_dims(&a, &b, c.dim());
    let threads = matmul_threads().min(m.div_ceil(ROWS_PER_THREAD)).max(1);
    if threads == 1 || m * k * n < THREADED_MIN_WORK {
        general_mat_mul(T::one(), &a, &b, T::zero(), &mut c);
        return;
    }
    let rows = m.div_ceil(threads);
    if rayon::current_thread_index().is_some() {
        // Inside a pool of `with_threads`: its threads, and this one takes any block
        // nobody else has started.
        rayon::scope(|s| {
            for (a_rows, mut c_rows) in a
                .axis_chunks_iter(Axis(0), rows)
                .zip(c.axis_chunks_iter_mut(Axis(0), rows))
            {
                s.spawn(move |_| general_mat_mul(T::one(), &a_rows, &b, T::zero(), &mut c_rows));
            }
        });
        return;
    }
    std::thread::scope(|s| {
        for (a_rows, mut c_rows) in a
            .axis_chunks_iter(Axis(0), rows)
            .zip(c.axis_chunks_iter_mut(Axis(0), rows))
        {
            s.spawn(move || general_mat_mul(T::one(), &a_rows, &b, T::zero(), &mut c_rows));
        }
    });
}

/// Multiply-adds below which [`gemm_into`] stays on one thread. gemm's own threshold
/// (`48·48·256`, 0.6 M) threads DeepSAD's 128×512×100 and PReNet's 512×512×20 products,
/// which then ran slower on 2 threads than on 1 (measured side by side on CIFAR10_0, with
/// the fit's thread outside the pool; the hand-off costs as much as the half product
/// saves). FEAWAD's 512×512×128 and larger ones are threaded. The bits do not depend on it
/// (see the module documentation).
pub const GEMM_THREADED_MIN_WORK: usize = 1 << 23;

/// gemm's own threshold of threaded work per depth block (`48·48·256`).
const GEMM_OWN_MIN_WORK: usize = 48 * 48 * 256;

static GEMM_MIN_WORK: AtomicUsize = AtomicUsize::new(usize::MAX);

/// The multiply-adds from which [`gemm_into`] threads a product: [`GEMM_THREADED_MIN_WORK`],
/// or `ANOONLY_GEMM_THREADS_FROM` when set (read once), or what
/// [`set_gemm_threaded_min_work`] set. A knob for measuring where a second thread starts
/// to pay on a machine (docs/roofline.md) and for tests that must see every product split;
/// it cannot change a result.
pub fn gemm_threaded_min_work() -> usize {
    super::par::threshold(
        &GEMM_MIN_WORK,
        "ANOONLY_GEMM_THREADS_FROM",
        GEMM_THREADED_MIN_WORK,
        set_gemm_threaded_min_work,
    )
}

/// Sets [`gemm_threaded_min_work`] for the whole process (below gemm's own threshold,
/// gemm's too, so that such products really are split).
pub fn set_gemm_threaded_min_work(multiply_adds: usize) {
    let v = multiply_adds.min(usize::MAX - 1);
    GEMM_MIN_WORK.store(v, Ordering::Relaxed);
    gemm::set_threading_threshold(v.min(GEMM_OWN_MIN_WORK));
}

/// Rows of a block below which [`rowwise_into`] does not start another thread.
const ROWS_PER_THREAD: usize = 64;
/// Multiply-adds below which [`rowwise_into`] stays on the caller's thread (gemm's own
/// threshold).
const THREADED_MIN_WORK: usize = GEMM_OWN_MIN_WORK;

/// `a·b` as a new standard-layout matrix ([`rowwise_into`]).
pub fn matmul_rowwise<T: Scalar>(a: ArrayView2<T>, b: ArrayView2<T>) -> Array2<T> {
    let mut c = Array2::zeros((a.nrows(), b.ncols()));
    rowwise_into(a, b, c.view_mut());
    c
}

/// One product shape as the kernel sees it: `m×k` times `k×n`, and whether each operand is
/// a transposed (column-major) view, which changes how the kernel reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Product {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub a_transposed: bool,
    pub b_transposed: bool,
}

impl Product {
    /// Floating-point operations (a multiply and an add per term).
    pub fn flops(&self) -> u64 {
        2 * (self.m * self.k * self.n) as u64
    }
}

/// `(m, k, n)` of `a·b` into a result of shape `c`, checked, and the product recorded for
/// [`count_products`].
fn checked_dims<T>(
    a: &ArrayView2<T>,
    b: &ArrayView2<T>,
    c: (usize, usize),
) -> (usize, usize, usize) {
    let ((m, k), (k2, n)) = (a.dim(), b.dim());
    assert!(
        k == k2 && c == (m, n),
        "matrix product: {m}x{k} times {k2}x{n} into {c:?}"
    );
    record(m, k, n, a, b);
    (m, k, n)
}

fn is_transposed<T>(x: &ArrayView2<T>) -> bool {
    x.ncols() > 1 && x.strides()[1] != 1
}

fn record<T>(m: usize, k: usize, n: usize, a: &ArrayView2<T>, b: &ArrayView2<T>) {
    RECORD.with(|r| {
        if let Some(map) = r.borrow_mut().as_mut() {
            let p = Product {
                m,
                k,
                n,
                a_transposed: is_transposed(a),
                b_transposed: is_transposed(b),
            };
            *map.entry(p).or_insert(0) += 1;
        }
    });
}

/// Runs `f` and returns, with its result, every product it computed on this thread: each
/// distinct shape and how many times. For the roofline benchmark (FLOPs per fit and the
/// time the same products take at a reference kernel's rate). Nested calls see only their
/// own products.
pub fn count_products<R>(f: impl FnOnce() -> R) -> (R, Vec<(Product, u64)>) {
    let outer = RECORD.with(|r| r.replace(Some(BTreeMap::new())));
    struct Restore(Option<Option<BTreeMap<Product, u64>>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(prev) = self.0.take() {
                RECORD.with(|r| *r.borrow_mut() = prev);
            }
        }
    }
    let mut restore = Restore(Some(outer));
    let out = f();
    let mine = RECORD.with(|r| r.replace(restore.0.take().flatten()));
    (out, mine.unwrap_or_default().into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::bits;
    use ndarray::{array, Array2};

    /// Plain triple loop in f64, the reference.
    fn naive(a: ArrayView2<f32>, b: ArrayView2<f32>) -> Array2<f64> {
        Array2::from_shape_fn((a.nrows(), b.ncols()), |(i, j)| {
            (0..a.ncols())
                .map(|p| f64::from(a[[i, p]]) * f64::from(b[[p, j]]))
                .sum()
        })
    }

    fn filled(r: usize, c: usize, seed: usize) -> Array2<f32> {
        Array2::from_shape_fn((r, c), |(i, j)| {
            ((i * 31 + j * 17 + seed * 7) % 23) as f32 / 23.0 - 0.5
        })
    }

    #[test]
    fn products_match_a_naive_loop_in_every_layout_and_accumulate() {
        for &(m, k, n) in &[(1, 1, 1), (3, 5, 2), (37, 70, 9), (130, 64, 33), (5, 0, 4)] {
            let a = filled(m, k, 1);
            let b = filled(k, n, 2);
            // k×m in standard layout: its transpose is a column-major view equal to `a`.
            let at = a.t().as_standard_layout().into_owned();
            let bt = b.t().as_standard_layout().into_owned();
            let want = naive(a.view(), b.view());
            for (av, bv) in [
                (a.view(), b.view()),
                (at.t(), b.view()),
                (a.view(), bt.t()),
                (at.t(), bt.t()),
            ] {
                let got = matmul(av, bv);
                let err = (&got.mapv(f64::from) - &want)
                    .iter()
                    .fold(0.0f64, |e, v| e.max(v.abs()));
                assert!(err < 1e-5, "{m}x{k}x{n}: max error {err}");
                let mut acc = Array2::<f32>::ones((m, n));
                gemm_into(av, bv, acc.view_mut(), true);
                let err = (&acc.mapv(f64::from) - &(&want + 1.0))
                    .iter()
                    .fold(0.0f64, |e, v| e.max(v.abs()));
                assert!(err < 1e-5, "{m}x{k}x{n} accumulated: max error {err}");
            }
        }
        let mut c = array![[9.0f64]];
        gemm_into(
            array![[2.0f64, 3.0]].view(),
            array![[4.0], [5.0]].view(),
            c.view_mut(),
            false,
        );
        assert_eq!(c, array![[23.0]]);
    }

    /// The property docs/determinism.md relies on, at shapes large enough that the kernel
    /// does split the work (and with a k beyond one depth block).
    #[test]
    fn bits_do_not_depend_on_the_thread_count() {
        for &(m, k, n) in &[(512, 577, 256), (256, 1200, 300), (100, 128, 512)] {
            let a = filled(m, k, 3);
            let w = filled(n, k, 4); // a Linear weight: the forward product is a·wᵀ
            let one = matmul(a.view(), w.t());
            for t in [2, 3, 4] {
                let many = with_matmul_threads(t, || matmul(a.view(), w.t()));
                assert_eq!(
                    bits(&one),
                    bits(&many),
                    "{m}x{k}x{n}: {t} threads differ from 1"
                );
                // The same product started by a worker of a pool of `t` threads.
                let pooled = with_threads(t, || matmul(a.view(), w.t()));
                assert_eq!(
                    bits(&one),
                    bits(&pooled),
                    "{m}x{k}x{n}: a pool of {t} threads differs from 1 thread"
                );
            }
        }
    }

    /// Inference's property: a row's result does not depend on the rest of the batch, at
    /// thin shapes where gemm switches code paths, nor on the thread count.
    #[test]
    fn rowwise_products_do_not_depend_on_other_rows_or_threads() {
        for &(m, k, n) in &[(700, 577, 1), (700, 512, 20), (300, 600, 100), (40, 33, 1)] {
            let a = filled(m, k, 5);
            let w = filled(n, k, 6);
            let full = matmul_rowwise(a.view(), w.t());
            for t in [1, 2, 3] {
                let threaded = with_matmul_threads(t, || matmul_rowwise(a.view(), w.t()));
                assert_eq!(bits(&full), bits(&threaded));
                // In a pool (`with_threads`), the blocks of rows are the pool's tasks.
                let pooled = with_threads(t, || matmul_rowwise(a.view(), w.t()));
                assert_eq!(bits(&full), bits(&pooled));
            }
            for (lo, hi) in [(0, 1), (3, 10), (m - 2, m)] {
                let part = matmul_rowwise(a.slice(ndarray::s![lo..hi, ..]), w.t());
                let want = full.slice(ndarray::s![lo..hi, ..]);
                assert_eq!(
                    bits(&part),
                    bits(want),
                    "{m}x{k}x{n}: rows {lo}..{hi} alone differ"
                );
            }
            let err = (&full - &matmul(a.view(), w.t()))
                .iter()
                .fold(0.0f32, |e, v| e.max(v.abs()));
            assert!(err < 1e-4, "{m}x{k}x{n}: kernels disagree by {err}");
        }
    }

    #[test]
    fn thread_setting_is_scoped_and_per_thread() {
        assert_eq!(matmul_threads(), 1);
        with_matmul_threads(3, || {
            assert_eq!(matmul_threads(), 3);
            assert_eq!(std::thread::spawn(matmul_threads).join().ok(), Some(1));
            with_matmul_threads(0, || assert_eq!(matmul_threads(), 1));
            assert_eq!(matmul_threads(), 3);
        });
        assert_eq!(matmul_threads(), 1);
        let caught = std::panic::catch_unwind(|| with_matmul_threads(2, || panic!("inside")));
        assert!(caught.is_err());
        assert_eq!(matmul_threads(), 1);
    }

    /// `with_threads(t, f)` runs `f` on a worker of a pool of `t` threads with the product
    /// setting `t`, reuses the pool it is already in, runs `f` on the caller for 1 thread,
    /// leaves the caller's setting alone, and the caller's product count sees what `f`
    /// computed.
    #[test]
    fn with_threads_runs_f_in_a_pool_of_that_size() {
        let caller = std::thread::current().id();
        with_threads(1, || {
            assert_eq!(std::thread::current().id(), caller);
            assert_eq!(matmul_threads(), 1);
        });
        let a = filled(4, 3, 0);
        let w = filled(5, 3, 1);
        let (worker, seen) = count_products(|| {
            with_threads(2, || {
                assert_eq!(rayon::current_num_threads(), 2);
                assert!(rayon::current_thread_index().is_some());
                assert_eq!(matmul_threads(), 2);
                matmul(a.view(), w.t());
                let me = std::thread::current().id();
                // Nested: the same pool, the same thread.
                with_threads(2, || assert_eq!(std::thread::current().id(), me));
                me
            })
        });
        assert_ne!(worker, caller);
        assert_eq!(matmul_threads(), 1);
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].1, 1);
    }

    #[test]
    fn count_products_sees_shapes_layouts_and_counts() {
        let a = filled(4, 3, 0);
        let w = filled(5, 3, 1);
        let ((), seen) = count_products(|| {
            matmul(a.view(), w.t());
            matmul(a.view(), w.t());
            let ((), inner) = count_products(|| {
                matmul(w.view(), a.t());
            });
            assert_eq!(inner.len(), 1);
        });
        let want = Product {
            m: 4,
            k: 3,
            n: 5,
            a_transposed: false,
            b_transposed: true,
        };
        assert_eq!(seen, vec![(want, 2)]);
        assert_eq!(want.flops(), 120);
        let ((), none) = count_products(|| ());
        assert!(none.is_empty());
    }
}
