//! Comparing several methods over many data sets by their ranks (Demšar 2006): average
//! ranks, the Friedman test, the Nemenyi critical difference from the studentized range
//! distribution, and the groups a critical-difference diagram joins with a bar.

use std::sync::OnceLock;

use statrs::distribution::{ChiSquared, ContinuousCDF, Normal};

use super::{check_cell, check_level, StatsError};

/// Which end of a score ranks first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Rank 1 for the highest value (AUCROC, AUCPR).
    HigherIsBetter,
    /// Rank 1 for the lowest value (errors, losses).
    LowerIsBetter,
}

/// Ranks 1..=n with ties given their average rank, rank 1 for the smallest value
/// (`scipy.stats.rankdata(method="average")`).
///
/// ```
/// assert_eq!(anoonly_bench::stats::rank_average(&[0.3, 0.1, 0.3, 0.2]), vec![3.5, 1.0, 3.5, 2.0]);
/// ```
pub fn rank_average(values: &[f64]) -> Vec<f64> {
    rank_average_with_ties(values).0
}

/// [`rank_average`] and the sizes of the groups of equal values (in ascending order of value).
pub(super) fn rank_average_with_ties(values: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut ties = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        while j < order.len() && values[order[j]] == values[order[i]] {
            j += 1;
        }
        // Ordinal ranks i+1..=j share their mean.
        let r = (i + 1 + j) as f64 / 2.0;
        for &o in &order[i..j] {
            ranks[o] = r;
        }
        ties.push(j - i);
        i = j;
    }
    (ranks, ties)
}

/// Validates a blocks x treatments table: non-empty, rectangular, finite. Returns k.
fn check_table<R: AsRef<[f64]>>(what: &'static str, table: &[R]) -> Result<usize, StatsError> {
    let Some(first) = table.first() else {
        return Err(StatsError::Empty { what });
    };
    let k = first.as_ref().len();
    if k == 0 {
        return Err(StatsError::Empty { what });
    }
    for (row, r) in table.iter().enumerate() {
        let r = r.as_ref();
        if r.len() != k {
            return Err(StatsError::Ragged {
                what,
                row,
                got: r.len(),
                expected: k,
            });
        }
        if let Some(j) = r.iter().position(|v| !v.is_finite()) {
            return Err(StatsError::Invalid {
                what,
                message: format!(
                    "row {row}, column {j} is {}, expected a finite number",
                    r[j]
                ),
            });
        }
    }
    Ok(k)
}

/// Ranks within one block in the given order.
fn block_ranks(row: &[f64], order: Order) -> (Vec<f64>, Vec<usize>) {
    match order {
        Order::LowerIsBetter => rank_average_with_ties(row),
        Order::HigherIsBetter => {
            let neg: Vec<f64> = row.iter().map(|v| -v).collect();
            rank_average_with_ties(&neg)
        }
    }
}

/// Average rank of each treatment (column) over the blocks (rows), ranking within each
/// block with average ranks for ties.
///
/// ```
/// use anoonly_bench::stats::{mean_ranks, Order};
/// let table = [[0.9, 0.8, 0.7], [0.6, 0.9, 0.6]];
/// // Block 1 ranks 1, 2, 3; block 2 ranks 2.5, 1, 2.5.
/// assert_eq!(mean_ranks(&table, Order::HigherIsBetter).unwrap(), vec![1.75, 1.5, 2.75]);
/// ```
pub fn mean_ranks<R: AsRef<[f64]>>(table: &[R], order: Order) -> Result<Vec<f64>, StatsError> {
    let k = check_table("mean ranks, table", table)?;
    let mut sums = vec![0.0; k];
    for row in table {
        let (r, _) = block_ranks(row.as_ref(), order);
        for (s, v) in sums.iter_mut().zip(r) {
            *s += v;
        }
    }
    let n = table.len() as f64;
    Ok(sums.into_iter().map(|s| s / n).collect())
}

/// The result of [`friedman`].
#[derive(Clone, Debug, PartialEq)]
pub struct Friedman {
    /// The tie-corrected chi-square statistic.
    pub statistic: f64,
    /// From the chi-square distribution with `treatments - 1` degrees of freedom.
    pub pvalue: f64,
    pub blocks: usize,
    pub treatments: usize,
}

