//! WSAD-DT's loss on the 128-d latents: the dual-tailed kernel posterior of each row's own
//! centre (its `L_N` on unlabeled rows and `L_A` on labeled anomalies, per row, reduced by
//! [`crate::train::Reduction::ClassMeans`]), the diversity regulariser within each class
//! (`K_uu` on unlabeled latents, `K_aa` on anomaly latents), and the score.
//!
//! With `dn = ||z − c_n||²`, `da = ||z − c_a||²` and the heavy tail
//! `H(t) = (1 + t/α)^(−(α+1)/2)`: an unlabeled row has `S_n = exp(−dn/0.5)`, `S_a = H(da)`; a
//! labeled anomaly `S_n = H(dn)`, `S_a = exp(−da)` (its own centre through a light tail, the
//! other through the heavy one). `q_n = S_n/(S_n + S_a + ε)`, `q_a = S_a/(S_n + S_a + ε)`,
//! each clamped to `[ε, 1 − ε]` (no gradient where clamped, as torch's `clamp`). Per row:
//! `l_u = −log q_n − log(1 − q_a)`, `l_a = −log q_a − log(1 − q_n)`.

use ndarray::{Array1, ArrayView1, ArrayViewMut1};

use crate::nn::Matrix;
use crate::train::{Item, SsadLoss};

/// Temperature of the light-tailed kernel of an unlabeled row's own (normal) centre:
/// `exp(−dn/0.5)` (the authors' `lightt_tail_n`).
const LIGHT_NORMAL: f32 = 0.5;
/// Temperature of a labeled anomaly's own (anomaly) centre: `exp(−da)`.
const LIGHT_ANOMALY: f32 = 1.0;
/// Distance below which two latents of the regulariser are duplicates (the authors'
/// `cdist < 1e-6`).
const DUPLICATE: f32 = 1e-6;

/// The heavy-tailed kernel `(1 + t/α)^(−(α+1)/2)` and its derivative in `t`.
fn heavy(t: f32, alpha: f32) -> (f32, f32) {
    let p = (alpha + 1.0) / 2.0;
    let base = 1.0 + t / alpha;
    let v = base.powf(-p);
    (v, -p / alpha * v / base)
}

/// The light-tailed kernel `exp(−t/τ)` and its derivative in `t`.
fn light(t: f32, tau: f32) -> (f32, f32) {
    let v = (-t / tau).exp();
    (v, -v / tau)
}

/// `x` clamped to `[lo, hi]` and whether the gradient passes (torch: `lo <= x <= hi`).
fn clamp(x: f32, lo: f32, hi: f32) -> (f32, bool) {
    (x.clamp(lo, hi), (lo..=hi).contains(&x))
}

/// Squared distance of `z` to `c`.
pub(crate) fn sq_dist(z: ArrayView1<f32>, c: &Array1<f32>) -> f32 {
    z.iter().zip(c.iter()).map(|(a, b)| (a - b) * (a - b)).sum()
}

/// The per-row terms of WSAD-DT's loss against the fixed centres of one member.
#[derive(Clone, Debug)]
pub struct WsadDtLoss {
    pub c_n: Array1<f32>,
    pub c_a: Array1<f32>,
    /// The heavy tail's α (the authors' 0.2).
    pub alpha: f32,
    /// ε of the posterior's denominator and clamps (the authors' 1e-6).
    pub eps: f32,
}

impl WsadDtLoss {
    /// The loss of one row (`anomaly`: a labeled anomaly) and its gradient in `z`.
    pub fn row(&self, z: ArrayView1<f32>, anomaly: bool, mut grad: ArrayViewMut1<f32>) -> f32 {
        let (eps, alpha) = (self.eps, self.alpha);
        let dn = sq_dist(z, &self.c_n);
        let da = sq_dist(z, &self.c_a);
        let ((sn, dsn), (sa, dsa)) = if anomaly {
            (heavy(dn, alpha), light(da, LIGHT_ANOMALY))
        } else {
            (light(dn, LIGHT_NORMAL), heavy(da, alpha))
        };
        let den = sn + sa + eps;
        let (qn, pass_n) = clamp(sn / den, eps, 1.0 - eps);
        let (qa, pass_a) = clamp(sa / den, eps, 1.0 - eps);
        // dl/dq_n, dl/dq_a of l_u = −log q_n − log(1 − q_a) or l_a = −log q_a − log(1 − q_n).
        let (value, gqn, gqa) = if anomaly {
            (-qa.ln() - (1.0 - qn).ln(), 1.0 / (1.0 - qn), -1.0 / qa)
        } else {
            (-qn.ln() - (1.0 - qa).ln(), -1.0 / qn, 1.0 / (1.0 - qa))
        };
        let gqn = if pass_n { gqn } else { 0.0 };
        let gqa = if pass_a { gqa } else { 0.0 };
        // q_n = S_n/D and q_a = S_a/D with D = S_n + S_a + ε.
        let d2 = den * den;
        let gsn = (gqn * (sa + eps) - gqa * sa) / d2;
        let gsa = (gqa * (sn + eps) - gqn * sn) / d2;
        // dd/dz = 2(z − c).
        let (kn, ka) = (2.0 * gsn * dsn, 2.0 * gsa * dsa);
        for (((g, &v), &cn), &ca) in grad
            .iter_mut()
            .zip(z.iter())
            .zip(self.c_n.iter())
            .zip(self.c_a.iter())
        {
            *g = kn * (v - cn) + ka * (v - ca);
        }
        value
    }

