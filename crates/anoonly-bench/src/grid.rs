//! The grid: which cells a bench run holds, each cell's key, presets, TOML grids and
//! shards. A cell is one evaluation (dataset file x method x variant x setting x gamma_la x
//! seed, plus at most one ablation override); its key names it uniquely and is what
//! `results.jsonl` and `--resume` match on.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use anoonly::methods::{FitParams, MethodKind, MethodParams};
use anoonly::protocol::{Protocol, Setting, SplitParams};
use anoonly::vocab::{NormKind, ParamError};

/// A method with or without AnoOnly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    Base,
    AnoOnly,
}

impl Variant {
    pub fn name(self) -> &'static str {
        match self {
            Variant::Base => "base",
            Variant::AnoOnly => "anoonly",
        }
    }
}

impl FromStr for Variant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "base" | "vanilla" => Ok(Variant::Base),
            "anoonly" => Ok(Variant::AnoOnly),
            _ => Err(format!("unknown variant `{s}` (known: base, anoonly)")),
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a cell's data comes from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A file (`.npz`, `.npy`, `.csv`).
    File(PathBuf),
    /// Built-in synthetic data ([`anoonly::data::synthetic::demo_dataset`] with this seed):
    /// what `--suite quick` and the tests run on, no file needed.
    Synthetic(u64),
}

/// A dataset of the grid: its name (the file stem), its family and where it comes from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DatasetRef {
    pub name: String,
    pub family: String,
    pub source: Source,
}

impl DatasetRef {
    /// A file, its family read off its name as docs/protocol.md 1.4 groups them: `CIFAR10_3` ->
    /// `CIFAR10`, `MVTec-AD_bottle` -> `MVTec-AD`, `20news_3` -> `20news`. Files of
    /// ADBench's `Classical/` folder are one family each (`16_http`).
    pub fn file(path: &Path) -> DatasetRef {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let classical = path
            .parent()
            .and_then(|p| p.file_name())
            .is_some_and(|d| d == "Classical");
        let family = if classical {
            name.clone()
        } else {
            family_of(&name)
        };
        DatasetRef {
            name,
            family,
            source: Source::File(path.to_path_buf()),
        }
    }

    /// Built-in synthetic data, family `synthetic`.
    pub fn synthetic(seed: u64) -> DatasetRef {
        DatasetRef {
            name: format!("synthetic_{seed}"),
            family: "synthetic".to_string(),
            source: Source::Synthetic(seed),
        }
    }
}

/// The family of a dataset name: everything before the first `_` (the whole name if
/// none): ADBench names CV/NLP files `FAMILY_CLASS`, and no family name holds a `_`.
pub fn family_of(name: &str) -> String {
    match name.split_once('_') {
        Some((family, _)) if !family.is_empty() => family.to_string(),
        _ => name.to_string(),
    }
}

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
    /// A fraction of the method's training budget: its epochs and, where it has them, its
    /// pretraining epochs (FEAWAD's `pretrain_epochs`) are scaled by it, each rounded to the
    /// nearest whole epoch and kept at least 1 (a pretraining of 0 epochs stays 0). FEAWAD
    /// at 0.25 trains 25 + 8 epochs instead of the authors' 100 + 30 (`--suite budget`).
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
/// `results.jsonl`).
#[derive(Clone, Debug, PartialEq)]
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

/// One evaluation of the grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub dataset: DatasetRef,
    pub method: MethodKind,
    pub variant: Variant,
    pub setting: Setting,
    pub gamma_la: f64,
    pub seed: u64,
    pub ablation: Option<Override>,
    /// The split protocol (the grid's): part of the key when it is not the default, so
    /// one run directory can hold both protocols (`--suite leakage`).
    #[serde(default = "default_protocol")]
    pub protocol: Protocol,
}

fn default_protocol() -> Protocol {
    Protocol::Adbench
}

