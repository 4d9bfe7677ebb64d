//! The report's statistics, a pure function of its sections: the paired evidence of a
//! method variant against a reference (AnoOnly against base in every section, protocol
//! `leakage-free` against `adbench`, an ablation value against the defaults) and the rank
//! comparison of a section's method variants behind its critical-difference diagram.
//! Computed once per report ([`Analysis::of`]) and written by `report` (report.md,
//! evidence.csv, ranks.csv) and `plots` (the CD diagrams). The bootstrap draws resample `b`
//! from stream `b` of [`BOOTSTRAP_SEED`], so nothing here depends on the thread count.

use std::collections::{BTreeSet, HashMap};

use super::grid::{Override, Variant};
use super::results::ResultRecord;
use super::sections::{ablation_groups, label, Metric, Section, SectionKey};
use crate::stats::{
    holm, paired_evidence, rank_comparison, verdict, BlockTable, BootstrapCi, NestedSample, Order,
    PairedEvidence, RankComparison, Verdict, ALPHA, BOOTSTRAP_RESAMPLES,
};
use anoonly::methods::MethodKind;
use anoonly::protocol::{Labeled, Protocol, Setting};

/// The seed of every bootstrap of a report.
pub const BOOTSTRAP_SEED: u64 = 0;

/// The metrics paired evidence and ranks are given for (the paper's Tables 1 and 3).
pub const EVIDENCE_METRICS: [Metric; 2] = [Metric::AucRoc, Metric::AucPr];

/// Fewest method variants a rank comparison takes: the Friedman test needs 3.
pub const MIN_RANK_VARIANTS: usize = 3;

/// Fewest files (run by every method variant) a rank comparison takes: below it, average
/// ranks over so few data sets say nothing (the CD exceeds the rank range).
pub const MIN_RANK_FILES: usize = 3;

/// One comparison of a table: `b` against `a` for one method variant.
struct PairInput<'a> {
    method: MethodKind,
    variant: Variant,
    /// What the row compares where the table has more than one value (an ablation value).
    tag: String,
    /// The ablation value compared (none in other tables) and the labeled anomalies of the
    /// cells.
    value: Option<Override>,
    labeled: Labeled,
    a: Vec<&'a ResultRecord>,
    b: Vec<&'a ResultRecord>,
}

/// The evidence of one row in one metric.
#[derive(Clone, Debug)]
pub struct MetricEvidence {
    /// Bootstrap CI of the family-averaged difference b − a, Wilcoxon on per-file
    /// differences, wins/ties/losses (fractions, not %).
    pub evidence: PairedEvidence,
    pub seeds: usize,
    /// The Wilcoxon p-value after Holm's correction across the table's rows.
    pub p_holm: f64,
    pub verdict: Verdict,
    /// Per family, in report order: the family's mean difference and its bootstrap CI
    /// (files of the family and seeds resampled); only in tables that ask for it.
    pub families: Vec<(String, BootstrapCi)>,
}

/// One row of a paired table.
#[derive(Clone, Debug)]
pub struct PairedRow {
    pub method: MethodKind,
    pub variant: Variant,
    /// The row's label in its table: the ablation value, with the labeled anomalies where
    /// the table spans several (empty in other tables).
    pub tag: String,
    /// The ablation value compared (none in other tables).
    pub value: Option<Override>,
    pub labeled: Labeled,
    /// Mean fit seconds of a cell of `a` and of `b`.
    pub fit_seconds: (f64, f64),
    /// Distinct `(pretrain_epochs, epochs)` of `b`'s cells as their lines recorded them.
    pub epochs_b: Vec<(Option<u64>, Option<u64>)>,
    pub epochs_a: Vec<(Option<u64>, Option<u64>)>,
    /// Per metric of [`EVIDENCE_METRICS`]: the evidence, or why there is none.
    pub metrics: Vec<(Metric, Result<MetricEvidence, String>)>,
}

impl PairedRow {
    pub fn metric(&self, m: Metric) -> Option<&Result<MetricEvidence, String>> {
        self.metrics.iter().find(|(k, _)| *k == m).map(|(_, e)| e)
    }
}

/// Rows comparing `b` against `a`, with Holm's correction across the rows per metric.
#[derive(Clone, Debug)]
pub struct PairedTable {
    pub a: String,
    pub b: String,
    pub rows: Vec<PairedRow>,
}

