//! `report.md`, `report.csv`, `evidence.csv` and `ranks.csv` from the
//! [`sections`](super::sections) of a run's results and their [`Analysis`]: the paper's
//! Tables 1, 3 and 4 beside each cell (`data/paper.toml`), the paired evidence of AnoOnly
//! against base and the ranks of the method variants in each section, the protocol
//! comparison, the ablation tables and their evidence against the defaults, per-file
//! values. A report is a pure function of the results it reads: the same `results.jsonl`
//! gives the same bytes, whatever order its lines are in and whatever the thread count.
//! This module writes the tables of values; `statistics` the paired evidence and ranks;
//! `csv` the three CSV files.

mod csv;
mod statistics;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

pub use self::csv::{csv, csv_of, evidence_csv, evidence_csv_of, ranks_csv, ranks_csv_of};
use self::statistics::{ablation_evidence, anoonly_evidence, protocol_sections, rank_table};
use super::evidence::{Analysis, BOOTSTRAP_SEED};
use super::grid::Variant;
use super::paper::Paper;
use super::results::{Failure, ResultRecord};
use super::sections::{
    ablation_groups, fmt_num, label, labeled_order, labeled_text, method_rank, sections, variants,
    AblationGroup, Metric, Section,
};
use crate::stats::{ALPHA, BOOTSTRAP_RESAMPLES};
use anoonly::experiment::{pct, MeanSd};
use anoonly::methods::MethodKind;
use anoonly::protocol::{Labeled, Protocol, Setting};
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

/// What a section's labeled anomalies were, for its introduction.
fn labeled_note(l: Labeled) -> String {
    match l {
        Labeled::Ratio(g) => format!(
            "{}% labeled anomalies out of the train anomalies (at least one)",
            fmt_num(100.0 * g)
        ),
        Labeled::Count(k) => format!(
            "{k} labeled anomalies (count mode, ADBench's `nla`: the first {k} of the draw the ratio makes; a file whose train split has fewer fails)"
        ),
    }
}

/// The labeled anomalies of several sections: `gamma_la 5, 10%` for ratios alone (as
/// reports always wrote it), each mode spelled out otherwise.
fn labeled_list(modes: impl Iterator<Item = Labeled>) -> String {
    let mut modes: Vec<Labeled> = modes.collect();
    modes.sort_by_key(|l| labeled_order(*l));
    modes.dedup_by_key(|l| labeled_order(*l));
    if modes.iter().all(|l| l.ratio().is_some()) {
        // Sorted as text, as reports always listed them.
        let ratios: BTreeSet<String> = (modes.iter())
            .filter_map(|l| l.ratio().map(|g| fmt_num(100.0 * g)))
            .collect();
        return format!(
            "gamma_la {}%",
            ratios.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    let all: Vec<String> = modes.into_iter().map(labeled_text).collect();
    all.join(", ")
}

/// What a section's protocol is, in its introduction.
fn protocol_note(p: Protocol) -> &'static str {
    match p {
        Protocol::Adbench => "protocol `adbench` (the authors' pipeline: files under 1,000 rows resampled with replacement to 1,000 before the 70/30 stratified split, so MVTec-AD and 20news test rows also sit in train; files over 10,000 rows subsampled)",
        Protocol::LeakageFree => "protocol `leakage-free` (as `adbench` without the resampling before the split: no row in both train and test)",
    }
}

/// What a section's setting is, in its introduction.
fn setting_note(s: Setting) -> &'static str {
    match s {
        Setting::Clean => "setting `clean` (unlabeled train anomalies dropped: the paper's main tables, `--normal_clean` in the authors' code)",
        Setting::Noisy => "setting `noisy` (unlabeled train anomalies kept with label 0, i.e. label noise: the authors' `run.py` default, paper Fig. 8)",
    }
}

/// A per-file appendix row: file, method (its rank), variant.
type FileRowKey<'a> = (&'a str, usize, Variant);

/// `report.md`.
pub fn markdown(results: &[ResultRecord], failures: &[Failure]) -> String {
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
            "Run with {}; {}; {}. Seeds {}. Files per family: {}.\n",
            protocol_note(sec.key.protocol),
            setting_note(sec.key.setting),
            labeled_note(sec.key.labeled),
            seeds
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            sec.families
                .iter()
                .map(|f| {
                    let n = files.get(f.as_str()).map_or(0, |v| v.len());
                    match Paper::get().family_files(f) {
                        Some(total) if total != n => format!("{f} {n} (paper {total})"),
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
        for &kind in MethodKind::ALL {
            if !sec.results.iter().any(|r| r.method == kind) {
                continue;
            }
            for stage in label_free(kind.stages()) {
                let _ = writeln!(
                    s,
                    "{}'s fit s/cell: a grid computes its {} once per file, seed and setting (and gamma_la where it matters) and shares it between the cells, so the cell that computed it carries its time and the others only their training stage (`bench --no-share` to time every cell whole).\n",
                    kind.display_name(),
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
            let paper = sec.key.is_paper_setting().then(Paper::get);
            for row in &sec.rows {
                let fm = row.metric(metric);
                let mut line = format!("| {} | {} |", row.method, anoonly_word(row.variant));
                for f in &sec.families {
                    let cell = match fm.families.get(f) {
                        Some((m, _)) => with_paper(
                            *m,
                            paper.and_then(|p| p.value(row.method, row.variant, metric, Some(f))),
                        ),
                        None => "–".to_string(),
                    };
                    let _ = write!(line, " {cell} |");
                }
                let fams: Vec<&str> = sec.families.iter().map(String::as_str).collect();
                let paper_mean =
                    paper.and_then(|p| p.mean_over(row.method, row.variant, metric, &fams));
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
            let mut by_file: BTreeMap<FileRowKey, (MethodKind, Vec<&ResultRecord>)> =
                BTreeMap::new();
            for r in &sec.results {
                by_file
                    .entry((&r.dataset, method_rank(r.method), r.variant))
                    .or_insert_with(|| (r.method, Vec::new()))
                    .1
                    .push(r);
            }
            for ((file, _, variant), (method, rs)) in by_file {
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
/// AUCROC of family means (± sd over seeds); where the paper reports the switch
/// (`data/paper.toml`, e.g. Table 2), its numbers beside those of its method, after its
/// note (they are over the paper's families, ours over the families present).
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
        cols.sort_by_key(|(m, v)| (method_rank(*m), *v));
        let _ = writeln!(
            s,
            "## Ablation `{name}` ({} · {} · {}): AUCROC, mean of family means\n",
            setting.name(),
            protocol.name(),
            labeled_list(group.iter().map(|g| g.key.labeled))
        );
        let reference = Paper::get().ablation(name);
        if let Some(r) = reference {
            let _ = writeln!(s, "{}\n", r.note);
        }
        let mut header = format!("| {name} |");
        let mut rule = String::from("|---|");
        for (m, v) in &cols {
            let _ = write!(header, " {} |", label(*m, *v));
            rule.push_str("---|");
        }
        let _ = writeln!(s, "{header}\n{rule}");
        for &val in &values {
            let mut line = format!("| {} |", val.value());
            for (m, v) in &cols {
                let row = group
                    .iter()
                    .filter(|g| g.key.ablation.as_ref() == Some(val))
                    .flat_map(|g| g.rows.iter())
                    .find(|r| r.method == *m && r.variant == *v);
                let cell = match row {
                    Some(r) => {
                        let mean = r.metric(Metric::AucRoc).mean;
                        let paper = reference.and_then(|p| p.value(*m, *v, val));
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

/// `10,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
