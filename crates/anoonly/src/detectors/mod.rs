//! Unsupervised outlier detectors, written on ndarray for XGBOD's TOS features
//! ("transformed outlier scores", Zhao & Hryniewicki 2018) with PyOD 1.0.0 semantics
//! (higher = more anomalous): KNN and LOF ([`neighbors`]), HBOS ([`hbos`]), one-class SVM
//! ([`ocsvm`]) and isolation forest ([`iforest`]).
//!
//! [`Tos`] owns the whole bank of XGBOD's defaults (docs/protocol.md 3.3): KNN(k, 'largest') and
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
use crate::rng::component_rng;
use crate::vocab::tensor::{
    find_finite, index_of, load_exact, load_mat, load_rows, load_vec, mat_tensor, vec_tensor,
    NamedTensor, StateError,
};
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

    /// `{prefix}mean` and `{prefix}scale`.
    pub fn state(&self, prefix: &str, out: &mut Vec<NamedTensor>) {
        out.push(vec_tensor(format!("{prefix}mean"), &self.mean));
        out.push(vec_tensor(format!("{prefix}scale"), &self.scale));
    }

    /// Rebuilds a standardizer of `d` features from [`Standardizer::state`].
    pub fn from_state(prefix: &str, d: usize, tensors: &[NamedTensor]) -> Result<Self, StateError> {
        Ok(Standardizer {
            mean: load_vec(tensors, &format!("{prefix}mean"), d)?,
            scale: load_vec(tensors, &format!("{prefix}scale"), d)?,
        })
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

    /// The fitted state as named tensors, detector by detector (indices stored as exact
    /// f32 integers).
    pub fn state(&self, prefix: &str, out: &mut Vec<NamedTensor>) {
        self.standardizer.state(prefix, out);
        self.neighbor_state(prefix, out);
        for (h, bins) in self.hbos.iter().zip(HBOS_BINS) {
            h.state(&format!("{prefix}hbos{bins}."), out);
        }
        self.ocsvm_state(prefix, out);
        self.forest.state(&format!("{prefix}iforest."), out);
    }

    /// KNN and LOF: the z-scored training rows (shared with the OCSVM kernel), the k grid,
    /// and per k the training rows' k-distances and densities.
    fn neighbor_state(&self, prefix: &str, out: &mut Vec<NamedTensor>) {
        let n = self.train_std.nrows();
        out.push(mat_tensor(format!("{prefix}train_std"), &self.train_std));
        out.push(NamedTensor::new(
            format!("{prefix}ks"),
            vec![self.ks.len()],
            self.ks.iter().map(|&k| k as f32).collect(),
        ));
        out.push(mat_tensor(format!("{prefix}k_dist"), &self.k_dist));
        out.push(NamedTensor::new(
            format!("{prefix}lrd"),
            vec![n, self.ks.len()],
            self.lrd.iter().map(|&v| v as f32).collect(),
        ));
    }

    /// The OCSVM grid: the kernel's γ, the dual coefficients and offsets per ν.
    fn ocsvm_state(&self, prefix: &str, out: &mut Vec<NamedTensor>) {
        out.push(NamedTensor::new(
            format!("{prefix}gamma"),
            vec![1],
            vec![self.gamma],
        ));
        out.push(NamedTensor::new(
            format!("{prefix}alpha"),
            vec![self.alpha.nrows(), NU_GRID.len()],
            self.alpha.iter().map(|&v| v as f32).collect(),
        ));
        out.push(NamedTensor::new(
            format!("{prefix}rho"),
            vec![NU_GRID.len()],
            self.rho.iter().map(|&v| v as f32).collect(),
        ));
    }

    /// Rebuilds the bank from [`Tos::state`]'s tensors for rows of `d` features, detector
    /// by detector.
    pub fn from_state(prefix: &str, d: usize, tensors: &[NamedTensor]) -> Result<Tos, StateError> {
        let name = |n: &str| format!("{prefix}{n}");
        let standardizer = Standardizer::from_state(prefix, d, tensors)?;
        let train_std = load_rows(tensors, &name("train_std"), d)?;
        let n = train_std.nrows();
        let ks = find_finite(tensors, &name("ks"))?
            .data
            .iter()
            .map(|&v| index_of(&name("ks"), v, n.max(1)).map(|k| k.max(1)))
            .collect::<Result<Vec<_>, _>>()?;
        if ks != k_grid(n) {
            return Err(StateError::Shape {
                name: name("ks"),
                expected: k_grid(n),
                found: ks,
            });
        }
        let k_dist = load_mat(tensors, &name("k_dist"), n, ks.len())?;
        let lrd = load_mat(tensors, &name("lrd"), n, ks.len())?.mapv(f64::from);
        let hbos = HBOS_BINS
            .iter()
            .map(|&bins| Hbos::from_state(&format!("{prefix}hbos{bins}."), d, bins, tensors))
            .collect::<Result<Vec<_>, _>>()?;
        let gamma = load_exact(tensors, &name("gamma"), &[1])?[0];
        let alpha = load_mat(tensors, &name("alpha"), n, NU_GRID.len())?.mapv(f64::from);
        let rho = load_vec(tensors, &name("rho"), NU_GRID.len())?.mapv(f64::from);
        let forest = IsolationForest::from_state(
            &format!("{prefix}iforest."),
            d,
            n,
            IFOREST_SIZES[IFOREST_SIZES.len() - 1],
            tensors,
        )?;
        Ok(Tos {
            standardizer,
            train_std,
            ks,
            k_dist,
            lrd,
            hbos,
            gamma,
            alpha,
            rho,
            forest,
        })
    }
}
