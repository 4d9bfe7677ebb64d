//! RoSAS: three training steps against the authors' PyTorch code (the fixture made by
//! scripts/rosas_fixture.py from their `RoSAS.py`), every loss term's gradient against finite
//! differences (alone and through a whole training step, vanilla and AnoOnly), the triplet
//! sampler and the mixup draws, the
//! network's widths, the AnoOnly switch's bit-for-bit identities, a synthetic fit that beats
//! chance, and (with the shared data) the authors' code's AUCROC on cardio.

mod common;

use anoonly::methods::rosas::loss::{self, MixupScore};
use anoonly::methods::rosas::{
    draw_mixup, draw_triplets, net::RosasNet, step, StepSettings, TripletLa,
};
use anoonly::methods::{FitParams, MethodKind, MethodParams, RosasParams, RosasWeighting};
use anoonly::nn::{Adam, Layer, Matrix, Mode, Module, Optimizer, Sequential};
use anoonly::rng::{component_rng, Rng};
use anoonly::train::{combine, Item, LossWeighting, Reduction};
use anoonly::vocab::NormKind;
use common::{mat, scaled_err, vec1};
use ndarray::{Array1, Array2, Axis};
use rand::Rng as _;
use rand_distr::Beta;
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/rosas_step.json");
/// The authors' `EDOSNet` parameters and where they are in ours: (embedding net?, layer
/// index, torch name of the weight, of the bias).
const LINEARS: [(bool, usize, &str, Option<&str>); 4] = [
    (true, 0, "hidden_layer.weight", None),
    (true, 2, "emb_layer.weight", None),
    (false, 0, "hidden_layer2.weight", None),
    (false, 2, "out_layer.weight", Some("out_layer.bias")),
];

fn linear(net: &mut RosasNet, enc: bool, i: usize) -> &mut anoonly::nn::Linear {
    let seq: &mut Sequential = if enc { &mut net.enc } else { &mut net.head };
    match &mut seq.layers[i] {
        Layer::Linear(l) => l,
        _ => panic!("layer {i} is not linear"),
    }
}

fn rows(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("rows")
        .iter()
        .map(|r| r.as_u64().expect("row") as usize)
        .collect()
}

