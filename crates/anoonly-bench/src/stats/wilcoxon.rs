//! The Wilcoxon signed-rank test on paired differences, as `scipy.stats.wilcoxon(d)` with its
//! defaults in scipy 1.17: `zero_method="wilcox"` (zero differences are dropped before
//! ranking), `correction=False`, `method="auto"`.
//!
//! scipy 1.17's `"auto"` picks the null distribution from the sample size `n` (zeros
//! included) and the presence of ties or zeros:
//! - `n > 50`: the normal approximation;
//! - otherwise, no ties and no zeros: the exact null distribution of `R+`;
//! - otherwise, `n <= 13`: an exact sign-flip permutation test (scipy's `permutation_test`
//!   enumerates all `2^n` flips since `2^13 <= 9999` resamples) — the exact conditional null
//!   given the tied ranks; here it is computed by the same counting DP on doubled ranks;
//! - otherwise: the normal approximation with the tie-corrected variance.

use statrs::distribution::{ContinuousCDF, Normal};

use super::ranks::rank_average_with_ties;
use super::{check_finite, StatsError};

/// The alternative hypothesis about the differences `d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alternative {
    /// The distribution of `d` is not symmetric about zero.
    TwoSided,
    /// `d` tends to be negative.
    Less,
    /// `d` tends to be positive.
    Greater,
}

/// Which null distribution to use; [`WilcoxonMethod::Auto`] is scipy's default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WilcoxonMethod {
    Auto,
    /// The exact null of `R+` without ties; with ties or zeros a non-integral `R+` is rounded
    /// conservatively (up for the lower tail, down for the upper), as scipy does.
    Exact,
    /// The normal approximation with the tie-corrected variance, no continuity correction.
    Asymptotic,
}

/// The null distribution a test used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Null {
    /// The exact distribution of `R+` for `n` distinct non-zero ranks.
    Exact,
    /// Every sign flip of the non-zero differences, their tied ranks kept (exact,
    /// conditional on the ties).
    SignFlip,
    /// The normal approximation.
    Normal,
}

/// The result of [`wilcoxon`].
#[derive(Clone, Debug, PartialEq)]
pub struct Wilcoxon {
    /// scipy's `statistic`: `min(R+, R-)` for a two-sided test, `R+` for one-sided.
    pub statistic: f64,
    /// Sum of the ranks of |d| over the positive differences.
    pub r_plus: f64,
    /// Sum of the ranks of |d| over the negative differences.
    pub r_minus: f64,
    pub pvalue: f64,
    /// Non-zero differences (the ones ranked).
    pub n: usize,
    /// Zero differences (dropped).
    pub zeros: usize,
    pub null: Null,
    /// The z score (normal approximation only).
    pub z: Option<f64>,
}

/// The two-sided Wilcoxon signed-rank test with scipy's defaults (see the module notes).
///
/// All-zero differences give p = 1 (every sign flip gives the same statistic); scipy returns
/// p = 1 for up to 13 differences and NaN beyond, which a report could not use.
///
/// ```
/// use anoonly_bench::stats::{wilcoxon, Alternative, Null};
/// // Five positive differences: R+ = 15 is the largest of 2^5 equally likely sums.
/// let w = wilcoxon(&[0.5, 1.0, 1.5, 2.0, 2.5], Alternative::TwoSided).unwrap();
/// assert_eq!((w.statistic, w.null), (0.0, Null::Exact));
/// assert_eq!(w.pvalue, 2.0 / 32.0);
/// // A tie (two |d| of 1.0, ranks 1.5 and 1.5; |-2| has rank 3) switches to the sign-flip
/// // null: R+ = 3, and 5 of the 8 sign flips reach R+ >= 3 (sums 3, 3, 4.5, 4.5, 6).
/// let t = wilcoxon(&[1.0, 1.0, -2.0], Alternative::Greater).unwrap();
/// assert_eq!((t.r_plus, t.null, t.pvalue), (3.0, Null::SignFlip, 5.0 / 8.0));
/// ```
pub fn wilcoxon(d: &[f64], alternative: Alternative) -> Result<Wilcoxon, StatsError> {
    wilcoxon_with(d, alternative, WilcoxonMethod::Auto)
}