impl Cell {
    /// The cell's unique name. It also fixes the cell's randomness: the seed in the key is
    /// the split seed and the model seed, exactly as `anoonly eval --seeds S` uses it, so a
    /// cell's result depends on nothing but its key (not on the thread count, the shard or
    /// the order cells run in), and equals the matching `eval` run bit for bit.
    ///
    /// Keys written before the protocol was part of them stay valid: the default protocol
    /// (`adbench`) adds nothing, any other ends the key (`.../seed=0/protocol=leakage-free`).
    /// What else shapes a cell but is not in its key (the grid's `epochs` and `set`) is
    /// checked against the finished cell's results line on `--resume` and `bench merge`
    /// ([`super::results::check_same_config`]).
    pub fn key(&self) -> String {
        let mut k = format!(
            "{}/{}/{}/{}/gamma_la={}/seed={}",
            self.dataset.name,
            self.method,
            self.variant,
            anoonly::experiment::setting_name(self.setting),
            self.gamma_la,
            self.seed
        );
        if let Some(o) = &self.ablation {
            k.push('/');
            k.push_str(&o.to_string());
        }
        k.push_str(&protocol_suffix(anoonly::experiment::protocol_name(
            self.protocol,
        )));
        k
    }
}

/// What a key ends with for a protocol: nothing for the default (`adbench`), so that keys
/// written before the protocol was part of them still name their cells.
pub fn protocol_suffix(protocol: &str) -> String {
    if protocol == anoonly::experiment::protocol_name(Protocol::Adbench) {
        String::new()
    } else {
        format!("/protocol={protocol}")
    }
}

/// The axes of a grid; the cells are their product (see [`Grid::cells`]). Also the
/// shape of a TOML grid file: every field may be given, the rest take these defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Grid {
    /// Dataset files; empty with `synthetic` set means built-in data.
    pub files: Vec<PathBuf>,
    /// Seeds of built-in synthetic datasets (one dataset per seed).
    pub synthetic: Vec<u64>,
    pub methods: Vec<MethodKind>,
    pub variants: Vec<Variant>,
    pub settings: Vec<Setting>,
    pub gamma_la: Vec<f64>,
    pub seeds: Vec<u64>,
    /// Ablation overrides; each adds its own set of cells. Empty: no ablation.
    pub ablations: Vec<Override>,
    pub protocol: Protocol,
    /// Epochs for every method that trains in epochs (the authors' settings when absent;
    /// XGBOD keeps its boosting rounds: set its `n_estimators` with `set`).
    pub epochs: Option<usize>,
    /// Per-method hyperparameters, `method -> [NAME=VALUE]` (as `--set`).
    pub set: Vec<(MethodKind, String)>,
}

impl Default for Grid {
    fn default() -> Self {
        Grid {
            files: Vec::new(),
            synthetic: Vec::new(),
            methods: MethodKind::ALL.to_vec(),
            variants: vec![Variant::Base, Variant::AnoOnly],
            settings: vec![Setting::Clean],
            gamma_la: vec![0.1],
            seeds: vec![0, 1, 2],
            ablations: Vec::new(),
            protocol: Protocol::Adbench,
            epochs: None,
            set: Vec::new(),
        }
    }
}

/// A named grid (`--suite`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suite {
    /// Table 1's grid: every method (the four SSAD methods with and without AnoOnly, the
    /// baselines), clean, gamma_la 0.1, seeds 0,1,2, on the ADBench family files found.
    Paper,
    /// `paper` plus the gamma_la sweep {1, 5, 10, 25, 50, 75, 100}% (Fig. 5).
    Sweep,
    /// `paper` in both the clean and the label-noise setting (Fig. 8).
    Noise,
    /// `sweep` and `noise` together: every table and figure of the paper's main section in
    /// one run (Figs. 4, 5, 8).
    Full,
    /// Built-in synthetic data (two datasets), DeepSAD and DevNet, seeds 0 and 1: seconds,
    /// no files.
    Quick,
    /// The paper's ablations on DeepSAD (docs/protocol.md section 4): Table 2's normalisation layers
    /// with and without AnoOnly, the lambda_n sweep (Fig. 7), the normal-ratio sweep
    /// (Fig. 6) and the batch-size sweep of DeepSAD+AnoOnly (Fig. 9).
    Ablation,
    /// Beyond the paper: every `*.npz` of ADBench's `Classical/` folder (one file = one
    /// family), every method and variant, clean, gamma_la {5, 10, 25}%, seeds 0,1,2.
    Tabular,
    /// The `paper` grid under both protocols, `adbench` (the authors' resample-before-split)
    /// and `leakage-free`: the report compares them per family and method.
    Leakage,
    /// FEAWAD, with and without AnoOnly, on the paper's files at the authors' training
    /// budget (no override: the `paper` suite's cells) and at [`BUDGET_SWEEP`] of it.
    Budget,
}