/// Three steps from the authors' initial weights, with their permutations and mixup weights:
/// the losses (total, `L_emb`, `L_score`, with the adaptive weights at `pre` = (1, 1) and
/// away from it), every gradient, the Adam steps (lr 5e-3, weight decay 1e-4), the final
/// weights and the eval-mode scores, all through the crate's own [`step`]. This pins the
/// loss to the authors' definitions (torch's triplet margin loss, SmoothL1, the Frobenius
/// norm term, the mixup targets and consistency) where the finite-difference test below only
/// shows our gradient is the gradient of our loss.
#[test]
fn three_steps_match_the_authors_pytorch_code() {
    let fx: Value = serde_json::from_str(FIXTURE).expect("fixture json");
    let x = mat(&fx["x"]);
    let params = RosasParams {
        n_emb: fx["n_emb"].as_u64().expect("n_emb") as usize,
        ..RosasParams::default()
    };
    assert_eq!(
        params.hidden_width(x.ncols()),
        fx["hidden"].as_u64().expect("hidden") as usize
    );
    let mut net = params.network(x.ncols(), NormKind::None, &mut component_rng(0, "t"));
    for (enc, i, w, b) in LINEARS {
        let l = linear(&mut net, enc, i);
        l.weight = mat(&fx["initial_weights"][w]);
        if let Some(b) = b {
            l.bias = Some(vec1(&fx["initial_weights"][b]));
        }
    }
    let initial = net.clone();
    let mut opt = Adam::torch(params.weight_decay);
    for (t, sf) in fx["steps"].as_array().expect("steps").iter().enumerate() {
        let mut idx = rows(&sf["anchors"]);
        idx.extend(rows(&sf["positives"]));
        idx.extend(rows(&sf["anomalies"]));
        let xi: Matrix = x.select(Axis(0), &idx);
        let perm = rows(&sf["perm"]);
        let lam = vec1(&sf["lam"]).to_vec();
        let pre = sf["pre"].as_array().expect("pre");
        let settings = StepSettings {
            params: &params,
            weighting: LossWeighting {
                lambda_n: 1.0,
                reduction: Reduction::WeightedMean,
            },
            pre: (pre[0].as_f64().expect("pre"), pre[1].as_f64().expect("pre")),
        };
        let l = step(&mut net, &xi, &perm, &lam, &settings);
        for (what, ours, key) in [
            ("total", l.total, "loss"),
            ("L_emb", l.emb, "loss_emb"),
            ("L_score", l.score, "loss_score"),
        ] {
            let theirs = sf[key].as_f64().expect("loss") as f32;
            let rel = (ours - theirs).abs() / theirs.abs();
            println!("step {t}: {what} {ours} vs torch {theirs} (rel {rel:.1e})");
            assert!(rel < 1e-5, "step {t}: {what} {ours} vs {theirs}");
        }
        for (enc, i, w, b) in LINEARS {
            let lin = linear(&mut net, enc, i);
            let e = scaled_err(
                lin.grad_weight.view().into_dyn(),
                mat(&sf["grads"][w]).view().into_dyn(),
            );
            println!("step {t}: grad {w} scaled err {e:.2e}");
            assert!(e < 1e-4, "step {t} grad {w}: {e}");
            if let Some(b) = b {
                let gb = lin.grad_bias.clone().expect("bias grad");
                let e = scaled_err(
                    gb.view().into_dyn(),
                    vec1(&sf["grads"][b]).view().into_dyn(),
                );
                println!("step {t}: grad {b} scaled err {e:.2e}");
                assert!(e < 1e-4, "step {t} grad {b}: {e}");
            }
        }
        opt.step(&mut net, params.lr);
    }
    // Adam moves a weight by about lr a step whatever its gradient's size: compare the
    // updates relative to their size, and the weights absolutely (3 steps of 5e-3).
    let mut start = initial;
    for (enc, i, w, _) in LINEARS {
        let w0 = linear(&mut start, enc, i).weight.clone();
        let ours = linear(&mut net, enc, i).weight.clone();
        let theirs = mat(&fx["final_weights"][w]);
        let e = scaled_err(
            (&ours - &w0).view().into_dyn(),
            (&theirs - &w0).view().into_dyn(),
        );
        let abs = (&ours - &theirs).iter().fold(0.0f32, |m, v| m.max(v.abs()));
        println!("final {w}: update scaled err {e:.2e}, max abs err {abs:.2e}");
        assert!(e < 1e-3 && abs < 2e-5, "final {w}: {e} {abs}");
    }
    let scores: Array1<f32> = net.forward(&x, Mode::Eval).column(0).to_owned();
    let e = scaled_err(
        scores.view().into_dyn(),
        vec1(&fx["scores"]).view().into_dyn(),
    );
    println!("scores scaled err {e:.2e}");
    assert!(e < 1e-5, "scores: {e}");
}

fn rand_mat(rows: usize, cols: usize, rng: &mut Rng) -> Array2<f32> {
    Array2::from_shape_simple_fn((rows, cols), || rng.gen_range(-1.0f32..1.0))
}

/// Central differences of `f` at `x` in every coordinate, in f64 of an f32 function.
fn numeric_grad(x: &Array2<f32>, h: f32, f: impl Fn(&Array2<f32>) -> f32) -> Array2<f64> {
    let mut g = Array2::<f64>::zeros(x.raw_dim());
    for idx in 0..x.len() {
        let (r, c) = (idx / x.ncols(), idx % x.ncols());
        let mut p = x.clone();
        p[[r, c]] += h;
        let mut m = x.clone();
        m[[r, c]] -= h;
        g[[r, c]] = (f64::from(f(&p)) - f64::from(f(&m))) / (2.0 * f64::from(h));
    }
    g
}

fn assert_close(what: &str, analytic: &Array2<f32>, numeric: &Array2<f64>, tol: f64) {
    for (a, n) in analytic.iter().zip(numeric.iter()) {
        let a = f64::from(*a);
        assert!(
            (a - n).abs() <= tol * (1.0 + n.abs()),
            "{what}: analytic {a} vs numeric {n}"
        );
    }
}

#[test]
fn rosas_triplet_gradient_matches_finite_differences() {
    let mut rng = component_rng(1, "t");
    let b = 5;
    let emb = rand_mat(3 * b, 4, &mut rng);
    for (margin, w) in [(1.0f32, 1.0f32), (0.5, 0.3), (2.0, 0.0)] {
        let (v, g) = loss::triplet(emb.view(), b, margin, w);
        assert!(v > 0.0, "some triplets are active");
        let num = numeric_grad(&emb, 1e-3, |e| loss::triplet(e.view(), b, margin, w).0);
        assert_close(&format!("triplet m={margin} w={w}"), &g, &num, 2e-3);
    }
    // A satisfied triplet contributes nothing: N far away from A, P equal to A.
    let mut e = Array2::<f32>::zeros((3, 2));
    e[[2, 0]] = 10.0;
    let (v, g) = loss::triplet(e.view(), 1, 1.0, 1.0);
    assert_eq!(v, 0.0);
    assert!(g.iter().all(|&x| x == 0.0));
}

