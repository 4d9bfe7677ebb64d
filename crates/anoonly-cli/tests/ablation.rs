//! The paper's ablation switches (issue 5): `--norm` including BN† (`bn-loss`), `lambda_n`,
//! the normal ratio and the batch size, through the library types a grid cell sets.

mod common;

use anoonly::data::synthetic;
use anoonly::experiment::{evaluate_once, EvalConfig};
use anoonly::methods::{FitParams, MethodKind, Model};
use anoonly::model_file;
use anoonly::nn::{BnLoss, Init, Linear, Matrix, Mode, Module, Sequential};
use anoonly::protocol::{split, SplitParams};
use anoonly::rng::component_rng;
use anoonly::train::NormKind;
use anoonly::train::Silent;
use ndarray::Array2;
use rand::Rng as _;

fn small() -> anoonly::Dataset {
    synthetic::generate(&synthetic::SyntheticParams {
        n_normal: 300,
        n_anomaly: 40,
        dim: 8,
        seed: 11,
    })
}

/// Short fits: few epochs (and, for FEAWAD, a short pretraining on small batches).
fn quick(kind: MethodKind, seed: u64) -> FitParams {
    let mut p = FitParams::new(kind).seed(seed);
    p.method.set_epochs(2).unwrap();
    if kind == MethodKind::Feawad {
        for (k, v) in [
            ("pretrain_epochs", "1"),
            ("steps_per_epoch", "3"),
            ("batch_size", "32"),
        ] {
            p.method.set(k, v).unwrap();
        }
    }
    if kind == MethodKind::PReNet {
        p.method.set("batch_size", "64").unwrap();
    }
    p
}

fn fit_scores(p: &FitParams) -> (Model, Vec<u32>) {
    let ds = small();
    let sp = split(ds.x.view(), ds.y.view(), &SplitParams::default(), 0).unwrap();
    let m = p.fit(sp.x_train.view(), sp.y_train.view()).unwrap();
    let s = m.decision_function(sp.x_test.view()).unwrap();
    assert!(s.iter().all(|v| v.is_finite()), "{:?}", p);
    (m, common::bits(&s))
}

/// `Linear → BnLoss(weight) → Linear`, the scalar `Σ out ⊙ r + weight · L_BN`: every
/// parameter's gradient from the net's backward pass against central differences in f64
/// of the forward, for a normal batch, a batch of two and a batch of one.
#[test]
fn bn_loss_gradient_matches_finite_differences() {
    for b in [6usize, 2, 1] {
        let mut rng = component_rng(b as u64, "fd");
        let x = Array2::from_shape_fn((b, 4), |_| rng.gen_range(-1.0f32..1.0));
        let r = Array2::from_shape_fn((b, 2), |_| rng.gen_range(-1.0f32..1.0));
        let mut net = Sequential::new(vec![
            Linear::new(4, 3, true, Init::TorchDefault, &mut rng).into(),
            BnLoss::new(3, 0.7).into(),
            Linear::new(3, 2, true, Init::TorchDefault, &mut rng).into(),
        ]);
        let objective = |net: &mut Sequential| -> f64 {
            let out = net.forward(&x, Mode::Train);
            let aux = net
                .take_aux_loss()
                .expect("the BN-dagger layer reports its loss");
            net.clear_cache();
            f64::from((&out * &r).sum()) + f64::from(aux)
        };
        net.zero_grad();
        let _ = net.forward(&x, Mode::Train);
        assert!(net.take_aux_loss().is_some());
        net.backward(&r, false);
        let mut analytic = Vec::new();
        net.visit_params(&mut |p| analytic.extend_from_slice(p.grad));
        let n_params = analytic.len();
        assert_eq!(n_params, 4 * 3 + 3 + 3 * 2 + 2);
        let h = 1e-2f32;
        for (k, &g) in analytic.iter().enumerate() {
            let shift = |net: &mut Sequential, d: f32| {
                let mut i = 0;
                net.visit_params(&mut |p| {
                    for v in p.value.iter_mut() {
                        if i == k {
                            *v += d;
                        }
                        i += 1;
                    }
                });
            };
            shift(&mut net, h);
            let plus = objective(&mut net);
            shift(&mut net, -2.0 * h);
            let minus = objective(&mut net);
            shift(&mut net, h);
            let fd = (plus - minus) / (2.0 * f64::from(h));
            let g = f64::from(g);
            assert!(
                (fd - g).abs() < 2e-2 * (1.0 + g.abs()),
                "b = {b}, parameter {k}: finite difference {fd}, backward {g}"
            );
        }
    }
}

/// The layer's input gradient is the incoming gradient plus `weight · dL_BN/dh`, and the
/// reported value is `weight · L_BN`.
#[test]
fn bn_loss_layer_adds_the_weighted_gradient_and_value() {
    let h = Matrix::from_shape_vec((3, 2), vec![0.5, -1.0, 2.0, 0.0, -0.5, 3.0]).unwrap();
    let (value, grad) = BnLoss::value_and_grad(&h);
    let mut layer = BnLoss::new(2, 0.25);
    assert_eq!(layer.forward(&h, Mode::Train), h);
    let aux = layer.take_aux_loss().unwrap();
    assert!((aux - 0.25 * value).abs() < 1e-6);
    let upstream = Matrix::from_elem((3, 2), 1.0);
    let g = layer.backward(&upstream, true).unwrap();
    let want = &upstream + &(&grad * 0.25);
    assert!(g.iter().zip(want.iter()).all(|(a, b)| (a - b).abs() < 1e-6));
}