impl FromStr for Suite {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "paper" => Ok(Suite::Paper),
            "sweep" => Ok(Suite::Sweep),
            "noise" => Ok(Suite::Noise),
            "full" => Ok(Suite::Full),
            "quick" => Ok(Suite::Quick),
            "ablation" => Ok(Suite::Ablation),
            "tabular" => Ok(Suite::Tabular),
            "leakage" => Ok(Suite::Leakage),
            "budget" => Ok(Suite::Budget),
            _ => Err(format!(
                "unknown suite `{s}` (known: {})",
                Suite::NAMES.join(", ")
            )),
        }
    }
}

impl Suite {
    /// Every suite's name, as `--suite` takes it.
    pub const NAMES: [&'static str; 9] = [
        "paper", "sweep", "noise", "full", "quick", "ablation", "tabular", "leakage", "budget",
    ];
}

/// The gamma_la values of the `tabular` suite.
pub const TABULAR_GAMMA_LA: [f64; 3] = [0.05, 0.1, 0.25];

/// The fractions of the authors' training budget the `budget` suite runs besides the
/// authors' own (see [`Switch::Budget`]): FEAWAD's 100 + 30 epochs become 25 + 8, 10 + 3
/// and 2 + 1 (660, 260 and 60 of the authors' 2,600 steps).
pub const BUDGET_SWEEP: [f64; 3] = [0.25, 0.1, 0.02];

/// The gamma_la values of the paper's Fig. 5.
pub const GAMMA_LA_SWEEP: [f64; 7] = [0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0];

/// The ADBench families the paper's Table 1 reports and that have feature files:
/// (folder under the ADBench root, file-name prefix).
pub const PAPER_FAMILIES: [(&str, &str); 4] = [
    ("CV_by_ResNet18", "CIFAR10_"),
    ("CV_by_ResNet18", "MVTec-AD_"),
    ("CV_by_ResNet18", "SVHN_"),
    ("NLP_by_RoBERTa", "20news_"),
];

