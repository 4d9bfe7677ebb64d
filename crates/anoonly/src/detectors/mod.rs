//! Unsupervised outlier detectors, written on ndarray for XGBOD's TOS features
//! ("transformed outlier scores", Zhao & Hryniewicki 2018) with PyOD 1.0.0 semantics
//! (higher = more anomalous): KNN and LOF ([`neighbors`]), HBOS ([`hbos`]), one-class SVM
//! ([`ocsvm`]) and isolation forest ([`iforest`]).
//!
//! [`Tos`] owns the whole bank of XGBOD's defaults (protocol.md 3.3): KNN(k, 'largest') and
//! LOF(k) for k ∈ {1,3,5,10,20,30,40,50} with k < n (interleaved, as PyOD lists them) and
//! OCSVM(ν) for ν ∈ {0.01, 0.1, …, 0.9, 0.99} on z-scored rows; HBOS(bins) for
//! {5,10,15,20,25,30,50} and IForest(trees) for {10,20,50,70,100,150,200} on raw rows.
//! Training features are each detector's training scores (KNN and LOF exclude the row
//! itself), new rows get its decision function.
//!
//! Cost: one GEMM of squared distances per block of rows feeds both the neighbour search of
//! the whole k grid and the RBF kernel of the ν grid; the kernel matrix (n² f32) is the one
//! quadratic allocation and lives only during the fit. Scoring new rows keeps the z-scored
//! training rows (neighbours and support vectors), per-k k-distances and densities, the dual
//! coefficients, the histograms and the trees.

pub mod hbos;
pub mod iforest;
pub mod neighbors;
pub mod ocsvm;

use ndarray::{s, Array1, Array2, ArrayView2, Axis};

use crate::nn::matmul::matmul_rowwise;
use crate::nn::{NamedTensor, StateError};
use crate::rng::component_rng;
use hbos::Hbos;
use iforest::IsolationForest;
use neighbors::Neighbors;

pub const K_GRID: [usize; 8] = [1, 3, 5, 10, 20, 30, 40, 50];
pub const HBOS_BINS: [usize; 7] = [5, 10, 15, 20, 25, 30, 50];
pub const NU_GRID: [f64; 11] = [0.01, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99];
pub const IFOREST_SIZES: [usize; 7] = [10, 20, 50, 70, 100, 150, 200];

/// z-scores with the training mean and population standard deviation (scikit-learn's
/// `StandardScaler`, which PyOD's `standardizer` uses; a constant column keeps scale 1).
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer {
    pub mean: Array1<f32>,
    pub scale: Array1<f32>,
}

impl Standardizer {
    pub fn fit(x: ArrayView2<f32>) -> Standardizer {
        let n = x.nrows() as f64;
        let mut mean = Array1::zeros(x.ncols());
        let mut scale = Array1::zeros(x.ncols());
        for (j, col) in x.axis_iter(Axis(1)).enumerate() {
            let m = col.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
            let var = col.iter().map(|&v| (f64::from(v) - m).powi(2)).sum::<f64>() / n;
            mean[j] = m as f32;
            scale[j] = if var > 0.0 { var.sqrt() as f32 } else { 1.0 };
        }
        Standardizer { mean, scale }
    }

    pub fn transform(&self, x: ArrayView2<f32>) -> Array2<f32> {
        (&x - &self.mean) / &self.scale
    }
}

/// The k values of the grid usable with `n` training rows (PyOD keeps k < n).
pub fn k_grid(n: usize) -> Vec<usize> {
    K_GRID.iter().copied().filter(|&k| k < n).collect()
}

/// Names of the TOS columns in order, for `n` training rows.
pub fn feature_names(n: usize) -> Vec<String> {
    let mut names = Vec::new();
    for k in k_grid(n) {
        names.push(format!("knn_{k}"));
        names.push(format!("lof_{k}"));
    }
    names.extend(HBOS_BINS.iter().map(|b| format!("hbos_{b}")));
    names.extend(NU_GRID.iter().map(|nu| format!("ocsvm_{nu}")));
    names.extend(IFOREST_SIZES.iter().map(|t| format!("iforest_{t}")));
    names
}