#[test]
fn rosas_sum_norm_gradient_matches_finite_differences() {
    let mut rng = component_rng(2, "t");
    let b = 4;
    let emb = rand_mat(3 * b, 3, &mut rng);
    let (v, g) = loss::sum_norm(emb.view(), b);
    // The norm of the sum, not the sum of the norms.
    let mut s = 0.0f64;
    for i in 0..b {
        for j in 0..3 {
            let x = emb[[i, j]] + emb[[b + i, j]] + emb[[2 * b + i, j]];
            s += f64::from(x) * f64::from(x);
        }
    }
    assert!((f64::from(v) - s.sqrt()).abs() < 1e-5);
    let num = numeric_grad(&emb, 1e-3, |e| loss::sum_norm(e.view(), b).0);
    assert_close("sum_norm", &g, &num, 2e-3);
}

/// The mixup score loss through the core's weighting, at lambda_n 1 (the authors' mean) and 0
/// (the mean over rows with an anomaly), against finite differences of its value.
#[test]
fn rosas_mixup_score_gradient_matches_finite_differences() {
    let mut rng = component_rng(3, "t");
    let n = 9;
    let out = rand_mat(n, 3, &mut rng);
    let lam: Vec<f32> = (0..n).map(|_| rng.gen_range(0.05f32..0.95)).collect();
    let items: Vec<Item> = (0..n)
        .map(|i| Item {
            index: i,
            anomaly: i % 3 == 0,
            target: if i % 3 == 0 { 0.4 } else { -1.0 },
        })
        .collect();
    let loss = MixupScore { lam: lam.clone() };
    for lambda_n in [1.0f32, 0.0, 0.25] {
        let w = LossWeighting {
            lambda_n,
            reduction: Reduction::WeightedMean,
        };
        let bl = combine(&loss, &out, &items, &w);
        let num = numeric_grad(&out, 1e-3, |o| combine(&loss, o, &items, &w).value.unwrap());
        assert_close(&format!("mixup lambda_n={lambda_n}"), &bl.grad, &num, 2e-3);
        if lambda_n == 0.0 {
            // Rows of two unlabeled rows carry nothing.
            for i in (0..n).filter(|i| i % 3 != 0) {
                assert!(bl.grad.row(i).iter().all(|&g| g == 0.0));
            }
        }
    }
    // Value by hand for one row: SL1(s~ - y~) + SL1(s~ - (lam s_i + (1 - lam) s_j)).
    let one = MixupScore { lam: vec![0.25] };
    let o = ndarray::array![[0.5f32, -0.2, 0.8]];
    let it = [Item {
        index: 0,
        anomaly: true,
        target: 2.0,
    }];
    let v = combine(
        &one,
        &o,
        &it,
        &LossWeighting {
            lambda_n: 1.0,
            reduction: Reduction::WeightedMean,
        },
    )
    .value
    .unwrap();
    let mix = 0.25 * -0.2 + 0.75 * 0.8;
    let want = (1.5 - 0.5) + 0.5 * (0.5f32 - mix).powi(2);
    assert!((v - want).abs() < 1e-6, "{v} vs {want}");
}

