//! Paired differences per (family, file, seed) and the report's family-averaged statistic,
//! with a seeded two-level bootstrap confidence interval for it.
//!
//! The statistic is protocol.md 1.4's averaging applied to differences: for each seed, the
//! plain mean over each family's files, then the plain mean over the families, then the mean
//! over the seeds. Since it is linear, on the cells both variants share it equals the
//! difference of the two variants' family means in the report.
//!
//! The bootstrap resamples both sources of variation the report averages over: the files
//! within each family (with replacement, the family keeps its size) and the seeds (with
//! replacement); one file draw per family is shared by all drawn seeds, since a file is the
//! same file under every seed. Resample `b` draws from its own ChaCha stream (`b`) of the
//! seeded generator, so the result is the same whatever the thread count of the rayon pool.

use std::collections::BTreeMap;

use rand::Rng as _;
use rayon::prelude::*;

use super::{check_cell, check_level, StatsError};
use anoonly::rng::component_rng;

/// The number of resamples reports use (the issue's 10,000).
pub const BOOTSTRAP_RESAMPLES: usize = 10_000;

/// Paired differences on a (family, file, seed) grid, families and files in name order,
/// seeds ascending; a missing cell is `None`.
#[derive(Clone, Debug, PartialEq)]
pub struct NestedSample {
    families: Vec<String>,
    /// `files[f]`: the names of family f's files.
    files: Vec<Vec<String>>,
    seeds: Vec<u64>,
    /// `values[f][i][s]`: file i of family f at seed index s.
    values: Vec<Vec<Vec<Option<f64>>>>,
}

/// A statistic with its percentile bootstrap interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BootstrapCi {
    /// The statistic on the data.
    pub estimate: f64,
    pub lo: f64,
    pub hi: f64,
    /// The coverage asked for, e.g. 0.95.
    pub level: f64,
    /// Resamples whose statistic was defined (all of them on a complete grid; a resample
    /// can only be undefined when cells are missing and no drawn file has a drawn seed).
    pub resamples: usize,
    pub seed: u64,
}

