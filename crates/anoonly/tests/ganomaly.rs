//! GANomaly through the public API and its pieces by hand: torch SGD with momentum, the
//! discriminator's and the generator's losses (values and finite differences), batching, its
//! training on unlabeled rows only, and real data (determinism, model files and the baseline's
//! AnoOnly refusal: tests/conformance.rs).

mod common;

use common::{bits, small_synthetic};

use anoonly::methods::ganomaly::{
    discriminator_loss, generator_loss, latent_width, ordered_batches, GeneratorOutput,
};
use anoonly::methods::{FitError, FitParams, MethodKind};
use anoonly::nn::{Linear, Matrix, Module, Optimizer, Sgd};
use ndarray::array;

fn quick(seed: u64) -> FitParams {
    let mut p = FitParams::new(MethodKind::Ganomaly).seed(seed);
    p.method.set_epochs(3).unwrap();
    p
}

#[test]
fn sgd_momentum_follows_torch_by_hand() {
    let mut l = Linear::from_weights(array![[1.0f32, -2.0]], Some(array![0.5f32]));
    let mut opt = Sgd::torch(0.7);
    let mut expect = [(0.999f32, -2.002f32, 0.497f32), (0.9973, -2.0054, 0.4919)];
    for want in &mut expect {
        l.grad_weight = array![[0.1f32, 0.2]];
        l.grad_bias = Some(array![0.3f32]);
        opt.step(&mut l, 0.01);
        // step 1: buf = g; step 2: buf = 0.7 g + g = 1.7 g; w -= 0.01 buf.
        assert!((l.weight[[0, 0]] - want.0).abs() < 1e-6, "{}", l.weight);
        assert!((l.weight[[0, 1]] - want.1).abs() < 1e-6, "{}", l.weight);
        assert!((l.bias.as_ref().unwrap()[0] - want.2).abs() < 1e-6);
    }
    l.zero_grad();
}

#[test]
fn discriminator_loss_by_hand_and_by_finite_differences() {
    let pr = array![0.2f32, 0.5];
    let pf = array![0.8f32, 0.4];
    let (v, gr, gf) = discriminator_loss(pr.view(), pf.view());
    // BCE(real, 0) = -(ln .8 + ln .5)/2 = 0.458145; BCE(fake, 1) = -(ln .8 + ln .4)/2 = 0.569717.
    assert!((v - 0.513_931).abs() < 1e-5, "{v}");
    // d/dp of -ln(1-p)/4 = 1/(4(1-p)); of -ln(p)/4 = -1/(4p).
    assert!(
        (gr[0] - 0.3125).abs() < 1e-6 && (gr[1] - 0.5).abs() < 1e-6,
        "{gr}"
    );
    assert!(
        (gf[0] + 0.3125).abs() < 1e-6 && (gf[1] + 0.625).abs() < 1e-6,
        "{gf}"
    );
    let h = 1e-3f32;
    for i in 0..2 {
        let at = |dr: f32, df: f32| {
            let mut a = pr.clone();
            let mut b = pf.clone();
            a[i] += dr;
            b[i] += df;
            discriminator_loss(a.view(), b.view()).0
        };
        let fr = (at(h, 0.0) - at(-h, 0.0)) / (2.0 * h);
        let ff = (at(0.0, h) - at(0.0, -h)) / (2.0 * h);
        assert!((fr - gr[i]).abs() < 1e-3, "{fr} vs {}", gr[i]);
        assert!((ff - gf[i]).abs() < 1e-3, "{ff} vs {}", gf[i]);
    }
}

fn gen_value(x: &Matrix, g: &GeneratorOutput, fr: &Matrix, ff: &Matrix) -> f32 {
    generator_loss(x, g, fr, ff).value
}

