//! FEAWAD's shared pretraining ([`anoonly::train::shared`]): base and AnoOnly cells evaluated with
//! a pretraining taken from the store, in memory or from a cache directory (also after the
//! file was damaged), give the records of computing it per cell, bit for bit; the cells
//! that share a pretraining find it, those that must not (other rows, other stage-1
//! settings) do not.

mod common;

use anoonly::experiment::{evaluate_once, evaluate_shared, EvalConfig, EvalRecord};
use anoonly::methods::{FitParams, MethodKind};
use anoonly::protocol::{Labeled, Setting, SplitParams};
use anoonly::train::shared::{SharedStages, StageCache, StageStats, STAGE_DIR};
use anoonly::train::Silent;
use anoonly::Dataset;

/// FEAWAD at a small budget (the authors' architecture and batch size on real data).
fn feawad(anoonly: bool, budget: [usize; 3], batch_size: usize) -> FitParams {
    let mut fit = FitParams::new(MethodKind::Feawad).anoonly(anoonly);
    let [pretrain_epochs, epochs, steps] = budget;
    for (name, v) in [
        ("pretrain_epochs", pretrain_epochs),
        ("epochs", epochs),
        ("steps_per_epoch", steps),
        ("batch_size", batch_size),
    ] {
        fit.method.set(name, &v.to_string()).unwrap();
    }
    fit
}

fn cfg(fit: FitParams, setting: Setting, gamma_la: f64) -> EvalConfig {
    EvalConfig {
        fit,
        split: SplitParams {
            setting,
            labeled: Labeled::Ratio(gamma_la),
            ..SplitParams::default()
        },
    }
}

/// Everything of a record but its timings, as bits.
fn key(r: &EvalRecord) -> String {
    format!(
        "{} {} {} {:?} {} {} {} {} {} {} {} {} {:?} {} {}",
        r.dataset,
        r.method,
        r.anoonly,
        [r.aucroc, r.aucpr, r.aucpr_normal, r.aucpr_normal_official].map(f64::to_bits),
        r.n_train,
        r.n_labeled,
        r.n_unlabeled_anomalies,
        r.n_test,
        r.n_test_anomalies,
        r.empty_batches,
        r.seed,
        r.setting,
        r.labeled,
        r.lambda_n,
        serde_json::to_string(&r.method_params).unwrap()
    )
}

fn stats(c: &SharedStages) -> (usize, usize, usize, usize) {
    let StageStats {
        computed,
        memory_hits,
        disk_hits,
        rejected,
        ..
    } = c.stats();
    (computed, memory_hits, disk_hits, rejected)
}

