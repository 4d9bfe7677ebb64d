//! The statistical sections of `report.md`: per section, AnoOnly against base (paired
//! evidence and verdicts) and the ranks of the method variants with the Friedman test and
//! the CD diagram; the protocol comparisons; each ablation value against the defaults.

use std::fmt::Write as _;

use super::anoonly_word;
use crate::evidence::{
    cd_name, Analysis, MetricEvidence, PairedRow, PairedTable, SectionRanks, EVIDENCE_METRICS,
};
use crate::grid::Switch;
use crate::sections::{fmt_num, label, labeled_text, Metric, Section};
use crate::stats::{format_p, Verdict, ALPHA};

/// A difference in points, signed, one decimal (`+5.2`, `-0.3`, `0.0`).
fn points(x: f64) -> String {
    let v = (1000.0 * x).round() / 10.0;
    if v == 0.0 {
        "0.0".to_string()
    } else {
        format!("{v:+.1}")
    }
}

/// `+5.2 [+1.0, +9.8]`.
fn with_ci(estimate: f64, lo: f64, hi: f64) -> String {
    format!("{} [{}, {}]", points(estimate), points(lo), points(hi))
}

/// A p-value for a table cell: `0.012`, `< 0.001`.
fn p_cell(p: f64) -> String {
    format_p(p).replacen("p = ", "", 1).replacen("p ", "", 1)
}

/// The verdict in the words of a comparison: `better`/`worse` of `b` against `a`, or
/// `higher`/`lower` where `b` is no method (a protocol).
fn verdict_words(v: &Verdict, better: &str, worse: &str) -> String {
    match *v {
        Verdict::Better { p } => format!("{better} ({})", format_p(p)),
        Verdict::Worse { p } => format!("{worse} ({})", format_p(p)),
        Verdict::NoDetectableDifference { .. } => "no detectable difference".to_string(),
    }
}

/// `Δ [CI] | p | p (Holm) | W/T/L |` cells of one metric (with `raw_p`), or dashes.
fn evidence_cells(e: Option<&Result<MetricEvidence, String>>, raw_p: bool) -> String {
    match e {
        Some(Ok(m)) => {
            let ci = &m.evidence.ci;
            let p = if raw_p {
                format!(" {} |", p_cell(m.evidence.wilcoxon.pvalue))
            } else {
                String::new()
            };
            format!(
                " {} |{p} {} | {} |",
                with_ci(ci.estimate, ci.lo, ci.hi),
                p_cell(m.p_holm),
                m.evidence.wins_ties_losses
            )
        }
        Some(Err(why)) => format!(" – ({why}) |{} – | – |", if raw_p { " – |" } else { "" }),
        None => format!(" – |{} – | – |", if raw_p { " – |" } else { "" }),
    }
}

/// A note when some row has too few files for the Wilcoxon test to reach alpha: with `n`
/// non-zero differences its smallest two-sided p is `2 / 2^n` (0.0625 at n = 5).
fn too_few_files_note(t: &PairedTable, s: &mut String) {
    let n_min = t
        .rows
        .iter()
        .flat_map(|r| r.metrics.iter())
        .filter_map(|(_, e)| e.as_ref().ok().map(|e| e.evidence.wilcoxon.n))
        .min();
    if let Some(n) = n_min {
        let smallest = 2.0 / 2f64.powi(n.min(60) as i32);
        if smallest > ALPHA {
            let _ = writeln!(
                s,
                "With {n} file(s) with a non-zero difference, the smallest two-sided p the Wilcoxon test can give is 2/2^{n} = {}, above alpha = {ALPHA}: such a row cannot show a significant difference, whatever its interval.\n",
                fmt_num(smallest)
            );
        }
    }
}

/// One verdict line per row: `- what: AUCROC better (p = 0.01); AUCPR no detectable difference.`
fn verdict_lines(
    t: &PairedTable,
    what: impl Fn(&PairedRow) -> String,
    words: (&str, &str),
    s: &mut String,
) {
    for row in &t.rows {
        let parts: Vec<String> = row
            .metrics
            .iter()
            .map(|(m, e)| {
                let name = metric_short(*m);
                match e {
                    Ok(e) => format!("{name} {}", verdict_words(&e.verdict, words.0, words.1)),
                    Err(why) => format!("{name}: no evidence ({why})"),
                }
            })
            .collect();
        let _ = writeln!(s, "- {}: {}.", what(row), parts.join("; "));
    }
    s.push('\n');
    too_few_files_note(t, s);
}

fn metric_short(m: Metric) -> &'static str {
    match m {
        Metric::AucRoc => "AUCROC",
        Metric::AucPr => "AUCPR",
        Metric::AucPrNormalOfficial => "AUCPR-n (authors)",
        Metric::AucPrNormal => "AUCPR-n",
    }
}

