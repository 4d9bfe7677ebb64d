//! Statistics for comparing methods over many files and seeds, generic over plain slices and
//! tables (no knowledge of bench types): the paired evidence a report gives for a method with
//! and without AnoOnly, and the rank analysis behind a critical-difference diagram.
//!
//! - [`wilcoxon`]: the Wilcoxon signed-rank test on paired differences, with
//!   `scipy.stats.wilcoxon`'s defaults and its choice of null distribution (scipy 1.17).
//! - [`holm`]: Holm's step-down correction across a family of p-values (statsmodels'
//!   `multipletests(method="holm")`); [`verdict`] and [`wins_ties_losses`] for a report line.
//! - [`friedman`], [`mean_ranks`], [`studentized_range_quantile`], [`nemenyi_cd`],
//!   [`cd_groups`], gathered by [`rank_comparison`] over a [`BlockTable`]: Demšar's (2006) procedure for comparing
//!   several methods over many data sets.
//! - [`NestedSample`]: paired differences per (family, file, seed), the report's
//!   family-averaged statistic, per-file seed means, and a seeded two-level bootstrap whose
//!   result does not depend on the thread count.
//!
//! Distributions (normal, chi-square) come from `statrs`; the only numerical routine written
//! here is the studentized range integral, which statrs lacks. Every statistic is checked
//! against scipy/statsmodels on the fixture made by `scripts/stats_reference.py`
//! (tests/stats_scipy.rs).

mod bootstrap;
mod evidence;
mod ranks;
mod wilcoxon;

pub use bootstrap::{BootstrapCi, NestedSample, BOOTSTRAP_RESAMPLES};
pub use evidence::{
    format_p, holm, paired_evidence, verdict, wins_ties_losses, Holm, PairedEvidence, Verdict,
    WinsTiesLosses, TIE_TOLERANCE,
};
pub use ranks::{
    cd_groups, friedman, mean_ranks, nemenyi_cd, rank_average, rank_comparison,
    studentized_range_cdf, studentized_range_quantile, BlockTable, Friedman, Order, RankComparison,
};
pub use wilcoxon::{wilcoxon, wilcoxon_with, Alternative, Null, Wilcoxon, WilcoxonMethod};

/// The significance level the reports use (Demšar 2006; the alpha).
pub const ALPHA: f64 = 0.05;

/// Why a statistic could not be computed. Each message names the input and the offending
/// position, so a report can print it as it is.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum StatsError {
    #[error("{what}: no values")]
    Empty { what: &'static str },
    #[error("{what}: value {index} is {value}, expected a finite number")]
    NotFinite {
        what: &'static str,
        index: usize,
        value: f64,
    },
    #[error("{what}: row {row} has {got} values, row 0 has {expected}")]
    Ragged {
        what: &'static str,
        row: usize,
        got: usize,
        expected: usize,
    },
    #[error("{what}: {message}")]
    Invalid { what: &'static str, message: String },
    #[error(
        "Friedman test: every block ties all {treatments} treatments, the statistic is undefined"
    )]
    NoVariation { treatments: usize },
}

/// Checks that every value is finite.
fn check_finite(what: &'static str, values: &[f64]) -> Result<(), StatsError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(StatsError::NotFinite {
            what,
            index,
            value: values[index],
        }),
        None => Ok(()),
    }
}

/// Checks one value of a keyed cell; `cell` names it in the error.
fn check_cell(
    what: &'static str,
    value: f64,
    cell: impl FnOnce() -> String,
) -> Result<(), StatsError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(StatsError::Invalid {
            what,
            message: format!("{}: {value}", cell()),
        })
    }
}

/// Checks a probability-like level in (0, 1).
fn check_level(what: &'static str, level: f64) -> Result<(), StatsError> {
    if level > 0.0 && level < 1.0 {
        Ok(())
    } else {
        Err(StatsError::Invalid {
            what,
            message: format!("{level} is not in (0, 1)"),
        })
    }
}
