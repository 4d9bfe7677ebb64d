//! The paper's published numbers that reports are set beside, read from `data/paper.toml`
//! (shipped inside the binary, parsed once): the families of Tables 1, 3 and 4 with their
//! folders and file counts, the tables themselves (gamma_la = 10%, clean setting, per family
//! and Overall, in %) per metric and method variant, and the ablations the paper reports
//! (Table 2) with the note a report prints above them, as docs/protocol.md section 6
//! describes them. No method is named here: the data file names them.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use super::grid::{Override, Variant};
use super::sections::Metric;
use anoonly::methods::MethodKind;

/// The data file, as shipped.
pub const PAPER_TOML: &str = include_str!("../data/paper.toml");

/// A family of the paper's tables.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Family {
    pub name: String,
    /// The folder under the ADBench root that holds its files (`NAME_*.npz`).
    pub folder: String,
    /// Files of the family in the paper (ADBench).
    pub files: usize,
}

/// One row of Tables 1/3/4: a method variant's values per family (in the order of
/// [`Paper::families`]) then the paper's Overall.
#[derive(Clone, Debug, PartialEq)]
struct Row {
    method: MethodKind,
    variant: Variant,
    values: Vec<f64>,
}

/// An ablation the paper reports: one switch on one method, its values per variant.
#[derive(Clone, Debug, PartialEq)]
pub struct Ablation {
    /// The switch's name (`norm`), as [`Override::name`] gives it.
    pub switch: String,
    pub method: MethodKind,
    /// What the report says above its table of this switch.
    pub note: String,
    values: Vec<(Variant, Override, f64)>,
}

impl Ablation {
    /// The paper's value for `method`'s `variant` at override `o` (compared typed: a grid
    /// spelling `layer-norm` finds the paper's `layernorm`); `None` where it has none.
    pub fn value(&self, method: MethodKind, variant: Variant, o: &Override) -> Option<f64> {
        if method != self.method {
            return None;
        }
        self.values
            .iter()
            .find(|(v, p, _)| *v == variant && p.switch() == o.switch())
            .map(|(_, _, x)| *x)
    }
}

/// Everything of `data/paper.toml`.
#[derive(Clone, Debug, PartialEq)]
pub struct Paper {
    /// In the tables' column order.
    pub families: Vec<Family>,
    tables: Vec<(Metric, Vec<Row>)>,
    pub ablations: Vec<Ablation>,
}

/// The file's shape; [`Paper::parse`] types it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PaperFile {
    families: Vec<Family>,
    tables: BTreeMap<String, BTreeMap<String, Vec<f64>>>,
    ablations: Vec<AblationFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AblationFile {
    switch: String,
    method: MethodKind,
    note: String,
    base: BTreeMap<String, f64>,
    anoonly: BTreeMap<String, f64>,
}

/// `deepsad` or `deepsad+AnoOnly` (a report's label) as a method variant.
fn parse_label(label: &str) -> Result<(MethodKind, Variant), String> {
    let (method, variant) = match label.strip_suffix("+AnoOnly") {
        Some(m) => (m, Variant::AnoOnly),
        None => (label, Variant::Base),
    };
    Ok((method.parse()?, variant))
}

