//! The sections of a bench report, a pure function of the results they group: family
//! averaging as docs/protocol.md 1.4 defines it (metric per file, plain mean over the family's
//! files, then plain mean over the families), mean and sd over seeds, one section per
//! setting, protocol, labeled anomalies (a gamma_la ratio or an n_labeled count) and
//! ablation override, rows in the registry's (the paper's)
//! order, and the ablation groups with their values in axis order. `report` writes them as
//! text and `plots` as figures; both read this module, neither the other.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use std::cmp::Ordering;

use super::grid::{Override, Switch, Variant};
use super::paper::Paper;
use super::results::ResultRecord;
use anoonly::experiment::MeanSd;
use anoonly::methods::MethodKind;
use anoonly::protocol::{Labeled, Protocol, Setting};
use anoonly::vocab::NormKind;

/// A metric of a results line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    AucRoc,
    AucPr,
    AucPrNormalOfficial,
    AucPrNormal,
}

impl Metric {
    pub const ALL: [Metric; 4] = [
        Metric::AucRoc,
        Metric::AucPr,
        Metric::AucPrNormalOfficial,
        Metric::AucPrNormal,
    ];

    pub fn of(self, r: &ResultRecord) -> f64 {
        match self {
            Metric::AucRoc => r.aucroc,
            Metric::AucPr => r.aucpr,
            Metric::AucPrNormalOfficial => r.aucpr_normal_official,
            Metric::AucPrNormal => r.aucpr_normal,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Metric::AucRoc => "aucroc",
            Metric::AucPr => "aucpr",
            Metric::AucPrNormalOfficial => "aucpr_normal_official",
            Metric::AucPrNormal => "aucpr_normal",
        }
    }

    pub(crate) fn title(self) -> &'static str {
        match self {
            Metric::AucRoc => "AUCROC (paper Table 1)",
            Metric::AucPr => "AUCPR, anomaly class (paper Table 3)",
            Metric::AucPrNormalOfficial => {
                "AUCPR, normal class, with the authors' sign (paper Table 4; falls as detection improves, see protocol.md 5)"
            }
            Metric::AucPrNormal => {
                "AUCPR, normal class, correct sign (normals ranked by the negated score; no paper value)"
            }
        }
    }
}

/// A metric averaged as docs/protocol.md 1.4 says, for one method variant in one section.
#[derive(Clone, Debug, PartialEq)]
pub struct FamilyMeans {
    /// Per family: mean and sd over seeds of the family mean, and the number of files.
    pub families: BTreeMap<String, (MeanSd, usize)>,
    /// Mean and sd over seeds of the mean of the family means.
    pub mean: MeanSd,
    pub seeds: Vec<u64>,
}

/// Family averaging. For each seed: the metric of each file, the plain mean over each
/// family's files, and the plain mean of those family means (every family weighs 1,
/// whatever its number of files: 8 MVTec-AD categories count as much as one CIFAR10
/// class). Then mean and sample sd over the seeds of each of these numbers.
pub fn family_means(results: &[&ResultRecord], metric: Metric) -> FamilyMeans {
    let seeds: BTreeSet<u64> = results.iter().map(|r| r.seed).collect();
    let mut per_family: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut files: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    let mut overall = Vec::new();
    for &seed in &seeds {
        let mut fam: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        for r in results.iter().filter(|r| r.seed == seed) {
            fam.entry(&r.family).or_default().push(metric.of(r));
            files
                .entry(r.family.clone())
                .or_default()
                .insert(&r.dataset);
        }
        let means: Vec<f64> = fam
            .iter()
            .map(|(f, v)| {
                let m = v.iter().sum::<f64>() / v.len() as f64;
                per_family.entry(f.to_string()).or_default().push(m);
                m
            })
            .collect();
        overall.push(means.iter().sum::<f64>() / means.len() as f64);
    }
    FamilyMeans {
        families: per_family
            .into_iter()
            .map(|(f, v)| {
                let n = files.get(&f).map_or(0, |s| s.len());
                (f, (MeanSd::of(&v), n))
            })
            .collect(),
        mean: MeanSd::of(&overall),
        seeds: seeds.into_iter().collect(),
    }
}

/// The results sharing a setting, protocol, labeled anomalies and ablation override: one
/// block of tables in the report. Sections are ordered by the setting's and the protocol's
/// names, the labeled anomalies (ratios ascending, then counts ascending), then the override
/// (by name and spelling).
#[derive(Clone, Debug)]
pub struct SectionKey {
    pub setting: Setting,
    pub protocol: Protocol,
    /// A ratio (`gamma_la`) or a count (`n_labeled`): the two modes are never one section.
    pub labeled: Labeled,
    pub ablation: Option<Override>,
}

