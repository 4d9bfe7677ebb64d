//! Optimisers and schedules against hand-computed numbers (reference values computed in
//! f64 from the documented update rules), and state save/load.

use anoonly::nn::{
    Activation, Adam, AdamConvention, BatchNorm1d, Init, LayerNorm, Linear, LrSchedule, Matrix,
    Mode, Module, NamedTensor, Optimizer, RmsProp, RmsPropConvention, Sequential, Sgd, StateError,
};
use anoonly::rng::Rng;
use ndarray::{array, Array2};
use rand::{Rng as _, SeedableRng};

/// A single scalar weight `w` (1×1 linear, no bias).
fn scalar(w: f32) -> Linear {
    Linear::from_weights(array![[w]], None)
}

/// Runs `opt` with the given gradient sequence, returning the weight after each step.
fn run(opt: &mut dyn Optimizer, w0: f32, grads: &[f32], lr: f32) -> Vec<f32> {
    let mut l = scalar(w0);
    grads
        .iter()
        .map(|&g| {
            l.grad_weight[[0, 0]] = g;
            opt.step(&mut l, lr);
            l.weight[[0, 0]]
        })
        .collect()
}

fn close(got: &[f32], want: &[f64]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!(
            (f64::from(*g) - w).abs() < 2e-6,
            "got {got:?}, want {want:?}"
        );
    }
}

#[test]
fn nn_adam_torch_two_steps() {
    let mut o = Adam::torch(0.0);
    assert_eq!(o.convention, AdamConvention::Torch);
    close(
        &run(&mut o, 1.0, &[0.5, 0.25], 0.1),
        &[0.900000002, 0.8067820404774624],
    );
}

#[test]
fn nn_adam_torch_weight_decay_moves_weights_without_gradient() {
    let mut o = Adam::torch(0.1);
    close(
        &run(&mut o, 1.0, &[0.0, 0.0], 0.1),
        &[0.900000009999999, 0.8004122480821506],
    );
}

#[test]
fn nn_adam_keras_two_steps() {
    let mut o = Adam::keras();
    assert_eq!((o.convention, o.eps), (AdamConvention::Keras, 1e-7));
    close(
        &run(&mut o, 1.0, &[0.5, 0.25], 0.1),
        &[0.9000006324515321, 0.8067831960988964],
    );
}

#[test]
fn nn_rmsprop_torch_two_steps_and_weight_decay() {
    let mut o = RmsProp::torch(0.0);
    assert_eq!(o.convention, RmsPropConvention::Torch);
    close(
        &run(&mut o, 1.0, &[0.5, 0.25], 0.01),
        &[0.900000019999996, 0.855098702557817],
    );
    let mut o = RmsProp::torch(0.1);
    close(&run(&mut o, 1.0, &[0.0], 0.01), &[0.9000000999999]);
}

/// torch SGD: `g + wd·w`, `buf = momentum·buf + g`, `w −= lr·buf` (ADSD: momentum 0.7,
/// weight decay 1e-2; GANomaly: no decay).
#[test]
fn nn_sgd_torch_momentum_and_weight_decay() {
    let mut o = Sgd::torch(0.7);
    assert_eq!(o.weight_decay, 0.0);
    close(&run(&mut o, 1.0, &[0.5, 0.25], 0.1), &[0.95, 0.89]);
    // 1: g = 0.5 + 0.1 = 0.6, w = 0.94; 2: g = 0.25 + 0.094, buf = 0.42 + 0.344 = 0.764.
    let mut o = Sgd::torch_with_decay(0.7, 0.1);
    close(&run(&mut o, 1.0, &[0.5, 0.25], 0.1), &[0.94, 0.8636]);
}

#[test]
fn nn_rmsprop_keras_two_steps() {
    let mut o = RmsProp::keras();
    assert_eq!(o.convention, RmsPropConvention::Keras);
    close(
        &run(&mut o, 1.0, &[0.5, 0.25], 0.01),
        &[0.9683772433983036, 0.9536330564784609],
    );
}

