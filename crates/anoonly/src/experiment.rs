//! Evaluation runs as `anoonly eval` does them: split a labeled dataset with the chosen
//! protocol and seed, fit on the train split, score the test split, compute the metrics,
//! and time the fit and the scoring ([`evaluate_once`]); several seeds in a row, the last
//! one splitting the data in place ([`evaluate_seeds`]); the mean/sd summary over seeds
//! ([`summarize`], [`summary_line`]); and the demo ([`demo`]). [`EvalRequest`] is the one
//! entry point of a whole `eval` (data, split, fit options, seeds, with the defaults):
//! the CLI's `eval` and Python's `anoonly.evaluate` build one and print or return what
//! its [`EvalRequest::run`] gives.
//!
//! ```
//! use anoonly::experiment::{summarize, EvalData, EvalRequest, NoSeedObserver};
//! use anoonly::methods::MethodKind;
//!
//! // DeepSAD at the authors' settings on the built-in data, the protocol's default split,
//! // seeds 0 and 1.
//! let data = EvalData::Dataset(anoonly::data::synthetic::demo_dataset(0));
//! let mut request = EvalRequest::new(data, MethodKind::DeepSad);
//! request.seeds = vec![0, 1];
//! let records = request.run(&mut NoSeedObserver)?;
//! assert_eq!(records.len(), 2);
//! // Test AUCROC, mean over the two seeds (measured: 0.921 ± 0.037).
//! let s = summarize(&records);
//! assert!((s.aucroc.mean - 0.921).abs() < 0.03, "{:?}", s.aucroc);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use crate::data::{DataError, Dataset, LoadOptions};
use crate::methods::{FitError, FitOptions, FitParams, MethodKind, MethodParams, ScoreError};
use crate::metrics::{evaluate, MetricError, Metrics};
use crate::preprocessing::Preprocessing;
use crate::protocol::{
    n_test_rows, plan, split_owned, Labeled, Protocol, ProtocolError, Setting, Split, SplitIndices,
    SplitParams, SplitPlan,
};
use crate::train::shared::StageCache;
use crate::train::{EpochReport, FitObserver, NormKind, ParamError, Silent};

/// What one evaluation needs besides the data and the seed.
#[derive(Clone, Debug)]
pub struct EvalConfig {
    pub fit: FitParams,
    pub split: SplitParams,
}

impl EvalConfig {
    /// Checks the fit and split parameters, before any data is read.
    pub fn validate(&self) -> Result<(), EvalError> {
        self.fit.validate()?;
        self.split.validate().map_err(EvalError::Split)
    }
}

/// Where an evaluation's rows come from.
#[derive(Clone, Debug)]
pub enum EvalData {
    /// A labeled file, read as `anoonly eval` reads it ([`crate::data::load`]: at least
    /// one anomaly), after the request's other checks.
    File { path: PathBuf, options: LoadOptions },
    /// Rows already in memory (Python's arrays, built-in data), with their true labels.
    Dataset(Dataset),
}

/// A whole evaluation as `anoonly eval` runs it: data, split, fit options and seeds. Every
/// front end builds one from its arguments (the CLI's flags, Python's keywords) and calls
/// [`EvalRequest::run`], so the checks, their order and the records are the same
/// everywhere.
#[derive(Clone, Debug)]
pub struct EvalRequest {
    pub data: EvalData,
    /// The split (`SplitParams::default()`: the protocol's defaults).
    pub split: SplitParams,
    /// The fit; its `seed` is replaced by each of `seeds`.
    pub fit: FitOptions,
    /// Each seed is the data seed and the model seed of one evaluation.
    pub seeds: Vec<u64>,
}

/// The seeds of an evaluation when none are given (`eval --seeds`).
pub const DEFAULT_SEEDS: &[u64] = &[0];

impl EvalRequest {
    /// `method` at the authors' settings on `data`, the protocol's default split,
    /// [`DEFAULT_SEEDS`].
    pub fn new(data: EvalData, method: MethodKind) -> Self {
        EvalRequest {
            data,
            split: SplitParams::default(),
            fit: FitOptions::new(method),
            seeds: DEFAULT_SEEDS.to_vec(),
        }
    }

