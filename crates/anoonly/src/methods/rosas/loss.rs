//! RoSAS's loss terms, each with its gradient (tests/rosas.rs checks every one against finite
//! differences): the triplet-margin loss on the embeddings, the norm of the summed
//! embeddings, the per-row mixup score loss (an [`SsadLoss`], so the training core's
//! [`combine`](crate::train::combine) weighs its `L_N` and `L_A` rows) and the authors'
//! adaptive weighting of the two losses.

use ndarray::{Array2, ArrayView1, ArrayView2, ArrayViewMut1};
use serde::{Deserialize, Serialize};

use crate::train::{Item, SsadLoss};

/// torch `TripletMarginLoss(p=2, eps=1e-6)`: `eps` is added to the difference before its norm.
pub const TRIPLET_EPS: f32 = 1e-6;

/// The triplet term of a batch: `mean_i max(0, w·d(A_i, P_i) − d(A_i, N_i) + margin)` with
/// `d(u, v) = ‖u − v + 1e-6‖₂` and the rows of `emb` stacked as `[A; P; N]` (`b` each). `w`
/// weighs the anchor–positive distance, the term's only part computed from unlabeled rows
/// alone: 1 is torch's `TripletMarginLoss` (the authors' loss); RoSAS's `triplet_la =
/// "anomaly-distance"` sets it to `lambda_n`. Returns the value and its gradient with respect
/// to `emb`. The hinge passes its gradient at 0 as torch's `clamp_min` does (`h >= 0`).
pub fn triplet(emb: ArrayView2<f32>, b: usize, margin: f32, w: f32) -> (f32, Array2<f32>) {
    let mut grad = Array2::<f32>::zeros(emb.raw_dim());
    let mut total = 0.0f64;
    let dim = emb.ncols();
    let mut dp_vec = vec![0.0f32; dim];
    let mut dn_vec = vec![0.0f32; dim];
    for i in 0..b {
        let (a, p, n) = (emb.row(i), emb.row(b + i), emb.row(2 * b + i));
        let mut dp2 = 0.0f32;
        let mut dn2 = 0.0f32;
        for j in 0..dim {
            dp_vec[j] = a[j] - p[j] + TRIPLET_EPS;
            dn_vec[j] = a[j] - n[j] + TRIPLET_EPS;
            dp2 += dp_vec[j] * dp_vec[j];
            dn2 += dn_vec[j] * dn_vec[j];
        }
        let (dp, dn) = (dp2.sqrt(), dn2.sqrt());
        let h = w * dp - dn + margin;
        if h < 0.0 {
            continue;
        }
        total += f64::from(h);
        // d dp/d a = (a − p + eps)/dp, d dp/d p = −(…)/dp; likewise dn (0 at a zero norm,
        // as torch's norm backward).
        let kp = if dp > 0.0 { w / (dp * b as f32) } else { 0.0 };
        let kn = if dn > 0.0 { 1.0 / (dn * b as f32) } else { 0.0 };
        for j in 0..dim {
            let gp = kp * dp_vec[j];
            let gn = kn * dn_vec[j];
            grad[[i, j]] += gp - gn;
            grad[[b + i, j]] -= gp;
            grad[[2 * b + i, j]] += gn;
        }
    }
    ((total / b as f64) as f32, grad)
}

/// The authors' embedding norm `‖A + P + N‖_F` (the Frobenius norm of the *sum* of the three
/// `b × n_emb` blocks of `emb = [A; P; N]`, not a sum of norms) and its gradient (`S/‖S‖` on
/// each block; 0 at `S = 0`, as torch's norm backward).
pub fn sum_norm(emb: ArrayView2<f32>, b: usize) -> (f32, Array2<f32>) {
    let dim = emb.ncols();
    let mut sum = Array2::<f32>::zeros((b, dim));
    for i in 0..b {
        for j in 0..dim {
            sum[[i, j]] = emb[[i, j]] + emb[[b + i, j]] + emb[[2 * b + i, j]];
        }
    }
    let norm = sum
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt() as f32;
    let mut grad = Array2::<f32>::zeros(emb.raw_dim());
    if norm > 0.0 {
        for block in 0..3 {
            for i in 0..b {
                for j in 0..dim {
                    grad[[block * b + i, j]] = sum[[i, j]] / norm;
                }
            }
        }
    }
    (norm, grad)
}

/// torch `SmoothL1Loss(beta=1)` of `z` and its derivative.
pub fn smooth_l1(z: f32) -> (f32, f32) {
    if z.abs() < 1.0 {
        (0.5 * z * z, z)
    } else {
        (z.abs() - 0.5, z.signum())
    }
}

