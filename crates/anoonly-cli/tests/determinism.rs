//! Determinism through the CLI (docs/determinism.md): for every registered method, the same
//! seed and data give a byte-identical model file and byte-identical scores, run after run,
//! and the thread count (1, 2 or 3) does not change them. The runs set
//! `ANOONLY_GEMM_THREADS_FROM=0` and `ANOONLY_PAR_MIN_WORK=0`, so that at 2 and 3 threads
//! every training product is split between threads (gemm splits rows and columns of the
//! result, never the inner dimension) and so is every pass that can be (element-wise
//! passes by rows, column sums by columns, optimiser updates by weights; `nn::par`), and
//! the comparison is not vacuous on small data; the default thresholds only decide where
//! splitting starts. The scoring products (`rowwise_into`, from 48·48·256 multiply-adds and
//! 65 rows) split for every method on this 300-feature file. The kernel-level check on
//! larger shapes is `nn::matmul`'s `bits_do_not_depend_on_the_thread_count`.

mod common;

use std::path::Path;

use anoonly::methods::{MethodKind, MethodParams};

fn anoonly(args: &[&str], threads: &str) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_anoonly"))
        .args([args, &["--threads", threads]].concat())
        // Split every product and pass that can be split (see the module documentation).
        .env("ANOONLY_GEMM_THREADS_FROM", "0")
        .env("ANOONLY_PAR_MIN_WORK", "0")
        .output()
        .expect("run anoonly");
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn write_csv(path: &Path) {
    common::write_synthetic_csv(path, 560, 40, 300, 11);
}

/// Fits `method` and scores the data; returns (model bytes, scores CSV bytes).
fn fit_and_score(
    dir: &Path,
    data: &str,
    method: &str,
    extra: &[&str],
    seed: &str,
    threads: &str,
    tag: &str,
) -> (Vec<u8>, Vec<u8>) {
    let model = dir.join(format!("{method}-{tag}.st"));
    let scores = dir.join(format!("{method}-{tag}.csv"));
    let (m, s) = (model.to_str().unwrap(), scores.to_str().unwrap());
    let mut args = vec![
        "fit", "--method", method, "--data", data, "--out", m, "--seed", seed,
    ];
    args.extend_from_slice(extra);
    anoonly(&args, threads);
    anoonly(
        &["score", "--model", m, "--data", data, "--out", s],
        threads,
    );
    (
        std::fs::read(model).unwrap(),
        std::fs::read(scores).unwrap(),
    )
}

/// The tensors of a model file (safetensors: an 8-byte header length, the JSON header,
/// then the tensors' bytes), without the header, whose metadata holds the seed itself.
fn tensor_bytes(file: &[u8]) -> &[u8] {
    let (len, rest) = file.split_at(8);
    let len = u64::from_le_bytes(len.try_into().expect("8 bytes"));
    &rest[usize::try_from(len).expect("a header length")..]
}

/// Short-fit options for any method, from what the library says it has: `--epochs 2`
/// where it trains in epochs, 1 epoch of every stage that counts its own, and a small
/// value for the training-length hyperparameters it has (as the conformance tests' quick
/// fits).
fn quick_args(kind: MethodKind) -> Vec<String> {
    let mut p = MethodParams::defaults(kind);
    let mut args = Vec::new();
    if p.knobs().epochs.is_some() {
        args.extend(["--epochs".to_string(), "2".to_string()]);
    }
    let names: Vec<String> = MethodParams::param_defaults(kind)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let stage_epochs = kind.stages().iter().filter_map(|s| s.epochs_param);
    let short = stage_epochs.map(|n| (n, 1)).chain([
        ("steps_per_epoch", 3),
        ("batches_per_epoch", 3),
        ("n_estimators", 5),
    ]);
    for (name, v) in short {
        if names.iter().any(|n| n == name) {
            args.extend(["--set".to_string(), format!("{name}={v}")]);
        }
    }
    args
}

#[test]
fn same_seed_gives_identical_model_files_and_scores_for_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("wide.csv");
    write_csv(&csv);
    let data = csv.to_str().unwrap();
    for &kind in MethodKind::ALL {
        let method = kind.name();
        let extra = quick_args(kind);
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let a = fit_and_score(dir.path(), data, method, &extra, "3", "1", "t1a");
        let b = fit_and_score(dir.path(), data, method, &extra, "3", "1", "t1b");
        assert!(a.0 == b.0, "{method}: model files differ between two runs");
        assert!(a.1 == b.1, "{method}: scores differ between two runs");
        for t in ["2", "3"] {
            let c = fit_and_score(dir.path(), data, method, &extra, "3", t, &format!("t{t}"));
            assert!(a.0 == c.0, "{method}: model file differs with {t} threads");
            assert!(a.1 == c.1, "{method}: scores differ with {t} threads");
        }
        // The seed reaches the fit: it changes the scores, or at least the fitted state
        // (XGBOD here: its isolation forest changes, while its 5 boosted trees on this file
        // split on other detectors' scores, so the scores do not).
        let other_seed = fit_and_score(dir.path(), data, method, &extra, "4", "1", "s4");
        assert!(
            a.1 != other_seed.1 || tensor_bytes(&a.0) != tensor_bytes(&other_seed.0),
            "{method}: the seed has no effect on the fit"
        );
    }
}