impl Paper {
    /// The shipped data, parsed on first use. Its tests parse the same text, so a defect
    /// in it fails them, not a run.
    pub fn get() -> &'static Paper {
        static PAPER: OnceLock<Paper> = OnceLock::new();
        PAPER.get_or_init(|| {
            Paper::parse(PAPER_TOML).unwrap_or_else(|e| panic!("data/paper.toml: {e}"))
        })
    }

    /// Reads and checks a paper data file: known metrics, method names and override
    /// values, one value per family plus the Overall in every row.
    pub fn parse(text: &str) -> Result<Paper, String> {
        let file: PaperFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let width = file.families.len() + 1;
        let mut tables = Vec::new();
        for (metric_name, rows) in file.tables {
            let metric = Metric::ALL
                .into_iter()
                .find(|m| m.name() == metric_name)
                .ok_or_else(|| format!("tables.{metric_name}: not a metric of results lines"))?;
            let mut typed = Vec::new();
            for (label, values) in rows {
                let (method, variant) =
                    parse_label(&label).map_err(|e| format!("tables.{metric_name}: {e}"))?;
                if values.len() != width {
                    return Err(format!(
                        "tables.{metric_name}.{label}: {} values, expected {width} (the families, then Overall)",
                        values.len()
                    ));
                }
                typed.push(Row {
                    method,
                    variant,
                    values,
                });
            }
            tables.push((metric, typed));
        }
        let mut ablations = Vec::new();
        for a in file.ablations {
            let mut values = Vec::new();
            for (variant, map) in [(Variant::Base, a.base), (Variant::AnoOnly, a.anoonly)] {
                for (spelled, x) in map {
                    let o = Override::parse(&a.switch, &spelled).map_err(|e| e.to_string())?;
                    values.push((variant, o, x));
                }
            }
            ablations.push(Ablation {
                switch: a.switch,
                method: a.method,
                note: a.note,
                values,
            });
        }
        Ok(Paper {
            families: file.families,
            tables,
            ablations,
        })
    }

    /// The family's files in the paper, if it is one of the paper's families.
    pub fn family_files(&self, name: &str) -> Option<usize> {
        self.families
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.files)
    }

    /// The paper's value (in %) for a method variant, metric and family; `None` where the
    /// paper has none. `family = None` asks for the paper's Overall.
    pub fn value(
        &self,
        method: MethodKind,
        variant: Variant,
        metric: Metric,
        family: Option<&str>,
    ) -> Option<f64> {
        let (_, rows) = self.tables.iter().find(|(m, _)| *m == metric)?;
        let r = rows
            .iter()
            .find(|r| r.method == method && r.variant == variant)?;
        let col = match family {
            None => self.families.len(),
            Some(f) => self.families.iter().position(|x| x.name == f)?,
        };
        r.values.get(col).copied()
    }

    /// The mean of the paper's values over `families`: the paper's number comparable with
    /// our mean over the same families (its Overall covers 10 families). `None` if any is
    /// missing.
    pub fn mean_over(
        &self,
        method: MethodKind,
        variant: Variant,
        metric: Metric,
        families: &[&str],
    ) -> Option<f64> {
        if families.is_empty() {
            return None;
        }
        let vals: Option<Vec<f64>> = families
            .iter()
            .map(|f| self.value(method, variant, metric, Some(f)))
            .collect();
        vals.map(|v| v.iter().sum::<f64>() / v.len() as f64)
    }

    /// The paper's ablation of switch `name`, if it reports one.
    pub fn ablation(&self, name: &str) -> Option<&Ablation> {
        self.ablations.iter().find(|a| a.switch == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anoonly::vocab::NormKind;

    #[test]
    fn lookups_read_the_right_cells() {
        let p = Paper::get();
        let names: Vec<&str> = p.families.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["CIFAR10", "MVTec-AD", "SVHN", "20news"]);
        assert_eq!(p.family_files("MVTec-AD"), Some(15));
        assert_eq!(p.family_files("16_http"), None);
        assert_eq!(
            p.value(
                MethodKind::DevNet,
                Variant::AnoOnly,
                Metric::AucRoc,
                Some("MVTec-AD")
            ),
            Some(91.0)
        );
        assert_eq!(
            p.value(MethodKind::Xgbod, Variant::Base, Metric::AucPr, None),
            Some(41.5)
        );
        assert_eq!(
            p.value(MethodKind::Xgbod, Variant::AnoOnly, Metric::AucPr, None),
            None
        );
        // No table for the correctly signed normal-class AUCPR.
        assert_eq!(
            p.value(MethodKind::DevNet, Variant::Base, Metric::AucPrNormal, None),
            None
        );
        let m = p
            .mean_over(
                MethodKind::DeepSad,
                Variant::Base,
                Metric::AucRoc,
                &["CIFAR10", "SVHN"],
            )
            .unwrap();
        assert!((m - (68.7 + 55.4) / 2.0).abs() < 1e-12);
    }

    /// A row of the tables as Rust code held them: method, AnoOnly, Tables 1, 3, 4.
    type OldRow = (&'static str, bool, [f64; 5], [f64; 5], [f64; 5]);

    /// The data file holds, value for value, the tables that were Rust rows before it.
    #[test]
    fn the_data_file_holds_the_papers_tables() {
        #[rustfmt::skip]
        let rows: [OldRow; 11] = [
            ("ganomaly", false, [67.8, 76.0, 56.9, 54.9, 65.3], [12.0, 58.0, 7.2, 7.4, 16.2], [92.1, 64.3, 93.9, 94.7, 89.9]),
            ("repen", false, [67.4, 76.9, 59.2, 56.9, 67.0], [12.4, 59.2, 8.4, 7.4, 19.9], [91.9, 64.0, 93.3, 94.4, 89.4]),
            ("xgbod", false, [81.6, 94.9, 73.8, 70.0, 83.1], [30.4, 87.4, 20.8, 16.4, 41.5], [88.4, 58.6, 90.2, 91.8, 85.5]),
            ("deepsad", false, [68.7, 79.6, 55.4, 57.4, 67.8], [14.0, 67.8, 8.3, 7.5, 25.2], [91.4, 62.4, 94.0, 94.2, 88.8]),
            ("deepsad", true, [83.4, 84.3, 76.4, 74.1, 86.3], [35.1, 73.8, 22.7, 23.8, 50.0], [88.0, 61.0, 89.8, 90.6, 84.7]),
            ("feawad", false, [75.1, 82.7, 68.5, 71.6, 81.5], [23.9, 74.5, 16.6, 22.6, 40.0], [89.6, 61.0, 91.1, 90.6, 85.7]),
            ("feawad", true, [80.9, 85.5, 73.7, 77.7, 85.0], [29.6, 76.8, 19.0, 25.1, 44.6], [88.6, 60.3, 90.5, 90.2, 85.1]),
            ("prenet", false, [77.2, 84.3, 74.6, 76.3, 84.2], [30.8, 74.9, 21.7, 23.6, 43.7], [88.8, 60.6, 90.1, 90.4, 85.2]),
            ("prenet", true, [79.8, 87.9, 74.7, 79.4, 86.7], [31.9, 82.4, 22.5, 29.3, 50.9], [88.5, 59.4, 89.9, 89.5, 84.5]),
            ("devnet", false, [81.3, 84.6, 75.0, 69.8, 85.6], [30.5, 77.2, 21.7, 18.9, 49.2], [88.6, 60.6, 90.2, 91.7, 84.9]),
            ("devnet", true, [82.3, 91.0, 77.3, 79.7, 88.0], [34.6, 84.6, 24.4, 34.8, 54.1], [88.1, 58.8, 89.5, 89.0, 84.2]),
        ];
        let p = Paper::get();
        let families = [
            Some("CIFAR10"),
            Some("MVTec-AD"),
            Some("SVHN"),
            Some("20news"),
            None,
        ];
        let mut n = 0;
        for (method, anoonly, roc, pr, prn) in rows {
            let m: MethodKind = method.parse().unwrap();
            let v = if anoonly {
                Variant::AnoOnly
            } else {
                Variant::Base
            };
            for (metric, want) in [
                (Metric::AucRoc, roc),
                (Metric::AucPr, pr),
                (Metric::AucPrNormalOfficial, prn),
            ] {
                for (f, w) in families.iter().zip(want) {
                    assert_eq!(
                        p.value(m, v, metric, *f),
                        Some(w),
                        "{method} {anoonly} {metric:?} {f:?}"
                    );
                    n += 1;
                }
            }
        }
        // Nothing else in the tables.
        let in_file: usize = p.tables.iter().map(|(_, r)| r.len() * 5).sum();
        assert_eq!(in_file, n);
        // Table 2, as the Rust table had it: (norm, without AnoOnly, with AnoOnly).
        let table2 = [
            (NormKind::None, Some(61.96), 52.38),
            (NormKind::LayerNorm, Some(64.56), 54.77),
            (NormKind::BnNoAffine, Some(64.58), 86.26),
            (NormKind::Bn, Some(67.80), 86.30),
            (NormKind::BnLoss, None, 86.25),
        ];
        let t2 = p.ablation("norm").unwrap();
        assert_eq!(t2.method, MethodKind::DeepSad);
        assert_eq!(t2.values.len(), 9);
        for (norm, base, ao) in table2 {
            let o = Override::norm(norm);
            assert_eq!(t2.value(MethodKind::DeepSad, Variant::Base, &o), base);
            assert_eq!(
                t2.value(MethodKind::DeepSad, Variant::AnoOnly, &o),
                Some(ao)
            );
            assert_eq!(t2.value(MethodKind::DevNet, Variant::AnoOnly, &o), None);
        }
        // Another spelling of the same switch value finds the paper's.
        let spelled = Override::parse("norm", "layer-norm").unwrap();
        assert_eq!(
            t2.value(MethodKind::DeepSad, Variant::Base, &spelled),
            Some(64.56)
        );
    }

    #[test]
    fn bad_paper_files_are_refused_naming_the_entry() {
        let base = "families = [{name = \"A\", folder = \"F\", files = 1}]\nablations = []\n";
        for (tables, want) in [
            (
                "[tables.aucroc]\nnosuch = [1.0, 2.0]",
                "unknown method `nosuch`",
            ),
            (
                "[tables.aucroc]\ndevnet = [1.0]",
                "tables.aucroc.devnet: 1 values, expected 2",
            ),
            (
                "[tables.auc]\ndevnet = [1.0, 2.0]",
                "tables.auc: not a metric",
            ),
        ] {
            let e = Paper::parse(&format!("{base}{tables}")).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }
}