impl NestedSample {
    /// Builds the grid from `(family, file, seed, difference)` cells in any order. A file
    /// name identifies a file within its family. Errors name a duplicated or non-finite cell.
    ///
    /// ```
    /// use anoonly_bench::stats::NestedSample;
    /// let s = NestedSample::from_cells([
    ///     ("MVTec", "bottle", 0, 0.02), ("MVTec", "bottle", 1, 0.04),
    ///     ("MVTec", "cable", 0, -0.01), ("MVTec", "cable", 1, 0.01),
    ///     ("CIFAR10", "cifar_0", 0, 0.10), ("CIFAR10", "cifar_0", 1, 0.06),
    /// ]).unwrap();
    /// // Seed 0: (0.005 + 0.10) / 2; seed 1: (0.025 + 0.06) / 2; mean 0.0475.
    /// assert!((s.family_mean() - 0.0475).abs() < 1e-12);
    /// // Per file, seeds averaged first: CIFAR10 first (name order).
    /// let m = s.per_file_means();
    /// assert!((m[0] - 0.08).abs() < 1e-12 && (m[1] - 0.03).abs() < 1e-12 && m[2].abs() < 1e-12);
    /// ```
    pub fn from_cells<'a>(
        cells: impl IntoIterator<Item = (&'a str, &'a str, u64, f64)>,
    ) -> Result<NestedSample, StatsError> {
        const WHAT: &str = "paired differences";
        let mut grid: BTreeMap<&str, BTreeMap<&str, BTreeMap<u64, f64>>> = BTreeMap::new();
        let mut seeds = std::collections::BTreeSet::new();
        for (family, file, seed, value) in cells {
            check_cell(WHAT, value, || {
                format!("family {family}, file {file}, seed {seed}")
            })?;
            let prev = grid
                .entry(family)
                .or_default()
                .entry(file)
                .or_default()
                .insert(seed, value);
            if prev.is_some() {
                return Err(StatsError::Invalid {
                    what: WHAT,
                    message: format!("family {family}, file {file}, seed {seed} given twice"),
                });
            }
            seeds.insert(seed);
        }
        if grid.is_empty() {
            return Err(StatsError::Empty { what: WHAT });
        }
        let seeds: Vec<u64> = seeds.into_iter().collect();
        let mut out = NestedSample {
            families: Vec::new(),
            files: Vec::new(),
            seeds: seeds.clone(),
            values: Vec::new(),
        };
        for (family, files) in grid {
            out.families.push(family.to_string());
            out.files
                .push(files.keys().map(|f| f.to_string()).collect());
            out.values.push(
                files
                    .values()
                    .map(|by_seed| seeds.iter().map(|s| by_seed.get(s).copied()).collect())
                    .collect(),
            );
        }
        Ok(out)
    }

    /// The paired differences `b - a` over the cells both give, matched on (family, file,
    /// seed); cells only one side has are left out (the report's "cells both variants
    /// share"). Errors as [`NestedSample::from_cells`], on either side.
    ///
    /// ```
    /// use anoonly_bench::stats::NestedSample;
    /// let base = [("CV", "cifar_0", 0, 0.70), ("CV", "cifar_0", 1, 0.72), ("CV", "svhn", 0, 0.60)];
    /// let anoonly = [("CV", "cifar_0", 0, 0.80), ("CV", "cifar_0", 1, 0.78)];
    /// let d = NestedSample::paired_difference(base, anoonly).unwrap();
    /// // svhn has no AnoOnly cell: only cifar_0's two seeds are compared.
    /// assert_eq!(d.files(), vec![("CV", "cifar_0")]);
    /// assert!((d.family_mean() - 0.08).abs() < 1e-12);
    /// ```
    pub fn paired_difference<'a>(
        a: impl IntoIterator<Item = (&'a str, &'a str, u64, f64)>,
        b: impl IntoIterator<Item = (&'a str, &'a str, u64, f64)>,
    ) -> Result<NestedSample, StatsError> {
        let side = |cells: Vec<(&'a str, &'a str, u64, f64)>| {
            // Validate duplicates and values with the same rules as from_cells.
            NestedSample::from_cells(cells.iter().copied())?;
            Ok::<_, StatsError>(
                cells
                    .into_iter()
                    .map(|(f, g, s, v)| ((f, g, s), v))
                    .collect::<BTreeMap<_, _>>(),
            )
        };
        let a = side(a.into_iter().collect())?;
        let b = side(b.into_iter().collect())?;
        NestedSample::from_cells(
            b.iter()
                .filter_map(|(k, vb)| a.get(k).map(|va| (k.0, k.1, k.2, vb - va))),
        )
    }

    pub fn families(&self) -> &[String] {
        &self.families
    }

    pub fn seeds(&self) -> &[u64] {
        &self.seeds
    }

    /// `(family, file)` of each entry of [`NestedSample::per_file_means`].
    pub fn files(&self) -> Vec<(&str, &str)> {
        self.families
            .iter()
            .zip(&self.files)
            .flat_map(|(fam, files)| files.iter().map(move |f| (fam.as_str(), f.as_str())))
            .collect()
    }

    /// Each file's mean over its seeds (the per-file differences the Wilcoxon test and the
    /// wins/ties/losses count take), families and files in name order.
    pub fn per_file_means(&self) -> Vec<f64> {
        self.values
            .iter()
            .flatten()
            .map(|by_seed| {
                let v: Vec<f64> = by_seed.iter().flatten().copied().collect();
                v.iter().sum::<f64>() / v.len() as f64
            })
            .collect()
    }

    /// The report's family-averaged statistic (module notes).
    pub fn family_mean(&self) -> f64 {
        let seeds: Vec<usize> = (0..self.seeds.len()).collect();
        let files: Vec<Vec<usize>> = self.values.iter().map(|f| (0..f.len()).collect()).collect();
        // Every seed comes from a cell, so the statistic on the data is defined.
        self.statistic(&seeds, &files).unwrap_or(f64::NAN)
    }

    /// The statistic with the seeds and each family's files given as (drawn) indices.
    fn statistic(&self, seeds: &[usize], files: &[Vec<usize>]) -> Option<f64> {
        let mut total = 0.0;
        let mut n_seeds = 0usize;
        for &s in seeds {
            let mut fam_total = 0.0;
            let mut n_fam = 0usize;
            for (fam, drawn) in self.values.iter().zip(files) {
                let (mut sum, mut n) = (0.0, 0usize);
                for &i in drawn {
                    if let Some(v) = fam[i][s] {
                        sum += v;
                        n += 1;
                    }
                }
                if n > 0 {
                    fam_total += sum / n as f64;
                    n_fam += 1;
                }
            }
            if n_fam > 0 {
                total += fam_total / n_fam as f64;
                n_seeds += 1;
            }
        }
        (n_seeds > 0).then(|| total / n_seeds as f64)
    }

    /// The statistic of resample `b`: seeds drawn first, then each family's files, from
    /// stream `b` of the generator of `seed`.
    fn resample(&self, seed: u64, b: usize) -> Option<f64> {
        let mut rng = component_rng(seed, "stats::bootstrap");
        rng.set_stream(b as u64);
        let n_seeds = self.seeds.len() as u32;
        let seeds: Vec<usize> = (0..n_seeds)
            .map(|_| rng.gen_range(0..n_seeds) as usize)
            .collect();
        let files: Vec<Vec<usize>> = self
            .values
            .iter()
            .map(|fam| {
                let n = fam.len() as u32;
                (0..n).map(|_| rng.gen_range(0..n) as usize).collect()
            })
            .collect();
        self.statistic(&seeds, &files)
    }

    /// The family-averaged statistic with its percentile bootstrap interval at `level`
    /// (e.g. 0.95: the 2.5% and 97.5% quantiles of the resampled statistics, interpolated
    /// linearly as numpy's default). Deterministic for a seed, whatever the thread count.
    ///
    /// ```
    /// use anoonly_bench::stats::NestedSample;
    /// // A constant difference resamples to itself: the interval is that point.
    /// let cells = (0..5).flat_map(|f| (0..3).map(move |s| ("fam", ["a", "b", "c", "d", "e"][f], s, 0.25)));
    /// let ci = NestedSample::from_cells(cells).unwrap().bootstrap(1000, 7, 0.95).unwrap();
    /// assert_eq!((ci.estimate, ci.lo, ci.hi, ci.resamples), (0.25, 0.25, 0.25, 1000));
    /// ```
    pub fn bootstrap(
        &self,
        resamples: usize,
        seed: u64,
        level: f64,
    ) -> Result<BootstrapCi, StatsError> {
        const WHAT: &str = "bootstrap";
        check_level(WHAT, level)?;
        if resamples == 0 {
            return Err(StatsError::Invalid {
                what: WHAT,
                message: "0 resamples".into(),
            });
        }
        let mut stats: Vec<f64> = (0..resamples)
            .into_par_iter()
            .map(|b| self.resample(seed, b))
            .collect::<Vec<Option<f64>>>()
            .into_iter()
            .flatten()
            .collect();
        if stats.is_empty() {
            return Err(StatsError::Invalid {
                what: WHAT,
                message: "no resample has a defined statistic".into(),
            });
        }
        stats.sort_by(f64::total_cmp);
        let tail = (1.0 - level) / 2.0;
        Ok(BootstrapCi {
            estimate: self.family_mean(),
            lo: quantile_sorted(&stats, tail),
            hi: quantile_sorted(&stats, 1.0 - tail),
            level,
            resamples: stats.len(),
            seed,
        })
    }
}