#[test]
fn nn_optimiser_state_is_per_parameter_and_deterministic() {
    // Two parameters (weight, bias) with different gradients keep separate moments, and two
    // identical runs give identical bits.
    let go = || {
        let mut l = Linear::from_weights(array![[1.0, -1.0]], Some(array![0.5]));
        let mut o = Adam::torch(1e-6);
        for k in 0..5 {
            l.grad_weight.fill(0.1 * k as f32);
            if let Some(b) = &mut l.grad_bias {
                b.fill(-1.0);
            }
            o.step(&mut l, 1e-3);
        }
        (l.weight, l.bias)
    };
    let (w1, b1) = go();
    let (w2, b2) = go();
    assert_eq!(w1, w2);
    assert_eq!(b1, b2);
    // bias had a constant gradient -1: Adam moves it by ~lr per step.
    let b = b1.expect("bias")[0];
    assert!((b - (0.5 + 5e-3)).abs() < 1e-5, "{b}");
}

#[test]
fn nn_schedules() {
    let s = LrSchedule::MultiStep {
        milestones: vec![0],
        gamma: 0.1,
    };
    assert_eq!(s.lr(1e-3, 0), 1e-4);
    assert_eq!(s.lr(1e-3, 26), 1e-4);
    let s = LrSchedule::Cosine {
        t_max: 50,
        eta_min: 1e-5,
    };
    assert_eq!(s.lr(1e-3, 0), 1e-3);
    assert!((s.lr(1e-3, 50) - 1e-5).abs() < 1e-12);
    assert!(s.lr(1e-3, 10) > s.lr(1e-3, 11));
}

fn net(rng: &mut Rng) -> Sequential {
    Sequential::new(vec![
        Linear::new(6, 8, true, Init::TorchDefault, rng).into(),
        BatchNorm1d::torch(8, 1e-5, true).into(),
        Activation::Relu.into(),
        Linear::new(8, 4, false, Init::GlorotUniform, rng).into(),
        BatchNorm1d::torch(4, 1e-4, false).into(),
        LayerNorm::new(4, 1e-5, true).into(),
        Linear::new(4, 1, true, Init::GlorotNormal, rng).into(),
    ])
}

#[test]
fn nn_state_names_follow_torch_sequential() {
    let mut rng = Rng::seed_from_u64(1);
    let n = net(&mut rng);
    let mut st = Vec::new();
    n.state("", &mut st);
    let names: Vec<&str> = st.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "0.weight",
            "0.bias",
            "1.weight",
            "1.bias",
            "1.running_mean",
            "1.running_var",
            "3.weight",
            "4.running_mean",
            "4.running_var",
            "5.weight",
            "5.bias",
            "6.weight",
            "6.bias"
        ]
    );
    assert_eq!(st[0].shape, vec![8, 6]);
    let mut st = Vec::new();
    n.state("net.", &mut st);
    assert_eq!(st[0].name, "net.0.weight");
}

