//! What a run's grids come from and what the `bench` flags change in them: a suite, a TOML
//! grid file or the flags alone ([`GridSource`]), and the axes the flags override
//! ([`GridAxes`]).

use std::path::{Path, PathBuf};

use super::{Grid, GridError, GridFile, Suite, Variant};
use anoonly::methods::MethodKind;
use anoonly::protocol::{Protocol, Setting};

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
    /// Labeled-anomaly counts. `gamma_la` and `n_labeled` together are the labeled axis:
    /// either given replaces the grid's whole axis (ratios and counts).
    pub n_labeled: Vec<usize>,
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
        if !self.gamma_la.is_empty() || !self.n_labeled.is_empty() {
            grid.gamma_la.clone_from(&self.gamma_la);
            grid.n_labeled.clone_from(&self.n_labeled);
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
    /// A TOML grid file (its `files_from` found under the data directory).
    File(PathBuf),
    /// Nothing named: the axes alone when they give files, else the `paper` suite.
    Default,
}

/// The grids of a run: those of `source` (suites and grid files find their `files_from`
/// under `data_dir`, the ADBench root), each with `axes` applied.
pub fn build_grids(
    source: &GridSource,
    data_dir: &Path,
    axes: &GridAxes,
) -> Result<Vec<Grid>, GridError> {
    let mut grids = match source {
        GridSource::File(path) => GridFile::read(path)?.grids(data_dir)?,
        GridSource::Suite(suite) => suite.grids(data_dir)?,
        GridSource::Default if !axes.files.is_empty() => vec![Grid::default()],
        GridSource::Default => Suite::PAPER.grids(data_dir).map_err(|e| match e {
            GridError::NoFiles(dir) => GridError::NoDefault(dir),
            e => e,
        })?,
    };
    for grid in &mut grids {
        axes.apply(grid);
    }
    Ok(grids)
}
