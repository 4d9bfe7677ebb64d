//! One precedence rule for the training length in every front end (README, Commands): a
//! `--set` entry names the method's field exactly, so it is the more specific and wins
//! over `--epochs` and `--batch-size`, in `eval` (`--set epochs=N`) as in `bench`
//! (`--set METHOD:epochs=N`), whatever the order of the flags on the line.

mod common;

use std::path::Path;

use anoonly::methods::MethodKind;
use anoonly_bench::Grid;
use serde_json::Value;

/// The `method_params` of each record `eval --json ARGS` prints on `csv`.
fn eval_params(csv: &Path, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["eval", "--data", csv.to_str().unwrap(), "--json"];
    all.extend_from_slice(args);
    let o = common::cli(&all);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["method_params"].clone())
        .collect()
}

#[test]
fn eval_set_wins_over_epochs_and_batch_size() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("d.csv");
    common::write_synthetic_csv(&csv, 300, 30, 6, 3);
    let fast = ["--method", "deepsad", "--seeds", "0"];
    let run = |extra: &[&str]| {
        let mut args = fast.to_vec();
        args.extend_from_slice(extra);
        let params = eval_params(&csv, &args);
        assert_eq!(params.len(), 1);
        (params[0]["epochs"].clone(), params[0]["batch_size"].clone())
    };
    // Each flag alone sets its field ...
    assert_eq!(run(&["--epochs", "1"]).0, 1);
    assert_eq!(run(&["--epochs", "1", "--batch-size", "32"]).1, 32);
    // ... and `--set` wins over it, before or after it on the line.
    assert_eq!(run(&["--epochs", "1", "--set", "epochs=2"]).0, 2);
    assert_eq!(run(&["--set", "epochs=2", "--epochs", "1"]).0, 2);
    let (epochs, batch) = run(&[
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--set",
        "batch_size=16",
    ]);
    assert_eq!((epochs, batch), (Value::from(1), Value::from(16)));
}

#[test]
fn bench_set_wins_over_epochs() {
    // The grid's cell configuration, for the method that has an epochs knob and one that
    // does not (XGBOD keeps its rounds whatever `epochs` says).
    let grid = |set: Vec<(MethodKind, String)>| Grid {
        synthetic: vec![0],
        methods: vec![MethodKind::DeepSad, MethodKind::Xgbod],
        seeds: vec![0],
        epochs: Some(5),
        set,
        ..Grid::default()
    };
    let epochs = |g: &Grid, kind: MethodKind| -> Vec<Option<usize>> {
        g.cells()
            .unwrap()
            .iter()
            .filter(|c| c.method == kind)
            .map(|c| g.config(c).unwrap().0.method.epochs())
            .collect()
    };
    let plain = grid(Vec::new());
    assert_eq!(epochs(&plain, MethodKind::DeepSad), [Some(5), Some(5)]);
    assert_eq!(epochs(&plain, MethodKind::Xgbod), [None]);
    let set = grid(vec![(MethodKind::DeepSad, "epochs=7".into())]);
    assert_eq!(epochs(&set, MethodKind::DeepSad), [Some(7), Some(7)]);

    // The command: `--epochs 1 --set deepsad:epochs=2` runs 2 epochs, as `eval` does.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = common::cli(&[
        "bench",
        "--quiet",
        "--suite",
        "quick",
        "--methods",
        "deepsad",
        "--variants",
        "base",
        "--seeds",
        "0",
        "--epochs",
        "1",
        "--set",
        "deepsad:epochs=2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let results = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    let lines: Vec<Value> = results
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!lines.is_empty());
    for l in &lines {
        assert_eq!(l["method_params"]["epochs"], 2, "{l}");
    }
}
