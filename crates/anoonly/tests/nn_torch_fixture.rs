//! Replays tests/fixtures/deepsad_step.json (made by scripts/torch_fixture.py with PyTorch):
//! three DeepSAD steps, vanilla and AnoOnly, with the DeepSAD loss gradient written by hand,
//! and checks gradients, BN running statistics, final weights and eval-mode scores.

use anoonly::methods::deepsad::DeepSadLoss;
use anoonly::nn::{
    Activation, Adam, BatchNorm1d, Layer, Linear, LrSchedule, Matrix, Mode, Module, Optimizer,
    Sequential,
};
use anoonly::train::{combine, Item, Reduction, TrainParams};
use ndarray::{Array1, Axis};
use serde_json::Value;

mod common;

use common::{mat, scaled_err, vec1};

const FIXTURE: &str = include_str!("fixtures/deepsad_step.json");
const LINEARS: [(usize, &str); 3] = [(0, "0.weight"), (3, "3.weight"), (6, "6.weight")];
const BNS: [(usize, &str); 2] = [(1, "1"), (4, "4")];

fn linear(net: &Sequential, i: usize) -> &Linear {
    match &net.layers[i] {
        Layer::Linear(l) => l,
        _ => panic!("layer {i} is not linear"),
    }
}

fn bn(net: &Sequential, i: usize) -> &BatchNorm1d {
    match &net.layers[i] {
        Layer::BatchNorm(l) => l,
        _ => panic!("layer {i} is not BN"),
    }
}

fn deepsad_net(fx: &Value) -> Sequential {
    let w = |name: &str| Linear::from_weights(mat(&fx["initial_weights"][name]), None);
    Sequential::new(vec![
        w("0.weight").into(),
        BatchNorm1d::torch(100, 1e-4, false).into(),
        Activation::LeakyRelu(0.01).into(),
        w("3.weight").into(),
        BatchNorm1d::torch(20, 1e-4, false).into(),
        Activation::LeakyRelu(0.01).into(),
        w("6.weight").into(),
    ])
}

fn sq_dist(phi: &Matrix, c: &Array1<f32>) -> Array1<f32> {
    let diff = phi - c;
    (&diff * &diff).sum_axis(Axis(1))
}

/// Loss and dL/dφ of DeepSAD through the crate's own path: the method's `L_N`/`L_A`
/// ([`DeepSadLoss`]) reduced by the training core's `lambda_n` switch ([`combine`]), so this
/// fixture checks the AnoOnly switch itself against the authors' PyTorch code.
fn deepsad_loss(
    phi: &Matrix,
    c: &Array1<f32>,
    y: &[i64],
    anoonly: bool,
    eta: f32,
    eps: f32,
) -> (Option<f32>, Matrix) {
    let loss = DeepSadLoss {
        c: c.clone(),
        eta,
        eps,
    };
    let items: Vec<Item> = y
        .iter()
        .enumerate()
        .map(|(index, &v)| Item {
            index,
            anomaly: v == 1,
            target: 0.0,
        })
        .collect();
    let params = TrainParams {
        anoonly,
        ..TrainParams::default()
    };
    let bl = combine(
        &loss,
        phi,
        &items,
        &params.weighting(Reduction::WeightedMean),
    );
    (bl.value, bl.grad)
}

fn rows(x: &Matrix, idx: &[usize]) -> Matrix {
    x.select(Axis(0), idx)
}

