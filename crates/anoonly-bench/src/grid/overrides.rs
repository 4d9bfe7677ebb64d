//! Ablation overrides: what one cell changes against the defaults, typed ([`Switch`]) and
//! spelled as its grid spelled it (the spelling names the cell), how it applies to a cell's
//! fit and split parameters, and how grid files and results lines write it.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

use anoonly::methods::{FitParams, MethodParams};
use anoonly::protocol::SplitParams;
use anoonly::vocab::{NormKind, ParamError};

/// What an ablation override sets, typed: the paper's switches (section 4 of
/// docs/protocol.md) and, for anything else, a method hyperparameter by name.
#[derive(Clone, Debug, PartialEq)]
pub enum Switch {
    /// Weight of `L_N` (a training parameter).
    LambdaN(f32),
    /// Fraction of the train normals kept (a split parameter).
    NormalRatio(f64),
    /// The normalisation before the last layer.
    Norm(NormKind),
    /// The method's training batch size.
    BatchSize(usize),
    /// A fraction of the method's training budget: its epochs and the own epochs of every
    /// stage it declares with them (a pretraining's, [`anoonly::train::StageSpec::epochs_param`])
    /// are scaled by it, each rounded to the nearest whole epoch and kept at least 1 (a
    /// stage of 0 epochs stays 0). A method with 100 pretraining and 30 training epochs
    /// trains 25 + 8 at 0.25 (`--suite budget`).
    Budget(f64),
    /// Any other method hyperparameter, set as `--set NAME=VALUE` sets it.
    Param {
        name: String,
        value: serde_json::Value,
    },
}

/// One ablation override of a cell: a typed [`Switch`] and its value as spelled. The
/// spelling names the cell (`.../norm=bn` ends its key) and is what results lines store,
/// so a grid file's `value = "1.0"` keeps naming the cells it always named; the
/// constructors spell values as Rust prints them (`0.00001`, `1`), which are the
/// `ablation` suite's spellings. Serialised as `{name, value}` strings (grid files,
/// `results.jsonl`). Two overrides are equal, and ordered, by name and spelling: reports
/// group cells by them.
#[derive(Clone, Debug)]
pub struct Override {
    switch: Switch,
    value: String,
}

impl Override {
    pub fn lambda_n(v: f32) -> Self {
        Override {
            switch: Switch::LambdaN(v),
            value: v.to_string(),
        }
    }

    pub fn normal_ratio(v: f64) -> Self {
        Override {
            switch: Switch::NormalRatio(v),
            value: v.to_string(),
        }
    }

    pub fn norm(n: NormKind) -> Self {
        Override {
            switch: Switch::Norm(n),
            value: n.name().to_string(),
        }
    }

    pub fn batch_size(b: usize) -> Self {
        Override {
            switch: Switch::BatchSize(b),
            value: b.to_string(),
        }
    }

    pub fn budget(fraction: f64) -> Self {
        Override {
            switch: Switch::Budget(fraction),
            value: fraction.to_string(),
        }
    }

    /// An override from its name and value as written (a grid file): one of the switches
    /// `lambda_n`, `normal_ratio`, `norm`, `batch_size`, `budget`, or a method hyperparameter. The
    /// value is parsed now, so a bad one is refused when the grid is read.
    pub fn parse(name: &str, value: &str) -> Result<Self, ParamError> {
        let bad = |reason: String| ParamError::new("ablation", format!("{name}={value}"), reason);
        let switch = match name {
            "lambda_n" => Switch::LambdaN(
                value
                    .parse()
                    .map_err(|_| bad("lambda_n must be a number".into()))?,
            ),
            "normal_ratio" => Switch::NormalRatio(
                value
                    .parse()
                    .map_err(|_| bad("normal_ratio must be a number".into()))?,
            ),
            "norm" => Switch::Norm(
                serde_json::from_value(serde_json::Value::String(value.to_string()))
                    .map_err(|e| bad(e.to_string()))?,
            ),
            "batch_size" => Switch::BatchSize(
                value
                    .parse()
                    .map_err(|_| bad("batch_size must be a whole number".into()))?,
            ),
            "budget" => Switch::Budget(
                value
                    .parse()
                    .ok()
                    .filter(|f: &f64| f.is_finite() && *f > 0.0)
                    .ok_or_else(|| bad("budget must be a positive fraction".into()))?,
            ),
            _ => Switch::Param {
                name: name.to_string(),
                value: anoonly::methods::parse_value(value),
            },
        };
        Ok(Override {
            switch,
            value: value.to_string(),
        })
    }

    pub fn switch(&self) -> &Switch {
        &self.switch
    }

