//! The fuzz targets' seed corpora (`fuzz/corpus/*/seed-*`) on stable: the in-memory entry
//! points the fuzzers call must agree with the file readers on every seed, and every prefix
//! of every seed (a truncated download) must give a value or an error, never a panic.
//! Fuzzing itself: `cargo +nightly fuzz run npy|csv|model_file` (see fuzz/Cargo.toml).

use std::path::{Path, PathBuf};

use anoonly::data::{self, npy, LoadOptions};
use anoonly::model_file;

fn seeds(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
        })
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no seeds in {}", dir.display());
    v
}

fn prefixes(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    (0..bytes.len()).map(move |n| &bytes[..n])
}

#[test]
fn npy_and_npz_seeds_read_the_same_from_memory_and_from_disk() {
    for p in seeds("npy") {
        let bytes = std::fs::read(&p).unwrap();
        // Seeds carry no .npz/.npy extension (the repo holds no data files by name); the
        // format is the name's suffix, and the file reader gets a copy with the extension.
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with("-npz") {
            let mem = data::read_npz_bytes("seed.npz", &bytes).unwrap();
            let tmp = tempfile::tempdir().unwrap();
            let copy = tmp.path().join("seed.npz");
            std::fs::write(&copy, &bytes).unwrap();
            let disk = data::load_features(&copy, &LoadOptions::default()).unwrap();
            assert_eq!(mem.x, disk.x, "{}", p.display());
            assert_eq!(mem.y, disk.y, "{}", p.display());
            assert_eq!(mem.x.dim(), (6, 3));
            for b in prefixes(&bytes) {
                assert!(data::read_npz_bytes("cut.npz", b).is_err());
            }
        } else if p.to_string_lossy().contains("seed-y") {
            let y = npy::parse_labels(&bytes).unwrap();
            assert_eq!(y.to_vec(), vec![0, 0, 1, 0, 1, 0]);
            for b in prefixes(&bytes) {
                assert!(npy::parse_labels(b).is_err());
            }
        } else {
            let x = npy::parse(&bytes).unwrap();
            assert_eq!(x.dim(), (6, 3), "{}", p.display());
            assert!(x.iter().all(|v| v.is_finite()));
            for b in prefixes(&bytes) {
                assert!(npy::parse(b).is_err());
            }
        }
    }
}

#[test]
fn the_f4_and_fortran_f8_seeds_hold_the_same_matrix() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/npy");
    let a = npy::parse(&std::fs::read(dir.join("seed-x-f4-npy")).unwrap()).unwrap();
    let b = npy::parse(&std::fs::read(dir.join("seed-x-f8-fortran-npy")).unwrap()).unwrap();
    assert_eq!(a, b);
}

#[test]
fn csv_seeds_read_the_same_from_memory_and_from_disk() {
    for p in seeds("csv") {
        let bytes = std::fs::read(&p).unwrap();
        let mem = data::read_csv_bytes("seed.csv", &bytes, None).unwrap();
        let disk = data::load_features(&p, &LoadOptions::default()).unwrap();
        assert_eq!(mem.x, disk.x, "{}", p.display());
        assert_eq!(mem.y, disk.y, "{}", p.display());
        assert!(mem.y.is_some(), "{}: seed without labels", p.display());
        for b in prefixes(&bytes) {
            let _ = data::read_csv_bytes("cut.csv", b, None);
        }
    }
}

#[test]
fn model_seeds_load_and_score_the_same_from_memory_and_from_disk() {
    for p in seeds("model_file") {
        let bytes = std::fs::read(&p).unwrap();
        let mem = model_file::from_bytes(&bytes, &p).unwrap();
        let disk = model_file::load(&p).unwrap();
        let x = ndarray::Array2::from_shape_fn((5, mem.n_features), |(i, j)| (i * 3 + j) as f32);
        let (a, b) = (
            mem.decision_function(x.view()).unwrap(),
            disk.decision_function(x.view()).unwrap(),
        );
        assert_eq!(a, b, "{}", p.display());
        assert!(a.iter().all(|v| v.is_finite()), "{}", p.display());
        for b in prefixes(&bytes) {
            assert!(model_file::from_bytes(b, &p).is_err());
        }
    }
}