#[test]
fn nn_state_round_trip_is_bit_identical() {
    let mut rng = Rng::seed_from_u64(2);
    let mut a = net(&mut rng);
    // Train a little so running stats and parameters are not at their initial values.
    let mut opt = Adam::torch(0.0);
    for _ in 0..3 {
        let x = Matrix::from_shape_simple_fn((10, 6), || rng.gen_range(-1.0f32..1.0));
        a.zero_grad();
        let out = a.forward(&x, Mode::Train);
        a.backward(&out, false);
        opt.step(&mut a, 1e-2);
    }
    let mut st = Vec::new();
    a.state("", &mut st);
    let mut b = net(&mut Rng::seed_from_u64(99));
    b.load_state("", &st).expect("load");
    let mut st2 = Vec::new();
    b.state("", &mut st2);
    assert_eq!(st.len(), st2.len());
    for (p, q) in st.iter().zip(&st2) {
        assert_eq!(p.name, q.name);
        assert_eq!(p.shape, q.shape);
        let pb: Vec<u32> = p.data.iter().map(|v| v.to_bits()).collect();
        let qb: Vec<u32> = q.data.iter().map(|v| v.to_bits()).collect();
        assert_eq!(pb, qb, "{}", p.name);
    }
    let x = Matrix::from_elem((5, 6), 0.3);
    let ya = a.forward(&x, Mode::Eval);
    let yb = b.forward(&x, Mode::Eval);
    assert_eq!(
        ya.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        yb.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
}

#[test]
fn nn_load_state_errors() {
    let mut rng = Rng::seed_from_u64(3);
    let mut n = net(&mut rng);
    let mut st = Vec::new();
    n.state("", &mut st);
    let before = st.clone();

    let mut bad = st.clone();
    bad[0] = NamedTensor {
        name: "0.weight".into(),
        shape: vec![6, 8],
        data: vec![0.0; 48],
    };
    match n.load_state("", &bad) {
        Err(StateError::Shape {
            name,
            expected,
            found,
        }) => {
            assert_eq!(name, "0.weight");
            assert_eq!(expected, vec![8, 6]);
            assert_eq!(found, vec![6, 8]);
        }
        other => panic!("expected a shape error, got {other:?}"),
    }
    // data length disagreeing with the declared shape
    let mut bad = st.clone();
    bad[1].data.pop();
    assert!(matches!(
        n.load_state("", &bad),
        Err(StateError::Shape { .. })
    ));
    let mut bad = st.clone();
    bad[4].data[0] = f32::NAN;
    assert!(matches!(
        n.load_state("", &bad),
        Err(StateError::NonFinite(_))
    ));
    let bad: Vec<NamedTensor> = st
        .iter()
        .filter(|t| t.name != "4.running_var")
        .cloned()
        .collect();
    assert!(matches!(n.load_state("", &bad), Err(StateError::Missing(m)) if m == "4.running_var"));

    // A failed load leaves the net unchanged (all or nothing).
    let mut bad = st.clone();
    bad[0].data.fill(7.0);
    bad.retain(|t| t.name != "6.bias");
    assert!(n.load_state("", &bad).is_err());
    st.clear();
    n.state("", &mut st);
    assert_eq!(st, before);
}

#[test]
fn nn_clone_is_an_independent_checkpoint() {
    let mut rng = Rng::seed_from_u64(4);
    let mut a = net(&mut rng);
    let best = a.clone();
    let x = Matrix::from_elem((4, 6), 1.0);
    a.forward(&x, Mode::Train);
    a.visit_params(&mut |p| p.value.iter_mut().for_each(|v| *v += 1.0));
    let mut s1 = Vec::new();
    let mut s2 = Vec::new();
    a.state("", &mut s1);
    best.state("", &mut s2);
    assert_ne!(s1, s2);
    // The clone carries no cached forward.
    let mut best = best;
    best.clear_cache();
    let _: Array2<f32> = best.forward(&x, Mode::Eval);
}

/// `clip_grad_norm` against torch's rule on hand numbers: two parameters with gradients
/// (3, 0) and (4) have total norm 5; `max_norm = 1` scales them by 1 / (5 + 1e-6); a total
/// below `max_norm` leaves every bit alone.
#[test]
fn clip_grad_norm_scales_by_the_total_norm() {
    let mut l = Linear::from_weights(array![[1.0f32, 2.0]], Some(array![0.5f32]));
    l.grad_weight = array![[3.0f32, 0.0]];
    l.grad_bias = Some(array![4.0f32]);
    let total = anoonly::nn::clip_grad_norm(&mut l, 1.0);
    assert_eq!(total, 5.0);
    let k = 1.0f32 / (5.0 + 1e-6);
    assert_eq!(l.grad_weight, array![[3.0 * k, 0.0]]);
    assert_eq!(l.grad_bias, Some(array![4.0 * k]));
    // Below the bound: unchanged, bit for bit.
    let before = l.grad_weight.clone();
    let total = anoonly::nn::clip_grad_norm(&mut l, 10.0);
    assert!((total - 1.0).abs() < 1e-6, "{total}");
    assert_eq!(l.grad_weight, before);
}
