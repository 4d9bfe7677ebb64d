//! Named tensors: how every fitted state (layers, DeepSAD's centre, PReNet's reference
//! pools, LeSiNN's subsamples, the detector bank, the trees, training scores) is written to
//! and read back from model files, and the one set of checked readers they all use. A
//! reader refuses a tensor that is missing, of the wrong shape, shorter than its shape says
//! or non-finite with a [`StateError`] naming it, so a forged or damaged model file is an
//! error, never a panic or a silent NaN.

use ndarray::{Array1, Array2};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

/// A named tensor of a fitted state (parameters, buffers such as running statistics,
/// reference rows), used for saving and loading models. Row-major, f32.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl NamedTensor {
    pub fn new(name: impl Into<String>, shape: Vec<usize>, data: Vec<f32>) -> Self {
        NamedTensor {
            name: name.into(),
            shape,
            data,
        }
    }
}

/// Error raised when loading a state that does not fit the layer, method or detector.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("missing tensor `{0}`")]
    Missing(String),
    #[error("tensor `{name}` has shape {found:?}, expected {expected:?}")]
    Shape {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("tensor `{0}` contains a non-finite value")]
    NonFinite(String),
    #[error("tensor `{name}`: {reason}")]
    Value { name: String, reason: String },
}

/// A vector as a named tensor.
pub fn vec_tensor(name: impl Into<String>, v: &Array1<f32>) -> NamedTensor {
    NamedTensor::new(name, vec![v.len()], v.iter().copied().collect())
}

/// A matrix as a named tensor (row-major whatever the memory order).
pub fn mat_tensor(name: impl Into<String>, m: &Array2<f32>) -> NamedTensor {
    NamedTensor::new(
        name,
        vec![m.nrows(), m.ncols()],
        m.iter().copied().collect(),
    )
}

/// Finds `name` in `tensors` (first match).
pub fn find_tensor<'a>(
    tensors: &'a [NamedTensor],
    name: &str,
) -> Result<&'a NamedTensor, StateError> {
    tensors
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| StateError::Missing(name.to_string()))
}

/// Finds `name` and checks that its data fills its declared shape and is finite; the caller
/// checks the shape itself (for states whose shapes are only known from their own tensors).
pub fn find_finite<'a>(
    tensors: &'a [NamedTensor],
    name: &str,
) -> Result<&'a NamedTensor, StateError> {
    let t = find_tensor(tensors, name)?;
    if t.data.len() != t.shape.iter().product::<usize>() {
        return Err(StateError::Shape {
            name: t.name.clone(),
            expected: vec![t.data.len()],
            found: t.shape.clone(),
        });
    }
    finite(t)?;
    Ok(t)
}

fn finite(t: &NamedTensor) -> Result<(), StateError> {
    if t.data.iter().any(|v| !v.is_finite()) {
        return Err(StateError::NonFinite(t.name.clone()));
    }
    Ok(())
}

/// The data of `name`, checked to have exactly `shape` and finite values. The length check
/// is separate from the shape check because a hand-made [`NamedTensor`] may carry a `data`
/// that does not match its `shape`.
pub fn load_exact<'a>(
    tensors: &'a [NamedTensor],
    name: &str,
    shape: &[usize],
) -> Result<&'a [f32], StateError> {
    let t = find_tensor(tensors, name)?;
    let n: usize = shape.iter().product();
    if t.shape != shape || t.data.len() != n {
        return Err(StateError::Shape {
            name: t.name.clone(),
            expected: shape.to_vec(),
            found: if t.shape == shape {
                vec![t.data.len()]
            } else {
                t.shape.clone()
            },
        });
    }
    finite(t)?;
    Ok(&t.data)
}

/// Reads a vector of length `n` named `name`.
pub fn load_vec(tensors: &[NamedTensor], name: &str, n: usize) -> Result<Array1<f32>, StateError> {
    Ok(Array1::from_vec(load_exact(tensors, name, &[n])?.to_vec()))
}

/// Reads a matrix of shape `(rows, cols)` named `name` (row-major, as torch stores it).
pub fn load_mat(
    tensors: &[NamedTensor],
    name: &str,
    rows: usize,
    cols: usize,
) -> Result<Array2<f32>, StateError> {
    let data = load_exact(tensors, name, &[rows, cols])?.to_vec();
    Array2::from_shape_vec((rows, cols), data).map_err(|_| StateError::Shape {
        name: name.to_string(),
        expected: vec![rows, cols],
        found: vec![],
    })
}

/// Reads a vector named `name` whose length only its own shape knows (training scores,
/// tree node fields).
pub fn load_vec_any(tensors: &[NamedTensor], name: &str) -> Result<Array1<f32>, StateError> {
    let t = find_tensor(tensors, name)?;
    if t.shape.len() != 1 || t.data.len() != t.shape[0] {
        return Err(StateError::Shape {
            name: name.to_string(),
            expected: vec![t.data.len()],
            found: t.shape.clone(),
        });
    }
    finite(t)?;
    Ok(Array1::from(t.data.clone()))
}

