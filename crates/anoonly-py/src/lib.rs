//! `anoonly._anoonly`: the Python extension module. It translates Python arguments into the
//! library's types and the library's results and errors into numpy arrays and Python
//! exceptions; every decision (parameters, checks, training, scoring, files, splits,
//! metrics, probabilities) is the library's. The estimator classes and their scikit-learn /
//! PyOD protocol are in `python/anoonly/`.
//!
//! Conventions:
//! - Arrays come in as C-contiguous numpy arrays of the exact dtype (`float32` features,
//!   `uint8` labels; the Python layer converts anything else once) and are read in place,
//!   without a copy. Results go out as numpy arrays that take over the Rust buffer.
//! - The GIL is released ([`Python::detach`]) around every fit, scoring, file read and
//!   split, so other Python threads run meanwhile. The caller must not modify an array
//!   while a call that reads it runs.
//! - Fits, scorings and evaluations take `threads` (Python's `n_jobs`): they run in a pool
//!   of that many threads ([`with_threads`]), as the command runs a fit; scores do not
//!   depend on it.
//! - Every call into the library runs inside `guarded`: a panic (a bug: the library
//!   checks its inputs) becomes a `RuntimeError` saying so, never an abort or a
//!   `PanicException`.
//! - Bad parameters and bad data raise `ValueError` with the library's message; files that
//!   cannot be read raise `OSError` (`FileNotFoundError`, `PermissionError`).

use std::ops::ControlFlow;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ndarray::{Array1, ArrayView1, ArrayView2};
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::exceptions::{
    PyFileNotFoundError, PyOSError, PyPermissionError, PyRuntimeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use anoonly::data::{self, DataError, Dataset, LoadOptions};
use anoonly::experiment::{EvalData, EvalError, EvalRequest, SeedObserver};
use anoonly::methods::{
    FitError, FitOptions, FitParams, MethodKind, MethodParams, Model, ScoreError,
};
use anoonly::metrics as core_metrics;
use anoonly::model_file::{self, ModelFileError};
use anoonly::nn::{available_threads as core_available_threads, with_threads};
use anoonly::preprocessing::Preprocessing;
use anoonly::probability as core_probability;
use anoonly::protocol::{self, SplitParams};
use anoonly::train::{EmptyBatch, EpochReport, FitObserver, NormKind, TrainParams};
use anoonly_bench::{
    BenchError, BenchObserver, Cell, CellOutcome, Counts, GridAxes, GridSource, RunOptions, Variant,
};

/// Runs `f`, turning a panic into a `RuntimeError` that says it is a bug.
fn guarded<T>(what: &str, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let detail = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(PyRuntimeError::new_err(format!(
            "anoonly: internal error in {what} ({detail}); this is a bug, please report it"
        )))
    })
}