    /// The switch's name (`lambda_n`, `norm`, ..., or the hyperparameter's).
    pub fn name(&self) -> &str {
        match &self.switch {
            Switch::LambdaN(_) => "lambda_n",
            Switch::NormalRatio(_) => "normal_ratio",
            Switch::Norm(_) => "norm",
            Switch::BatchSize(_) => "batch_size",
            Switch::Budget(_) => "budget",
            Switch::Param { name, .. } => name,
        }
    }

    /// The value as spelled.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Applies the override to a cell's fit and split parameters.
    pub fn apply(&self, fit: &mut FitParams, split: &mut SplitParams) -> Result<(), ParamError> {
        match &self.switch {
            Switch::LambdaN(v) => fit.train.lambda_n = Some(*v),
            Switch::NormalRatio(v) => split.normal_ratio = *v,
            Switch::Norm(n) => fit.train.norm = Some(*n),
            Switch::BatchSize(b) => fit.method.set_batch_size(*b)?,
            Switch::Budget(f) => scale_budget(&mut fit.method, *f)?,
            Switch::Param { name, value } => fit.method.set_value(name, value.clone())?,
        }
        Ok(())
    }
}

/// [`Switch::Budget`]: scales the epochs (an error for a method without them) and the own
/// epochs of every stage of the method's fit that has them
/// ([`anoonly::train::StageSpec::epochs_param`], e.g. a pretraining's; one of 0 epochs stays
/// 0).
fn scale_budget(method: &mut MethodParams, fraction: f64) -> Result<(), ParamError> {
    let scaled = |e: u64| ((e as f64 * fraction).round() as usize).max(1);
    let Some(epochs) = method.clone().knobs().epochs.map(|e| *e) else {
        // Refused, naming the method and what it trains in instead.
        return method.set_epochs(0);
    };
    method.set_epochs(scaled(epochs as u64))?;
    let fields = serde_json::to_value(&*method).ok();
    for name in method.kind().stages().iter().filter_map(|s| s.epochs_param) {
        let own = fields
            .as_ref()
            .and_then(|v| v.get(name).and_then(|e| e.as_u64()));
        if let Some(e) = own.filter(|&e| e > 0) {
            method.set_value(name, scaled(e).into())?;
        }
    }
    Ok(())
}

impl fmt::Display for Override {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name(), self.value)
    }
}

impl PartialEq for Override {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Override {}

impl PartialOrd for Override {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Override {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.name(), self.value()).cmp(&(other.name(), other.value()))
    }
}

impl Hash for Override {
    fn hash<H: Hasher>(&self, h: &mut H) {
        (self.name(), self.value()).hash(h);
    }
}

/// An override as grid files and results lines write it.
#[derive(Serialize, Deserialize)]
struct OverrideText<'a> {
    name: std::borrow::Cow<'a, str>,
    value: std::borrow::Cow<'a, str>,
}

