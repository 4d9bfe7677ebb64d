//! `report.md`, `report.csv`, `evidence.csv` and `ranks.csv` from the
//! [`sections`](super::sections) of a run's results and their [`Analysis`]: the paper's
//! Tables 1, 3 and 4 beside each cell, the paired evidence of AnoOnly against base and the
//! ranks of the method variants in each section, the protocol comparison, the ablation
//! tables and their evidence against the defaults, per-file values. A report is a pure
//! function of the results it reads: the same `results.jsonl` gives the same bytes,
//! whatever order its lines are in and whatever the thread count.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::evidence::{
    cd_name, Analysis, MetricEvidence, PairedRow, PairedTable, SectionRanks, BOOTSTRAP_SEED,
    EVIDENCE_METRICS,
};
use super::grid::Variant;
use super::paper;
use super::results::{Failure, StoredResult};
use super::sections::{
    ablation_groups, fmt_num, label, method_rank, sections, variants, AblationGroup, Metric,
    Section,
};
use crate::stats::{format_p, Verdict, ALPHA, BOOTSTRAP_RESAMPLES};
use anoonly::experiment::{pct, MeanSd};
use anoonly::methods::MethodKind;
use anoonly::train::stages::label_free;

fn with_paper(m: MeanSd, paper: Option<f64>) -> String {
    match paper {
        Some(p) => format!("{} [{:.1}, {:+.1}]", pct(m), p, 100.0 * m.mean - p),
        None => pct(m),
    }
}

fn anoonly_word(v: Variant) -> &'static str {
    match v {
        Variant::Base => "no",
        Variant::AnoOnly => "yes",
    }
}

const PROTOCOL_NOTES: [(&str, &str); 2] = [
    (
        "adbench",
        "protocol `adbench` (the authors' pipeline: files under 1,000 rows resampled with replacement to 1,000 before the 70/30 stratified split, so MVTec-AD and 20news test rows also sit in train; files over 10,000 rows subsampled)",
    ),
    (
        "leakage-free",
        "protocol `leakage-free` (as `adbench` without the resampling before the split: no row in both train and test)",
    ),
];

const SETTING_NOTES: [(&str, &str); 2] = [
    (
        "clean",
        "setting `clean` (unlabeled train anomalies dropped: the paper's main tables, `--normal_clean` in the authors' code)",
    ),
    (
        "noisy",
        "setting `noisy` (unlabeled train anomalies kept with label 0, i.e. label noise: the authors' `run.py` default, paper Fig. 8)",
    ),
];