/// `lambda_n = 1` is the vanilla method and `lambda_n = 0` is AnoOnly, bit for bit, for
/// every method. Without `--anoonly`, `lambda_n = 0` keeps the method's own architecture,
/// so for the methods without a BatchNorm of their own it equals AnoOnly only together with
/// `norm = bn` (AnoOnly's layer).
#[test]
fn lambda_n_one_is_vanilla_and_zero_is_anoonly_for_every_method() {
    // Baselines have no AnoOnly variant (their fit refuses --anoonly, lambda_n and --norm).
    for &kind in MethodKind::ALL.iter().filter(|k| k.supports_anoonly()) {
        let vanilla = quick(kind, 3);
        let anoonly = quick(kind, 3).anoonly(true);
        let mut one = quick(kind, 3);
        one.train.lambda_n = Some(1.0);
        let mut zero = quick(kind, 3);
        zero.train.lambda_n = Some(0.0);
        // A method without a normalisation of its own gets AnoOnly's layer from `--anoonly`.
        if kind.own_norm() == NormKind::None {
            zero.train.norm = Some(NormKind::Bn);
        }
        let (_, s_vanilla) = fit_scores(&vanilla);
        let (_, s_anoonly) = fit_scores(&anoonly);
        assert_ne!(
            s_vanilla, s_anoonly,
            "{kind}: the switch must change something"
        );
        assert_eq!(fit_scores(&one).1, s_vanilla, "{kind}: lambda_n = 1");
        assert_eq!(fit_scores(&zero).1, s_anoonly, "{kind}: lambda_n = 0");
        let mut between = quick(kind, 3).anoonly(true);
        between.train.lambda_n = Some(0.5);
        assert_ne!(fit_scores(&between).1, s_anoonly, "{kind}: lambda_n = 0.5");
    }
}

/// DeepSAD has BatchNorm of its own, so `lambda_n = 0` alone is AnoOnly and `--anoonly`
/// with `lambda_n = 1` is the vanilla method.
#[test]
fn deepsad_lambda_n_alone_switches_between_the_two() {
    let (_, vanilla) = fit_scores(&quick(MethodKind::DeepSad, 5));
    let (_, anoonly) = fit_scores(&quick(MethodKind::DeepSad, 5).anoonly(true));
    let mut zero = quick(MethodKind::DeepSad, 5);
    zero.train.lambda_n = Some(0.0);
    assert_eq!(fit_scores(&zero).1, anoonly);
    let mut ao_one = quick(MethodKind::DeepSad, 5).anoonly(true);
    ao_one.train.lambda_n = Some(1.0);
    assert_eq!(fit_scores(&ao_one).1, vanilla);
}

/// Every norm choice builds, trains and scores for every method; BN† with weight 0 is the
/// network without normalisation, bit for bit; the norm is kept through a model file.
#[test]
fn every_norm_runs_for_every_method() {
    let dir = tempfile::tempdir().unwrap();
    for &kind in MethodKind::ALL.iter().filter(|k| k.supports_anoonly()) {
        let mut none = quick(kind, 1).anoonly(true);
        none.train.norm = Some(NormKind::None);
        let (_, s_none) = fit_scores(&none);
        for &norm in NormKind::ALL {
            let json = serde_json::to_string(&norm).unwrap();
            assert_eq!(json, format!("\"{}\"", norm.name()));
            assert_eq!(norm.name().parse::<NormKind>(), Ok(norm));
            let mut p = quick(kind, 1).anoonly(true);
            p.train.norm = Some(norm);
            assert_eq!(p.method.head_norm(&p.train), norm);
            let (m, s) = fit_scores(&p);
            if norm != NormKind::None {
                assert_ne!(s, s_none, "{kind} {norm}");
            }
            let path = dir.path().join(format!("{kind}-{norm}.safetensors"));
            model_file::save(&m, &path).unwrap();
            let back = model_file::load(&path).unwrap();
            assert_eq!(back.params.train.norm, Some(norm));
            let ds = small();
            let a = m.decision_function(ds.x.view()).unwrap();
            let b = back.decision_function(ds.x.view()).unwrap();
            assert_eq!(
                common::bits(&a),
                common::bits(&b),
                "{kind} {norm}: model file"
            );
        }
        let mut w0 = quick(kind, 1).anoonly(true);
        w0.train.norm = Some(NormKind::BnLoss);
        w0.train.bn_loss_weight = 0.0;
        assert_eq!(fit_scores(&w0).1, s_none, "{kind}: bn-loss weight 0");
    }
}

