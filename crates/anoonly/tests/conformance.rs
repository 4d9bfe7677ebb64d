//! One conformance test for every registered method (`MethodKind::ALL`, with and without
//! AnoOnly where the method has it): the registry is consistent with the method files, a
//! fit scores, saves and loads bit for bit, is bit-deterministic per seed, refuses bad
//! input and bad parameters by name, guards its layer widths before allocating, and stops
//! within one epoch when its observer asks, and declares the stages of its fit truthfully
//! (every declared parameter is a field, every field is read by a stage, and a label-free
//! stage computes the same result whatever it does not declare). Nothing here names a
//! method: a new method file is checked by these tests as soon as it is registered, and an
//! unregistered one fails `every_method_file_is_registered`. Method-specific behaviour stays in the method's own
//! test file.

mod common;

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};

use anoonly::methods::{FitError, FitParams, MethodKind, MethodParams, Model, MAX_LAYER_WEIGHTS};
use anoonly::train::shared::{StageCache, StageKey, StageOutput};
use anoonly::train::stages::StageKeyBuilder;
use anoonly::train::{EpochReport, Silent, Stage};
use anoonly::vocab::NormKind;
use ndarray::{s, Array1, Array2};
use serde_json::{json, Value};

/// Every (method, AnoOnly) pair the registry offers.
fn variants() -> Vec<(MethodKind, bool)> {
    MethodKind::ALL
        .iter()
        .flat_map(|&k| {
            let ao: &[bool] = if k.supports_anoonly() {
                &[false, true]
            } else {
                &[false]
            };
            ao.iter().map(move |&a| (k, a))
        })
        .collect()
}

fn has_param(kind: MethodKind, name: &str) -> bool {
    MethodParams::param_defaults(kind)
        .iter()
        .any(|(n, _)| n == name)
}

/// Short fits for any method: 2 epochs (where it trains in epochs), 1 epoch of every stage
/// that counts its own, and a small value for every training-length hyperparameter it has,
/// by name.
fn quick(kind: MethodKind, anoonly: bool, seed: u64) -> FitParams {
    let mut p = FitParams::new(kind).anoonly(anoonly).seed(seed);
    if p.method.clone().knobs().epochs.is_some() {
        p.method.set_epochs(2).unwrap();
    }
    // (A declared name that is not a field fails `every_stage_declaration_names_real_parameters`.)
    for name in kind.stages().iter().filter_map(|s| s.epochs_param) {
        if has_param(kind, name) {
            p.method.set_value(name, json!(1)).unwrap();
        }
    }
    for (name, v) in [
        ("steps_per_epoch", 3),
        ("batches_per_epoch", 3),
        ("n_estimators", 5),
    ] {
        if has_param(kind, name) {
            p.method.set_value(name, json!(v)).unwrap();
        }
    }
    p
}

fn fit(p: &FitParams, ds: &anoonly::Dataset) -> Model {
    p.fit(ds.x.view(), ds.y.view())
        .unwrap_or_else(|e| panic!("{} anoonly={}: {e}", p.method.kind(), p.train.anoonly))
}

/// The `.rs` files under `dir`, subdirectories included (a method's parts live in
/// `methods/NAME/`).
fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

#[test]
fn every_method_file_is_registered() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/methods");
    let modules: Vec<&str> = MethodKind::ALL.iter().map(|k| k.module()).collect();
    let mut methods_found = 0;
    for path in rust_files(&dir) {
        let text = std::fs::read_to_string(&path).unwrap();
        if !text.contains("impl Method for") {
            continue;
        }
        methods_found += 1;
        // A method is one file directly under `methods/` (its parts may sit in a
        // subdirectory of its name, but not its `Method` implementation).
        assert_eq!(
            path.parent(),
            Some(dir.as_path()),
            "{}: a method's `impl Method` lives in methods/NAME.rs",
            path.display()
        );
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        assert!(
            modules.contains(&stem.as_str()),
            "{} implements Method but is not in the registry (methods/mod.rs, `registry!`)",
            path.display()
        );
    }
    assert_eq!(methods_found, MethodKind::ALL.len());
}