/// The `p`-quantile of sorted values, linear interpolation (numpy's default).
fn quantile_sorted(v: &[f64], p: f64) -> f64 {
    let pos = p * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_cell() {
        let e = NestedSample::from_cells([("f", "a", 0, 0.1), ("f", "a", 0, 0.2)]).unwrap_err();
        assert!(
            e.to_string()
                .contains("family f, file a, seed 0 given twice"),
            "{e}"
        );
        let e = NestedSample::from_cells([("f", "a", 3, f64::NAN)]).unwrap_err();
        assert!(
            e.to_string().contains("family f, file a, seed 3: NaN"),
            "{e}"
        );
        assert!(NestedSample::from_cells([]).is_err());
        let s = NestedSample::from_cells([("f", "a", 0, 0.1)]).unwrap();
        assert!(s.bootstrap(0, 0, 0.95).is_err());
        assert!(s.bootstrap(10, 0, 1.0).is_err());
    }

    #[test]
    fn missing_cells_average_like_the_report() {
        // Seed 1 lacks file b: the family mean at seed 1 is a's alone.
        let s = NestedSample::from_cells([
            ("f", "a", 0, 1.0),
            ("f", "b", 0, 3.0),
            ("f", "a", 1, 5.0),
            ("g", "c", 0, 0.0),
            ("g", "c", 1, 1.0),
        ])
        .unwrap();
        // seed 0: (2 + 0) / 2 = 1; seed 1: (5 + 1) / 2 = 3; mean 2.
        assert_eq!(s.family_mean(), 2.0);
        assert_eq!(s.per_file_means(), vec![3.0, 3.0, 0.5]);
        assert_eq!(s.files(), vec![("f", "a"), ("f", "b"), ("g", "c")]);
    }

    #[test]
    fn quantiles_interpolate() {
        assert_eq!(quantile_sorted(&[1.0, 2.0, 3.0, 4.0], 0.25), 1.75);
        assert_eq!(quantile_sorted(&[5.0], 0.975), 5.0);
    }
}