#[test]
fn nn_deepsad_matches_pytorch() {
    let fx: Value = serde_json::from_str(FIXTURE).expect("fixture json");
    let x = mat(&fx["x"]);
    let y: Vec<i64> = fx["y"]
        .as_array()
        .expect("y")
        .iter()
        .map(|v| v.as_i64().expect("label"))
        .collect();
    let c = vec1(&fx["c"]);
    let eta = fx["eta"].as_f64().expect("eta") as f32;
    let eps = fx["eps"].as_f64().expect("eps") as f32;
    let batches: Vec<Vec<usize>> = fx["batches"]
        .as_array()
        .expect("batches")
        .iter()
        .map(|b| {
            b.as_array()
                .expect("batch")
                .iter()
                .map(|i| i.as_u64().expect("index") as usize)
                .collect()
        })
        .collect();

    // Centre, computed as the authors do, from our eval-mode forward.
    let mut net0 = deepsad_net(&fx);
    let mut c_ours = net0
        .forward(&x, Mode::Eval)
        .mean_axis(Axis(0))
        .expect("rows");
    c_ours.mapv_inplace(|v| {
        if v.abs() < 0.1 && v < 0.0 {
            -0.1
        } else if v.abs() < 0.1 && v > 0.0 {
            0.1
        } else {
            v
        }
    });
    let e = scaled_err(c_ours.view().into_dyn(), c.view().into_dyn());
    println!("centre: scaled err {e:.2e}");
    assert!(e < 1e-5);

    let sched = LrSchedule::MultiStep {
        milestones: vec![0],
        gamma: 0.1,
    };
    let (mut worst_grad, mut worst_run, mut worst_w, mut worst_s) =
        (0.0f32, 0.0f32, 0.0f32, 0.0f32);
    for variant in ["vanilla", "anoonly"] {
        let vf = &fx["variants"][variant];
        let mut net = deepsad_net(&fx);
        let mut opt = Adam::torch(1e-6);
        for (t, idx) in batches.iter().enumerate() {
            let sf = &vf["steps"][t];
            let lr = sched.lr(1e-3, t);
            let lr_torch = sf["lr"].as_f64().expect("lr") as f32;
            assert!((lr - lr_torch).abs() <= 1e-12, "lr {lr} vs {lr_torch}");

            net.zero_grad();
            let xb = rows(&x, idx);
            let yb: Vec<i64> = idx.iter().map(|&i| y[i]).collect();
            let phi = net.forward(&xb, Mode::Train);
            let (loss, g) = deepsad_loss(&phi, &c, &yb, variant == "anoonly", eta, eps);
            match (loss, sf["loss"].as_f64()) {
                (None, None) => {}
                (Some(a), Some(b)) => {
                    let rel = (a - b as f32).abs() / (b as f32).abs();
                    println!("{variant} step {t}: loss {a} vs torch {b} (rel {rel:.1e})");
                    assert!(rel < 1e-5, "loss");
                }
                (a, b) => panic!("{variant} step {t}: loss {a:?} vs torch {b:?}"),
            }
            assert!(net.backward(&g, false).is_none());
            for (i, name) in LINEARS {
                let ours = &linear(&net, i).grad_weight;
                let theirs = mat(&sf["grads"][name]);
                let e = scaled_err(ours.view().into_dyn(), theirs.view().into_dyn());
                println!("{variant} step {t}: grad {name} scaled err {e:.2e}");
                worst_grad = worst_grad.max(e);
                assert!(e < 1e-3, "{variant} step {t} grad {name}: {e}");
            }
            opt.step(&mut net, lr);
            for (i, name) in BNS {
                let l = bn(&net, i);
                for (buf, ours) in [
                    ("running_mean", &l.running_mean),
                    ("running_var", &l.running_var),
                ] {
                    let theirs = vec1(&sf["running"][format!("{name}.{buf}").as_str()]);
                    let e = scaled_err(ours.view().into_dyn(), theirs.view().into_dyn());
                    worst_run = worst_run.max(e);
                    assert!(e < 1e-5, "{variant} step {t} {name}.{buf}: {e}");
                }
            }
        }
        // Final weights: compare the *change* from the initial weights, because each step
        // moves a weight by only ~lr = 1e-4, which a tolerance on the weights themselves
        // would not see.
        for (i, name) in LINEARS {
            let w0 = mat(&fx["initial_weights"][name]);
            let ours = &linear(&net, i).weight - &w0;
            let theirs = mat(&vf["final_weights"][name]) - &w0;
            let e = scaled_err(ours.view().into_dyn(), theirs.view().into_dyn());
            let abs = (&linear(&net, i).weight - &mat(&vf["final_weights"][name]))
                .iter()
                .fold(0.0f32, |m, v| m.max(v.abs()));
            println!("{variant}: final {name}: update scaled err {e:.2e}, max abs err {abs:.2e}");
            worst_w = worst_w.max(e);
            assert!(e < 1e-3, "{variant} final {name}: {e}");
            assert!(abs < 1e-6, "{variant} final {name}: abs {abs}");
        }
        let scores = sq_dist(&net.forward(&x, Mode::Eval), &c);
        let theirs = vec1(&vf["scores"]);
        let e = scaled_err(scores.view().into_dyn(), theirs.view().into_dyn());
        println!("{variant}: eval scores scaled err {e:.2e}");
        worst_s = worst_s.max(e);
        assert!(e < 1e-4, "{variant} scores: {e}");
    }
    println!(
        "worst: grads {worst_grad:.2e}, running stats {worst_run:.2e}, weight updates {worst_w:.2e}, scores {worst_s:.2e}"
    );
}