    /// The checked configuration: fit options, split and seeds, before any data is read.
    pub fn config(&self) -> Result<EvalConfig, EvalError> {
        let cfg = EvalConfig {
            fit: self.fit.build()?,
            split: self.split.clone(),
        };
        cfg.validate()?;
        check_seeds(&self.seeds)?;
        Ok(cfg)
    }

    /// Checks the request ([`EvalRequest::config`]), reads the data and evaluates it once
    /// per seed ([`evaluate_seeds`]): the records, each also passed to `observer` as it
    /// finishes.
    pub fn run(self, observer: &mut dyn SeedObserver) -> Result<Vec<EvalRecord>, EvalError> {
        let cfg = self.config()?;
        let ds = match self.data {
            EvalData::File { path, options } => crate::data::load(&path, &options)?,
            EvalData::Dataset(ds) => ds,
        };
        evaluate_seeds(ds, &cfg, &self.seeds, observer)
    }
}

/// One finished evaluation (one dataset, one variant, one seed). Metrics are fractions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    pub dataset: String,
    /// Serialised as its name (`deepsad`).
    pub method: MethodKind,
    pub anoonly: bool,
    pub lambda_n: f32,
    /// The normalisation before the last layer that was built (`--norm`, or the method's
    /// own, or AnoOnly's).
    pub norm: NormKind,
    /// Weight of `L_BN` when `norm` is `bn-loss`.
    pub bn_loss_weight: Option<f32>,
    /// Fraction of train normals kept.
    pub normal_ratio: f64,
    /// The method's batch size, where it has one.
    pub batch_size: Option<usize>,
    /// Serialised as its name (`clean`, `noisy`).
    pub setting: Setting,
    /// Serialised as its name (`adbench`, `leakage-free`).
    pub protocol: Protocol,
    /// The labeled-anomaly mode asked for: `"gamma_la": 0.1` (a ratio, as every record
    /// before count mode) or `"n_labeled_requested": 10` (ADBench's count mode), in this
    /// place of the record ([`Labeled`]). `n_labeled` below is the number labeled.
    #[serde(flatten)]
    pub labeled: Labeled,
    pub seed: u64,
    pub aucroc: f64,
    pub aucpr: f64,
    pub aucpr_normal: f64,
    pub aucpr_normal_official: f64,
    pub fit_seconds: f64,
    pub score_seconds: f64,
    pub n_train: usize,
    pub n_labeled: usize,
    pub n_unlabeled_anomalies: usize,
    pub n_test: usize,
    pub n_test_anomalies: usize,
    /// Training batches that had no loss (AnoOnly, no labeled anomaly in the batch).
    pub empty_batches: usize,
    /// The method's full hyperparameters, so a record says exactly what ran
    /// (e.g. DevNet's `loss`, FEAWAD's `compat`).
    pub method_params: MethodParams,
    /// The scaling the model learnt from its training rows ([`crate::preprocessing`]); not
    /// in the JSON when none (the default of `eval` and `bench`).
    #[serde(default, skip_serializing_if = "Preprocessing::is_none")]
    pub preprocessing: Preprocessing,
    /// What the fit did differently from the authors' code on this data
    /// ([`crate::train::TrainReport::notes`]); not in the JSON when there is none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Why an evaluation failed.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("no seed given: an evaluation needs at least one seed")]
    NoSeeds,
    #[error(transparent)]
    Params(#[from] ParamError),
    #[error(transparent)]
    Split(ProtocolError),
    /// The data file could not be read (its message names the file).
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("{dataset}: split: {source}")]
    Protocol {
        dataset: String,
        source: ProtocolError,
    },
    #[error("{dataset}: fit: {source}")]
    Fit { dataset: String, source: FitError },
    #[error("{dataset}: score: {source}")]
    Score { dataset: String, source: ScoreError },
    #[error("{dataset}: metrics: {source}")]
    Metric {
        dataset: String,
        source: MetricError,
    },
}

/// Runs one evaluation with `seed` as the data seed and the model seed. `ds` is left as it
/// is, so the train rows are copied for the fit and the test rows only after it: the peak
/// is the data plus its train part, not plus both parts.
pub fn evaluate_once(
    ds: &Dataset,
    cfg: &EvalConfig,
    seed: u64,
    observer: &mut dyn FitObserver,
) -> Result<EvalRecord, EvalError> {
    evaluate_shared(ds, cfg, seed, observer, None)
}