fn value_error(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// An I/O failure as the matching `OSError` subclass, with the library's message (which
/// names the file).
fn os_error(kind: std::io::ErrorKind, message: String) -> PyErr {
    match kind {
        std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(message),
        std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(message),
        _ => PyOSError::new_err(message),
    }
}

fn model_file_error(e: ModelFileError) -> PyErr {
    match &e {
        ModelFileError::Io { source, .. } => os_error(source.kind(), e.to_string()),
        _ => value_error(e),
    }
}

fn data_error(e: DataError) -> PyErr {
    match &e {
        DataError::Io { source, .. } => os_error(source.kind(), e.to_string()),
        _ => value_error(e),
    }
}

fn fit_error(e: FitError) -> PyErr {
    match e {
        // Not a bad argument: the data and parameters were valid, training went wrong.
        FitError::Diverged => PyRuntimeError::new_err(e.to_string()),
        _ => value_error(e),
    }
}

/// A method by name, as the library reads names everywhere (`MethodKind::from_str`:
/// case-insensitive; an unknown name lists the known ones).
fn method_kind(method: &str) -> PyResult<MethodKind> {
    method.parse().map_err(value_error)
}

/// A library enum from its name (`FromStr`), the error naming the argument.
fn parsed_arg<T: std::str::FromStr<Err = String>>(name: &str, value: &str) -> PyResult<T> {
    value
        .parse()
        .map_err(|e| PyValueError::new_err(format!("{name}: {e}")))
}

/// A kebab-case enum of the library without `FromStr` (`EmptyBatch`) from its serde name,
/// the error naming the argument and the accepted names.
fn enum_arg<T: serde::de::DeserializeOwned>(name: &str, value: &str) -> PyResult<T> {
    serde_json::from_value(serde_json::Value::String(value.to_string()))
        .map_err(|e| PyValueError::new_err(format!("{name}: {e}")))
}

/// What the Python package needs to know of a registered method to make its estimator
/// class (`python/anoonly/_estimators.py`); all of it comes from the method's Rust file.
#[pyclass(frozen, get_all, name = "MethodInfo", module = "anoonly._anoonly")]
struct PyMethodInfo {
    /// The library's name (`deepsad`): the CLI's `--method`, records, model files.
    name: &'static str,
    /// The class name (`DeepSAD`).
    class_name: &'static str,
    /// One paragraph: the method, its citation, what AnoOnly means for it.
    summary: &'static str,
    /// Whether it has an AnoOnly variant (`anoonly`, `lambda_n`, `norm`, ...).
    supports_anoonly: bool,
    /// Whether it trains in epochs (the `epochs` keyword).
    trains_in_epochs: bool,
    /// Whether it trains without any labeled anomaly (`fit(X)`).
    trains_without_anomalies: bool,
    /// The hyperparameters and the authors' defaults: a JSON object in the method's
    /// declaration order, the `method` tag first (as in model files).
    defaults_json: String,
}

/// The registered methods, in the registry's order.
#[pyfunction]
fn methods() -> PyResult<Vec<PyMethodInfo>> {
    MethodKind::ALL
        .iter()
        .map(|&m| {
            Ok(PyMethodInfo {
                name: m.name(),
                class_name: m.display_name(),
                summary: m.summary(),
                supports_anoonly: m.supports_anoonly(),
                trains_in_epochs: m.trains_in_epochs(),
                trains_without_anomalies: m.trains_without_anomalies(),
                defaults_json: serde_json::to_string(&MethodParams::defaults(m))
                    .map_err(value_error)?,
            })
        })
        .collect()
}

/// The library's name of `method`, read as every front end reads it (case-insensitive);
/// an unknown name is a `ValueError` listing the known ones.
#[pyfunction]
fn method_name(method: &str) -> PyResult<&'static str> {
    Ok(method_kind(method)?.name())
}

/// The training parameters' defaults as a JSON object.
#[pyfunction]
fn train_defaults() -> PyResult<String> {
    serde_json::to_string(&TrainParams::default()).map_err(value_error)
}

/// The split's defaults (`SplitParams::default()`, those of `anoonly eval`) as a JSON
/// object.
#[pyfunction]
fn split_defaults() -> PyResult<String> {
    serde_json::to_string(&SplitParams::default()).map_err(value_error)
}

/// The library's [`FitParams`], built and validated from an estimator's keywords, with the
/// [`FitOptions`] they were built from (what an evaluation takes).
#[pyclass(frozen, name = "FitParams", module = "anoonly._anoonly")]
struct PyFitParams {
    options: FitOptions,
    params: FitParams,
}

#[pymethods]
impl PyFitParams {
    /// Builds the parameters with the library's [`FitOptions`], as the CLI builds them from
    /// its flags, so equal settings give bit-identical models, and validates them (a bad
    /// value is a `ValueError` with the library's message). `hyperparameters` are
    /// `(name, JSON value)`; `epochs` is an error for a method without epochs (XGBOD).
    #[new]
    #[pyo3(signature = (method, hyperparameters, anoonly, lambda_n, norm, empty_batch, bn_loss_weight, epochs, seed, preprocessing = "none"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        method: &str,
        hyperparameters: Vec<(String, String)>,
        anoonly: bool,
        lambda_n: Option<f32>,
        norm: Option<&str>,
        empty_batch: &str,
        bn_loss_weight: f32,
        epochs: Option<usize>,
        seed: u64,
        preprocessing: &str,
    ) -> PyResult<Self> {
        guarded("parameter checks", || {
            let mut o = FitOptions::new(method_kind(method)?);
            o.anoonly = anoonly;
            o.lambda_n = lambda_n;
            o.norm = norm
                .map(|n| n.parse::<NormKind>().map_err(value_error))
                .transpose()?;
            o.bn_loss_weight = bn_loss_weight;
            o.skip_empty_batches =
                enum_arg::<EmptyBatch>("empty_batch", empty_batch)? == EmptyBatch::Skip;
            o.epochs = epochs;
            o.seed = seed;
            o.preprocessing = parsed_arg::<Preprocessing>("preprocessing", preprocessing)?;
            for (name, json) in hyperparameters {
                let value = serde_json::from_str(&json)
                    .map_err(|e| PyValueError::new_err(format!("{name} = {json}: {e}")))?;
                o.params.push((name, value));
            }
            let params = o.build().map_err(value_error)?;
            Ok(PyFitParams { options: o, params })
        })
    }

    /// The parameters as JSON: `{"method": {"method": NAME, ...}, "train": {...}}`.
    fn to_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.params).map_err(value_error)
    }
}