/// Why a grid could not be built.
#[derive(Debug, thiserror::Error)]
pub enum GridError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{path}: {message}")]
    Toml { path: PathBuf, message: String },
    #[error(
        "{0}: no ADBench family file (CIFAR10_*, MVTec-AD_*, SVHN_*, 20news_*) found under it"
    )]
    NoFiles(PathBuf),
    #[error("no suite, grid file or files given, and the default suite `paper` found no ADBench family file (CIFAR10_*, MVTec-AD_*, SVHN_*, 20news_*) under {0} (try the `quick` suite)")]
    NoDefault(PathBuf),
    #[error("{0}: no ADBench Classical file (Classical/*.npz) found under it")]
    NoClassical(PathBuf),
    #[error("the grid is empty: {0}")]
    Empty(&'static str),
    #[error("{0}")]
    Param(#[from] ParamError),
    #[error("--shard {0}: expected I/N with 1 <= I <= N")]
    Shard(String),
}

/// The values of the paper's ablation sweeps (docs/protocol.md section 4); the `norm`
/// sweep is [`NormKind::ALL`].
pub const LAMBDA_N_SWEEP: [f32; 8] = [1.0, 0.1, 0.01, 0.001, 0.0001, 0.00001, 0.000001, 0.0];
pub const NORMAL_RATIO_SWEEP: [f64; 6] = [0.01, 0.05, 0.1, 0.2, 0.5, 1.0];
pub const BATCH_SIZE_SWEEP: [usize; 8] = [1, 2, 4, 8, 16, 32, 64, 128];

impl Suite {
    /// The suite's grids (their cells are joined). `data_dir` is the ADBench root
    /// (`../shared/data/adbench`).
    pub fn grids(self, data_dir: &Path) -> Result<Vec<Grid>, GridError> {
        if self == Suite::Ablation {
            let base = Grid {
                files: family_files(data_dir)?,
                methods: vec![MethodKind::DeepSad],
                ..Grid::default()
            };
            return Ok(vec![
                Grid {
                    ablations: NormKind::ALL.iter().map(|&n| Override::norm(n)).collect(),
                    ..base.clone()
                },
                Grid {
                    variants: vec![Variant::Base],
                    ablations: LAMBDA_N_SWEEP.map(Override::lambda_n).to_vec(),
                    ..base.clone()
                },
                Grid {
                    ablations: NORMAL_RATIO_SWEEP.map(Override::normal_ratio).to_vec(),
                    ..base.clone()
                },
                Grid {
                    variants: vec![Variant::AnoOnly],
                    ablations: BATCH_SIZE_SWEEP.map(Override::batch_size).to_vec(),
                    ..base
                },
            ]);
        }
        match self {
            Suite::Full => Ok(vec![
                Suite::Sweep.grid(data_dir)?,
                Suite::Noise.grid(data_dir)?,
            ]),
            Suite::Leakage => {
                let adbench = Suite::Paper.grid(data_dir)?;
                let free = Grid {
                    protocol: Protocol::LeakageFree,
                    ..adbench.clone()
                };
                Ok(vec![adbench, free])
            }
            Suite::Budget => {
                let authors = Grid {
                    methods: vec![MethodKind::Feawad],
                    ..Suite::Paper.grid(data_dir)?
                };
                let reduced = Grid {
                    ablations: BUDGET_SWEEP.map(Override::budget).to_vec(),
                    ..authors.clone()
                };
                Ok(vec![authors, reduced])
            }
            Suite::Tabular => Ok(vec![Grid {
                files: classical_files(data_dir)?,
                gamma_la: TABULAR_GAMMA_LA.to_vec(),
                ..Grid::default()
            }]),
            _ => Ok(vec![self.grid(data_dir)?]),
        }
    }

    fn grid(self, data_dir: &Path) -> Result<Grid, GridError> {
        if self == Suite::Quick {
            return Ok(Grid {
                synthetic: vec![0, 1],
                methods: vec![MethodKind::DeepSad, MethodKind::DevNet],
                seeds: vec![0, 1],
                ..Grid::default()
            });
        }
        let files = family_files(data_dir)?;
        let mut g = Grid {
            files,
            ..Grid::default()
        };
        match self {
            Suite::Sweep => g.gamma_la = GAMMA_LA_SWEEP.to_vec(),
            Suite::Noise => g.settings = vec![Setting::Clean, Setting::Noisy],
            _ => {}
        }
        Ok(g)
    }
}

/// Every `*.npz` of the `Classical/` folder under an ADBench root, sorted by name.
pub fn classical_files(root: &Path) -> Result<Vec<PathBuf>, GridError> {
    let dir = root.join("Classical");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(GridError::NoClassical(root.to_path_buf()))
        }
        Err(e) => return Err(GridError::Io(dir, e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| GridError::Io(dir.clone(), e))?.path();
        if path.extension().is_some_and(|x| x == "npz") {
            files.push(path);
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    if files.is_empty() {
        return Err(GridError::NoClassical(root.to_path_buf()));
    }
    Ok(files)
}

/// The Table 1 family files under an ADBench root, sorted by name.
pub fn family_files(root: &Path) -> Result<Vec<PathBuf>, GridError> {
    let mut files = Vec::new();
    let folders: BTreeSet<&str> = PAPER_FAMILIES.iter().map(|(d, _)| *d).collect();
    for folder in folders {
        let dir = root.join(folder);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(GridError::Io(dir, e)),
        };
        for entry in entries {
            let path = entry.map_err(|e| GridError::Io(dir.clone(), e))?.path();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let wanted = PAPER_FAMILIES
                .iter()
                .any(|(d, prefix)| *d == folder && name.starts_with(prefix));
            if wanted && name.ends_with(".npz") {
                files.push(path);
            }
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    if files.is_empty() {
        return Err(GridError::NoFiles(root.to_path_buf()));
    }
    Ok(files)
}

impl Grid {
    /// Reads a TOML grid file (the fields of [`Grid`]; unknown fields are refused). Needs
    /// the `toml` feature; without it the file is refused with a message saying so.
    pub fn from_toml_file(path: &Path) -> Result<Grid, GridError> {
        let text = std::fs::read_to_string(path).map_err(|e| GridError::Io(path.into(), e))?;
        Grid::from_toml_str(&text).map_err(|message| GridError::Toml {
            path: path.to_path_buf(),
            message,
        })
    }

    fn from_toml_str(text: &str) -> Result<Grid, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim().replace('\n', " "))
    }

    /// The datasets of the grid, files first, then synthetic ones.
    pub fn datasets(&self) -> Vec<DatasetRef> {
        let mut v: Vec<DatasetRef> = self.files.iter().map(|p| DatasetRef::file(p)).collect();
        v.extend(self.synthetic.iter().map(|&s| DatasetRef::synthetic(s)));
        v
    }

    /// Every cell, in canonical order (sorted by key). Baselines have no AnoOnly variant:
    /// they get only their `base` cells.
    pub fn cells(&self) -> Result<Vec<Cell>, GridError> {
        let datasets = self.datasets();
        if datasets.is_empty() {
            return Err(GridError::Empty(
                "no dataset (give files or synthetic seeds)",
            ));
        }
        for (axis, empty) in [
            ("no method", self.methods.is_empty()),
            ("no variant", self.variants.is_empty()),
            ("no setting", self.settings.is_empty()),
            ("no gamma_la", self.gamma_la.is_empty()),
            ("no seed", self.seeds.is_empty()),
        ] {
            if empty {
                return Err(GridError::Empty(axis));
            }
        }
        let ablations: Vec<Option<Override>> = if self.ablations.is_empty() {
            vec![None]
        } else {
            self.ablations.iter().cloned().map(Some).collect()
        };
        let mut cells = Vec::new();
        for d in &datasets {
            for &method in &self.methods {
                for &variant in &self.variants {
                    if variant == Variant::AnoOnly && !method.supports_anoonly() {
                        continue;
                    }
                    for &setting in &self.settings {
                        for &gamma_la in &self.gamma_la {
                            for &seed in &self.seeds {
                                for ablation in &ablations {
                                    cells.push(Cell {
                                        dataset: d.clone(),
                                        method,
                                        variant,
                                        setting,
                                        gamma_la,
                                        seed,
                                        ablation: ablation.clone(),
                                        protocol: self.protocol,
                                    });
                                }
                            }
                        }
                    }
                }
            }
        }
        cells.sort_by_key(|c| c.key());
        cells.dedup_by(|a, b| a.key() == b.key());
        // Validate every distinct configuration once, before any work.
        for c in &cells {
            self.config(c)?;
        }
        Ok(cells)
    }

    /// The fit and split parameters of a cell: the method's defaults, the grid's `epochs`
    /// (for a method that trains in epochs) and `set`, then the cell's ablation override.
    pub fn config(&self, cell: &Cell) -> Result<(FitParams, SplitParams), ParamError> {
        let mut fit = FitParams::new(cell.method)
            .anoonly(cell.variant == Variant::AnoOnly)
            .seed(cell.seed);
        if let (Some(e), Some(slot)) = (self.epochs, fit.method.knobs().epochs) {
            *slot = e;
        }
        for (m, kv) in &self.set {
            if *m == cell.method {
                let (k, v) = kv.split_once('=').ok_or_else(|| {
                    ParamError::new("set", kv, "expected NAME=VALUE for a method parameter")
                })?;
                fit.method.set(k.trim(), v.trim())?;
            }
        }
        let mut split = SplitParams {
            protocol: cell.protocol,
            setting: cell.setting,
            gamma_la: cell.gamma_la,
            ..SplitParams::default()
        };
        if let Some(o) = &cell.ablation {
            o.apply(&mut fit, &mut split)?;
        }
        fit.validate()?;
        split
            .validate()
            .map_err(|e| ParamError::new("split", cell.key(), e.to_string()))?;
        Ok((fit, split))
    }
}

/// Axis overrides applied over a suite's or a grid file's grids (the `bench` flags, a
/// Python caller's keyword arguments): an empty list or `None` leaves the axis as it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GridAxes {
    /// Data files instead of the grid's files and synthetic data.
    pub files: Vec<PathBuf>,
    pub methods: Vec<MethodKind>,
    pub variants: Vec<Variant>,
    pub settings: Vec<Setting>,
    pub gamma_la: Vec<f64>,
    pub seeds: Vec<u64>,
    pub protocol: Option<Protocol>,
    /// Epochs for every method that trains in epochs.
    pub epochs: Option<usize>,
    /// Method hyperparameters added to the grid's `set`: (method, name, value).
    pub set: Vec<(MethodKind, String, serde_json::Value)>,
}

