//! DeepSAD through the public API: determinism, save/load, parameter checks, and the
//! paper's qualitative effect on real data.

mod common;

use anoonly::data::synthetic;
use anoonly::experiment::{evaluate_once, summarize, EvalConfig};
use anoonly::methods::{FitError, FitParams, MethodKind, MethodParams};
use anoonly::protocol::{split, Setting, SplitParams};
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
    let mut p = FitParams::new(MethodKind::DeepSad)
        .anoonly(anoonly)
        .seed(seed);
    let MethodParams::DeepSad(d) = &mut p.method else {
        unreachable!()
    };
    d.epochs = 5;
    p
}

#[test]
fn same_seed_gives_bit_identical_scores() {
    let ds = small();
    let sp = split(ds.x.view(), ds.y.view(), &SplitParams::default(), 1).unwrap();
    for anoonly in [false, true] {
        let a = quick(anoonly, 7)
            .fit(sp.x_train.view(), sp.y_train.view())
            .unwrap();
        let b = quick(anoonly, 7)
            .fit(sp.x_train.view(), sp.y_train.view())
            .unwrap();
        let sa = a.decision_function(sp.x_test.view()).unwrap();
        let sb = b.decision_function(sp.x_test.view()).unwrap();
        assert_eq!(common::bits(&sa), common::bits(&sb));
        let c = quick(anoonly, 8)
            .fit(sp.x_train.view(), sp.y_train.view())
            .unwrap();
        assert_ne!(
            common::bits(&sa),
            common::bits(&c.decision_function(sp.x_test.view()).unwrap())
        );
    }
}

#[test]
fn save_load_round_trip_scores_bit_identically() {
    let ds = small();
    let model = quick(true, 2).fit(ds.x.view(), ds.y.view()).unwrap();
    common::assert_round_trip(&model, ds.x.view());
}

#[test]
fn refuses_bad_training_input() {
    let ds = small();
    let y0 = Array1::<u8>::zeros(ds.n_rows());
    assert!(matches!(
        quick(false, 0).fit(ds.x.view(), y0.view()),
        Err(FitError::NoLabeledAnomaly { .. })
    ));
    let short = Array1::<u8>::ones(3);
    assert!(matches!(
        quick(false, 0).fit(ds.x.view(), short.view()),
        Err(FitError::LengthMismatch { .. })
    ));
    let mut p = quick(false, 0);
    p.train.lambda_n = Some(-1.0);
    assert!(matches!(
        p.fit(ds.x.view(), ds.y.view()),
        Err(FitError::Param(_))
    ));
    let mut p = quick(false, 0);
    let MethodParams::DeepSad(d) = &mut p.method else {
        unreachable!()
    };
    d.lr = f32::NAN;
    let e = p.fit(ds.x.view(), ds.y.view()).unwrap_err();
    assert!(e.to_string().contains("lr"), "{e}");
    // A network too large to allocate is refused by the library's fit itself.
    let mut p = quick(false, 0);
    p.method.set("hidden", "[1000000000000]").unwrap();
    let e = p.fit(ds.x.view(), ds.y.view()).unwrap_err();
    assert!(matches!(e, FitError::NetworkTooLarge(_)), "{e}");
    assert!(e.to_string().contains("67108864"), "{e}");
}

#[test]
fn scoring_checks_feature_count_and_contamination() {
    let ds = small();
    let model = quick(false, 0).fit(ds.x.view(), ds.y.view()).unwrap();
    let narrow = ds.x.slice(ndarray::s![.., ..3]).to_owned();
    assert!(model.decision_function(narrow.view()).is_err());
    assert!(model.threshold(0.0).is_err());
    assert!(model.threshold(0.7).is_err());
    let pred = model.predict(ds.x.view(), 0.1).unwrap();
    let frac = pred.iter().filter(|&&p| p == 1).count() as f64 / pred.len() as f64;
    assert!((frac - 0.1).abs() < 0.02, "{frac}");
}

/// The paper's headline effect on the shared CIFAR10_0 features: AnoOnly lifts DeepSAD's
/// AUCROC (reference re-run of the authors' code, clean: 74.3 → 79.3; noisy: 70.8 → 76.9).
/// Mean over seeds 0,1,2; the margin asked for (2 points) is below the reference's 5 to
/// leave room for seed noise on one file.
#[test]
fn anoonly_beats_deepsad_on_cifar10_0_needs_shared_data() {
    let Some(ds) = common::shared_file(
        "anoonly_beats_deepsad_on_cifar10_0_needs_shared_data",
        "CV_by_ResNet18/CIFAR10_0.npz",
    ) else {
        return;
    };
    for setting in [Setting::Clean, Setting::Noisy] {
        let mut auc = Vec::new();
        for anoonly in [false, true] {
            let cfg = EvalConfig {
                fit: FitParams::new(MethodKind::DeepSad).anoonly(anoonly),
                split: SplitParams {
                    setting,
                    ..SplitParams::default()
                },
            };
            let recs: Vec<_> = (0..3)
                .map(|s| evaluate_once(&ds, &cfg, s, &mut Silent).unwrap())
                .collect();
            auc.push(summarize(&recs).aucroc.mean);
        }
        eprintln!("{setting:?}: DeepSAD {:.3} AnoOnly {:.3}", auc[0], auc[1]);
        assert!(auc[1] > auc[0] + 0.02, "{setting:?}: {auc:?}");
    }
}
