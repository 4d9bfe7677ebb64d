//! DeepSAD through the public API: the contamination threshold and the paper's qualitative
//! effect on real data (fit, determinism, model files and checks: tests/conformance.rs).

mod common;

use anoonly::data::synthetic;
use anoonly::experiment::{evaluate_once, summarize, EvalConfig};
use anoonly::methods::{FitParams, MethodKind, MethodParams};
use anoonly::protocol::{Setting, SplitParams};
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
    let mut p = FitParams::new(MethodKind::DeepSad)
        .anoonly(anoonly)
        .seed(seed);
    let MethodParams::DeepSad(d) = &mut p.method else {
        unreachable!()
    };
    d.epochs = 5;
    p
}

/// With continuous scores, the contamination threshold flags that fraction of the training
/// rows (the threshold's checks, for every method, are in tests/conformance.rs).
#[test]
fn predict_flags_the_contamination_fraction() {
    let ds = small();
    let model = quick(false, 0).fit(ds.x.view(), ds.y.view()).unwrap();
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
