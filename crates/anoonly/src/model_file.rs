//! Model files: one self-describing safetensors file per fitted model. The header's
//! metadata holds `format = "anoonly-model"`, a format version, the crate version and the
//! model's configuration as JSON (method, hyperparameters, training parameters, the
//! preprocessing, input width); the tensors are the network state (torch state-dict names
//! under `net.`), the method's extra state (DeepSAD's centre `c`), the training scores and
//! the preprocessing's per-column offset and scale. A model without preprocessing is
//! written as format version 1, as before version 2 existed; one with it as version 2. Python reads them
//! with `safetensors.numpy.load_file`.
//!
//! Files are written to a temporary file beside the target and renamed, so a crash never
//! leaves a half-written model.

use std::path::{Path, PathBuf};

use safetensors::tensor::SafeTensors;
use serde::{Deserialize, Serialize};

use crate::methods::{FitParams, Model};
use crate::output::write_atomic;
use crate::vocab::tensor::{tensors_of, to_safetensors, StateError};

/// The newest format version this anoonly writes and reads: bumped whenever a model file
/// gains something an older reader would not apply. Version 2 adds the model's
/// preprocessing (`config.params.preprocessing` and the tensors `preprocessing.offset`,
/// `preprocessing.scale`).
pub const FORMAT_VERSION: u32 = 2;
/// The version written for a model without preprocessing: such a file is exactly what
/// anoonly wrote before version 2 existed (byte for byte), so older readers still read it.
pub const FORMAT_VERSION_PLAIN: u32 = 1;
/// Every version this anoonly reads.
const READ_VERSIONS: [u32; 2] = [FORMAT_VERSION_PLAIN, FORMAT_VERSION];
const FORMAT_NAME: &str = "anoonly-model";
/// Model files larger than this are refused before reading (no method comes close).
const MAX_MODEL_BYTES: u64 = 2 << 30;

#[derive(Serialize, Deserialize)]
struct Config {
    params: FitParams,
    n_features: usize,
}

/// Why a model file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not an anoonly model file ({reason})")]
    NotAModel { path: PathBuf, reason: String },
    #[error("{path}: model file format version {found}, this anoonly (v{}) reads versions {FORMAT_VERSION_PLAIN} to {FORMAT_VERSION}", env!("CARGO_PKG_VERSION"))]
    Version { path: PathBuf, found: String },
    #[error("{path}: model configuration is invalid: {reason}")]
    Config { path: PathBuf, reason: String },
    #[error("{path}: model weights do not fit the configuration: {source}")]
    State { path: PathBuf, source: StateError },
}

/// Writes `model` to `path` (atomically).
pub fn save(model: &Model, path: &Path) -> Result<(), ModelFileError> {
    let data = to_bytes(model).map_err(|e| match e {
        ModelFileError::Config { reason, .. } => ModelFileError::Config {
            path: path.to_path_buf(),
            reason,
        },
        other => other,
    })?;
    write_atomic(path, &data).map_err(|source| ModelFileError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The bytes [`save`] writes: the whole model file, in memory. For callers that keep a
/// model elsewhere than in a file (the Python package pickles estimators with them); read
/// back with [`from_bytes`]. Errors name the file `<memory>`.
pub fn to_bytes(model: &Model) -> Result<Vec<u8>, ModelFileError> {
    let config_error = |reason: String| ModelFileError::Config {
        path: PathBuf::from("<memory>"),
        reason,
    };
    let config = Config {
        params: model.params.clone(),
        n_features: model.n_features,
    };
    let config_json = serde_json::to_string(&config).map_err(|e| config_error(e.to_string()))?;
    let version = if model.scaler.is_some() {
        FORMAT_VERSION
    } else {
        FORMAT_VERSION_PLAIN
    };
    let meta = [
        ("format", FORMAT_NAME.to_string()),
        ("format_version", version.to_string()),
        ("anoonly_version", env!("CARGO_PKG_VERSION").to_string()),
        ("method", model.kind().to_string()),
        ("config", config_json),
    ];
    to_safetensors(model.tensors(), &meta).map_err(config_error)
}

/// Reads a model written by [`save`].
pub fn load(path: &Path) -> Result<Model, ModelFileError> {
    let io = |source| ModelFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let not_model = |reason: String| ModelFileError::NotAModel {
        path: path.to_path_buf(),
        reason,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_MODEL_BYTES {
        return Err(not_model(format!("{len} bytes is larger than any model")));
    }
    let bytes = std::fs::read(path).map_err(io)?;
    from_bytes(&bytes, path)
}

/// Reads a model file held in memory, with every check of [`load`]; `path` only names it in
/// errors. For callers holding bytes and for the fuzz target (`fuzz/`).
pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Model, ModelFileError> {
    let not_model = |reason: String| ModelFileError::NotAModel {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.is_empty() {
        return Err(not_model("the file is empty".into()));
    }
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| not_model(format!("not a valid safetensors file: {e:?}")))?;
    let (_, meta) = SafeTensors::read_metadata(bytes)
        .map_err(|e| not_model(format!("not a valid safetensors file: {e:?}")))?;
    let meta = meta
        .metadata()
        .clone()
        .ok_or_else(|| not_model("no metadata in the header".into()))?;
    if meta.get("format").map(String::as_str) != Some(FORMAT_NAME) {
        return Err(not_model(format!(
            "header field `format` is {:?}, expected \"{FORMAT_NAME}\"",
            meta.get("format")
        )));
    }
    let version_text = meta.get("format_version").cloned().unwrap_or_default();
    let version = READ_VERSIONS
        .into_iter()
        .find(|v| v.to_string() == version_text)
        .ok_or_else(|| ModelFileError::Version {
            path: path.to_path_buf(),
            found: version_text,
        })?;
    let config: Config = meta
        .get("config")
        .ok_or_else(|| not_model("no `config` in the header".into()))
        .and_then(|c| {
            serde_json::from_str(c).map_err(|e| ModelFileError::Config {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
        })?;
    config
        .params
        .validate()
        .map_err(|e| ModelFileError::Config {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    if version < FORMAT_VERSION && !config.params.preprocessing.is_none() {
        return Err(ModelFileError::Config {
            path: path.to_path_buf(),
            reason: format!(
                "preprocessing `{}` in a version {version} file (preprocessing came with version {FORMAT_VERSION})",
                config.params.preprocessing
            ),
        });
    }
    if config.n_features == 0 || config.n_features > 10_000_000 {
        return Err(ModelFileError::Config {
            path: path.to_path_buf(),
            reason: format!("n_features = {} is out of range", config.n_features),
        });
    }
    let views = st.tensors();
    let stored: usize = views.iter().map(|(_, v)| v.data().len() / 4).sum();
    let method = &config.params.method;
    method
        .check_widths(config.n_features, stored as u128)
        .map_err(|reason| ModelFileError::Config {
            path: path.to_path_buf(),
            reason: format!("{reason} (the file holds {stored} values)"),
        })?;
    let tensors = tensors_of(views).map_err(not_model)?;
    Model::from_tensors(config.params, config.n_features, &tensors).map_err(|source| {
        ModelFileError::State {
            path: path.to_path_buf(),
            source,
        }
    })
}