/// [`evaluate_once`] whose fit takes the results of label-free stages (FEAWAD's pretrained
/// autoencoder) from `shared` and leaves there what it computed ([`crate::train::shared`]):
/// the same record, bit for bit, as without it. `bench` runs every cell through it with one store per run.
pub fn evaluate_shared(
    ds: &Dataset,
    cfg: &EvalConfig,
    seed: u64,
    observer: &mut dyn FitObserver,
    shared: Option<&dyn StageCache>,
) -> Result<EvalRecord, EvalError> {
    let (x, y) = (ds.x.view(), ds.y.view());
    let SplitPlan { indices, scaler } =
        plan(x, y, &cfg.split, seed).map_err(|source| EvalError::Protocol {
            dataset: ds.name.clone(),
            source,
        })?;
    let SplitIndices {
        train,
        train_labels,
        test,
        n_labeled,
        n_unlabeled_anomalies,
        ..
    } = indices;
    let x_train = scaler.scaled_rows(x, &train);
    drop(train);
    let train = TrainPart {
        x: x_train,
        y: Array1::from(train_labels),
        n_labeled,
        n_unlabeled_anomalies,
    };
    let test_part = || {
        let y_test = test.iter().map(|&r| y[r as usize]).collect();
        (scaler.scaled_rows(x, &test), y_test)
    };
    evaluate_parts(&ds.name, train, test_part, cfg, seed, observer, shared)
}

/// [`evaluate_once`] that consumes the dataset and reuses its memory for the split
/// ([`split_owned`]): the same record, with a peak of about the data itself. For the last
/// (or only) seed of a run.
pub fn evaluate_owned(
    ds: Dataset,
    cfg: &EvalConfig,
    seed: u64,
    observer: &mut dyn FitObserver,
) -> Result<EvalRecord, EvalError> {
    let Dataset { name, x, y } = ds;
    let sp = split_owned(x, y, &cfg.split, seed).map_err(|source| EvalError::Protocol {
        dataset: name.clone(),
        source,
    })?;
    let Split {
        x_train,
        y_train,
        x_test,
        y_test,
        n_labeled,
        n_unlabeled_anomalies,
        ..
    } = sp;
    let train = TrainPart {
        x: x_train,
        y: y_train,
        n_labeled,
        n_unlabeled_anomalies,
    };
    evaluate_parts(&name, train, || (x_test, y_test), cfg, seed, observer, None)
}

/// What a fit needs of a split.
struct TrainPart {
    x: Array2<f32>,
    y: Array1<u8>,
    n_labeled: usize,
    n_unlabeled_anomalies: usize,
}

/// Fits on the train part (through `shared`, see [`evaluate_shared`]), drops it, then gets
/// the test part from `test` (scaled rows, true labels), scores it and measures.
fn evaluate_parts(
    dataset: &str,
    train: TrainPart,
    test: impl FnOnce() -> (Array2<f32>, Array1<u8>),
    cfg: &EvalConfig,
    seed: u64,
    observer: &mut dyn FitObserver,
    shared: Option<&dyn StageCache>,
) -> Result<EvalRecord, EvalError> {
    let name = || dataset.to_string();
    let TrainPart {
        x: x_train,
        y: y_train,
        n_labeled,
        n_unlabeled_anomalies,
    } = train;
    let fit_params = cfg.fit.clone().seed(seed);
    let norm = fit_params.method.head_norm(&fit_params.train);
    let t0 = Instant::now();
    let model = fit_params
        .fit_shared(x_train.view(), y_train.view(), observer, shared)
        .map_err(|source| EvalError::Fit {
            dataset: name(),
            source,
        })?;
    let fit_seconds = t0.elapsed().as_secs_f64();
    let n_train = y_train.len();
    drop((x_train, y_train));
    let (x_test, y_test) = test();
    let t1 = Instant::now();
    let scores = model
        .decision_function(x_test.view())
        .map_err(|source| EvalError::Score {
            dataset: name(),
            source,
        })?;
    let score_seconds = t1.elapsed().as_secs_f64();
    drop(x_test);
    let y_test = y_test.to_vec();
    let m: Metrics =
        evaluate(&y_test, scores.as_slice().unwrap_or(&scores.to_vec())).map_err(|source| {
            EvalError::Metric {
                dataset: name(),
                source,
            }
        })?;
    Ok(EvalRecord {
        dataset: name(),
        method: fit_params.method.kind(),
        anoonly: fit_params.train.anoonly,
        lambda_n: fit_params.train.lambda_n(),
        norm,
        bn_loss_weight: (norm == NormKind::BnLoss).then_some(fit_params.train.bn_loss_weight),
        normal_ratio: cfg.split.normal_ratio,
        batch_size: fit_params.method.batch_size(),
        setting: cfg.split.setting,
        protocol: cfg.split.protocol,
        labeled: cfg.split.labeled,
        seed,
        aucroc: m.aucroc,
        aucpr: m.aucpr,
        aucpr_normal: m.aucpr_normal,
        aucpr_normal_official: m.aucpr_normal_official,
        fit_seconds,
        score_seconds,
        n_train,
        n_labeled,
        n_unlabeled_anomalies,
        n_test: y_test.len(),
        n_test_anomalies: y_test.iter().filter(|&&v| v == 1).count(),
        empty_batches: model.report.empty_batches,
        method_params: fit_params.method.clone(),
        preprocessing: fit_params.preprocessing,
        notes: model.report.notes.clone(),
    })
}

