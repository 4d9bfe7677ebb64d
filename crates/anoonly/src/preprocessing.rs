//! Feature scaling owned by a model: the `preprocessing` option (PyOD's name) of a fit. A
//! [`Scaler`] is fitted on the fit's training rows, applied to them before training and to
//! every row the model scores afterwards, and saved in the model file, so `anoonly score`
//! and Python's `decision_function` on raw features give the scores of the fit.
//!
//! The methods follow their authors' code, which trains on ADBench's features, min-max
//! scaled by the protocol's split ([`crate::protocol::MinMax`]); PyOD's and DeepOD's deep
//! detectors standardise raw features inside `fit`. [`Preprocessing::Auto`] serves both
//! without telling them apart: it maps every column onto `[0, 1]` by
//! `(x - lo) / (hi - lo)` with `lo = min(0, column min)` and `hi = max(1, column max)` over
//! the training rows. A raw column that spans both sides of `[0, 1]` is min-max scaled; a
//! column already inside `[0, 1]` (every column of [`crate::protocol::split`]'s output, and
//! so of `anoonly eval`'s and Python's `anoonly.split`'s) gets `lo = +0` and `hi - lo = 1`,
//! and `(x - 0) / 1` is `x` in IEEE arithmetic for every finite `x` (signed zeros
//! included), so its values reach the network bit for bit unchanged. A refitted
//! [`Preprocessing::Minmax`] would not be the identity there: the clean setting drops the
//! unlabeled train anomalies after the split's scaler was fitted on all train rows, so a
//! column's training maximum is often below 1 (the shared-data test counts how often).

use std::fmt;
use std::str::FromStr;

use ndarray::{Array1, Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::protocol::affine_inplace;
use crate::vocab::tensor::{load_vec, vec_tensor, NamedTensor, StateError};

/// Which scaling a fit learns from its training rows (`--preprocessing`, Python's
/// `preprocessing=`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preprocessing {
    /// The rows as given (the library's and the command's default: ADBench's data comes
    /// scaled by the split).
    #[default]
    None,
    /// Onto `[0, 1]` over the range spanned by the training values and `[0, 1]`: min-max
    /// for raw columns, the identity (bit for bit) for columns already in `[0, 1]`. Python's
    /// default.
    Auto,
    /// `(x - min) / (max - min)` over the training rows (scikit-learn's `MinMaxScaler`; a
    /// constant column is shifted to 0).
    Minmax,
    /// `(x - mean) / std` over the training rows (scikit-learn's `StandardScaler`,
    /// population standard deviation; a constant column is centred). PyOD's
    /// `preprocessing=True`.
    Standard,
}

impl Preprocessing {
    /// Every value, in declaration order.
    pub const ALL: &'static [Preprocessing] = &[
        Preprocessing::None,
        Preprocessing::Auto,
        Preprocessing::Minmax,
        Preprocessing::Standard,
    ];

    /// The name on the command line, in model files and in Python.
    pub fn name(self) -> &'static str {
        match self {
            Preprocessing::None => "none",
            Preprocessing::Auto => "auto",
            Preprocessing::Minmax => "minmax",
            Preprocessing::Standard => "standard",
        }
    }

    /// Whether no scaling is learnt (skipped when serialising fit parameters, so the
    /// configurations of fits without preprocessing read as before it existed).
    pub fn is_none(&self) -> bool {
        *self == Preprocessing::None
    }
}

impl fmt::Display for Preprocessing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Preprocessing {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Preprocessing::ALL
            .iter()
            .copied()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<&str> = Preprocessing::ALL.iter().map(|p| p.name()).collect();
                format!("unknown preprocessing `{s}` (known: {})", names.join(", "))
            })
    }
}

/// A fitted scaling: each column `j` maps to `(x - offset[j]) / scale[j]`, computed in f64
/// and stored as f32 (the arithmetic of the split's [`crate::protocol::MinMax`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Scaler {
    pub kind: Preprocessing,
    pub offset: Array1<f32>,
    pub scale: Array1<f32>,
}

