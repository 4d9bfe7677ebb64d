//! A report line's paired evidence for one method (variant B against variant A): the
//! bootstrap interval of the family-averaged difference, the Wilcoxon test on per-file
//! differences, wins/ties/losses; Holm's correction across the methods of a section; and
//! the verdict the numbers allow.

use std::fmt;

use super::bootstrap::{BootstrapCi, NestedSample};
use super::wilcoxon::{wilcoxon, Alternative, Wilcoxon};
use super::{check_level, StatsError};

/// Per-file differences within this distance of zero count as ties. Zero: a tie is a file
/// where the seed-averaged difference is exactly 0 (e.g. both variants reach AUCROC 1.0),
/// exactly the differences the Wilcoxon test drops (scipy's `zero_method="wilcox"` compares
/// with 0), so the two numbers of a report line count the same files. A real AUC
/// difference on a test set of at most 10,000 rows is at least 1e-8 / seeds, far above
/// rounding, and two variants that agree on every seed give a difference of exactly 0.
pub const TIE_TOLERANCE: f64 = 0.0;

/// Holm-adjusted p-values and rejections, in the order of the input.
#[derive(Clone, Debug, PartialEq)]
pub struct Holm {
    pub adjusted: Vec<f64>,
    /// Rejected at the family-wise level `alpha` (statsmodels' step-down rule:
    /// the i-th smallest p is rejected while every p up to it is <= alpha / (m - i)).
    pub reject: Vec<bool>,
}

/// Holm's step-down correction across a family of p-values, as statsmodels'
/// `multipletests(p, alpha, method="holm")`: sorted ascending, the i-th smallest (from 0)
/// is multiplied by `m - i`, a running maximum keeps the adjusted values monotone, and they
/// are capped at 1.
///
/// ```
/// let h = anoonly_bench::stats::holm(&[0.01, 0.04, 0.03], 0.05).unwrap();
/// // Sorted 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> max(0.06, 0.04) = 0.06.
/// assert_eq!(h.adjusted.iter().map(|p| (p * 1e6).round() / 1e6).collect::<Vec<_>>(), vec![0.03, 0.06, 0.06]);
/// assert_eq!(h.reject, vec![true, false, false]);
/// ```
pub fn holm(p: &[f64], alpha: f64) -> Result<Holm, StatsError> {
    const WHAT: &str = "Holm correction, p-values";
    check_level("Holm correction, alpha", alpha)?;
    if let Some(i) = p.iter().position(|v| !(0.0..=1.0).contains(v)) {
        return Err(StatsError::Invalid {
            what: WHAT,
            message: format!("value {i} is {}, expected a p-value in [0, 1]", p[i]),
        });
    }
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut adjusted = vec![0.0; m];
    let mut reject = vec![false; m];
    let mut running = 0.0f64;
    let mut rejecting = true;
    for (i, &o) in order.iter().enumerate() {
        let factor = (m - i) as f64;
        running = running.max(p[o] * factor);
        adjusted[o] = running.min(1.0);
        rejecting = rejecting && p[o] <= alpha / factor;
        reject[o] = rejecting;
    }
    Ok(Holm { adjusted, reject })
}

/// What the numbers allow about variant B against variant A.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// Significant (adjusted p <= alpha) and the mean difference B - A is positive.
    Better { p: f64 },
    /// Not significant at alpha (or a mean difference of exactly 0).
    NoDetectableDifference { p: f64 },
    /// Significant and the mean difference is negative.
    Worse { p: f64 },
}

/// The verdict from a Holm-adjusted p-value and the sign of the mean difference (B - A, in
/// a metric where higher is better). The sign is the report's family-averaged difference;
/// in the rare case where it disagrees with the direction of the per-file ranks the test
/// saw, the mean decides, as the report's headline number does.
///
/// ```
/// use anoonly_bench::stats::verdict;
/// assert_eq!(verdict(0.012, 0.03, 0.05).to_string(), "better (p = 0.012)");
/// assert_eq!(verdict(0.2, 0.03, 0.05).to_string(), "no detectable difference");
/// assert_eq!(verdict(0.0004, -0.1, 0.05).to_string(), "worse (p < 0.001)");
/// ```
pub fn verdict(p_adjusted: f64, mean_difference: f64, alpha: f64) -> Verdict {
    let p = p_adjusted;
    if p <= alpha && mean_difference > 0.0 {
        Verdict::Better { p }
    } else if p <= alpha && mean_difference < 0.0 {
        Verdict::Worse { p }
    } else {
        Verdict::NoDetectableDifference { p }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Verdict::Better { p } => write!(f, "better ({})", format_p(p)),
            Verdict::NoDetectableDifference { .. } => write!(f, "no detectable difference"),
            Verdict::Worse { p } => write!(f, "worse ({})", format_p(p)),
        }
    }
}

