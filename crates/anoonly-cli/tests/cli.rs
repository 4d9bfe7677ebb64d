//! The command-line contract: `demo`, `eval --json`, `fit` + `score`, clean failures, and the
//! in-process entry point.

mod common;

use std::path::Path;
use std::process::Output;

use common::cli as anoonly;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write_csv(path: &Path) {
    common::write_synthetic_csv(path, 400, 40, 8, 5);
}

#[test]
fn demo_prints_both_variants() {
    let o = anoonly(&["demo", "--seeds", "0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("| DeepSAD |"), "{out}");
    assert!(out.contains("| DeepSAD + AnoOnly |"), "{out}");
    // Both built-in data sets, each method with an AnoOnly variant on each (the costly
    // ones named as left out), and one line per table saying what it shows.
    assert!(
        out.contains("\nembedding: 2000 rows x 64 features, 100 anomalies"),
        "{out}"
    );
    assert!(
        out.contains("\nsynthetic: 3150 rows x 32 features, 150 anomalies"),
        "{out}"
    );
    for m in anoonly::methods::MethodKind::ALL
        .iter()
        .filter(|m| m.supports_anoonly())
    {
        let row = format!("| {} + AnoOnly |", m.display_name());
        let left_out = format!("{} is left out", m.display_name());
        assert!(
            out.matches(&row).count() == 2 || out.contains(&left_out),
            "{m}: {out}"
        );
    }
    let verdicts = out
        .lines()
        .filter(|l| l.starts_with("AnoOnly raises") || l.starts_with("AnoOnly lowers"))
        .count();
    assert_eq!(verdicts, 2, "{out}");
}

/// The binary is `anoonly_cli::run`: called in-process (as the Python package's console
/// script will), it gives the binary's exit codes: 0, 1 when the work fails, 2 on a usage
/// error.
#[test]
fn the_library_entry_point_runs_the_command() {
    use std::process::ExitCode;
    assert_eq!(
        anoonly_cli::run(["anoonly", "demo", "--seeds", "0"]),
        ExitCode::SUCCESS
    );
    assert_eq!(anoonly_cli::run(["anoonly", "eval"]), ExitCode::from(2));
    assert_eq!(
        anoonly_cli::run(["anoonly", "eval", "--data", "no-such-file.npz"]),
        ExitCode::FAILURE
    );
}

/// The library decides whether a method trains without labeled anomalies; the command
/// passes the file on: DeepSAD trains on one (Deep SVDD), DevNet says it needs some.
#[test]
fn fit_passes_a_file_without_labeled_anomalies_to_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("normal.csv");
    common::write_synthetic_csv(&csv, 300, 0, 6, 2);
    let model = dir.path().join("m.safetensors");
    let fit = |method: &str| {
        anoonly(&[
            "fit",
            "--data",
            csv.to_str().unwrap(),
            "--method",
            method,
            "--epochs",
            "2",
            "--out",
            model.to_str().unwrap(),
        ])
    };
    let o = fit("deepsad");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(model.is_file());
    std::fs::remove_file(&model).unwrap();
    let o = fit("devnet");
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("normal.csv") && e.contains("devnet needs at least one"),
        "{e}"
    );
    assert!(!model.exists());
}

/// PReNet on fewer unlabeled rows than half a batch trains (pairs drawn with replacement)
/// and the command says so, once, on stderr.
#[test]
fn fit_prints_the_notes_of_the_fit() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("small.csv");
    common::write_synthetic_csv(&csv, 120, 12, 5, 4);
    let model = dir.path().join("m.safetensors");
    let o = anoonly(&[
        "fit",
        "--data",
        csv.to_str().unwrap(),
        "--method",
        "prenet",
        "--epochs",
        "1",
        "--out",
        model.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    let notes: Vec<&str> = e.lines().filter(|l| l.starts_with("note: ")).collect();
    assert_eq!(notes.len(), 1, "{e}");
    assert!(
        notes[0].contains("120 unlabeled") && notes[0].contains("with replacement"),
        "{e}"
    );
}

#[test]
fn eval_json_has_the_contract_fields() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("d.csv");
    write_csv(&csv);
    let o = anoonly(&[
        "eval",
        "--data",
        csv.to_str().unwrap(),
        "--method",
        "deepsad",
        "--anoonly",
        "--seeds",
        "0,1",
        "--json",
        "--epochs",
        "3",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<_> = stdout(&o).lines().map(String::from).collect();
    assert_eq!(lines.len(), 2);
    for (i, l) in lines.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        for k in [
            "dataset",
            "method",
            "anoonly",
            "setting",
            "protocol",
            "gamma_la",
            "seed",
            "aucroc",
            "aucpr",
            "aucpr_normal",
            "aucpr_normal_official",
            "fit_seconds",
            "score_seconds",
            "n_train",
            "n_labeled",
            "n_test",
        ] {
            assert!(v.get(k).is_some(), "missing {k} in {l}");
        }
        assert_eq!(v["seed"], i as u64);
        assert_eq!(v["anoonly"], true);
        assert_eq!(v["method"], "deepsad");
        assert_eq!(v["setting"], "clean");
        assert_eq!(v["protocol"], "adbench");
    }
    assert!(stderr(&o).contains("over 2 seed(s)"));
}

#[test]
fn fit_then_score_writes_scores_and_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("d.csv");
    write_csv(&csv);
    let model = dir.path().join("m.safetensors");
    let o = anoonly(&[
        "fit",
        "--data",
        csv.to_str().unwrap(),
        "--anoonly",
        "--epochs",
        "3",
        "--out",
        model.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let scores = dir.path().join("s.csv");
    let o = anoonly(&[
        "score",
        "--model",
        model.to_str().unwrap(),
        "--data",
        csv.to_str().unwrap(),
        "--out",
        scores.to_str().unwrap(),
        "--contamination",
        "0.1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&scores).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("row,score,prediction"));
    assert_eq!(lines.count(), 440);
    // Same model, same data: the same scores again, byte for byte.
    let o2 = anoonly(&[
        "score",
        "--model",
        model.to_str().unwrap(),
        "--data",
        csv.to_str().unwrap(),
    ]);
    assert!(o2.status.success());
    let first: Vec<_> = text
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string())
        .collect();
    let second: Vec<_> = stdout(&o2).lines().map(String::from).collect();
    assert_eq!(first, second);
}

#[test]
fn missing_file_fails_cleanly_naming_it() {
    let o = anoonly(&["eval", "--data", "/nonexistent/x.npz"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("/nonexistent/x.npz"), "{e}");
    assert!(!e.contains("panicked"), "{e}");
}

#[test]
fn score_with_a_non_model_file_fails_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("d.csv");
    write_csv(&csv);
    let out = dir.path().join("s.csv");
    let o = anoonly(&[
        "score",
        "--model",
        csv.to_str().unwrap(),
        "--data",
        csv.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("not an anoonly model file"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
}

#[test]
fn bad_gamma_la_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("d.csv");
    write_csv(&csv);
    let o = anoonly(&["eval", "--data", csv.to_str().unwrap(), "--gamma-la", "1.5"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("gamma_la"), "{}", stderr(&o));
}