/// Mean and sample standard deviation (n − 1; 0 for a single value).
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct MeanSd {
    pub mean: f64,
    pub sd: f64,
}

impl MeanSd {
    pub fn of(values: &[f64]) -> MeanSd {
        let n = values.len();
        if n == 0 {
            return MeanSd {
                mean: f64::NAN,
                sd: f64::NAN,
            };
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let sd = if n > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        MeanSd { mean, sd }
    }
}

/// Mean and sd over seeds of every metric of a group of records.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub runs: usize,
    pub aucroc: MeanSd,
    pub aucpr: MeanSd,
    pub aucpr_normal: MeanSd,
    pub aucpr_normal_official: MeanSd,
    pub fit_seconds: MeanSd,
}

pub fn summarize(records: &[EvalRecord]) -> Summary {
    let col = |f: fn(&EvalRecord) -> f64| -> MeanSd {
        MeanSd::of(&records.iter().map(f).collect::<Vec<_>>())
    };
    Summary {
        runs: records.len(),
        aucroc: col(|r| r.aucroc),
        aucpr: col(|r| r.aucpr),
        aucpr_normal: col(|r| r.aucpr_normal),
        aucpr_normal_official: col(|r| r.aucpr_normal_official),
        fit_seconds: col(|r| r.fit_seconds),
    }
}

/// `12.3 ± 0.4` in percent.
pub fn pct(m: MeanSd) -> String {
    format!("{:.1} ± {:.1}", 100.0 * m.mean, 100.0 * m.sd)
}

/// One line of text for a finished record (the non-JSON output of `eval`).
pub fn record_line(r: &EvalRecord) -> String {
    format!(
        "{} {}{} seed {}: AUCROC {:.1}  AUCPR {:.1}  AUCPR-normal {:.1} (official sign {:.1})  fit {:.2}s  score {:.3}s  train {} ({} labeled) test {} ({} anomalies)",
        r.dataset,
        r.method,
        if r.anoonly { "+AnoOnly" } else { "" },
        r.seed,
        100.0 * r.aucroc,
        100.0 * r.aucpr,
        100.0 * r.aucpr_normal,
        100.0 * r.aucpr_normal_official,
        r.fit_seconds,
        r.score_seconds,
        r.n_train,
        r.n_labeled,
        r.n_test,
        r.n_test_anomalies,
    )
}

/// What a several-seed evaluation reports as it goes; every method has a default that
/// does nothing, so an observer implements what it shows.
pub trait SeedObserver {
    /// Seed `seed` of `dataset` starts (progress labels).
    fn seed_started(&mut self, _dataset: &str, _seed: u64) {}

    /// An epoch of the current seed's fit ended; `Break` stops the evaluation, which then
    /// returns [`EvalError::Fit`] with [`FitError::Interrupted`].
    fn on_epoch(&mut self, _report: &EpochReport) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }

    /// A seed finished with this record.
    fn record(&mut self, _record: &EvalRecord) {}
}

/// A [`SeedObserver`] that shows nothing and never stops.
pub struct NoSeedObserver;