/// The score loss of one mixed row `r̃ = λ x_i + (1 − λ) x_j`:
/// `SL1(s̃ − ỹ) + SL1(s̃ − (λ s_i + (1 − λ) s_j))`, the mixup target `ỹ` in the item's
/// `target` and `λ` in [`MixupScore::lam`] by the item's index. The network output a row
/// sees is `[s̃, s_i, s_j]`, so the gradient reaches all three scores (the authors' `s_mix`
/// is not detached). A row is `L_N` when both of its rows are unlabeled, `L_A` when one of
/// them is a labeled anomaly; the two losses are the same formula.
#[derive(Clone, Debug, Default)]
pub struct MixupScore {
    pub lam: Vec<f32>,
}

impl MixupScore {
    fn row(&self, item: Item, out: ArrayView1<f32>, mut grad: ArrayViewMut1<f32>) -> f32 {
        let lam = self.lam[item.index];
        let (s_t, s_i, s_j) = (out[0], out[1], out[2]);
        let mix = lam * s_i + (1.0 - lam) * s_j;
        let (l_out, g_out) = smooth_l1(s_t - item.target);
        let (l_intra, g_intra) = smooth_l1(s_t - mix);
        grad[0] = g_out + g_intra;
        grad[1] = -g_intra * lam;
        grad[2] = -g_intra * (1.0 - lam);
        l_out + l_intra
    }
}

impl SsadLoss for MixupScore {
    fn normal(&self, item: Item, out: ArrayView1<f32>, grad: ArrayViewMut1<f32>) -> f32 {
        self.row(item, out, grad)
    }

    fn anomaly(&self, item: Item, out: ArrayView1<f32>, grad: ArrayViewMut1<f32>) -> f32 {
        self.row(item, out, grad)
    }
}

/// How the triplet and the score losses are combined.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Weighting {
    /// The authors' (`RoSAS.py`): softmax weights of each loss over its previous-epoch mean
    /// at temperature `T`, **not detached** (the gradient also flows through the weights).
    #[default]
    Adaptive,
    /// DeepOD 0.4.1's: `0.5 L_emb + 0.5 L_score`.
    Fixed,
}

/// A combined loss: its value and its derivatives with respect to `L_emb` and `L_score`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Combined {
    pub value: f64,
    pub d_emb: f64,
    pub d_score: f64,
}

/// `w1 L_emb + w2 L_score` with `w1 = k1/(k1 + k2)`, `k1 = exp(L_emb/(pre_emb T))`,
/// `k2 = exp(L_score/(pre_score T))` (the authors' `Loss.forward`), and its derivatives
/// through the weights: `w1 + (L_emb − L_score) w1 w2/(pre_emb T)` and
/// `w2 + (L_score − L_emb) w1 w2/(pre_score T)`. A previous mean of exactly 0 makes its `k`
/// the constant 0 (the authors' `if pre != 0 else 0`). The weights are computed as a stable
/// softmax, equal to the authors' `exp` ratio wherever that does not overflow; where both
/// previous means are 0 (torch: 0/0, a NaN loss that ruins the weights) both weights are
/// 1/2, constant.
pub fn adaptive(l_emb: f64, l_score: f64, pre_emb: f64, pre_score: f64, t: f64) -> Combined {
    let constant = |w1: f64| Combined {
        value: w1 * l_emb + (1.0 - w1) * l_score,
        d_emb: w1,
        d_score: 1.0 - w1,
    };
    match (pre_emb != 0.0, pre_score != 0.0) {
        (false, false) => constant(0.5),
        (false, true) => constant(0.0),
        (true, false) => constant(1.0),
        (true, true) => {
            let z1 = l_emb / (pre_emb * t);
            let z2 = l_score / (pre_score * t);
            let w1 = 1.0 / (1.0 + (z2 - z1).exp());
            let w2 = 1.0 - w1;
            let cross = (l_emb - l_score) * w1 * w2;
            Combined {
                value: w1 * l_emb + w2 * l_score,
                d_emb: w1 + cross / (pre_emb * t),
                d_score: w2 - cross / (pre_score * t),
            }
        }
    }
}

/// DeepOD 0.4.1's `0.5 L_emb + 0.5 L_score`.
pub fn fixed(l_emb: f64, l_score: f64) -> Combined {
    Combined {
        value: 0.5 * l_emb + 0.5 * l_score,
        d_emb: 0.5,
        d_score: 0.5,
    }
}