/// The rank comparison of a section's method variants.
#[derive(Clone, Debug)]
pub struct SectionRanks {
    /// The method variants in the comparisons' column order.
    pub variants: Vec<(MethodKind, Variant)>,
    /// Files every method variant ran (the blocks ranked).
    pub files: usize,
    /// Files left out, with the method variants (labels) they lack.
    pub dropped: Vec<(String, Vec<String>)>,
    /// Per metric of [`EVIDENCE_METRICS`].
    pub metrics: Vec<(Metric, RankComparison)>,
}

impl SectionRanks {
    pub fn metric(&self, m: Metric) -> Option<&RankComparison> {
        self.metrics.iter().find(|(k, _)| *k == m).map(|(_, r)| r)
    }

    /// Labels (`deepsad+AnoOnly`) in column order.
    pub fn labels(&self) -> Vec<String> {
        self.variants.iter().map(|(m, v)| label(*m, *v)).collect()
    }
}

/// `leakage-free` against `adbench` at one setting, labeled anomalies and ablation.
#[derive(Clone, Debug)]
pub struct ProtocolComparison {
    pub setting: Setting,
    pub labeled: Labeled,
    pub ablation: Option<Override>,
    /// Families in report order (the per-family columns).
    pub families: Vec<String>,
    pub table: PairedTable,
}

/// Each value of an ablation switch against the defaults (the section without ablation at
/// the same setting, protocol and gamma_la), e.g. a method's training budgets against the
/// authors'.
#[derive(Clone, Debug)]
pub struct AblationComparison {
    pub name: String,
    pub setting: Setting,
    pub protocol: Protocol,
    pub table: PairedTable,
}

/// Everything statistical a report shows.
#[derive(Clone, Debug)]
pub struct Analysis {
    /// Per section, in section order: AnoOnly against base for each method with both
    /// variants (`None`: no such method).
    pub anoonly: Vec<Option<PairedTable>>,
    /// Per section: the rank comparison, or why there is none.
    pub ranks: Vec<Result<SectionRanks, String>>,
    pub protocols: Vec<ProtocolComparison>,
    pub ablations: Vec<AblationComparison>,
}

impl Analysis {
    pub fn of(sections: &[Section]) -> Analysis {
        Analysis {
            anoonly: sections.iter().map(anoonly_table).collect(),
            ranks: sections.iter().map(section_ranks).collect(),
            protocols: protocol_comparisons(sections),
            ablations: ablation_comparisons(sections),
        }
    }
}

/// The results of one method variant.
fn of_variant(results: &[ResultRecord], method: MethodKind, v: Variant) -> Vec<&ResultRecord> {
    results
        .iter()
        .filter(|r| r.method == method && r.variant == v)
        .collect()
}

/// AnoOnly against base for every method of the section that has both.
fn anoonly_table(sec: &Section) -> Option<PairedTable> {
    let mut pairs = Vec::new();
    for row in sec.rows.iter().filter(|r| r.variant == Variant::AnoOnly) {
        let base = of_variant(&sec.results, row.method, Variant::Base);
        if base.is_empty() {
            continue;
        }
        pairs.push(PairInput {
            method: row.method,
            variant: Variant::AnoOnly,
            tag: String::new(),
            value: None,
            labeled: sec.key.labeled,
            a: base,
            b: of_variant(&sec.results, row.method, Variant::AnoOnly),
        });
    }
    (!pairs.is_empty()).then(|| paired_table("base", "AnoOnly", pairs, &[]))
}

/// `leakage-free` against `adbench` for each pair of sections that differ only in protocol.
fn protocol_comparisons(sections: &[Section]) -> Vec<ProtocolComparison> {
    let find = |key: &SectionKey, protocol: Protocol| {
        sections.iter().find(|s| {
            s.key.protocol == protocol
                && s.key.setting == key.setting
                && s.key.labeled == key.labeled
                && s.key.ablation == key.ablation
        })
    };
    let mut out = Vec::new();
    for free in sections
        .iter()
        .filter(|s| s.key.protocol == Protocol::LeakageFree)
    {
        let Some(adbench) = find(&free.key, Protocol::Adbench) else {
            continue;
        };
        let mut pairs = Vec::new();
        for row in &adbench.rows {
            let b = of_variant(&free.results, row.method, row.variant);
            if b.is_empty() {
                continue;
            }
            pairs.push(PairInput {
                method: row.method,
                variant: row.variant,
                tag: String::new(),
                value: None,
                labeled: free.key.labeled,
                a: of_variant(&adbench.results, row.method, row.variant),
                b,
            });
        }
        if pairs.is_empty() {
            continue;
        }
        let families = super::sections::family_order(
            adbench
                .families
                .iter()
                .chain(&free.families)
                .collect::<BTreeSet<_>>(),
        );
        out.push(ProtocolComparison {
            setting: free.key.setting,
            labeled: free.key.labeled,
            ablation: free.key.ablation.clone(),
            table: paired_table("adbench", "leakage-free", pairs, &families),
            families,
        });
    }
    out
}