/// Seconds spent per detector family during a fit (reported by `anoonly fit`'s timing).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TosTiming {
    pub neighbors_and_kernel: f64,
    pub ocsvm: f64,
    pub hbos: f64,
    pub iforest: f64,
}

/// The fitted bank of XGBOD's 41 detectors.
#[derive(Clone, Debug, PartialEq)]
pub struct Tos {
    pub standardizer: Standardizer,
    /// z-scored training rows (neighbour search and kernel rows of new data).
    pub train_std: Array2<f32>,
    pub ks: Vec<usize>,
    /// Training rows' distance to their k-th neighbour, one column per k.
    pub k_dist: Array2<f32>,
    /// Training rows' local reachability density, one column per k.
    pub lrd: Array2<f64>,
    pub hbos: Vec<Hbos>,
    /// RBF γ (1 / n_features).
    pub gamma: f32,
    /// Dual coefficients, `n_train × |ν grid|`.
    pub alpha: Array2<f64>,
    pub rho: Array1<f64>,
    pub forest: IsolationForest,
}

impl Tos {
    /// Fits every detector on `x` and returns the bank with its training features
    /// (`n × n_features()`, the detectors' training scores).
    pub fn fit(x: ArrayView2<f32>, seed: u64) -> (Tos, Array2<f32>, TosTiming) {
        let mut timing = TosTiming::default();
        let n = x.nrows();
        let standardizer = Standardizer::fit(x);
        let z = standardizer.transform(x);
        let ks = k_grid(n);
        let k_max = ks.last().copied().unwrap_or(0);
        let gamma = 1.0 / x.ncols() as f32;

        let t0 = std::time::Instant::now();
        let mut kernel = Array2::<f32>::zeros((n, n));
        let nb = neighbors::search(z.view(), z.view(), k_max, true, &mut |start, d2| {
            let mut block = kernel.slice_mut(s![start..start + d2.nrows(), ..]);
            block.zip_mut_with(d2, |k, &v| *k = (-gamma * v).exp());
        });
        // The diagonal is exactly K(x, x) = 1 (GEMM cancellation leaves d² ≈ 0 only).
        kernel.diag_mut().fill(1.0);
        let mut k_dist = Array2::zeros((n, ks.len()));
        let mut lrd = Array2::zeros((n, ks.len()));
        let mut knn_lof = Vec::new();
        for (m, &k) in ks.iter().enumerate() {
            k_dist.column_mut(m).assign(&nb.dist.column(k - 1));
            let kd = k_dist.column(m).to_vec();
            let l = neighbors::lrd(&nb, k, &kd);
            let lof = neighbors::lof_scores(&nb, k, &l.to_vec(), &l);
            lrd.column_mut(m).assign(&l);
            knn_lof.push(neighbors::knn_scores(&nb, k));
            knn_lof.push(lof);
        }
        timing.neighbors_and_kernel = t0.elapsed().as_secs_f64();

        let t0 = std::time::Instant::now();
        let mut alpha = Array2::zeros((n, NU_GRID.len()));
        let mut rho = Array1::zeros(NU_GRID.len());
        for (m, &nu) in NU_GRID.iter().enumerate() {
            let sol = ocsvm::solve(&kernel, nu);
            alpha.column_mut(m).assign(&sol.alpha);
            rho[m] = sol.rho;
        }
        // Training decision values from the same kernel rows, block by block.
        let mut ocsvm_train = Array2::zeros((n, NU_GRID.len()));
        for start in (0..n).step_by(neighbors::BLOCK) {
            let end = (start + neighbors::BLOCK).min(n);
            let k = kernel.slice(s![start..end, ..]).mapv(f64::from);
            let dec = matmul_rowwise(k.view(), alpha.view()) - &rho;
            ocsvm_train
                .slice_mut(s![start..end, ..])
                .assign(&dec.mapv(|v| (-v) as f32));
        }
        drop(kernel);
        timing.ocsvm = t0.elapsed().as_secs_f64();

        let t0 = std::time::Instant::now();
        let hbos: Vec<Hbos> = HBOS_BINS.iter().map(|&b| Hbos::fit(x, b)).collect();
        timing.hbos = t0.elapsed().as_secs_f64();
        let t0 = std::time::Instant::now();
        let forest = IsolationForest::fit(
            x,
            *IFOREST_SIZES.last().unwrap_or(&0),
            &mut component_rng(seed, "iforest"),
        );
        timing.iforest = t0.elapsed().as_secs_f64();

        let tos = Tos {
            standardizer,
            train_std: z,
            ks,
            k_dist,
            lrd,
            hbos,
            gamma,
            alpha,
            rho,
            forest,
        };
        let mut features = Array2::zeros((n, tos.n_features()));
        for (col, scores) in knn_lof.iter().enumerate() {
            features.column_mut(col).assign(scores);
        }
        tos.fill_raw(x, &mut features, knn_lof.len(), &ocsvm_train);
        (tos, features, timing)
    }