#[test]
fn rosas_adaptive_weights_derivatives_match_finite_differences() {
    for (le, ls, pe, ps) in [
        (0.7, 1.3, 0.9, 1.1),
        (2.0, 0.1, 0.5, 0.2),
        (0.3, 0.3, 1.0, 1.0),
    ] {
        let c = loss::adaptive(le, ls, pe, ps, 2.0);
        let h = 1e-6;
        let de = (loss::adaptive(le + h, ls, pe, ps, 2.0).value
            - loss::adaptive(le - h, ls, pe, ps, 2.0).value)
            / (2.0 * h);
        let ds = (loss::adaptive(le, ls + h, pe, ps, 2.0).value
            - loss::adaptive(le, ls - h, pe, ps, 2.0).value)
            / (2.0 * h);
        assert!((c.d_emb - de).abs() < 1e-6, "{} vs {de}", c.d_emb);
        assert!((c.d_score - ds).abs() < 1e-6, "{} vs {ds}", c.d_score);
        // The authors' formula: k = exp((L/pre)/T), weights k1/(k1+k2).
        let (k1, k2) = ((le / pe / 2.0f64).exp(), (ls / ps / 2.0f64).exp());
        let want = k1 / (k1 + k2) * le + k2 / (k1 + k2) * ls;
        assert!((c.value - want).abs() < 1e-12);
    }
    // A previous mean of 0 makes its weight 0 (the authors' `if pre != 0 else 0`).
    let c = loss::adaptive(0.5, 0.7, 0.0, 1.0, 2.0);
    assert_eq!((c.value, c.d_emb, c.d_score), (0.7, 0.0, 1.0));
    // No overflow where the authors' exp would overflow.
    let c = loss::adaptive(1.0, 2000.0, 1.0, 1e-3, 2.0);
    assert!(c.value.is_finite() && (c.value - 2000.0).abs() < 1e-6);
    let f = loss::fixed(1.0, 3.0);
    assert_eq!((f.value, f.d_emb, f.d_score), (2.0, 0.5, 0.5));
}

/// Parameters of a net as one flat list of (parameter, index) values.
fn params_of(net: &mut RosasNet) -> Vec<Vec<f32>> {
    let mut out = Vec::new();
    net.visit_params(&mut |p| out.push(p.value.to_vec()));
    out
}

fn grads_of(net: &mut RosasNet) -> Vec<Vec<f32>> {
    let mut out = Vec::new();
    net.visit_params(&mut |p| out.push(p.grad.to_vec()));
    out
}

fn set_param(net: &mut RosasNet, k: usize, j: usize, v: f32) {
    let mut i = 0;
    net.visit_params(&mut |p| {
        if i == k {
            p.value[j] = v;
        }
        i += 1;
    });
}

/// A whole training step's parameter gradients against finite differences of its total
/// loss: the scatter of `s_j` onto `s_i`, the embedding gradients of the triplet and norm
/// terms, the weights' own gradient, and AnoOnly's BatchNorm in the head.
#[test]
fn rosas_step_gradient_matches_finite_differences() {
    let cases = [
        (
            NormKind::None,
            1.0f32,
            RosasWeighting::Adaptive,
            TripletLa::Whole,
        ),
        (
            NormKind::Bn,
            0.0,
            RosasWeighting::Adaptive,
            TripletLa::Whole,
        ),
        (
            NormKind::Bn,
            0.3,
            RosasWeighting::Fixed,
            TripletLa::AnomalyDistance,
        ),
    ];
    for (norm, lambda_n, weighting, triplet_la) in cases {
        let mut rng = component_rng(4, "t");
        let params = RosasParams {
            n_emb: 8,
            hidden: Some(6),
            batch_size: 4,
            weighting,
            triplet_la,
            ..RosasParams::default()
        };
        let d = 5;
        let mut net = params.network(d, norm, &mut rng);
        let xi: Matrix = rand_mat(3 * params.batch_size, d, &mut rng);
        let beta = Beta::new(0.5f32, 0.5).unwrap();
        let (perm, lam) = draw_mixup(xi.nrows(), &beta, &mut rng);
        let settings = StepSettings {
            params: &params,
            weighting: LossWeighting {
                lambda_n,
                reduction: Reduction::WeightedMean,
            },
            pre: (0.8, 1.3),
        };
        step(&mut net, &xi, &perm, &lam, &settings);
        let analytic = grads_of(&mut net);
        let values = params_of(&mut net);
        let what = format!("{norm:?} lambda_n={lambda_n} {weighting:?} {triplet_la:?}");
        let mut checked = 0;
        for (k, vals) in values.iter().enumerate() {
            for j in (0..vals.len()).step_by(vals.len().div_ceil(4)) {
                let h = 1e-2f32;
                let mut probe = net.clone();
                set_param(&mut probe, k, j, vals[j] + h);
                let up = step(&mut probe, &xi, &perm, &lam, &settings).total;
                set_param(&mut probe, k, j, vals[j] - h);
                let down = step(&mut probe, &xi, &perm, &lam, &settings).total;
                let num = (f64::from(up) - f64::from(down)) / (2.0 * f64::from(h));
                let a = f64::from(analytic[k][j]);
                assert!(
                    (a - num).abs() <= 2e-2 * (1.0 + num.abs()),
                    "{what}: param {k}[{j}]: analytic {a} vs numeric {num}"
                );
                checked += 1;
            }
        }
        assert!(checked >= 12, "{what}: {checked}");
    }
}