/// A section's AnoOnly-against-base table and verdict lines.
pub(super) fn anoonly_evidence(t: &PairedTable, s: &mut String) {
    let _ = writeln!(
        s,
        "### Paired evidence: AnoOnly against base\n\nΔ = with AnoOnly − without, in points, 95% bootstrap CI; p before and after Holm's correction across the {} method(s); W/T/L = files where AnoOnly is higher / equal / lower.\n",
        t.rows.len()
    );
    let mut header = String::from("| method | files × seeds |");
    let mut rule = String::from("|---|---|");
    for m in EVIDENCE_METRICS {
        let n = metric_short(m);
        let _ = write!(header, " Δ {n} [95% CI] | p | p (Holm) | W/T/L |");
        rule.push_str("---|---|---|---|");
    }
    let _ = writeln!(s, "{header}\n{rule}");
    for row in &t.rows {
        let shape = row
            .metrics
            .iter()
            .find_map(|(_, e)| e.as_ref().ok())
            .map_or("–".to_string(), |e| {
                format!("{} × {}", e.evidence.files, e.seeds)
            });
        let mut line = format!("| {} | {shape} |", row.method);
        for m in EVIDENCE_METRICS {
            line.push_str(&evidence_cells(row.metric(m), true));
        }
        let _ = writeln!(s, "{line}");
    }
    s.push('\n');
    verdict_lines(
        t,
        |r| format!("**{}** against {}", label(r.method, r.variant), r.method),
        ("better", "worse"),
        s,
    );
}

