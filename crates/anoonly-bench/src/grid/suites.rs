//! The named grids (`--suite NAME`) and the data files they find under the data directory.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::{Grid, GridError, Override, Variant};
use anoonly::methods::MethodKind;
use anoonly::protocol::{Protocol, Setting};
use anoonly::vocab::NormKind;

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
/// authors' own (see [`super::Switch::Budget`]): FEAWAD's 100 + 30 epochs become 25 + 8, 10 + 3
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
