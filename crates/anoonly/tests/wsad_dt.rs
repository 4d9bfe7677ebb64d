//! WSAD-DT: one member's steps against the authors' PyTorch code (the fixture made by
//! scripts/wsaddt_fixture.py from PyPI wsad-dt 1.0.0), the sampler's share of anomalies,
//! the AnoOnly switch, the observer's member epochs, a synthetic fit, and the reference's
//! AUCROC on a shared file.

mod common;

use std::ops::ControlFlow;

use anoonly::methods::wsad_dt::loss::WsadDtLoss;
use anoonly::methods::wsad_dt::sampler::{partition, MemberSampler};
use anoonly::methods::wsad_dt::{batch_loss, FittedWsadDt};
use anoonly::methods::{FitError, FitParams, Fitted, Method, MethodKind, RegUnlabeled};
use anoonly::metrics::aucroc;
use anoonly::nn::{clip_grad_norm, Adam, Layer, Mode, Module, Optimizer};
use anoonly::rng::component_rng;
use anoonly::train::{EpochReport, Item, Reduction, Stage, TrainParams};
use anoonly::vocab::NormKind;
use common::{mat, scaled_err, vec1};
use ndarray::{Array1, Axis};
use serde_json::{json, Value};

const FIXTURE: &str = include_str!("fixtures/wsaddt_step.json");
/// The reference's three linear layers and their positions in our network (SELU between).
const LINEARS: [(usize, &str); 3] = [
    (0, "encoder_fc1.weight"),
    (2, "encoder_fc2.weight"),
    (4, "encoder_fc3.weight"),
];

fn params(kind_params: impl FnOnce(&mut anoonly::methods::WsadDtParams)) -> FitParams {
    let mut p = FitParams::new(MethodKind::WsadDt);
    if let anoonly::methods::MethodParams::WsadDt(w) = &mut p.method {
        kind_params(w);
    }
    p
}

fn quick(anoonly: bool, seed: u64) -> FitParams {
    params(|w| w.epochs = 3).anoonly(anoonly).seed(seed)
}

fn fitted(m: &anoonly::methods::Model) -> &FittedWsadDt {
    match &m.fitted {
        Fitted::WsadDt(f) => f,
        _ => panic!("not a WSAD-DT model"),
    }
}

