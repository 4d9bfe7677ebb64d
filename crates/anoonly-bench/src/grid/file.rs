//! The TOML grid format, read alike from a user's `--grid FILE` and from the suites shipped
//! with the crate (`suites/*.toml`, [`super::Suite`]).
//!
//! A file's top-level fields are one grid ([`Grid`]'s fields: `files`, `synthetic`,
//! `methods`, `variants`, `settings`, `gamma_la`, `n_labeled`, `seeds`, `ablations`,
//! `protocol`, `epochs`, `set`; what is absent takes [`Grid::default`], except that
//! `n_labeled` (labeled-anomaly counts) without `gamma_la` means count cells only), plus:
//! - `description`: one line saying what the grid is for (`--help` lists the suites' ones);
//! - `files_from`: a named set of files found under `--data-dir` instead of `files`:
//!   `families` (the paper's Table 1 families, `data/paper.toml`) or `classical` (every
//!   `Classical/*.npz`);
//! - `[[grids]]`: several grids whose cells are joined (a key in two grids is kept once, from
//!   the first); each starts from the top-level fields and overrides those it gives.
//!
//! `ablations` lists overrides, each `{name, value}` or `{name, values = [...]}` (a sweep);
//! a value is spelled as the cell's key will spell it (`lambda_n=0.00001`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Grid, GridError};
use crate::paper::Paper;

/// A named set of data files under the data directory (a grid file's `files_from`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileSet {
    /// The files of the paper's Table 1 families ([`family_files`]).
    Families,
    /// Every `Classical/*.npz` ([`classical_files`]).
    Classical,
}

impl FileSet {
    /// The set's files under `root`, sorted by name; none found is an error.
    pub fn files(self, root: &Path) -> Result<Vec<PathBuf>, GridError> {
        match self {
            FileSet::Families => family_files(root),
            FileSet::Classical => classical_files(root),
        }
    }
}

/// A grid file read: its description and its grids, each with the file set its files come
/// from (found when the data directory is known, [`GridFile::grids`]).
#[derive(Clone, Debug, PartialEq)]
pub struct GridFile {
    pub description: Option<String>,
    grids: Vec<(Grid, Option<FileSet>)>,
}

/// Fields of the top of a file only.
const TOP_ONLY: [&str; 2] = ["description", "grids"];