/// Each ablation value against the section without ablation at the same setting,
/// protocol and gamma_la, where the results hold one.
fn ablation_comparisons(sections: &[Section]) -> Vec<AblationComparison> {
    let mut out = Vec::new();
    for group in ablation_groups(sections) {
        let several_labeled = group
            .sections
            .iter()
            .map(|s| super::sections::labeled_order(s.key.labeled))
            .collect::<BTreeSet<_>>()
            .len()
            > 1;
        let mut pairs = Vec::new();
        for value in &group.values {
            for sec in group.sections_of(value) {
                let Some(defaults) = sections.iter().find(|s| {
                    s.key.ablation.is_none()
                        && s.key.setting == sec.key.setting
                        && s.key.protocol == sec.key.protocol
                        && s.key.labeled == sec.key.labeled
                }) else {
                    continue;
                };
                for row in &sec.rows {
                    let a = of_variant(&defaults.results, row.method, row.variant);
                    if a.is_empty() {
                        continue;
                    }
                    let tag = if several_labeled {
                        format!(
                            "{} ({})",
                            value.value(),
                            super::sections::labeled_text(sec.key.labeled)
                        )
                    } else {
                        value.value().to_string()
                    };
                    pairs.push(PairInput {
                        method: row.method,
                        variant: row.variant,
                        tag,
                        value: Some((*value).clone()),
                        labeled: sec.key.labeled,
                        a,
                        b: of_variant(&sec.results, row.method, row.variant),
                    });
                }
            }
        }
        if !pairs.is_empty() {
            out.push(AblationComparison {
                name: group.name.to_string(),
                setting: group.setting,
                protocol: group.protocol,
                table: paired_table("defaults", group.name, pairs, &[]),
            });
        }
    }
    out
}

/// `(family, file, seed, metric)` cells of some results.
/// One cell's (family, file, seed, metric value).
type CellValue = (String, String, u64, f64);

fn cells(rs: &[&ResultRecord], m: Metric) -> Vec<CellValue> {
    rs.iter()
        .map(|r| (r.family.clone(), r.dataset.clone(), r.seed, m.of(r)))
        .collect()
}

fn as_refs(c: &[CellValue]) -> impl Iterator<Item = (&str, &str, u64, f64)> {
    c.iter()
        .map(|(f, g, s, v)| (f.as_str(), g.as_str(), *s, *v))
}