/// 1 where a score is above `threshold`, else 0: the library's prediction rule
/// (`probability::labels`, PyOD's `predict`).
#[pyfunction]
fn labels<'py>(
    py: Python<'py>,
    scores: PyReadonlyArray1<'py, f32>,
    threshold: f32,
) -> PyResult<Bound<'py, PyArray1<u8>>> {
    let scores = slice("scores", &scores)?;
    Ok(Array1::from(core_probability::labels(scores, threshold)).into_pyarray(py))
}

/// Refuses a contamination rate outside `(0, 0.5]` (before a fit rather than after it).
#[pyfunction]
fn check_contamination(contamination: f64) -> PyResult<()> {
    core_probability::check_contamination(contamination).map_err(value_error)
}

fn c_contiguous<'a, T: numpy::Element, D: ndarray::Dimension>(
    name: &str,
    a: &'a numpy::PyReadonlyArray<'_, T, D>,
) -> PyResult<ndarray::ArrayView<'a, T, D>> {
    if !a.is_c_contiguous() {
        return Err(PyValueError::new_err(format!(
            "{name} must be C-contiguous (numpy.ascontiguousarray)"
        )));
    }
    Ok(a.as_array())
}

/// Shows a fit's epochs (`verbose`) and stops it on Ctrl-C: after every epoch it reads
/// `stop` (set by [`run_interruptible`]'s calling thread when a signal handler raised) and,
/// when verbose, takes the GIL for a moment to write the library's progress line to
/// `sys.stderr` (so notebooks show it). An exception of that write is kept and the fit told
/// to stop; the caller raises it.
struct PyObserver {
    /// Progress label (`DeepSAD`, `CIFAR10_0 seed 1`); `None` when not verbose.
    label: Option<String>,
    error: Option<PyErr>,
    /// Set by [`run_interruptible`]'s polling thread (shared with it).
    stop: Arc<AtomicBool>,
}

impl PyObserver {
    fn new(verbose: bool, label: String) -> Self {
        PyObserver {
            label: verbose.then_some(label),
            error: None,
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The exception that stopped the run, or else `other`.
    fn error_or(&mut self, other: PyErr) -> PyErr {
        self.error.take().unwrap_or(other)
    }
}

impl FitObserver for PyObserver {
    fn on_epoch(&mut self, report: &EpochReport) -> ControlFlow<()> {
        if self.stop.load(Ordering::SeqCst) {
            return ControlFlow::Break(());
        }
        let Some(label) = &self.label else {
            return ControlFlow::Continue(());
        };
        let written = Python::attach(|py| -> PyResult<()> {
            let stderr = py.import("sys")?.getattr("stderr")?;
            stderr.call_method1("write", (format!("anoonly: {label}: {report}\n"),))?;
            stderr.call_method0("flush")?;
            Ok(())
        });
        match written {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                self.error = Some(e);
                ControlFlow::Break(())
            }
        }
    }
}

/// Runs `f` in a pool of `threads` threads ([`with_threads`], as the command runs a fit) on
/// a scoped thread, while this thread runs Python's signal handlers every 10 ms: Python
/// runs them on its main thread only, and a fit's epochs (or a bench's cells) end on other
/// threads. An
/// exception a handler raises (`KeyboardInterrupt` on Ctrl-C) sets `stop`, which the
/// observer turns into a stop at the next epoch's end, and is returned beside `f`'s result
/// (the caller raises it, even when the run finished first). Called with the GIL released.
fn run_interruptible<R: Send>(
    threads: usize,
    stop: &AtomicBool,
    f: impl FnOnce() -> R + Send,
) -> (R, Option<PyErr>) {
    let mut interrupt = None;
    let out = std::thread::scope(|scope| {
        let run = scope.spawn(|| with_threads(threads, f));
        while !run.is_finished() {
            std::thread::sleep(Duration::from_millis(10));
            if interrupt.is_none() {
                if let Err(e) = Python::attach(|py| py.check_signals()) {
                    interrupt = Some(e);
                    stop.store(true, Ordering::SeqCst);
                }
            }
        }
        run.join()
    });
    // A panic in `f` continues here, where the caller's `guarded` turns it into an error.
    let out = out.unwrap_or_else(|payload| std::panic::resume_unwind(payload));
    (out, interrupt)
}

impl SeedObserver for PyObserver {
    fn seed_started(&mut self, dataset: &str, seed: u64) {
        if let Some(label) = &mut self.label {
            *label = format!("{dataset} seed {seed}");
        }
    }