    /// Number of TOS columns.
    pub fn n_features(&self) -> usize {
        2 * self.ks.len() + HBOS_BINS.len() + NU_GRID.len() + IFOREST_SIZES.len()
    }

    /// OCSVM scores `−(Σ α K − ρ)` for a block of squared distances to the training rows.
    fn ocsvm_block(&self, d2: &Array2<f32>, out: &mut Array2<f32>, start: usize) {
        let k = d2.mapv(|v| f64::from((-self.gamma * v).exp()));
        let dec = matmul_rowwise(k.view(), self.alpha.view()) - &self.rho;
        out.slice_mut(s![start..start + d2.nrows(), ..])
            .assign(&dec.mapv(|v| (-v) as f32));
    }

    /// HBOS, OCSVM (given) and IForest columns from `col` on.
    fn fill_raw(
        &self,
        x: ArrayView2<f32>,
        out: &mut Array2<f32>,
        mut col: usize,
        ocsvm: &Array2<f32>,
    ) {
        for h in &self.hbos {
            out.column_mut(col).assign(&h.scores(x));
            col += 1;
        }
        out.slice_mut(s![.., col..col + NU_GRID.len()])
            .assign(ocsvm);
        col += NU_GRID.len();
        let forest = self.forest.scores(x, &IFOREST_SIZES);
        out.slice_mut(s![.., col..col + IFOREST_SIZES.len()])
            .assign(&forest);
    }

    /// TOS features of new rows (`decision_function` of every detector).
    pub fn features(&self, x: ArrayView2<f32>) -> Array2<f32> {
        let z = self.standardizer.transform(x);
        let mut out = Array2::zeros((x.nrows(), self.n_features()));
        let mut ocsvm = Array2::zeros((x.nrows(), NU_GRID.len()));
        let k_max = self.ks.last().copied().unwrap_or(0);
        let nb: Neighbors = neighbors::search(
            z.view(),
            self.train_std.view(),
            k_max,
            false,
            &mut |start, d2| {
                self.ocsvm_block(d2, &mut ocsvm, start);
            },
        );
        for (m, &k) in self.ks.iter().enumerate() {
            let kd = self.k_dist.column(m).to_vec();
            let train_lrd = self.lrd.column(m).to_vec();
            let l = neighbors::lrd(&nb, k, &kd);
            out.column_mut(2 * m).assign(&neighbors::knn_scores(&nb, k));
            out.column_mut(2 * m + 1)
                .assign(&neighbors::lof_scores(&nb, k, &train_lrd, &l));
        }
        self.fill_raw(x, &mut out, 2 * self.ks.len(), &ocsvm);
        out
    }

