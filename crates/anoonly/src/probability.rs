//! Decision scores turned into PyOD's outlier probabilities and prediction confidences, so
//! every front end gives a PyOD user the numbers PyOD's `BaseDetector` would
//! (`predict_proba(method="linear" | "unify")`, `predict_confidence`).
//!
//! All three are functions of the training scores (`Model::train_scores`, PyOD's
//! `decision_scores_`) and the new rows' scores; they are computed in `f64`. Where PyOD's
//! formula divides by zero (all training scores equal) it would return NaN; here the result
//! stays in `[0, 1]` (see each function).

use libm::erf;

use crate::methods::ScoreError;

/// Refuses a contamination rate outside PyOD's `(0, 0.5]` (the share of the training rows
/// called anomalies by the threshold). For checking it before a fit rather than after.
pub fn check_contamination(contamination: f64) -> Result<(), ScoreError> {
    if contamination > 0.0 && contamination <= 0.5 {
        Ok(())
    } else {
        Err(ScoreError::Contamination(contamination))
    }
}

/// PyOD's prediction rule: a row is called an anomaly when its score is strictly above the
/// threshold ([`crate::methods::Model::threshold`]); a tie is normal. The one place the rule
/// lives: `Model::predict`, the CLI's `score --contamination`, Python's `predict` and
/// `labels_`, and [`confidence`] all call it.
pub fn is_anomaly(score: f32, threshold: f32) -> bool {
    score > threshold
}

/// [`is_anomaly`] of each score as 1 (anomaly) or 0.
pub fn labels(scores: &[f32], threshold: f32) -> Vec<u8> {
    scores
        .iter()
        .map(|&s| u8::from(is_anomaly(s, threshold)))
        .collect()
}

/// `predict_proba(method="linear")`: the scores min-max scaled with the training scores'
/// range (scikit-learn's `MinMaxScaler`, a zero range scaled by 1), clipped to `[0, 1]`.
pub fn linear(train: &[f32], scores: &[f32]) -> Vec<f64> {
    let (lo, hi) = train
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &s| {
            (lo.min(f64::from(s)), hi.max(f64::from(s)))
        });
    let range = hi - lo;
    // MinMaxScaler's `_handle_zeros_in_scale`: a range below 10 machine epsilons of the
    // scores' dtype (f32 here, as PyOD sees our `decision_scores_`) counts as 0.
    let range = if range < 10.0 * f64::from(f32::EPSILON) {
        1.0
    } else {
        range
    };
    scores
        .iter()
        .map(|&s| ((f64::from(s) - lo) / range).clamp(0.0, 1.0))
        .collect()
}

/// `predict_proba(method="unify")` (Kriegel et al. 2011): `erf((s − μ) / (σ √2))` clipped
/// to `[0, 1]`, with μ and σ the mean and population standard deviation of the training
/// scores. With σ = 0 (PyOD: NaN at s = μ) a score above μ gets 1, any other 0.
pub fn unify(train: &[f32], scores: &[f32]) -> Vec<f64> {
    let n = train.len().max(1) as f64;
    let mu = train.iter().map(|&s| f64::from(s)).sum::<f64>() / n;
    let var = train
        .iter()
        .map(|&s| (f64::from(s) - mu).powi(2))
        .sum::<f64>()
        / n;
    let sigma = var.sqrt();
    scores
        .iter()
        .map(|&s| {
            let s = f64::from(s);
            if sigma > 0.0 {
                erf((s - mu) / (sigma * std::f64::consts::SQRT_2)).clamp(0.0, 1.0)
            } else if s > mu {
                1.0
            } else {
                0.0
            }
        })
        .collect()
}

/// `predict_confidence` (Perini et al. 2020, ExCeeD): how consistently a row would get the
/// same 0/1 prediction if the training set were drawn again. With `n` training scores, `k`
/// of them `<= s`, the row's outlier probability is `(1 + k) / (2 + n)` and its confidence
/// `1 − BinomialCDF(n − ⌊n · contamination⌋; n, p)`, or one minus that for a row predicted
/// normal (`s <= threshold`).
pub fn confidence(train: &[f32], scores: &[f32], contamination: f64, threshold: f32) -> Vec<f64> {
    let mut sorted = train.to_vec();
    sorted.sort_by(f32::total_cmp);
    let n = sorted.len() as u64;
    let k = n - (n as f64 * contamination).floor() as u64;
    scores
        .iter()
        .map(|&s| {
            let below = sorted.partition_point(|&t| t <= s) as f64;
            let p = (1.0 + below) / (2.0 + n as f64);
            // p lies strictly in (0, 1), so the distribution is always valid.
            let cdf = binomial_cdf(k, n, p);
            let c = (1.0 - cdf).clamp(0.0, 1.0);
            if is_anomaly(s, threshold) {
                c
            } else {
                1.0 - c
            }
        })
        .collect()
}

