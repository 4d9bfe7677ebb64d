//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The workspace root (the directory holding `crates/`): `../shared` is beside it.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The core crate's test fixtures (`crates/anoonly/tests/fixtures`).
pub fn fixtures_dir() -> PathBuf {
    workspace_root().join("crates/anoonly/tests/fixtures")
}

/// `../shared/data/adbench` beside the workspace. The tests that read it are
/// `#[ignore = "needs ../shared/data ..."]`: scripts/test.sh runs them (`--include-ignored`)
/// when the folder exists, and one run by hand without it fails here, naming the folder.
pub fn shared_data() -> PathBuf {
    let p = workspace_root().join("../shared/data/adbench");
    assert!(
        p.is_dir(),
        "{} not found: this test needs ../shared/data",
        p.display()
    );
    p
}

/// A shared ADBench file (`rel` under `../shared/data/adbench`); panics without it.
pub fn shared_file(rel: &str) -> anoonly::Dataset {
    let path = shared_data().join(rel);
    anoonly::data::load(&path, &anoonly::data::LoadOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Split indices (`u32`) as `usize`, to compare with the official code's rows.
pub fn widen(v: &[u32]) -> Vec<usize> {
    v.iter().map(|&i| i as usize).collect()
}

/// Bit patterns of scores (or of any f32 array), for bit-identity assertions.
pub fn bits<D: ndarray::Dimension>(s: &ndarray::Array<f32, D>) -> Vec<u32> {
    s.iter().map(|v| v.to_bits()).collect()
}

/// A small synthetic set (300 normal, 30 anomalies, 12 features) for fast method tests.
pub fn small_synthetic() -> anoonly::Dataset {
    anoonly::data::synthetic::generate(&anoonly::data::synthetic::SyntheticParams {
        n_normal: 300,
        n_anomaly: 30,
        dim: 12,
        seed: 5,
    })
}

/// The built-in demo data (`anoonly demo`'s), split as `anoonly eval` splits it at `seed`.
pub fn demo_split(seed: u64) -> anoonly::protocol::Split {
    let ds = anoonly::data::synthetic::demo_dataset(0);
    anoonly::protocol::split(
        ds.x.view(),
        ds.y.view(),
        &anoonly::protocol::SplitParams::default(),
        seed,
    )
    .unwrap()
}

/// Test AUCROC of `params` fitted on the train part of `sp`.
pub fn split_aucroc(params: &anoonly::methods::FitParams, sp: &anoonly::protocol::Split) -> f64 {
    let m = params.fit(sp.x_train.view(), sp.y_train.view()).unwrap();
    let s = m.decision_function(sp.x_test.view()).unwrap();
    anoonly::metrics::aucroc(sp.y_test.as_slice().unwrap(), s.as_slice().unwrap()).unwrap()
}

/// Saves `model`, loads it back and checks parameters, scores on `x` (bit for bit) and
/// the 10 % threshold.
pub fn assert_round_trip(model: &anoonly::methods::Model, x: ndarray::ArrayView2<f32>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    anoonly::model_file::save(model, &path).unwrap();
    let back = anoonly::model_file::load(&path).unwrap();
    assert_eq!(back.params, model.params);
    let a = model.decision_function(x).unwrap();
    assert_eq!(bits(&a), bits(&back.decision_function(x).unwrap()));
    assert_eq!(model.threshold(0.1).unwrap(), back.threshold(0.1).unwrap());
}

/// Test AUCROC of `fit` on the shared MVTec-AD_bottle features (clean, gamma_la 0.1,
/// seed 0); panics without the shared data.
pub fn mvtec_bottle_aucroc(fit: anoonly::methods::FitParams) -> f64 {
    let ds = shared_file("CV_by_ResNet18/MVTec-AD_bottle.npz");
    let cfg = anoonly::experiment::EvalConfig {
        fit,
        split: anoonly::protocol::SplitParams::default(),
    };
    anoonly::experiment::evaluate_once(&ds, &cfg, 0, &mut anoonly::train::Silent)
        .unwrap()
        .aucroc
}

/// Fits `params(seed)` twice and `params(seed + 1)` once on `ds`: the same seed must give
/// bit-identical scores, another seed other scores. Returns the first model and its scores.
pub fn assert_seed_determinism(
    params: &dyn Fn(u64) -> anoonly::methods::FitParams,
    ds: &anoonly::Dataset,
    seed: u64,
) -> (anoonly::methods::Model, ndarray::Array1<f32>) {
    let fit = |s: u64| params(s).fit(ds.x.view(), ds.y.view()).unwrap();
    let a = fit(seed);
    let sa = a.decision_function(ds.x.view()).unwrap();
    let same = fit(seed).decision_function(ds.x.view()).unwrap();
    assert_eq!(bits(&sa), bits(&same));
    let other = fit(seed + 1).decision_function(ds.x.view()).unwrap();
    assert_ne!(bits(&sa), bits(&other));
    (a, sa)
}

/// A labeled CSV (`f0..f{dim-1},y`) from the synthetic generator.
pub fn write_synthetic_csv(
    path: &std::path::Path,
    n_normal: usize,
    n_anomaly: usize,
    dim: usize,
    seed: u64,
) {
    let ds = anoonly::data::synthetic::generate(&anoonly::data::synthetic::SyntheticParams {
        n_normal,
        n_anomaly,
        dim,
        seed,
    });
    let mut s = String::new();
    for j in 0..ds.n_features() {
        s.push_str(&format!("f{j},"));
    }
    s.push_str("y\n");
    for (row, y) in ds.x.outer_iter().zip(ds.y.iter()) {
        for v in row {
            s.push_str(&format!("{v},"));
        }
        s.push_str(&format!("{y}\n"));
    }
    std::fs::write(path, s).unwrap();
}

/// Bytes of a base64 string (the torch fixtures store float32 arrays so, exactly).
pub fn b64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("bad base64 byte {c}"),
        }
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c) << (18 - 6 * i);
        }
        let n = chunk.len() - 1;
        for i in 0..n {
            out.push((acc >> (16 - 8 * i)) as u8);
        }
    }
    out
}

