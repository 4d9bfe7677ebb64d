//! Which figures a set of results supports, and their data: Fig. 4 (AUCPR box plot per
//! method, with and without AnoOnly), Fig. 5 (AUCROC against gamma_la, and against n_labeled
//! in count mode), Fig. 8 (clean
//! against label noise), one sweep figure per ablation switch (Figs. 6, 7, 9, Table 2) and
//! a critical-difference diagram per section with a rank comparison.

use std::collections::BTreeMap;

use std::path::{Path, PathBuf};

use super::cd_diagram::CdDiagram;
use super::evidence::{cd_name, Analysis};
use super::figures::{BoxStats, Chart, Figure, FigureError, Series};
use super::grid::{Switch, Variant};
use super::sections::{
    ablation_groups, label, labeled_order, variants, AblationGroup, Metric, Section,
};
use anoonly::experiment::MeanSd;
use anoonly::methods::MethodKind;
use anoonly::protocol::{Labeled, Setting};

/// A figure to write: file stem, caption for the report, and the drawing.
pub struct Planned {
    pub name: String,
    pub caption: String,
    pub figure: Drawn,
}

/// What a planned figure draws.
pub enum Drawn {
    Chart(Figure),
    Cd(CdDiagram),
}

impl Drawn {
    /// Writes `DIR/NAME.svg` and `DIR/NAME.png`.
    pub fn write(&self, dir: &Path, name: &str) -> Result<Vec<PathBuf>, FigureError> {
        match self {
            Drawn::Chart(f) => f.write(dir, name),
            Drawn::Cd(d) => d.write(dir, name),
        }
    }
}

fn pct(m: MeanSd) -> (f64, f64) {
    (100.0 * m.mean, 100.0 * m.sd)
}

/// Sections without ablation, by (protocol, setting, labeled anomalies).
fn plain(sections: &[Section]) -> Vec<&Section> {
    sections
        .iter()
        .filter(|s| s.key.ablation.is_none())
        .collect()
}

/// The section the main figures use: the paper's setting if present, else the first
/// plain clean section, else the first plain one.
fn main_section(sections: &[Section]) -> Option<&Section> {
    let p = plain(sections);
    p.iter()
        .find(|s| s.key.is_paper_setting())
        .or_else(|| p.iter().find(|s| s.key.setting == Setting::Clean))
        .or_else(|| p.first())
        .copied()
}

fn methods_in(sec: &Section) -> Vec<MethodKind> {
    let mut m: Vec<MethodKind> = Vec::new();
    for r in &sec.rows {
        if !m.contains(&r.method) {
            m.push(r.method);
        }
    }
    m
}

/// Fig. 4: per method, the distribution over files of the per-file AUCPR (mean over
/// seeds), without and with AnoOnly.
fn fig4(sec: &Section) -> Planned {
    let methods = methods_in(sec);
    let mut per_file: BTreeMap<(&str, Variant, &str), Vec<f64>> = BTreeMap::new();
    for r in &sec.results {
        per_file
            .entry((r.method.name(), r.variant, &r.dataset))
            .or_default()
            .push(100.0 * r.aucpr);
    }
    let series = [Variant::Base, Variant::AnoOnly]
        .iter()
        .map(|&v| {
            let boxes = methods
                .iter()
                .map(|m| {
                    let vals: Vec<f64> = per_file
                        .iter()
                        .filter(|((mm, vv, _), _)| *mm == m.name() && *vv == v)
                        .map(|(_, xs)| xs.iter().sum::<f64>() / xs.len() as f64)
                        .collect();
                    BoxStats::of(&vals)
                })
                .collect();
            (
                match v {
                    Variant::Base => "without AnoOnly".to_string(),
                    Variant::AnoOnly => "with AnoOnly".to_string(),
                },
                boxes,
            )
        })
        .collect();
    Planned {
        name: "fig4_aucpr_boxplot".into(),
        caption: format!(
            "AUCPR per method without and with AnoOnly, boxes over the files (each file's mean over seeds), {} (paper Fig. 4)",
            sec.key.title()
        ),
        figure: Drawn::Chart(Figure {
            title: "AUCPR per method, without and with AnoOnly".into(),
            x_label: "method".into(),
            y_label: "AUCPR (%)".into(),
            chart: Chart::Boxes {
                categories: methods.iter().map(|m| m.to_string()).collect(),
                series,
            },
        }),
    }
}

/// Fig. 5: mean AUCROC (mean of family means, ± sd over seeds) against gamma_la, and its
/// count-mode twin against n_labeled (`fig5_n_labeled`), each where the main section's
/// setting and protocol have at least two sections of that mode.
fn fig5(sections: &[Section], counts: bool) -> Option<Planned> {
    let main = main_section(sections)?;
    let mut sweep: Vec<&Section> = plain(sections)
        .into_iter()
        .filter(|s| s.key.setting == main.key.setting && s.key.protocol == main.key.protocol)
        .filter(|s| s.key.labeled.count().is_some() == counts)
        .collect();
    if sweep.len() < 2 {
        return None;
    }
    sweep.sort_by_key(|s| labeled_order(s.key.labeled));
    let categories = sweep
        .iter()
        .map(|s| match s.key.labeled {
            Labeled::Ratio(g) => format!("{}%", (100.0 * g * 100.0).round() / 100.0),
            Labeled::Count(k) => k.to_string(),
        })
        .collect();
    let (name, what, x_label, title) = if counts {
        (
            "fig5_n_labeled",
            "the number of labeled anomalies n_labeled (count mode, ADBench's `nla`)",
            "n_labeled",
            "AUCROC against the number of labeled anomalies",
        )
    } else {
        (
            "fig5_gamma_la",
            "the labeled-anomaly ratio gamma_la",
            "gamma_la",
            "AUCROC against the labeled anomaly ratio",
        )
    };
    Some(Planned {
        name: name.into(),
        caption: format!(
            "AUCROC (mean of family means ± sd over seeds) against {what}, {} · {} (paper Fig. 5)",
            main.key.setting_name(),
            main.key.protocol_name()
        ),
        figure: Drawn::Chart(Figure {
            title: title.into(),
            x_label: x_label.into(),
            y_label: "AUCROC (%)".into(),
            chart: Chart::Lines {
                categories,
                series: variant_series(&sweep, Metric::AucRoc),
            },
        }),
    })
}

