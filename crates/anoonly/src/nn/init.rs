//! Weight initialisers. Random streams come from the caller's [`crate::rng::Rng`], drawn in
//! row-major order of the torch layout `(out, in)`, so an initialisation is reproducible from
//! the seed alone (it cannot reproduce torch's or TensorFlow's own random streams; only the
//! distributions match).

use ndarray::{Array1, Array2};
use rand::Rng as _;
use rand_distr::{Distribution, StandardNormal};

use crate::rng::Rng;

/// Keras/TF truncated-normal correction: the standard deviation of a standard normal
/// truncated to ±2, so that `sd / TRUNC_SD` gives the requested variance after truncation
/// (TF's `VarianceScaling` divides by this constant).
pub const TRUNC_SD: f32 = 0.879_625_7; // 0.879_625_661_034_239_8 in TF

/// Matrix with entries `U(-bound, bound)`.
pub fn uniform2(rows: usize, cols: usize, bound: f32, rng: &mut Rng) -> Array2<f32> {
    Array2::from_shape_simple_fn((rows, cols), || uniform(bound, rng))
}

/// Vector with entries `U(-bound, bound)`.
pub fn uniform1(n: usize, bound: f32, rng: &mut Rng) -> Array1<f32> {
    Array1::from_shape_simple_fn(n, || uniform(bound, rng))
}

fn uniform(bound: f32, rng: &mut Rng) -> f32 {
    if bound > 0.0 {
        rng.gen_range(-bound..bound)
    } else {
        0.0
    }
}

/// One draw of `N(0, sd²)` truncated to ±2 sd by resampling (TF's `truncated_normal`).
pub fn truncated_normal(sd: f32, rng: &mut Rng) -> f32 {
    loop {
        let z: f32 = StandardNormal.sample(rng);
        if z.abs() <= 2.0 {
            return z * sd;
        }
    }
}

/// Matrix of truncated normals (see [`truncated_normal`]).
pub fn truncated_normal2(rows: usize, cols: usize, sd: f32, rng: &mut Rng) -> Array2<f32> {
    Array2::from_shape_simple_fn((rows, cols), || truncated_normal(sd, rng))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn uniform_in_bounds_and_deterministic() {
        let mut r = Rng::seed_from_u64(1);
        let a = uniform2(30, 40, 0.25, &mut r);
        assert!(a.iter().all(|v| v.abs() <= 0.25));
        let mut r = Rng::seed_from_u64(1);
        assert_eq!(a, uniform2(30, 40, 0.25, &mut r));
    }

    #[test]
    fn truncated_normal_has_truncated_spread() {
        let mut r = Rng::seed_from_u64(2);
        let sd = 0.5 / TRUNC_SD;
        let a = truncated_normal2(200, 100, sd, &mut r);
        assert!(a.iter().all(|v| v.abs() <= 2.0 * sd + 1e-6));
        let n = a.len() as f64;
        let var = a.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / n;
        // After truncation the standard deviation is 0.5 again.
        assert!((var.sqrt() - 0.5).abs() < 0.01, "sd {}", var.sqrt());
    }
}