impl Serialize for Override {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        OverrideText {
            name: self.name().into(),
            value: self.value.as_str().into(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Override {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t = OverrideText::deserialize(d)?;
        Override::parse(&t.name, &t.value).map_err(serde::de::Error::custom)
    }
}
/// One entry of a grid file's `ablations`: a switch and one value (`{name = "norm", value =
/// "bn"}`, as results lines write an override) or a sweep of values (`{name = "lambda_n",
/// values = ["1", "0.1"]}`), each value spelled as the cell's key will spell it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AblationEntry {
    name: String,
    value: Option<String>,
    values: Option<Vec<String>>,
}

/// Reads a grid file's `ablations` (see [`AblationEntry`]) into overrides, in the order
/// written, each value parsed now so that a bad one is refused with the file.
pub(super) fn ablation_list<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<Override>, D::Error> {
    use serde::de::Error;
    let mut out = Vec::new();
    for e in Vec::<AblationEntry>::deserialize(d)? {
        let spelled = match (e.value, e.values) {
            (Some(v), None) => vec![v],
            (None, Some(vs)) if !vs.is_empty() => vs,
            _ => {
                return Err(D::Error::custom(format!(
                    "ablation `{}`: give either `value = \"...\"` or a non-empty `values = [...]`",
                    e.name
                )))
            }
        };
        for v in spelled {
            out.push(Override::parse(&e.name, &v).map_err(D::Error::custom)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::{Cell, DatasetRef, Grid, Variant};
    use anoonly::methods::MethodKind;
    use anoonly::protocol::{Protocol, Setting};

    /// Cells are named by their override's spelling: the typed constructors spell the
    /// paper's sweeps as results files written before the types did, and a spelling read
    /// back (a grid file, a results line) is the same override.
    #[test]
    fn ablation_overrides_keep_the_spellings_of_existing_results() {
        let spelled = |o: Vec<Override>| o.iter().map(|o| o.to_string()).collect::<Vec<_>>();
        assert_eq!(
            spelled(NormKind::ALL.iter().map(|&n| Override::norm(n)).collect()),
            [
                "norm=none",
                "norm=layernorm",
                "norm=bn-noaffine",
                "norm=bn",
                "norm=bn-loss"
            ]
        );
        assert_eq!(
            spelled(
                [1.0, 0.1, 0.01, 0.001, 0.0001, 0.00001, 0.000001, 0.0]
                    .map(Override::lambda_n)
                    .to_vec()
            ),
            [
                "lambda_n=1",
                "lambda_n=0.1",
                "lambda_n=0.01",
                "lambda_n=0.001",
                "lambda_n=0.0001",
                "lambda_n=0.00001",
                "lambda_n=0.000001",
                "lambda_n=0"
            ]
        );
        assert_eq!(
            spelled(
                [0.01, 0.05, 0.1, 0.2, 0.5, 1.0]
                    .map(Override::normal_ratio)
                    .to_vec()
            ),
            [
                "normal_ratio=0.01",
                "normal_ratio=0.05",
                "normal_ratio=0.1",
                "normal_ratio=0.2",
                "normal_ratio=0.5",
                "normal_ratio=1"
            ]
        );
        assert_eq!(
            spelled([1, 2, 4].map(Override::batch_size).to_vec())[..2],
            ["batch_size=1", "batch_size=2"]
        );
        for o in [
            Override::lambda_n(0.00001),
            Override::normal_ratio(1.0),
            Override::norm(NormKind::BnNoAffine),
            Override::batch_size(128),
            Override::budget(0.02),
        ] {
            let back = Override::parse(o.name(), o.value()).unwrap();
            assert_eq!(back.switch(), o.switch());
            assert_eq!(back, o);
        }
        // A value as a grid file spells it names the cell and goes back out unchanged:
        // another spelling of the same number is another cell.
        let o = Override::parse("lambda_n", "1.0").unwrap();
        assert_eq!(o.switch(), &Switch::LambdaN(1.0));
        assert_eq!(o.to_string(), "lambda_n=1.0");
        assert_ne!(o, Override::lambda_n(1.0));
        assert!(Override::lambda_n(1.0) < o);
        assert_eq!(
            serde_json::to_string(&o).unwrap(),
            r#"{"name":"lambda_n","value":"1.0"}"#
        );
        let back: Override =
            serde_json::from_str(r#"{"name":"norm","value":"layer-norm"}"#).unwrap();
        assert_eq!(back.switch(), &Switch::Norm(NormKind::LayerNorm));
        assert_eq!(back.to_string(), "norm=layer-norm");
        let p = Override::parse("compat", "official").unwrap();
        assert_eq!(
            p.switch(),
            &Switch::Param {
                name: "compat".into(),
                value: serde_json::json!("official")
            }
        );
        // A bad value is refused when the grid is read, naming the override.
        for (name, value) in [
            ("lambda_n", "x"),
            ("norm", "batchnorm"),
            ("batch_size", "1.5"),
        ] {
            let e = Override::parse(name, value).unwrap_err().to_string();
            assert!(e.contains(&format!("{name}={value}")), "{e}");
        }
    }

    /// A cell's configuration applies the typed override where the old name/value strings
    /// applied it.
    #[test]
    fn overrides_set_the_training_split_and_method_parameters() {
        let grid = Grid {
            synthetic: vec![0],
            methods: vec![MethodKind::DeepSad],
            ..Grid::default()
        };
        let cell = |o: Override| Cell {
            dataset: DatasetRef::synthetic(0),
            method: MethodKind::DeepSad,
            variant: Variant::AnoOnly,
            setting: Setting::Clean,
            labeled: anoonly::protocol::Labeled::Ratio(0.1),
            seed: 0,
            ablation: Some(o),
            protocol: Protocol::Adbench,
        };
        let (fit, _) = grid.config(&cell(Override::lambda_n(0.001))).unwrap();
        assert_eq!(fit.train.lambda_n, Some(0.001));
        let (fit, _) = grid.config(&cell(Override::norm(NormKind::Bn))).unwrap();
        assert_eq!(fit.train.norm, Some(NormKind::Bn));
        let (fit, _) = grid.config(&cell(Override::batch_size(16))).unwrap();
        assert_eq!(fit.method.batch_size(), Some(16));
        let (_, split) = grid.config(&cell(Override::normal_ratio(0.2))).unwrap();
        assert_eq!(split.normal_ratio, 0.2);
        let (fit, _) = grid
            .config(&cell(Override::parse("eta", "2").unwrap()))
            .unwrap();
        assert_eq!(serde_json::to_value(&fit.method).unwrap()["eta"], 2.0);
        assert!(grid
            .config(&cell(Override::parse("no_such", "1").unwrap()))
            .is_err());
    }
}
