//! What one cell of a grid is: a dataset (its name, family and source), a method, a
//! variant, a setting, gamma_la, a seed, at most one ablation override and the split
//! protocol, and the key that names it in `results.jsonl` and for `--resume`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Override;
use anoonly::methods::MethodKind;
use anoonly::protocol::{Labeled, Protocol, Setting};

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

/// One evaluation of the grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub dataset: DatasetRef,
    pub method: MethodKind,
    pub variant: Variant,
    pub setting: Setting,
    /// The labeled anomalies: a ratio (`gamma_la`) or a count (serialised as a record
    /// spells it, [`Labeled`]).
    #[serde(flatten)]
    pub labeled: Labeled,
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
    /// The labeled anomalies read `gamma_la=0.1` (ratio mode, as keys always did) or
    /// `n_labeled=10` (count mode) ([`Labeled`]'s `Display`).
    ///
    /// Keys written before the protocol was part of them stay valid: the default protocol
    /// (`adbench`) adds nothing, any other ends the key (`.../seed=0/protocol=leakage-free`).
    /// What else shapes a cell but is not in its key (the grid's `epochs` and `set`) is
    /// checked against the finished cell's results line on `--resume` and `bench merge`
    /// ([`crate::results::check_same_config`]).
    pub fn key(&self) -> String {
        let mut k = format!(
            "{}/{}/{}/{}/{}/seed={}",
            self.dataset.name,
            self.method,
            self.variant,
            self.setting.name(),
            self.labeled,
            self.seed
        );
        if let Some(o) = &self.ablation {
            k.push('/');
            k.push_str(&o.to_string());
        }
        k.push_str(&protocol_suffix(self.protocol));
        k
    }
}

/// What a key ends with for a protocol: nothing for the default (`adbench`), so that keys
/// written before the protocol was part of them still name their cells.
pub fn protocol_suffix(protocol: Protocol) -> String {
    match protocol {
        Protocol::Adbench => String::new(),
        other => format!("/protocol={}", other.name()),
    }
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
}
