//! The suites shipped as TOML files (`suites/*.toml`) hold exactly the cells, in the same
//! order, that the Rust suites held before them (tests/fixtures/suites/cells.txt, from the
//! binary of 6585c11; the cells of methods registered since are left out of the
//! comparison), on a copy of the shared ADBench folder's file names (suites list
//! files, they do not read them); every file in `suites/` is a listed suite; and a user's
//! grid file is read by the same loader.

use std::path::{Path, PathBuf};

use anoonly_bench::{build_grids, cells, GridAxes, GridSource, Suite};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/suites")
        .join(name)
}

/// An ADBench root with empty files named as the shared folder's.
fn fake_adbench() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let names = std::fs::read_to_string(fixture("adbench_files.txt")).unwrap();
    for rel in names.lines().filter(|l| !l.is_empty()) {
        let p = root.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"").unwrap();
    }
    root
}

/// What `bench --list` prints for `source`: one key per line.
fn listed(source: &GridSource, root: &Path) -> String {
    listed_of(source, root, |_| true)
}

/// [`listed`], the cells of the methods `keep` accepts only.
fn listed_of(source: &GridSource, root: &Path, keep: impl Fn(&str) -> bool) -> String {
    let grids = build_grids(source, root, &GridAxes::default()).unwrap();
    let mut text = String::new();
    for c in cells(&grids, None).unwrap() {
        if keep(c.method.name()) {
            text.push_str(&c.key());
            text.push('\n');
        }
    }
    text
}

/// The methods the binary of 6585c11 had: the suites that run every method grow with the
/// registry, and their cells of these methods must stay as they were.
const METHODS_OF_THE_FIXTURE: [&str; 7] = [
    "ganomaly", "repen", "xgbod", "deepsad", "feawad", "prenet", "devnet",
];

#[test]
fn every_suite_lists_the_cells_it_listed_as_rust_code() {
    let root = fake_adbench();
    let expected = std::fs::read_to_string(fixture("cells.txt")).unwrap();
    let mut checked = Vec::new();
    for line in expected.lines().filter(|l| !l.starts_with('#')) {
        let [name, n, hash] = line.split(' ').collect::<Vec<_>>()[..] else {
            panic!("bad fixture line {line}");
        };
        let suite: Suite = name.parse().unwrap();
        let text = listed_of(&GridSource::Suite(suite), root.path(), |m| {
            METHODS_OF_THE_FIXTURE.contains(&m)
        });
        assert_eq!(
            text.lines().count().to_string(),
            n,
            "{name}: number of cells"
        );
        assert_eq!(
            blake3::hash(text.as_bytes()).to_hex().as_str(),
            hash,
            "{name}: the cells or their order changed"
        );
        checked.push(name);
    }
    assert_eq!(checked, Suite::names(), "every suite has its expected list");
    // No grid named: the `paper` suite.
    assert_eq!(
        listed(&GridSource::Default, root.path()),
        listed(&GridSource::Suite(Suite::PAPER), root.path())
    );
}

/// A suite is a file of `suites/` and one line of `Suite::ALL`: a file without its line,
/// or a line without its file, fails here; each has a description for `--help`.
#[test]
fn the_suites_directory_and_the_list_agree() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("suites");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut listed = Suite::names();
    listed.sort();
    assert_eq!(files, listed);
    for s in Suite::ALL {
        assert_eq!(
            std::fs::read_to_string(dir.join(format!("{}.toml", s.name()))).unwrap(),
            s.toml(),
            "{} is embedded as shipped",
            s.name()
        );
        assert!(
            !s.description().is_empty(),
            "{} has no description",
            s.name()
        );
    }
    let e = "nosuch".parse::<Suite>().unwrap_err();
    assert!(e.contains("paper, sweep"), "{e}");
}

/// A user's `--grid` file goes through the loader the suites go through: a copy of a suite
/// file gives the suite's cells.
#[test]
fn a_grid_file_reads_as_the_suite_it_copies() {
    let root = fake_adbench();
    let tmp = tempfile::tempdir().unwrap();
    for name in ["ablation", "leakage", "tabular"] {
        let suite: Suite = name.parse().unwrap();
        let path = tmp.path().join(format!("{name}.toml"));
        std::fs::write(&path, suite.toml()).unwrap();
        assert_eq!(
            listed(&GridSource::File(path), root.path()),
            listed(&GridSource::Suite(suite), root.path()),
            "{name}"
        );
    }
}
