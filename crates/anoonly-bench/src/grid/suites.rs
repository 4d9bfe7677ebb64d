//! The named grids (`--suite NAME`): TOML grid files shipped with the crate
//! (`suites/NAME.toml`, embedded so the binary needs no file beside it) and read by the same
//! loader as a user's `--grid` file ([`GridFile`]). A new suite is a new file and one line
//! in [`Suite::ALL`].

use std::path::Path;
use std::str::FromStr;

use super::{Grid, GridError, GridFile};

/// A suite: its name and its grid file's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suite {
    name: &'static str,
    toml: &'static str,
}

macro_rules! suite {
    ($name:literal) => {
        Suite {
            name: $name,
            toml: include_str!(concat!("../../suites/", $name, ".toml")),
        }
    };
}

impl Suite {
    /// `bench`'s grid when none is named: the paper's Table 1.
    pub const PAPER: Suite = suite!("paper");

    /// Every suite, in the order `--help` lists them.
    pub const ALL: &'static [Suite] = &[
        Suite::PAPER,
        suite!("sweep"),
        suite!("noise"),
        suite!("full"),
        suite!("quick"),
        suite!("ablation"),
        suite!("tabular"),
        suite!("leakage"),
        suite!("budget"),
    ];

    /// Every suite's name, as `--suite` takes it.
    pub fn names() -> Vec<&'static str> {
        Suite::ALL.iter().map(|s| s.name).collect()
    }

    pub fn name(self) -> &'static str {
        self.name
    }

    /// The suite's grid file, as shipped.
    pub fn toml(self) -> &'static str {
        self.toml
    }

    /// The suite's grid file, parsed.
    pub fn file(self) -> Result<GridFile, GridError> {
        GridFile::parse(self.toml).map_err(|message| GridError::Toml {
            path: format!("suites/{}.toml", self.name).into(),
            message,
        })
    }

    /// The suite's one-line description (its file's `description`).
    pub fn description(self) -> String {
        self.file()
            .ok()
            .and_then(|f| f.description)
            .unwrap_or_default()
    }

    /// The suite's grids (their cells are joined), their files found under `data_dir`, the
    /// ADBench root (`../shared/data/adbench`).
    pub fn grids(self, data_dir: &Path) -> Result<Vec<Grid>, GridError> {
        self.file()?.grids(data_dir)
    }
}

impl FromStr for Suite {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Suite::ALL
            .iter()
            .find(|x| x.name == s)
            .copied()
            .ok_or_else(|| format!("unknown suite `{s}` (known: {})", Suite::names().join(", ")))
    }
}