#[test]
fn rosas_triplets_are_two_unlabeled_rows_and_an_anomaly() {
    let unlabeled: Vec<u32> = (0..50).collect();
    let anomalies: Vec<u32> = vec![100, 101, 102];
    let mut rng = component_rng(5, "t");
    let b = 32;
    for _ in 0..20 {
        let rows = draw_triplets(&unlabeled, &anomalies, b, false, &mut rng);
        assert_eq!(rows.len(), 3 * b);
        let (anchor, rest) = rows.split_at(b);
        let (pos, neg) = rest.split_at(b);
        for part in [anchor, pos] {
            assert!(part.iter().all(|r| unlabeled.contains(r)));
            let mut s = part.to_vec();
            s.sort_unstable();
            s.dedup();
            assert_eq!(
                s.len(),
                b,
                "anchors and positives are drawn without replacement"
            );
        }
        // Every triplet holds exactly one labeled anomaly, drawn with replacement.
        assert!(neg.iter().all(|r| anomalies.contains(r)));
    }
    // Fewer unlabeled rows than triplets: with replacement, still only unlabeled rows.
    let few: Vec<u32> = (0..5).collect();
    let rows = draw_triplets(&few, &anomalies, b, true, &mut rng);
    assert!(rows[..2 * b].iter().all(|r| few.contains(r)));
}

#[test]
fn rosas_mixup_draws_a_permutation_and_beta_weights() {
    let mut rng = component_rng(6, "t");
    let beta = Beta::new(0.5f32, 0.5).unwrap();
    let mut all = Vec::new();
    for _ in 0..200 {
        let (perm, lam) = draw_mixup(96, &beta, &mut rng);
        let mut p = perm.clone();
        p.sort_unstable();
        assert_eq!(p, (0..96).collect::<Vec<_>>());
        assert!(lam.iter().all(|&l| (0.0..=1.0).contains(&l)));
        all.extend(lam);
    }
    // Beta(0.5, 0.5): mean 1/2, variance 1/8 (19,200 draws: standard errors 0.0026, 0.0006).
    let n = all.len() as f64;
    let mean = all.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = all
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    assert!((mean - 0.5).abs() < 0.01, "{mean}");
    assert!((var - 0.125).abs() < 0.003, "{var}");
}

#[test]
fn rosas_widths_follow_the_authors_rule() {
    let p = RosasParams::default();
    // n_hidden = d + int((128 - d) * 0.5): 74 for d = 21, 320 for d = 512 (int truncates).
    assert_eq!(p.hidden_width(21), 74);
    assert_eq!(p.hidden_width(512), 320);
    assert_eq!(p.hidden_width(513), 321);
    assert_eq!(p.hidden_width(1), 64);
    let mut net = p.network(21, NormKind::None, &mut component_rng(0, "t"));
    let shapes: Vec<usize> = params_of(&mut net).iter().map(Vec::len).collect();
    // Four Linear weights (no bias) and the last Linear's bias.
    assert_eq!(shapes, [21 * 74, 74 * 128, 128 * 64, 64, 1]);
    let mut bn = p.network(21, NormKind::Bn, &mut component_rng(0, "t"));
    let shapes: Vec<usize> = params_of(&mut bn).iter().map(Vec::len).collect();
    assert_eq!(shapes, [21 * 74, 74 * 128, 128 * 64, 64, 64, 64, 1]);
    // DeepOD 0.4.1's: d -> 32 -> 32, head 16.
    let dp = RosasParams::deepod();
    dp.validate().unwrap();
    let mut net = dp.network(21, NormKind::None, &mut component_rng(0, "t"));
    let shapes: Vec<usize> = params_of(&mut net).iter().map(Vec::len).collect();
    assert_eq!(shapes, [21 * 32, 32 * 32, 32 * 16, 16, 1]);
    assert_eq!(dp.steps(1171), 9);
    assert_eq!(dp.steps(50), 1);
    assert_eq!(p.steps(1171), 16);
}

