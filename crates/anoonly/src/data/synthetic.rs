//! Synthetic data for the demo and for tests, of two kinds.
//!
//! [`embedding_classes`] is the paper's setting (its CV and NLP files): features of a
//! pretrained network for a labelled data set with one class taken as normal and a few
//! percent of rows drawn from the other classes as anomalies; see its documentation.
//!
//! [`generate`]: normal rows from a Gaussian mixture, anomalies of
//! the four kinds ADBench studies (Han et al., *ADBench*, NeurIPS 2022, §3.2 "anomaly types"),
//! in equal parts. Each kind probes a different assumption a detector may make, so a method
//! that only catches one kind shows it on this data:
//!
//! - [`AnomalyKind::Local`]: drawn from the **same mixture with every covariance scaled by 5**.
//!   They sit near the normal clusters but in their thinner outskirts, so only a detector that
//!   models each cluster's local density finds them.
//! - [`AnomalyKind::Global`]: **uniform** per feature in `[min − 10 % range, max + 10 % range]`
//!   of the normals. Scattered over the whole bounding box, mostly far from every cluster: the
//!   easy case any reasonable detector should get.
//! - [`AnomalyKind::Clustered`]: the mixture with **means scaled by 5 and covariances scaled by
//!   0.1**: tight groups of anomalies away from the normals. Density-based detectors can miss
//!   them (the groups are locally dense); labeled anomalies help a lot here.
//! - [`AnomalyKind::Dependency`]: **each feature copied from a different random normal row**, so
//!   every marginal is exactly a normal one but the dependence between features is broken.
//!   Invisible to per-feature (marginal) checks; only a detector that models the joint
//!   structure finds them.
//!
//! The mixture: 3 components, weights uniform in `[0.5, 1.5]` (normalised), means `N(0, I)`,
//! each component `mean + A z` with `z ~ N(0, I)` and `A` a random `dim × dim` matrix with
//! `N(0, 1/dim)` entries (a random covariance `A Aᵀ`, variances about 1). Rows are shuffled.
//! Everything is drawn from `crate::rng::component_rng(seed, "synthetic")`, so a seed gives the
//! same data on every machine.

use super::Dataset;
use crate::rng::{component_rng, Rng};
use ndarray::{Array1, Array2};
use rand::seq::SliceRandom;
use rand::Rng as _;
use rand_distr::StandardNormal;

/// Number of mixture components of the normal data.
const N_COMPONENTS: usize = 3;
/// Covariance scale of local anomalies (ADBench's `alpha = 5`).
const LOCAL_COV_SCALE: f64 = 5.0;
/// Mean scale of clustered anomalies (ADBench's `alpha = 5`).
const CLUSTER_MEAN_SCALE: f64 = 5.0;
/// Covariance scale of clustered anomalies ("small covariance").
const CLUSTER_COV_SCALE: f64 = 0.1;
/// Margin of global anomalies beyond the normals' range, as a fraction of the range.
const GLOBAL_MARGIN: f64 = 0.1;

/// The four ADBench anomaly kinds; see the [module documentation](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AnomalyKind {
    Local,
    Global,
    Clustered,
    Dependency,
}

impl AnomalyKind {
    /// All kinds, in the order their shares are filled.
    pub const ALL: [AnomalyKind; 4] = [
        AnomalyKind::Local,
        AnomalyKind::Global,
        AnomalyKind::Clustered,
        AnomalyKind::Dependency,
    ];
}

/// Size and seed of a synthetic data set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntheticParams {
    /// Normal rows (at least 1 is generated).
    pub n_normal: usize,
    /// Anomalous rows, split equally over the four kinds (the first kinds get the remainder).
    pub n_anomaly: usize,
    /// Features per row (at least 1).
    pub dim: usize,
    pub seed: u64,
}

impl Default for SyntheticParams {
    /// The demo's size: 3000 normals, 150 anomalies, 32 features, seed 0.
    fn default() -> Self {
        Self {
            n_normal: 3000,
            n_anomaly: 150,
            dim: 32,
            seed: 0,
        }
    }
}