/// The stage declarations are true to the parameters: every declared parameter is a field
/// (a field renamed without its declaration fails here, not silently in `bench`'s sharing
/// groups), every field of a method that declares stages is read by one of them, a stage's
/// own epochs are a whole-number field it reads, the costs add up, and a label-free stage
/// gets a key.
#[test]
fn every_stage_declaration_names_real_parameters() {
    for &kind in MethodKind::ALL {
        let name = kind.name();
        let stages = kind.stages();
        if stages.is_empty() {
            continue;
        }
        let fields: Vec<(String, Value)> = MethodParams::param_defaults(kind);
        let is_field = |p: &str| fields.iter().any(|(n, _)| n == p);
        let mut names = Vec::new();
        let mut own_epochs = Vec::new();
        for st in stages {
            let what = format!("{name} stage `{}`", st.name);
            assert!(!st.name.is_empty() && !st.description.is_empty(), "{what}");
            assert!(!names.contains(&st.name), "{what}: declared twice");
            names.push(st.name);
            for &p in st.params {
                assert!(
                    is_field(p),
                    "{what} declares `{p}`, which is not a parameter of {name}"
                );
            }
            if let Some(e) = st.epochs_param {
                let default = &fields.iter().find(|(n, _)| n == e).unwrap_or_else(|| {
                    panic!("{what}: its epochs parameter `{e}` is not a parameter")
                });
                assert!(default.1.is_u64(), "{what}: `{e}` is not a whole number");
                assert!(st.reads_param(e), "{what}: does not list its epochs `{e}`");
                // The `--epochs` knob is scaled as such; a stage's own epochs are another
                // field.
                assert_ne!(e, "epochs", "{what}");
                assert!(!own_epochs.contains(&e), "{what}: `{e}` counted twice");
                own_epochs.push(e);
            }
            assert!(st.cost_fraction > 0.0 && st.cost_fraction <= 1.0, "{what}");
            if st.is_label_free() {
                let p = MethodParams::defaults(kind);
                let train = anoonly::train::TrainParams::default();
                StageKeyBuilder::new(name, st, &p, &train)
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
            }
        }
        let total: f64 = stages.iter().map(|s| s.cost_fraction).sum();
        assert!((total - 1.0).abs() < 1e-9, "{name}: costs sum to {total}");
        for (f, _) in &fields {
            assert!(
                stages.iter().any(|s| s.reads_param(f)),
                "{name}.{f} is read by none of its declared stages"
            );
        }
    }
}

/// A store that never hits and records every stage result computed through it.
#[derive(Default)]
struct Recorder(Mutex<Vec<(StageKey, Arc<StageOutput>)>>);

impl StageCache for Recorder {
    fn get(&self, _: &StageKey) -> Option<Arc<StageOutput>> {
        None
    }

    fn put(&self, key: &StageKey, value: Arc<StageOutput>) {
        self.0.lock().unwrap().push((*key, value));
    }
}

/// A stage result as bits: its tensors by name, and its losses.
type OutputBits = (Vec<(String, Vec<u32>)>, Vec<Option<u32>>);

/// The bits of a stage result.
fn output_bits(o: &StageOutput) -> OutputBits {
    let mut t: Vec<(String, Vec<u32>)> = o
        .tensors
        .iter()
        .map(|t| (t.name.clone(), t.data.iter().map(|v| v.to_bits()).collect()))
        .collect();
    t.sort();
    let losses = o
        .report
        .epoch_losses
        .iter()
        .map(|l| l.map(f32::to_bits))
        .collect();
    (t, losses)
}

/// Another valid value of a hyperparameter, where one can be made without knowing it
/// (numbers and their arrays, booleans; not enum names).
fn other_value(p: &FitParams, name: &str, v: &Value) -> Option<FitParams> {
    let candidates: Vec<Value> = match v {
        Value::Bool(b) => vec![json!(!b)],
        Value::Number(n) if n.is_u64() => {
            let n = n.as_u64().unwrap_or(0);
            vec![json!(n + 1), json!(n + 2)]
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            vec![json!(x * 0.5), json!(x * 2.0), json!(x + 0.5)]
        }
        Value::Array(a) if a.iter().all(Value::is_u64) => {
            let a: Vec<u64> = a.iter().filter_map(Value::as_u64).collect();
            vec![json!(a.iter().map(|n| n + 1).collect::<Vec<_>>())]
        }
        _ => Vec::new(),
    };
    candidates.into_iter().find_map(|c| {
        let mut q = p.clone();
        q.method.set_value(name, c).ok()?;
        q.validate().ok().map(|()| q)
    })
}