/// The Friedman test over a blocks x treatments table (`table[block][treatment]`), as
/// `scipy.stats.friedmanchisquare(*columns)`: ranks per block with average ranks for ties,
/// the statistic divided by the tie correction `1 - sum(t^3 - t) / (n k (k^2 - 1))`, the
/// p-value from the chi-square distribution with k - 1 degrees of freedom. Needs at least
/// 3 treatments (as scipy); a table where every block is one tie has no statistic.
///
/// ```
/// use anoonly_bench::stats::friedman;
/// // Four blocks rank the three treatments identically: rank sums 4, 8, 12,
/// // statistic 12 / (3 * 4 * 4) * (16 + 64 + 144) - 3 * 4 * 4 = 8, p = exp(-8 / 2).
/// let f = friedman(&[[1.0, 2.0, 3.0]; 4]).unwrap();
/// assert!((f.statistic - 8.0).abs() < 1e-12);
/// assert!((f.pvalue - (-4.0f64).exp()).abs() < 1e-12);
/// ```
pub fn friedman<R: AsRef<[f64]>>(table: &[R]) -> Result<Friedman, StatsError> {
    const WHAT: &str = "Friedman test, table";
    let k = check_table(WHAT, table)?;
    if k < 3 {
        return Err(StatsError::Invalid {
            what: WHAT,
            message: format!("{k} treatments, the test needs at least 3"),
        });
    }
    let n = table.len();
    let mut sums = vec![0.0; k];
    let mut ties = 0.0;
    for row in table {
        let (r, t) = block_ranks(row.as_ref(), Order::LowerIsBetter);
        for (s, v) in sums.iter_mut().zip(r) {
            *s += v;
        }
        ties += t
            .iter()
            .map(|&t| {
                let t = t as f64;
                t * (t * t - 1.0)
            })
            .sum::<f64>();
    }
    let (kf, nf) = (k as f64, n as f64);
    let c = 1.0 - ties / (kf * (kf * kf - 1.0) * nf);
    if c <= 0.0 {
        return Err(StatsError::NoVariation { treatments: k });
    }
    let ssbn: f64 = sums.iter().map(|s| s * s).sum();
    let statistic = (12.0 / (kf * nf * (kf + 1.0)) * ssbn - 3.0 * nf * (kf + 1.0)) / c;
    let chi2 = ChiSquared::new(kf - 1.0).map_err(|e| StatsError::Invalid {
        what: WHAT,
        message: e.to_string(),
    })?;
    Ok(Friedman {
        statistic,
        pvalue: chi2.sf(statistic.max(0.0)),
        blocks: n,
        treatments: k,
    })
}

/// Gauss–Legendre nodes and weights on [-1, 1] (Newton's iteration on the Legendre
/// polynomial), for the studentized range integral.
fn gauss_legendre() -> &'static [(f64, f64)] {
    const N: usize = 20;
    static RULE: OnceLock<Vec<(f64, f64)>> = OnceLock::new();
    RULE.get_or_init(|| {
        let mut rule = Vec::with_capacity(N);
        for i in 1..=N / 2 {
            let mut z = (std::f64::consts::PI * (i as f64 - 0.25) / (N as f64 + 0.5)).cos();
            let mut dp = 1.0;
            for _ in 0..100 {
                let (mut p1, mut p2) = (1.0, 0.0);
                for j in 1..=N {
                    let p3 = p2;
                    p2 = p1;
                    p1 = ((2 * j - 1) as f64 * z * p2 - (j - 1) as f64 * p3) / j as f64;
                }
                dp = N as f64 * (z * p1 - p2) / (z * z - 1.0);
                let step = p1 / dp;
                z -= step;
                if step.abs() < 1e-16 {
                    break;
                }
            }
            let w = 2.0 / ((1.0 - z * z) * dp * dp);
            rule.push((z, w));
            rule.push((-z, w));
        }
        rule
    })
}