/// One mixture component: `mean + a · z`.
struct Component {
    mean: Vec<f64>,
    a: Vec<f64>, // dim × dim, row-major
}

impl Component {
    fn sample(&self, rng: &mut Rng, mean_scale: f64, cov_scale: f64, out: &mut [f64]) {
        let dim = self.mean.len();
        let z: Vec<f64> = (0..dim).map(|_| rng.sample(StandardNormal)).collect();
        let s = cov_scale.sqrt();
        for (i, o) in out.iter_mut().enumerate() {
            let row = &self.a[i * dim..(i + 1) * dim];
            let az: f64 = row.iter().zip(&z).map(|(a, z)| a * z).sum();
            *o = mean_scale * self.mean[i] + s * az;
        }
    }
}

fn pick(rng: &mut Rng, weights: &[f64]) -> usize {
    let mut u: f64 = rng.gen::<f64>() * weights.iter().sum::<f64>();
    for (k, w) in weights.iter().enumerate() {
        if u < *w {
            return k;
        }
        u -= w;
    }
    weights.len() - 1
}

/// Generates a data set (name `synthetic`) and the kind of each row (`None` for normals).
pub fn generate_with_kinds(p: &SyntheticParams) -> (Dataset, Vec<Option<AnomalyKind>>) {
    let dim = p.dim.max(1);
    let n_normal = p.n_normal.max(1);
    let mut rng = component_rng(p.seed, "synthetic");

    let comps: Vec<Component> = (0..N_COMPONENTS)
        .map(|_| Component {
            mean: (0..dim).map(|_| rng.sample(StandardNormal)).collect(),
            a: (0..dim * dim)
                .map(|_| rng.sample::<f64, _>(StandardNormal) / (dim as f64).sqrt())
                .collect(),
        })
        .collect();
    let weights: Vec<f64> = (0..N_COMPONENTS).map(|_| rng.gen_range(0.5..1.5)).collect();

    let mut rows: Vec<Vec<f64>> = Vec::with_capacity(n_normal + p.n_anomaly);
    let mut kinds: Vec<Option<AnomalyKind>> = Vec::with_capacity(n_normal + p.n_anomaly);
    for _ in 0..n_normal {
        let mut r = vec![0.0; dim];
        comps[pick(&mut rng, &weights)].sample(&mut rng, 1.0, 1.0, &mut r);
        rows.push(r);
        kinds.push(None);
    }
    let normals = rows.clone();
    let (lo, hi): (Vec<f64>, Vec<f64>) = (0..dim)
        .map(|j| {
            let (mn, mx) = normals
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), r| {
                    (a.min(r[j]), b.max(r[j]))
                });
            let m = GLOBAL_MARGIN * (mx - mn);
            (mn - m, mx + m)
        })
        .unzip();

    for (k, kind) in AnomalyKind::ALL.iter().enumerate() {
        let count = p.n_anomaly / 4 + usize::from(k < p.n_anomaly % 4);
        for _ in 0..count {
            let mut r = vec![0.0; dim];
            match kind {
                AnomalyKind::Local => {
                    comps[pick(&mut rng, &weights)].sample(&mut rng, 1.0, LOCAL_COV_SCALE, &mut r)
                }
                AnomalyKind::Global => {
                    for (j, v) in r.iter_mut().enumerate() {
                        *v = if hi[j] > lo[j] {
                            rng.gen_range(lo[j]..hi[j])
                        } else {
                            lo[j]
                        };
                    }
                }
                AnomalyKind::Clustered => comps[pick(&mut rng, &weights)].sample(
                    &mut rng,
                    CLUSTER_MEAN_SCALE,
                    CLUSTER_COV_SCALE,
                    &mut r,
                ),
                AnomalyKind::Dependency => {
                    for (j, v) in r.iter_mut().enumerate() {
                        *v = normals[rng.gen_range(0..n_normal)][j];
                    }
                }
            }
            rows.push(r);
            kinds.push(Some(*kind));
        }
    }

    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.shuffle(&mut rng);
    let n = rows.len();
    let mut x = Array2::<f32>::zeros((n, dim));
    let mut y = Array1::<u8>::zeros(n);
    let mut out_kinds = Vec::with_capacity(n);
    for (dst, &src) in order.iter().enumerate() {
        for (j, v) in rows[src].iter().enumerate() {
            x[[dst, j]] = *v as f32;
        }
        y[dst] = u8::from(kinds[src].is_some());
        out_kinds.push(kinds[src]);
    }
    let ds = Dataset {
        name: "synthetic".into(),
        x,
        y,
    };
    (ds, out_kinds)
}