/// [`wilcoxon`] with an explicit choice of null distribution.
pub fn wilcoxon_with(
    d: &[f64],
    alternative: Alternative,
    method: WilcoxonMethod,
) -> Result<Wilcoxon, StatsError> {
    const WHAT: &str = "Wilcoxon signed-rank test, differences";
    if d.is_empty() {
        return Err(StatsError::Empty { what: WHAT });
    }
    check_finite(WHAT, d)?;
    let nonzero: Vec<f64> = d.iter().copied().filter(|&v| v != 0.0).collect();
    let n = nonzero.len();
    let zeros = d.len() - n;
    let abs: Vec<f64> = nonzero.iter().map(|v| v.abs()).collect();
    let (ranks, ties) = rank_average_with_ties(&abs);
    let r_plus: f64 = nonzero
        .iter()
        .zip(&ranks)
        .filter(|(v, _)| **v > 0.0)
        .map(|(_, r)| r)
        .sum();
    let r_minus: f64 = nonzero
        .iter()
        .zip(&ranks)
        .filter(|(v, _)| **v < 0.0)
        .map(|(_, r)| r)
        .sum();
    let has_ties = ties.iter().any(|&t| t > 1);
    let null = match method {
        WilcoxonMethod::Exact => Null::Exact,
        WilcoxonMethod::Asymptotic => Null::Normal,
        WilcoxonMethod::Auto if d.len() > 50 => Null::Normal,
        WilcoxonMethod::Auto if !has_ties && zeros == 0 => Null::Exact,
        WilcoxonMethod::Auto if d.len() <= 13 => Null::SignFlip,
        WilcoxonMethod::Auto => Null::Normal,
    };
    let statistic = match alternative {
        Alternative::TwoSided => r_plus.min(r_minus),
        Alternative::Less | Alternative::Greater => r_plus,
    };
    let mut z = None;
    let pvalue = if n == 0 {
        1.0
    } else {
        match null {
            Null::Exact => exact_pvalue(n, r_plus, alternative),
            Null::SignFlip => sign_flip_pvalue(&ranks, r_plus, alternative),
            Null::Normal => {
                let nf = n as f64;
                let mean = nf * (nf + 1.0) * 0.25;
                let tie_sum: f64 = ties
                    .iter()
                    .map(|&t| {
                        let t = t as f64;
                        t * t * t - t
                    })
                    .sum();
                let se = ((nf * (nf + 1.0) * (2.0 * nf + 1.0) - tie_sum / 2.0) / 24.0).sqrt();
                let zz = (r_plus - mean) / se;
                z = Some(zz);
                let normal = Normal::standard();
                match alternative {
                    Alternative::TwoSided => 2.0 * normal.sf(zz.abs()),
                    Alternative::Less => normal.cdf(zz),
                    Alternative::Greater => normal.sf(zz),
                }
            }
        }
    };
    Ok(Wilcoxon {
        statistic,
        r_plus,
        r_minus,
        pvalue: pvalue.clamp(0.0, 1.0),
        n,
        zeros,
        null,
        z,
    })
}

/// The null distribution of `R+` for `n` distinct ranks, `pmf[r]` for `r = 0..=n(n+1)/2`, by
/// the counting recursion (each rank enters with probability 1/2), as scipy builds it.
fn exact_pmf(n: usize) -> Vec<f64> {
    let mut c = vec![1.0f64];
    for k in 1..=n {
        let m = c.len();
        let len = k * (k + 1) / 2 + 1;
        let mut next = vec![0.0; len];
        for (i, &p) in c.iter().enumerate() {
            next[i] += p * 0.5;
            next[len - m + i] += p * 0.5;
        }
        c = next;
    }
    c
}