impl SeedObserver for NoSeedObserver {}

/// A [`SeedObserver`]'s epoch callback as a [`FitObserver`].
struct EpochsOf<'a>(&'a mut dyn SeedObserver);

impl FitObserver for EpochsOf<'_> {
    fn on_epoch(&mut self, report: &EpochReport) -> ControlFlow<()> {
        self.0.on_epoch(report)
    }
}

/// Refuses an empty seed list (front ends check it before reading any data).
pub fn check_seeds(seeds: &[u64]) -> Result<(), EvalError> {
    if seeds.is_empty() {
        Err(EvalError::NoSeeds)
    } else {
        Ok(())
    }
}

/// Evaluates `cfg` on `ds` once per seed, in order, and returns the records (each also
/// passed to `observer` as it finishes). The network size is checked before the first
/// split. Every seed but the last reads the dataset; the last one takes it and splits it
/// in place ([`evaluate_owned`]), so a one-seed run on a large file holds the data about
/// once, not twice (docs/scale.md). Same records as [`evaluate_once`] per seed, bit for bit.
pub fn evaluate_seeds(
    ds: Dataset,
    cfg: &EvalConfig,
    seeds: &[u64],
    observer: &mut dyn SeedObserver,
) -> Result<Vec<EvalRecord>, EvalError> {
    check_seeds(seeds)?;
    let Some((&last, first)) = seeds.split_last() else {
        return Err(EvalError::NoSeeds);
    };
    cfg.fit
        .check_network(ds.n_features())
        .map_err(|source| EvalError::Fit {
            dataset: ds.name.clone(),
            source,
        })?;
    let mut records = Vec::with_capacity(seeds.len());
    for &seed in first {
        observer.seed_started(&ds.name, seed);
        let r = evaluate_once(&ds, cfg, seed, &mut EpochsOf(observer))?;
        observer.record(&r);
        records.push(r);
    }
    observer.seed_started(&ds.name, last);
    let r = evaluate_owned(ds, cfg, last, &mut EpochsOf(observer))?;
    observer.record(&r);
    records.push(r);
    Ok(records)
}

/// The closing line of an evaluation: dataset, method, seeds, mean ± sd of the metrics and
/// the mean fit time (what `anoonly eval` prints last).
pub fn summary_line(records: &[EvalRecord]) -> String {
    let s = summarize(records);
    let (dataset, method, anoonly) = records.first().map_or(("", "", false), |r| {
        (r.dataset.as_str(), r.method.name(), r.anoonly)
    });
    format!(
        "{} {}{} over {} seed(s): AUCROC {}  AUCPR {}  AUCPR-normal {}  fit {:.2}s",
        dataset,
        method,
        if anoonly { "+AnoOnly" } else { "" },
        s.runs,
        pct(s.aucroc),
        pct(s.aucpr),
        pct(s.aucpr_normal),
        s.fit_seconds.mean
    )
}

/// The demo's cost cap per fit, in [`MethodKind::relative_cost`] units (DeepSAD = 1 per
/// 1,000 training rows): methods above it on the demo's data are left out, with a note, so
/// that the demo stays within a minute on two cores at every method's default budget.
pub const DEMO_MAX_COST: f64 = 12.0;

/// One built-in data set of the demo and what it is.
#[derive(Clone, Debug)]
pub struct DemoData {
    pub dataset: Dataset,
    /// One sentence for the reader.
    pub description: &'static str,
}

/// The demo's data sets at `data_seed`: the paper's kind first (an embedding of a labelled
/// data set, one class normal: [`crate::data::synthetic::embedding_classes`]), then the
/// Gaussian mixture with ADBench's four synthetic anomaly kinds
/// ([`crate::data::synthetic::demo_dataset`]).
pub fn demo_data(data_seed: u64) -> Vec<DemoData> {
    use crate::data::synthetic::{demo_dataset, embedding_classes, EmbeddingParams};
    vec![
        DemoData {
            dataset: embedding_classes(&EmbeddingParams {
                seed: data_seed,
                ..EmbeddingParams::default()
            }),
            description: "the paper's setting: the embedding of a 10-class data set, class 0 normal and 5% of rows from the other nine classes as anomalies (as ADBench's CIFAR10 and SVHN files, features of a pretrained network)",
        },
        DemoData {
            dataset: demo_dataset(data_seed),
            description: "a Gaussian mixture with ADBench's four synthetic anomaly kinds (local, global, clustered, dependency): anomalies that are not another class",
        },
    ]
}