/// The shape and values of a fixture array `{"shape": [...], "b64": "..."}`.
pub fn floats(v: &serde_json::Value) -> (Vec<usize>, Vec<f32>) {
    let shape: Vec<usize> = v["shape"]
        .as_array()
        .expect("shape")
        .iter()
        .map(|d| d.as_u64().expect("dim") as usize)
        .collect();
    let bytes = b64_decode(v["b64"].as_str().expect("b64"));
    let data: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(data.len(), shape.iter().product::<usize>());
    (shape, data)
}

/// A fixture array as a matrix.
pub fn mat(v: &serde_json::Value) -> ndarray::Array2<f32> {
    let (s, d) = floats(v);
    ndarray::Array2::from_shape_vec((s[0], s[1]), d).expect("matrix")
}

/// A fixture array as a vector.
pub fn vec1(v: &serde_json::Value) -> ndarray::Array1<f32> {
    ndarray::Array1::from_vec(floats(v).1)
}

/// Largest |a − b| / scale with scale = max |b| over the tensor (errors relative to the
/// tensor's magnitude, so near-zero entries are not judged by a meaningless relative error).
pub fn scaled_err(a: ndarray::ArrayViewD<f32>, b: ndarray::ArrayViewD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
    a.iter()
        .zip(b.iter())
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs() / scale))
}

/// AUCROC of `kind` at its defaults on the shared file `rel`, as `anoonly eval --seeds
/// 0..seeds` splits and fits it: one value per seed (the fidelity tests' side of a comparison
/// with a reference implementation).
pub fn default_aucrocs(rel: &str, kind: anoonly::methods::MethodKind, seeds: u64) -> Vec<f64> {
    let ds = shared_file(rel);
    (0..seeds)
        .map(|seed| {
            let cfg = anoonly::experiment::EvalConfig {
                fit: anoonly::methods::FitParams::new(kind).seed(seed),
                split: anoonly::protocol::SplitParams::default(),
            };
            anoonly::experiment::evaluate_once(&ds, &cfg, seed, &mut anoonly::train::Silent)
                .unwrap()
                .aucroc
        })
        .collect()
}
