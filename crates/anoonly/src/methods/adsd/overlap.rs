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

use std::cell::RefCell;
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

/// The Gaussian kernel of every score at every grid point, `z = (s_j − x_k)/bw` and `φ(z)`,
/// row-major by grid point. A step needs them twice (the densities, then the area and its
/// gradient); computed once here, the exponentials (most of an ADSD step at 1 thread) are
/// not repeated, and every later sum reads the same values in the same order as a
/// recomputation would, so the results are the same bit for bit.
struct Kernel {
    n: usize,
    g: usize,
    bw: f64,
    z: Vec<f64>,
    phi: Vec<f64>,
}

thread_local! {
    /// The buffers of this thread's dropped kernels, for the next step's: a step's kernels
    /// hold megabytes (1000 grid points x 128 scores x 2 x 8 bytes each), and blocks that
    /// large, allocated afresh every step, cost page faults (the allocator maps and unmaps
    /// them).
    static SPARE: RefCell<Vec<Vec<f64>>> = const { RefCell::new(Vec::new()) };
}

fn spare() -> Vec<f64> {
    SPARE.with(|s| s.borrow_mut().pop()).unwrap_or_default()
}

impl Drop for Kernel {
    fn drop(&mut self) {
        SPARE.with(|s| {
            let mut s = s.borrow_mut();
            for mut v in [std::mem::take(&mut self.z), std::mem::take(&mut self.phi)] {
                if s.len() < 4 {
                    v.clear();
                    s.push(v);
                }
            }
        });
    }
}

impl Kernel {
    fn new(scores: &[f32], bw: f64, x: &[f32]) -> Kernel {
        let n = scores.len();
        let (mut z, mut p) = (spare(), spare());
        let s64: Vec<f64> = scores.iter().map(|&s| f64::from(s)).collect();
        // The standard normal density φ(z) = exp(-z²/2) / sqrt(2π) of z = (s - x)/bw in three
        // passes per grid point (each element through the same operations in the same
        // order): the divisions vectorise, the exponentials are libm's calls.
        let sqrt_2pi = (2.0 * PI).sqrt();
        for &xk in x {
            let xk = f64::from(xk);
            let at = z.len();
            z.extend(s64.iter().map(|&sj| (sj - xk) / bw));
            p.extend(z[at..].iter().map(|&zj| (-0.5 * zj * zj).exp()));
            for pj in &mut p[at..] {
                *pj /= sqrt_2pi;
            }
        }
        Kernel {
            n,
            g: x.len(),
            bw,
            z,
            phi: p,
        }
    }

    /// The KDE at every grid point, the floor included.
    fn density(&self) -> Vec<f64> {
        if self.n == 0 {
            return vec![KDE_FLOOR; self.g];
        }
        let n = self.n as f64;
        self.phi
            .chunks(self.n)
            .map(|row| row.iter().sum::<f64>() / (n * self.bw) + KDE_FLOOR)
            .collect()
    }

    /// `Σ_k w_k f(x_k)` and its gradient with respect to the scores: per score `j`, the
    /// terms of the grid points with `w_k ≠ 0` added in grid order.
    fn weighted(&self, w: &[f64]) -> (f64, Vec<f32>) {
        let nf = self.n.max(1) as f64;
        let mut v = vec![0.0f64; self.n];
        let mut d = vec![0.0f64; self.n];
        for (k, &wk) in w.iter().enumerate() {
            if wk == 0.0 {
                continue;
            }
            let row = k * self.n..(k + 1) * self.n;
            for (((vj, dj), &z), &p) in v
                .iter_mut()
                .zip(d.iter_mut())
                .zip(&self.z[row.clone()])
                .zip(&self.phi[row])
            {
                *vj += wk * p;
                *dj -= wk * z * p;
            }
        }
        let mut value = 0.0f64;
        for &vj in &v {
            value += vj / (nf * self.bw);
        }
        let grad = d
            .iter()
            .map(|&dj| (dj / (nf * self.bw * self.bw)) as f32)
            .collect();
        let floor: f64 = w.iter().sum::<f64>() * KDE_FLOOR;
        (value + floor, grad)
    }
}

/// The KDE of `scores` with bandwidth `bw` at every grid point, the floor included.
pub fn kde(scores: &[f32], bw: f64, x: &[f32]) -> Vec<f64> {
    Kernel::new(scores, bw, x).density()
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
    let (ku, ka) = (Kernel::new(s_u, bw.0, x), Kernel::new(s_a, bw.1, x));
    area(&ku, &ka, x, cut)
}

fn area(ku: &Kernel, ka: &Kernel, x: &[f32], cut: Option<usize>) -> (f64, Vec<f32>, Vec<f32>) {
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
    let (value_u, grad_u) = ku.weighted(&w_u);
    let (value_a, grad_a) = ka.weighted(&w_a);
    (value_u + value_a, grad_u, grad_a)
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
    let (ku, ka) = (Kernel::new(s_u, bw.0, &x), Kernel::new(s_a, bw.1, &x));
    let cuts = intersections(&ku.density(), &ka.density());
    let cut = (!cuts.is_empty()).then(|| cuts[choose(cuts.len()).min(cuts.len() - 1)]);
    let (value, grad_u, grad_a) = area(&ku, &ka, &x, cut);
    Overlap {
        value,
        grad_u,
        grad_a,
        intersections: cuts.len(),
    }
}
