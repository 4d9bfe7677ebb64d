//! The report's CSV files, one row per number: `report.csv` (the sections' family means
//! beside the paper's), `evidence.csv` (every paired comparison) and `ranks.csv` (every rank
//! comparison).
//!
//! The labeled anomalies are the `gamma_la` column (the ratio); where the results hold
//! count-mode sections an `n_labeled` column follows it, and each row fills the one of its
//! mode (the other empty). Results without counts give the files they always gave.

use std::fmt::Write as _;

use crate::evidence::{Analysis, PairedRow};
use crate::grid::Variant;
use crate::paper::Paper;
use crate::results::ResultRecord;
use crate::sections::{sections, Metric, Section};
use crate::stats::Verdict;
use anoonly::experiment::MeanSd;
use anoonly::protocol::Labeled;

/// Whether any section is in count mode (the files then have an `n_labeled` column).
fn has_counts(secs: &[Section]) -> bool {
    secs.iter().any(|s| s.key.labeled.count().is_some())
}

/// A header with `n_labeled` after `gamma_la` when `counts`.
fn header(columns: &str, counts: bool) -> String {
    if counts {
        columns.replacen(",gamma_la,", ",gamma_la,n_labeled,", 1)
    } else {
        columns.to_string()
    }
}

/// The labeled-anomaly cell(s) of a row: the ratio, then (with `counts`) the count.
fn labeled_cells(l: Labeled, counts: bool) -> String {
    match (l, counts) {
        (Labeled::Ratio(g), false) => g.to_string(),
        (Labeled::Ratio(g), true) => format!("{g},"),
        (Labeled::Count(k), _) => format!(",{k}"),
    }
}

/// `report.csv`: one row per section x method variant x family (or `mean`) x metric,
/// with the paper's value and the difference where the paper has one. Values in %.
pub fn csv(results: &[ResultRecord]) -> String {
    csv_of(&sections(results))
}

/// [`csv`](fn@csv) from sections already built.
pub fn csv_of(secs: &[Section]) -> String {
    let counts = has_counts(secs);
    let mut s = header(
        "setting,protocol,gamma_la,ablation,method,anoonly,family,files,metric,mean,sd,seeds,paper,diff\n",
        counts,
    );
    for sec in secs {
        let ablation = sec
            .key
            .ablation
            .as_ref()
            .map_or(String::new(), |o| o.to_string());
        for row in &sec.rows {
            let anoonly = row.variant == Variant::AnoOnly;
            let paper = sec.key.is_paper_setting().then(Paper::get);
            for metric in Metric::ALL {
                let fm = row.metric(metric);
                let fams: Vec<&str> = sec.families.iter().map(String::as_str).collect();
                let mut cols: Vec<(String, usize, MeanSd, Option<f64>)> = sec
                    .families
                    .iter()
                    .filter_map(|f| {
                        fm.families.get(f).map(|(m, n)| {
                            let p = paper
                                .and_then(|p| p.value(row.method, row.variant, metric, Some(f)));
                            (f.clone(), *n, *m, p)
                        })
                    })
                    .collect();
                let n_files = cols.iter().map(|c| c.1).sum();
                cols.push((
                    "mean".to_string(),
                    n_files,
                    fm.mean,
                    paper.and_then(|p| p.mean_over(row.method, row.variant, metric, &fams)),
                ));
                for (family, n, m, p) in cols {
                    let _ = writeln!(
                        s,
                        "{},{},{},{},{},{},{},{},{},{:.4},{:.4},{},{},{}",
                        sec.key.setting_name(),
                        sec.key.protocol_name(),
                        labeled_cells(sec.key.labeled, counts),
                        ablation,
                        row.method,
                        anoonly,
                        family,
                        n,
                        metric.name(),
                        100.0 * m.mean,
                        100.0 * m.sd,
                        fm.seeds.len(),
                        p.map_or(String::new(), |p| format!("{p:.1}")),
                        p.map_or(String::new(), |p| format!("{:.4}", 100.0 * m.mean - p)),
                    );
                }
            }
        }
    }
    s
}

/// `evidence.csv` of a results set.
pub fn evidence_csv(results: &[ResultRecord]) -> String {
    let secs = sections(results);
    evidence_csv_of(&secs, &Analysis::of(&secs))
}

