//! Loads every ADBench file of the shared data folder and checks shapes and anomaly counts
//! against docs/protocol.md 1.5. The folder is `shared/data/adbench` beside the crate's folder
//! (`<crate>/../shared/data/adbench`); the tests are `#[ignore]`d (scripts/test.sh runs them
//! when it exists). By hand: `cargo test --release --test data_shared_files -- --ignored`.

mod common;

use anoonly::data::{load, load_features, LoadOptions};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// (folder, file stem, rows, columns, anomalies), from docs/protocol.md 1.5.
const EXPECTED: &[(&str, &str, usize, usize, usize)] = &[
    ("CV_by_ResNet18", "CIFAR10_0", 5263, 512, 263),
    ("CV_by_ResNet18", "SVHN_0", 5208, 512, 260),
    ("CV_by_ResNet18", "MVTec-AD_bottle", 292, 512, 63),
    ("CV_by_ResNet18", "MVTec-AD_cable", 374, 512, 92),
    ("CV_by_ResNet18", "MVTec-AD_capsule", 351, 512, 109),
    ("CV_by_ResNet18", "MVTec-AD_carpet", 397, 512, 89),
    ("CV_by_ResNet18", "MVTec-AD_grid", 342, 512, 57),
    ("CV_by_ResNet18", "MVTec-AD_hazelnut", 501, 512, 70),
    ("CV_by_ResNet18", "MVTec-AD_leather", 369, 512, 92),
    ("CV_by_ResNet18", "MVTec-AD_metal_nut", 335, 512, 93),
    ("NLP_by_RoBERTa", "20news_3", 615, 768, 30),
    ("Classical", "2_annthyroid", 7200, 6, 534),
    ("Classical", "4_breastw", 683, 9, 239),
    ("Classical", "6_cardio", 1831, 21, 176),
    ("Classical", "8_celeba", 202599, 39, 4547),
    ("Classical", "10_cover", 286048, 10, 2747),
    ("Classical", "12_fault", 1941, 27, 673),
    ("Classical", "14_glass", 214, 7, 9),
    ("Classical", "16_http", 567498, 3, 2211),
    ("Classical", "18_Ionosphere", 351, 32, 126),
    ("Classical", "20_letter", 1600, 32, 100),
    ("Classical", "22_magic.gamma", 19020, 10, 6688),
    ("Classical", "24_mnist", 7603, 100, 700),
    ("Classical", "26_optdigits", 5216, 64, 150),
    ("Classical", "28_pendigits", 6870, 16, 156),
    ("Classical", "30_satellite", 6435, 36, 2036),
    ("Classical", "32_shuttle", 49097, 9, 3511),
    ("Classical", "34_smtp", 95156, 3, 30),
    ("Classical", "38_thyroid", 3772, 6, 93),
    ("Classical", "40_vowels", 1456, 12, 50),
    ("Classical", "42_WBC", 223, 9, 10),
    ("Classical", "44_Wilt", 4819, 5, 257),
    ("Classical", "46_WPBC", 198, 33, 47),
];

fn all_npz(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("readable shared data folder") {
            let p = e.expect("directory entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
#[ignore = "needs ../shared/data (run by scripts/test.sh when it exists)"]
fn needs_shared_data_every_file_loads_with_expected_shape_and_anomalies() {
    let dir = common::shared_data();
    let files = all_npz(&dir);
    assert!(!files.is_empty(), "no file under {}", dir.display());
    let mut checked = 0;
    for path in &files {
        let t = Instant::now();
        let ds = load(path, &LoadOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let ms = t.elapsed().as_secs_f64() * 1e3;
        eprintln!(
            "{:<24} {:>7}x{:<4} anomalies {:>5}  {ms:7.1} ms",
            ds.name,
            ds.n_rows(),
            ds.n_features(),
            ds.n_anomalies()
        );
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        assert_eq!(ds.name, stem);
        assert!(ds.x.is_standard_layout());
        assert!(ds.x.iter().all(|v| v.is_finite()));
        if let Some(&(_, _, rows, cols, anomalies)) =
            EXPECTED.iter().find(|(_, name, ..)| *name == stem)
        {
            assert_eq!(
                (ds.n_rows(), ds.n_features(), ds.n_anomalies()),
                (rows, cols, anomalies),
                "{}",
                path.display()
            );
            checked += 1;
        } else {
            eprintln!(
                "note: {} not listed in docs/protocol.md 1.5; loaded only",
                path.display()
            );
        }
    }
    // Every file listed in the protocol must be present.
    for (folder, name, ..) in EXPECTED {
        let p = dir.join(folder).join(format!("{name}.npz"));
        assert!(
            p.is_file(),
            "protocol lists {} but it is missing",
            p.display()
        );
    }
    assert_eq!(checked, EXPECTED.len());
}

#[test]
#[ignore = "needs ../shared/data (run by scripts/test.sh when it exists)"]
fn needs_shared_data_load_features_agrees_with_load() {
    let dir = common::shared_data();
    let p = dir.join("Classical/14_glass.npz");
    let ds = load(&p, &LoadOptions::default()).expect("14_glass loads");
    let f = load_features(&p, &LoadOptions::default()).expect("14_glass features load");
    assert_eq!(f.x, ds.x);
    assert_eq!(f.y.as_ref(), Some(&ds.y));
}

/// Fortran-order files must come out row-major: checks X[i, j] of 14_glass (`<f8`, Fortran
/// order) against the raw bytes of its `X.npy` entry at offset `8 * (j * n + i)`, read here
/// without the loader; also the first row as numpy prints it.
#[test]
#[ignore = "needs ../shared/data (run by scripts/test.sh when it exists)"]
fn needs_shared_data_fortran_order_rows_are_samples() {
    use std::io::Read;
    let dir = common::shared_data();
    let p = dir.join("Classical/14_glass.npz");
    let ds = load(&p, &LoadOptions::default()).expect("14_glass loads");
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&p).expect("open")).expect("zip");
    let mut raw = Vec::new();
    zip.by_name("X.npy")
        .expect("X.npy entry")
        .read_to_end(&mut raw)
        .expect("read X.npy");
    assert!(String::from_utf8_lossy(&raw[..128]).contains("'fortran_order': True"));
    let data_start = raw.iter().position(|b| *b == b'\n').expect("header end") + 1;
    let n = ds.n_rows();
    for (i, j) in [(0, 0), (0, 6), (1, 0), (5, 3), (213, 0), (213, 6), (100, 2)] {
        let off = data_start + 8 * (j * n + i);
        let mut b = [0u8; 8];
        b.copy_from_slice(&raw[off..off + 8]);
        assert_eq!(ds.x[[i, j]], f64::from_le_bytes(b) as f32, "X[{i}, {j}]");
    }
    // numpy: np.load('14_glass.npz')['X'][0]
    let row0 = [
        0.467651f32,
        0.321584,
        0.76888,
        0.24663,
        0.838799,
        0.099737,
        0.29834,
    ];
    assert_eq!(ds.x.row(0).to_vec(), row0.to_vec());
}
