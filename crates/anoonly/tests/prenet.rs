//! PReNet through the public API: small training sets (pairs drawn with replacement), its
//! batch-size rule, and the
//! reference re-run of the authors' code on real data (fit, determinism, row-wise scoring,
//! model files: tests/conformance.rs).

mod common;

use anoonly::data::synthetic;
use anoonly::experiment::{evaluate_once, summarize, EvalConfig};
use anoonly::methods::{FitError, FitParams, MethodKind, MethodParams};
use anoonly::protocol::SplitParams;
use anoonly::train::Silent;

fn small() -> anoonly::Dataset {
    synthetic::generate(&synthetic::SyntheticParams {
        n_normal: 600,
        n_anomaly: 60,
        dim: 16,
        seed: 3,
    })
}

fn quick(anoonly: bool, seed: u64) -> FitParams {
    let mut p = FitParams::new(MethodKind::PReNet)
        .anoonly(anoonly)
        .seed(seed);
    p.method.set_epochs(3).unwrap();
    p
}

/// Fewer unlabeled rows than the (u,u) half of a batch (the authors' sampler draws it
/// without replacement): the pairs' unlabeled rows are drawn with replacement, as DeepOD's
/// PReNet does, and the fit says so in its report. With enough rows, no note (and the
/// authors' draws: scripts/same_outputs.sh). No unlabeled row at all is refused.
#[test]
fn few_unlabeled_rows_are_drawn_with_replacement_and_noted() {
    let ds = small();
    // 100 unlabeled rows and the 60 anomalies: the (u,u) half of a 512-pair batch is 256.
    let keep: Vec<usize> = (0..ds.n_rows())
        .filter(|&i| ds.y[i] == 1)
        .chain((0..ds.n_rows()).filter(|&i| ds.y[i] == 0).take(100))
        .collect();
    let x = ds.x.select(ndarray::Axis(0), &keep);
    let y = ds.y.select(ndarray::Axis(0), &keep);
    let m = quick(false, 0).fit(x.view(), y.view()).unwrap();
    assert_eq!(m.report.notes.len(), 1, "{:?}", m.report.notes);
    let note = &m.report.notes[0];
    assert!(
        note.contains("100 unlabeled") && note.contains("256") && note.contains("with replacement"),
        "{note}"
    );
    assert!(m.train_scores.iter().all(|s| s.is_finite()));
    // A batch whose (u,u) half fits in 100 rows draws as the authors do: no note.
    let mut p = quick(false, 0);
    p.method.set("batch_size", "128").unwrap();
    assert!(p.fit(x.view(), y.view()).unwrap().report.notes.is_empty());
    assert!(quick(false, 0)
        .fit(ds.x.view(), ds.y.view())
        .unwrap()
        .report
        .notes
        .is_empty());
    // Only labeled anomalies: nothing to pair them with.
    let anomalies: Vec<usize> = (0..ds.n_rows()).filter(|&i| ds.y[i] == 1).collect();
    let xa = ds.x.select(ndarray::Axis(0), &anomalies);
    let ya = ds.y.select(ndarray::Axis(0), &anomalies);
    let err = quick(false, 0).fit(xa.view(), ya.view()).unwrap_err();
    assert!(
        matches!(
            err,
            FitError::TooFewUnlabeled {
                method: MethodKind::PReNet,
                found: 0,
                needed: 1
            }
        ),
        "{err:?}"
    );
}

#[test]
fn bad_params_are_refused_by_name() {
    let ds = small();
    let mut p = quick(false, 0);
    let MethodParams::PReNet(q) = &mut p.method else {
        unreachable!("PReNet params")
    };
    q.batch_size = 30;
    let e = p.fit(ds.x.view(), ds.y.view()).unwrap_err();
    assert!(e.to_string().contains("batch_size"), "{e}");
}

/// The reference re-run of the authors' code on CIFAR10_0 (clean, gamma_la 0.1, seeds
/// 42,0,1): AUCROC 75.7 (PReNet) and 76.3 (+AnoOnly). Our seeds 0,1,2 draw other splits,
/// initialisations and batches; 5 points on a 3-seed mean of one file is the allowance for
/// that (fixed before running).
#[test]
#[ignore = "needs ../shared/data (run by scripts/test.sh when it exists)"]
fn prenet_matches_reference_on_cifar10_0_needs_shared_data() {
    let ds = common::shared_file("CV_by_ResNet18/CIFAR10_0.npz");
    for (anoonly, reference) in [(false, 0.757), (true, 0.763)] {
        let cfg = EvalConfig {
            fit: FitParams::new(MethodKind::PReNet).anoonly(anoonly),
            split: SplitParams::default(),
        };
        let recs: Vec<_> = (0..3)
            .map(|s| evaluate_once(&ds, &cfg, s, &mut Silent).unwrap())
            .collect();
        let auc = summarize(&recs).aucroc.mean;
        eprintln!("PReNet anoonly={anoonly}: AUCROC {auc:.3} (reference {reference})");
        assert!((auc - reference).abs() < 0.05, "anoonly={anoonly}: {auc}");
    }
}
