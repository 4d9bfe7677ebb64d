//! Finite-difference checks of every backward pass: central differences in f32 (step 1e-3)
//! on a loss accumulated in f64, `L = Σ r ⊙ out²` with a fixed random `r`, compared with the
//! analytic gradients. Errors are judged relative to the gradient's largest entry (max-norm)
//! and by the relative L2 error, both < 1e-2.

use anoonly::nn::{
    Activation, ActivationLayer, BatchNorm1d, Init, Layer, LayerNorm, Linear, Matrix, Mode, Module,
    Sequential,
};
use anoonly::rng::Rng;
use ndarray::Array1;
use rand::{Rng as _, SeedableRng};

const STEP: f32 = 1e-3;
const TOL: f64 = 1e-2;

fn rand_mat(rows: usize, cols: usize, scale: f32, rng: &mut Rng) -> Matrix {
    Matrix::from_shape_simple_fn((rows, cols), || rng.gen_range(-1.0f32..1.0) * scale)
}

/// Values in ±[0.05, 1]: away from the kink of (leaky) ReLU.
fn rand_away_from_zero(rows: usize, cols: usize, rng: &mut Rng) -> Matrix {
    Matrix::from_shape_simple_fn((rows, cols), || {
        let m = rng.gen_range(0.05f32..1.0);
        if rng.gen_bool(0.5) {
            m
        } else {
            -m
        }
    })
}

fn loss(out: &Matrix, r: &Matrix) -> f64 {
    out.iter()
        .zip(r.iter())
        .map(|(&o, &w)| f64::from(w) * f64::from(o) * f64::from(o))
        .sum()
}

fn dloss(out: &Matrix, r: &Matrix) -> Matrix {
    out * r * 2.0
}

fn compare(what: &str, analytic: &[f32], numeric: &[f64]) {
    assert_eq!(analytic.len(), numeric.len(), "{what}: length");
    let scale = numeric.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if scale < 1e-3 {
        // A truly zero gradient (a bias followed by batch norm): the numeric one is f32
        // noise, so check both are zero to that precision instead of a ratio of noise.
        let amax = analytic.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(
            amax < 1e-5,
            "{what}: analytic {amax:.2e} where numeric is ~0"
        );
        return;
    }
    let (mut max_err, mut d2, mut n2) = (0.0f64, 0.0f64, 0.0f64);
    for (&a, &n) in analytic.iter().zip(numeric) {
        let d = f64::from(a) - n;
        max_err = max_err.max(d.abs());
        d2 += d * d;
        n2 += n * n;
    }
    let rel_max = max_err / scale;
    let rel_l2 = (d2 / n2).sqrt();
    assert!(
        rel_max < TOL && rel_l2 < TOL,
        "{what}: max-norm rel err {rel_max:.2e}, L2 rel err {rel_l2:.2e}"
    );
}

fn param_count(m: &mut dyn Module) -> Vec<usize> {
    let mut lens = Vec::new();
    m.visit_params(&mut |p| lens.push(p.value.len()));
    lens
}

fn nudge_param(m: &mut dyn Module, k: usize, j: usize, delta: f32) {
    let mut i = 0;
    m.visit_params(&mut |p| {
        if i == k {
            p.value[j] += delta;
        }
        i += 1;
    });
}

fn analytic_param_grads(m: &mut dyn Module) -> Vec<Vec<f32>> {
    let mut g = Vec::new();
    m.visit_params(&mut |p| g.push(p.grad.to_vec()));
    g
}

/// A loss over one or more forwards of the same module (stack semantics).
fn eval_loss(m: &mut dyn Module, xs: &[Matrix], rs: &[Matrix]) -> f64 {
    let l = xs
        .iter()
        .zip(rs)
        .map(|(x, r)| loss(&m.forward(x, Mode::Train), r))
        .sum();
    m.clear_cache();
    l
}

/// Checks input and parameter gradients of `m` for a loss summed over forwards of each of
/// `xs` (forwarded in order, back-propagated in reverse order).
fn check(name: &str, m: &mut dyn Module, xs: &[Matrix], rng: &mut Rng) {
    m.zero_grad();
    let outs: Vec<Matrix> = xs.iter().map(|x| m.forward(x, Mode::Train)).collect();
    let rs: Vec<Matrix> = outs
        .iter()
        .map(|o| rand_mat(o.nrows(), o.ncols(), 1.0, rng))
        .collect();
    let mut dxs: Vec<Matrix> = Vec::new();
    for (o, r) in outs.iter().zip(&rs).rev() {
        dxs.push(m.backward(&dloss(o, r), true).expect("input grad"));
    }
    dxs.reverse();
    let pg = analytic_param_grads(m);

    for (s, x) in xs.iter().enumerate() {
        let mut num = Vec::with_capacity(x.len());
        for idx in 0..x.len() {
            let mut xs_p = xs.to_vec();
            xs_p[s].as_slice_mut().expect("std layout")[idx] += STEP;
            let lp = eval_loss(m, &xs_p, &rs);
            xs_p[s].as_slice_mut().expect("std layout")[idx] -= 2.0 * STEP;
            let lm = eval_loss(m, &xs_p, &rs);
            num.push((lp - lm) / (2.0 * f64::from(STEP)));
        }
        compare(
            &format!("{name}: input {s}"),
            dxs[s].as_slice().expect("std layout"),
            &num,
        );
    }
    for (k, len) in param_count(m).into_iter().enumerate() {
        let mut num = Vec::with_capacity(len);
        for j in 0..len {
            nudge_param(m, k, j, STEP);
            let lp = eval_loss(m, xs, &rs);
            nudge_param(m, k, j, -2.0 * STEP);
            let lm = eval_loss(m, xs, &rs);
            nudge_param(m, k, j, STEP);
            num.push((lp - lm) / (2.0 * f64::from(STEP)));
        }
        compare(&format!("{name}: param {k}"), &pg[k], &num);
    }
}