/// The order (and identity) of a labeled-anomaly mode in sections: ratios first, by their
/// bits (non-negative floats order like their bit patterns), then counts.
pub(crate) fn labeled_order(l: Labeled) -> (u8, u64) {
    match l {
        Labeled::Ratio(g) => (0, g.to_bits()),
        Labeled::Count(k) => (1, k as u64),
    }
}

impl SectionKey {
    fn order(&self) -> (&'static str, &'static str, (u8, u64), Option<Override>) {
        (
            self.setting_name(),
            self.protocol_name(),
            labeled_order(self.labeled),
            self.ablation.clone(),
        )
    }
}

impl PartialEq for SectionKey {
    fn eq(&self, other: &Self) -> bool {
        self.order() == other.order()
    }
}

impl Eq for SectionKey {}

impl Ord for SectionKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.order().cmp(&other.order())
    }
}

impl PartialOrd for SectionKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A labeled-anomaly mode in titles and labels: `gamma_la 10%` or `n_labeled 10`.
pub(crate) fn labeled_text(l: Labeled) -> String {
    match l {
        Labeled::Ratio(g) => format!("gamma_la {}%", fmt_num(100.0 * g)),
        Labeled::Count(k) => format!("n_labeled {k}"),
    }
}

impl SectionKey {
    pub fn of(r: &ResultRecord) -> Self {
        SectionKey {
            setting: r.setting,
            protocol: r.protocol,
            labeled: r.labeled,
            ablation: r.ablation.clone(),
        }
    }

    /// The setting as records and reports spell it (`clean`).
    pub fn setting_name(&self) -> &'static str {
        self.setting.name()
    }

    /// The protocol as records and reports spell it (`leakage-free`).
    pub fn protocol_name(&self) -> &'static str {
        self.protocol.name()
    }

    /// The paper's Tables 1/3/4 are the clean setting at gamma_la = 10% on the authors'
    /// pipeline; only such sections get paper values.
    pub fn is_paper_setting(&self) -> bool {
        self.setting == Setting::Clean
            && self.protocol == Protocol::Adbench
            && self
                .labeled
                .ratio()
                .is_some_and(|g| (g - 0.1).abs() < 1e-12)
            && self.ablation.is_none()
    }

    pub fn title(&self) -> String {
        let mut t = format!(
            "{} · {} · {}",
            self.setting_name(),
            self.protocol_name(),
            labeled_text(self.labeled)
        );
        if let Some(o) = &self.ablation {
            let _ = write!(t, " · {o}");
        }
        t
    }
}

pub(crate) fn fmt_num(v: f64) -> String {
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Rows in registry order (the paper's table rows).
pub(crate) fn method_rank(m: MethodKind) -> usize {
    let all = MethodKind::ALL;
    all.iter().position(|k| *k == m).unwrap_or(all.len())
}

/// Families in the paper's column order, then the others alphabetically.
pub fn family_order<'a>(families: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let set: BTreeSet<&String> = families.into_iter().collect();
    let paper = &Paper::get().families;
    let mut out: Vec<String> = paper
        .iter()
        .filter(|f| set.contains(&f.name))
        .map(|f| f.name.clone())
        .collect();
    out.extend(
        set.into_iter()
            .filter(|s| !paper.iter().any(|f| f.name == **s))
            .cloned(),
    );
    out
}

/// One method variant of a section, with its four averaged metrics.
#[derive(Clone, Debug)]
pub struct Row {
    pub method: MethodKind,
    pub variant: Variant,
    pub metrics: Vec<(Metric, FamilyMeans)>,
    /// Mean fit time of a cell, seconds.
    pub fit_seconds: f64,
}

impl Row {
    pub fn metric(&self, m: Metric) -> &FamilyMeans {
        &self
            .metrics
            .iter()
            .find(|(k, _)| *k == m)
            .expect("every row holds all metrics")
            .1
    }
}

/// A section: its key, its families (column order) and rows (paper order).
#[derive(Clone, Debug)]
pub struct Section {
    pub key: SectionKey,
    pub families: Vec<String>,
    pub rows: Vec<Row>,
    pub results: Vec<ResultRecord>,
}

/// The distinct method variants of `rows`, in first-seen order.
pub(crate) fn variants<'a>(rows: impl IntoIterator<Item = &'a Row>) -> Vec<(MethodKind, Variant)> {
    let mut out: Vec<(MethodKind, Variant)> = Vec::new();
    for r in rows {
        if !out.iter().any(|(m, v)| *m == r.method && *v == r.variant) {
            out.push((r.method, r.variant));
        }
    }
    out
}

