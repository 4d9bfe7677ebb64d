//! REPEN through the public API and its pieces by hand: Keras Adadelta, the triplet
//! ranking loss (values and finite differences), the triplet sampler, the LeSiNN score, its
//! training length, and real data (determinism, model files and the baseline's AnoOnly
//! refusal: tests/conformance.rs).

mod common;

use common::{bits, small_synthetic};

use anoonly::methods::repen::{draw_triplets, triplet_loss, Lesinn, Triplets};
use anoonly::methods::{FitError, FitParams, MethodKind};
use anoonly::nn::{Adadelta, Linear, Matrix, Optimizer};
use anoonly::rng::component_rng;
use ndarray::{array, Array2};

fn quick(seed: u64) -> FitParams {
    let mut p = FitParams::new(MethodKind::Repen).seed(seed);
    p.method.set_epochs(3).unwrap();
    p
}

#[test]
fn adadelta_follows_keras_by_hand() {
    // w = 0, g = 0.5, rho 0.95, eps 1e-7, lr 0.001 (values from the formulas in f64):
    // step 1: acc_g = 0.0125, u = √1e-7/√0.0125001 · 0.5 = 1.4142079e-3, acc_u = 9.99992e-8;
    // step 2: acc_g = 0.024375, u = 1.4322239e-3.
    let mut l = Linear::from_weights(array![[0.0f32]], None);
    let mut opt = Adadelta::keras();
    let mut w = 0.0f64;
    for u in [1.414_207_9e-3f64, 1.432_223_9e-3] {
        l.grad_weight = array![[0.5f32]];
        opt.step(&mut l, 0.001);
        w -= u * 0.001;
        let got = f64::from(l.weight[[0, 0]]);
        assert!((got - w).abs() < 1e-6 * w.abs(), "{got} vs {w}");
    }
}

#[test]
fn triplet_loss_by_hand_and_by_finite_differences() {
    // rows: e = (0,0), p = (1,0), n = (0,2), far = (5,0).
    let h = array![[0.0f32, 0.0], [1.0, 0.0], [0.0, 2.0], [5.0, 0.0]];
    let t = Triplets {
        example: vec![0, 0],
        positive: vec![1, 1],
        negative: vec![2, 3],
    };
    let mut grad = Matrix::zeros(h.raw_dim());
    // margin 10: triplet 1: 10 - (4 - 1) = 7; triplet 2: 10 - (25 - 1) < 0 -> 0. Mean 3.5.
    let v = triplet_loss(&h, &t, 10.0, &mut grad);
    assert!((v - 3.5).abs() < 1e-6, "{v}");
    // Triplet 1 only, scale 2/2: d/de = n - p = (-1, 2), d/dn = e - n = (0, -2),
    // d/dp = -(e - p) = (1, 0); the inactive triplet adds nothing to row 3.
    assert_eq!(
        grad,
        array![[-1.0f32, 2.0], [1.0, 0.0], [0.0, -2.0], [0.0, 0.0]]
    );
    let eps = 1e-2f32;
    for i in 0..h.len() {
        let at = |d: f32| {
            let mut p = h.clone();
            p.as_slice_mut().unwrap()[i] += d;
            let mut g = Matrix::zeros(h.raw_dim());
            triplet_loss(&p, &t, 10.0, &mut g)
        };
        let fd = (at(eps) - at(-eps)) / (2.0 * eps);
        let a = grad.as_slice().unwrap()[i];
        assert!((fd - a).abs() < 1e-3, "[{i}] fd {fd} vs {a}");
    }
}

#[test]
fn sampler_respects_the_roles() {
    let inliers = [0usize, 2, 3];
    let anomalies = [1usize, 4];
    let mut t = Triplets::default();
    let mut rng = component_rng(0, "t");
    draw_triplets(&inliers, &anomalies, 500, &mut rng, &mut t);
    assert_eq!(t.example.len(), 500);
    for ((e, p), n) in t.example.iter().zip(&t.positive).zip(&t.negative) {
        assert!(inliers.contains(e) && inliers.contains(p) && anomalies.contains(n));
        assert_ne!(e, p);
    }
    // Uniform: each anomaly drawn about half the time.
    let ones = t.negative.iter().filter(|&&n| n == 1).count();
    assert!((200..300).contains(&ones), "{ones}");
    // Two inliers: the positive is always the other one.
    draw_triplets(&[7, 9], &[1], 50, &mut rng, &mut t);
    assert!(t.example.iter().zip(&t.positive).all(|(e, p)| e + p == 16));
}

#[test]
fn lesinn_score_by_hand() {
    // Two members of three 1-d points; query 0, two nearest.
    let l = Lesinn {
        refs: array![[0.0f32], [1.0], [5.0], [2.0], [3.0], [10.0]],
        members: 2,
        k: 2,
    };
    // member 1: (0 + 1)/2 = 0.5; member 2: (2 + 3)/2 = 2.5; mean 1.5.
    assert!((l.score(array![0.0f32].view()) - 1.5).abs() < 1e-6);
    // query 4: member 1: (1 + 3)/2 = 2; member 2: (1 + 2)/2 = 1.5; mean 1.75. Euclidean in 2-d:
    let l2 = Lesinn {
        refs: array![[3.0f32, 4.0], [0.0, 0.0]],
        members: 1,
        k: 1,
    };
    assert!((l.score(array![4.0f32].view()) - 1.75).abs() < 1e-6);
    assert!((l2.score(array![0.0f32, 8.0].view()) - 5.0).abs() < 1e-6);
}

#[test]
fn one_unlabeled_row_is_a_clear_error() {
    let x = Array2::from_shape_fn((4, 3), |(i, j)| (i + j) as f32);
    let y = array![1u8, 1, 0, 1];
    match quick(0).fit(x.view(), y.view()) {
        Err(FitError::TooFewUnlabeled { found, needed, .. }) => {
            assert_eq!((found, needed), (1, 2))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn training_moves_the_loss() {
    let ds = small_synthetic();
    let a = quick(4).fit(ds.x.view(), ds.y.view()).unwrap();
    let sa = a.decision_function(ds.x.view()).unwrap();
    assert_eq!(a.report.steps, 150);
    let l = &a.report.epoch_losses;
    assert_eq!(l.len(), 3);
    // Every triplet is inside the margin of 1000 (the representations start small), so the
    // loss is just below 1000; Adadelta at lr 0.001 moves slowly, so over three epochs the
    // sampling noise hides any trend, but the weights do move: fewer epochs, other scores.
    assert!(
        l.iter().all(|v| v.is_some_and(|v| v > 900.0 && v < 1000.0)),
        "{l:?}"
    );
    let mut one = quick(4);
    one.method.set_epochs(1).unwrap();
    let d = one.fit(ds.x.view(), ds.y.view()).unwrap();
    assert_ne!(bits(&sa), bits(&d.decision_function(ds.x.view()).unwrap()));
}

/// 20 of the authors' 1000 epochs on one MVTec file (under a second): clearly better than
/// chance. The full setting measured 0.977 AUCROC (seed 0); the paper's MVTec mean over 15
/// classes is 0.769, so the bound is loose.
#[test]
#[ignore = "needs ../shared/data (run by scripts/test.sh when it exists)"]
fn repen_beats_chance_on_mvtec_bottle_needs_shared_data() {
    let mut fit = FitParams::new(MethodKind::Repen);
    fit.method.set_epochs(20).unwrap();
    let auc = common::mvtec_bottle_aucroc(fit);
    eprintln!("REPEN (20 epochs) MVTec-AD_bottle AUCROC {auc:.3}");
    assert!(auc > 0.7, "{auc}");
}