/// A section's table of average ranks with the Friedman test and the CD diagram, or why
/// it has none.
pub(super) fn rank_table(sec: &Section, ranks: &Result<SectionRanks, String>, s: &mut String) {
    let _ = writeln!(s, "### Ranks of the method variants (1 = best)\n");
    let r = match ranks {
        Ok(r) => r,
        Err(why) => {
            let _ = writeln!(
                s,
                "No rank comparison or critical-difference diagram: {why}.\n"
            );
            return;
        }
    };
    let mut intro = format!(
        "{} method variants ranked on each of {} file(s) (seeds averaged first).",
        r.variants.len(),
        r.files
    );
    for m in EVIDENCE_METRICS {
        if let Some(rc) = r.metric(m) {
            let f = match &rc.friedman {
                Ok(f) => format!(
                    "χ² = {:.2} ({} df), {}",
                    f.statistic,
                    f.treatments - 1,
                    format_p(f.pvalue)
                ),
                Err(e) => format!("undefined ({e})"),
            };
            let _ = write!(intro, " Friedman test, {}: {f}.", metric_short(m));
        }
    }
    if let Some(rc) = r.metric(Metric::AucRoc) {
        let _ = write!(
            intro,
            " Nemenyi critical difference at alpha = {}: {:.2}.",
            rc.alpha, rc.cd
        );
    }
    let _ = writeln!(s, "{intro}\n");
    let _ = writeln!(
        s,
        "| method | AnoOnly | mean rank AUCROC | mean rank AUCPR |\n|---|---|---|---|"
    );
    let roc = r.metric(Metric::AucRoc);
    let pr = r.metric(Metric::AucPr);
    let mut order: Vec<usize> = (0..r.variants.len()).collect();
    if let Some(rc) = roc {
        order.sort_by(|&a, &b| rc.mean_ranks[a].total_cmp(&rc.mean_ranks[b]));
    }
    for i in order {
        let (m, v) = &r.variants[i];
        let cell = |rc: Option<&crate::stats::RankComparison>| {
            rc.map_or("–".to_string(), |rc| format!("{:.2}", rc.mean_ranks[i]))
        };
        let _ = writeln!(
            s,
            "| {m} | {} | {} | {} |",
            anoonly_word(*v),
            cell(roc),
            cell(pr)
        );
    }
    s.push('\n');
    if cfg!(feature = "plots") {
        let name = cd_name(&sec.key);
        let _ = writeln!(
            s,
            "Critical-difference diagram (AUCROC; bars join variants not significantly apart): `{name}.png` / `{name}.svg`\n\n![critical-difference diagram]({name}.png)\n"
        );
    }
    if !r.dropped.is_empty() {
        let _ = writeln!(
            s,
            "Left out of the ranks (not run by every method variant): {}.\n",
            r.dropped
                .iter()
                .map(|(f, lacks)| format!("`{f}` (no {})", lacks.join(", ")))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
}

/// The protocol comparisons: per family and method variant, `leakage-free` − `adbench`.
pub(super) fn protocol_sections(analysis: &Analysis, s: &mut String) {
    for pc in &analysis.protocols {
        let mut title = format!(
            "## Leakage: `leakage-free` − `adbench` ({} · {}",
            pc.setting.name(),
            labeled_text(pc.labeled)
        );
        if let Some(o) = &pc.ablation {
            let _ = write!(title, " · {o}");
        }
        let _ = writeln!(s, "{title})\n");
        let _ = writeln!(
            s,
            "Δ = the metric under `leakage-free` (no row in both train and test) minus under `adbench` (the authors' pipeline, which resamples files under 1,000 rows before the split), in points, on the (file, seed) cells both ran: a negative Δ is what the leak added to a method's score. Per family: the difference of the family means with its 95% bootstrap CI (the family's files and the seeds resampled); mean: the family-averaged Δ with its CI, the Wilcoxon test on per-file differences (Holm across the {} method variants), W/T/L = files where `leakage-free` is higher / equal / lower.\n",
            pc.table.rows.len()
        );
        for m in EVIDENCE_METRICS {
            let _ = writeln!(s, "### {}\n", metric_short(m));
            let mut header = String::from("| method | AnoOnly |");
            let mut rule = String::from("|---|---|");
            for f in &pc.families {
                let _ = write!(header, " {f} |");
                rule.push_str("---|");
            }
            header.push_str(" mean Δ [95% CI] | p (Holm) | W/T/L | verdict |");
            rule.push_str("---|---|---|---|");
            let _ = writeln!(s, "{header}\n{rule}");
            for row in &pc.table.rows {
                let mut line = format!("| {} | {} |", row.method, anoonly_word(row.variant));
                let e = row.metric(m);
                for f in &pc.families {
                    let cell = match e {
                        Some(Ok(e)) => e
                            .families
                            .iter()
                            .find(|(g, _)| g == f)
                            .map_or("–".to_string(), |(_, ci)| {
                                with_ci(ci.estimate, ci.lo, ci.hi)
                            }),
                        _ => "–".to_string(),
                    };
                    let _ = write!(line, " {cell} |");
                }
                line.push_str(&evidence_cells(e, false));
                let verdict = match e {
                    Some(Ok(e)) => verdict_words(
                        &e.verdict,
                        "higher without the leak",
                        "lower without the leak",
                    ),
                    _ => "–".to_string(),
                };
                let _ = writeln!(s, "{line} {verdict} |");
            }
            s.push('\n');
        }
        too_few_files_note(&pc.table, s);
    }
}

/// `100 + 30` (pretraining + training epochs) or `50`, from the recorded parameters.
fn epochs_text(e: &[(Option<u64>, Option<u64>)]) -> String {
    if e.is_empty() {
        return "–".to_string();
    }
    e.iter()
        .map(|(p, t)| match (p, t) {
            (Some(p), Some(t)) => format!("{p} + {t}"),
            (None, Some(t)) => t.to_string(),
            _ => "–".to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Each ablation value against the defaults (e.g. a method's training budgets against the
/// authors').
pub(super) fn ablation_evidence(analysis: &Analysis, s: &mut String) {
    for ac in &analysis.ablations {
        let _ = writeln!(
            s,
            "## Ablation `{}` against the defaults ({} · {})\n",
            ac.name,
            ac.setting.name(),
            ac.protocol.name()
        );
        let budget = ac
            .table
            .rows
            .iter()
            .filter_map(|r| r.value.as_ref())
            .any(|o| matches!(o.switch(), Switch::Budget(_)));
        let note = if budget {
            " For `budget`, the defaults are the authors' training budget: each value is the fraction of their epochs (and pretraining epochs) a cell trained, rounded to whole epochs (the epochs column shows what ran, pretraining + training)."
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "Each value of `{0}` against the cells without ablation (the defaults) at the same setting, protocol and gamma_la, per method variant, on the (file, seed) cells both ran. Δ = value − defaults in points, 95% bootstrap CI; p after Holm's correction across the {1} rows; W/T/L = files where the value is higher / equal / lower.{note}\n",
            ac.name,
            ac.table.rows.len()
        );
        let mut header = format!(
            "| {} | method | AnoOnly | epochs (defaults → value) | fit s/cell (defaults → value) |",
            ac.name
        );
        let mut rule = String::from("|---|---|---|---|---|");
        for m in EVIDENCE_METRICS {
            let _ = write!(
                header,
                " Δ {} [95% CI] | p (Holm) | W/T/L |",
                metric_short(m)
            );
            rule.push_str("---|---|---|");
        }
        let _ = writeln!(s, "{header}\n{rule}");
        for row in &ac.table.rows {
            let mut line = format!(
                "| {} | {} | {} | {} → {} | {:.2} → {:.2} |",
                row.tag,
                row.method,
                anoonly_word(row.variant),
                epochs_text(&row.epochs_a),
                epochs_text(&row.epochs_b),
                row.fit_seconds.0,
                row.fit_seconds.1
            );
            for m in EVIDENCE_METRICS {
                line.push_str(&evidence_cells(row.metric(m), false));
            }
            let _ = writeln!(s, "{line}");
        }
        s.push('\n');
        verdict_lines(
            &ac.table,
            |r| format!("{} {}, **{}**", ac.name, r.tag, label(r.method, r.variant)),
            ("better", "worse"),
            s,
        );
    }
}
