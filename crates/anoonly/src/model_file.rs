//! Model files: one self-describing safetensors file per fitted model. The header's
//! metadata holds `format = "anoonly-model"`, a format version, the crate version and the
//! model's configuration as JSON (method, hyperparameters, training parameters, input
//! width); the tensors are the network state (torch state-dict names under `net.`), the
//! method's extra state (DeepSAD's centre `c`) and the training scores. Python reads them
//! with `safetensors.numpy.load_file`.
//!
//! Files are written to a temporary file beside the target and renamed, so a crash never
//! leaves a half-written model.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::methods::{FitParams, Model};
use crate::output::write_atomic;
use crate::vocab::tensor::{NamedTensor, StateError};

/// Bumped whenever a model file written by an older version can no longer be read.
pub const FORMAT_VERSION: u32 = 1;
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
    #[error("{path}: model file format version {found}, this anoonly (v{}) reads version {FORMAT_VERSION}", env!("CARGO_PKG_VERSION"))]
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
    let meta: HashMap<String, String> = [
        ("format".to_string(), FORMAT_NAME.to_string()),
        ("format_version".to_string(), FORMAT_VERSION.to_string()),
        (
            "anoonly_version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
        ("method".to_string(), model.kind().to_string()),
        ("config".to_string(), config_json),
    ]
    .into_iter()
    .collect();
    // Each tensor is consumed as it is converted, so at most one extra copy of the largest
    // (the training scores: one f32 per training row) is alive at a time.
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = model
        .tensors()
        .into_iter()
        .map(|t| {
            let b: Vec<u8> = t.data.iter().flat_map(|v| v.to_le_bytes()).collect();
            (t.name, b, t.shape)
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, b, shape)| {
            TensorView::new(Dtype::F32, shape.clone(), b)
                .map(|v| (name.clone(), v))
                .map_err(|e| config_error(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let data =
        safetensors::serialize(views, &Some(meta)).map_err(|e| config_error(e.to_string()))?;
    drop(bytes);
    canonical_header(data).map_err(config_error)
}

/// Rewrites a serialized safetensors file with its JSON header's keys sorted. `safetensors`
/// writes the metadata from a `HashMap`, whose order changes from run to run, so the same
/// model gave different bytes each time; sorted, a model file is a pure function of the
/// model (same seed, data and thread count give the same file, comparable with `md5sum`).
/// Data offsets are relative to the end of the header, so only the header is rewritten.
fn canonical_header(data: Vec<u8>) -> Result<Vec<u8>, String> {
    let n = data
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| 8 + n <= data.len())
        .ok_or("serialized header length out of range")?;
    // serde_json's default map is a BTreeMap: keys come out sorted.
    let header: serde_json::Value =
        serde_json::from_slice(&data[8..8 + n]).map_err(|e| e.to_string())?;
    let mut text = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
    while text.len() % 8 != 0 {
        text.push(b' ');
    }
    if text.len() == n {
        // The usual case (same JSON, other key order): rewrite in place, no second copy.
        let mut data = data;
        data[8..8 + n].copy_from_slice(&text);
        return Ok(data);
    }
    let mut out = Vec::with_capacity(8 + text.len() + data.len() - 8 - n);
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(&text);
    out.extend_from_slice(&data[8 + n..]);
    Ok(out)
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
    let version = meta.get("format_version").cloned().unwrap_or_default();
    if version != FORMAT_VERSION.to_string() {
        return Err(ModelFileError::Version {
            path: path.to_path_buf(),
            found: version,
        });
    }
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
    let mut tensors = Vec::new();
    for (name, view) in views {
        if view.dtype() != Dtype::F32 {
            return Err(not_model(format!(
                "tensor `{name}` has dtype {:?}, expected F32",
                view.dtype()
            )));
        }
        let data = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        tensors.push(NamedTensor {
            name,
            shape: view.shape().to_vec(),
            data,
        });
    }
    Model::from_tensors(config.params, config.n_features, &tensors).map_err(|source| {
        ModelFileError::State {
            path: path.to_path_buf(),
            source,
        }
    })
}