/// A scale that divides safely: positive and finite, else 1 (a constant column), or
/// f32's largest value when the range overflows f32.
fn usable_scale(s: f64) -> f32 {
    let s32 = s as f32;
    if s32.is_infinite() {
        f32::MAX
    } else if s32 > 0.0 {
        s32
    } else {
        1.0
    }
}

impl Scaler {
    /// Fits `kind` on the rows of `x` (finite, at least one row); `None` for
    /// [`Preprocessing::None`].
    pub fn fit(kind: Preprocessing, x: ArrayView2<f32>) -> Option<Scaler> {
        let column_range = || {
            let lo = x.fold_axis(Axis(0), f32::INFINITY, |a, &v| a.min(v));
            let hi = x.fold_axis(Axis(0), f32::NEG_INFINITY, |a, &v| a.max(v));
            (lo, hi)
        };
        let (offset, scale) = match kind {
            Preprocessing::None => return None,
            Preprocessing::Minmax => {
                let (lo, hi) = column_range();
                let scale = ndarray::Zip::from(&lo)
                    .and(&hi)
                    .map_collect(|&l, &h| usable_scale(f64::from(h) - f64::from(l)));
                (lo, scale)
            }
            Preprocessing::Auto => {
                let (lo, hi) = column_range();
                // `+0.0` unless the column goes below 0 (a column whose minimum is -0.0
                // keeps lo = +0.0: -0.0 - (+0.0) is -0.0, whereas -0.0 - (-0.0) is +0.0).
                let lo = lo.mapv(|l| if l < 0.0 { l } else { 0.0 });
                let hi = hi.mapv(|h| if h > 1.0 { h } else { 1.0 });
                let scale = ndarray::Zip::from(&lo)
                    .and(&hi)
                    .map_collect(|&l, &h| usable_scale(f64::from(h) - f64::from(l)));
                (lo, scale)
            }
            Preprocessing::Standard => {
                let n = x.nrows().max(1) as f64;
                let mean = x.map(|&v| f64::from(v)).sum_axis(Axis(0)) / n;
                let mut var = Array1::<f64>::zeros(x.ncols());
                for row in x.rows() {
                    for ((s, &v), &m) in var.iter_mut().zip(row.iter()).zip(mean.iter()) {
                        let d = f64::from(v) - m;
                        *s += d * d;
                    }
                }
                let scale = var.mapv(|s| usable_scale((s / n).sqrt()));
                (mean.mapv(|m| m as f32), scale)
            }
        };
        Some(Scaler {
            kind,
            offset,
            scale,
        })
    }

    /// Number of columns it was fitted on.
    pub fn n_features(&self) -> usize {
        self.offset.len()
    }

    /// A scaled copy of `x` (as many columns as the scaler).
    pub fn transform(&self, x: ArrayView2<f32>) -> Array2<f32> {
        let mut out = x.to_owned();
        affine_inplace(&mut out, &self.offset, &self.scale);
        out
    }

    /// The tensors of a model file.
    pub(crate) fn state(&self, out: &mut Vec<NamedTensor>) {
        out.push(vec_tensor("preprocessing.offset", &self.offset));
        out.push(vec_tensor("preprocessing.scale", &self.scale));
    }