/// `P(X <= k)` for `X ~ Binomial(n, p)`, `0 < p < 1`: the regularised incomplete beta
/// function `I_{1-p}(n - k, k + 1)`, as scipy's `binom.cdf` (and statrs) compute it.
fn binomial_cdf(k: u64, n: u64, p: f64) -> f64 {
    if k >= n {
        return 1.0;
    }
    beta_reg((n - k) as f64, (k + 1) as f64, 1.0 - p)
}

/// The regularised incomplete beta function `I_x(a, b)` (a, b > 0, x in [0, 1]) by the
/// continued fraction of Numerical Recipes (modified Lentz), on the side of `x` where it
/// converges fast.
fn beta_reg(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front =
        libm::lgamma(a + b) - libm::lgamma(a) - libm::lgamma(b) + a * x.ln() + b * (1.0 - x).ln();
    let front = ln_front.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_fraction(b, a, 1.0 - x) / b
    }
}

fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    const EPS: f64 = 1e-16;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..10_000 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < EPS {
            break;
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_strictly_above_the_threshold() {
        assert_eq!(labels(&[0.5, 1.0, 1.5, f32::INFINITY], 1.0), [0, 0, 1, 1]);
        assert!(!is_anomaly(f32::NAN, 0.0));
    }

    #[test]
    fn linear_scales_by_the_training_range_and_clips() {
        let p = linear(&[1.0, 2.0, 3.0], &[0.0, 1.0, 2.5, 3.0, 9.0]);
        assert_eq!(p, vec![0.0, 0.0, 0.75, 1.0, 1.0]);
        // A constant training score: range 1, as MinMaxScaler.
        assert_eq!(linear(&[2.0, 2.0], &[2.5, 1.0]), vec![0.5, 0.0]);
    }

    #[test]
    fn unify_is_the_clipped_error_function_of_the_standardised_score() {
        // mean 2, population sd sqrt(2/3).
        let p = unify(&[1.0, 2.0, 3.0], &[2.0, 1.0, 3.0]);
        assert_eq!(p[0], 0.0);
        assert_eq!(p[1], 0.0);
        let z = 1.0 / ((2.0f64 / 3.0).sqrt() * std::f64::consts::SQRT_2);
        assert!((p[2] - erf(z)).abs() < 1e-15);
        assert_eq!(unify(&[5.0, 5.0], &[5.0, 6.0]), vec![0.0, 1.0]);
    }

    #[test]
    fn confidence_by_hand() {
        // n = 4, contamination 0.25: k = 4 - 1 = 3. A row above every training score:
        // p = 5/6, P(X <= 3) = 1 - p^4, confidence p^4 (predicted anomaly).
        let train = [0.0, 1.0, 2.0, 3.0];
        let c = confidence(&train, &[10.0, -1.0], 0.25, 2.5);
        let p: f64 = 5.0 / 6.0;
        assert!((c[0] - p.powi(4)).abs() < 1e-12, "{c:?}");
        // Below every training score: p = 1/6, predicted normal: 1 - (1/6)^4.
        let q: f64 = 1.0 / 6.0;
        assert!((c[1] - (1.0 - q.powi(4))).abs() < 1e-12, "{c:?}");
    }

    #[test]
    fn binomial_cdf_matches_scipy() {
        // scipy.stats.binom.cdf(k, n, p) (scipy 1.17).
        for (k, n, p, want) in [
            (3u64, 10u64, 0.5, 0.171875),
            (950, 1000, 0.96, 0.06630587123134839),
            (5, 7000, 0.001, 0.3005804925639325),
            (6650, 7000, 0.95, 0.5076573844079556),
            (0, 4, 1.0 / 6.0, 0.4822530864197531),
        ] {
            let got = binomial_cdf(k, n, p);
            assert!(
                (got - want).abs() < 1e-10 * want.max(1e-3),
                "cdf({k}; {n}, {p}) = {got}, want {want}"
            );
        }
        // The sum of the probability mass function, term by term.
        let (n, p) = (30u64, 0.3f64);
        let mut sum = 0.0;
        let mut choose = 1.0f64;
        for k in 0..=n {
            if k > 0 {
                choose *= (n - k + 1) as f64 / k as f64;
            }
            sum += choose * p.powi(k as i32) * (1.0 - p).powi((n - k) as i32);
            assert!((binomial_cdf(k, n, p) - sum).abs() < 1e-13, "k = {k}");
        }
    }

    #[test]
    fn contamination_range_is_pyods() {
        assert!(check_contamination(0.5).is_ok());
        assert!(check_contamination(0.01).is_ok());
        for bad in [0.0, -0.1, 0.51, f64::NAN] {
            assert!(check_contamination(bad).is_err(), "{bad}");
        }
    }
}