    fn on_epoch(&mut self, report: &EpochReport) -> ControlFlow<()> {
        FitObserver::on_epoch(self, report)
    }
}

/// Trains with `params` on `x` (float32, rows x features) and labels `y` (uint8, 1 =
/// labeled anomaly, 0 = unlabeled), its matrix products on `threads` threads. The GIL is
/// released while it trains; after each epoch the progress line goes to `sys.stderr` when
/// `verbose`, and Ctrl-C stops the fit (`KeyboardInterrupt`, no model).
#[pyfunction]
#[pyo3(signature = (params, x, y, verbose = false, threads = 1))]
fn fit(
    py: Python<'_>,
    params: &Bound<'_, PyFitParams>,
    x: PyReadonlyArray2<'_, f32>,
    y: PyReadonlyArray1<'_, u8>,
    verbose: bool,
    threads: usize,
) -> PyResult<PyModel> {
    let params = &params.get().params;
    let (x, y): (ArrayView2<f32>, ArrayView1<u8>) =
        (c_contiguous("X", &x)?, c_contiguous("y", &y)?);
    let mut observer = PyObserver::new(verbose, params.method.kind().to_string());
    let stop = Arc::clone(&observer.stop);
    let (model, interrupt) = py.detach(|| {
        run_interruptible(threads, &stop, || {
            guarded("fit", || {
                params
                    .fit_observed(x, y, &mut observer)
                    .map_err(|e| observer.error_or(fit_error(e)))
            })
        })
    });
    if let Some(e) = interrupt {
        return Err(e);
    }
    Ok(PyModel { model: model? })
}

/// The threads "all cores" means here (the command's default `--threads`): what the
/// machine lets this process use.
#[pyfunction]
fn available_threads() -> usize {
    core_available_threads()
}

/// A fitted model of the library (`anoonly::methods::Model`).
#[pyclass(frozen, name = "Model", module = "anoonly._anoonly")]
struct PyModel {
    model: Model,
}

/// A model's computation on rows from Python (`X` float32, C-contiguous), the GIL released
/// while it runs, its error a `ValueError`: what scoring and the representation share.
fn on_rows<'py, D: ndarray::Dimension>(
    py: Python<'py>,
    what: &str,
    x: &PyReadonlyArray2<'py, f32>,
    run: impl FnOnce(ArrayView2<f32>) -> Result<ndarray::Array<f32, D>, ScoreError> + Send,
) -> PyResult<Bound<'py, numpy::PyArray<f32, D>>> {
    let x = c_contiguous("X", x)?;
    let out = py.detach(|| guarded(what, || run(x).map_err(value_error)))?;
    Ok(out.into_pyarray(py))
}

#[pymethods]
impl PyModel {
    /// The method's name (`deepsad`, ...).
    #[getter]
    fn method(&self) -> &'static str {
        self.model.kind().name()
    }

    /// Number of input features.
    #[getter]
    fn n_features(&self) -> usize {
        self.model.n_features
    }

    /// The preprocessing the model applies to every row it scores (`none`, `auto`,
    /// `minmax`, `standard`).
    #[getter]
    fn preprocessing(&self) -> &'static str {
        self.model.params.preprocessing.name()
    }

    /// Decision scores of the training rows (a new float32 array).
    #[getter]
    fn train_scores<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f32>> {
        self.model.train_scores.clone().into_pyarray(py)
    }

    /// What the fit did differently from the authors' code to train on its data (e.g.
    /// PReNet drawing pairs with replacement), one sentence each.
    #[getter]
    fn notes(&self) -> Vec<String> {
        self.model.report.notes.clone()
    }

    /// The fit parameters as JSON: `{"method": {"method": NAME, ...}, "train": {...}}`.
    fn params_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.model.params).map_err(value_error)
    }

    /// Anomaly scores of `x` (float32, C-contiguous), higher = more anomalous, the matrix
    /// products on `threads` threads. The GIL is released while it scores.
    #[pyo3(signature = (x, threads = 1))]
    fn decision_function<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f32>,
        threads: usize,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        on_rows(py, "decision_function", &x, |x| {
            with_threads(threads, || self.model.decision_function(x))
        })
    }

    /// The hidden features before the method's last layer for each row of `x` (float32,
    /// rows x width; the library's `Model::representation`): what `decision_function(X,
    /// return_rep=True)` returns beside the scores. A `ValueError` for a method without
    /// them (XGBOD). The GIL is released while it runs; the matrix products on `threads`
    /// threads.
    #[pyo3(signature = (x, threads = 1))]
    fn representation<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f32>,
        threads: usize,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        on_rows(py, "representation", &x, |x| {
            with_threads(threads, || self.model.representation(x))
        })
    }

    /// The score above which a row is called an anomaly at `contamination`.
    fn threshold(&self, contamination: f64) -> PyResult<f32> {
        guarded("threshold", || {
            self.model.threshold(contamination).map_err(value_error)
        })
    }

    /// The model file's bytes (what `save` writes).
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = py.detach(|| {
            guarded("to_bytes", || {
                model_file::to_bytes(&self.model).map_err(model_file_error)
            })
        })?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Writes the model file (atomically), as `anoonly fit --out` does.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| {
            guarded("save", || {
                model_file::save(&self.model, &path).map_err(model_file_error)
            })
        })
    }
}

