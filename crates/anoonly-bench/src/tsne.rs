//! A seeded t-SNE that gives the same embedding bit for bit on every run: bhtsne's
//! Barnes-Hut t-SNE (van der Maaten 2014) with the three things it leaves to chance fixed
//! here. Its random initial embedding (`rand::rng()`, seeded by the OS) is replaced by ours,
//! N(0, 1e-4) as its own, drawn from [`component_rng`]; its vantage-point tree (random
//! pivots, so tied neighbours come back in any order: rows duplicated by ADBench's
//! resampling tie) is replaced by our exact k-nearest neighbours, ties broken by row index;
//! and it runs inside a one-thread rayon pool, since its parallel sums are not associative.
//! Used for the paper's Fig. 10 ([`crate::fig10`]).

use ndarray::{Array2, ArrayView2};
use rand::Rng as _;
use serde::{Deserialize, Serialize};

use anoonly::rng::component_rng;

/// The t-SNE settings (bhtsne's and scikit-learn's usual ones).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TsneParams {
    /// Perplexity; lowered to `(n − 1) / 3` for fewer rows.
    pub perplexity: f64,
    pub epochs: usize,
    /// Barnes-Hut accuracy (0 would be exact).
    pub theta: f64,
}

impl Default for TsneParams {
    fn default() -> Self {
        TsneParams {
            perplexity: 30.0,
            epochs: 1000,
            theta: 0.5,
        }
    }
}

/// Each row's `k` nearest other rows by Euclidean distance (computed in f64), nearest
/// first, ties broken by the lower row index: a function of the data alone.
pub fn nearest_neighbours(x: ArrayView2<f32>, k: usize) -> Vec<Vec<bhtsne::Neighbor<f64>>> {
    let n = x.nrows();
    let rows: Vec<Vec<f64>> = x
        .rows()
        .into_iter()
        .map(|r| r.iter().map(|&v| f64::from(v)).collect())
        .collect();
    let mut dist = vec![0.0f64; n * n];
    for i in 0..n {
        for j in i + 1..n {
            let d: f64 = rows[i]
                .iter()
                .zip(&rows[j])
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>()
                .sqrt();
            dist[i * n + j] = d;
            dist[j * n + i] = d;
        }
    }
    (0..n)
        .map(|i| {
            let mut others: Vec<usize> = (0..n).filter(|&j| j != i).collect();
            others.sort_by(|&a, &b| dist[i * n + a].total_cmp(&dist[i * n + b]).then(a.cmp(&b)));
            others
                .into_iter()
                .take(k)
                .map(|j| bhtsne::Neighbor {
                    index: j,
                    distance: dist[i * n + j],
                })
                .collect()
        })
        .collect()
}

/// The 2-d t-SNE embedding of the rows of `x` (`n x 2`), the same bit for bit for the same
/// rows, `seed` and settings, whatever the machine's thread count. At least 4 rows.
pub fn embed(x: ArrayView2<f32>, seed: u64, params: &TsneParams) -> Result<Array2<f32>, String> {
    let n = x.nrows();
    if n < 4 {
        return Err(format!("t-SNE needs at least 4 rows, got {n}"));
    }
    if x.iter().any(|v| !v.is_finite()) {
        return Err("t-SNE: the features hold a non-finite value".into());
    }
    if !(params.perplexity > 0.0 && params.theta > 0.0 && params.epochs > 0) {
        return Err(format!("t-SNE settings out of range: {params:?}"));
    }
    let perplexity = params.perplexity.min((n - 1) as f64 / 3.0);
    let k = ((3.0 * perplexity) as usize).clamp(1, n - 1);
    let neighbours = nearest_neighbours(x, k);
    // bhtsne's own random start, N(0, 1e-4), from our seeded stream (Box-Muller).
    let mut rng = component_rng(seed, "tsne");
    let init: Vec<f64> = (0..2 * n)
        .map(|_| {
            let u1: f64 = 1.0 - rng.gen::<f64>();
            let u2: f64 = rng.gen::<f64>();
            1e-4 * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        })
        .collect();
    let ids: Vec<usize> = (0..n).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| format!("t-SNE thread pool: {e}"))?;
    let y = pool.install(|| {
        let mut t: bhtsne::tSNE<f64, usize, 2> = bhtsne::tSNE::new(&ids);
        t.perplexity(perplexity)
            .epochs(params.epochs)
            .initial_embedding(init)
            .barnes_hut_with_neighbors(params.theta, &neighbours);
        t.embedding()
    });
    let y: Vec<f32> = y.into_iter().map(|v| v as f32).collect();
    if y.iter().any(|v| !v.is_finite()) {
        return Err("t-SNE diverged (a non-finite coordinate)".into());
    }
    Array2::from_shape_vec((n, 2), y).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows in three clusters, with 40 rows duplicated (as ADBench's resampling of small
    /// files duplicates them): ties that bhtsne's own neighbour search orders at random.
    fn data() -> Array2<f32> {
        let mut rng = component_rng(5, "t");
        let mut x =
            Array2::from_shape_fn((240, 10), |(i, _)| (i % 3) as f32 * 3.0 + rng.gen::<f32>());
        for i in 0..40 {
            let row = x.row(i).to_owned();
            x.row_mut(200 + i).assign(&row);
        }
        x
    }

    #[test]
    fn the_embedding_is_bit_identical_run_to_run_with_duplicated_rows() {
        let x = data();
        let p = TsneParams {
            perplexity: 10.0,
            epochs: 300,
            theta: 0.5,
        };
        let a = embed(x.view(), 0, &p).unwrap();
        // Another run, from a pool of two threads (the caller's count must not matter).
        let b = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap()
            .install(|| embed(x.view(), 0, &p).unwrap());
        assert_eq!(a.dim(), (240, 2));
        let bits = |m: &Array2<f32>| m.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a), bits(&b));
        assert_ne!(
            bits(&a),
            bits(&embed(x.view(), 1, &p).unwrap()),
            "the seed matters"
        );
        // It separates the three clusters: each row's nearest embedded row is of its own
        // (a duplicated row is of its original's cluster).
        let cluster = |i: usize| if i >= 200 { (i - 200) % 3 } else { i % 3 };
        let mut same = 0;
        for i in 0..240 {
            let j = (0..240)
                .filter(|&j| j != i)
                .min_by(|&p, &q| {
                    let d = |j: usize| {
                        (a[[i, 0]] - a[[j, 0]]).powi(2) + (a[[i, 1]] - a[[j, 1]]).powi(2)
                    };
                    d(p).total_cmp(&d(q))
                })
                .unwrap();
            same += usize::from(cluster(i) == cluster(j));
        }
        assert!(same >= 235, "{same} of 240 rows next to their own cluster");
    }

    #[test]
    fn neighbours_break_ties_by_index_and_bad_input_is_refused() {
        let x = Array2::from_shape_vec((4, 1), vec![0.0f32, 1.0, 1.0, 1.0]).unwrap();
        let nb = nearest_neighbours(x.view(), 3);
        let idx: Vec<usize> = nb[0].iter().map(|n| n.index).collect();
        assert_eq!(idx, [1, 2, 3]);
        let idx: Vec<usize> = nb[2].iter().map(|n| n.index).collect();
        assert_eq!(idx, [1, 3, 0]);
        assert!(embed(x.slice(ndarray::s![..3, ..]), 0, &TsneParams::default()).is_err());
        let mut bad = data();
        bad[[3, 3]] = f32::NAN;
        assert!(embed(bad.view(), 0, &TsneParams::default()).is_err());
    }
}