    /// The fitted state as named tensors (indices stored as exact f32 integers).
    pub fn state(&self, prefix: &str, out: &mut Vec<NamedTensor>) {
        let mut push = |name: &str, shape: Vec<usize>, data: Vec<f32>| {
            out.push(NamedTensor {
                name: format!("{prefix}{name}"),
                shape,
                data,
            })
        };
        let d = self.train_std.ncols();
        let n = self.train_std.nrows();
        push("mean", vec![d], self.standardizer.mean.to_vec());
        push("scale", vec![d], self.standardizer.scale.to_vec());
        push(
            "train_std",
            vec![n, d],
            self.train_std.iter().copied().collect(),
        );
        push(
            "ks",
            vec![self.ks.len()],
            self.ks.iter().map(|&k| k as f32).collect(),
        );
        push(
            "k_dist",
            vec![n, self.ks.len()],
            self.k_dist.iter().copied().collect(),
        );
        push(
            "lrd",
            vec![n, self.ks.len()],
            self.lrd.iter().map(|&v| v as f32).collect(),
        );
        for (h, bins) in self.hbos.iter().zip(HBOS_BINS) {
            push(
                &format!("hbos{bins}.edges"),
                vec![d, bins + 1],
                h.edges.iter().map(|&v| v as f32).collect(),
            );
            push(
                &format!("hbos{bins}.log_density"),
                vec![d, bins],
                h.log_density.iter().map(|&v| v as f32).collect(),
            );
        }
        push("gamma", vec![1], vec![self.gamma]);
        push(
            "alpha",
            vec![n, NU_GRID.len()],
            self.alpha.iter().map(|&v| v as f32).collect(),
        );
        push(
            "rho",
            vec![NU_GRID.len()],
            self.rho.iter().map(|&v| v as f32).collect(),
        );
        let nodes = &self.forest.nodes;
        let node_field =
            |f: &dyn Fn(&iforest::Node) -> f32| nodes.iter().map(f).collect::<Vec<f32>>();
        push(
            "iforest.feature",
            vec![nodes.len()],
            node_field(&|n| {
                if n.feature == iforest::LEAF {
                    -1.0
                } else {
                    n.feature as f32
                }
            }),
        );
        push(
            "iforest.threshold",
            vec![nodes.len()],
            node_field(&|n| n.threshold),
        );
        push(
            "iforest.left",
            vec![nodes.len()],
            node_field(&|n| n.left as f32),
        );
        push(
            "iforest.right",
            vec![nodes.len()],
            node_field(&|n| n.right as f32),
        );
        push("iforest.path", vec![nodes.len()], node_field(&|n| n.path));
        push(
            "iforest.roots",
            vec![self.forest.roots.len()],
            self.forest.roots.iter().map(|&r| r as f32).collect(),
        );
        push(
            "iforest.max_samples",
            vec![1],
            vec![self.forest.max_samples as f32],
        );
    }