/// A label-free stage reads what it declares and nothing else: its result is looked up in
/// the store of shared stages (so sharing happens at all), and the same, bit for bit, with
/// the same key, whatever the AnoOnly switch, `lambda_n`, `norm`, the labeled rows'
/// features or any hyperparameter the stage does not declare; a declared one gives another
/// key. (A stage reading a parameter it does not declare would hand a stale result to the
/// cells that differ in it.)
#[test]
fn every_label_free_stage_reads_only_what_it_declares() {
    let ds = common::small_synthetic();
    for &kind in MethodKind::ALL {
        let name = kind.name();
        let shared: Vec<_> = kind.stages().iter().filter(|s| s.is_label_free()).collect();
        if shared.is_empty() {
            continue;
        }
        let run = |p: &FitParams, x: ndarray::ArrayView2<f32>| {
            let rec = Recorder::default();
            p.fit_shared(x, ds.y.view(), &mut Silent, Some(&rec))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut got = rec.0.into_inner().unwrap();
            got.sort_by_key(|(k, _)| k.id);
            got.into_iter()
                .map(|(k, o)| (k, output_bits(&o)))
                .collect::<Vec<_>>()
        };
        let base_params = quick(kind, false, 3);
        let base = run(&base_params, ds.x.view());
        for st in &shared {
            assert!(
                base.iter().any(|(k, _)| k.id.stage == st.name),
                "{name} declares `{}` label-free but never looks it up in the store",
                st.name
            );
        }
        let same = |what: &str, p: &FitParams, x: ndarray::ArrayView2<f32>| {
            assert!(
                run(p, x) == base,
                "{name}: {what} changed a label-free stage"
            );
        };
        // The labeled rows' features are not read.
        let mut x = ds.x.clone();
        for (mut row, &label) in x.rows_mut().into_iter().zip(ds.y.iter()) {
            if label == 1 {
                row.mapv_inplace(|v| v + 1.0);
            }
        }
        same("the labeled rows' features", &base_params, x.view());
        if kind.supports_anoonly() {
            same("AnoOnly", &quick(kind, true, 3), ds.x.view());
            let mut l = base_params.clone();
            l.train.lambda_n = Some(0.25);
            same("lambda_n", &l, ds.x.view());
            let mut n = base_params.clone();
            n.train.norm = NormKind::ALL
                .iter()
                .copied()
                .find(|&k| k != kind.own_norm());
            same("norm", &n, ds.x.view());
        }
        let fields = serde_json::to_value(&base_params.method).unwrap();
        for (field, _) in MethodParams::param_defaults(kind) {
            let Some(q) = other_value(&base_params, &field, &fields[field.as_str()]) else {
                continue;
            };
            let declared: Vec<&str> = shared
                .iter()
                .filter(|s| s.reads_param(&field))
                .map(|s| s.name)
                .collect();
            if declared.is_empty() {
                same(&format!("`{field}`"), &q, ds.x.view());
            } else {
                let other = run(&q, ds.x.view());
                for st in declared {
                    let key = |r: &[(StageKey, _)]| {
                        r.iter()
                            .find(|(k, _)| k.id.stage == st)
                            .map(|(k, _)| k.hash)
                    };
                    assert_ne!(key(&base), key(&other), "{name}.{field}: the same key");
                }
            }
        }
    }
}

