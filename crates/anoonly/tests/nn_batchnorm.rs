//! Batch-norm semantics: running statistics per convention, eval mode, batch of one.

use anoonly::nn::{BatchNorm1d, BnConvention, Matrix, Mode, Module};
use ndarray::array;

fn x() -> Matrix {
    array![[1.0, -2.0], [3.0, 0.0], [8.0, 5.0], [0.0, 1.0]]
}

#[test]
fn nn_torch_running_stats_after_one_step() {
    let mut bn = BatchNorm1d::torch(2, 1e-5, false);
    assert_eq!((bn.convention, bn.momentum), (BnConvention::Torch, 0.1));
    bn.forward(&x(), Mode::Train);
    // col 0: mean 3, Σ(x−μ)² = 4+0+25+9 = 38, unbiased 38/3; col 1: mean 1, Σ = 9+1+16+0 = 26.
    let want_mean = [0.3, 0.1];
    let want_var = [0.9 + 0.1 * 38.0 / 3.0, 0.9 + 0.1 * 26.0 / 3.0];
    for j in 0..2 {
        assert!((bn.running_mean[j] - want_mean[j]).abs() < 1e-6);
        assert!((bn.running_var[j] - want_var[j]).abs() < 1e-5);
    }
}

#[test]
fn nn_keras_running_stats_after_one_step() {
    let mut bn = BatchNorm1d::keras(2);
    assert_eq!(
        (bn.convention, bn.momentum, bn.eps),
        (BnConvention::Keras, 0.99, 1e-3)
    );
    bn.forward(&x(), Mode::Train);
    let want_mean = [0.03, 0.01];
    let want_var = [0.99 + 0.01 * 38.0 / 4.0, 0.99 + 0.01 * 26.0 / 4.0];
    for j in 0..2 {
        assert!((bn.running_mean[j] - want_mean[j]).abs() < 1e-6);
        assert!((bn.running_var[j] - want_var[j]).abs() < 1e-6);
    }
}

#[test]
fn nn_eval_uses_running_stats_and_caches_nothing() {
    let mut bn = BatchNorm1d::torch(2, 0.0, true);
    bn.running_mean = array![1.0, -1.0];
    bn.running_var = array![4.0, 0.25];
    bn.gamma = Some(array![2.0, 1.0]);
    bn.beta = Some(array![0.5, 0.0]);
    let y = bn.forward(&array![[3.0, 0.0], [1.0, -1.0]], Mode::Eval);
    assert_eq!(y, array![[2.5, 2.0], [0.5, 0.0]]);
    // Running stats unchanged by eval.
    assert_eq!(bn.running_mean, array![1.0, -1.0]);
    // Train output for the same batch differs (batch statistics).
    let yt = bn.forward(&array![[3.0, 0.0], [1.0, -1.0]], Mode::Train);
    assert_ne!(y, yt);
}

#[test]
fn nn_batch_of_one_is_finite() {
    for mut bn in [
        BatchNorm1d::torch(3, 1e-4, false),
        BatchNorm1d::torch(3, 1e-5, true),
        BatchNorm1d::keras(3),
    ] {
        let y = bn.forward(&array![[1.0, 2.0, 3.0]], Mode::Train);
        assert!(y.iter().all(|v| v.is_finite() && *v == 0.0));
        let g = bn.backward(&array![[1.0, -1.0, 2.0]], true).expect("dx");
        assert!(g.iter().all(|v| v.is_finite()));
        assert!(bn.running_var.iter().all(|v| v.is_finite()));
        let e = bn.forward(&array![[1.0, 2.0, 3.0]], Mode::Eval);
        assert!(e.iter().all(|v| v.is_finite()));
    }
}