impl GridAxes {
    /// Overrides `grid`'s axes with the ones given here.
    pub fn apply(&self, grid: &mut Grid) {
        if !self.files.is_empty() {
            grid.files = self.files.clone();
            grid.synthetic.clear();
        }
        if !self.methods.is_empty() {
            grid.methods.clone_from(&self.methods);
        }
        if !self.variants.is_empty() {
            grid.variants.clone_from(&self.variants);
        }
        if !self.settings.is_empty() {
            grid.settings.clone_from(&self.settings);
        }
        if !self.gamma_la.is_empty() {
            grid.gamma_la.clone_from(&self.gamma_la);
        }
        if !self.seeds.is_empty() {
            grid.seeds.clone_from(&self.seeds);
        }
        if let Some(p) = self.protocol {
            grid.protocol = p;
        }
        if self.epochs.is_some() {
            grid.epochs = self.epochs;
        }
        grid.set.extend(
            self.set
                .iter()
                .map(|(m, name, v)| (*m, format!("{name}={}", anoonly::methods::value_text(v)))),
        );
    }
}

/// Where a bench run's grids come from.
#[derive(Clone, Debug, PartialEq)]
pub enum GridSource {
    /// A named suite, its files found under the data directory.
    Suite(Suite),
    /// A TOML grid file.
    File(PathBuf),
    /// Nothing named: the axes alone when they give files, else the `paper` suite.
    Default,
}