    /// The anomaly score of one latent: `1 − p_n/(p_n + p_a + ε)` with the heavy tail for
    /// both centres (the authors' scoring, unlike training).
    pub fn score(&self, z: ArrayView1<f32>) -> f32 {
        let p_n = heavy(sq_dist(z, &self.c_n), self.alpha).0;
        let p_a = heavy(sq_dist(z, &self.c_a), self.alpha).0;
        1.0 - p_n / (p_n + p_a + self.eps)
    }
}

impl SsadLoss for WsadDtLoss {
    fn normal(&self, _: Item, out: ArrayView1<f32>, grad: ArrayViewMut1<f32>) -> f32 {
        self.row(out, false, grad)
    }

    fn anomaly(&self, _: Item, out: ArrayView1<f32>, grad: ArrayViewMut1<f32>) -> f32 {
        self.row(out, true, grad)
    }
}

/// The diversity regulariser of one class: the mean of the Gaussian kernel
/// `exp(−||z_i − z_j||²/(2σ²))` over the ordered pairs of `positions` (rows of `z`) that are
/// not duplicates (the same training row, `rows[i] == rows[j]`, or latents closer than
/// 1e-6); its gradient times `weight` is added into `grad`. 0 without such a pair.
pub fn diversity(
    z: &Matrix,
    positions: &[usize],
    rows: &[u32],
    sigma: f32,
    weight: f32,
    grad: &mut Matrix,
) -> f32 {
    let inv = 1.0 / (2.0 * sigma * sigma);
    let mut pairs: Vec<(usize, usize, f32)> = Vec::new();
    for (a, &i) in positions.iter().enumerate() {
        for &j in &positions[a + 1..] {
            if rows[i] == rows[j] {
                continue;
            }
            let d2: f32 = z
                .row(i)
                .iter()
                .zip(z.row(j).iter())
                .map(|(p, q)| (p - q) * (p - q))
                .sum();
            if d2.sqrt() < DUPLICATE {
                continue;
            }
            pairs.push((i, j, (-d2 * inv).exp()));
        }
    }
    if pairs.is_empty() {
        return 0.0;
    }
    // Each unordered pair stands for (i, j) and (j, i).
    let count = 2.0 * pairs.len() as f32;
    let sum: f32 = pairs.iter().map(|&(_, _, k)| 2.0 * k).sum();
    if weight != 0.0 {
        // d/dz_i of 2k/count, k = exp(−||z_i − z_j||² inv): −(4 inv / count) k (z_i − z_j).
        let c = weight * 4.0 * inv / count;
        let width = z.ncols();
        for &(i, j, k) in &pairs {
            for col in 0..width {
                let g = c * k * (z[[i, col]] - z[[j, col]]);
                grad[[i, col]] -= g;
                grad[[j, col]] += g;
            }
        }
    }
    sum / count
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    fn loss() -> WsadDtLoss {
        WsadDtLoss {
            c_n: array![0.1f32, -0.3, 0.2],
            c_a: array![-0.4f32, 0.5, 0.1],
            alpha: 0.2,
            eps: 1e-6,
        }
    }

    /// Central differences in f64 of the f32 loss.
    fn fd_row(l: &WsadDtLoss, z: &Array1<f32>, anomaly: bool) {
        let mut g = Array1::zeros(z.len());
        l.row(z.view(), anomaly, g.view_mut());
        for j in 0..z.len() {
            let h = 1e-3f32;
            let mut p = z.clone();
            p[j] += h;
            let mut m = z.clone();
            m[j] -= h;
            let mut scratch = Array1::zeros(z.len());
            let fp = f64::from(l.row(p.view(), anomaly, scratch.view_mut()));
            let fm = f64::from(l.row(m.view(), anomaly, scratch.view_mut()));
            let fd = (fp - fm) / (2.0 * f64::from(h));
            assert!(
                (fd - f64::from(g[j])).abs() < 1e-2 * (1.0 + fd.abs()),
                "anomaly={anomaly} z={z} coord {j}: fd {fd} vs {}",
                g[j]
            );
        }
    }

    #[test]
    fn row_loss_gradients_match_finite_differences() {
        let l = loss();
        for z in [
            array![0.0f32, 0.1, 0.0],
            array![0.3f32, -0.1, 0.4],
            array![-0.5f32, 0.2, -0.2],
            array![-0.2f32, 0.3, 0.15],
        ] {
            fd_row(&l, &z, false);
            fd_row(&l, &z, true);
        }
    }

    #[test]
    fn row_loss_values_by_hand() {
        // z at c_n: dn = 0, da = 0.25 + 0.64 + 0.01 = 0.9. Unlabeled: S_n = 1,
        // S_a = (1 + 4.5)^-0.6.
        let l = loss();
        let z = l.c_n.clone();
        let sa = 5.5f64.powf(-0.6);
        let d = 1.0 + sa + 1e-6;
        let want = -(1.0 / d).ln() - (1.0 - sa / d).ln();
        let mut g = Array1::zeros(3);
        let got = l.row(z.view(), false, g.view_mut());
        assert!((f64::from(got) - want).abs() < 1e-5, "{got} vs {want}");
        // A labeled anomaly there: S_n = H(0) = 1, S_a = exp(-0.9).
        let sa = (-0.9f64).exp();
        let d = 1.0 + sa + 1e-6;
        let want = -(sa / d).ln() - (1.0 - 1.0 / d).ln();
        let got = l.row(z.view(), true, g.view_mut());
        assert!((f64::from(got) - want).abs() < 1e-4, "{got} vs {want}");
    }

    #[test]
    fn clamped_posterior_passes_no_gradient() {
        // Far from both centres an unlabeled row's S_n = exp(−2 dn) underflows: q_n = 0 is
        // clamped to ε, and −log q_n contributes its value without gradient.
        let l = loss();
        let z = array![40.0f32, 40.0, 40.0];
        let mut g = Array1::zeros(3);
        let v = l.row(z.view(), false, g.view_mut());
        assert!(v >= -(1e-6f32).ln() - 1e-3, "{v}");
        assert!(g.iter().all(|x| x.is_finite()));
        fd_row(&l, &array![1.5f32, 1.0, 1.2], false);
    }

    #[test]
    fn score_is_higher_near_the_anomaly_centre() {
        let l = loss();
        let s_n = l.score(l.c_n.view());
        let s_a = l.score(l.c_a.view());
        assert!(s_a > 0.5 && s_n < 0.5, "{s_n} {s_a}");
    }

    #[test]
    fn diversity_gradient_matches_finite_differences() {
        let z = array![
            [0.1f32, 0.2, -0.1],
            [0.15, 0.1, 0.0],
            [0.1, 0.2, -0.1],
            [-0.05, 0.25, 0.05],
            [0.3, -0.2, 0.1]
        ];
        // Positions 0 and 2 are the same training row: a duplicate pair.
        let rows = [7u32, 3, 7, 9, 4];
        let positions = [0usize, 1, 2, 3];
        for sigma in [0.1f32, 1.0] {
            let mut g = Array2::zeros(z.raw_dim());
            let v = diversity(&z, &positions, &rows, sigma, 0.5, &mut g);
            assert!(v > 0.0);
            // Row 4 is not among the positions: no gradient.
            assert!(g.row(4).iter().all(|&x| x == 0.0));
            for i in [1usize, 3] {
                for c in 0..3 {
                    let h = 1e-3f32;
                    let mut scratch = Array2::zeros(z.raw_dim());
                    let mut p = z.clone();
                    p[[i, c]] += h;
                    let mut m = z.clone();
                    m[[i, c]] -= h;
                    let fp = diversity(&p, &positions, &rows, sigma, 0.5, &mut scratch);
                    let fm = diversity(&m, &positions, &rows, sigma, 0.5, &mut scratch);
                    let fd = 0.5 * f64::from(fp - fm) / (2.0 * f64::from(h));
                    let a = f64::from(g[[i, c]]);
                    assert!(
                        (fd - a).abs() < 2e-2 * (1e-3 + fd.abs().max(a.abs())),
                        "sigma {sigma} row {i} col {c}: fd {fd} vs {a}"
                    );
                }
            }
        }
    }

    #[test]
    fn diversity_mean_over_non_duplicate_ordered_pairs() {
        // Three points, two of them the same row: one valid unordered pair (0, 1),
        // at squared distance 0.25 → mean exp(−0.25/2) with σ = 1.
        let z = array![[0.0f32, 0.0], [0.3, 0.4], [0.0, 0.0]];
        let rows = [1u32, 2, 1];
        let mut g = Array2::zeros(z.raw_dim());
        let v = diversity(&z, &[0, 1, 2], &rows, 1.0, 1.0, &mut g);
        // Pairs (0,1), (1,2) are valid (rows differ), (0,2) duplicate: mean of equal terms.
        assert!((v - (-0.125f32).exp()).abs() < 1e-6, "{v}");
        // Identical latents from different rows are duplicates too; one point: no pair.
        let z = array![[0.5f32, 0.5], [0.5, 0.5]];
        assert_eq!(diversity(&z, &[0, 1], &[1, 2], 1.0, 1.0, &mut g), 0.0);
        assert_eq!(diversity(&z, &[0], &[1, 2], 1.0, 1.0, &mut g), 0.0);
    }
}
