//! PReNet through the public API: determinism, save/load, the unlabeled-count check, and
//! the reference re-run of the authors' code on real data.

mod common;

use anoonly::data::synthetic;
use anoonly::experiment::{evaluate_once, summarize, EvalConfig};
use anoonly::methods::{FitError, FitParams, MethodKind, MethodParams};
use anoonly::protocol::{split, SplitParams};
use anoonly::train::Silent;
use ndarray::Array1;

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

#[test]
fn same_seed_gives_bit_identical_scores() {
    let ds = small();
    let sp = split(ds.x.view(), ds.y.view(), &SplitParams::default(), 1).unwrap();
    for anoonly in [false, true] {
        let fit = |seed| {
            quick(anoonly, seed)
                .fit(sp.x_train.view(), sp.y_train.view())
                .unwrap()
        };
        let (a, b, c) = (fit(7), fit(7), fit(8));
        let sa = a.decision_function(sp.x_test.view()).unwrap();
        let sb = b.decision_function(sp.x_test.view()).unwrap();
        assert_eq!(common::bits(&sa), common::bits(&sb));
        assert_ne!(
            common::bits(&sa),
            common::bits(&c.decision_function(sp.x_test.view()).unwrap())
        );
        // Scoring is row-wise: a slice scores as in the full batch.
        let part = a
            .decision_function(sp.x_test.slice(ndarray::s![3..10, ..]))
            .unwrap();
        assert_eq!(
            common::bits(&part),
            common::bits(&sa.slice(ndarray::s![3..10]).to_owned())
        );
    }
}

#[test]
fn save_load_round_trip_scores_bit_identically() {
    let ds = small();
    for anoonly in [false, true] {
        let model = quick(anoonly, 2).fit(ds.x.view(), ds.y.view()).unwrap();
        common::assert_round_trip(&model, ds.x.view());
    }
}

#[test]
fn too_few_unlabeled_rows_is_a_clear_error() {
    let ds = small();
    // 100 unlabeled rows and the 60 anomalies: the (u,u) half of a 512-pair batch needs 256.
    let keep: Vec<usize> = (0..ds.n_rows())
        .filter(|&i| ds.y[i] == 1)
        .chain((0..ds.n_rows()).filter(|&i| ds.y[i] == 0).take(100))
        .collect();
    let x = ds.x.select(ndarray::Axis(0), &keep);
    let y = ds.y.select(ndarray::Axis(0), &keep);
    let err = quick(false, 0).fit(x.view(), y.view()).unwrap_err();
    assert!(
        matches!(
            err,
            FitError::TooFewUnlabeled {
                method: MethodKind::PReNet,
                found: 100,
                needed: 256
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("100") && msg.contains("256") && msg.contains("prenet"),
        "{msg}"
    );
    // A smaller batch needs fewer.
    let mut p = quick(false, 0);
    p.method.set("batch_size", "128").unwrap();
    assert!(p.fit(x.view(), y.view()).is_ok());
    // And no labeled anomaly at all is refused as for every method.
    let y0 = Array1::<u8>::zeros(ds.n_rows());
    assert!(matches!(
        quick(false, 0).fit(ds.x.view(), y0.view()),
        Err(FitError::NoLabeledAnomaly { .. })
    ));
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
fn prenet_matches_reference_on_cifar10_0_needs_shared_data() {
    let Some(ds) = common::shared_file(
        "prenet_matches_reference_on_cifar10_0_needs_shared_data",
        "CV_by_ResNet18/CIFAR10_0.npz",
    ) else {
        return;
    };
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