/// Under AnoOnly a batch without labeled anomaly has no loss with BatchNorm, but under
/// BN† it still has `L_BN` (eq. 7): it is not counted empty, and the reported loss
/// includes the term.
#[test]
fn bn_loss_batches_without_anomaly_still_have_a_loss() {
    let mut bn = quick(MethodKind::DeepSad, 2).anoonly(true);
    bn.method.set("batch_size", "8").unwrap();
    let mut dagger = bn.clone();
    dagger.train.norm = Some(NormKind::BnLoss);
    let (m_bn, _) = fit_scores(&bn);
    let (m_dagger, _) = fit_scores(&dagger);
    assert!(m_bn.report.empty_batches > 0);
    assert_eq!(m_dagger.report.empty_batches, 0);
    let mut heavy = dagger.clone();
    heavy.train.bn_loss_weight = 100.0;
    let (m_heavy, _) = fit_scores(&heavy);
    let first = |m: &Model| m.report.epoch_losses[0].unwrap();
    assert!(first(&m_heavy) > first(&m_dagger));
}

/// Batch size 1 (BatchNorm sees no variance: output β, no input gradient) and other small
/// sizes train and score finite values with every norm; `drop_last` drops only the
/// incomplete tail.
#[test]
fn deepsad_small_batches_train_with_every_norm() {
    let ds = small();
    let sp = split(ds.x.view(), ds.y.view(), &SplitParams::default(), 0).unwrap();
    let n = sp.y_train.len();
    for b in [1usize, 2, 3, 7] {
        for &norm in NormKind::ALL {
            let mut p = quick(MethodKind::DeepSad, 0).anoonly(true);
            p.method.set("batch_size", &b.to_string()).unwrap();
            p.train.norm = Some(norm);
            let m = p.fit(sp.x_train.view(), sp.y_train.view()).unwrap();
            assert_eq!(m.report.steps, 2 * (n / b), "b = {b}, {norm}");
            let s = m.decision_function(sp.x_test.view()).unwrap();
            assert!(s.iter().all(|v| v.is_finite()), "b = {b}, {norm}");
        }
    }
}

/// The normal ratio keeps `ceil(ratio · normals)` train normals and is recorded, with the
/// norm, lambda_n and batch size of the run.
#[test]
fn normal_ratio_counts_and_record_fields() {
    let ds = small();
    let record = |ratio: f64, fit: FitParams| {
        let cfg = EvalConfig {
            fit,
            split: SplitParams {
                normal_ratio: ratio,
                ..SplitParams::default()
            },
        };
        evaluate_once(&ds, &cfg, 4, &mut Silent).unwrap()
    };
    let full = record(1.0, quick(MethodKind::DeepSad, 0));
    let normals = full.n_train - full.n_labeled;
    for ratio in [0.05, 0.2, 0.5] {
        let mut fit = quick(MethodKind::DeepSad, 0).anoonly(true);
        fit.method.set("batch_size", "16").unwrap();
        fit.train.norm = Some(NormKind::BnLoss);
        fit.train.bn_loss_weight = 0.5;
        let r = record(ratio, fit);
        assert_eq!(
            r.n_train - r.n_labeled,
            (normals as f64 * ratio).ceil() as usize
        );
        assert_eq!(r.n_labeled, full.n_labeled);
        assert_eq!(r.n_test, full.n_test);
        assert_eq!(r.normal_ratio, ratio);
        assert_eq!(r.norm, NormKind::BnLoss);
        assert_eq!(r.bn_loss_weight, Some(0.5));
        assert_eq!(r.batch_size, Some(16));
        assert_eq!(r.lambda_n, 0.0);
    }
    assert_eq!(full.norm, NormKind::BnNoAffine);
    assert_eq!(full.bn_loss_weight, None);
    let devnet = record(1.0, quick(MethodKind::DevNet, 0).anoonly(true));
    assert_eq!(devnet.norm, NormKind::Bn);
    assert_eq!(devnet.batch_size, Some(64));
}

fn cli_error(args: &[&str]) -> String {
    let out = common::cli(args);
    assert!(!out.status.success(), "{args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Bad switch values are refused before any data is read, naming the switch and the rule.
#[test]
fn cli_refuses_bad_switch_values() {
    let eval = ["eval", "--data", "does-not-exist.npz"];
    let with =
        |extra: &[&'static str]| -> Vec<&str> { eval.iter().chain(extra).copied().collect() };
    let e = cli_error(&with(&["--norm", "batchnorm"]));
    assert!(e.contains("bn-noaffine") && e.contains("bn-loss"), "{e}");
    let e = cli_error(&with(&["--method", "prenet", "--batch-size", "6"]));
    assert!(
        e.contains("batch_size") && e.contains("multiple of 4"),
        "{e}"
    );
    let e = cli_error(&with(&["--batch-size", "0"]));
    assert!(e.contains("batch_size"), "{e}");
    let e = cli_error(&with(&["--normal-ratio", "0"]));
    assert!(e.contains("normal_ratio"), "{e}");
    let e = cli_error(&with(&["--norm", "bn-loss", "--bn-loss-weight=-1"]));
    assert!(e.contains("bn_loss_weight"), "{e}");
}
