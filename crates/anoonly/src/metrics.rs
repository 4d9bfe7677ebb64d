//! Ranking metrics of the paper (docs/protocol.md section 5), as fractions in `[0, 1]`.
//!
//! - [`aucroc`]: `sklearn.metrics.roc_auc_score` (area under the ROC curve, i.e. the
//!   Mann–Whitney statistic with tied scores counted 1/2).
//! - [`average_precision`]: `sklearn.metrics.average_precision_score`, the *step-wise*
//!   `Σ_k (R_k − R_{k−1}) · P_k` over distinct thresholds in decreasing order (tied scores form
//!   one threshold); not the trapezoidal area under the PR curve.
//! - [`aucpr`]: AP with the anomalies as positives (the paper's AUCPR).
//! - [`aucpr_normal`]: AP with the normals as positives and the score negated (correct).
//! - [`aucpr_normal_official`]: AP with the normals as positives and the score **not** negated,
//!   the sign error of the official code; only to reproduce the paper's Table 4.
//!
//! Labels: `1` = anomaly, `0` = normal. Scores: higher = more anomalous. Every function is
//! `O(n log n)` (one sort under the IEEE total order, after refusing non-finite scores).
//!
//! ```
//! use anoonly::metrics::evaluate;
//! // Ranked by score: 0.8 (anomaly), 0.4 (normal), 0.35 (anomaly), 0.2, 0.1 (normals).
//! let m = evaluate(&[0, 0, 1, 1, 0], &[0.1, 0.4, 0.35, 0.8, 0.2])?;
//! // AUCROC: of the 2 x 3 anomaly-normal pairs, 5 rank the anomaly higher.
//! assert!((m.aucroc - 5.0 / 6.0).abs() < 1e-12);
//! // AUCPR: recall 1/2 at precision 1, then recall 1 at precision 2/3.
//! assert!((m.aucpr - (0.5 * 1.0 + 0.5 * 2.0 / 3.0)).abs() < 1e-12);
//! // Normals ranked by the negated score: 0.1, 0.2 (normals), 0.35 (anomaly), 0.4 (normal):
//! // recall 1/3 and 2/3 at precision 1, then recall 1 at precision 3/4.
//! assert!((m.aucpr_normal - (2.0 / 3.0 + 1.0 / 3.0 * 0.75)).abs() < 1e-12);
//! // The authors' sign ranks normals by the score itself: 0.8 (anomaly), then the normal 0.4
//! // at precision 1/2, 0.2 at 2/4, 0.1 at 3/5.
//! assert!((m.aucpr_normal_official - (0.5 + 0.5 + 0.6) / 3.0).abs() < 1e-12);
//! # Ok::<(), anoonly::metrics::MetricError>(())
//! ```

use std::cmp::Ordering;

/// Why a metric cannot be computed.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum MetricError {
    /// Only one class is present (or no positive for average precision): the metric is undefined.
    #[error("only one class present in the labels: the metric is undefined")]
    SingleClass,
    /// A score is NaN or infinite.
    #[error("score at index {index} is not finite")]
    NonFiniteScore { index: usize },
    /// Labels and scores differ in length.
    #[error("{labels} labels but {scores} scores")]
    LengthMismatch { labels: usize, scores: usize },
    /// No sample at all.
    #[error("no sample")]
    Empty,
    /// A label other than 0 or 1.
    #[error("label at index {index} is {value}, expected 0 or 1")]
    InvalidLabel { index: usize, value: u8 },
}

/// All four metrics of one scored test set.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Metrics {
    pub aucroc: f64,
    pub aucpr: f64,
    pub aucpr_normal: f64,
    pub aucpr_normal_official: f64,
}

fn check_scores(n_labels: usize, score: &[f32]) -> Result<(), MetricError> {
    if n_labels != score.len() {
        return Err(MetricError::LengthMismatch {
            labels: n_labels,
            scores: score.len(),
        });
    }
    if score.is_empty() {
        return Err(MetricError::Empty);
    }
    if let Some(index) = score.iter().position(|s| !s.is_finite()) {
        return Err(MetricError::NonFiniteScore { index });
    }
    Ok(())
}

fn check_labels(y: &[u8]) -> Result<(), MetricError> {
    match y.iter().position(|&v| v > 1) {
        Some(index) => Err(MetricError::InvalidLabel {
            index,
            value: y[index],
        }),
        None => Ok(()),
    }
}

/// Indices sorted by decreasing score (scores are finite; `-0.0` and `0.0` end up adjacent and
/// are grouped as one threshold by the `==` comparisons of the callers).
fn order_desc(score: &[f32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..score.len()).collect();
    idx.sort_unstable_by(|&a, &b| score[b].total_cmp(&score[a]));
    idx
}