/// One method of a demo table: its records per seed, as published and with AnoOnly.
#[derive(Clone, Debug)]
pub struct DemoMethod {
    pub method: MethodKind,
    pub base: Vec<EvalRecord>,
    pub anoonly: Vec<EvalRecord>,
}

impl DemoMethod {
    /// AnoOnly's mean test AUCROC minus the method's, in points.
    pub fn aucroc_gain(&self) -> f64 {
        let mean = |r: &[EvalRecord]| summarize(r).aucroc.mean;
        100.0 * (mean(&self.anoonly) - mean(&self.base))
    }
}

/// One table of the demo: every method on one data set.
#[derive(Clone, Debug)]
pub struct DemoTable {
    pub name: String,
    pub description: &'static str,
    pub n_rows: usize,
    pub n_features: usize,
    pub n_anomalies: usize,
    pub methods: Vec<DemoMethod>,
}

impl DemoTable {
    /// What the table shows, from its numbers: for how many methods AnoOnly raises the mean
    /// test AUCROC, by how much on average and per method (mean over the seeds; not a
    /// significance test).
    pub fn verdict(&self) -> String {
        let gains: Vec<(MethodKind, f64)> = self
            .methods
            .iter()
            .map(|m| (m.method, m.aucroc_gain()))
            .collect();
        verdict_of(&gains)
    }
}

/// [`DemoTable::verdict`] of per-method AUCROC gains in points.
fn verdict_of(gains: &[(MethodKind, f64)]) -> String {
    let n = gains.len();
    if n == 0 {
        return "No method ran.".into();
    }
    let up = gains.iter().filter(|(_, g)| *g > 0.0).count();
    let mean = gains.iter().map(|(_, g)| g).sum::<f64>() / n as f64;
    let each: Vec<String> = gains
        .iter()
        .map(|(m, g)| format!("{} {g:+.1}", m.display_name()))
        .collect();
    let all = match n {
        1 => "the method".to_string(),
        2 => "both methods".to_string(),
        n => format!("all {n} methods"),
    };
    let head = match up {
        u if u == n => format!("AnoOnly raises the mean AUCROC of {all} here"),
        0 => format!("AnoOnly lowers the mean AUCROC of {all} here"),
        u => format!(
            "AnoOnly raises the mean AUCROC of {u} of {n} methods here and lowers it for {}",
            n - u
        ),
    };
    format!("{head} (mean {mean:+.1} points: {}).", each.join(", "))
}

/// The demo: every method with an AnoOnly variant (those within [`DEMO_MAX_COST`]), as
/// published and with AnoOnly, at its default settings, on each of [`demo_data`], the
/// protocol's default split, a few seeds (under a minute, no file needed).
#[derive(Clone, Debug)]
pub struct Demo {
    pub seeds: Vec<u64>,
    pub tables: Vec<DemoTable>,
    /// Methods with an AnoOnly variant left out for their cost, with it (relative to
    /// DeepSAD's on the same rows).
    pub skipped: Vec<(MethodKind, f64)>,
}

/// Runs the demo on [`demo_data`]`(data_seed)` with `seeds`.
pub fn demo(seeds: &[u64], data_seed: u64) -> Result<Demo, EvalError> {
    check_seeds(seeds)?;
    let data = demo_data(data_seed);
    // The cost of a fit on the largest data set's train split, against DeepSAD's.
    let n_train = data
        .iter()
        .map(|d| {
            d.dataset.n_rows() - n_test_rows(d.dataset.n_rows(), SplitParams::default().test_size)
        })
        .max()
        .unwrap_or(0);
    let cost =
        |m: MethodKind| m.relative_cost(n_train) / MethodKind::DeepSad.relative_cost(n_train);
    let (methods, skipped): (Vec<MethodKind>, Vec<MethodKind>) = MethodKind::ALL
        .iter()
        .copied()
        .filter(|m| m.supports_anoonly())
        .partition(|&m| m.relative_cost(n_train) <= DEMO_MAX_COST);
    let mut tables = Vec::new();
    for d in data {
        let ds = &d.dataset;
        let mut rows = Vec::new();
        for &method in &methods {
            let run = |anoonly: bool| {
                let cfg = EvalConfig {
                    fit: FitParams::new(method).anoonly(anoonly),
                    split: SplitParams::default(),
                };
                seeds
                    .iter()
                    .map(|&seed| evaluate_once(ds, &cfg, seed, &mut Silent))
                    .collect::<Result<Vec<_>, _>>()
            };
            rows.push(DemoMethod {
                method,
                base: run(false)?,
                anoonly: run(true)?,
            });
        }
        tables.push(DemoTable {
            name: ds.name.clone(),
            description: d.description,
            n_rows: ds.n_rows(),
            n_features: ds.n_features(),
            n_anomalies: ds.n_anomalies(),
            methods: rows,
        });
    }
    Ok(Demo {
        seeds: seeds.to_vec(),
        tables,
        skipped: skipped.into_iter().map(|m| (m, cost(m))).collect(),
    })
}