/// P(R <= q) for the range R of k independent standard normals (the studentized range with
/// infinite degrees of freedom):
/// `k * integral phi(z) * (Phi(z) - Phi(z - q))^(k-1) dz`, by 20-point Gauss–Legendre on
/// panels of width 1/2 over [-9, 9 + q] (the density is below 1e-17 outside).
///
/// ```
/// // For k = 2 the range is |X1 - X2| ~ sqrt(2) |N(0, 1)|: P(R <= 1.96 sqrt 2) = 0.95.
/// let p = anoonly_bench::stats::studentized_range_cdf(1.959963984540054 * 2f64.sqrt(), 2);
/// assert!((p - 0.95).abs() < 1e-12);
/// ```
pub fn studentized_range_cdf(q: f64, k: usize) -> f64 {
    if q.is_nan() || k < 2 {
        return f64::NAN;
    }
    if q <= 0.0 {
        return 0.0;
    }
    if q == f64::INFINITY {
        return 1.0;
    }
    let normal = Normal::standard();
    let rule = gauss_legendre();
    let (lo, hi) = (-9.0, 9.0 + q);
    let panels = ((hi - lo) / 0.5).ceil() as usize;
    let h = (hi - lo) / panels as f64;
    let mut total = 0.0;
    for p in 0..panels {
        let mid = lo + (p as f64 + 0.5) * h;
        let mut s = 0.0;
        for &(x, w) in rule {
            let z = mid + 0.5 * h * x;
            // Phi(z) - Phi(z - q), from the tail where it does not cancel.
            let inner = if z > 0.5 * q {
                normal.sf(z - q) - normal.sf(z)
            } else {
                normal.cdf(z) - normal.cdf(z - q)
            };
            let dens = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
            s += w * dens * inner.powi(k as i32 - 1);
        }
        total += 0.5 * h * s;
    }
    (k as f64 * total).clamp(0.0, 1.0)
}

/// The `p`-quantile of the studentized range with infinite degrees of freedom (what
/// `scipy.stats.studentized_range.ppf(p, k, np.inf)` gives), by bisection on
/// [`studentized_range_cdf`].
///
/// ```
/// // Demšar (2006), Table 5: q_0.05 = 2.343 for 3 classifiers after dividing by sqrt(2)
/// // (scipy: 3.3144931554 / sqrt(2) = 2.34370).
/// let q = anoonly_bench::stats::studentized_range_quantile(0.95, 3).unwrap();
/// assert!((q - 3.3144931554).abs() < 1e-8);
/// assert!((q / 2f64.sqrt() - 2.343).abs() < 1e-3);
/// ```
pub fn studentized_range_quantile(p: f64, k: usize) -> Result<f64, StatsError> {
    const WHAT: &str = "studentized range quantile";
    check_level(WHAT, p)?;
    if k < 2 {
        return Err(StatsError::Invalid {
            what: WHAT,
            message: format!("k = {k}, the range needs at least 2 groups"),
        });
    }
    let (mut lo, mut hi) = (0.0, 1.0);
    while studentized_range_cdf(hi, k) < p {
        if hi >= 1024.0 {
            // The CDF is 1 to double precision long before: p is too close to 1.
            return Err(StatsError::Invalid {
                what: WHAT,
                message: format!("p = {p} is beyond the CDF's double precision"),
            });
        }
        lo = hi;
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if studentized_range_cdf(mid, k) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(0.5 * (lo + hi))
}

/// The Nemenyi critical difference for `k` methods ranked on `n` data sets at level
/// `alpha`: `q_alpha * sqrt(k (k + 1) / (6 n))` with `q_alpha` the studentized range
/// quantile (infinite degrees of freedom) divided by sqrt(2) (Demšar 2006, Sect. 3.2.2).
/// Two methods whose average ranks differ by at least the CD are significantly apart.
///
/// ```
/// // Demšar's example: 4 classifiers on 14 data sets, CD = 2.569 * sqrt(4 * 5 / (6 * 14)) = 1.25.
/// let cd = anoonly_bench::stats::nemenyi_cd(4, 14, 0.05).unwrap();
/// assert!((cd - 1.2536).abs() < 1e-3);
/// ```
pub fn nemenyi_cd(k: usize, n: usize, alpha: f64) -> Result<f64, StatsError> {
    const WHAT: &str = "Nemenyi critical difference";
    check_level(WHAT, alpha)?;
    if n == 0 {
        return Err(StatsError::Empty { what: WHAT });
    }
    let q = studentized_range_quantile(1.0 - alpha, k)? / std::f64::consts::SQRT_2;
    let kf = k as f64;
    Ok(q * (kf * (kf + 1.0) / (6.0 * n as f64)).sqrt())
}

/// The groups of methods not significantly apart, as a CD diagram draws them: the maximal
/// runs of consecutive methods in rank order whose rank span is below `cd`. Each group is a
/// list of indices into `ranks`, best rank first; groups of one method are not listed.
/// Methods with equal ranks keep their index order.
///
/// ```
/// use anoonly_bench::stats::cd_groups;
/// // Ranks 1.0, 1.5, 3.0 and 3.2 with CD 1: {0, 1} and {2, 3} are groups, 1.5 -> 3.0 is not.
/// assert_eq!(cd_groups(&[3.2, 1.5, 1.0, 3.0], 1.0), vec![vec![2, 1], vec![3, 0]]);
/// ```
pub fn cd_groups(ranks: &[f64], cd: f64) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..ranks.len()).collect();
    order.sort_by(|&a, &b| ranks[a].total_cmp(&ranks[b]));
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut last_end = 0;
    for i in 0..order.len() {
        let mut j = i;
        while j + 1 < order.len() && ranks[order[j + 1]] - ranks[order[i]] < cd {
            j += 1;
        }
        // The run's end never moves left as i grows, so a run ending where the previous one
        // ended is contained in it.
        if j > i && (groups.is_empty() || j > last_end) {
            groups.push(order[i..=j].to_vec());
            last_end = j;
        }
    }
    groups
}