/// Calls `f(positives, negatives)` once per group of tied scores, in decreasing score order.
fn for_each_threshold(positive: &[bool], score: &[f32], mut f: impl FnMut(usize, usize)) {
    let order = order_desc(score);
    let mut start = 0;
    while start < order.len() {
        let s = score[order[start]];
        let mut end = start;
        let (mut p, mut q) = (0usize, 0usize);
        while end < order.len() && score[order[end]].partial_cmp(&s) == Some(Ordering::Equal) {
            if positive[order[end]] {
                p += 1;
            } else {
                q += 1;
            }
            end += 1;
        }
        f(p, q);
        start = end;
    }
}

/// Area under the ROC curve (`sklearn.metrics.roc_auc_score`); `y`: 1 = anomaly.
///
/// Computed as `P(s_anomaly > s_normal) + ½ P(s_anomaly = s_normal)` over all pairs, which is
/// exactly the trapezoidal ROC area.
pub fn aucroc(y: &[u8], score: &[f32]) -> Result<f64, MetricError> {
    check_scores(y.len(), score)?;
    check_labels(y)?;
    let positive: Vec<bool> = y.iter().map(|&v| v == 1).collect();
    let n_pos = positive.iter().filter(|&&p| p).count();
    let n_neg = positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return Err(MetricError::SingleClass);
    }
    // Walk thresholds from the top: every positive of a group beats the negatives not yet seen
    // (strictly lower scores) and ties with the negatives of its own group.
    let mut neg_above = 0usize;
    let mut wins = 0.0f64; // counted in half-pairs to stay exact in integers as long as possible
    for_each_threshold(&positive, score, |p, q| {
        let below = n_neg - neg_above - q;
        wins += (2 * p * below + p * q) as f64;
        neg_above += q;
    });
    Ok(wins / 2.0 / (n_pos as f64 * n_neg as f64))
}

/// Step-wise average precision (`sklearn.metrics.average_precision_score`):
/// `Σ_k (R_k − R_{k−1}) · P_k` over the distinct thresholds in decreasing order.
///
/// Errors with [`MetricError::SingleClass`] when there is no positive (recall undefined).
pub fn average_precision(positive: &[bool], score: &[f32]) -> Result<f64, MetricError> {
    check_scores(positive.len(), score)?;
    let n_pos = positive.iter().filter(|&&p| p).count();
    if n_pos == 0 {
        return Err(MetricError::SingleClass);
    }
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut prev_recall = 0.0f64;
    let mut ap = 0.0f64;
    for_each_threshold(positive, score, |p, q| {
        tp += p;
        fp += q;
        if p > 0 {
            let recall = tp as f64 / n_pos as f64;
            let precision = tp as f64 / (tp + fp) as f64;
            ap += (recall - prev_recall) * precision;
            prev_recall = recall;
        }
    });
    Ok(ap)
}

/// AUCPR with the anomalies (`y == 1`) as positives.
pub fn aucpr(y: &[u8], score: &[f32]) -> Result<f64, MetricError> {
    check_labels(y)?;
    let positive: Vec<bool> = y.iter().map(|&v| v == 1).collect();
    average_precision(&positive, score)
}

/// AUCPR with the normals (`y == 0`) as positives, ranked by the **negated** anomaly score
/// (most normal first). This is the meaningful "AUCPR (normal)".
pub fn aucpr_normal(y: &[u8], score: &[f32]) -> Result<f64, MetricError> {
    check_labels(y)?;
    check_scores(y.len(), score)?;
    let positive: Vec<bool> = y.iter().map(|&v| v == 0).collect();
    let negated: Vec<f32> = score.iter().map(|&s| -s).collect();
    average_precision(&positive, &negated)
}

/// The official code's "AUCPR (normal)": normals as positives but the anomaly score **not**
/// negated (`average_precision_score(y, score, pos_label=0)`). A sign error: it decreases as
/// detection improves. Only for reproducing the paper's Table 4.
pub fn aucpr_normal_official(y: &[u8], score: &[f32]) -> Result<f64, MetricError> {
    check_labels(y)?;
    let positive: Vec<bool> = y.iter().map(|&v| v == 0).collect();
    average_precision(&positive, score)
}

/// All four metrics; needs both classes in `y`.
pub fn evaluate(y: &[u8], score: &[f32]) -> Result<Metrics, MetricError> {
    Ok(Metrics {
        aucroc: aucroc(y, score)?,
        aucpr: aucpr(y, score)?,
        aucpr_normal: aucpr_normal(y, score)?,
        aucpr_normal_official: aucpr_normal_official(y, score)?,
    })
}
