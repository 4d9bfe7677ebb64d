//! The grid: which cells a bench run holds. A grid is the product of its axes (dataset file
//! x method x variant x setting x labeled anomalies (gamma_la ratios, then n_labeled counts)
//! x seed, times its ablation overrides); several
//! grids join their cells. Its parts:
//! - [`cell`](Cell): one evaluation and the key that names it in `results.jsonl`;
//! - [`overrides`](Override): typed ablation overrides and how they apply to a cell;
//! - [`file`](GridFile): the TOML grid format of `--grid` files and of the suites;
//! - [`suites`](Suite): the named grids shipped as TOML files (`--suite`);
//! - [`axes`](GridAxes): what a run's grids come from and what the `bench` flags override;
//! - [`shard`](Shard): `--shard I/N`.

mod axes;
mod cell;
mod file;
mod overrides;
mod shard;
mod suites;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use anoonly::methods::{parse_assignment, FitOptions, FitParams, MethodKind};
use anoonly::protocol::{Labeled, Protocol, Setting, SplitParams};
use anoonly::vocab::ParamError;

pub use axes::{build_grids, GridAxes, GridSource};
pub use cell::{family_of, protocol_suffix, Cell, DatasetRef, Source, Variant};
pub(crate) use file::family_globs;
pub use file::{classical_files, family_files, FileSet, GridFile};
pub use overrides::{Override, Switch};
pub use shard::Shard;
pub use suites::Suite;

/// The axes of a grid; the cells are their product (see [`Grid::cells`]). Also the
/// shape of a TOML grid file ([`GridFile`]): every field may be given, the rest take these
/// defaults.
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
    /// Labeled-anomaly ratios (ratio mode).
    pub gamma_la: Vec<f64>,
    /// Labeled-anomaly counts (ADBench's count mode): cells beside the ratio cells. A grid
    /// file that gives `n_labeled` without `gamma_la` has count cells only. Left out of
    /// `grid.json` when empty, so a grid without counts writes what it always wrote.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub n_labeled: Vec<usize>,
    pub seeds: Vec<u64>,
    /// Ablation overrides; each adds its own set of cells. Empty: no ablation. A grid file
    /// may also list a sweep, `{name, values = [...]}` ([`GridFile`]).
    #[serde(deserialize_with = "overrides::ablation_list")]
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
            n_labeled: Vec::new(),
            seeds: vec![0, 1, 2],
            ablations: Vec::new(),
            protocol: Protocol::Adbench,
            epochs: None,
            set: Vec::new(),
        }
    }
}

/// Why a grid could not be built.
#[derive(Debug, thiserror::Error)]
pub enum GridError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{path}: {message}")]
    Toml { path: PathBuf, message: String },
    #[error("{0}: no ADBench family file ({globs}) found under it", globs = family_globs())]
    NoFiles(PathBuf),
    #[error("no suite, grid file or files given, and the default suite `paper` found no ADBench family file ({globs}) under {0} (try the `quick` suite)", globs = family_globs())]
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

impl Grid {
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
            (
                "no gamma_la or n_labeled",
                self.gamma_la.is_empty() && self.n_labeled.is_empty(),
            ),
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
        let labeled: Vec<Labeled> = (self.gamma_la.iter().map(|&g| Labeled::Ratio(g)))
            .chain(self.n_labeled.iter().map(|&k| Labeled::Count(k)))
            .collect();
        let mut cells = Vec::new();
        for d in &datasets {
            for &method in &self.methods {
                for &variant in &self.variants {
                    if variant == Variant::AnoOnly && !method.supports_anoonly() {
                        continue;
                    }
                    for &setting in &self.settings {
                        for &labeled in &labeled {
                            for &seed in &self.seeds {
                                for ablation in &ablations {
                                    cells.push(Cell {
                                        dataset: d.clone(),
                                        method,
                                        variant,
                                        setting,
                                        labeled,
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
    /// (for a method that trains in epochs) and `set`, in [`FitOptions::build`]'s order (a
    /// `set` entry naming `epochs` wins over the grid's `epochs`, as in `eval`), then the
    /// cell's ablation override.
    pub fn config(&self, cell: &Cell) -> Result<(FitParams, SplitParams), ParamError> {
        let mut options = FitOptions::new(cell.method);
        options.anoonly = cell.variant == Variant::AnoOnly;
        options.seed = cell.seed;
        options.epochs = self.epochs.filter(|_| cell.method.trains_in_epochs());
        for (m, kv) in &self.set {
            if *m == cell.method {
                options.params.push(parse_assignment(kv)?);
            }
        }
        let mut fit = options.unchecked()?;
        let mut split = SplitParams {
            protocol: cell.protocol,
            setting: cell.setting,
            labeled: cell.labeled,
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