/// Generates a data set named `synthetic`; see the [module documentation](self).
pub fn generate(p: &SyntheticParams) -> Dataset {
    generate_with_kinds(p).0
}

/// The demo data: [`SyntheticParams::default`] (3000 normals, 150 anomalies, 32 features)
/// with the given seed.
pub fn demo_dataset(seed: u64) -> Dataset {
    generate(&SyntheticParams {
        seed,
        ..SyntheticParams::default()
    })
}

/// Size and seed of [`embedding_classes`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbeddingParams {
    /// Classes of the underlying labelled data set; class 0 is normal.
    pub n_classes: usize,
    pub n_normal: usize,
    /// Rows drawn from the other classes (at least 2), in turn from classes 1, 2, ...
    pub n_anomaly: usize,
    /// Width of the embedding.
    pub dim: usize,
    pub seed: u64,
}

impl Default for EmbeddingParams {
    /// The demo's size: 10 classes, 1,900 normal rows and 100 anomalies (5%, as the
    /// paper's CIFAR10 files), 64 features, seed 0.
    fn default() -> Self {
        EmbeddingParams {
            n_classes: 10,
            n_normal: 1900,
            n_anomaly: 100,
            dim: 64,
            seed: 0,
        }
    }
}

/// Spread of the class means around the common mean, per feature: set so that the demo's
/// methods, as published, score about as on ADBench's CIFAR10 file (mean test AUCROC of
/// DeepSAD, PReNet and DevNet near 78 here, 77 there), i.e. a realistic overlap of the
/// classes; nothing was tuned on AnoOnly's numbers.
const CLASS_MEAN_SD: f64 = 0.25;
/// Rank and scale of the variation every class shares (pose, lighting, background).
const SHARED_RANK: usize = 8;
const SHARED_SCALE: f64 = 1.0;
/// Rank and scale of each class's own variation.
const CLASS_RANK: usize = 4;
const CLASS_SCALE: f64 = 0.6;
/// Sub-modes per class (breeds, viewpoints) and the spread of their centres.
const SUB_MODES: usize = 3;
const SUB_MODE_SD: f64 = 0.3;
/// Isotropic noise.
const NOISE_SD: f64 = 0.4;