impl std::fmt::Display for Demo {
    /// The demo's text: the protocol, then per data set a Markdown table and what it shows.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "Each method as published and with AnoOnly (no loss on unlabeled rows, BatchNorm before the last layer), default settings; protocol: stratified 70/30 split, clean setting, gamma_la = 0.1, seeds {:?}; mean ± sd over the seeds.",
            self.seeds
        )?;
        for t in &self.tables {
            writeln!(
                f,
                "\n{}: {} rows x {} features, {} anomalies: {}.\n",
                t.name, t.n_rows, t.n_features, t.n_anomalies, t.description
            )?;
            writeln!(
                f,
                "| method | AUCROC % | AUCPR % | AUCPR normal % | fit s |"
            )?;
            writeln!(f, "|---|---|---|---|---|")?;
            for m in &t.methods {
                for (records, anoonly) in [(&m.base, false), (&m.anoonly, true)] {
                    let s = summarize(records);
                    writeln!(
                        f,
                        "| {}{} | {} | {} | {} | {:.2} |",
                        m.method.display_name(),
                        if anoonly { " + AnoOnly" } else { "" },
                        pct(s.aucroc),
                        pct(s.aucpr),
                        pct(s.aucpr_normal),
                        s.fit_seconds.mean
                    )?;
                }
            }
            writeln!(f, "\n{}", t.verdict())?;
        }
        for (m, cost) in &self.skipped {
            writeln!(
                f,
                "\n{} is left out: one fit costs about {:.0}x DeepSAD's (`anoonly eval --method {} [--anoonly]` runs it on a file).",
                m.display_name(),
                cost,
                m.name()
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synthetic::demo_dataset;
    use crate::methods::MethodKind;

    #[test]
    fn owned_evaluation_gives_the_borrowed_one_bit_for_bit() {
        let ds = demo_dataset(4);
        for kind in [MethodKind::DeepSad, MethodKind::DevNet] {
            let mut fit = FitParams::new(kind).anoonly(true);
            fit.method.set_epochs(3).unwrap();
            let cfg = EvalConfig {
                fit,
                split: SplitParams {
                    protocol: Protocol::LeakageFree,
                    ..SplitParams::default()
                },
            };
            let a = evaluate_once(&ds, &cfg, 1, &mut Silent).unwrap();
            let b = evaluate_owned(ds.clone(), &cfg, 1, &mut Silent).unwrap();
            let key = |r: &EvalRecord| {
                (
                    [r.aucroc, r.aucpr, r.aucpr_normal, r.aucpr_normal_official].map(f64::to_bits),
                    (r.n_train, r.n_labeled, r.n_test, r.n_test_anomalies),
                )
            };
            assert_eq!(key(&a), key(&b), "{kind}");
        }
    }

    /// A request runs as `evaluate_seeds` on its data and configuration, and its records
    /// read back from their JSON as they were.
    #[test]
    fn a_request_gives_the_records_of_evaluate_seeds() {
        let mut request = EvalRequest::new(EvalData::Dataset(demo_dataset(2)), MethodKind::DevNet);
        request.fit.epochs = Some(2);
        request.fit.anoonly = true;
        request.seeds = vec![3, 4];
        let cfg = request.config().unwrap();
        let direct = evaluate_seeds(demo_dataset(2), &cfg, &[3, 4], &mut NoSeedObserver).unwrap();
        let records = request.run(&mut NoSeedObserver).unwrap();
        let untimed = |r: &EvalRecord| EvalRecord {
            fit_seconds: 0.0,
            score_seconds: 0.0,
            ..r.clone()
        };
        assert_eq!(records.len(), 2);
        for (a, b) in records.iter().zip(&direct) {
            assert_eq!(untimed(a), untimed(b));
            assert_eq!(
                (a.method, a.setting, a.protocol),
                (MethodKind::DevNet, Setting::Clean, Protocol::Adbench)
            );
            let json = serde_json::to_string(a).unwrap();
            assert!(
                json.starts_with(&format!(
                    "{{\"dataset\":\"{}\",\"method\":\"devnet\",",
                    a.dataset
                )),
                "{json}"
            );
            assert!(
                json.contains("\"setting\":\"clean\",\"protocol\":\"adbench\","),
                "{json}"
            );
            // It reads back typed. (serde_json, without its `float_roundtrip` feature,
            // may read an f64 one unit in the last place off: compare the metrics to 1e-15.)
            let back: EvalRecord = serde_json::from_str(&json).unwrap();
            assert_eq!(
                EvalRecord {
                    aucpr: a.aucpr,
                    aucroc: a.aucroc,
                    aucpr_normal: a.aucpr_normal,
                    aucpr_normal_official: a.aucpr_normal_official,
                    ..back.clone()
                },
                *a
            );
            for (x, y) in [(back.aucroc, a.aucroc), (back.aucpr, a.aucpr)] {
                assert!((x - y).abs() <= 1e-15, "{x} {y}");
            }
        }
    }

    /// A request is checked before its data is read: bad options, split or seeds are
    /// refused without touching the file.
    #[test]
    fn a_request_is_checked_before_its_data_is_read() {
        let missing = EvalData::File {
            path: "no-such-file.npz".into(),
            options: Default::default(),
        };
        let mut r = EvalRequest::new(missing, MethodKind::DeepSad);
        r.seeds.clear();
        assert!(matches!(
            r.clone().run(&mut NoSeedObserver),
            Err(EvalError::NoSeeds)
        ));
        r.seeds = vec![0];
        r.split.labeled = Labeled::Ratio(2.0);
        assert!(matches!(
            r.clone().run(&mut NoSeedObserver),
            Err(EvalError::Split(_))
        ));
        r.split.labeled = Labeled::Ratio(0.1);
        r.fit.params.push(("lr".into(), serde_json::json!(-1.0)));
        assert!(matches!(
            r.clone().run(&mut NoSeedObserver),
            Err(EvalError::Params(_))
        ));
        r.fit.params.clear();
        let e = r.run(&mut NoSeedObserver).unwrap_err();
        assert!(matches!(e, EvalError::Data(_)), "{e}");
        assert!(e.to_string().contains("no-such-file.npz"), "{e}");
    }

    #[test]
    fn the_demo_verdict_says_what_the_numbers_say() {
        use MethodKind::{DeepSad, DevNet, PReNet};
        assert_eq!(
            verdict_of(&[(DeepSad, 4.1), (DevNet, 2.0), (PReNet, 0.3)]),
            "AnoOnly raises the mean AUCROC of all 3 methods here (mean +2.1 points: DeepSAD +4.1, DevNet +2.0, PReNet +0.3)."
        );
        assert_eq!(
            verdict_of(&[(DeepSad, -3.6), (DevNet, 4.9)]),
            "AnoOnly raises the mean AUCROC of 1 of 2 methods here and lowers it for 1 (mean +0.7 points: DeepSAD -3.6, DevNet +4.9)."
        );
        assert_eq!(
            verdict_of(&[(DeepSad, -1.0), (DevNet, 0.0)]),
            "AnoOnly lowers the mean AUCROC of both methods here (mean -0.5 points: DeepSAD -1.0, DevNet +0.0)."
        );
        assert_eq!(verdict_of(&[]), "No method ran.");
    }

    #[test]
    fn mean_sd_by_hand() {
        let m = MeanSd::of(&[1.0, 2.0, 3.0]);
        assert!((m.mean - 2.0).abs() < 1e-12);
        assert!((m.sd - 1.0).abs() < 1e-12);
        assert_eq!(MeanSd::of(&[5.0]).sd, 0.0);
    }
}
