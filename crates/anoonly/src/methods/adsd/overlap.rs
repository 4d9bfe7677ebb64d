//! ADSD's loss: the overlap of the Gaussian kernel density estimates of the unlabeled and the
//! anomaly scores of a batch (`loss_overlap(..., pro=True)` of `baseline/ADSD/fit.py`), with
//! its gradient with respect to every score (tests/adsd.rs checks it against finite
//! differences).
//!
//! On a grid of `G` points spanning the scores widened by a fifth of their range on each side
//! (detached: no gradient through the grid), `f_u` and `f_a` are the KDEs
//! `f(x) = (1/n) Σ_j φ((s_j − x)/bw)/bw + 1e-4`. Where their difference changes sign between
//! two grid points there is an intersection; one of them, `c = x_k*`, is chosen at random and
//! the loss is the unlabeled density right of `c` plus the anomaly density left of it,
//! `trapz(f_u[x > c]) + trapz(f_a[x < c])`: it pushes the anomaly scores above the unlabeled
//! ones. Without an intersection the loss is `(trapz(f_u) + trapz(f_a))/2`.

use std::f64::consts::PI;

/// The constant the authors' KDE adds to every density (`GaussianKDE(lam=1e-4)`).
pub const KDE_FLOOR: f64 = 1e-4;

/// `torch.linspace(lo, hi, n)` in float32 (CPU kernel: the first half counted up from `lo`,
/// the second down from `hi`).
pub fn linspace(lo: f32, hi: f32, n: usize) -> Vec<f32> {
    if n == 1 {
        return vec![lo];
    }
    let step = (hi - lo) / (n - 1) as f32;
    let half = n / 2;
    (0..n)
        .map(|i| {
            if i < half {
                lo + step * i as f32
            } else {
                hi - step * (n - i - 1) as f32
            }
        })
        .collect()
}

/// The grid of a batch: `G` points from `min − 0.2 r` to `max + 0.2 r`, `r = max − min`, over
/// both score sets (float32, as the authors').
pub fn grid(s_u: &[f32], s_a: &[f32], points: usize) -> Vec<f32> {
    let all = s_u.iter().chain(s_a);
    let lo = all.clone().copied().fold(f32::INFINITY, f32::min);
    let hi = all.copied().fold(f32::NEG_INFINITY, f32::max);
    let dx = 0.2 * (hi - lo);
    linspace(lo - dx, hi + dx, points)
}

fn phi(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (2.0 * PI).sqrt()
}

/// The KDE of `scores` with bandwidth `bw` at every grid point, the floor included.
pub fn kde(scores: &[f32], bw: f64, x: &[f32]) -> Vec<f64> {
    let n = scores.len().max(1) as f64;
    x.iter()
        .map(|&xk| {
            let sum: f64 = scores
                .iter()
                .map(|&s| phi((f64::from(s) - f64::from(xk)) / bw))
                .sum();
            sum / (n * bw) + KDE_FLOOR
        })
        .collect()
}

/// The grid indices `k` where `sign(f_a − f_u)` differs between `x_k` and `x_{k+1}`
/// (`torch.where(torch.diff(torch.sign(...)))`).
pub fn intersections(f_u: &[f64], f_a: &[f64]) -> Vec<usize> {
    let sign = |k: usize| {
        let d = f_a[k] - f_u[k];
        (d > 0.0) as i8 - (d < 0.0) as i8
    };
    (0..f_u.len().saturating_sub(1))
        .filter(|&k| sign(k) != sign(k + 1))
        .collect()
}

/// Trapezoid weights of `trapz(f[K], x[K])` for the contiguous index range `K = lo..hi`:
/// `w_k = (x_{k+1} − x_{k−1})/2` inside, half an interval at the ends (0 for fewer than two
/// points), so that `trapz = Σ_k w_k f_k`.
fn trapz_weights(x: &[f32], lo: usize, hi: usize, scale: f64, w: &mut [f64]) {
    for k in lo..hi.saturating_sub(1) {
        let h = 0.5 * (f64::from(x[k + 1]) - f64::from(x[k])) * scale;
        w[k] += h;
        w[k + 1] += h;
    }
}