/// The sections of one ablation switch at one setting and protocol, with the switch's
/// values in axis order ([`value_order`]).
pub(crate) struct AblationGroup<'a> {
    /// The switch's name.
    pub name: &'a str,
    pub setting: Setting,
    pub protocol: Protocol,
    pub sections: Vec<&'a Section>,
    /// The distinct overrides, in axis order.
    pub values: Vec<&'a Override>,
}

impl AblationGroup<'_> {
    /// The group's section of override `value` (one per labeled-anomaly mode).
    pub(crate) fn sections_of<'s>(
        &'s self,
        value: &'s Override,
    ) -> impl Iterator<Item = &'s Section> + 's {
        self.sections
            .iter()
            .copied()
            .filter(move |s| s.key.ablation.as_ref() == Some(value))
    }
}

/// The ablation sections grouped by (switch, setting, protocol), in that order.
pub(crate) fn ablation_groups(secs: &[Section]) -> Vec<AblationGroup<'_>> {
    // By names: the setting's and the protocol's order as their names sort.
    type GroupKey<'a> = (&'a str, &'static str, &'static str);
    let mut by_name: BTreeMap<GroupKey, Vec<&Section>> = BTreeMap::new();
    for sec in secs {
        if let Some(o) = &sec.key.ablation {
            by_name
                .entry((o.name(), sec.key.setting_name(), sec.key.protocol_name()))
                .or_default()
                .push(sec);
        }
    }
    by_name
        .into_iter()
        .map(|((name, _, _), sections)| {
            let (setting, protocol) = (sections[0].key.setting, sections[0].key.protocol);
            let mut values: Vec<&Override> = sections
                .iter()
                .filter_map(|g| g.key.ablation.as_ref())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            value_order(&mut values);
            AblationGroup {
                name,
                setting,
                protocol,
                sections,
                values,
            }
        })
        .collect()
}

/// Groups results into sections and rows, sorted so that the report does not depend on
/// the order of the lines.
pub fn sections(results: &[ResultRecord]) -> Vec<Section> {
    let mut by_section: BTreeMap<SectionKey, Vec<&ResultRecord>> = BTreeMap::new();
    for r in results {
        by_section.entry(SectionKey::of(r)).or_default().push(r);
    }
    by_section
        .into_iter()
        .map(|(key, rs)| {
            let mut by_row: BTreeMap<(usize, Variant), (MethodKind, Vec<&ResultRecord>)> =
                BTreeMap::new();
            for r in &rs {
                by_row
                    .entry((method_rank(r.method), r.variant))
                    .or_insert_with(|| (r.method, Vec::new()))
                    .1
                    .push(r);
            }
            let rows = by_row
                .into_iter()
                .map(|((_, variant), (method, rr))| Row {
                    method,
                    variant,
                    metrics: Metric::ALL
                        .iter()
                        .map(|&m| (m, family_means(&rr, m)))
                        .collect(),
                    fit_seconds: rr.iter().map(|r| r.fit_seconds).sum::<f64>() / rr.len() as f64,
                })
                .collect();
            let mut results: Vec<ResultRecord> = rs.into_iter().cloned().collect();
            results.sort_by(|a, b| a.key.cmp(&b.key));
            Section {
                families: family_order(results.iter().map(|r| &r.family)),
                key,
                rows,
                results,
            }
        })
        .collect()
}

/// A method variant's name in legends and table headers: `deepsad`, `deepsad+AnoOnly`.
pub(crate) fn label(method: MethodKind, v: Variant) -> String {
    match v {
        Variant::Base => method.to_string(),
        Variant::AnoOnly => format!("{method}+AnoOnly"),
    }
}

/// The order of an ablation's values on the x axis: the paper's order for the
/// normalisations (Table 2, [`NormKind::ALL`]), descending for `lambda_n` (Fig. 7 goes from
/// 1 to 0), ascending for other numbers, by spelling otherwise.
pub(crate) fn value_order(values: &mut [&Override]) {
    let num = |o: &Override| o.value().parse::<f64>().ok();
    let norm_rank = |o: &Override| match o.switch() {
        Switch::Norm(n) => NormKind::ALL.iter().position(|k| k == n),
        _ => None,
    };
    if values.iter().all(|o| norm_rank(o).is_some()) {
        values.sort_by_key(|o| norm_rank(o));
    } else if values.iter().all(|o| num(o).is_some()) {
        let descending = values
            .iter()
            .all(|o| matches!(o.switch(), Switch::LambdaN(_)));
        values.sort_by(|a, b| {
            let (x, y) = (num(a).unwrap_or(0.0), num(b).unwrap_or(0.0));
            if descending {
                y.total_cmp(&x)
            } else {
                x.total_cmp(&y)
            }
        });
    } else {
        values.sort_by(|a, b| a.value().cmp(b.value()));
    }
}