/// A p-value as reports print it: two significant digits, `p < 0.001` below 0.001.
///
/// ```
/// use anoonly_bench::stats::format_p;
/// assert_eq!(format_p(0.0123), "p = 0.012");
/// assert_eq!(format_p(0.046), "p = 0.046");
/// assert_eq!(format_p(0.5), "p = 0.50");
/// assert_eq!(format_p(1.0), "p = 1.0");
/// assert_eq!(format_p(0.00002), "p < 0.001");
/// ```
pub fn format_p(p: f64) -> String {
    if p < 0.001 {
        return "p < 0.001".into();
    }
    let decimals = (1 - p.log10().floor() as i32).max(1) as usize;
    format!("p = {p:.decimals$}")
}

/// Files where B beat A, tied, lost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WinsTiesLosses {
    pub wins: usize,
    pub ties: usize,
    pub losses: usize,
}

impl fmt::Display for WinsTiesLosses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.wins, self.ties, self.losses)
    }
}

/// Counts differences (B - A, higher is better) above `tie_tolerance` as wins, below its
/// negative as losses, the rest as ties. Reports pass [`TIE_TOLERANCE`].
///
/// ```
/// use anoonly_bench::stats::{wins_ties_losses, TIE_TOLERANCE};
/// let w = wins_ties_losses(&[0.1, 0.0, -0.2, 0.3], TIE_TOLERANCE);
/// assert_eq!(w.to_string(), "2/1/1");
/// ```
pub fn wins_ties_losses(differences: &[f64], tie_tolerance: f64) -> WinsTiesLosses {
    let mut w = WinsTiesLosses::default();
    for &d in differences {
        if d > tie_tolerance {
            w.wins += 1;
        } else if d < -tie_tolerance {
            w.losses += 1;
        } else {
            w.ties += 1;
        }
    }
    w
}

/// Paired evidence for one method: B - A on the cells both variants share.
#[derive(Clone, Debug, PartialEq)]
pub struct PairedEvidence {
    /// The family-averaged difference and its bootstrap interval.
    pub ci: BootstrapCi,
    /// The two-sided Wilcoxon test on the per-file differences (seeds averaged first).
    pub wilcoxon: Wilcoxon,
    pub wins_ties_losses: WinsTiesLosses,
    /// Files (per-file differences) the test and the counts use.
    pub files: usize,
}

/// The paired evidence of a report line: bootstrap CI (`resamples`, `seed`, 95%), Wilcoxon
/// on the per-file seed-averaged differences, wins/ties/losses with [`TIE_TOLERANCE`].
/// Holm's correction needs every method of the section: collect each line's
/// `wilcoxon.pvalue`, call [`holm`], then [`verdict`] with `ci.estimate`.
pub fn paired_evidence(
    sample: &NestedSample,
    resamples: usize,
    seed: u64,
) -> Result<PairedEvidence, StatsError> {
    let per_file = sample.per_file_means();
    Ok(PairedEvidence {
        ci: sample.bootstrap(resamples, seed, 0.95)?,
        wilcoxon: wilcoxon(&per_file, Alternative::TwoSided)?,
        wins_ties_losses: wins_ties_losses(&per_file, TIE_TOLERANCE),
        files: per_file.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holm_rejects_bad_input() {
        assert!(holm(&[0.1, f64::NAN], 0.05)
            .unwrap_err()
            .to_string()
            .contains("value 1 is NaN"));
        assert!(holm(&[1.5], 0.05).is_err());
        assert!(holm(&[0.1], 0.0).is_err());
        assert_eq!(
            holm(&[], 0.05).unwrap(),
            Holm {
                adjusted: vec![],
                reject: vec![]
            }
        );
    }

    #[test]
    fn verdict_needs_significance_and_a_sign() {
        assert_eq!(
            verdict(0.05, 1.0, 0.05),
            Verdict::Better { p: 0.05 },
            "p equal to alpha is significant"
        );
        assert!(matches!(
            verdict(0.01, 0.0, 0.05),
            Verdict::NoDetectableDifference { .. }
        ));
        assert!(matches!(verdict(0.01, -1e-9, 0.05), Verdict::Worse { .. }));
    }

    #[test]
    fn paired_evidence_counts_files() {
        let cells: Vec<(String, String, u64, f64)> = (0..12)
            .flat_map(|i| {
                (0..3).map(move |s| {
                    let fam = if i < 6 { "a" } else { "b" };
                    (
                        fam.to_string(),
                        format!("file{i:02}"),
                        s,
                        0.01 * (i as f64 - 2.0) + 0.001 * s as f64,
                    )
                })
            })
            .collect();
        let sample = NestedSample::from_cells(
            cells
                .iter()
                .map(|(f, g, s, v)| (f.as_str(), g.as_str(), *s, *v)),
        )
        .unwrap();
        let e = paired_evidence(&sample, 500, 1).unwrap();
        assert_eq!(e.files, 12);
        // Differences -0.019, -0.009, 0.001, ... per file: 2 losses, 10 wins.
        assert_eq!(e.wins_ties_losses.to_string(), "10/0/2");
        assert!(e.ci.lo <= e.ci.estimate && e.ci.estimate <= e.ci.hi);
        assert!(e.wilcoxon.pvalue < 0.01);
    }
}