/// A blocks x treatments table built from (block, treatment, value) cells: repeated cells
/// of a (block, treatment) are averaged (seeds averaged first), and blocks that lack a
/// treatment are dropped, since ranks compare complete blocks only. Blocks and treatments
/// in name order.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockTable {
    pub blocks: Vec<String>,
    pub treatments: Vec<String>,
    /// `table[block][treatment]`.
    pub table: Vec<Vec<f64>>,
    /// Blocks left out, with the treatments they lack.
    pub dropped: Vec<(String, Vec<String>)>,
}

impl BlockTable {
    /// ```
    /// use anoonly_bench::stats::BlockTable;
    /// let t = BlockTable::from_cells([
    ///     ("cifar_0", "deepsad", 0.70), ("cifar_0", "deepsad", 0.74), ("cifar_0", "devnet", 0.80),
    ///     ("svhn", "deepsad", 0.60),
    /// ]).unwrap();
    /// assert_eq!(t.treatments, vec!["deepsad", "devnet"]);
    /// assert_eq!(t.blocks, vec!["cifar_0"]);
    /// assert!((t.table[0][0] - 0.72).abs() < 1e-12);
    /// assert_eq!(t.dropped, vec![("svhn".to_string(), vec!["devnet".to_string()])]);
    /// ```
    pub fn from_cells<'a>(
        cells: impl IntoIterator<Item = (&'a str, &'a str, f64)>,
    ) -> Result<BlockTable, StatsError> {
        const WHAT: &str = "rank table";
        let mut sums: std::collections::BTreeMap<
            &str,
            std::collections::BTreeMap<&str, (f64, usize)>,
        > = Default::default();
        let mut treatments = std::collections::BTreeSet::new();
        for (block, treatment, value) in cells {
            check_cell(WHAT, value, || {
                format!("block {block}, treatment {treatment}")
            })?;
            let e = sums
                .entry(block)
                .or_default()
                .entry(treatment)
                .or_insert((0.0, 0));
            e.0 += value;
            e.1 += 1;
            treatments.insert(treatment);
        }
        if treatments.is_empty() {
            return Err(StatsError::Empty { what: WHAT });
        }
        let mut out = BlockTable {
            blocks: Vec::new(),
            treatments: treatments.iter().map(|t| t.to_string()).collect(),
            table: Vec::new(),
            dropped: Vec::new(),
        };
        for (block, row) in sums {
            let missing: Vec<String> = treatments
                .iter()
                .filter(|t| !row.contains_key(*t))
                .map(|t| t.to_string())
                .collect();
            if missing.is_empty() {
                out.blocks.push(block.to_string());
                out.table
                    .push(row.values().map(|(s, n)| s / *n as f64).collect());
            } else {
                out.dropped.push((block.to_string(), missing));
            }
        }
        Ok(out)
    }
}

/// Everything a critical-difference diagram and its table show.
#[derive(Clone, Debug, PartialEq)]
pub struct RankComparison {
    /// Average rank per treatment (column), 1 = best.
    pub mean_ranks: Vec<f64>,
    /// The Friedman test, or why it is undefined (fewer than 3 treatments, all tied).
    pub friedman: Result<Friedman, StatsError>,
    /// The Nemenyi critical difference at `alpha`.
    pub cd: f64,
    pub alpha: f64,
    /// [`cd_groups`] of the mean ranks.
    pub groups: Vec<Vec<usize>>,
    /// Blocks (data sets) the ranks average over.
    pub blocks: usize,
}