    /// Reads [`Scaler::state`]'s tensors for `n_features` columns; every scale must be
    /// positive (the reader refuses a file that would divide by zero).
    pub(crate) fn from_state(
        kind: Preprocessing,
        n_features: usize,
        tensors: &[NamedTensor],
    ) -> Result<Option<Scaler>, StateError> {
        if kind.is_none() {
            return Ok(None);
        }
        let offset = load_vec(tensors, "preprocessing.offset", n_features)?;
        let scale = load_vec(tensors, "preprocessing.scale", n_features)?;
        if let Some(j) = scale.iter().position(|&s| s.is_nan() || s <= 0.0) {
            return Err(StateError::Value {
                name: "preprocessing.scale".to_string(),
                reason: format!("column {j} has scale {}, not a positive number", scale[j]),
            });
        }
        Ok(Some(Scaler {
            kind,
            offset,
            scale,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::bits;
    use ndarray::array;

    #[test]
    fn auto_is_the_identity_on_unit_columns_bit_for_bit() {
        // Every column inside [0, 1], with signed zeros, subnormals and the largest f32
        // below 1, none of them reaching both ends.
        let x = array![
            [0.0f32, 0.25, -0.0, 1e-40, 0.99999994],
            [0.5, 0.75, 0.0, 0.3, 0.5],
            [0.1, 0.5, -0.0, 1.0, 0.0]
        ];
        let s = Scaler::fit(Preprocessing::Auto, x.view()).unwrap();
        assert_eq!(bits(&s.transform(x.view())), bits(&x));
        // Test rows outside [0, 1] go through the same identity.
        let t = array![[-3.5f32, 7.0, 1e30, -1e-38, 2.0]];
        assert_eq!(bits(&s.transform(t.view())), bits(&t));
    }

    #[test]
    fn auto_is_minmax_on_columns_spanning_both_sides_and_widens_the_others() {
        let x = array![[-2.0f32, 3.0, 0.5], [6.0, 11.0, -1.5]];
        let auto = Scaler::fit(Preprocessing::Auto, x.view()).unwrap();
        let minmax = Scaler::fit(Preprocessing::Minmax, x.view()).unwrap();
        // Column 0 spans [-2, 6]: min-max. Column 1 is in [3, 11]: lo = 0, hi = 11.
        // Column 2 in [-1.5, 0.5]: lo = -1.5, hi = 1.
        assert_eq!(auto.offset, array![-2.0f32, 0.0, -1.5]);
        assert_eq!(auto.scale, array![8.0f32, 11.0, 2.5]);
        assert_eq!(minmax.offset, array![-2.0f32, 3.0, -1.5]);
        assert_eq!(minmax.scale, array![8.0f32, 8.0, 2.0]);
        let t = auto.transform(x.view());
        assert!(t.iter().all(|&v| (0.0..=1.0).contains(&v)), "{t}");
    }

    #[test]
    fn standard_is_sklearns_standard_scaler() {
        let x = array![[1.0f32, 5.0], [3.0, 5.0], [5.0, 5.0]];
        let s = Scaler::fit(Preprocessing::Standard, x.view()).unwrap();
        // Population sd of 1, 3, 5 is sqrt(8/3); a constant column keeps scale 1.
        assert_eq!(s.offset, array![3.0f32, 5.0]);
        assert_eq!(s.scale, array![(8.0f64 / 3.0).sqrt() as f32, 1.0]);
        let t = s.transform(x.view());
        assert_eq!(t.column(1).to_vec(), vec![0.0f32; 3]);
        assert!((t[[0, 0]] + 1.2247449).abs() < 1e-6);
    }

    #[test]
    fn overflowing_ranges_stay_finite_scales() {
        let x = array![[-3e38f32], [3e38]];
        for kind in [
            Preprocessing::Auto,
            Preprocessing::Minmax,
            Preprocessing::Standard,
        ] {
            let s = Scaler::fit(kind, x.view()).unwrap();
            assert!(s.scale.iter().all(|v| v.is_finite() && *v > 0.0), "{kind}");
        }
    }

    #[test]
    fn names_round_trip() {
        for &p in Preprocessing::ALL {
            assert_eq!(p.name().parse::<Preprocessing>(), Ok(p));
            assert_eq!(serde_json::to_value(p).unwrap(), p.name());
        }
        let e = "zscore".parse::<Preprocessing>().unwrap_err();
        assert!(e.contains("known: none, auto, minmax, standard"), "{e}");
    }
}