/// One series per method variant over the given sections (x = section order).
fn variant_series(secs: &[&Section], metric: Metric) -> Vec<Series> {
    variants(secs.iter().flat_map(|s| &s.rows))
        .into_iter()
        .map(|(m, v)| {
            let pts = secs
                .iter()
                .map(|s| {
                    s.rows
                        .iter()
                        .find(|r| r.method == m && r.variant == v)
                        .map(|r| pct(r.metric(metric).mean))
                })
                .collect();
            (label(m, v), pts)
        })
        .collect()
}

/// Fig. 8: mean AUCROC per method variant, clean against label noise, at the main
/// section's labeled anomalies and protocol.
fn fig8(sections: &[Section]) -> Option<Planned> {
    let main = main_section(sections)?;
    let find = |setting: Setting| {
        plain(sections).into_iter().find(|s| {
            s.key.setting == setting
                && s.key.protocol == main.key.protocol
                && s.key.labeled == main.key.labeled
        })
    };
    let (clean, noisy) = (find(Setting::Clean)?, find(Setting::Noisy)?);
    let cats = variants(clean.rows.iter().chain(&noisy.rows));
    let series = [("clean", clean), ("label noise", noisy)]
        .iter()
        .map(|(name, s)| {
            let vals = cats
                .iter()
                .map(|(m, v)| {
                    s.rows
                        .iter()
                        .find(|r| r.method == *m && r.variant == *v)
                        .map(|r| pct(r.metric(Metric::AucRoc).mean))
                })
                .collect();
            (name.to_string(), vals)
        })
        .collect();
    Some(Planned {
        name: "fig8_label_noise".into(),
        caption: format!(
            "AUCROC (mean of family means ± sd over seeds) per method variant, clean against label noise, {} (paper Fig. 8)",
            match main.key.labeled {
                Labeled::Ratio(g) => format!("gamma_la {}%", 100.0 * g),
                Labeled::Count(k) => format!("n_labeled {k}"),
            }
        ),
        figure: Drawn::Chart(Figure {
            title: "Clean against label noise".into(),
            x_label: "method".into(),
            y_label: "AUCROC (%)".into(),
            chart: Chart::Bars {
                categories: cats.iter().map(|(m, v)| label(*m, *v)).collect(),
                series,
            },
        }),
    })
}

/// One figure per ablation switch: mean AUCROC per method variant against its values.
fn ablation_figs(sections: &[Section]) -> Vec<Planned> {
    ablation_groups(sections)
        .iter()
        .map(|group| {
            let AblationGroup {
                name,
                setting,
                protocol,
                values,
                ..
            } = group;
            let ordered: Vec<&Section> = values
                .iter()
                .filter_map(|v| group.sections_of(v).next())
                .collect();
            let categories: Vec<String> = values.iter().map(|v| v.value().to_string()).collect();
            let series = variant_series(&ordered, Metric::AucRoc);
            // Normalisations are categories without an order between them: bars.
            let chart = if values.iter().all(|v| matches!(v.switch(), Switch::Norm(_))) {
                Chart::Bars { categories, series }
            } else {
                Chart::Lines { categories, series }
            };
            Planned {
                name: format!("ablation_{name}"),
                caption: format!(
                    "AUCROC (mean of family means ± sd over seeds) against `{name}`, {} · {}",
                    setting.name(),
                    protocol.name()
                ),
                figure: Drawn::Chart(Figure {
                    title: format!("Ablation: {name}"),
                    x_label: name.to_string(),
                    y_label: "AUCROC (%)".into(),
                    chart,
                }),
            }
        })
        .collect()
}

/// The critical-difference diagram (AUCROC) of every section with a rank comparison.
fn cd_figs(sections: &[Section], analysis: &Analysis) -> Vec<Planned> {
    sections
        .iter()
        .zip(&analysis.ranks)
        .filter_map(|(sec, r)| {
            let r = r.as_ref().ok()?;
            let rc = r.metric(Metric::AucRoc)?;
            Some(Planned {
                name: cd_name(&sec.key),
                caption: format!(
                    "critical-difference diagram of the method variants' average AUCROC ranks over {} files, {}",
                    r.files,
                    sec.key.title()
                ),
                figure: Drawn::Cd(CdDiagram::new(
                    &format!("Average ranks, AUCROC: {}", sec.key.title()),
                    &r.labels(),
                    rc,
                )),
            })
        })
        .collect()
}

/// Every figure the results support.
pub fn plan(sections: &[Section], analysis: &Analysis) -> Vec<Planned> {
    let mut out = Vec::new();
    if let Some(s) = main_section(sections) {
        out.push(fig4(s));
    }
    out.extend(fig5(sections, false));
    out.extend(fig5(sections, true));
    out.extend(fig8(sections));
    out.extend(ablation_figs(sections));
    out.extend(cd_figs(sections, analysis));
    out
}