/// The distinct `(pretrain_epochs, epochs)` the lines recorded.
fn epochs_of(rs: &[&ResultRecord]) -> Vec<(Option<u64>, Option<u64>)> {
    let get = |r: &ResultRecord, k: &str| {
        r.method_params
            .as_ref()
            .and_then(|p| p.get(k))
            .and_then(|v| v.as_u64())
    };
    rs.iter()
        .map(|r| (get(r, "pretrain_epochs"), get(r, "epochs")))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn mean_fit(rs: &[&ResultRecord]) -> f64 {
    rs.iter().map(|r| r.fit_seconds).sum::<f64>() / rs.len().max(1) as f64
}

/// One metric's evidence for one pair before Holm: the evidence, the number of files, and
/// per-family intervals.
type MetricRaw = (PairedEvidence, usize, Vec<(String, BootstrapCi)>);

/// What every metric's rank table must share: the variants, the number of files, and the
/// files per family.
type RankShape = (
    Vec<(MethodKind, Variant)>,
    usize,
    Vec<(String, Vec<String>)>,
);

/// The paired evidence of each pair, Holm's correction across the pairs per metric, and
/// per-family intervals for `families` (none if empty).
fn paired_table(a: &str, b: &str, pairs: Vec<PairInput<'_>>, families: &[String]) -> PairedTable {
    // Per metric, per row: the evidence before Holm.
    let mut raw: Vec<Vec<OneMetric>> = Vec::new();
    for &m in &EVIDENCE_METRICS {
        raw.push(pairs.iter().map(|p| one_metric(p, m, families)).collect());
    }
    let mut rows: Vec<PairedRow> = pairs
        .iter()
        .map(|p| PairedRow {
            method: p.method,
            variant: p.variant,
            tag: p.tag.clone(),
            value: p.value.clone(),
            labeled: p.labeled,
            fit_seconds: (mean_fit(&p.a), mean_fit(&p.b)),
            epochs_a: epochs_of(&p.a),
            epochs_b: epochs_of(&p.b),
            metrics: Vec::new(),
        })
        .collect();
    for (&m, per_row) in EVIDENCE_METRICS.iter().zip(raw) {
        let ps: Vec<f64> = per_row
            .iter()
            .filter_map(|e| e.as_ref().ok().map(|(ev, _, _)| ev.wilcoxon.pvalue))
            .collect();
        // p-values of a Wilcoxon test are in [0, 1], and ALPHA is in (0, 1).
        let adjusted = holm(&ps, ALPHA).map(|h| h.adjusted).unwrap_or(ps);
        let mut next = adjusted.into_iter();
        for (row, e) in rows.iter_mut().zip(per_row) {
            let done = e.map(|(evidence, seeds, families)| {
                let p_holm = next.next().unwrap_or(1.0);
                MetricEvidence {
                    verdict: verdict(p_holm, evidence.ci.estimate, ALPHA),
                    evidence,
                    seeds,
                    p_holm,
                    families,
                }
            });
            row.metrics.push((m, done));
        }
    }
    PairedTable {
        a: a.to_string(),
        b: b.to_string(),
        rows,
    }
}

type OneMetric = Result<MetricRaw, String>;

/// The family name under which [`pool_one_file_families`] pools the files.
const POOLED_FAMILY: &str = "(files pooled)";

/// A family of one file cannot be resampled within, so a bootstrap over one-file families
/// would only see the seeds' spread. When every family is one file (the tabular suite) the
/// files are the units: they are pooled into one family, which leaves the statistic
/// unchanged (the mean over one-file families is the mean over the files) and lets the
/// interval carry the spread across files, as the Wilcoxon test on per-file differences
/// does. Sections with a family of several files are left as they are.
fn pool_one_file_families(a: &mut [CellValue], b: &mut [CellValue]) {
    let mut files: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for (f, g, _, _) in a.iter().chain(b.iter()) {
        files.entry(f.as_str()).or_default().insert(g.as_str());
    }
    if files.len() < 2 || files.values().any(|g| g.len() != 1) {
        return;
    }
    for c in a.iter_mut().chain(b.iter_mut()) {
        c.0 = POOLED_FAMILY.to_string();
    }
}

fn one_metric(p: &PairInput<'_>, m: Metric, families: &[String]) -> OneMetric {
    let (a, b) = (cells(&p.a, m), cells(&p.b, m));
    let (mut pa, mut pb) = (a.clone(), b.clone());
    pool_one_file_families(&mut pa, &mut pb);
    let sample = NestedSample::paired_difference(as_refs(&pa), as_refs(&pb)).map_err(|e| {
        if matches!(e, crate::stats::StatsError::Empty { .. }) {
            "no (file, seed) cell ran under both".to_string()
        } else {
            e.to_string()
        }
    })?;
    let evidence =
        paired_evidence(&sample, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED).map_err(|e| e.to_string())?;
    let mut per_family = Vec::new();
    for f in families {
        let only = |c: &[CellValue]| -> Vec<CellValue> {
            c.iter().filter(|x| x.0 == *f).cloned().collect()
        };
        let (fa, fb) = (only(&a), only(&b));
        let ci = NestedSample::paired_difference(as_refs(&fa), as_refs(&fb))
            .and_then(|s| s.bootstrap(BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, 0.95));
        if let Ok(ci) = ci {
            per_family.push((f.clone(), ci));
        }
    }
    Ok((evidence, sample.seeds().len(), per_family))
}

/// The rank comparison of a section's method variants on its files (seeds averaged first),
/// or why there is none.
fn section_ranks(sec: &Section) -> Result<SectionRanks, String> {
    let variants = super::sections::variants(&sec.rows);
    if variants.len() < MIN_RANK_VARIANTS {
        return Err(format!(
            "{} method variant(s): the Friedman test needs at least {MIN_RANK_VARIANTS}",
            variants.len()
        ));
    }
    let by_label: HashMap<String, (MethodKind, Variant)> = variants
        .iter()
        .map(|(m, v)| (label(*m, *v), (*m, *v)))
        .collect();
    let mut metrics = Vec::new();
    let mut shape: Option<RankShape> = None;
    for &m in &EVIDENCE_METRICS {
        let labelled: Vec<(String, String, f64)> = sec
            .results
            .iter()
            .map(|r| (r.dataset.clone(), label(r.method, r.variant), m.of(r)))
            .collect();
        let table = BlockTable::from_cells(
            labelled
                .iter()
                .map(|(f, l, v)| (f.as_str(), l.as_str(), *v)),
        )
        .map_err(|e| e.to_string())?;
        if table.blocks.len() < MIN_RANK_FILES {
            return Err(format!(
                "{} file(s) ran every method variant: ranks need at least {MIN_RANK_FILES}",
                table.blocks.len()
            ));
        }
        let rc = rank_comparison(&table.table, Order::HigherIsBetter, ALPHA)
            .map_err(|e| e.to_string())?;
        if shape.is_none() {
            let cols = table
                .treatments
                .iter()
                .filter_map(|t| by_label.get(t).cloned())
                .collect();
            shape = Some((cols, table.blocks.len(), table.dropped.clone()));
        }
        metrics.push((m, rc));
    }
    let (variants, files, dropped) = shape.ok_or("no metric")?;
    Ok(SectionRanks {
        variants,
        files,
        dropped,
        metrics,
    })
}

/// A section's file-name-safe slug: `clean_adbench_gamma_la10` (`clean_adbench_n_labeled10`
/// for a count), with the ablation
/// (`_norm-bn`) and characters other than letters, digits, `.` and `-` replaced by `-`.
pub fn slug(key: &SectionKey) -> String {
    let labeled = match key.labeled {
        Labeled::Ratio(g) => format!("gamma_la{}", super::sections::fmt_num(100.0 * g)),
        Labeled::Count(k) => format!("n_labeled{k}"),
    };
    let mut s = format!("{}_{}_{labeled}", key.setting_name(), key.protocol_name(),);
    if let Some(o) = &key.ablation {
        s.push_str(&format!("_{}-{}", o.name(), o.value()));
    }
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The CD diagram's file stem for a section.
pub fn cd_name(key: &SectionKey) -> String {
    format!("cd_{}", slug(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(family: &str, file: &str, seed: u64, v: f64) -> CellValue {
        (family.into(), file.into(), seed, v)
    }

    #[test]
    fn one_file_families_are_pooled_and_the_interval_sees_the_files() {
        // Four one-file families whose differences (b - a) are 0, 2, 4, 6 points at every
        // seed: the seeds agree, so a bootstrap over seeds only would give a point.
        let a: Vec<CellValue> = (0..4)
            .flat_map(|i| (0..3).map(move |s| cell(&format!("f{i}"), &format!("f{i}"), s, 0.5)))
            .collect();
        let b: Vec<CellValue> = a
            .iter()
            .map(|(f, g, s, v)| {
                let i: f64 = g[1..].parse().unwrap();
                cell(f, g, *s, v + 0.02 * i)
            })
            .collect();
        let ci = |a: &[CellValue], b: &[CellValue]| {
            NestedSample::paired_difference(as_refs(a), as_refs(b))
                .unwrap()
                .bootstrap(2000, 0, 0.95)
                .unwrap()
        };
        let unpooled = ci(&a, &b);
        assert_eq!(
            (unpooled.lo, unpooled.hi),
            (unpooled.estimate, unpooled.estimate)
        );
        let (mut pa, mut pb) = (a.clone(), b.clone());
        pool_one_file_families(&mut pa, &mut pb);
        assert!(pa.iter().chain(&pb).all(|c| c.0 == POOLED_FAMILY));
        let pooled = ci(&pa, &pb);
        // The statistic is unchanged (the mean over the files: 3 points)...
        assert!((pooled.estimate - unpooled.estimate).abs() < 1e-12);
        assert!((pooled.estimate - 0.03).abs() < 1e-12);
        // ...and the interval now spans the files' spread.
        assert!(pooled.lo < 0.02 && pooled.hi > 0.04, "{pooled:?}");
    }

    #[test]
    fn families_of_several_files_are_left_alone() {
        let mut a = vec![
            cell("A", "a1", 0, 0.1),
            cell("A", "a2", 0, 0.2),
            cell("B", "b1", 0, 0.3),
        ];
        let mut b = a.clone();
        pool_one_file_families(&mut a, &mut b);
        assert_eq!(a[2].0, "B");
        // A single family of one file is left alone too (nothing to pool with).
        let mut one = vec![cell("C", "c1", 0, 0.1)];
        let mut other = one.clone();
        pool_one_file_families(&mut one, &mut other);
        assert_eq!(one[0].0, "C");
    }
}