fn randomise_affine(
    bn_gamma: &mut Option<Array1<f32>>,
    bn_beta: &mut Option<Array1<f32>>,
    rng: &mut Rng,
) {
    if let Some(g) = bn_gamma {
        g.mapv_inplace(|_| rng.gen_range(0.5f32..1.5));
    }
    if let Some(b) = bn_beta {
        b.mapv_inplace(|_| rng.gen_range(-0.5f32..0.5));
    }
}

#[test]
fn nn_linear_grads() {
    let mut rng = Rng::seed_from_u64(1);
    let mut l = Linear::new(5, 4, true, Init::TorchDefault, &mut rng);
    let x = rand_mat(6, 5, 1.0, &mut rng);
    check("linear", &mut l, std::slice::from_ref(&x), &mut rng);
    let mut l = Linear::new(5, 3, false, Init::GlorotNormal, &mut rng);
    check("linear no bias", &mut l, &[x], &mut rng);
}

#[test]
fn nn_linear_skips_input_grad_with_same_param_grads() {
    let mut rng = Rng::seed_from_u64(2);
    let mut a = Linear::new(5, 4, true, Init::GlorotUniform, &mut rng);
    let mut b = a.clone();
    let x = rand_mat(6, 5, 1.0, &mut rng);
    let g = rand_mat(6, 4, 1.0, &mut rng);
    a.forward(&x, Mode::Train);
    b.forward(&x, Mode::Train);
    assert!(a.backward(&g, false).is_none());
    assert!(b.backward(&g, true).is_some());
    assert_eq!(a.grad_weight, b.grad_weight);
    assert_eq!(a.grad_bias, b.grad_bias);
}

fn bn_input(rng: &mut Rng) -> Matrix {
    // Columns of different location and scale.
    let mut x = rand_mat(7, 4, 1.0, rng);
    for (j, mut col) in x.columns_mut().into_iter().enumerate() {
        col.mapv_inplace(|v| v * (1.0 + j as f32) + j as f32 - 1.5);
    }
    x
}

#[test]
fn nn_batchnorm_grads_torch_and_keras_affine_and_not() {
    let mut rng = Rng::seed_from_u64(3);
    for (name, mut bn) in [
        ("torch affine", BatchNorm1d::torch(4, 1e-5, true)),
        ("torch non-affine", BatchNorm1d::torch(4, 1e-4, false)),
        ("keras affine", BatchNorm1d::keras(4)),
        ("keras non-affine", {
            let mut b = BatchNorm1d::keras(4);
            b.gamma = None;
            b.beta = None;
            b
        }),
    ] {
        randomise_affine(&mut bn.gamma, &mut bn.beta, &mut rng);
        let x = bn_input(&mut rng);
        check(name, &mut bn, &[x], &mut rng);
    }
}

#[test]
fn nn_batchnorm_forwarded_twice_accumulates() {
    let mut rng = Rng::seed_from_u64(4);
    let mut bn = BatchNorm1d::torch(4, 1e-5, true);
    randomise_affine(&mut bn.gamma, &mut bn.beta, &mut rng);
    let x1 = bn_input(&mut rng);
    let x2 = rand_mat(5, 4, 2.0, &mut rng);
    check("bn twice", &mut bn, &[x1.clone(), x2.clone()], &mut rng);

    // The accumulated gradient is the sum of the two single-forward gradients.
    let r1 = rand_mat(7, 4, 1.0, &mut rng);
    let r2 = rand_mat(5, 4, 1.0, &mut rng);
    let single = |x: &Matrix, r: &Matrix, bn: &BatchNorm1d| {
        let mut b = bn.clone();
        b.zero_grad();
        let o = b.forward(x, Mode::Train);
        b.backward(&dloss(&o, r), false);
        (b.grad_gamma.expect("affine"), b.grad_beta.expect("affine"))
    };
    let (g1, b1) = single(&x1, &r1, &bn);
    let (g2, b2) = single(&x2, &r2, &bn);
    bn.zero_grad();
    let o1 = bn.forward(&x1, Mode::Train);
    let o2 = bn.forward(&x2, Mode::Train);
    bn.backward(&dloss(&o2, &r2), true);
    bn.backward(&dloss(&o1, &r1), true);
    let gg = bn.grad_gamma.clone().expect("affine");
    let gb = bn.grad_beta.clone().expect("affine");
    assert!((&gg - &(g1 + g2)).iter().all(|d| d.abs() < 1e-5));
    assert!((&gb - &(b1 + b2)).iter().all(|d| d.abs() < 1e-5));
}

