//! FEAWAD through the public API: its defaults and compat modes, the authors' code
//! (`official`) against the fixed default, the norm override, and a qualitative check on real
//! data (fit, determinism, model files and shared checks: tests/conformance.rs).

mod common;

use anoonly::data::synthetic;
use anoonly::experiment::{evaluate_once, EvalConfig};
use anoonly::methods::{FeawadCompat, FitParams, MethodKind, MethodParams};
use anoonly::model_file;
use anoonly::protocol::{split, SplitParams};
use anoonly::train::Silent;

fn small() -> anoonly::Dataset {
    synthetic::generate(&synthetic::SyntheticParams {
        n_normal: 600,
        n_anomaly: 60,
        dim: 16,
        seed: 3,
    })
}

/// A reduced schedule (the `--set` parameters), for speed.
fn quick(anoonly: bool, compat: &str, seed: u64) -> FitParams {
    let mut p = FitParams::new(MethodKind::Feawad)
        .anoonly(anoonly)
        .seed(seed);
    for (k, v) in [
        ("pretrain_epochs", "2"),
        ("epochs", "3"),
        ("steps_per_epoch", "5"),
        ("batch_size", "64"),
        ("compat", compat),
    ] {
        p.method.set(k, v).unwrap();
    }
    p
}

#[test]
fn defaults_and_compat_parse() {
    let p = FitParams::new(MethodKind::Feawad);
    let MethodParams::Feawad(f) = &p.method else {
        panic!("not feawad")
    };
    assert_eq!(f.compat, FeawadCompat::Fixed);
    assert_eq!(
        (f.pretrain_epochs, f.epochs, f.steps_per_epoch),
        (100, 30, 20)
    );
    assert_eq!(
        (f.batch_size, f.lr, f.margin, f.lambda_r),
        (512, 1e-4, 5.0, 1.0)
    );
    let q = quick(false, "official", 0);
    let MethodParams::Feawad(f) = &q.method else {
        panic!("not feawad")
    };
    assert_eq!(f.compat, FeawadCompat::Official);
    let mut bad = FitParams::new(MethodKind::Feawad);
    assert!(bad.method.set("compat", "paper").is_err());
    bad.method.set("lambda_r", "-1").unwrap();
    assert!(bad.validate().is_err());
}

/// The authors' code (`compat = official`) is deterministic per seed, trains otherwise than
/// the fixed default, and its model files load back bit for bit (the default's: tests/
/// conformance.rs).
#[test]
fn official_compat_is_deterministic_and_differs_from_fixed() {
    let ds = small();
    let sp = split(ds.x.view(), ds.y.view(), &SplitParams::default(), 1).unwrap();
    let fit = |compat: &str, anoonly: bool, seed| {
        quick(anoonly, compat, seed)
            .fit(sp.x_train.view(), sp.y_train.view())
            .unwrap()
    };
    for anoonly in [false, true] {
        let scores = |m: &anoonly::methods::Model| {
            common::bits(&m.decision_function(sp.x_test.view()).unwrap())
        };
        let a = fit("official", anoonly, 7);
        assert_eq!(
            scores(&a),
            scores(&fit("official", anoonly, 7)),
            "anoonly={anoonly}"
        );
        assert_ne!(
            scores(&a),
            scores(&fit("official", anoonly, 8)),
            "anoonly={anoonly}"
        );
        assert_ne!(
            scores(&a),
            scores(&fit("fixed", anoonly, 7)),
            "the two compat modes train alike"
        );
        common::assert_round_trip(&a, sp.x_test.view());
    }
}

#[test]
fn norm_override_changes_the_head_and_loads_back() {
    let ds = small();
    let mut p = quick(true, "fixed", 1);
    p.train.norm = Some(anoonly::train::NormKind::None);
    let model = p.fit(ds.x.view(), ds.y.view()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    model_file::save(&model, &path).unwrap();
    let back = model_file::load(&path).unwrap();
    let a = model.decision_function(ds.x.view()).unwrap();
    assert_eq!(
        common::bits(&a),
        common::bits(&back.decision_function(ds.x.view()).unwrap())
    );
}

/// FEAWAD on the shared MVTec-AD_bottle features (reference, authors' code, clean:
/// AUCROC 97.1 vanilla, 99.5 AnoOnly) with a shortened schedule (pretraining
/// 5 × 10 steps, scoring 10 × 10 steps) so the test stays fast: vanilla `fixed` and
/// AnoOnly `official` must clearly detect the anomalies on seed 0 (measured: 0.971 and
/// 0.985; all four variant × compat pairs gave 0.97–0.985; bound 0.9).
#[test]
#[ignore = "needs ../shared/data (run by scripts/test.sh when it exists)"]
fn feawad_detects_mvtec_bottle_anomalies_needs_shared_data() {
    let ds = common::shared_file("CV_by_ResNet18/MVTec-AD_bottle.npz");
    for (compat, anoonly) in [("fixed", false), ("official", true)] {
        let mut fit = FitParams::new(MethodKind::Feawad).anoonly(anoonly);
        for (k, v) in [
            ("pretrain_epochs", "5"),
            ("epochs", "10"),
            ("steps_per_epoch", "10"),
            ("compat", compat),
        ] {
            fit.method.set(k, v).unwrap();
        }
        let cfg = EvalConfig {
            fit,
            split: SplitParams::default(),
        };
        let rec = evaluate_once(&ds, &cfg, 0, &mut Silent).unwrap();
        eprintln!("{compat} anoonly={anoonly}: AUCROC {:.3}", rec.aucroc);
        assert!(
            rec.aucroc > 0.9,
            "{compat} anoonly={anoonly}: {}",
            rec.aucroc
        );
    }
}
