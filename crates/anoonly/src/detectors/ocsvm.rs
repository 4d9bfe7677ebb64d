//! One-class ν-SVM (Schölkopf et al. 2001) solved as libsvm does for scikit-learn's
//! `OneClassSVM`: the dual `min ½ αᵀQα` s.t. `0 ≤ α_i ≤ 1`, `Σα = ν·n`, by SMO with
//! second-order working-set selection (Fan, Chen & Lin 2005), stopping at `tol = 1e-3`,
//! starting from libsvm's `α = (1, …, 1, frac, 0, …)`; `ρ` from the free α's gradients.
//! The decision value is `Σ α_i K(x_i, x) − ρ`; PyOD's score is its negative.
//!
//! Why one kernel matrix: the eleven ν of XGBOD's grid share the same `Q`, which the caller
//! computes once from the shared squared distances (`K = exp(−γ d²)`, γ = 1/n_features,
//! scikit-learn's `gamma='auto'`). libsvm computes kernel rows on demand and caches them as
//! f32; keeping the whole f32 matrix is the same arithmetic. Departure: no shrinking (it only
//! changes speed).

use ndarray::{Array1, Array2};

/// libsvm's tolerance as scikit-learn passes it.
pub const TOL: f64 = 1e-3;
/// libsvm's `TAU` for non-positive curvature.
const TAU: f64 = 1e-12;

/// The solution for one ν: dual coefficients (one per training row) and `ρ`.
#[derive(Clone, Debug, PartialEq)]
pub struct OcsvmSolution {
    pub alpha: Array1<f64>,
    pub rho: f64,
    pub iterations: usize,
}

/// Solves the one-class dual for `nu` on the kernel matrix `q` (`n × n`, symmetric).
pub fn solve(q: &Array2<f32>, nu: f64) -> OcsvmSolution {
    let n = q.nrows();
    let mut alpha = Array1::<f64>::zeros(n);
    // libsvm solve_one_class: the first floor(ν n) at the bound, the next one fractional.
    let total = nu * n as f64;
    let full = (total as usize).min(n);
    for a in alpha.iter_mut().take(full) {
        *a = 1.0;
    }
    if full < n {
        alpha[full] = total - full as f64;
    }
    // Gradient G = Q α (p = 0, all y = +1).
    let mut g = Array1::<f64>::zeros(n);
    for (j, &a) in alpha.iter().enumerate() {
        if a != 0.0 {
            for (gi, &qv) in g.iter_mut().zip(q.row(j).iter()) {
                *gi += a * f64::from(qv);
            }
        }
    }
    let max_iter = (100 * n).max(10_000_000);
    let mut iterations = 0;
    while iterations < max_iter {
        // Working set: i maximises −G over α < 1, j minimises the second-order objective
        // over α > 0 among those violating the KKT pair condition.
        let mut gmax = f64::NEG_INFINITY;
        let mut i_sel = usize::MAX;
        for t in 0..n {
            if alpha[t] < 1.0 && -g[t] >= gmax {
                gmax = -g[t];
                i_sel = t;
            }
        }
        let mut gmax2 = f64::NEG_INFINITY;
        let mut j_sel = usize::MAX;
        let mut obj_min = f64::INFINITY;
        for t in 0..n {
            if alpha[t] > 0.0 {
                gmax2 = gmax2.max(g[t]);
                let grad_diff = gmax + g[t];
                if i_sel != usize::MAX && grad_diff > 0.0 {
                    let quad = f64::from(q[[i_sel, i_sel]]) + f64::from(q[[t, t]])
                        - 2.0 * f64::from(q[[i_sel, t]]);
                    let obj = -(grad_diff * grad_diff) / if quad > 0.0 { quad } else { TAU };
                    if obj <= obj_min {
                        obj_min = obj;
                        j_sel = t;
                    }
                }
            }
        }
        if gmax + gmax2 < TOL || i_sel == usize::MAX || j_sel == usize::MAX {
            break;
        }
        iterations += 1;
        let (i, j) = (i_sel, j_sel);
        let (old_i, old_j) = (alpha[i], alpha[j]);
        let mut quad = f64::from(q[[i, i]]) + f64::from(q[[j, j]]) - 2.0 * f64::from(q[[i, j]]);
        if quad <= 0.0 {
            quad = TAU;
        }
        let delta = (g[i] - g[j]) / quad;
        let sum = old_i + old_j;
        let (mut ai, mut aj) = (old_i - delta, old_j + delta);
        if sum > 1.0 {
            if ai > 1.0 {
                ai = 1.0;
                aj = sum - 1.0;
            }
            if aj > 1.0 {
                aj = 1.0;
                ai = sum - 1.0;
            }
        } else {
            if aj < 0.0 {
                aj = 0.0;
                ai = sum;
            }
            if ai < 0.0 {
                ai = 0.0;
                aj = sum;
            }
        }
        alpha[i] = ai;
        alpha[j] = aj;
        let (di, dj) = (ai - old_i, aj - old_j);
        for ((gk, &qi), &qj) in g.iter_mut().zip(q.row(i).iter()).zip(q.row(j).iter()) {
            *gk += f64::from(qi) * di + f64::from(qj) * dj;
        }
    }
    // libsvm calculate_rho (y = +1): the mean gradient over free α, else the midpoint.
    let (mut ub, mut lb, mut free_sum, mut n_free) =
        (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0usize);
    for t in 0..n {
        if alpha[t] >= 1.0 {
            lb = lb.max(g[t]);
        } else if alpha[t] <= 0.0 {
            ub = ub.min(g[t]);
        } else {
            free_sum += g[t];
            n_free += 1;
        }
    }
    let rho = if n_free > 0 {
        free_sum / n_free as f64
    } else {
        (ub + lb) / 2.0
    };
    OcsvmSolution {
        alpha,
        rho,
        iterations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_points_split_the_mass_evenly() {
        // Symmetric pair: α = (ν, ν) by symmetry; both free, ρ = G = ν (1 + k).
        let k = 0.3f32;
        let q = Array2::from_shape_vec((2, 2), vec![1.0, k, k, 1.0]).unwrap();
        let s = solve(&q, 0.5);
        assert!((s.alpha[0] - 0.5).abs() < 1e-9 && (s.alpha[1] - 0.5).abs() < 1e-9);
        assert!((s.rho - 0.5 * (1.0 + f64::from(k))).abs() < 1e-6);
    }
}