#[test]
fn rosas_beats_chance_on_synthetic_data_in_both_variants() {
    let sp = common::demo_split(0);
    for ao in [false, true] {
        let mut p = FitParams::new(MethodKind::Rosas).anoonly(ao).seed(0);
        p.method.set_epochs(30).unwrap();
        let auc = common::split_aucroc(&p, &sp);
        // Measured: 0.85 (vanilla) and 0.78 (AnoOnly) at 30 epochs; chance is 0.5 with a
        // spread of about 0.03 on these 1,000 test rows (DeepSAD: 0.895).
        assert!(auc > 0.7, "anoonly={ao}: AUCROC {auc}");
    }
    let mut p = FitParams::new(MethodKind::Rosas).seed(0);
    p.method = MethodParams::Rosas(RosasParams {
        epochs: 10,
        ..RosasParams::deepod()
    });
    let auc = common::split_aucroc(&p, &sp);
    assert!(auc > 0.7, "deepod: AUCROC {auc}");
}

/// `lambda_n = 1` is the vanilla method bit for bit, and `--anoonly` is `lambda_n = 0` with
/// AnoOnly's BatchNorm: the same switch as every SSAD method's.
#[test]
fn rosas_lambda_one_is_vanilla_and_anoonly_is_lambda_zero_with_bn() {
    let ds = common::small_synthetic();
    let quick = |f: &dyn Fn(&mut FitParams)| {
        let mut p = FitParams::new(MethodKind::Rosas).seed(3);
        p.method.set_epochs(3).unwrap();
        f(&mut p);
        let m = p.fit(ds.x.view(), ds.y.view()).unwrap();
        common::bits(&m.decision_function(ds.x.view()).unwrap())
    };
    let vanilla = quick(&|_| {});
    assert_eq!(quick(&|p| p.train.lambda_n = Some(1.0)), vanilla);
    let anoonly = quick(&|p| p.train.anoonly = true);
    assert_ne!(anoonly, vanilla);
    assert_eq!(
        quick(&|p| {
            p.train.lambda_n = Some(0.0);
            p.train.norm = Some(NormKind::Bn);
        }),
        anoonly
    );
    // The split triplet changes nothing at lambda_n = 1.
    assert_eq!(
        quick(&|p| p
            .method
            .set_value("triplet_la", serde_json::json!("anomaly-distance"))
            .unwrap()),
        vanilla
    );
}

#[test]
fn rosas_representation_is_the_last_layers_input() {
    let ds = common::small_synthetic();
    for ao in [false, true] {
        let mut p = FitParams::new(MethodKind::Rosas).anoonly(ao).seed(1);
        p.method.set_epochs(2).unwrap();
        let m = p.fit(ds.x.view(), ds.y.view()).unwrap();
        let anoonly::methods::Fitted::Rosas(f) = &m.fitted else {
            panic!("not rosas")
        };
        let rep = anoonly::methods::Method::representation(f.as_ref(), ds.x.view()).unwrap();
        assert_eq!(rep.dim(), (ds.n_rows(), 64));
        // The score is tanh(w . rep + b).
        let last = match f.net.head.layers.iter().rev().nth(1) {
            Some(anoonly::nn::Layer::Linear(l)) => l.clone(),
            _ => panic!("the head ends with Linear, tanh"),
        };
        let s = m.decision_function(ds.x.view()).unwrap();
        let w = last.weight.row(0);
        let b = last.bias.as_ref().unwrap()[0];
        for (i, r) in rep.outer_iter().enumerate().take(20) {
            let z: f32 = r.iter().zip(w.iter()).map(|(a, c)| a * c).sum::<f32>() + b;
            assert!((z.tanh() - s[i]).abs() < 1e-5, "row {i}");
        }
    }
}

/// The authors' RoSAS on the shared cardio file, clean, gamma_la 0.1, seeds 0-2, on the same
/// split arrays (scripts/peers/fidelity.py; docs/fidelity.md). Their code
/// as published ends seeds 0 and 1 with NaN scores (its float32 loss weights overflow,
/// docs/protocol.md 2.6); with that one expression made overflow-safe it gives AUCROC 0.9956,
/// 0.9694, 0.9508, mean 0.972 (ours at the time of writing: 0.9868, 0.9681, 0.9327, mean 0.963).
/// Tolerance 0.03: the seed-to-seed sd of either implementation is about 0.02 here, so the
/// difference of two 3-seed means has a standard error of about 0.017.
#[test]
#[ignore = "needs ../shared/data (run by scripts/test.sh when it exists)"]
fn rosas_matches_the_authors_code_on_cardio() {
    let aucs = common::default_aucrocs("Classical/6_cardio.npz", MethodKind::Rosas, 3);
    let mean = aucs.iter().sum::<f64>() / aucs.len() as f64;
    assert!((mean - 0.972).abs() < 0.03, "ours {aucs:?}, mean {mean}");
}
