//! The threads of a step's passes other than the products: element-wise passes split into
//! blocks of rows, per-column reductions into blocks of columns, optimiser updates into
//! blocks of elements.
//!
//! **Why the bits do not depend on the thread count.** Every pass here is split only where
//! the pieces are independent: an element-wise pass computes each element from the same
//! elements whatever block it falls in; a per-column reduction (a bias gradient, a
//! BatchNorm statistic) is split between columns, never along the rows it sums, so each
//! column is still summed row after row in the same order; an optimiser updates each weight
//! from its own gradient and moments. So the blocks, their number and the thread that runs
//! them change nothing but the speed (docs/determinism.md).
//!
//! **When.** Only inside a pool of [`super::with_threads`] (the thread running the fit is one
//! of its workers, and a block the other worker has not taken yet is run by the fit's
//! thread itself, so a busy or descheduled helper never holds a step up), only with more
//! than one thread, and only from [`PAR_MIN_WORK`] elements: a smaller pass takes a few
//! microseconds, about what waking a sleeping helper costs.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::matmul::matmul_threads;

/// Elements of a pass below which it stays on the calling thread (256k floats, 1 MB: a
/// 512×512 matrix, FEAWAD's size, is split; DeepSAD's 128×100 and PReNet's 512×20 are
/// not).
pub const PAR_MIN_WORK: usize = 1 << 18;

static MIN_WORK: AtomicUsize = AtomicUsize::new(usize::MAX);

/// The elements from which a pass is split: [`PAR_MIN_WORK`], or `ANOONLY_PAR_MIN_WORK`
/// when set (read once), or what [`set_min_work`] set. For measurements and for tests
/// that must see every pass split; it cannot change a result.
pub fn min_work() -> usize {
    threshold(
        &MIN_WORK,
        "ANOONLY_PAR_MIN_WORK",
        PAR_MIN_WORK,
        set_min_work,
    )
}

/// A process-wide threshold kept in `cell` (`usize::MAX`: not read yet): on the first
/// read, the environment variable `var` when it holds a number, else `default`, handed to
/// `set` (which stores it, and may pass it on); afterwards what `cell` holds.
pub(super) fn threshold(cell: &AtomicUsize, var: &str, default: usize, set: fn(usize)) -> usize {
    match cell.load(Ordering::Relaxed) {
        usize::MAX => {
            let v = std::env::var(var)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(default);
            set(v);
            v
        }
        v => v,
    }
}

/// Sets [`min_work`] for the whole process.
pub fn set_min_work(elements: usize) {
    MIN_WORK.store(elements.min(usize::MAX - 1), Ordering::Relaxed);
}

/// Into how many blocks a pass over `items` independent items and `work` elements is split:
/// the thread count when the pass is large enough and a pool is there to run it, else 1.
pub fn blocks(items: usize, work: usize) -> usize {
    let t = matmul_threads();
    if t <= 1 || items < 2 || work < min_work() || rayon::current_thread_index().is_none() {
        1
    } else {
        t.min(items)
    }
}

/// `f(first_row, rows)` over consecutive blocks of whole rows of `out` (rows of `width`
/// values), in parallel when [`blocks`] says so. `f` must compute each row from that row
/// alone (what the callers' element-wise passes do).
pub fn rows_mut(out: &mut [f32], width: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    let rows = out.len().checked_div(width).unwrap_or(0);
    let parts = blocks(rows, out.len());
    if parts <= 1 {
        f(0, out);
        return;
    }
    let per = rows.div_ceil(parts);
    use rayon::prelude::*;
    out.par_chunks_mut(per * width)
        .enumerate()
        .for_each(|(i, chunk)| f(i * per, chunk));
}

/// [`rows_mut`] over two matrices with the same rows (`a` rows of `wa` values, `b` rows of
/// `wb`), split at the same rows: `f(first_row, a_rows, b_rows)`.
pub fn rows2_mut(
    a: &mut [f32],
    wa: usize,
    b: &mut [f32],
    wb: usize,
    f: impl Fn(usize, &mut [f32], &mut [f32]) + Sync,
) {
    let rows = a.len().checked_div(wa).unwrap_or(0);
    let parts = blocks(rows, a.len() + b.len());
    if parts <= 1 || b.len() != rows * wb {
        f(0, a, b);
        return;
    }
    let per = rows.div_ceil(parts);
    use rayon::prelude::*;
    a.par_chunks_mut(per * wa)
        .zip(b.par_chunks_mut(per * wb))
        .enumerate()
        .for_each(|(i, (a, b))| f(i * per, a, b));
}