#[test]
fn the_registry_is_consistent() {
    let mut names = Vec::new();
    for &kind in MethodKind::ALL {
        let name = kind.name();
        assert!(!names.contains(&name), "{name} registered twice");
        names.push(name);
        assert_eq!(name.parse::<MethodKind>().unwrap(), kind);
        assert_eq!(name.to_uppercase().parse::<MethodKind>().unwrap(), kind);
        assert_eq!(serde_json::to_value(kind).unwrap(), json!(name));
        // The display name (Python's class) reads as the method too, and the summary (its
        // docstring) is one paragraph that says what AnoOnly means for it.
        let display = kind.display_name();
        assert_eq!(display.parse::<MethodKind>().unwrap(), kind, "{display}");
        let summary = kind.summary();
        assert!(
            summary.contains("AnoOnly") && summary.contains(" 20") && !summary.contains('\n'),
            "{name}: the summary names the paper (year) and AnoOnly, in one paragraph: {summary}"
        );
        assert_eq!(
            kind.trains_in_epochs(),
            MethodParams::param_defaults(kind)
                .iter()
                .any(|(n, _)| n == "epochs"),
            "{name}"
        );
        let p = MethodParams::defaults(kind);
        assert_eq!(p.kind(), kind);
        p.validate()
            .unwrap_or_else(|e| panic!("{name}: defaults invalid: {e}"));
        // The serialised form: the method's name, then its fields; read back equal.
        let text = serde_json::to_string(&p).unwrap();
        assert!(
            text.starts_with(&format!("{{\"method\":\"{name}\"")),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<MethodParams>(&text).unwrap(), p);
        // Every parameter is listed with its default and can be set to it.
        let defaults = MethodParams::param_defaults(kind);
        let fields = serde_json::to_value(&p).unwrap();
        for (n, v) in &defaults {
            assert_eq!(&fields[n.as_str()], v, "{name}.{n}");
            let mut q = p.clone();
            q.set_value(n, v.clone()).unwrap();
            assert_eq!(q, p, "{name}.{n}");
        }
        assert_eq!(defaults.len() + 1, fields.as_object().unwrap().len());
        // The typed knobs are the fields of the same name, where the method has them.
        for (knob, field) in [(0, "epochs"), (1, "batch_size")] {
            let mut q = p.clone();
            let mut k = q.knobs();
            let slot = if knob == 0 {
                k.epochs.take()
            } else {
                k.batch_size.take()
            };
            match slot {
                Some(slot) => {
                    assert_eq!(json!(*slot), fields[field], "{name}: knob {field}");
                    *slot += 1;
                    let after = serde_json::to_value(&q).unwrap();
                    assert_eq!(after[field], json!(fields[field].as_u64().unwrap() + 1));
                }
                None => assert!(
                    fields.get(field).is_none(),
                    "{name} has a `{field}` field but no knob for it"
                ),
            }
        }
        let mut q = p.clone();
        match q.set_epochs(7) {
            Ok(()) => assert_eq!(serde_json::to_value(&q).unwrap()["epochs"], json!(7)),
            Err(e) => assert!(e.to_string().contains("epochs"), "{name}: {e}"),
        }
        assert_eq!(
            q.batch_size(),
            fields
                .get("batch_size")
                .and_then(|b| b.as_u64())
                .map(|b| b as usize)
        );
        // A baseline has no normalisation of its own for AnoOnly to keep.
        if !kind.supports_anoonly() {
            assert_eq!(kind.own_norm(), NormKind::None, "{name}");
        }
        assert!(kind.relative_cost(1000) > 0.0);
    }
}

