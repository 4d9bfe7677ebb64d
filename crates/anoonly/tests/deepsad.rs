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
#[ignore = "needs ../shared/data (run by scripts/test.sh when it exists)"]
fn anoonly_beats_deepsad_on_cifar10_0_needs_shared_data() {
    let ds = common::shared_file("CV_by_ResNet18/CIFAR10_0.npz");
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

/// Without a labeled anomaly DeepSAD is Deep SVDD, as the authors' code (every
/// `semi_target` 0) and PyOD's DeepSAD with `y=None` run it: the centre `c` is the mean
/// code of the initial network (bit for bit the authors' `init_center_c` on the same
/// draws), the loss is the distance of the unlabeled rows to `c`, which training
/// shrinks, and the distance ranks the unlabeled anomalies above the normals. AnoOnly has
/// no loss on such data and is refused.
#[test]
fn without_labeled_anomalies_deepsad_is_deep_svdd() {
    use anoonly::methods::deepsad::init_center;
    use anoonly::methods::{FitError, Fitted};
    use anoonly::metrics::aucroc;
    use anoonly::rng::component_rng;
    use anoonly::vocab::NormKind;

    let ds = small();
    let unlabeled = ndarray::Array1::<u8>::zeros(ds.n_rows());
    let p = quick(false, 4);
    let model = p.fit(ds.x.view(), unlabeled.view()).unwrap();
    let Fitted::DeepSad(fitted) = &model.fitted else {
        unreachable!("a DeepSAD model")
    };
    let MethodParams::DeepSad(dp) = &p.method else {
        unreachable!()
    };
    // The centre from the initial network's forward pass.
    let mut initial = dp.network(
        ds.n_features(),
        NormKind::BnNoAffine,
        &mut component_rng(4, "init"),
    );
    let c = init_center(
        &mut initial,
        ds.x.view(),
        dp.batch_size,
        &mut component_rng(4, "loader"),
    );
    assert_eq!(
        c.mapv(f32::to_bits),
        fitted.c.mapv(f32::to_bits),
        "c is the initial network's mean code"
    );
    // The loss is the unlabeled rows' distance to c, every batch has one, and training
    // lowers it (train mode: the batch statistics; `c` itself is taken in eval mode, as the
    // authors' code does, so eval-mode distances are on another scale).
    let losses: Vec<f32> = model
        .report
        .epoch_losses
        .iter()
        .map(|l| l.unwrap())
        .collect();
    assert_eq!(model.report.empty_batches, 0);
    assert!(
        losses[losses.len() - 1] < losses[0],
        "epoch losses {losses:?}"
    );
    // The fitted scores are those distances, and rank the unlabeled anomalies first.
    let auc = aucroc(
        ds.y.as_slice().unwrap(),
        model.train_scores.as_slice().unwrap(),
    )
    .unwrap();
    assert!(auc > 0.75, "AUCROC {auc} (measured 0.83)");
    // A labeled anomaly is DeepSAD proper: another model.
    let mut one = unlabeled.clone();
    one[ds.y.iter().position(|&v| v == 1).unwrap()] = 1;
    let sad = p.fit(ds.x.view(), one.view()).unwrap();
    assert_ne!(sad.train_scores, model.train_scores);
    // AnoOnly (lambda_n = 0) would train on no loss at all.
    let e = quick(true, 4)
        .fit(ds.x.view(), unlabeled.view())
        .unwrap_err();
    assert!(
        matches!(
            e,
            FitError::NoLoss {
                method: MethodKind::DeepSad
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("no loss"), "{e}");
}