/// Base then AnoOnly on one split: per cell, through one memory store, through a cache
/// directory (a second process's view: a new store on the same directory), and after the
/// file was truncated and then altered.
fn check_pair(ds: &Dataset, budget: [usize; 3], batch_size: usize) {
    let seed = 3;
    let cells = [false, true].map(|a| cfg(feawad(a, budget, batch_size), Setting::Clean, 0.1));
    let alone: Vec<String> = cells
        .iter()
        .map(|c| key(&evaluate_once(ds, c, seed, &mut Silent).unwrap()))
        .collect();
    assert_ne!(alone[0], alone[1]);
    let through = |store: &SharedStages| -> Vec<String> {
        cells
            .iter()
            .map(|c| key(&evaluate_shared(ds, c, seed, &mut Silent, Some(store)).unwrap()))
            .collect()
    };

    let memory = SharedStages::in_memory(64 << 20);
    assert_eq!(through(&memory), alone, "memory");
    assert_eq!(
        stats(&memory),
        (1, 1, 0, 0),
        "the AnoOnly cell reused the base's"
    );

    let dir = tempfile::tempdir().unwrap();
    let disk = || {
        SharedStages::in_memory(64 << 20)
            .with_dir(dir.path())
            .unwrap()
    };
    let first = disk();
    assert_eq!(through(&first), alone, "disk, first run");
    assert_eq!(stats(&first), (1, 1, 0, 0));
    let second = disk();
    assert_eq!(through(&second), alone, "disk, second run");
    assert_eq!(stats(&second), (0, 1, 1, 0), "read from the directory");

    let files: Vec<_> = std::fs::read_dir(dir.path().join(STAGE_DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let file = &files[0];
    let bytes = std::fs::read(file).unwrap();
    std::fs::write(file, &bytes[..bytes.len() / 2]).unwrap();
    let truncated = disk();
    assert_eq!(through(&truncated), alone, "after truncation");
    assert_eq!(stats(&truncated), (1, 1, 0, 1), "refused and recomputed");
    assert_eq!(
        std::fs::read(file).unwrap(),
        bytes,
        "replaced by the same bytes"
    );
    let mut altered = bytes.clone();
    let last = altered.len() - 5;
    altered[last] ^= 0x01; // one bit of the last weight
    std::fs::write(file, &altered).unwrap();
    let flipped = disk();
    assert_eq!(through(&flipped), alone, "after a flipped bit");
    assert_eq!(stats(&flipped), (1, 1, 0, 1));
}

#[test]
fn feawad_cells_with_a_shared_pretraining_equal_computing_it_per_cell() {
    let ds = common::small_synthetic();
    check_pair(&ds, [3, 2, 5], 32);
}

/// CIFAR10_0 at the authors' widths and batch size (512-d input, 512-row batches), short.
#[test]
#[ignore = "needs ../shared/data (run by scripts/test.sh when it exists)"]
fn feawad_shared_pretraining_is_exact_on_cifar10_needs_shared_data() {
    let ds = common::shared_file("CV_by_ResNet18/CIFAR10_0.npz");
    check_pair(&ds, [2, 1, 5], 512);
}

/// Which cells find another's pretraining: in the clean setting every gamma_la (the
/// unlabeled rows are the train normals, drawn before any anomaly is labeled) and a
/// scoring-stage change; not the noisy setting's other gamma_la (other unlabeled
/// anomalies), nor another seed, batch size or learning rate.
#[test]
fn exactly_the_cells_with_the_same_pretraining_share_it() {
    let ds = common::small_synthetic();
    let budget = [2, 1, 4];
    let store = SharedStages::in_memory(64 << 20);
    let run = |fit: FitParams, setting, gamma_la, seed| {
        let c = cfg(fit, setting, gamma_la);
        let a = key(&evaluate_once(&ds, &c, seed, &mut Silent).unwrap());
        let b = key(&evaluate_shared(&ds, &c, seed, &mut Silent, Some(&store)).unwrap());
        assert_eq!(a, b);
        let s = store.stats();
        (s.computed, s.memory_hits)
    };
    let base = || feawad(false, budget, 32);
    assert_eq!(run(base(), Setting::Clean, 0.1, 0), (1, 0));
    assert_eq!(
        run(base(), Setting::Clean, 0.5, 0),
        (1, 1),
        "clean, other gamma_la"
    );
    let mut margin = feawad(true, budget, 32);
    margin.method.set("margin", "3").unwrap();
    margin.method.set("epochs", "2").unwrap();
    assert_eq!(
        run(margin, Setting::Clean, 1.0, 0),
        (1, 2),
        "scoring-stage change"
    );
    assert_eq!(run(base(), Setting::Noisy, 0.1, 0), (2, 2), "noisy");
    assert_eq!(
        run(base(), Setting::Noisy, 0.5, 0),
        (3, 2),
        "noisy, other gamma_la"
    );
    assert_eq!(
        run(base(), Setting::Noisy, 0.5, 0),
        (3, 3),
        "the same noisy cell"
    );
    assert_eq!(run(base(), Setting::Clean, 0.1, 1), (4, 3), "another seed");
    assert_eq!(
        run(feawad(false, budget, 16), Setting::Clean, 0.1, 0),
        (5, 3),
        "another batch size"
    );
    let mut lr = base();
    lr.method.set("lr", "0.001").unwrap();
    assert_eq!(
        run(lr, Setting::Clean, 0.1, 0),
        (6, 3),
        "another learning rate"
    );
    // No pretraining at all: nothing to share, nothing stored.
    let mut none = base();
    none.method.set("pretrain_epochs", "0").unwrap();
    assert_eq!(run(none, Setting::Clean, 0.1, 0), (6, 3));
}

/// A fit through the store gives the same model file bytes as a plain fit, also when the
/// pretraining comes from the store.
#[test]
fn a_shared_fit_writes_the_same_model_file() {
    let ds = common::small_synthetic();
    let sp =
        anoonly::protocol::split(ds.x.view(), ds.y.view(), &SplitParams::default(), 1).unwrap();
    let store = SharedStages::in_memory(64 << 20);
    let bytes = |fit: &FitParams, shared: Option<&dyn StageCache>| {
        let m = fit
            .fit_shared(sp.x_train.view(), sp.y_train.view(), &mut Silent, shared)
            .unwrap();
        anoonly::model_file::to_bytes(&m).unwrap()
    };
    for anoonly in [false, true] {
        let fit = feawad(anoonly, [3, 2, 5], 32).seed(1);
        assert_eq!(
            bytes(&fit, None),
            bytes(&fit, Some(&store)),
            "anoonly {anoonly}"
        );
    }
    assert_eq!(stats(&store), (1, 1, 0, 0));
}