fn note(table: &[(&str, &'static str)], key: &str) -> String {
    table
        .iter()
        .find(|(k, _)| *k == key)
        .map_or_else(|| format!("`{key}`"), |(_, v)| v.to_string())
}

/// A per-file appendix row: file, method (ranked), variant.
type FileRowKey<'a> = (&'a str, (usize, String), Variant);

/// `report.md`.
pub fn markdown(results: &[StoredResult], failures: &[Failure]) -> String {
    let secs = sections(results);
    markdown_of(&secs, &Analysis::of(&secs), results.len(), failures)
}

/// [`markdown`] from sections already built (of `n_results` results) and their analysis.
pub fn markdown_of(
    secs: &[Section],
    analysis: &Analysis,
    n_results: usize,
    failures: &[Failure],
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# anoonly bench report\n");
    let _ = writeln!(
        s,
        "{} finished cells in {} section(s){}. Metrics in %: each cell is the mean ± sd over seeds of the family mean, where (protocol.md 1.4) a family mean is the plain mean of the metric over the family's files, and the last column is the plain mean of the family means (every family weighs 1). Where the paper has a value (clean, `adbench`, gamma_la 10%, no ablation) it follows in brackets with our difference: `ours ± sd [paper, ours − paper]`. The paper's Overall covers 10 families, 6 of which have no files here, so the last column compares with the paper's mean over the same families as ours.\n",
        n_results,
        secs.len(),
        if failures.is_empty() {
            String::new()
        } else {
            format!(", {} failed (listed at the end)", failures.len())
        }
    );
    let _ = writeln!(
        s,
        "Paired evidence (each section's AnoOnly against base, `leakage-free` against `adbench`, an ablation value against the defaults) is computed on the (file, seed) cells both sides ran. Δ is the report's own family-averaged difference in points (per seed: mean over each family's files, mean over families; then mean over seeds), with a 95% percentile bootstrap interval ({} resamples of the files within each family and of the seeds, seed {BOOTSTRAP_SEED}). p is the two-sided Wilcoxon signed-rank test on the per-file differences (seeds averaged first; exact for small samples, as scipy), corrected with Holm's method across the rows of its table (per metric); W/T/L counts the files where the difference is positive, zero, negative. The verdict says what alpha = {ALPHA} allows: a direction only when the corrected p is at most alpha. Ranks: per file (seeds averaged first), the section's method variants ranked by the metric (1 = best, ties averaged); the Friedman test over them and the Nemenyi critical difference at alpha = {ALPHA} (two variants whose average ranks differ by at least the CD are significantly apart).\n",
        thousands(BOOTSTRAP_RESAMPLES)
    );
    for (si, sec) in secs.iter().enumerate() {
        let _ = writeln!(s, "## {}\n", sec.key.title());
        let mut seeds: BTreeSet<u64> = BTreeSet::new();
        let mut files: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for r in &sec.results {
            seeds.insert(r.seed);
            files.entry(&r.family).or_default().insert(&r.dataset);
        }
        let _ = writeln!(
            s,
            "Run with {}; {}; {} labeled anomalies out of the train anomalies (at least one). Seeds {}. Files per family: {}.\n",
            note(&PROTOCOL_NOTES, &sec.key.protocol),
            note(&SETTING_NOTES, &sec.key.setting),
            format_args!("{}%", fmt_num(100.0 * sec.key.gamma_la())),
            seeds.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", "),
            sec.families
                .iter()
                .map(|f| {
                    let n = files.get(f.as_str()).map_or(0, |v| v.len());
                    match paper::FAMILY_FILES.iter().find(|(p, _)| p == f) {
                        Some((_, total)) if *total != n => format!("{f} {n} (paper {total})"),
                        _ => format!("{f} {n}"),
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        );
        if sec.results.iter().all(|r| r.family == r.dataset) && sec.families.len() > 1 {
            let _ = writeln!(
                s,
                "Each file is its own family here (ADBench's Classical files): a family mean is the file's value, and the mean of family means is the plain mean over the files. The paired evidence's bootstrap resamples the files (a family of one file cannot be resampled within), so its interval carries the spread across files.\n"
            );
        }
        // Where a method's fit time went when a label-free stage of it was shared.
        for kind in MethodKind::ALL {
            if !sec.results.iter().any(|r| r.method == kind.name()) {
                continue;
            }
            for stage in label_free(kind.stages()) {
                let _ = writeln!(
                    s,
                    "{}'s fit s/cell: a grid computes its {} once per file, seed and setting (and gamma_la where it matters) and shares it between the cells, so the cell that computed it carries its time and the others only their training stage (`bench --no-share` to time every cell whole).\n",
                    kind.name().to_uppercase(),
                    stage.description
                );
            }
        }
        for metric in Metric::ALL {
            let _ = writeln!(s, "### {}\n", metric.title());
            let mut header = String::from("| method | AnoOnly |");
            let mut rule = String::from("|---|---|");
            for f in &sec.families {
                let _ = write!(header, " {f} |");
                rule.push_str("---|");
            }
            let _ = write!(
                header,
                " mean of {} families | fit s/cell |",
                sec.families.len()
            );
            rule.push_str("---|---|");
            let _ = writeln!(s, "{header}\n{rule}");
            for row in &sec.rows {
                let fm = row.metric(metric);
                let paper_table = metric.table().filter(|_| sec.key.is_paper_setting());
                let anoonly = row.variant == Variant::AnoOnly;
                let mut line = format!("| {} | {} |", row.method, anoonly_word(row.variant));
                for f in &sec.families {
                    let cell = match fm.families.get(f) {
                        Some((m, _)) => with_paper(
                            *m,
                            paper_table
                                .and_then(|t| paper::value(&row.method, anoonly, t, Some(f))),
                        ),
                        None => "–".to_string(),
                    };
                    let _ = write!(line, " {cell} |");
                }
                let fams: Vec<&str> = sec.families.iter().map(String::as_str).collect();
                let paper_mean =
                    paper_table.and_then(|t| paper::mean_over(&row.method, anoonly, t, &fams));
                let _ = write!(
                    line,
                    " {} | {:.2} |",
                    with_paper(fm.mean, paper_mean),
                    row.fit_seconds
                );
                let _ = writeln!(s, "{line}");
            }
            s.push('\n');
        }
        if let Some(t) = &analysis.anoonly[si] {
            anoonly_evidence(t, &mut s);
        }
        rank_table(sec, &analysis.ranks[si], &mut s);
    }
    protocol_sections(analysis, &mut s);
    ablation_summaries(secs, &mut s);
    ablation_evidence(analysis, &mut s);
    if secs.iter().any(|s| s.rows.len() > 1 || s.results.len() > 1) {
        let _ = writeln!(s, "## Appendix: per-file values\n");
        let _ = writeln!(
            s,
            "Mean ± sd over seeds, in %. AUCPR-n = AUCPR of the normal class with the correct sign; AUCPR-n (authors) with the authors' sign.\n"
        );
        for sec in secs {
            let _ = writeln!(s, "### {}\n", sec.key.title());
            let _ = writeln!(
                s,
                "| file | method | AnoOnly | seeds | AUCROC | AUCPR | AUCPR-n | AUCPR-n (authors) | fit s |\n|---|---|---|---|---|---|---|---|---|"
            );
            let mut by_file: BTreeMap<FileRowKey, Vec<&StoredResult>> = BTreeMap::new();
            for r in &sec.results {
                by_file
                    .entry((&r.dataset, method_rank(&r.method), r.variant))
                    .or_default()
                    .push(r);
            }
            for ((file, (_, method), variant), rs) in by_file {
                let col =
                    |m: Metric| pct(MeanSd::of(&rs.iter().map(|r| m.of(r)).collect::<Vec<_>>()));
                let fit = rs.iter().map(|r| r.fit_seconds).sum::<f64>() / rs.len() as f64;
                let _ = writeln!(
                    s,
                    "| {file} | {method} | {} | {} | {} | {} | {} | {} | {fit:.2} |",
                    anoonly_word(variant),
                    rs.len(),
                    col(Metric::AucRoc),
                    col(Metric::AucPr),
                    col(Metric::AucPrNormal),
                    col(Metric::AucPrNormalOfficial),
                );
            }
            s.push('\n');
        }
    }
    if !failures.is_empty() {
        let _ = writeln!(s, "## Failed cells\n");
        for f in failures {
            let _ = writeln!(s, "- `{}`: {}", f.key, f.error);
        }
        s.push('\n');
    }
    s
}

/// One table per ablation switch: its values down, the method variants across, the mean
/// AUCROC of family means (± sd over seeds); for `norm` on DeepSAD, the paper's Table 2
/// beside (its numbers are over 10 families, ours over the families present).
fn ablation_summaries(secs: &[Section], s: &mut String) {
    for AblationGroup {
        name,
        setting,
        protocol,
        sections: group,
        values,
    } in ablation_groups(secs)
    {
        let mut cols = variants(group.iter().flat_map(|g| &g.rows));
        cols.sort_by_key(|(m, v)| (method_rank(m), *v));
        let gammas: BTreeSet<String> = group
            .iter()
            .map(|g| fmt_num(100.0 * g.key.gamma_la()))
            .collect();
        let _ = writeln!(
            s,
            "## Ablation `{name}` ({setting} · {protocol} · gamma_la {}%): AUCROC, mean of family means\n",
            gammas.into_iter().collect::<Vec<_>>().join(", ")
        );
        let table2 = name == "norm";
        if table2 {
            let _ = writeln!(
                s,
                "In brackets: the paper's Table 2 (DeepSAD, overall AUCROC over its 10 families; ours is over the families present here, so compare the ordering and gaps rather than the levels). `bn-noaffine` is the paper's BN* and DeepSAD's default in the authors' code; `bn-loss` is BN†.\n"
            );
        }
        let mut header = format!("| {name} |");
        let mut rule = String::from("|---|");
        for (m, v) in &cols {
            let _ = write!(header, " {} |", label(m, *v));
            rule.push_str("---|");
        }
        let _ = writeln!(s, "{header}\n{rule}");
        for val in &values {
            let mut line = format!("| {val} |");
            for (m, v) in &cols {
                let row = group
                    .iter()
                    .filter(|g| g.key.ablation.as_ref().is_some_and(|o| o.value == *val))
                    .flat_map(|g| g.rows.iter())
                    .find(|r| r.method == *m && r.variant == *v);
                let cell = match row {
                    Some(r) => {
                        let mean = r.metric(Metric::AucRoc).mean;
                        let paper = table2
                            .then(|| m == "deepsad")
                            .filter(|x| *x)
                            .and_then(|_| paper::TABLE2.iter().find(|(n, _, _)| n == val))
                            .and_then(|(_, base, ao)| match v {
                                Variant::Base => *base,
                                Variant::AnoOnly => Some(*ao),
                            });
                        match paper {
                            Some(p) => format!("{} [{p:.2}]", pct(mean)),
                            None => pct(mean),
                        }
                    }
                    None => "–".to_string(),
                };
                let _ = write!(line, " {cell} |");
            }
            let _ = writeln!(s, "{line}");
        }
        s.push('\n');
    }
}

/// `report.csv`: one row per section x method variant x family (or `mean`) x metric,
/// with the paper's value and the difference where the paper has one. Values in %.
pub fn csv(results: &[StoredResult]) -> String {
    csv_of(&sections(results))
}

/// [`csv`](fn@csv) from sections already built.
pub fn csv_of(secs: &[Section]) -> String {
    let mut s = String::from(
        "setting,protocol,gamma_la,ablation,method,anoonly,family,files,metric,mean,sd,seeds,paper,diff\n",
    );
    for sec in secs {
        let ablation = sec
            .key
            .ablation
            .as_ref()
            .map_or(String::new(), |o| o.to_string());
        for row in &sec.rows {
            let anoonly = row.variant == Variant::AnoOnly;
            for metric in Metric::ALL {
                let fm = row.metric(metric);
                let paper_table = metric.table().filter(|_| sec.key.is_paper_setting());
                let fams: Vec<&str> = sec.families.iter().map(String::as_str).collect();
                let mut cols: Vec<(String, usize, MeanSd, Option<f64>)> = sec
                    .families
                    .iter()
                    .filter_map(|f| {
                        fm.families.get(f).map(|(m, n)| {
                            let p = paper_table
                                .and_then(|t| paper::value(&row.method, anoonly, t, Some(f)));
                            (f.clone(), *n, *m, p)
                        })
                    })
                    .collect();
                let n_files = cols.iter().map(|c| c.1).sum();
                cols.push((
                    "mean".to_string(),
                    n_files,
                    fm.mean,
                    paper_table.and_then(|t| paper::mean_over(&row.method, anoonly, t, &fams)),
                ));
                for (family, n, m, p) in cols {
                    let _ = writeln!(
                        s,
                        "{},{},{},{},{},{},{},{},{},{:.4},{:.4},{},{},{}",
                        sec.key.setting,
                        sec.key.protocol,
                        sec.key.gamma_la(),
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

/// `10,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

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
fn anoonly_evidence(t: &PairedTable, s: &mut String) {
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
        |r| format!("**{}** against {}", label(&r.method, r.variant), r.method),
        ("better", "worse"),
        s,
    );
}

/// A section's table of average ranks with the Friedman test and the CD diagram, or why
/// it has none.
fn rank_table(sec: &Section, ranks: &Result<SectionRanks, String>, s: &mut String) {
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
fn protocol_sections(analysis: &Analysis, s: &mut String) {
    for pc in &analysis.protocols {
        let mut title = format!(
            "## Leakage: `leakage-free` − `adbench` ({} · gamma_la {}%",
            pc.setting,
            fmt_num(100.0 * pc.gamma_la)
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

/// Each ablation value against the defaults (e.g. FEAWAD's budgets against the authors').
fn ablation_evidence(analysis: &Analysis, s: &mut String) {
    for ac in &analysis.ablations {
        let _ = writeln!(
            s,
            "## Ablation `{}` against the defaults ({} · {})\n",
            ac.name, ac.setting, ac.protocol
        );
        let note = if ac.name == "budget" {
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
            |r| format!("{} {}, **{}**", ac.name, r.tag, label(&r.method, r.variant)),
            ("better", "worse"),
            s,
        );
    }
}

/// `evidence.csv` of a results set.
pub fn evidence_csv(results: &[StoredResult]) -> String {
    let secs = sections(results);
    evidence_csv_of(&secs, &Analysis::of(&secs))
}

/// `evidence.csv`: one row per paired comparison x metric (x family, for the protocol
/// comparison's per-family intervals), differences in points. `comparison` is `anoonly`
/// (b = AnoOnly, a = base, in a section), `protocol` (b = `leakage-free`, a = `adbench`) or
/// `ablation` (b = the value, a = the defaults); the column of the compared axis is empty.
/// `p` and `p_holm` (Holm across the table's rows) are on the `mean` rows only.
pub fn evidence_csv_of(secs: &[Section], analysis: &Analysis) -> String {
    let mut s = String::from(
        "comparison,setting,protocol,gamma_la,ablation,method,anoonly,a,b,family,metric,files,seeds,diff,ci_lo,ci_hi,p,p_holm,wins,ties,losses,verdict\n",
    );
    let verdict_token = |v: &Verdict| match v {
        Verdict::Better { .. } => "better",
        Verdict::Worse { .. } => "worse",
        Verdict::NoDetectableDifference { .. } => "no_detectable_difference",
    };
    // (comparison, setting, protocol, gamma_la, ablation, anoonly column, a, b)
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
                    sec.key.setting.clone(),
                    sec.key.protocol.clone(),
                    sec.key.gamma_la().to_string(),
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
                    pc.setting.clone(),
                    String::new(),
                    pc.gamma_la.to_string(),
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
                    ac.setting.clone(),
                    ac.protocol.clone(),
                    row.gamma_la.to_string(),
                    String::new(),
                ],
                row,
                (row.variant == Variant::AnoOnly).to_string(),
                "defaults",
                &format!("{}={}", ac.name, row.value),
            );
        }
    }
    s
}

/// `ranks.csv` of a results set.
pub fn ranks_csv(results: &[StoredResult]) -> String {
    let secs = sections(results);
    ranks_csv_of(&secs, &Analysis::of(&secs))
}

/// `ranks.csv`: per section with a rank comparison, metric and method variant: the
/// average rank (1 = best) over the files every variant ran, with the section's Friedman
/// statistic and p-value and the Nemenyi CD at alpha.
pub fn ranks_csv_of(secs: &[Section], analysis: &Analysis) -> String {
    let mut s = String::from(
        "setting,protocol,gamma_la,ablation,metric,method,anoonly,mean_rank,files,variants,friedman_statistic,friedman_p,cd,alpha\n",
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
                    sec.key.setting,
                    sec.key.protocol,
                    sec.key.gamma_la(),
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