/// scipy's exact p-value: tails of the exact null, a non-integral `R+` (ties) rounded
/// conservatively, each tail summed from the side of the mean scipy sums it from.
fn exact_pvalue(n: usize, r_plus: f64, alternative: Alternative) -> f64 {
    let pmf = exact_pmf(n);
    let mean = (n * (n + 1)) as f64 / 4.0;
    let sum =
        |lo: usize, hi: usize| -> f64 { pmf[lo.min(pmf.len())..hi.min(pmf.len())].iter().sum() };
    // P(R+ <= k) and P(R+ >= k) for integral k.
    let cdf = |k: i64| -> f64 {
        if k < 0 {
            0.0
        } else if k as f64 <= mean {
            sum(0, k as usize + 1)
        } else {
            1.0 - sum(k as usize + 1, pmf.len())
        }
    };
    let sf = |k: i64| -> f64 {
        if k <= 0 {
            1.0
        } else if k as f64 <= mean {
            sum(k as usize, pmf.len())
        } else {
            1.0 - sum(0, k as usize)
        }
    };
    let up = r_plus.ceil() as i64;
    let down = r_plus.floor() as i64;
    match alternative {
        Alternative::Less => cdf(up),
        Alternative::Greater => sf(down),
        Alternative::TwoSided => (2.0 * sf(down).min(cdf(up))).min(1.0),
    }
}

/// The exact sign-flip p-value: the distribution of `R+` over all `2^n` sign assignments of
/// the non-zero differences with their (average, possibly tied) ranks. Doubled ranks are
/// integers, so the distribution is counted exactly on an integer grid.
fn sign_flip_pvalue(ranks: &[f64], r_plus: f64, alternative: Alternative) -> f64 {
    let doubled: Vec<usize> = ranks.iter().map(|r| (2.0 * r).round() as usize).collect();
    let total: usize = doubled.iter().sum();
    let mut dist = vec![0.0f64; total + 1];
    dist[0] = 1.0;
    let mut reach = 0;
    for &w in &doubled {
        for s in (0..=reach).rev() {
            let p = dist[s];
            dist[s] = p * 0.5;
            dist[s + w] += p * 0.5;
        }
        reach += w;
    }
    let t = (2.0 * r_plus).round() as usize;
    let less: f64 = dist[..=t].iter().sum();
    let greater: f64 = dist[t..].iter().sum();
    match alternative {
        Alternative::Less => less,
        Alternative::Greater => greater,
        Alternative::TwoSided => (2.0 * less.min(greater)).min(1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_pmf_sums_to_one_and_is_symmetric() {
        for n in [1, 2, 5, 20] {
            let p = exact_pmf(n);
            assert_eq!(p.len(), n * (n + 1) / 2 + 1);
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-15);
            for i in 0..p.len() {
                assert_eq!(p[i], p[p.len() - 1 - i]);
            }
        }
        // n = 3: sums 0,1,2,3,3,4,5,6 over 8 sign patterns.
        assert_eq!(
            exact_pmf(3),
            vec![0.125, 0.125, 0.125, 0.25, 0.125, 0.125, 0.125]
        );
    }

    #[test]
    fn sign_flip_equals_exact_without_ties() {
        let d = [0.3, -1.2, 2.5, 0.7, -0.1, 1.9, 3.3];
        for alt in [
            Alternative::TwoSided,
            Alternative::Less,
            Alternative::Greater,
        ] {
            let e = wilcoxon_with(&d, alt, WilcoxonMethod::Exact).unwrap();
            let (ranks, _) = rank_average_with_ties(&d.map(f64::abs));
            let s = sign_flip_pvalue(&ranks, e.r_plus, alt);
            assert!((e.pvalue - s).abs() < 1e-15, "{alt:?}: {} vs {s}", e.pvalue);
        }
    }

    #[test]
    fn rejects_empty_and_nan() {
        assert!(matches!(
            wilcoxon(&[], Alternative::TwoSided),
            Err(StatsError::Empty { .. })
        ));
        let e = wilcoxon(&[1.0, f64::NAN], Alternative::TwoSided).unwrap_err();
        assert!(e.to_string().contains("value 1 is NaN"), "{e}");
    }

    #[test]
    fn all_zero_differences_give_p_one() {
        let w = wilcoxon(&[0.0; 60], Alternative::TwoSided).unwrap();
        assert_eq!((w.pvalue, w.n, w.zeros), (1.0, 0, 60));
    }
}