/// Reads a model file written by `anoonly fit` or `save`.
#[pyfunction]
fn load(py: Python<'_>, path: PathBuf) -> PyResult<PyModel> {
    let model =
        py.detach(|| guarded("load", || model_file::load(&path).map_err(model_file_error)))?;
    Ok(PyModel { model })
}

/// A model from model-file bytes (`Model.to_bytes`); `name` stands for the file in errors.
#[pyfunction]
#[pyo3(signature = (data, name = "<memory>"))]
fn from_bytes(py: Python<'_>, data: &[u8], name: &str) -> PyResult<PyModel> {
    let model = py.detach(|| {
        guarded("from_bytes", || {
            model_file::from_bytes(data, Path::new(name)).map_err(model_file_error)
        })
    })?;
    Ok(PyModel { model })
}

/// Features and labels as numpy arrays.
type Labeled<'py> = (Bound<'py, PyArray2<f32>>, Bound<'py, PyArray1<u8>>);

/// A labeled data file read as `anoonly eval` / `fit` read it: `(X float32, y uint8)`.
#[pyfunction]
#[pyo3(signature = (path, label_column = None, labels = None))]
fn load_data<'py>(
    py: Python<'py>,
    path: PathBuf,
    label_column: Option<String>,
    labels: Option<PathBuf>,
) -> PyResult<Labeled<'py>> {
    let opts = LoadOptions {
        label_column,
        labels,
    };
    let ds = py.detach(|| guarded("load_data", || data::load(&path, &opts).map_err(data_error)))?;
    Ok((ds.x.into_pyarray(py), ds.y.into_pyarray(py)))
}

type SplitArrays<'py> = (
    Bound<'py, PyArray2<f32>>,
    Bound<'py, PyArray1<u8>>,
    Bound<'py, PyArray2<f32>>,
    Bound<'py, PyArray1<u8>>,
);

/// The split options of `anoonly eval` (protocol and setting by their CLI names; the
/// labeled anomalies as `--gamma-la` or `--n-labeled`, exclusive, the library's default
/// ratio when neither is given).
fn split_params(
    protocol: &str,
    setting: &str,
    gamma_la: Option<f64>,
    n_labeled: Option<usize>,
    normal_ratio: f64,
    max_rows: Option<usize>,
) -> PyResult<SplitParams> {
    Ok(SplitParams {
        protocol: parsed_arg("protocol", protocol)?,
        setting: parsed_arg("setting", setting)?,
        labeled: protocol::Labeled::from_options(gamma_la, n_labeled)
            .map_err(PyValueError::new_err)?,
        normal_ratio,
        max_rows,
        ..SplitParams::default()
    })
}

/// The train/test split of `anoonly eval` at `seed`: `(X_train, y_train, X_test, y_test)`,
/// both parts min-max scaled with the train split; `y_train` 1 = labeled anomaly, `y_test`
/// the true labels.
#[pyfunction]
#[pyo3(signature = (x, y, seed, protocol, setting, gamma_la, normal_ratio, max_rows, n_labeled = None))]
#[allow(clippy::too_many_arguments)]
fn split<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f32>,
    y: PyReadonlyArray1<'py, u8>,
    seed: u64,
    protocol: &str,
    setting: &str,
    gamma_la: Option<f64>,
    normal_ratio: f64,
    max_rows: Option<usize>,
    n_labeled: Option<usize>,
) -> PyResult<SplitArrays<'py>> {
    let params = split_params(
        protocol,
        setting,
        gamma_la,
        n_labeled,
        normal_ratio,
        max_rows,
    )?;
    params.validate().map_err(value_error)?;
    let (x, y) = (c_contiguous("X", &x)?, c_contiguous("y", &y)?);
    let s = py.detach(|| {
        guarded("split", || {
            protocol::split(x, y, &params, seed).map_err(value_error)
        })
    })?;
    Ok((
        s.x_train.into_pyarray(py),
        s.y_train.into_pyarray(py),
        s.x_test.into_pyarray(py),
        s.y_test.into_pyarray(py),
    ))
}

fn slice<'a, T: numpy::Element>(name: &str, a: &'a PyReadonlyArray1<'_, T>) -> PyResult<&'a [T]> {
    a.as_slice()
        .map_err(|_| PyValueError::new_err(format!("{name} must be contiguous")))
}