/// The loss of a batch with the cut chosen, and its gradients.
#[derive(Clone, Debug, PartialEq)]
pub struct Overlap {
    pub value: f64,
    /// d loss / d s_u, per unlabeled score.
    pub grad_u: Vec<f32>,
    /// d loss / d s_a, per anomaly score.
    pub grad_a: Vec<f32>,
    /// How many intersections the two densities had on the grid (0: the no-intersection loss).
    pub intersections: usize,
}

/// The loss on a fixed grid `x` with the cut at grid index `cut` (`None`: no intersection),
/// and its gradient with holding the grid and the cut fixed (as the authors' detached grid
/// and index do): for an unlabeled score,
/// `d/ds_j = Σ_{k ∈ U} w_k (1/n_u) φ'((s_j − x_k)/bw_u)/bw_u²`, `φ'(z) = −z φ(z)`, with `w_k`
/// the trapezoid weights of `U = {k : x_k > c}`; anomaly scores likewise over
/// `{k : x_k < c}`.
pub fn area_at(
    s_u: &[f32],
    s_a: &[f32],
    bw: (f64, f64),
    x: &[f32],
    cut: Option<usize>,
) -> (f64, Vec<f32>, Vec<f32>) {
    let g = x.len();
    let mut w_u = vec![0.0f64; g];
    let mut w_a = vec![0.0f64; g];
    match cut {
        Some(k) => {
            let c = x[k];
            // x is non-decreasing: {x > c} and {x < c} are index ranges.
            let above = x.iter().position(|&v| v > c).unwrap_or(g);
            let below = x.iter().position(|&v| v >= c).unwrap_or(g);
            trapz_weights(x, above, g, 1.0, &mut w_u);
            trapz_weights(x, 0, below, 1.0, &mut w_a);
        }
        None => {
            trapz_weights(x, 0, g, 0.5, &mut w_u);
            trapz_weights(x, 0, g, 0.5, &mut w_a);
        }
    }
    let (value_u, grad_u) = weighted_kde(s_u, bw.0, x, &w_u);
    let (value_a, grad_a) = weighted_kde(s_a, bw.1, x, &w_a);
    (value_u + value_a, grad_u, grad_a)
}

/// `Σ_k w_k f(x_k)` for the KDE `f` of `scores` and its gradient with respect to the scores.
fn weighted_kde(scores: &[f32], bw: f64, x: &[f32], w: &[f64]) -> (f64, Vec<f32>) {
    let n = scores.len().max(1) as f64;
    let mut value = 0.0f64;
    let mut grad = vec![0.0f32; scores.len()];
    let active: Vec<usize> = (0..x.len()).filter(|&k| w[k] != 0.0).collect();
    for (j, &s) in scores.iter().enumerate() {
        let mut v = 0.0f64;
        let mut d = 0.0f64;
        for &k in &active {
            let z = (f64::from(s) - f64::from(x[k])) / bw;
            let p = phi(z);
            v += w[k] * p;
            d -= w[k] * z * p;
        }
        value += v / (n * bw);
        grad[j] = (d / (n * bw * bw)) as f32;
    }
    let floor: f64 = w.iter().sum::<f64>() * KDE_FLOOR;
    (value + floor, grad)
}

/// The loss of a batch: the grid, the densities, the intersections, the cut chosen by
/// `choose(number of intersections)` (an index below it), the area and its gradients.
pub fn overlap(
    s_u: &[f32],
    s_a: &[f32],
    bw: (f64, f64),
    points: usize,
    choose: impl FnOnce(usize) -> usize,
) -> Overlap {
    let x = grid(s_u, s_a, points);
    let f_u = kde(s_u, bw.0, &x);
    let f_a = kde(s_a, bw.1, &x);
    let cuts = intersections(&f_u, &f_a);
    let cut = (!cuts.is_empty()).then(|| cuts[choose(cuts.len()).min(cuts.len() - 1)]);
    let (value, grad_u, grad_a) = area_at(s_u, s_a, bw, &x, cut);
    Overlap {
        value,
        grad_u,
        grad_a,
        intersections: cuts.len(),
    }
}
