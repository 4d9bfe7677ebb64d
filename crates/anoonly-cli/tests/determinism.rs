//! Determinism through the CLI (docs/determinism.md): for every method, the same seed and data
//! give a byte-identical model file and byte-identical scores, run after run, and the thread
//! count does not change them. The data is wide enough (300 features) that the training
//! kernel (gemm, `nn::matmul::gemm_into`) really splits FEAWAD's products across two threads
//! (it does so from 2^23 multiply-adds; FEAWAD's input layer on a 512-row batch is
//! 512·300·300), and the scoring products (`rowwise_into`, from 48·48·256 and 65 rows) split
//! for every method, so the thread-count comparison is not vacuous. The kernel-level check on
//! larger shapes is `nn::matmul`'s `bits_do_not_depend_on_the_thread_count`.

mod common;

use std::path::Path;

fn anoonly(args: &[&str], threads: &str) {
    let o = common::cli(&[args, &["--threads", threads]].concat());
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

#[test]
fn same_seed_gives_identical_model_files_and_scores_for_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("wide.csv");
    write_csv(&csv);
    let data = csv.to_str().unwrap();
    let cases: [(&str, &[&str]); 4] = [
        ("deepsad", &["--epochs", "2"]),
        ("devnet", &["--epochs", "2"]),
        ("prenet", &["--epochs", "2"]),
        ("feawad", &["--epochs", "2", "--set", "pretrain_epochs=1"]),
    ];
    for (method, extra) in cases {
        let a = fit_and_score(dir.path(), data, method, extra, "3", "1", "t1a");
        let b = fit_and_score(dir.path(), data, method, extra, "3", "1", "t1b");
        let c = fit_and_score(dir.path(), data, method, extra, "3", "2", "t2");
        assert!(a.0 == b.0, "{method}: model files differ between two runs");
        assert!(a.1 == b.1, "{method}: scores differ between two runs");
        assert!(a.0 == c.0, "{method}: model file differs with 2 threads");
        assert!(a.1 == c.1, "{method}: scores differ with 2 threads");
        let other_seed = fit_and_score(dir.path(), data, method, extra, "4", "1", "s4");
        assert!(
            a.1 != other_seed.1,
            "{method}: the seed has no effect on the scores"
        );
    }
}