/// `out[i] = f(x[i])` over two equally long slices, in blocks when [`blocks`] says so: an
/// element-wise map into a fresh buffer.
pub fn map_into(out: &mut [f32], x: &[f32], f: impl Fn(f32) -> f32 + Sync) {
    let parts = blocks(out.len(), out.len());
    let run = |out: &mut [f32], x: &[f32]| {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = f(v);
        }
    };
    if parts <= 1 {
        run(out, x);
        return;
    }
    let per = out.len().div_ceil(parts);
    use rayon::prelude::*;
    out.par_chunks_mut(per)
        .zip(x.par_chunks(per))
        .for_each(|(o, x)| run(o, x));
}

/// `f(first_column, acc)` over consecutive blocks of the per-column accumulator `acc` (one
/// value per column of a `rows`-row matrix), in parallel when [`blocks`] says so: each block
/// reduces its columns over all rows, in row order.
pub fn columns_mut(acc: &mut [f32], rows: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    let cols = acc.len();
    let parts = blocks(cols, rows * cols);
    if parts <= 1 {
        f(0, acc);
        return;
    }
    let per = cols.div_ceil(parts);
    use rayon::prelude::*;
    acc.par_chunks_mut(per)
        .enumerate()
        .for_each(|(i, chunk)| f(i * per, chunk));
}

/// `f` over consecutive blocks of the same elements of four equally long slices (a weight,
/// its gradient and two state vectors of an optimiser), in parallel when [`blocks`] says
/// so; `work` is the pass's cost in elements.
pub fn zip4_mut(
    w: &mut [f32],
    g: &[f32],
    a: &mut [f32],
    b: &mut [f32],
    work: usize,
    f: impl Fn(&mut [f32], &[f32], &mut [f32], &mut [f32]) + Sync,
) {
    let n = w.len();
    let parts = blocks(n, work);
    if parts <= 1 {
        f(w, g, a, b);
        return;
    }
    let per = n.div_ceil(parts);
    use rayon::prelude::*;
    w.par_chunks_mut(per)
        .zip(g.par_chunks(per))
        .zip(a.par_chunks_mut(per))
        .zip(b.par_chunks_mut(per))
        .for_each(|(((w, g), a), b)| f(w, g, a, b));
}

/// [`zip4_mut`] with one state vector.
pub fn zip3_mut(
    w: &mut [f32],
    g: &[f32],
    a: &mut [f32],
    work: usize,
    f: impl Fn(&mut [f32], &[f32], &mut [f32]) + Sync,
) {
    let n = w.len();
    let parts = blocks(n, work);
    if parts <= 1 {
        f(w, g, a);
        return;
    }
    let per = n.div_ceil(parts);
    use rayon::prelude::*;
    w.par_chunks_mut(per)
        .zip(g.par_chunks(per))
        .zip(a.par_chunks_mut(per))
        .for_each(|((w, g), a)| f(w, g, a));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::with_threads;

    #[test]
    fn blocks_cover_everything_once_at_any_thread_count() {
        for threads in [1, 2, 3] {
            with_threads(threads, || {
                let width = 7;
                let rows = PAR_MIN_WORK / width + 5;
                let mut out = vec![0.0f32; rows * width];
                rows_mut(&mut out, width, |first, chunk| {
                    for (r, row) in chunk.chunks_exact_mut(width).enumerate() {
                        for (j, v) in row.iter_mut().enumerate() {
                            *v += ((first + r) * width + j) as f32;
                        }
                    }
                });
                assert!(out.iter().enumerate().all(|(i, &v)| v == i as f32));
                let mut acc = vec![0.0f32; width];
                columns_mut(&mut acc, rows, |first, a| {
                    for (j, v) in a.iter_mut().enumerate() {
                        *v += (first + j) as f32;
                    }
                });
                assert_eq!(acc, (0..width).map(|j| j as f32).collect::<Vec<_>>());
                let n = PAR_MIN_WORK + 3;
                let g: Vec<f32> = (0..n).map(|i| i as f32).collect();
                let (mut w, mut a, mut b) = (vec![0.0f32; n], vec![1.0f32; n], vec![2.0f32; n]);
                zip4_mut(&mut w, &g, &mut a, &mut b, n, |w, g, a, b| {
                    for (((w, &g), a), b) in w.iter_mut().zip(g).zip(a).zip(b) {
                        *w += g;
                        *a += g;
                        *b += g;
                    }
                });
                assert!(w.iter().zip(&g).all(|(w, g)| w == g));
                assert!(a.iter().zip(&g).all(|(a, g)| *a == g + 1.0));
                assert!(b.iter().zip(&g).all(|(b, g)| *b == g + 2.0));
                zip3_mut(&mut w, &g, &mut a, n, |w, g, a| {
                    for ((w, &g), a) in w.iter_mut().zip(g).zip(a) {
                        *w -= g;
                        *a -= g;
                    }
                });
                assert!(w.iter().all(|&w| w == 0.0) && a.iter().all(|&a| a == 1.0));
            });
        }
        // Outside a pool, nothing is split.
        assert_eq!(blocks(10, PAR_MIN_WORK), 1);
    }
}
