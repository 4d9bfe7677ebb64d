//! HBOS (Goldstein & Dengel 2012) as PyOD 1.0.0 computes it: per feature an equal-width
//! `numpy.histogram(density=True)` over `[min, max]`, a value's score is
//! `−Σ_features log2(density of its bin + alpha)`; bins are looked up with
//! `numpy.digitize(right=True)` (a value equal to an inner edge falls in the lower bin), and a
//! value outside the edges takes the outer bin within `tol` bin widths, else the lowest
//! density's score.

use ndarray::{Array1, Array2, ArrayView2};

use crate::vocab::tensor::{load_mat, NamedTensor, StateError};

/// PyOD's defaults.
pub const ALPHA: f64 = 0.1;
pub const TOL: f64 = 0.5;

/// A fitted HBOS: per feature `n_bins + 1` edges and `n_bins` values of `log2(density + alpha)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Hbos {
    /// `n_features × (n_bins + 1)`.
    pub edges: Array2<f64>,
    /// `n_features × n_bins`.
    pub log_density: Array2<f64>,
}

/// `numpy.histogram(v, bins=n_bins, density=True)`: edges and densities.
pub fn histogram(v: impl Iterator<Item = f64> + Clone, n_bins: usize) -> (Vec<f64>, Vec<f64>) {
    let (mut lo, mut hi) = v
        .clone()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        });
    if lo == hi {
        lo -= 0.5;
        hi += 0.5;
    }
    let step = (hi - lo) / n_bins as f64;
    let mut edges: Vec<f64> = (0..=n_bins).map(|i| lo + i as f64 * step).collect();
    edges[n_bins] = hi;
    let mut counts = vec![0usize; n_bins];
    let mut n = 0usize;
    for x in v {
        // numpy: [e_i, e_{i+1}) except the last bin, which includes its right edge.
        let mut b = (((x - lo) * (n_bins as f64 / (hi - lo))) as usize).min(n_bins - 1);
        if x < edges[b] {
            b -= 1;
        } else if b + 1 < n_bins && x >= edges[b + 1] {
            b += 1;
        }
        counts[b] += 1;
        n += 1;
    }
    let density = counts
        .iter()
        .zip(edges.windows(2))
        .map(|(&c, e)| c as f64 / n as f64 / (e[1] - e[0]))
        .collect();
    (edges, density)
}

impl Hbos {
    pub fn fit(x: ArrayView2<f32>, n_bins: usize) -> Hbos {
        let d = x.ncols();
        let mut edges = Array2::zeros((d, n_bins + 1));
        let mut log_density = Array2::zeros((d, n_bins));
        for j in 0..d {
            let col = x.column(j);
            let (e, dens) = histogram(col.iter().map(|&v| f64::from(v)), n_bins);
            for (b, v) in e.into_iter().enumerate() {
                edges[[j, b]] = v;
            }
            for (b, v) in dens.into_iter().enumerate() {
                log_density[[j, b]] = (v + ALPHA).log2();
            }
        }
        Hbos { edges, log_density }
    }

    /// `log2(density + alpha)` that value `v` of feature `j` gets.
    fn feature_score(&self, j: usize, v: f64) -> f64 {
        let e = self.edges.row(j);
        let e = e
            .as_slice()
            .expect("rows of a standard-layout array are contiguous");
        let logd = self.log_density.row(j);
        let n_bins = logd.len();
        // numpy.digitize(right=True): the number of edges strictly below v.
        let bin = e.partition_point(|&edge| edge < v);
        let lowest = || logd.iter().copied().fold(f64::INFINITY, f64::min);
        if bin == 0 {
            if e[0] - v <= (e[1] - e[0]) * TOL {
                logd[0]
            } else {
                lowest()
            }
        } else if bin == n_bins + 1 {
            if v - e[n_bins] <= (e[n_bins] - e[n_bins - 1]) * TOL {
                logd[n_bins - 1]
            } else {
                lowest()
            }
        } else {
            logd[bin - 1]
        }
    }

    /// Anomaly scores (higher = more anomalous).
    pub fn scores(&self, x: ArrayView2<f32>) -> Array1<f32> {
        Array1::from_shape_fn(x.nrows(), |i| {
            let s: f64 = (0..x.ncols())
                .map(|j| self.feature_score(j, f64::from(x[[i, j]])))
                .sum();
            (-s) as f32
        })
    }
}

impl Hbos {
    /// `{prefix}edges` and `{prefix}log_density` (f64 stored as f32).
    pub fn state(&self, prefix: &str, out: &mut Vec<NamedTensor>) {
        for (name, a) in [("edges", &self.edges), ("log_density", &self.log_density)] {
            out.push(NamedTensor::new(
                format!("{prefix}{name}"),
                a.shape().to_vec(),
                a.iter().map(|&v| v as f32).collect(),
            ));
        }
    }

    /// Rebuilds an HBOS of `n_bins` bins on `d` features from [`Hbos::state`].
    pub fn from_state(
        prefix: &str,
        d: usize,
        n_bins: usize,
        tensors: &[NamedTensor],
    ) -> Result<Hbos, StateError> {
        let edges = load_mat(tensors, &format!("{prefix}edges"), d, n_bins + 1)?;
        let log_density = load_mat(tensors, &format!("{prefix}log_density"), d, n_bins)?;
        Ok(Hbos {
            edges: edges.mapv(f64::from),
            log_density: log_density.mapv(f64::from),
        })
    }
}