/// The grids of a run: those of `source` (suites find their files under `data_dir`, the
/// ADBench root), each with `axes` applied.
pub fn build_grids(
    source: &GridSource,
    data_dir: &Path,
    axes: &GridAxes,
) -> Result<Vec<Grid>, GridError> {
    let mut grids = match source {
        GridSource::File(path) => vec![Grid::from_toml_file(path)?],
        GridSource::Suite(suite) => suite.grids(data_dir)?,
        GridSource::Default if !axes.files.is_empty() => vec![Grid::default()],
        GridSource::Default => Suite::Paper.grids(data_dir).map_err(|e| match e {
            GridError::NoFiles(dir) => GridError::NoDefault(dir),
            e => e,
        })?,
    };
    for grid in &mut grids {
        axes.apply(grid);
    }
    Ok(grids)
}

/// `--shard I/N`: the I-th (1-based) of N disjoint slices of the grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl FromStr for Shard {
    type Err = GridError;
    fn from_str(s: &str) -> Result<Self, GridError> {
        let bad = || GridError::Shard(s.to_string());
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// The cells of this shard: every N-th cell of the canonical order, starting at the
    /// I-th. Round robin rather than contiguous blocks, so that each shard gets a similar
    /// mix of slow and fast methods.
    pub fn select<T>(&self, cells: Vec<T>) -> Vec<T> {
        cells
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % self.count == self.index - 1)
            .map(|(_, c)| c)
            .collect()
    }
}

/// The cells of several grids joined, each with the grid it came from, in canonical order
/// (sorted by key; a key in two grids is kept once, from the first).
pub fn joined_cells(grids: &[Grid]) -> Result<Vec<(Cell, &Grid)>, GridError> {
    let mut all: Vec<(String, Cell, &Grid)> = Vec::new();
    for g in grids {
        for c in g.cells()? {
            all.push((c.key(), c, g));
        }
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all.dedup_by(|a, b| a.0 == b.0);
    Ok(all.into_iter().map(|(_, c, g)| (c, g)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_follow_the_file_names() {
        assert_eq!(family_of("CIFAR10_3"), "CIFAR10");
        assert_eq!(family_of("MVTec-AD_metal_nut"), "MVTec-AD");
        assert_eq!(family_of("amazon"), "amazon");
        assert_eq!(family_of("20news_3"), "20news");
        let f = DatasetRef::file(Path::new("x/Classical/16_http.npz"));
        assert_eq!(f.family, "16_http");
    }

    /// Cells are named by their override's spelling: the typed sweeps of the `ablation`
    /// suite spell their values as results files written before the types did.
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
            spelled(LAMBDA_N_SWEEP.map(Override::lambda_n).to_vec()),
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
            spelled(NORMAL_RATIO_SWEEP.map(Override::normal_ratio).to_vec()),
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
            spelled(BATCH_SIZE_SWEEP.map(Override::batch_size).to_vec())[..2],
            ["batch_size=1", "batch_size=2"]
        );
        // A value as a grid file spells it names the cell and goes back out unchanged.
        let o = Override::parse("lambda_n", "1.0").unwrap();
        assert_eq!(o.switch(), &Switch::LambdaN(1.0));
        assert_eq!(o.to_string(), "lambda_n=1.0");
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
            gamma_la: 0.1,
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

    #[test]
    fn toml_grid_files_read_typed_ablations_and_refuse_bad_ones() {
        let g: Grid = toml::from_str(
            "synthetic = [0]\nablations = [{name = \"lambda_n\", value = \"0.5\"}, {name = \"norm\", value = \"bn\"}]",
        )
        .unwrap();
        assert_eq!(
            g.ablations,
            vec![Override::lambda_n(0.5), Override::norm(NormKind::Bn)]
        );
        let e = toml::from_str::<Grid>("ablations = [{name = \"norm\", value = \"batchnorm\"}]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("norm=batchnorm"), "{e}");
    }
}