impl GridFile {
    /// Reads a grid file; a bad one is refused naming the file and the field.
    pub fn read(path: &Path) -> Result<GridFile, GridError> {
        let text = std::fs::read_to_string(path).map_err(|e| GridError::Io(path.into(), e))?;
        GridFile::parse(&text).map_err(|message| GridError::Toml {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses a grid file's text (see the module documentation for the format).
    pub fn parse(text: &str) -> Result<GridFile, String> {
        let one_line = |e: &dyn std::fmt::Display| e.to_string().trim().replace('\n', " ");
        let mut top: toml::Table = toml::from_str(text).map_err(|e| one_line(&e))?;
        let description = match top.remove("description") {
            None => None,
            Some(toml::Value::String(s)) => Some(s),
            Some(_) => return Err("`description` must be a string".into()),
        };
        let entries: Vec<toml::Table> = match top.remove("grids") {
            None => vec![toml::Table::new()],
            Some(toml::Value::Array(a)) if !a.is_empty() => a
                .into_iter()
                .map(|v| match v {
                    toml::Value::Table(t) => Ok(t),
                    _ => Err("`grids` must be a list of tables ([[grids]])".to_string()),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("`grids` must be a non-empty list of tables ([[grids]])".into()),
        };
        let several = entries.len() > 1;
        let mut grids = Vec::new();
        for (i, entry) in entries.into_iter().enumerate() {
            let at = |m: String| {
                if several {
                    format!("grids[{}]: {m}", i + 1)
                } else {
                    m
                }
            };
            if let Some(k) = TOP_ONLY.iter().find(|k| entry.contains_key(**k)) {
                return Err(at(format!("`{k}` belongs at the top of the file")));
            }
            let mut merged = top.clone();
            merged.extend(entry);
            let files_from = merged
                .remove("files_from")
                .map(|v| v.try_into::<FileSet>())
                .transpose()
                .map_err(|e| at(format!("files_from: {}", one_line(&e))))?;
            // Counts without ratios: the grid's labeled axis is the counts alone (the default
            // ratio would otherwise add its cells).
            if merged.contains_key("n_labeled") && !merged.contains_key("gamma_la") {
                merged.insert("gamma_la".into(), toml::Value::Array(Vec::new()));
            }
            let grid: Grid = merged.try_into().map_err(|e| at(one_line(&e)))?;
            if files_from.is_some() && !grid.files.is_empty() {
                return Err(at("give `files` or `files_from`, not both".into()));
            }
            grids.push((grid, files_from));
        }
        Ok(GridFile { description, grids })
    }

    /// The file's grids, their `files_from` found under `data_dir` (the ADBench root).
    pub fn grids(&self, data_dir: &Path) -> Result<Vec<Grid>, GridError> {
        self.grids
            .iter()
            .map(|(g, from)| {
                let mut g = g.clone();
                if let Some(set) = from {
                    g.files = set.files(data_dir)?;
                }
                Ok(g)
            })
            .collect()
    }
}

/// The file-name patterns of the paper's families, for messages: `CIFAR10_*, SVHN_*`.
pub(crate) fn family_globs() -> String {
    Paper::get()
        .families
        .iter()
        .map(|f| format!("{}_*", f.name))
        .collect::<Vec<_>>()
        .join(", ")
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

/// The files of the paper's Table 1 families under an ADBench root (`FOLDER/NAME_*.npz` for
/// each family of `data/paper.toml`), sorted by name.
pub fn family_files(root: &Path) -> Result<Vec<PathBuf>, GridError> {
    let families = &Paper::get().families;
    let mut files = Vec::new();
    let folders: BTreeSet<&str> = families.iter().map(|f| f.folder.as_str()).collect();
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
            let wanted = families.iter().any(|f| {
                f.folder == folder
                    && name
                        .strip_prefix(f.name.as_str())
                        .is_some_and(|rest| rest.starts_with('_'))
            });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::{Override, Variant};
    use anoonly::methods::MethodKind;
    use anoonly::protocol::Protocol;
    use anoonly::vocab::NormKind;

    fn one(text: &str) -> Grid {
        let f = GridFile::parse(text).unwrap();
        let mut g = f.grids(Path::new("unused")).unwrap();
        assert_eq!(g.len(), 1);
        g.remove(0)
    }

    #[test]
    fn toml_grid_files_read_typed_ablations_and_refuse_bad_ones() {
        let g = one(
            "synthetic = [0]\nablations = [{name = \"lambda_n\", value = \"0.5\"}, {name = \"norm\", value = \"bn\"}]",
        );
        assert_eq!(
            g.ablations,
            vec![Override::lambda_n(0.5), Override::norm(NormKind::Bn)]
        );
        // A sweep is its values one after the other, spelled as written.
        let sweep = one("ablations = [{name = \"lambda_n\", values = [\"1\", \"0.00001\"]}]");
        assert_eq!(
            sweep.ablations,
            vec![Override::lambda_n(1.0), Override::lambda_n(0.00001)]
        );
        for (text, want) in [
            (
                "ablations = [{name = \"norm\", value = \"batchnorm\"}]",
                "norm=batchnorm",
            ),
            (
                "ablations = [{name = \"norm\", values = [\"bn\", \"batchnorm\"]}]",
                "norm=batchnorm",
            ),
            (
                "ablations = [{name = \"norm\", value = \"bn\", values = [\"bn\"]}]",
                "ablation `norm`: give either",
            ),
            (
                "ablations = [{name = \"norm\", values = []}]",
                "ablation `norm`: give either",
            ),
            (
                "seeds = [0]\nmethod = [\"deepsad\"]",
                "unknown field `method`",
            ),
            ("files_from = \"everything\"", "files_from: unknown variant"),
            (
                "files = [\"a.npz\"]\nfiles_from = \"families\"",
                "give `files` or `files_from`, not both",
            ),
            ("description = 3", "`description` must be a string"),
            ("grids = []", "`grids` must be a non-empty list"),
            (
                "[[grids]]\nseeds = [0]\n[[grids]]\ndescription = \"x\"",
                "grids[2]: `description` belongs at the top of the file",
            ),
            (
                "[[grids]]\nseeds = [0]\n[[grids]]\nseeds = \"x\"",
                "grids[2]: invalid type",
            ),
        ] {
            let e = GridFile::parse(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    /// Each `[[grids]]` entry starts from the top-level fields and overrides those it
    /// gives; the description is the file's.
    /// `n_labeled` alone makes count cells only; beside `gamma_la` it adds them.
    #[test]
    fn n_labeled_without_gamma_la_is_a_count_only_grid() {
        use anoonly::protocol::Labeled;
        let labeled = |text: &str| -> Vec<Labeled> {
            let mut v: Vec<Labeled> = one(text)
                .cells()
                .unwrap()
                .into_iter()
                .map(|c| c.labeled)
                .collect();
            v.dedup();
            v
        };
        let counts = "synthetic = [0]\nmethods = [\"devnet\"]\nvariants = [\"base\"]\nseeds = [0]\nn_labeled = [5, 10]";
        assert_eq!(labeled(counts), [Labeled::Count(10), Labeled::Count(5)]);
        let both = format!("{counts}\ngamma_la = [0.1]");
        assert_eq!(
            labeled(&both),
            [Labeled::Ratio(0.1), Labeled::Count(10), Labeled::Count(5)]
        );
        let g = one(counts);
        assert_eq!(
            g.cells().unwrap()[0].key(),
            "synthetic_0/devnet/base/clean/n_labeled=10/seed=0"
        );
        // grid.json keeps what it always wrote when there is no count.
        let json = serde_json::to_string(&Grid::default()).unwrap();
        assert!(!json.contains("n_labeled"), "{json}");
        assert!(serde_json::to_string(&g)
            .unwrap()
            .contains("\"n_labeled\":[5,10]"));
    }

    #[test]
    fn grids_entries_inherit_the_top_level_fields() {
        let f = GridFile::parse(
            "description = \"two\"\nsynthetic = [0]\nmethods = [\"deepsad\"]\nseeds = [4]\n\n[[grids]]\n\n[[grids]]\nvariants = [\"anoonly\"]\nprotocol = \"leakage-free\"\nseeds = [5, 6]\n",
        )
        .unwrap();
        assert_eq!(f.description.as_deref(), Some("two"));
        let g = f.grids(Path::new("unused")).unwrap();
        assert_eq!(g.len(), 2);
        let base = Grid {
            synthetic: vec![0],
            methods: vec![MethodKind::DeepSad],
            seeds: vec![4],
            ..Grid::default()
        };
        assert_eq!(g[0], base);
        assert_eq!(
            g[1],
            Grid {
                variants: vec![Variant::AnoOnly],
                protocol: Protocol::LeakageFree,
                seeds: vec![5, 6],
                ..base
            }
        );
    }

    /// `files_from` finds its files under the data directory when the grids are built, and
    /// says which files it looked for when there are none.
    #[test]
    fn files_from_finds_the_named_files_under_the_data_directory() {
        let root = tempfile::tempdir().unwrap();
        for rel in [
            "CV_by_ResNet18/SVHN_1.npz",
            "CV_by_ResNet18/CIFAR10_0.npz",
            "CV_by_ResNet18/CIFAR100_0.npz",
            "CV_by_ResNet18/SVHN_1.npy",
            "NLP_by_RoBERTa/20news_0.npz",
            "Classical/4_breastw.npz",
            "Classical/2_annthyroid.npz",
        ] {
            let p = root.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"").unwrap();
        }
        let names = |text: &str| -> Vec<String> {
            let g = GridFile::parse(text).unwrap().grids(root.path()).unwrap();
            g[0].files
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            names("files_from = \"families\""),
            ["20news_0.npz", "CIFAR10_0.npz", "SVHN_1.npz"]
        );
        assert_eq!(
            names("files_from = \"classical\""),
            ["2_annthyroid.npz", "4_breastw.npz"]
        );
        let empty = tempfile::tempdir().unwrap();
        let e = GridFile::parse("files_from = \"families\"")
            .unwrap()
            .grids(empty.path())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no ADBench family file (CIFAR10_*, MVTec-AD_*, SVHN_*, 20news_*)"),
            "{e}"
        );
    }
}