#[test]
fn generator_loss_by_hand_and_by_finite_differences() {
    let x = array![[1.0f32, 2.0], [0.0, -1.0]];
    let g = GeneratorOutput {
        z: array![[0.1f32], [0.3]],
        x_hat: array![[0.5f32, 3.0], [0.2, -1.5]],
        z_hat: array![[0.4f32], [-0.2]],
    };
    let fr = array![[0.0f32, 1.0], [0.5, 0.5]];
    let ff = array![[0.5f32, 0.5], [0.5, 0.1]];
    let l = generator_loss(&x, &g, &fr, &ff);
    // MSE = (.25 + .25 + 0 + .16)/4 = 0.165; L1(x, x̂) = (.5 + 1 + .2 + .5)/4 = 0.55;
    // L1(z, ẑ) = (.3 + .5)/2 = 0.4; total (0.165 + 0.55 + 0.4)/3.
    assert!((l.value - 1.115 / 3.0).abs() < 1e-6, "{}", l.value);
    let h = 1e-3f32;
    let check = |name: &str, grad: &Matrix, perturb: &dyn Fn(usize, f32) -> f32| {
        for (i, &a) in grad.iter().enumerate() {
            let fd = (perturb(i, h) - perturb(i, -h)) / (2.0 * h);
            assert!((fd - a).abs() < 2e-3, "{name}[{i}]: fd {fd} vs {a}");
        }
    };
    check("x_hat", &l.d_x_hat, &|i, d| {
        // The contextual term only: hold f(x̂) and ẑ fixed.
        let mut g2 = GeneratorOutput {
            z: g.z.clone(),
            x_hat: g.x_hat.clone(),
            z_hat: g.z_hat.clone(),
        };
        g2.x_hat.as_slice_mut().unwrap()[i] += d;
        gen_value(&x, &g2, &fr, &ff)
    });
    check("z", &l.d_z, &|i, d| {
        let mut z = g.z.clone();
        z.as_slice_mut().unwrap()[i] += d;
        let g2 = GeneratorOutput {
            z,
            x_hat: g.x_hat.clone(),
            z_hat: g.z_hat.clone(),
        };
        gen_value(&x, &g2, &fr, &ff)
    });
    check("z_hat", &l.d_z_hat, &|i, d| {
        let mut zh = g.z_hat.clone();
        zh.as_slice_mut().unwrap()[i] += d;
        let g2 = GeneratorOutput {
            z: g.z.clone(),
            x_hat: g.x_hat.clone(),
            z_hat: zh,
        };
        gen_value(&x, &g2, &fr, &ff)
    });
    check("f_fake", &l.d_f_fake, &|i, d| {
        let mut f = ff.clone();
        f.as_slice_mut().unwrap()[i] += d;
        gen_value(&x, &g, &fr, &f)
    });
}

#[test]
fn latent_width_and_batches_follow_adbench() {
    assert_eq!(latent_width(512), 128);
    assert_eq!(latent_width(768), 192);
    assert_eq!(latent_width(8), 2);
    assert_eq!(latent_width(7), 3);
    assert_eq!(latent_width(1), 0);
    assert_eq!(ordered_batches(130, 64), vec![0..64, 64..128]);
    assert_eq!(ordered_batches(10, 64), vec![0..10]);
}

#[test]
fn one_feature_is_a_clear_error() {
    let x = ndarray::Array2::from_shape_fn((20, 1), |(i, _)| i as f32);
    let mut y = ndarray::Array1::zeros(20);
    y[3] = 1;
    match quick(0).fit(x.view(), y.view()) {
        Err(FitError::Param(e)) => assert_eq!(e.field, "n_features"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn labeled_anomalies_are_ignored() {
    let ds = small_synthetic();
    let sa = quick(4)
        .fit(ds.x.view(), ds.y.view())
        .unwrap()
        .decision_function(ds.x.view())
        .unwrap();
    // Training sees the unlabeled rows in file order only: moving the labeled anomalies
    // to the end changes nothing.
    let normal: Vec<usize> = (0..ds.y.len()).filter(|&i| ds.y[i] == 0).collect();
    let anom: Vec<usize> = (0..ds.y.len()).filter(|&i| ds.y[i] == 1).collect();
    assert!(!anom.is_empty() && anom.iter().any(|&i| i < normal[normal.len() - 1]));
    let order: Vec<usize> = normal.iter().chain(&anom).copied().collect();
    let x2 = ds.x.select(ndarray::Axis(0), &order);
    let y2 = ds.y.select(ndarray::Axis(0), &order);
    let d = quick(4).fit(x2.view(), y2.view()).unwrap();
    assert_eq!(bits(&sa), bits(&d.decision_function(ds.x.view()).unwrap()));
}

/// The authors' setting (50 epochs) on one MVTec file: clearly better than chance. We
/// measured 0.98 AUCROC (seed 0); the paper's MVTec mean over 15 classes is 0.76, so the
/// bound is loose.
#[test]
#[ignore = "needs ../shared/data (run by scripts/test.sh when it exists)"]
fn ganomaly_beats_chance_on_mvtec_bottle_needs_shared_data() {
    let auc = common::mvtec_bottle_aucroc(FitParams::new(MethodKind::Ganomaly));
    eprintln!("GANomaly MVTec-AD_bottle AUCROC {auc:.3}");
    assert!(auc > 0.7, "{auc}");
}