/// Reads a matrix named `name` of `cols` columns and at least one row, its row count taken
/// from its own shape (rows kept from the training data: reference pools, subsamples).
pub fn load_rows(
    tensors: &[NamedTensor],
    name: &str,
    cols: usize,
) -> Result<Array2<f32>, StateError> {
    let t = find_tensor(tensors, name)?;
    let rows = t.shape.first().copied().unwrap_or(0);
    if t.shape.len() != 2 || t.shape[1] != cols || rows == 0 {
        return Err(StateError::Shape {
            name: name.to_string(),
            expected: vec![rows.max(1), cols],
            found: t.shape.clone(),
        });
    }
    load_mat(tensors, name, rows, cols)
}

/// An index stored as an f32 (tree nodes, k values): a whole number in `0..bound`.
pub fn index_of(name: &str, v: f32, bound: usize) -> Result<usize, StateError> {
    if v >= 0.0 && v.fract() == 0.0 && (v as usize) < bound {
        Ok(v as usize)
    } else {
        Err(StateError::Shape {
            name: name.to_string(),
            expected: vec![bound],
            found: vec![v as usize],
        })
    }
}

/// A safetensors file (f32 tensors, the given metadata) as bytes, its JSON header's keys
/// sorted. `safetensors` writes the metadata from a `HashMap`, whose order changes from run
/// to run; sorted, the file is a pure function of its contents (model files compare with
/// `md5sum`). Each tensor is consumed as it is converted, so at most one extra copy of the
/// largest is alive at a time.
pub fn to_safetensors(
    tensors: Vec<NamedTensor>,
    meta: &[(&str, String)],
) -> Result<Vec<u8>, String> {
    let meta: std::collections::HashMap<String, String> = meta
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
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
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let data = safetensors::serialize(views, &Some(meta)).map_err(|e| e.to_string())?;
    drop(bytes);
    canonical_header(data)
}

/// Rewrites a serialized safetensors file with its JSON header's keys sorted. Data offsets
/// are relative to the end of the header, so only the header is rewritten.
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

/// The tensors of a parsed safetensors file, in its order; any dtype but f32 is refused,
/// naming the tensor.
pub fn tensors_of(views: Vec<(String, TensorView<'_>)>) -> Result<Vec<NamedTensor>, String> {
    let mut tensors = Vec::with_capacity(views.len());
    for (name, view) in views {
        if view.dtype() != Dtype::F32 {
            return Err(format!(
                "tensor `{name}` has dtype {:?}, expected F32",
                view.dtype()
            ));
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
    Ok(tensors)
}

/// A safetensors file's f32 tensors and its metadata (empty without any): what
/// [`to_safetensors`] wrote. Truncated or malformed bytes are an error.
pub fn from_safetensors(
    bytes: &[u8],
) -> Result<(Vec<NamedTensor>, std::collections::HashMap<String, String>), String> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| format!("not a valid safetensors file: {e:?}"))?;
    let (_, meta) = SafeTensors::read_metadata(bytes)
        .map_err(|e| format!("not a valid safetensors file: {e:?}"))?;
    let meta = meta.metadata().clone().unwrap_or_default();
    Ok((tensors_of(st.tensors())?, meta))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn readers_refuse_wrong_shapes_short_data_and_non_finite_values() {
        let m = array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]];
        let t = vec![
            mat_tensor("m", &m),
            vec_tensor("v", &array![1.0f32, 2.0]),
            NamedTensor::new("short", vec![3], vec![1.0]),
            NamedTensor::new("nan", vec![1], vec![f32::NAN]),
        ];
        assert_eq!(load_mat(&t, "m", 3, 2).unwrap(), m);
        assert_eq!(load_rows(&t, "m", 2).unwrap(), m);
        assert_eq!(load_vec_any(&t, "v").unwrap(), array![1.0f32, 2.0]);
        assert!(matches!(
            load_mat(&t, "m", 2, 3),
            Err(StateError::Shape { .. })
        ));
        assert!(matches!(
            load_rows(&t, "m", 3),
            Err(StateError::Shape { .. })
        ));
        assert!(matches!(
            load_vec(&t, "short", 3),
            Err(StateError::Shape { .. })
        ));
        assert!(matches!(
            load_vec_any(&t, "short"),
            Err(StateError::Shape { .. })
        ));
        assert!(matches!(
            find_finite(&t, "nan"),
            Err(StateError::NonFinite(_))
        ));
        assert!(matches!(load_vec(&t, "x", 1), Err(StateError::Missing(_))));
        assert_eq!(index_of("i", 2.0, 3).unwrap(), 2);
        for bad in [3.0, -1.0, 0.5] {
            assert!(index_of("i", bad, 3).is_err(), "{bad}");
        }
    }
}