#[test]
fn every_method_fits_scores_and_round_trips() {
    let ds = common::small_synthetic();
    for (kind, ao) in variants() {
        let m = fit(&quick(kind, ao, 2), &ds);
        let what = format!("{kind} anoonly={ao}");
        assert_eq!(m.kind(), kind);
        assert_eq!(m.train_scores.len(), ds.n_rows(), "{what}");
        let s = m.decision_function(ds.x.view()).unwrap();
        assert_eq!(s.len(), ds.n_rows(), "{what}");
        assert!(s.iter().all(|v| v.is_finite()), "{what}");
        // Scoring twice gives the same scores, and a row scores the same in any batch.
        assert_eq!(
            common::bits(&s),
            common::bits(&m.decision_function(ds.x.view()).unwrap()),
            "{what}"
        );
        let part = m.decision_function(ds.x.slice(s![3..10, ..])).unwrap();
        assert_eq!(
            common::bits(&part),
            common::bits(&s.slice(s![3..10]).to_owned()),
            "{what}: scores depend on the batch"
        );
        // Thresholds: PyOD's contamination rule, the prediction is `score > threshold`.
        let t = m.threshold(0.1).unwrap();
        let pred = m.predict(ds.x.view(), 0.1).unwrap();
        assert_eq!(pred, s.mapv(|v| u8::from(v > t)), "{what}");
        for bad in [0.0, -0.1, 0.7, f64::NAN] {
            assert!(m.threshold(bad).is_err(), "{what}: contamination {bad}");
        }
        // Scoring checks its input.
        let narrow = ds.x.slice(s![.., ..3]).to_owned();
        assert!(m.decision_function(narrow.view()).is_err(), "{what}");
        let mut nan = ds.x.clone();
        nan[[4, 2]] = f32::NAN;
        assert!(m.decision_function(nan.view()).is_err(), "{what}");
        common::assert_round_trip(&m, ds.x.view());
        // Hidden features before the last layer, where the method has them: a row each,
        // finite, deterministic, row by row, the same after a model-file round trip.
        match m.representation(ds.x.view()) {
            Ok(rep) => {
                assert_eq!(rep.nrows(), ds.n_rows(), "{what}");
                assert!(rep.ncols() > 0, "{what}");
                assert!(rep.iter().all(|v| v.is_finite()), "{what}");
                let part = m.representation(ds.x.slice(s![3..10, ..])).unwrap();
                assert_eq!(
                    common::bits(&part),
                    common::bits(&rep.slice(s![3..10, ..]).to_owned()),
                    "{what}: features depend on the batch"
                );
                let bytes = anoonly::model_file::to_bytes(&m).unwrap();
                let back =
                    anoonly::model_file::from_bytes(&bytes, std::path::Path::new("mem")).unwrap();
                assert_eq!(
                    common::bits(&back.representation(ds.x.view()).unwrap()),
                    common::bits(&rep),
                    "{what}: features after a round trip"
                );
            }
            Err(e) => assert!(
                matches!(e, anoonly::methods::ScoreError::NoRepresentation(k) if k == kind),
                "{what}: {e}"
            ),
        }
        assert!(m.representation(narrow.view()).is_err(), "{what}");
    }
}

#[test]
fn every_method_is_bit_deterministic_per_seed() {
    let ds = common::small_synthetic();
    for (kind, ao) in variants() {
        common::assert_seed_determinism(&|seed| quick(kind, ao, seed), &ds, 7);
    }
}

/// The thread count changes nothing: model bytes, training scores and scores are
/// bit-identical at 1, 2 and 3 threads (`nn::with_threads`). The thresholds from which
/// products and passes are split are set to 0 for the whole process first, so that on this
/// small set every product and every pass that can be split is split (they only decide
/// where splitting starts, and other tests running meanwhile cannot see a difference
/// either: that is the property).
#[test]
fn every_method_is_bit_identical_at_any_thread_count() {
    anoonly::nn::matmul::set_gemm_threaded_min_work(0);
    anoonly::nn::par::set_min_work(0);
    let ds = common::small_synthetic();
    for (kind, ao) in variants() {
        let p = quick(kind, ao, 3);
        let run = |threads: usize| {
            anoonly::nn::with_threads(threads, || {
                let m = fit(&p, &ds);
                let s = m.decision_function(ds.x.view()).unwrap();
                let bytes = anoonly::model_file::to_bytes(&m).unwrap();
                (bytes, common::bits(&m.train_scores), common::bits(&s))
            })
        };
        let one = run(1);
        for t in [2, 3] {
            assert!(
                run(t) == one,
                "{kind} anoonly={ao}: {t} threads differ from 1"
            );
        }
    }
}