/// The paper's metrics of scores against labels (1 = anomaly): a dict with `aucroc`,
/// `aucpr`, `aucpr_normal` and `aucpr_normal_official`, as fractions.
#[pyfunction]
fn metrics<'py>(
    py: Python<'py>,
    y: PyReadonlyArray1<'py, u8>,
    scores: PyReadonlyArray1<'py, f32>,
) -> PyResult<Bound<'py, PyDict>> {
    let (y, scores) = (slice("y", &y)?, slice("scores", &scores)?);
    let m = guarded("metrics", || {
        core_metrics::evaluate(y, scores).map_err(value_error)
    })?;
    let d = PyDict::new(py);
    d.set_item("aucroc", m.aucroc)?;
    d.set_item("aucpr", m.aucpr)?;
    d.set_item("aucpr_normal", m.aucpr_normal)?;
    d.set_item("aucpr_normal_official", m.aucpr_normal_official)?;
    Ok(d)
}

/// PyOD's outlier probability of `scores` given the training scores: `method` is `linear`
/// or `unify`.
#[pyfunction]
fn probability<'py>(
    py: Python<'py>,
    train: PyReadonlyArray1<'py, f32>,
    scores: PyReadonlyArray1<'py, f32>,
    method: &str,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let (train, scores) = (slice("train", &train)?, slice("scores", &scores)?);
    let p = guarded("probability", || match method {
        "linear" => Ok(core_probability::linear(train, scores)),
        "unify" => Ok(core_probability::unify(train, scores)),
        other => Err(PyValueError::new_err(format!(
            "method {other:?} is not a probability conversion method (known: linear, unify)"
        ))),
    })?;
    Ok(Array1::from(p).into_pyarray(py))
}

/// PyOD's prediction confidence of `scores` (ExCeeD).
#[pyfunction]
fn confidence<'py>(
    py: Python<'py>,
    train: PyReadonlyArray1<'py, f32>,
    scores: PyReadonlyArray1<'py, f32>,
    contamination: f64,
    threshold: f32,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let (train, scores) = (slice("train", &train)?, slice("scores", &scores)?);
    let c = guarded("confidence", || {
        core_probability::check_contamination(contamination).map_err(value_error)?;
        Ok(core_probability::confidence(
            train,
            scores,
            contamination,
            threshold,
        ))
    })?;
    Ok(Array1::from(c).into_pyarray(py))
}

fn eval_error(e: EvalError, observer: &mut PyObserver) -> PyErr {
    match e {
        EvalError::Fit {
            source: FitError::Interrupted(_),
            ..
        } => observer.error_or(PyRuntimeError::new_err(e.to_string())),
        EvalError::Fit {
            source: FitError::Diverged,
            ..
        } => PyRuntimeError::new_err(e.to_string()),
        EvalError::Data(e) => data_error(e),
        e => value_error(e),
    }
}

/// `anoonly eval` in one call: the library's `experiment::EvalRequest`, as the CLI's
/// `eval` runs it, returning each seed's record as the JSON line of `eval --json`. The
/// data is a file (`path`, read as `eval` reads it) or arrays (`x`, `y` true labels, named
/// `name` in the records). The GIL is released while it runs; `verbose` and Ctrl-C as in
/// `fit`; the matrix products on `threads` threads.
#[pyfunction]
#[pyo3(signature = (params, seeds, protocol, setting, gamma_la, normal_ratio, max_rows, verbose, x = None, y = None, name = "arrays", path = None, label_column = None, n_labeled = None, threads = 1))]
#[allow(clippy::too_many_arguments)]
fn evaluate(
    py: Python<'_>,
    params: &Bound<'_, PyFitParams>,
    seeds: Vec<u64>,
    protocol: &str,
    setting: &str,
    gamma_la: Option<f64>,
    normal_ratio: f64,
    max_rows: Option<usize>,
    verbose: bool,
    x: Option<PyReadonlyArray2<'_, f32>>,
    y: Option<PyReadonlyArray1<'_, u8>>,
    name: &str,
    path: Option<PathBuf>,
    label_column: Option<String>,
    n_labeled: Option<usize>,
    threads: usize,
) -> PyResult<Vec<String>> {
    let data = match (path, x, y) {
        (Some(path), None, None) => EvalData::File {
            path,
            options: LoadOptions {
                label_column,
                labels: None,
            },
        },
        (None, Some(x), Some(y)) => {
            let (x, y) = (c_contiguous("X", &x)?, c_contiguous("y", &y)?);
            EvalData::Dataset(Dataset::new(name, x.to_owned(), y.to_owned()).map_err(data_error)?)
        }
        _ => {
            return Err(PyValueError::new_err(
                "evaluate needs a data file or both X and y",
            ))
        }
    };
    let request = EvalRequest {
        data,
        split: split_params(
            protocol,
            setting,
            gamma_la,
            n_labeled,
            normal_ratio,
            max_rows,
        )?,
        fit: params.get().options.clone(),
        seeds,
    };
    // The label until the first seed starts (progress lines name the dataset and seed).
    let mut observer = PyObserver::new(verbose, String::new());
    let stop = Arc::clone(&observer.stop);
    let (records, interrupt) = py.detach(|| {
        run_interruptible(threads, &stop, || {
            guarded("evaluate", || {
                request
                    .run(&mut observer)
                    .map_err(|e| eval_error(e, &mut observer))
            })
        })
    });
    if let Some(e) = interrupt {
        return Err(e);
    }
    let records = records?;
    records
        .iter()
        .map(|r| serde_json::to_string(r).map_err(value_error))
        .collect()
}

