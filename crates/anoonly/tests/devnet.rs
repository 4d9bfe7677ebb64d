//! DevNet through the public API: the authors' defaults, the best-training-loss checkpoint,
//! its loss forms and ranges, and agreement with the authors' code on real data (fit,
//! determinism, model files and the checks every method shares: tests/conformance.rs).

mod common;

use anoonly::data::synthetic;
use anoonly::experiment::{evaluate_once, summarize, EvalConfig};
use anoonly::methods::devnet::FittedDevNet;
use anoonly::methods::{DevNetLoss, FitError, FitParams, MethodKind, MethodParams, Model};
use anoonly::protocol::{Setting, SplitParams};
use anoonly::train::Checkpoint;
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

fn devnet(p: &mut FitParams) -> &mut anoonly::methods::DevNetParams {
    let MethodParams::DevNet(d) = &mut p.method else {
        unreachable!()
    };
    d
}

fn quick(anoonly: bool, seed: u64) -> FitParams {
    let mut p = FitParams::new(MethodKind::DevNet)
        .anoonly(anoonly)
        .seed(seed);
    devnet(&mut p).epochs = 5;
    p
}

fn scores(m: &Model, x: ndarray::ArrayView2<f32>) -> Vec<u32> {
    common::bits(&m.decision_function(x).unwrap())
}

#[test]
fn defaults_are_the_authors_code() {
    let p = FitParams::new(MethodKind::DevNet);
    let MethodParams::DevNet(d) = &p.method else {
        unreachable!()
    };
    assert_eq!(
        (
            d.hidden,
            d.l2,
            d.lr,
            d.epochs,
            d.batches_per_epoch,
            d.batch_size,
            d.margin
        ),
        (20, 0.01, 2e-4, 50, 20, 64, 5.0)
    );
    assert_eq!(d.loss, DevNetLoss::Official);
    assert_eq!("devnet".parse::<MethodKind>().unwrap(), MethodKind::DevNet);
}

/// Keras `ModelCheckpoint(monitor='loss', save_best_only=True)`: the weights kept are the
/// ones at the end of the epoch with the lowest mean training loss. A large learning rate
/// and short, noisy epochs make the loss bounce so that the best epoch is not the last.
#[test]
fn best_train_loss_checkpoint_keeps_the_argmin_epoch() {
    let ds = small();
    let mut p = FitParams::new(MethodKind::DevNet).seed(4);
    devnet(&mut p).epochs = 30;
    devnet(&mut p).batches_per_epoch = 5;
    devnet(&mut p).lr = 0.05;
    let long = p.fit(ds.x.view(), ds.y.view()).unwrap();
    let losses: Vec<f32> = long
        .report
        .epoch_losses
        .iter()
        .map(|l| l.expect("every DevNet batch has a loss"))
        .collect();
    assert_eq!(losses.len(), 30);
    let argmin = losses
        .iter()
        .enumerate()
        .fold(0, |best, (i, &l)| if l < losses[best] { i } else { best });
    eprintln!("kept epoch {argmin} of {losses:?}");
    assert_eq!(long.report.kept_epoch, argmin, "{losses:?}");
    assert!(
        argmin < 29,
        "the test needs a best epoch before the last: {losses:?}"
    );

    // The same run stopped right after the best epoch ends with the kept weights: the
    // sampler draws epoch by epoch from one stream, so the first epochs are identical.
    let mut short = p.clone();
    devnet(&mut short).epochs = argmin + 1;
    let short = short.fit(ds.x.view(), ds.y.view()).unwrap();
    assert_eq!(short.report.kept_epoch, argmin);
    assert_eq!(
        short.report.epoch_losses,
        long.report.epoch_losses[..=argmin]
    );
    assert_eq!(scores(&short, ds.x.view()), scores(&long, ds.x.view()));

    // And those are not the last epoch's weights.
    let MethodParams::DevNet(d) = &p.method else {
        unreachable!()
    };
    let (last, report) = FittedDevNet::fit_with_checkpoint(
        d,
        &p.train,
        ds.x.view(),
        ds.y.view(),
        Checkpoint::Last,
        &mut Silent,
    )
    .unwrap();
    assert_eq!(report.kept_epoch, 29);
    assert_eq!(report.epoch_losses, long.report.epoch_losses);
    assert_ne!(
        common::bits(&last.scores(ds.x.view())),
        scores(&long, ds.x.view())
    );
}

#[test]
fn loss_is_a_settable_parameter() {
    let mut p = FitParams::new(MethodKind::DevNet);
    p.method.set("loss", "paper").unwrap();
    assert_eq!(devnet(&mut p).loss, DevNetLoss::Paper);
    p.method.set("loss", "official").unwrap();
    assert_eq!(devnet(&mut p).loss, DevNetLoss::Official);
    assert!(p.method.set("loss", "hinge").is_err());
    p.method.set("batches_per_epoch", "3").unwrap();
    assert_eq!(devnet(&mut p).batches_per_epoch, 3);
    // The paper's losses train and differ from the official ones under AnoOnly.
    let ds = small();
    let official = quick(true, 1).fit(ds.x.view(), ds.y.view()).unwrap();
    let mut pp = quick(true, 1);
    devnet(&mut pp).loss = DevNetLoss::Paper;
    let paper = pp.fit(ds.x.view(), ds.y.view()).unwrap();
    assert_ne!(scores(&official, ds.x.view()), scores(&paper, ds.x.view()));
}

#[test]
fn refuses_bad_input_and_parameters() {
    let ds = small();
    let ones = Array1::<u8>::ones(ds.n_rows());
    let e = quick(false, 0).fit(ds.x.view(), ones.view()).unwrap_err();
    assert!(matches!(e, FitError::TooFewUnlabeled { .. }), "{e}");
    assert!(e.to_string().contains("unlabeled"), "{e}");
    for (field, set) in [
        ("batch_size", "1"),
        ("lr", "0"),
        ("l2", "-1"),
        ("margin", "0"),
        ("hidden", "0"),
        ("batches_per_epoch", "0"),
    ] {
        let mut p = quick(false, 0);
        p.method.set(field, set).unwrap();
        let e = p.fit(ds.x.view(), ds.y.view()).unwrap_err();
        assert!(e.to_string().contains(field), "{e}");
    }
}

/// Agreement with the authors' code re-run on CIFAR10_0 (reference-results.md, clean,
/// seed 42 only): AUCROC 82.4 vanilla, 78.0 AnoOnly. Our mean over seeds 0,1,2 must lie
/// within 5 points: a single reference seed on one file carries a few points of seed noise.
#[test]
#[ignore = "needs ../shared/data (run by scripts/test.sh when it exists)"]
fn devnet_matches_reference_on_cifar10_0_needs_shared_data() {
    let ds = common::shared_file("CV_by_ResNet18/CIFAR10_0.npz");
    for (anoonly, reference) in [(false, 0.824), (true, 0.780)] {
        let cfg = EvalConfig {
            fit: FitParams::new(MethodKind::DevNet).anoonly(anoonly),
            split: SplitParams {
                setting: Setting::Clean,
                ..SplitParams::default()
            },
        };
        let recs: Vec<_> = (0..3)
            .map(|s| evaluate_once(&ds, &cfg, s, &mut Silent).unwrap())
            .collect();
        let auc = summarize(&recs).aucroc.mean;
        eprintln!("DevNet anoonly={anoonly}: AUCROC {auc:.3} (reference {reference})");
        assert!((auc - reference).abs() < 0.05, "anoonly={anoonly}: {auc}");
    }
}
