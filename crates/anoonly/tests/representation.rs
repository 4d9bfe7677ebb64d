//! `Model::representation`: the hidden features before each method's last layer (the
//! paper's Fig. 10, DeepOD's `return_rep`). Their width per method, determinism, row
//! independence (a row's features do not depend on the other rows, nor on the chunking),
//! the score recovered from them by the last layer where the score is that layer's output,
//! the same features after a model-file round trip, and the refusals.

use anoonly::methods::{FitParams, Fitted, MethodKind, Model, ScoreError};
use anoonly::nn::{Mode, Module};
use anoonly::protocol::{split, SplitParams};
use ndarray::{s, Array2, Axis};

/// A quick fit of `kind` on the built-in data's train split (seed 0), and the test rows.
fn fitted(kind: MethodKind, anoonly: bool) -> (Model, Array2<f32>) {
    let ds = anoonly::data::synthetic::demo_dataset(0);
    let sp = split(ds.x.view(), ds.y.view(), &SplitParams::default(), 0).unwrap();
    let mut p = FitParams::new(kind).anoonly(anoonly).seed(0);
    if kind.trains_in_epochs() {
        p.method.set_epochs(2).unwrap();
    } else {
        p.method.set("n_estimators", "3").unwrap();
    }
    let model = p.fit(sp.x_train.view(), sp.y_train.view()).unwrap();
    (model, sp.x_test)
}

fn bits(a: &Array2<f32>) -> Vec<u32> {
    a.iter().map(|v| v.to_bits()).collect()
}

/// Each method's width: DeepSAD's and DevNet's 20 hidden units, PReNet's 20-d branch,
/// FEAWAD's 33-d head input, GANomaly's d/4 code, REPEN's 20-d representation.
#[test]
fn every_network_method_gives_its_hidden_features_row_by_row() {
    for (kind, width) in [
        (MethodKind::DeepSad, 20),
        (MethodKind::DevNet, 20),
        (MethodKind::PReNet, 20),
        (MethodKind::Feawad, 33),
        (MethodKind::Ganomaly, 8),
        (MethodKind::Repen, 20),
    ] {
        let variants: &[bool] = if kind.supports_anoonly() {
            &[false, true]
        } else {
            &[false]
        };
        for &anoonly in variants {
            let what = format!("{kind} anoonly={anoonly}");
            let (model, x) = fitted(kind, anoonly);
            let rep = model.representation(x.view()).unwrap();
            assert_eq!(rep.dim(), (x.nrows(), width), "{what}");
            assert!(rep.iter().all(|v| v.is_finite()), "{what}");
            assert!(rep.iter().any(|&v| v != 0.0), "{what}: all zero");
            // Deterministic.
            assert_eq!(
                bits(&model.representation(x.view()).unwrap()),
                bits(&rep),
                "{what}"
            );
            // Row independence: a slice, a single row and the rows reversed give the same
            // features for each row as the whole matrix (chunks of 1024 rows included).
            let part = model.representation(x.slice(s![5..40, ..])).unwrap();
            assert_eq!(
                bits(&part),
                bits(&rep.slice(s![5..40, ..]).to_owned()),
                "{what}"
            );
            let one = model.representation(x.slice(s![7..8, ..])).unwrap();
            assert_eq!(
                bits(&one),
                bits(&rep.slice(s![7..8, ..]).to_owned()),
                "{what}"
            );
            let mut rev = x.clone();
            rev.invert_axis(Axis(0));
            let mut back = model.representation(rev.view()).unwrap();
            back.invert_axis(Axis(0));
            assert_eq!(bits(&back), bits(&rep), "{what}");
            let big = ndarray::concatenate![Axis(0), x.view(), x.view(), x.view()];
            assert!(big.nrows() > 1024);
            let tall = model.representation(big.view()).unwrap();
            assert_eq!(
                bits(&tall.slice(s![2 * x.nrows().., ..]).to_owned()),
                bits(&rep),
                "{what}"
            );
            // No rows: no features, the right width.
            let none = model.representation(x.slice(s![0..0, ..])).unwrap();
            assert_eq!(none.dim(), (0, width), "{what}");
            // A saved and reloaded model gives the same features.
            let bytes = anoonly::model_file::to_bytes(&model).unwrap();
            let loaded =
                anoonly::model_file::from_bytes(&bytes, std::path::Path::new("mem")).unwrap();
            assert_eq!(
                bits(&loaded.representation(x.view()).unwrap()),
                bits(&rep),
                "{what}"
            );
        }
    }
}