#[test]
fn every_method_refuses_bad_training_input() {
    let ds = common::small_synthetic();
    let n = ds.n_rows();
    for (kind, ao) in variants() {
        let p = quick(kind, ao, 0);
        let what = format!("{kind} anoonly={ao}");
        // No labeled anomaly: a method declares whether it trains on unlabeled rows alone;
        // a variant without a loss on them (AnoOnly) is refused.
        let zeros = Array1::<u8>::zeros(n);
        match p.fit(ds.x.view(), zeros.view()) {
            Ok(m) if kind.trains_without_anomalies() && !ao => {
                let s = m.decision_function(ds.x.view()).unwrap();
                assert!(
                    s.iter().all(|v| v.is_finite()),
                    "{what}: no labeled anomaly"
                );
            }
            Err(FitError::NoLoss { method }) if kind.trains_without_anomalies() && ao => {
                assert_eq!(method, kind, "{what}");
            }
            Err(FitError::NoLabeledAnomaly { method }) if !kind.trains_without_anomalies() => {
                assert_eq!(method, kind, "{what}");
            }
            other => panic!("{what}: no labeled anomaly gave {:?}", other.map(|_| ())),
        }
        let short = Array1::<u8>::ones(3);
        assert!(
            matches!(
                p.fit(ds.x.view(), short.view()),
                Err(FitError::LengthMismatch { .. })
            ),
            "{what}"
        );
        let mut two = ds.y.clone();
        two[5] = 2;
        assert!(
            matches!(
                p.fit(ds.x.view(), two.view()),
                Err(FitError::BadLabel { row: 5, value: 2 })
            ),
            "{what}"
        );
        let mut nan = ds.x.clone();
        nan[[7, 1]] = f32::INFINITY;
        assert!(
            matches!(
                p.fit(nan.view(), ds.y.view()),
                Err(FitError::NonFinite { row: 7, col: 1 })
            ),
            "{what}"
        );
        // Edge cases a method may refuse or train on, but never panic on: every row a
        // labeled anomaly, and a single feature.
        let ones = Array1::<u8>::ones(n);
        if let Ok(m) = p.fit(ds.x.view(), ones.view()) {
            let s = m.decision_function(ds.x.view()).unwrap();
            assert!(s.iter().all(|v| v.is_finite()), "{what}: all labeled");
        }
        let one_col = ds.x.slice(s![.., ..1]).to_owned();
        if let Ok(m) = p.fit(one_col.view(), ds.y.view()) {
            let s = m.decision_function(one_col.view()).unwrap();
            assert!(s.iter().all(|v| v.is_finite()), "{what}: one feature");
        }
        let empty = Array2::<f32>::zeros((0, 12));
        let no_y = Array1::<u8>::zeros(0);
        assert!(
            matches!(p.fit(empty.view(), no_y.view()), Err(FitError::Empty)),
            "{what}"
        );
    }
}

#[test]
fn every_method_refuses_bad_parameters_by_name() {
    for &kind in MethodKind::ALL {
        let name = kind.name();
        let p = FitParams::new(kind);
        // An unknown name lists the known ones.
        let mut q = p.clone();
        let e = q
            .method
            .set_value("no_such_parameter", json!(1))
            .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("has no parameter `no_such_parameter`"),
            "{msg}"
        );
        for (n, _) in MethodParams::param_defaults(kind) {
            assert!(msg.contains(&n), "{name}: `{n}` not listed in: {msg}");
        }
        for (n, default) in MethodParams::param_defaults(kind) {
            // A value of the wrong type names the field.
            if !default.is_string() {
                let e = q.method.set_value(&n, json!("not-a-value")).unwrap_err();
                assert!(e.to_string().contains(&n), "{name}.{n}: {e}");
            }
            // A float hyperparameter refuses a non-finite value (1e39 is +inf as f32).
            if default.is_f64() {
                let mut r = p.clone();
                r.method.set_value(&n, json!(1e39)).unwrap();
                let e = r.validate().unwrap_err();
                assert_eq!(e.field, n, "{name}.{n}: {e}");
            }
        }
        // The AnoOnly switch: a baseline refuses it and its parts, the others take them.
        let mut with = vec![p.clone().anoonly(true)];
        let mut l = p.clone();
        l.train.lambda_n = Some(0.5);
        with.push(l);
        let mut nrm = p.clone();
        nrm.train.norm = Some(NormKind::Bn);
        with.push(nrm);
        for (q, field) in with.iter().zip(["anoonly", "lambda_n", "norm"]) {
            match (kind.supports_anoonly(), q.validate()) {
                (true, r) => assert!(r.is_ok(), "{name}: {r:?}"),
                (false, Err(e)) => {
                    assert_eq!(e.field, field);
                    assert!(e.to_string().contains("baseline"), "{e}");
                }
                (false, Ok(())) => panic!("{name} is a baseline but accepts {field}"),
            }
        }
        let mut neg = p.clone();
        neg.train.lambda_n = Some(-1.0);
        assert!(neg.validate().is_err(), "{name}: lambda_n -1");
    }
}