/// Average ranks, Friedman test, Nemenyi CD and the non-significant groups of a blocks x
/// treatments table (`table[file][method]`, e.g. seed-averaged AUCROC).
///
/// ```
/// use anoonly_bench::stats::{rank_comparison, Order};
/// let table = [[0.9, 0.8, 0.7]; 10];
/// let r = rank_comparison(&table, Order::HigherIsBetter, 0.05).unwrap();
/// assert_eq!(r.mean_ranks, vec![1.0, 2.0, 3.0]);
/// // CD = 2.343 * sqrt(3 * 4 / 60) = 1.048: 1 and 2 (and 2 and 3) are not apart, 1 and 3 are.
/// assert!((r.cd - 1.048).abs() < 1e-3);
/// assert_eq!(r.groups, vec![vec![0, 1], vec![1, 2]]);
/// assert!(r.friedman.unwrap().pvalue < 1e-4);
/// ```
pub fn rank_comparison<R: AsRef<[f64]>>(
    table: &[R],
    order: Order,
    alpha: f64,
) -> Result<RankComparison, StatsError> {
    let mean_ranks = mean_ranks(table, order)?;
    if mean_ranks.len() < 2 {
        return Err(StatsError::Invalid {
            what: "rank comparison",
            message: "1 treatment, nothing to compare".into(),
        });
    }
    let cd = nemenyi_cd(mean_ranks.len(), table.len(), alpha)?;
    let groups = cd_groups(&mean_ranks, cd);
    Ok(RankComparison {
        friedman: friedman(table),
        mean_ranks,
        cd,
        alpha,
        groups,
        blocks: table.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauss_legendre_integrates_polynomials_exactly() {
        let rule = gauss_legendre();
        assert_eq!(rule.len(), 20);
        let w: f64 = rule.iter().map(|r| r.1).sum();
        assert!((w - 2.0).abs() < 1e-14);
        // x^38 integrates to 2/39 on [-1, 1]: degree 2n - 1 = 39 is exact.
        let i: f64 = rule.iter().map(|(x, w)| w * x.powi(38)).sum();
        assert!((i - 2.0 / 39.0).abs() < 1e-14, "{i}");
    }

    #[test]
    fn studentized_range_cdf_is_monotone_and_bounded() {
        for k in [2, 5, 20] {
            let mut prev = 0.0;
            for i in 1..=80 {
                let p = studentized_range_cdf(i as f64 * 0.1, k);
                assert!(
                    (0.0..=1.0).contains(&p) && p >= prev,
                    "k {k} q {}",
                    i as f64 * 0.1
                );
                prev = p;
            }
            assert!(prev > 0.999_99);
        }
    }

    #[test]
    fn ties_and_groups() {
        let (r, t) = rank_average_with_ties(&[2.0, 1.0, 2.0, 2.0]);
        assert_eq!((r, t), (vec![3.0, 1.0, 3.0, 3.0], vec![1, 3]));
        // A chain 1, 2, 3, 4 with CD 1.5: overlapping groups {1,2}, {2,3}, {3,4}.
        assert_eq!(
            cd_groups(&[1.0, 2.0, 3.0, 4.0], 1.5),
            vec![vec![0, 1], vec![1, 2], vec![2, 3]]
        );
        // All within CD: one group.
        assert_eq!(cd_groups(&[1.0, 2.0, 3.0], 5.0), vec![vec![0, 1, 2]]);
        // A span equal to the CD is significant (Demšar: "differ by at least the CD").
        assert_eq!(cd_groups(&[1.0, 2.0], 1.0), Vec::<Vec<usize>>::new());
    }

    #[test]
    fn table_errors_name_the_cell() {
        let e = friedman(&[vec![1.0, 2.0, 3.0], vec![1.0, 2.0]]).unwrap_err();
        assert!(e.to_string().contains("row 1 has 2 values"), "{e}");
        let e = friedman(&[[1.0, f64::INFINITY, 3.0]]).unwrap_err();
        assert!(e.to_string().contains("row 0, column 1 is inf"), "{e}");
        let e = friedman(&[[1.0, 2.0]]).unwrap_err();
        assert!(e.to_string().contains("at least 3"), "{e}");
        assert_eq!(
            friedman(&[[0.5; 4]; 3]).unwrap_err(),
            StatsError::NoVariation { treatments: 4 }
        );
        assert!(friedman::<[f64; 3]>(&[]).is_err());
        assert!(rank_comparison(&[[0.5]], Order::HigherIsBetter, 0.05).is_err());
        assert!(studentized_range_quantile(1.0, 3).is_err());
    }
}