/// `evidence.csv`: one row per paired comparison x metric (x family, for the protocol
/// comparison's per-family intervals), differences in points. `comparison` is `anoonly`
/// (b = AnoOnly, a = base, in a section), `protocol` (b = `leakage-free`, a = `adbench`) or
/// `ablation` (b = the value, a = the defaults); the column of the compared axis is empty.
/// `p` and `p_holm` (Holm across the table's rows) are on the `mean` rows only.
pub fn evidence_csv_of(secs: &[Section], analysis: &Analysis) -> String {
    let counts = has_counts(secs);
    let mut s = header(
        "comparison,setting,protocol,gamma_la,ablation,method,anoonly,a,b,family,metric,files,seeds,diff,ci_lo,ci_hi,p,p_holm,wins,ties,losses,verdict\n",
        counts,
    );
    let verdict_token = |v: &Verdict| match v {
        Verdict::Better { .. } => "better",
        Verdict::Worse { .. } => "worse",
        Verdict::NoDetectableDifference { .. } => "no_detectable_difference",
    };
    // (comparison, setting, protocol, labeled anomalies, ablation, anoonly column, a, b)
    let mut emit = |coords: [String; 5], row: &PairedRow, anoonly: String, a: &str, b: &str| {
        for (m, e) in &row.metrics {
            let Ok(e) = e else { continue };
            let ci = &e.evidence.ci;
            let w = &e.evidence.wins_ties_losses;
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{anoonly},{a},{b},mean,{},{},{},{:.4},{:.4},{:.4},{},{},{},{},{},{}",
                coords[0],
                coords[1],
                coords[2],
                coords[3],
                coords[4],
                row.method,
                m.name(),
                e.evidence.files,
                e.seeds,
                100.0 * ci.estimate,
                100.0 * ci.lo,
                100.0 * ci.hi,
                e.evidence.wilcoxon.pvalue,
                e.p_holm,
                w.wins,
                w.ties,
                w.losses,
                verdict_token(&e.verdict),
            );
            for (f, ci) in &e.families {
                let _ = writeln!(
                    s,
                    "{},{},{},{},{},{},{anoonly},{a},{b},{f},{},,{},{:.4},{:.4},{:.4},,,,,,",
                    coords[0],
                    coords[1],
                    coords[2],
                    coords[3],
                    coords[4],
                    row.method,
                    m.name(),
                    e.seeds,
                    100.0 * ci.estimate,
                    100.0 * ci.lo,
                    100.0 * ci.hi,
                );
            }
        }
    };
    for (sec, t) in secs.iter().zip(&analysis.anoonly) {
        let Some(t) = t else { continue };
        let abl = sec
            .key
            .ablation
            .as_ref()
            .map_or(String::new(), |o| o.to_string());
        for row in &t.rows {
            emit(
                [
                    "anoonly".into(),
                    sec.key.setting_name().into(),
                    sec.key.protocol_name().into(),
                    labeled_cells(sec.key.labeled, counts),
                    abl.clone(),
                ],
                row,
                String::new(),
                "base",
                "anoonly",
            );
        }
    }
    for pc in &analysis.protocols {
        let abl = pc
            .ablation
            .as_ref()
            .map_or(String::new(), |o| o.to_string());
        for row in &pc.table.rows {
            emit(
                [
                    "protocol".into(),
                    pc.setting.name().into(),
                    String::new(),
                    labeled_cells(pc.labeled, counts),
                    abl.clone(),
                ],
                row,
                (row.variant == Variant::AnoOnly).to_string(),
                "adbench",
                "leakage-free",
            );
        }
    }
    for ac in &analysis.ablations {
        for row in &ac.table.rows {
            emit(
                [
                    "ablation".into(),
                    ac.setting.name().into(),
                    ac.protocol.name().into(),
                    labeled_cells(row.labeled, counts),
                    String::new(),
                ],
                row,
                (row.variant == Variant::AnoOnly).to_string(),
                "defaults",
                &row.value.as_ref().map_or(String::new(), |o| o.to_string()),
            );
        }
    }
    s
}

/// `ranks.csv` of a results set.
pub fn ranks_csv(results: &[ResultRecord]) -> String {
    let secs = sections(results);
    ranks_csv_of(&secs, &Analysis::of(&secs))
}

/// `ranks.csv`: per section with a rank comparison, metric and method variant: the
/// average rank (1 = best) over the files every variant ran, with the section's Friedman
/// statistic and p-value and the Nemenyi CD at alpha.
pub fn ranks_csv_of(secs: &[Section], analysis: &Analysis) -> String {
    let counts = has_counts(secs);
    let mut s = header(
        "setting,protocol,gamma_la,ablation,metric,method,anoonly,mean_rank,files,variants,friedman_statistic,friedman_p,cd,alpha\n",
        counts,
    );
    for (sec, r) in secs.iter().zip(&analysis.ranks) {
        let Ok(r) = r else { continue };
        let abl = sec
            .key
            .ablation
            .as_ref()
            .map_or(String::new(), |o| o.to_string());
        for (m, rc) in &r.metrics {
            let (stat, p) = match &rc.friedman {
                Ok(f) => (format!("{:.4}", f.statistic), f.pvalue.to_string()),
                Err(_) => (String::new(), String::new()),
            };
            for ((method, v), rank) in r.variants.iter().zip(&rc.mean_ranks) {
                let _ = writeln!(
                    s,
                    "{},{},{},{abl},{},{method},{},{rank:.4},{},{},{stat},{p},{:.4},{}",
                    sec.key.setting_name(),
                    sec.key.protocol_name(),
                    labeled_cells(sec.key.labeled, counts),
                    m.name(),
                    *v == Variant::AnoOnly,
                    r.files,
                    r.variants.len(),
                    rc.cd,
                    rc.alpha
                );
            }
        }
    }
    s
}