#[test]
fn every_layer_width_is_guarded_before_allocation() {
    let ds = common::small_synthetic();
    for &kind in MethodKind::ALL {
        let name = kind.name();
        let defaults = MethodParams::defaults(kind);
        let chain = defaults.layer_widths(ds.n_features());
        assert_eq!(chain[0], ("n_features", ds.n_features()), "{name}");
        // A network's first layer is at least n_features wide: an absurd input width is
        // refused before the data is even split.
        if chain.len() > 1 {
            let e = FitParams::new(kind).check_network(1 << 40).unwrap_err();
            assert!(matches!(e, FitError::NetworkTooLarge(_)), "{name}: {e}");
            // The message names the widths and the bound.
            let msg = e.to_string();
            assert!(msg.contains("n_features = 1099511627776"), "{msg}");
            assert!(msg.contains(&MAX_LAYER_WEIGHTS.to_string()), "{msg}");
        }
        // Each width a hyperparameter sets, absurd: refused by fit itself, naming it (the
        // allocation would abort the process).
        let fields = serde_json::to_value(&defaults).unwrap();
        for (key, _) in chain.iter().skip(1) {
            let Some(v) = fields.get(*key) else {
                continue;
            };
            let huge = match v {
                Value::Array(a) => json!(vec![1_000_000_000_000u64; a.len()]),
                _ => json!(1_000_000_000_000u64),
            };
            let mut p = quick(kind, false, 0);
            p.method.set_value(key, huge).unwrap();
            // Refused by the method's range check or by the network guard.
            let e = p.fit(ds.x.view(), ds.y.view()).unwrap_err();
            assert!(
                matches!(e, FitError::NetworkTooLarge(_) | FitError::Param(_)),
                "{name}.{key}: {e}"
            );
            assert!(e.to_string().contains(key), "{name}.{key}: {e}");
        }
    }
}

#[test]
fn every_fit_stops_within_one_epoch_when_its_observer_asks() {
    let ds = common::small_synthetic();
    for (kind, ao) in variants() {
        let p = quick(kind, ao, 1);
        let what = format!("{kind} anoonly={ao}");
        // Every report a whole fit gives, in order.
        let mut all: Vec<EpochReport> = Vec::new();
        p.fit_observed(ds.x.view(), ds.y.view(), &mut |r: &EpochReport| {
            all.push(r.clone());
            ControlFlow::Continue(())
        })
        .unwrap();
        assert!(!all.is_empty(), "{what}: no epoch reported");
        for r in &all {
            assert!(r.epoch < r.epochs, "{what}: {r:?}");
        }
        assert!(
            all.iter().any(|r| matches!(
                r.stage,
                Stage::Train | Stage::Boosting | Stage::Member { .. }
            )),
            "{what}"
        );
        // Stopped after the first report, and after the last but one: no report after the
        // stop, and no model.
        for stop_at in [1, all.len().saturating_sub(1).max(1)] {
            let mut seen = 0;
            let e = p
                .fit_observed(ds.x.view(), ds.y.view(), &mut |_: &EpochReport| {
                    seen += 1;
                    if seen == stop_at {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                })
                .unwrap_err();
            assert_eq!(seen, stop_at, "{what}: epochs ran after the stop");
            match e {
                FitError::Interrupted(i) => {
                    let r = &all[stop_at - 1];
                    assert_eq!((i.stage, i.epoch, i.epochs), (r.stage, r.epoch, r.epochs));
                    assert!(e.to_string().contains("interrupted"), "{e}");
                }
                e => panic!("{what}: {e}"),
            }
        }
        // The silent observer never stops a fit.
        assert!(p
            .fit_observed(ds.x.view(), ds.y.view(), &mut Silent)
            .is_ok());
    }
}