#[test]
fn nn_layernorm_grads() {
    let mut rng = Rng::seed_from_u64(5);
    for affine in [true, false] {
        let mut ln = LayerNorm::new(6, 1e-5, affine);
        randomise_affine(&mut ln.gamma, &mut ln.beta, &mut rng);
        let x = rand_mat(4, 6, 2.0, &mut rng);
        check(
            &format!("layernorm affine={affine}"),
            &mut ln,
            &[x],
            &mut rng,
        );
    }
}

#[test]
fn nn_activation_grads() {
    let mut rng = Rng::seed_from_u64(6);
    for a in [
        Activation::Relu,
        Activation::LeakyRelu(0.01),
        Activation::LeakyRelu(0.2),
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Selu,
    ] {
        let mut l = ActivationLayer::new(a);
        let x = rand_away_from_zero(5, 4, &mut rng);
        check(&format!("{a:?}"), &mut l, &[x], &mut rng);
    }
}

fn deepsad_like(affine: bool, rng: &mut Rng) -> Sequential {
    let mut bn1 = BatchNorm1d::torch(8, 1e-4, affine);
    let mut bn2 = BatchNorm1d::torch(5, 1e-4, affine);
    randomise_affine(&mut bn1.gamma, &mut bn1.beta, rng);
    randomise_affine(&mut bn2.gamma, &mut bn2.beta, rng);
    Sequential::new(vec![
        Linear::new(6, 8, affine, Init::TorchDefault, rng).into(),
        bn1.into(),
        Activation::LeakyRelu(0.01).into(),
        Linear::new(8, 5, affine, Init::TorchDefault, rng).into(),
        bn2.into(),
        Activation::LeakyRelu(0.01).into(),
        Linear::new(5, 3, affine, Init::TorchDefault, rng).into(),
    ])
}

/// Smallest |input| of any activation layer for this batch (train mode, caches dropped).
fn min_pre_activation(net: &mut Sequential, x: &Matrix) -> f32 {
    let mut h = x.clone();
    let mut min = f32::INFINITY;
    for l in &mut net.layers {
        if matches!(l, Layer::Act(_)) {
            min = h.iter().fold(min, |m, v| m.min(v.abs()));
        }
        h = l.forward(&h, Mode::Train);
    }
    net.clear_cache();
    min
}

#[test]
fn nn_sequential_grads() {
    let mut rng = Rng::seed_from_u64(7);
    for affine in [false, true] {
        let mut net = deepsad_like(affine, &mut rng);
        // A finite difference across the LeakyReLU kink is not a derivative: draw batches
        // until every pre-activation is at least 0.05 away from 0 (perturbations of 1e-3
        // move them by far less).
        let x = loop {
            let x = rand_mat(9, 6, 1.0, &mut rng);
            if min_pre_activation(&mut net, &x) > 0.05 {
                break x;
            }
        };
        check(
            &format!("sequential affine={affine}"),
            &mut net,
            &[x],
            &mut rng,
        );
    }
}

#[test]
fn nn_sequential_forwarded_twice() {
    // PReNet's shared branch: Linear → ReLU → BN, run on two halves before the backward.
    let mut rng = Rng::seed_from_u64(8);
    let mut bn = BatchNorm1d::torch(5, 1e-5, true);
    randomise_affine(&mut bn.gamma, &mut bn.beta, &mut rng);
    let mut net = Sequential::new(vec![
        Linear::new(4, 5, true, Init::TorchDefault, &mut rng).into(),
        Layer::Act(ActivationLayer::new(Activation::Tanh)),
        bn.into(),
    ]);
    let x1 = rand_mat(6, 4, 1.0, &mut rng);
    let x2 = rand_mat(6, 4, 1.0, &mut rng);
    check("sequential twice", &mut net, &[x1, x2], &mut rng);
}

#[test]
fn nn_sequential_first_layer_input_grad_optional() {
    let mut rng = Rng::seed_from_u64(9);
    let mut net = deepsad_like(true, &mut rng);
    let x = rand_mat(9, 6, 1.0, &mut rng);
    let out = net.forward(&x, Mode::Train);
    assert!(net.backward(&out, false).is_none());
    net.forward(&x, Mode::Train);
    assert_eq!(net.backward(&out, true).map(|g| g.dim()), Some((9, 6)));
}