/// Shows a bench run's progress (`verbose`: a line per finished cell on `sys.stderr`) and
/// stops it when asked: the calling thread sets `stop` on Ctrl-C, and the next cell to
/// finish returns `Break` (no new cell starts; the cells in flight finish first).
struct PyBenchObserver {
    verbose: bool,
    stop: AtomicBool,
}

impl PyBenchObserver {
    /// Writes `line` to `sys.stderr` (taking the GIL for a moment: called from the bench's
    /// worker threads).
    fn say(&self, line: String) {
        if self.verbose {
            Python::attach(|py| {
                if let Ok(stderr) = py.import("sys").and_then(|m| m.getattr("stderr")) {
                    let _ = stderr.call_method1("write", (line,));
                    let _ = stderr.call_method0("flush");
                }
            });
        }
    }
}

impl BenchObserver for PyBenchObserver {
    fn planned(&self, c: Counts) {
        self.say(format!(
            "anoonly bench: {} cell(s) to run, {} already done\n",
            c.total, c.skipped
        ));
    }

    fn cell_finished(&self, cell: &Cell, outcome: CellOutcome<'_>, c: Counts) -> ControlFlow<()> {
        let what = match outcome {
            CellOutcome::Done(r) => format!("AUCROC {:.3}", r.aucroc),
            CellOutcome::Failed(e) => format!("FAILED: {e}"),
        };
        self.say(format!(
            "anoonly bench: [{}/{}] {} {what}\n",
            c.finished,
            c.total,
            cell.key()
        ));
        if self.stop.load(Ordering::SeqCst) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

/// A list of library values from their names (`FromStr`), the error naming the argument.
fn parsed_list<T: std::str::FromStr<Err = String>>(
    name: &str,
    values: &[String],
) -> PyResult<Vec<T>> {
    values.iter().map(|v| parsed_arg(name, v)).collect()
}

/// `anoonly bench` in one call (the bench crate's `build_grids` and `run_grids`, as the
/// command runs them): the grid of `suite` or `grid` (a TOML file) with the given axes
/// overriding it, run on `threads` workers into `out` (results.jsonl, report.md,
/// report.csv, evidence.csv, ranks.csv, figures). Returns the run's summary; the tables are
/// the files it wrote. The GIL is released while it runs; the calling thread checks for
/// Ctrl-C every 50 ms and stops the run (`KeyboardInterrupt`: no new cell starts, the
/// cells in flight finish, `resume=True` continues).
#[pyfunction]
#[pyo3(name = "bench", signature = (out, *, suite, grid, data_dir, files, methods, variants, settings, gamma_la, n_labeled, seeds, protocol, epochs, set, resume, threads, cache, verbose))]
#[allow(clippy::too_many_arguments)]
fn run_bench<'py>(
    py: Python<'py>,
    out: PathBuf,
    suite: Option<String>,
    grid: Option<PathBuf>,
    data_dir: PathBuf,
    files: Vec<PathBuf>,
    methods: Vec<String>,
    variants: Vec<String>,
    settings: Vec<String>,
    gamma_la: Vec<f64>,
    n_labeled: Vec<usize>,
    seeds: Vec<u64>,
    protocol: Option<String>,
    epochs: Option<usize>,
    set: Vec<(String, String, String)>,
    resume: bool,
    threads: usize,
    cache: Option<PathBuf>,
    verbose: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let source = match (grid, suite) {
        (Some(path), None) => GridSource::File(path),
        (None, Some(name)) => GridSource::Suite(parsed_arg("suite", &name)?),
        (None, None) => GridSource::Default,
        (Some(_), Some(_)) => {
            return Err(PyValueError::new_err(
                "bench: give a suite or a grid file, not both",
            ))
        }
    };
    let set = set
        .iter()
        .map(|(m, name, value)| {
            Ok((
                parsed_arg("set", m)?,
                name.clone(),
                anoonly::methods::parse_value(value),
            ))
        })
        .collect::<PyResult<_>>()?;
    let axes = GridAxes {
        files,
        methods: parsed_list::<MethodKind>("methods", &methods)?,
        variants: parsed_list::<Variant>("variants", &variants)?,
        settings: parsed_list("settings", &settings)?,
        gamma_la,
        n_labeled,
        seeds,
        protocol: protocol.map(|p| parsed_arg("protocol", &p)).transpose()?,
        epochs,
        set,
    };
    let opts = RunOptions {
        out,
        resume,
        threads: threads.max(1),
        // One core per worker, as the command's bench.
        matmul_threads: 1,
        shard: None,
        share: true,
        cache,
    };
    let observer = PyBenchObserver {
        verbose,
        stop: AtomicBool::new(false),
    };
    let (result, interrupt) = py.detach(|| -> PyResult<_> {
        let grids = guarded("bench", || {
            anoonly_bench::build_grids(&source, &data_dir, &axes).map_err(value_error)
        })?;
        // The grid's workers compute, each on its own core; this thread polls Python's
        // signal handlers meanwhile, and Ctrl-C sets the observer's `stop`.
        Ok(run_interruptible(1, &observer.stop, || {
            guarded("bench", || {
                Ok(anoonly_bench::run_grids(&grids, &opts, &observer))
            })
        }))
    })?;
    let summary = match result? {
        Ok(summary) => summary,
        Err(e) => {
            return Err(match (e, interrupt) {
                (BenchError::Interrupted { .. }, Some(stop)) => stop,
                (BenchError::Data(e), _) => data_error(e),
                (e, _) => value_error(e),
            })
        }
    };
    if let Some(stop) = interrupt {
        // Ctrl-C came after the last cell had started: the run finished and its report is
        // written, but the user asked to stop, so the interrupt is raised all the same.
        return Err(stop);
    }
    let d = PyDict::new(py);
    d.set_item("cells", summary.cells)?;
    d.set_item("skipped", summary.skipped)?;
    d.set_item("ran", summary.ran)?;
    d.set_item("failed", summary.failed)?;
    d.set_item("wall_seconds", summary.wall_seconds)?;
    d.set_item("threads", opts.threads)?;
    let outputs: Vec<String> = summary
        .outputs
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    d.set_item("outputs", outputs)?;
    Ok(d)
}

/// Runs the `anoonly` command (the CLI's own code, `anoonly_cli::run_status`) on `args`
/// (the program name first) and returns its exit status; the console script hands it to
/// `sys.exit`. The GIL is released while it runs.
#[pyfunction]
fn run_cli(py: Python<'_>, args: Vec<String>) -> PyResult<u8> {
    py.detach(|| guarded("the anoonly command", || Ok(anoonly_cli::run_status(args))))
}

/// Address of the first element as the library sees a float32 matrix passed from Python:
/// equal to numpy's own data pointer when no copy was made (the zero-copy test).
#[pyfunction]
fn _buffer_address(x: PyReadonlyArray2<'_, f32>) -> PyResult<usize> {
    Ok(c_contiguous("X", &x)?.as_ptr() as usize)
}

#[pymodule]
fn _anoonly(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<PyModel>()?;
    m.add_class::<PyMethodInfo>()?;
    m.add_function(wrap_pyfunction!(methods, m)?)?;
    m.add_function(wrap_pyfunction!(method_name, m)?)?;
    m.add_function(wrap_pyfunction!(train_defaults, m)?)?;
    m.add_function(wrap_pyfunction!(split_defaults, m)?)?;
    m.add_function(wrap_pyfunction!(labels, m)?)?;
    m.add_class::<PyFitParams>()?;
    m.add_function(wrap_pyfunction!(check_contamination, m)?)?;
    m.add_function(wrap_pyfunction!(fit, m)?)?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(from_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(load_data, m)?)?;
    m.add_function(wrap_pyfunction!(split, m)?)?;
    m.add_function(wrap_pyfunction!(metrics, m)?)?;
    m.add_function(wrap_pyfunction!(probability, m)?)?;
    m.add_function(wrap_pyfunction!(confidence, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(run_bench, m)?)?;
    m.add_function(wrap_pyfunction!(available_threads, m)?)?;
    m.add_function(wrap_pyfunction!(run_cli, m)?)?;
    m.add_function(wrap_pyfunction!(_buffer_address, m)?)?;
    Ok(())
}
