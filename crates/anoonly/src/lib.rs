//! # anoonly
//!
//! Semi-supervised anomaly detection (SSAD) on feature files, with the AnoOnly switch of
//! *AnoOnly: Semi-Supervised Anomaly Detection without Loss on Normal Data*.
//!
//! Layout, one module per concept, bottom up:
//! - [`vocab`]: the shared vocabulary: parameter checks ([`vocab::ParamError`]),
//!   [`vocab::NormKind`], named tensors and their checked readers (model files).
//! - [`data`]: reading ADBench `.npz`, `.npy` pairs and CSV into a validated [`data::Dataset`];
//!   synthetic data for the demo.
//! - [`protocol`]: the train/test split as the authors' code does it (ADBench) and a
//!   leakage-free variant; labeled-anomaly selection (`gamma_la`), clean and noisy settings.
//! - [`preprocessing`]: the feature scaling a model learns from its training rows and
//!   applies to every row it scores (`preprocessing`, PyOD's option), kept in model files.
//! - [`metrics`]: AUCROC, AUCPR (anomaly), AUCPR (normal), and the authors' AUCPR (normal).
//! - [`nn`]: the numeric core: layers with explicit backward passes, optimisers, schedules.
//! - [`train`]: the one training core, home of the `lambda_n` / AnoOnly switch, and the
//!   fit observer that reports epochs and can stop a fit.
//! - [`detectors`]: unsupervised outlier detectors (KNN, LOF, HBOS, OCSVM, IForest), XGBOD's features.
//! - [`boost`]: gradient-boosted trees with XGBoost's exact greedy splits, XGBOD's classifier.
//! - [`methods`]: one file per method, each implementing [`methods::Method`] (what it is and
//!   what it does), registered once; [`methods::FitOptions`] turns a front end's options
//!   into [`methods::FitParams`].
//! - [`model_file`]: versioned, self-describing model files (safetensors with a JSON config).
//! - [`probability`]: scores turned into PyOD's outlier probabilities and confidences.
//! - [`experiment`]: split + fit + score + metrics over several seeds, as `anoonly eval` runs
//!   them, and the demo.
//! - [`output`]: files written atomically.
//! - [`rng`]: one seed per run, sub-seeds per component, a portable ChaCha generator.
//!
//! The protocol and every departure from the paper, with the switches that select them:
//! `docs/protocol.md`. Experiment grids, reports and their statistics live in the
//! `anoonly-bench` crate; the `anoonly` command in `anoonly-cli`; the Python bindings in
//! `anoonly-py`.

pub mod boost;
pub mod data;
pub mod detectors;
pub mod experiment;
pub mod methods;
pub mod metrics;
pub mod model_file;
pub mod nn;
pub mod output;
pub mod preprocessing;
pub mod probability;
pub mod protocol;
pub mod rng;
pub mod train;
pub mod vocab;

pub use data::Dataset;