/// The paper's kind of data: the embedding (`dim` features) of a labelled data set of
/// `n_classes` classes, class 0 normal and the anomalies drawn in turn from the others (a
/// one-class-normal split of CIFAR10 by a pretrained ResNet-18, as ADBench's CV files).
///
/// Each class is a mixture of three sub-modes around its mean, with its own
/// low-rank variation, plus a low-rank variation all classes share and isotropic noise,
/// then passed through a softplus (pooled ReLU features are non-negative). The class means
/// differ little against the shared variation, so the classes overlap: no single direction
/// separates normal from anomalous rows, anomalies of nine classes surround the normal
/// one, and a detector must learn which directions matter from the few labeled anomalies.
/// Name `embedding`; rows shuffled; everything drawn from
/// `component_rng(seed, "embedding")`.
pub fn embedding_classes(p: &EmbeddingParams) -> Dataset {
    let dim = p.dim.max(1);
    let n_classes = p.n_classes.max(2);
    let mut rng = component_rng(p.seed, "embedding");
    let normal = |rng: &mut Rng, sd: f64| -> f64 { sd * rng.sample::<f64, _>(StandardNormal) };
    let low_rank = |rng: &mut Rng, rank: usize, scale: f64| -> Vec<f64> {
        (0..dim * rank)
            .map(|_| scale * rng.sample::<f64, _>(StandardNormal) / (rank as f64).sqrt())
            .collect()
    };
    let shared = low_rank(&mut rng, SHARED_RANK, SHARED_SCALE);
    let centre: Vec<f64> = (0..dim).map(|_| normal(&mut rng, 1.0)).collect();
    struct Class {
        modes: Vec<Vec<f64>>,
        basis: Vec<f64>,
    }
    let classes: Vec<Class> = (0..n_classes)
        .map(|_| {
            let mean: Vec<f64> = centre
                .iter()
                .map(|c| c + normal(&mut rng, CLASS_MEAN_SD))
                .collect();
            let modes = (0..SUB_MODES)
                .map(|_| {
                    mean.iter()
                        .map(|m| m + normal(&mut rng, SUB_MODE_SD))
                        .collect()
                })
                .collect();
            Class {
                modes,
                basis: low_rank(&mut rng, CLASS_RANK, CLASS_SCALE),
            }
        })
        .collect();
    let row = |rng: &mut Rng, c: &Class| -> Vec<f64> {
        let mode = &c.modes[rng.gen_range(0..SUB_MODES)];
        let zs: Vec<f64> = (0..SHARED_RANK).map(|_| normal(rng, 1.0)).collect();
        let zc: Vec<f64> = (0..CLASS_RANK).map(|_| normal(rng, 1.0)).collect();
        (0..dim)
            .map(|j| {
                let s: f64 = (0..SHARED_RANK)
                    .map(|k| shared[j * SHARED_RANK + k] * zs[k])
                    .sum();
                let o: f64 = (0..CLASS_RANK)
                    .map(|k| c.basis[j * CLASS_RANK + k] * zc[k])
                    .sum();
                let v = mode[j] + s + o + normal(rng, NOISE_SD);
                // softplus
                v.max(0.0) + (-v.abs()).exp().ln_1p()
            })
            .collect()
    };
    let n_anomaly = p.n_anomaly.max(2);
    let mut rows: Vec<(Vec<f64>, u8)> = Vec::with_capacity(p.n_normal + n_anomaly);
    for _ in 0..p.n_normal.max(2) {
        rows.push((row(&mut rng, &classes[0]), 0));
    }
    for i in 0..n_anomaly {
        let c = 1 + i % (n_classes - 1);
        rows.push((row(&mut rng, &classes[c]), 1));
    }
    rows.shuffle(&mut rng);
    let mut x = Array2::<f32>::zeros((rows.len(), dim));
    let mut y = Array1::<u8>::zeros(rows.len());
    for (i, (r, label)) in rows.iter().enumerate() {
        for (j, v) in r.iter().enumerate() {
            x[[i, j]] = *v as f32;
        }
        y[i] = *label;
    }
    Dataset {
        name: "embedding".into(),
        x,
        y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_has_the_documented_size_and_is_valid() {
        let d = demo_dataset(0);
        assert_eq!(d.name, "synthetic");
        assert_eq!(
            (d.n_rows(), d.n_features(), d.n_anomalies()),
            (3150, 32, 150)
        );
        // Passes the same validation as loaded data.
        assert!(Dataset::new(d.name.clone(), d.x.clone(), d.y.clone()).is_ok());
    }

    /// The embedding data: its size, labels and non-negative features, seeded, and classes
    /// that overlap: many anomalies sit closer to the normal class's centre than a typical
    /// normal row, and yet they are, on the whole, farther.
    #[test]
    fn embedding_classes_overlap_as_documented() {
        let d = embedding_classes(&EmbeddingParams::default());
        assert_eq!(d.name, "embedding");
        assert_eq!(
            (d.n_rows(), d.n_features(), d.n_anomalies()),
            (2000, 64, 100)
        );
        assert!(d.x.iter().all(|&v| v > 0.0 && v.is_finite()));
        assert!(Dataset::new(d.name.clone(), d.x.clone(), d.y.clone()).is_ok());
        let again = embedding_classes(&EmbeddingParams::default());
        assert_eq!(d, again);
        let other = embedding_classes(&EmbeddingParams {
            seed: 1,
            ..EmbeddingParams::default()
        });
        assert_ne!(d.x, other.x);
        let normal: Vec<usize> = (0..d.n_rows()).filter(|&i| d.y[i] == 0).collect();
        let centre =
            d.x.select(ndarray::Axis(0), &normal)
                .mean_axis(ndarray::Axis(0))
                .unwrap();
        let dist = |i: usize| -> f32 {
            d.x.row(i)
                .iter()
                .zip(&centre)
                .map(|(a, c)| (a - c) * (a - c))
                .sum::<f32>()
                .sqrt()
        };
        let mut normal_d: Vec<f32> = normal.iter().map(|&i| dist(i)).collect();
        normal_d.sort_by(f32::total_cmp);
        let median = normal_d[normal_d.len() / 2];
        let anomaly_d: Vec<f32> = (0..d.n_rows()).filter(|&i| d.y[i] == 1).map(dist).collect();
        let closer = anomaly_d.iter().filter(|&&v| v < median).count();
        let mean_a = anomaly_d.iter().sum::<f32>() / anomaly_d.len() as f32;
        let mean_n = normal_d.iter().sum::<f32>() / normal_d.len() as f32;
        assert!(mean_a > mean_n, "{mean_a} {mean_n}");
        assert!(
            (10..50).contains(&closer),
            "{closer} of 100 anomalies within the median"
        );
    }

    #[test]
    fn deterministic_per_seed() {
        assert_eq!(demo_dataset(7), demo_dataset(7));
        assert_ne!(demo_dataset(7).x, demo_dataset(8).x);
    }

    #[test]
    fn kinds_in_equal_parts_and_labels_match() {
        let p = SyntheticParams {
            n_normal: 200,
            n_anomaly: 10,
            dim: 5,
            seed: 1,
        };
        let (d, kinds) = generate_with_kinds(&p);
        assert_eq!(d.n_rows(), 210);
        let count = |k| kinds.iter().filter(|x| **x == Some(k)).count();
        assert_eq!(
            AnomalyKind::ALL.map(count),
            [3, 3, 2, 2],
            "remainder to the first kinds"
        );
        for (y, k) in d.y.iter().zip(&kinds) {
            assert_eq!(*y == 1, k.is_some());
        }
    }

    fn rows_of(d: &Dataset, kinds: &[Option<AnomalyKind>], k: Option<AnomalyKind>) -> Vec<usize> {
        (0..d.n_rows()).filter(|i| kinds[*i] == k).collect()
    }

    #[test]
    fn global_within_extended_range_and_dependency_copies_normal_marginals() {
        let (d, kinds) = generate_with_kinds(&SyntheticParams::default());
        let normals = rows_of(&d, &kinds, None);
        for j in 0..d.n_features() {
            let col: Vec<f32> = normals.iter().map(|i| d.x[[*i, j]]).collect();
            let mn = col.iter().cloned().fold(f32::INFINITY, f32::min);
            let mx = col.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let m = 0.1 * (mx - mn) + 1e-4;
            for i in rows_of(&d, &kinds, Some(AnomalyKind::Global)) {
                assert!((mn - m..=mx + m).contains(&d.x[[i, j]]));
            }
            for i in rows_of(&d, &kinds, Some(AnomalyKind::Dependency)) {
                assert!(
                    col.contains(&d.x[[i, j]]),
                    "dependency value copied from a normal"
                );
            }
        }
    }

    #[test]
    fn clustered_far_and_local_wider_than_normals() {
        let (d, kinds) = generate_with_kinds(&SyntheticParams::default());
        let mean_sq_norm = |k| {
            let r = rows_of(&d, &kinds, k);
            r.iter()
                .map(|i| {
                    d.x.row(*i)
                        .iter()
                        .map(|v| f64::from(*v).powi(2))
                        .sum::<f64>()
                })
                .sum::<f64>()
                / r.len() as f64
        };
        let normal = mean_sq_norm(None);
        assert!(mean_sq_norm(Some(AnomalyKind::Clustered)) > 5.0 * normal);
        assert!(mean_sq_norm(Some(AnomalyKind::Local)) > 1.5 * normal);
    }
}
