//! The members' data: the partition of the unlabeled rows and the weighted sampler each
//! member draws its batches from.

use rand::Rng as _;

use crate::rng::Rng;

/// The unlabeled rows of member `j` of `k`: consecutive parts of `unlabeled` in the
/// training set's order (not shuffled, as the authors' `train`), `len / k` rows each, the
/// last member taking the remainder. Needs `k <= unlabeled.len()`.
pub fn partition(unlabeled: &[u32], k: usize, j: usize) -> &[u32] {
    let part = unlabeled.len() / k;
    let end = if j + 1 == k {
        unlabeled.len()
    } else {
        (j + 1) * part
    };
    &unlabeled[j * part..end]
}

/// A member's sampler: the authors' `WeightedRandomSampler(replacement=True)` over the
/// member's unlabeled rows (weight `2/N_u` each, `N_u` counted over the **whole** training
/// set) and all labeled anomalies (weight `1/N_a` each), `draws` draws per pass (the whole
/// training set's row count). All rows of a class weigh the same, so a draw is the class
/// (anomaly with probability `1 / (1 + 2 n_u/N_u)`, about 0.71 for 5 members) then a
/// uniform row of it: the same distribution.
#[derive(Clone, Debug)]
pub struct MemberSampler<'a> {
    pub unlabeled: &'a [u32],
    pub anomalies: &'a [u32],
    /// Probability that a draw is a labeled anomaly.
    pub p_anomaly: f64,
    /// Draws per pass.
    pub draws: usize,
}

impl<'a> MemberSampler<'a> {
    /// The sampler of a member holding `unlabeled` out of `n_unlabeled` unlabeled training
    /// rows, with `anomalies` (every labeled anomaly) and `draws` draws per pass.
    pub fn new(
        unlabeled: &'a [u32],
        anomalies: &'a [u32],
        n_unlabeled: usize,
        draws: usize,
    ) -> Self {
        let mass_u = if unlabeled.is_empty() {
            0.0
        } else {
            2.0 * unlabeled.len() as f64 / n_unlabeled as f64
        };
        let mass_a = if anomalies.is_empty() { 0.0 } else { 1.0 };
        MemberSampler {
            unlabeled,
            anomalies,
            p_anomaly: mass_a / (mass_a + mass_u),
            draws,
        }
    }

    /// One pass: `draws` training rows, with replacement.
    pub fn pass(&self, rng: &mut Rng) -> Vec<u32> {
        (0..self.draws)
            .map(|_| {
                let pool = if rng.gen::<f64>() < self.p_anomaly {
                    self.anomalies
                } else {
                    self.unlabeled
                };
                pool[rng.gen_range(0..pool.len())]
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::component_rng;

    #[test]
    fn partitions_cover_the_unlabeled_rows_in_order() {
        let u: Vec<u32> = (0..23).collect();
        let parts: Vec<&[u32]> = (0..5).map(|j| partition(&u, 5, j)).collect();
        assert_eq!(parts[0], &[0, 1, 2, 3]);
        assert_eq!(parts[3], &[12, 13, 14, 15]);
        assert_eq!(parts[4], &[16, 17, 18, 19, 20, 21, 22]);
        assert_eq!(parts.concat(), u);
    }

    #[test]
    fn one_class_only_draws_that_class() {
        let (u, a) = ([1u32, 2], [9u32]);
        let s = MemberSampler::new(&u, &[], 10, 50);
        assert_eq!(s.p_anomaly, 0.0);
        assert!(s.pass(&mut component_rng(0, "t")).iter().all(|r| *r != 9));
        let s = MemberSampler::new(&[], &a, 10, 50);
        assert_eq!(s.pass(&mut component_rng(0, "t")), vec![9; 50]);
    }
}