    /// Rebuilds the bank from [`Tos::state`]'s tensors for rows of `d` features.
    pub fn from_state(prefix: &str, d: usize, tensors: &[NamedTensor]) -> Result<Tos, StateError> {
        let get = |name: &str| -> Result<&NamedTensor, StateError> {
            crate::nn::find_finite(tensors, &format!("{prefix}{name}"))
        };
        let shaped = |name: &str, shape: Vec<usize>| -> Result<Vec<f32>, StateError> {
            let t = get(name)?;
            if t.shape != shape {
                return Err(StateError::Shape {
                    name: format!("{prefix}{name}"),
                    expected: shape,
                    found: t.shape.clone(),
                });
            }
            Ok(t.data.clone())
        };
        let matrix = |name: &str, r: usize, c: usize| -> Result<Array2<f32>, StateError> {
            let data = shaped(name, vec![r, c])?;
            Ok(Array2::from_shape_vec((r, c), data).unwrap_or_else(|_| Array2::zeros((r, c))))
        };
        let to_index = |name: &str, v: f32, bound: usize| -> Result<usize, StateError> {
            if v >= 0.0 && v.fract() == 0.0 && (v as usize) < bound {
                Ok(v as usize)
            } else {
                Err(StateError::Shape {
                    name: format!("{prefix}{name}"),
                    expected: vec![bound],
                    found: vec![v as usize],
                })
            }
        };
        let n = get("train_std")?.shape.first().copied().unwrap_or(0);
        let train_std = matrix("train_std", n, d)?;
        let mean = Array1::from(shaped("mean", vec![d])?);
        let scale = Array1::from(shaped("scale", vec![d])?);
        let ks_t = get("ks")?;
        let ks = ks_t
            .data
            .iter()
            .map(|&v| to_index("ks", v, n.max(1)).map(|k| k.max(1)))
            .collect::<Result<Vec<_>, _>>()?;
        if ks != k_grid(n) {
            return Err(StateError::Shape {
                name: format!("{prefix}ks"),
                expected: k_grid(n),
                found: ks,
            });
        }
        let k_dist = matrix("k_dist", n, ks.len())?;
        let lrd = matrix("lrd", n, ks.len())?.mapv(f64::from);
        let mut hbos = Vec::new();
        for bins in HBOS_BINS {
            let edges = matrix(&format!("hbos{bins}.edges"), d, bins + 1)?.mapv(f64::from);
            let log_density = matrix(&format!("hbos{bins}.log_density"), d, bins)?.mapv(f64::from);
            hbos.push(Hbos { edges, log_density });
        }
        let gamma = shaped("gamma", vec![1])?[0];
        let alpha = matrix("alpha", n, NU_GRID.len())?.mapv(f64::from);
        let rho = Array1::from(shaped("rho", vec![NU_GRID.len()])?).mapv(f64::from);
        let m = get("iforest.feature")?.shape.first().copied().unwrap_or(0);
        let feature = shaped("iforest.feature", vec![m])?;
        let threshold = shaped("iforest.threshold", vec![m])?;
        let left = shaped("iforest.left", vec![m])?;
        let right = shaped("iforest.right", vec![m])?;
        let path = shaped("iforest.path", vec![m])?;
        let mut nodes = Vec::with_capacity(m);
        for i in 0..m {
            let leaf = feature[i] < 0.0;
            // Children come after their parent, so traversal always terminates.
            let child = |name: &str, v: f32| -> Result<u32, StateError> {
                let c = to_index(name, v, m)?;
                if !leaf && c <= i {
                    return Err(StateError::Shape {
                        name: format!("{prefix}{name}"),
                        expected: vec![i + 1],
                        found: vec![c],
                    });
                }
                Ok(c as u32)
            };
            nodes.push(iforest::Node {
                feature: if leaf {
                    iforest::LEAF
                } else {
                    to_index("iforest.feature", feature[i], d)? as u32
                },
                threshold: threshold[i],
                left: child("iforest.left", left[i])?,
                right: child("iforest.right", right[i])?,
                path: path[i],
            });
        }
        let roots_t = get("iforest.roots")?;
        let roots = roots_t
            .data
            .iter()
            .map(|&v| to_index("iforest.roots", v, m).map(|r| r as u32))
            .collect::<Result<Vec<_>, _>>()?;
        let n_trees = IFOREST_SIZES[IFOREST_SIZES.len() - 1];
        if roots.len() != n_trees {
            return Err(StateError::Shape {
                name: format!("{prefix}iforest.roots"),
                expected: vec![n_trees],
                found: vec![roots.len()],
            });
        }
        let max_samples = to_index(
            "iforest.max_samples",
            shaped("iforest.max_samples", vec![1])?[0],
            n.min(256) + 1,
        )?
        .max(1);
        Ok(Tos {
            standardizer: Standardizer { mean, scale },
            train_std,
            ks,
            k_dist,
            lrd,
            hbos,
            gamma,
            alpha,
            rho,
            forest: IsolationForest {
                nodes,
                roots,
                max_samples,
            },
        })
    }
}
