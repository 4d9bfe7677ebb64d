//! # anoonly
//!
//! Semi-supervised anomaly detection (SSAD) on feature files, with the AnoOnly switch of
//! *AnoOnly: Semi-Supervised Anomaly Detection without Loss on Normal Data*.
//!
//! Layout, one module per concept:
//! - [`data`]: reading ADBench `.npz`, `.npy` pairs and CSV into a validated [`data::Dataset`];
//!   synthetic data for the demo.
//! - [`protocol`]: the train/test split as the authors' code does it (ADBench) and a
//!   leakage-free variant; labeled-anomaly selection (`gamma_la`), clean and noisy settings.
//! - [`metrics`]: AUCROC, AUCPR (anomaly), AUCPR (normal), and the authors' AUCPR (normal).
//! - [`nn`]: the numeric core: layers with explicit backward passes, optimisers, schedules.
//! - [`train`]: the one training core, home of the `lambda_n` / AnoOnly switch.
//! - [`detectors`]: unsupervised outlier detectors (KNN, LOF, HBOS, OCSVM, IForest), XGBOD's features.
//! - [`boost`]: gradient-boosted trees with XGBoost's exact greedy splits, XGBOD's classifier.
//! - [`methods`]: one file per SSAD method; each declares its network, its `L_N` and `L_A`,
//!   its sampler and its scoring.
//! - [`model_file`]: versioned, self-describing model files (safetensors with a JSON config).
//! - [`probability`]: scores turned into PyOD's outlier probabilities and confidences.
//! - [`experiment`]: split + fit + score + metrics, as `anoonly eval` runs them.
//! - [`bench`]: experiment grids (`anoonly bench`): results files, reports beside the paper's
//!   tables, figures.
//! - [`rng`]: one seed per run, sub-seeds per component, a portable ChaCha generator.

pub mod bench;
pub mod boost;
pub mod data;
pub mod detectors;
pub mod experiment;
pub mod methods;
pub mod metrics;
pub mod model_file;
pub mod nn;
pub mod output;
pub mod probability;
pub mod protocol;
pub mod rng;
pub mod train;

pub use data::Dataset;
