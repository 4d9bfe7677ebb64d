//! Nearest neighbours by squared Euclidean distance from one GEMM per row block, and the
//! two detectors built on them: KNN (`method='largest'`, the distance to the k-th
//! neighbour) and LOF, with PyOD 1.0.0 / scikit-learn semantics.
//!
//! Why one search for the whole grid: the neighbour lists of `k_max` contain those of every
//! smaller `k`, so the eight KNN and eight LOF detectors of XGBOD share one pass; the squared
//! distances of a row block are handed to a callback too, so the one-class SVM can turn the
//! same block into kernel values instead of recomputing it.

use ndarray::{s, Array1, Array2, ArrayView2, Axis};

/// Query rows per GEMM block: bounds the block to `BLOCK × n_reference` floats.
pub const BLOCK: usize = 256;

/// Squared row norms.
pub fn row_sq_norms(x: ArrayView2<f32>) -> Array1<f32> {
    x.map_axis(Axis(1), |r| r.dot(&r))
}

/// The `k` nearest reference rows of each query row, ascending by distance (ties by index).
#[derive(Clone, Debug, PartialEq)]
pub struct Neighbors {
    /// Euclidean distances, `n_query × k`.
    pub dist: Array2<f32>,
    /// Reference row indices, `n_query × k`.
    pub idx: Array2<u32>,
}

/// Squared distances `|q|² + |r|² − 2 q·r` for a block of query rows against all reference
/// rows (clamped at 0: cancellation can make them slightly negative).
fn sq_dist_block(
    q: ArrayView2<f32>,
    q_sq: &[f32],
    reference: ArrayView2<f32>,
    r_sq: &Array1<f32>,
) -> Array2<f32> {
    let mut d2 = crate::nn::matmul::matmul_rowwise(q, reference.t());
    for (mut row, &qn) in d2.axis_iter_mut(Axis(0)).zip(q_sq) {
        for (v, &rn) in row.iter_mut().zip(r_sq.iter()) {
            *v = (qn + rn - 2.0 * *v).max(0.0);
        }
    }
    d2
}

/// Calls `on_block(first_row, d2)` with the squared distances of each block of at most
/// [`BLOCK`] query rows to all reference rows.
pub fn sq_dist_blocks(
    query: ArrayView2<f32>,
    reference: ArrayView2<f32>,
    on_block: &mut dyn FnMut(usize, &Array2<f32>),
) {
    let r_sq = row_sq_norms(reference);
    let q_sq = row_sq_norms(query);
    let mut start = 0;
    while start < query.nrows() {
        let end = (start + BLOCK).min(query.nrows());
        let q_sq_block = q_sq.slice(s![start..end]).to_vec();
        let d2 = sq_dist_block(
            query.slice(s![start..end, ..]),
            &q_sq_block,
            reference,
            &r_sq,
        );
        on_block(start, &d2);
        start = end;
    }
}

/// Finds the `k` nearest reference rows of every query row. With `exclude_self` the query
/// set is the reference set and row `i` is not its own neighbour (scikit-learn's
/// `kneighbors()` without `X`, which PyOD's training scores use). `on_block(first_row, d2)`
/// sees each block of squared distances before it is dropped.
pub fn search(
    query: ArrayView2<f32>,
    reference: ArrayView2<f32>,
    k: usize,
    exclude_self: bool,
    on_block: &mut dyn FnMut(usize, &Array2<f32>),
) -> Neighbors {
    let nq = query.nrows();
    let mut dist = Array2::zeros((nq, k));
    let mut idx = Array2::zeros((nq, k));
    let mut cand: Vec<(f32, u32)> = Vec::with_capacity(reference.nrows());
    let order = |a: &(f32, u32), b: &(f32, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
    sq_dist_blocks(query, reference, &mut |start, d2| {
        for (bi, row) in d2.axis_iter(Axis(0)).enumerate() {
            let i = start + bi;
            cand.clear();
            cand.extend(
                row.iter()
                    .enumerate()
                    .filter(|(j, _)| !(exclude_self && *j == i))
                    .map(|(j, &v)| (v, j as u32)),
            );
            let kk = k.min(cand.len());
            if kk < cand.len() {
                cand.select_nth_unstable_by(kk, order);
            }
            cand[..kk].sort_unstable_by(order);
            for (j, &(v, r)) in cand[..kk].iter().enumerate() {
                dist[[i, j]] = v.sqrt();
                idx[[i, j]] = r;
            }
        }
        on_block(start, d2);
    });
    Neighbors { dist, idx }
}

/// KNN (`method='largest'`): the distance to the `k`-th neighbour (1-based `k`).
pub fn knn_scores(nb: &Neighbors, k: usize) -> Array1<f32> {
    nb.dist.column(k - 1).to_owned()
}

/// scikit-learn's local reachability density of each query row from its first `k`
/// neighbours: `1 / (mean_j max(d(q, o_j), k_dist(o_j)) + 1e-10)`, where `k_dist` holds the
/// training rows' distance to their own `k`-th neighbour.
pub fn lrd(nb: &Neighbors, k: usize, k_dist: &[f32]) -> Array1<f64> {
    Array1::from_shape_fn(nb.dist.nrows(), |i| {
        let sum: f64 = (0..k)
            .map(|j| {
                let o = nb.idx[[i, j]] as usize;
                f64::from(nb.dist[[i, j]].max(k_dist[o]))
            })
            .sum();
        1.0 / (sum / k as f64 + 1e-10)
    })
}

/// LOF of each query row: the mean of its neighbours' `lrd` over its own `lrd` (PyOD's
/// `decision_scores_ = -negative_outlier_factor_`, `decision_function = -score_samples`).
pub fn lof_scores(
    nb: &Neighbors,
    k: usize,
    train_lrd: &[f64],
    query_lrd: &Array1<f64>,
) -> Array1<f32> {
    Array1::from_shape_fn(nb.dist.nrows(), |i| {
        let sum: f64 = (0..k).map(|j| train_lrd[nb.idx[[i, j]] as usize]).sum();
        (sum / k as f64 / query_lrd[i]) as f32
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn search_matches_brute_force_and_excludes_self() {
        let x = array![[0.0f32, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 4.0]];
        let nb = search(x.view(), x.view(), 2, true, &mut |_, _| {});
        assert_eq!(nb.idx.row(0).to_vec(), vec![1, 2]);
        assert_eq!(nb.idx.row(3).to_vec(), vec![2, 1]);
        assert!((nb.dist[[3, 0]] - 13f32.sqrt()).abs() < 1e-5);
        let nb = search(x.view(), x.view(), 1, false, &mut |_, _| {});
        assert!(nb.dist.iter().all(|&d| d == 0.0));
    }
}