/// Three steps of one member, from the reference's initial weights and centres: loss,
/// gradient (before clipping), clipped norm, the Adam step, the final weights and the
/// eval-mode scores, all through the crate's own code path ([`batch_loss`]: the per-row
/// terms through the training core's `ClassMeans` reduction plus the regulariser).
#[test]
fn one_member_matches_the_authors_pytorch_code() {
    let fx: Value = serde_json::from_str(FIXTURE).expect("fixture json");
    let x = mat(&fx["x"]);
    let y: Vec<u8> = fx["y"]
        .as_array()
        .expect("y")
        .iter()
        .map(|v| v.as_u64().expect("label") as u8)
        .collect();
    let p = anoonly::methods::WsadDtParams::default();
    let mut net = p.network(x.ncols(), NormKind::None, &mut component_rng(0, "t"));
    for (i, name) in LINEARS {
        match &mut net.layers[i] {
            Layer::Linear(l) => l.weight = mat(&fx["initial_weights"][name]),
            _ => panic!("layer {i} is not linear"),
        }
    }
    let loss = WsadDtLoss {
        c_n: vec1(&fx["c_n"]),
        c_a: vec1(&fx["c_a"]),
        alpha: p.alpha,
        eps: p.eps,
    };
    let weighting = TrainParams::default().weighting(Reduction::ClassMeans);
    let mut opt = Adam::torch(p.weight_decay);
    let mut rng = component_rng(0, "reg");
    let initial: Vec<_> = LINEARS
        .iter()
        .map(|(_, name)| mat(&fx["initial_weights"][*name]))
        .collect();
    for (t, sf) in fx["steps"].as_array().expect("steps").iter().enumerate() {
        let rows: Vec<u32> = sf["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|v| v.as_u64().expect("row") as u32)
            .collect();
        let idx: Vec<usize> = rows.iter().map(|&r| r as usize).collect();
        let items: Vec<Item> = rows
            .iter()
            .enumerate()
            .map(|(index, &r)| Item {
                index,
                anomaly: y[r as usize] == 1,
                target: 0.0,
            })
            .collect();
        net.zero_grad();
        let z = net.forward(&x.select(Axis(0), &idx), Mode::Train);
        let bl = batch_loss(&loss, &p, &weighting, &z, &items, &rows, &mut rng);
        let ours = bl.value.expect("a loss");
        let theirs = sf["loss"].as_f64().expect("loss") as f32;
        let rel = (ours - theirs).abs() / theirs.abs();
        println!("step {t}: loss {ours} vs torch {theirs} (rel {rel:.1e})");
        assert!(rel < 1e-5, "step {t}: loss {ours} vs {theirs}");
        net.backward(&bl.grad, false);
        for (i, name) in LINEARS {
            let Layer::Linear(l) = &net.layers[i] else {
                unreachable!()
            };
            let e = scaled_err(
                l.grad_weight.view().into_dyn(),
                mat(&sf["grads"][name]).view().into_dyn(),
            );
            println!("step {t}: grad {name} scaled err {e:.2e}");
            assert!(e < 1e-4, "step {t} grad {name}: {e}");
        }
        let norm = clip_grad_norm(&mut net, p.max_grad_norm);
        let want = sf["grad_norm"].as_f64().expect("norm") as f32;
        assert!((norm - want).abs() < 1e-4 * want, "{norm} vs {want}");
        opt.step(&mut net, p.lr);
    }
    // The weights moved by ~lr per step: compare the updates, then the weights. Adam moves
    // a weight by about lr whatever the size of its gradient (m/sqrt(v) is near 1), so a
    // weight whose gradient is a rounding error of torch's can move differently: 1e-5 is 0.3%
    // of the 3e-3 the three steps move a weight at most.
    for ((i, name), w0) in LINEARS.iter().zip(&initial) {
        let Layer::Linear(l) = &net.layers[*i] else {
            unreachable!()
        };
        let theirs = mat(&fx["final_weights"][*name]);
        let e = scaled_err(
            (&l.weight - w0).view().into_dyn(),
            (&theirs - w0).view().into_dyn(),
        );
        let abs = (&l.weight - &theirs)
            .iter()
            .fold(0.0f32, |m, v| m.max(v.abs()));
        println!("final {name}: update scaled err {e:.2e}, max abs err {abs:.2e}");
        assert!(e < 1e-3 && abs < 1e-5, "final {name}: {e} {abs}");
    }
    let z = net.forward(&x, Mode::Eval);
    let scores: Array1<f32> = z.outer_iter().map(|r| loss.score(r)).collect();
    let e = scaled_err(
        scores.view().into_dyn(),
        vec1(&fx["scores"]).view().into_dyn(),
    );
    println!("scores scaled err {e:.2e}");
    assert!(e < 1e-5, "scores: {e}");
}

/// The authors' sampler draws anomalies with probability `1 / (1 + 2 n_u/N_u)` (the
/// weights come from the whole training set's counts): 0.714 for a fifth of the unlabeled
/// rows, which the spec measured as 0.7146 on cardio against torch's sampler.
#[test]
fn sampler_draws_about_71_percent_anomalies_per_member() {
    let unlabeled: Vec<u32> = (0..1000).collect();
    let anomalies: Vec<u32> = (1000..1013).collect();
    let part = partition(&unlabeled, 5, 2);
    assert_eq!(part.len(), 200);
    let s = MemberSampler::new(part, &anomalies, 1000, 1013);
    assert!((s.p_anomaly - 1.0 / 1.4).abs() < 1e-12);
    let mut rng = component_rng(4, "t");
    let (mut a, mut total) = (0usize, 0usize);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..50 {
        let pass = s.pass(&mut rng);
        assert_eq!(pass.len(), 1013);
        for r in pass {
            assert!(part.contains(&r) || anomalies.contains(&r), "row {r}");
            a += usize::from(r >= 1000);
            total += 1;
            seen.insert(r);
        }
    }
    let share = a as f64 / total as f64;
    // 50 650 draws: the binomial sd is 0.002.
    assert!((share - 0.7143).abs() < 0.01, "{share}");
    // Every row of the member and every anomaly is drawn (with replacement).
    assert_eq!(seen.len(), 213);
}

/// `--anoonly` is `lambda_n = 0` with AnoOnly's BatchNorm, bit for bit; `lambda_n = 1` is
/// the vanilla method; `reg_unlabeled = always` changes AnoOnly (its `K_uu` stays) and
/// nothing in the vanilla method.
#[test]
fn the_anoonly_switch_is_lambda_zero_plus_the_batchnorm() {
    let ds = common::small_synthetic();
    let scores = |p: &FitParams| {
        let m = p.fit(ds.x.view(), ds.y.view()).unwrap();
        common::bits(&m.decision_function(ds.x.view()).unwrap())
    };
    let ao = quick(true, 1);
    let mut manual = quick(false, 1);
    manual.train.lambda_n = Some(0.0);
    manual.train.norm = Some(NormKind::Bn);
    assert_eq!(scores(&ao), scores(&manual));
    let vanilla = quick(false, 1);
    let mut one = vanilla.clone();
    one.train.lambda_n = Some(1.0);
    assert_eq!(scores(&vanilla), scores(&one));
    let set_always = |p: &FitParams| {
        let mut q = p.clone();
        q.method
            .set_value("reg_unlabeled", json!("always"))
            .unwrap();
        q
    };
    // On this data the 128-d latents of distinct rows lie further apart than the authors'
    // sigma_u = 0.1 sees (their kernel underflows to 0): a wide kernel makes K_uu count.
    let wide = |mut p: FitParams| {
        p.method.set_value("sigma_u", json!(5.0)).unwrap();
        p
    };
    let (vanilla, ao) = (wide(vanilla), wide(ao));
    assert_eq!(scores(&vanilla), scores(&set_always(&vanilla)));
    assert_ne!(scores(&ao), scores(&set_always(&ao)));
    let m = ao.fit(ds.x.view(), ds.y.view()).unwrap();
    let layers = &fitted(&m).members[0].net.layers;
    assert!(matches!(layers[layers.len() - 2], Layer::BatchNorm(_)));
    let _ = RegUnlabeled::Always;
}

/// The observer sees member j's epochs in order, and a stop in member 2 ends the fit there.
#[test]
fn members_report_their_epochs_and_stop_when_asked() {
    let ds = common::small_synthetic();
    let p = quick(false, 0);
    let mut seen: Vec<(Stage, usize, usize)> = Vec::new();
    p.fit_observed(ds.x.view(), ds.y.view(), &mut |r: &EpochReport| {
        seen.push((r.stage, r.epoch, r.epochs));
        ControlFlow::Continue(())
    })
    .unwrap();
    let want: Vec<(Stage, usize, usize)> = (0..5)
        .flat_map(|j| (0..3).map(move |e| (Stage::Member { index: j, of: 5 }, e, 3)))
        .collect();
    assert_eq!(seen, want);
    let line = EpochReport {
        stage: Stage::Member { index: 1, of: 5 },
        epoch: 2,
        epochs: 3,
        loss: Some(0.5),
        empty_batches: 0,
        batches: 4,
    };
    assert_eq!(line.to_string(), "member 2/5 epoch 3/3 loss 0.5000");
    let mut n = 0;
    let e = p
        .fit_observed(ds.x.view(), ds.y.view(), &mut |_: &EpochReport| {
            n += 1;
            if n == 4 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap_err();
    assert_eq!(n, 4);
    let msg = e.to_string();
    assert!(msg.contains("member 2/5 epoch 1 of 3"), "{msg}");
}

/// Each member needs one unlabeled row: fewer than `n_ensemble` is refused by count.
#[test]
fn too_few_unlabeled_rows_are_refused() {
    let ds = common::small_synthetic();
    let mut y = ds.y.clone();
    let unlabeled: Vec<usize> = (0..y.len()).filter(|&i| y[i] == 0).collect();
    for &i in &unlabeled[4..] {
        y[i] = 1;
    }
    match quick(false, 0).fit(ds.x.view(), y.view()) {
        Err(FitError::TooFewUnlabeled { found, needed, .. }) => {
            assert_eq!((found, needed), (4, 5));
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    // Five are enough (one per member).
    y[unlabeled[4]] = 0;
    let m = quick(false, 0).fit(ds.x.view(), y.view()).unwrap();
    assert!(m.train_scores.iter().all(|s| s.is_finite()));
}

#[test]
fn bad_params_are_refused_by_name() {
    for (name, v) in [
        ("n_ensemble", json!(0)),
        ("eps", json!(0.6)),
        ("reg_points", json!(0)),
        ("alpha", json!(0.0)),
        ("max_grad_norm", json!(-1.0)),
        ("hidden", json!([])),
        ("reg_unlabeled", json!("sometimes")),
    ] {
        let mut p = FitParams::new(MethodKind::WsadDt);
        let e = match p.method.set_value(name, v.clone()) {
            Err(e) => e,
            Ok(()) => p.validate().unwrap_err(),
        };
        assert!(e.to_string().contains(name), "{name} = {v}: {e}");
    }
    // The Python class name reads as the method.
    assert_eq!("WSADDT".parse::<MethodKind>().unwrap(), MethodKind::WsadDt);
    assert_eq!("wsad-dt".parse::<MethodKind>().unwrap(), MethodKind::WsadDt);
}

/// Trained on the built-in synthetic data, the vanilla method ranks the held-out anomalies
/// well above chance (measured 0.910 at 10 epochs); the representation is the members'
/// 50-d hidden features side by side. AnoOnly trains and scores (finite, the same features),
/// but its AUCROC is not asserted: it is 0.56 here, and the BatchNorm before the last layer
/// is what hurts WSAD-DT (on 6_cardio the vanilla loss with that BatchNorm inverts the
/// ranking, AUCROC 0.08, as the authors' torch code with the same BatchNorm does, 0.12;
/// docs/protocol.md, WSAD-DT).
#[test]
fn synthetic_fit_beats_chance_and_gives_the_members_hidden_features() {
    let ds = anoonly::data::synthetic::demo_dataset(0);
    let sp = anoonly::protocol::split(
        ds.x.view(),
        ds.y.view(),
        &anoonly::protocol::SplitParams::default(),
        0,
    )
    .unwrap();
    for ao in [false, true] {
        let m = params(|w| w.epochs = 10)
            .anoonly(ao)
            .fit(sp.x_train.view(), sp.y_train.view())
            .unwrap();
        let s = m.decision_function(sp.x_test.view()).unwrap();
        assert!(s.iter().all(|v| v.is_finite()));
        let auc = aucroc(sp.y_test.as_slice().unwrap(), s.as_slice().unwrap()).unwrap();
        println!("anoonly={ao}: test AUCROC {auc:.3}");
        if !ao {
            assert!(auc > 0.85, "{auc}");
        }
        let rep = fitted(&m)
            .representation(sp.x_test.view())
            .expect("features");
        assert_eq!(rep.dim(), (sp.x_test.nrows(), 5 * 50));
        assert!(rep.iter().all(|v| v.is_finite()));
    }
}

/// The authors' WSAD-DT (PyPI wsad-dt 1.0.0, model seed 100 + seed) on 6_cardio's arrays of
/// `anoonly eval --seeds 0,1,2` (scripts/peers/fidelity.py; docs/fidelity.md):
/// AUCROC 0.9960, 0.9962, 0.9886, mean 0.9936 (ours measured 0.9951, 0.9968, 0.9871, mean
/// 0.9930). The tolerance, 0.01 on the 3-seed mean, is about three standard deviations of the
/// difference of two independent 3-seed means at the reference's own seed-to-seed spread
/// here (sd 0.0043): the two draw from different random streams.
#[test]
#[ignore = "needs ../shared/data (run by scripts/test.sh when it exists)"]
fn wsad_dt_matches_the_reference_on_cardio_needs_shared_data() {
    let aucs = common::default_aucrocs("Classical/6_cardio.npz", MethodKind::WsadDt, 3);
    for (seed, auc) in aucs.iter().enumerate() {
        println!("seed {seed}: AUCROC {auc:.4}");
    }
    let mean = aucs.iter().sum::<f64>() / 3.0;
    assert!((mean - 0.9936).abs() < 0.01, "{mean}");
}