/// Max relative difference of two score vectors.
fn max_rel(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / x.abs().max(1.0))
        .fold(0.0, f32::max)
}

/// Where the score is the last layer's output, that layer applied to the features gives
/// the score: DeepSAD's `Linear(20→10)` then the squared distance to `c`; DevNet's
/// `Linear(20→1)`; FEAWAD's `Linear(33→1)`.
#[test]
fn the_last_layer_on_the_features_gives_the_score() {
    for anoonly in [false, true] {
        let (model, x) = fitted(MethodKind::DeepSad, anoonly);
        let rep = model.representation(x.view()).unwrap();
        let scores = model.decision_function(x.view()).unwrap();
        let Fitted::DeepSad(f) = &model.fitted else {
            panic!("a DeepSAD model")
        };
        let mut last = f.net.layers.last().unwrap().clone();
        let code = last.forward(&rep, Mode::Eval);
        assert_eq!(code.ncols(), 10);
        let recovered: Vec<f32> = code
            .outer_iter()
            .map(|c| c.iter().zip(&f.c).map(|(o, c)| (o - c) * (o - c)).sum())
            .collect();
        let d = max_rel(&recovered, scores.as_slice().unwrap());
        assert!(d < 1e-5, "DeepSAD anoonly={anoonly}: {d}");

        let (model, x) = fitted(MethodKind::DevNet, anoonly);
        let rep = model.representation(x.view()).unwrap();
        let scores = model.decision_function(x.view()).unwrap();
        let Fitted::DevNet(f) = &model.fitted else {
            panic!("a DevNet model")
        };
        let mut last = f.net.layers.last().unwrap().clone();
        let out = last.forward(&rep, Mode::Eval);
        let d = max_rel(&out.column(0).to_vec(), scores.as_slice().unwrap());
        assert!(d < 1e-5, "DevNet anoonly={anoonly}: {d}");

        let (model, x) = fitted(MethodKind::Feawad, anoonly);
        let rep = model.representation(x.view()).unwrap();
        let scores = model.decision_function(x.view()).unwrap();
        let Fitted::Feawad(f) = &model.fitted else {
            panic!("a FEAWAD model")
        };
        let out = f.net.out.clone().forward(&rep, Mode::Eval);
        let d = max_rel(&out.column(0).to_vec(), scores.as_slice().unwrap());
        assert!(d < 1e-5, "FEAWAD anoonly={anoonly}: {d}");
    }
}

/// XGBOD has no hidden layer; input is checked as scores check it.
#[test]
fn refusals_name_the_reason() {
    let (model, x) = fitted(MethodKind::Xgbod, false);
    let e = model.representation(x.view()).unwrap_err();
    assert!(matches!(e, ScoreError::NoRepresentation(MethodKind::Xgbod)));
    assert!(
        e.to_string().contains("xgbod has no hidden features"),
        "{e}"
    );
    let (model, x) = fitted(MethodKind::DevNet, false);
    let narrow = x.slice(s![.., ..3]).to_owned();
    assert!(matches!(
        model.representation(narrow.view()),
        Err(ScoreError::FeatureCount { .. })
    ));
    let mut bad = x.clone();
    bad[[2, 1]] = f32::NAN;
    assert!(matches!(
        model.representation(bad.view()),
        Err(ScoreError::NonFinite { row: 2, col: 1 })
    ));
}
