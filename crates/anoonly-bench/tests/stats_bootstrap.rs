//! The two-level bootstrap of `anoonly_bench::stats::NestedSample`: deterministic for a seed,
//! independent of the thread count, resampling files within families (each family keeps
//! its weight) and seeds, and with the width normal theory predicts in the simple case.

use anoonly_bench::stats::{NestedSample, BOOTSTRAP_RESAMPLES};
use statrs::distribution::{ContinuousCDF, Normal};

/// A grid of 3 families (2, 5 and 9 files) x 3 seeds with file and seed effects.
fn sample() -> NestedSample {
    let mut cells = Vec::new();
    let names: Vec<String> = (0..16).map(|i| format!("file{i:02}")).collect();
    let mut i = 0;
    for (fam, n) in [("CV", 2), ("NLP", 5), ("MVTec", 9)] {
        for _ in 0..n {
            for seed in 0..3u64 {
                let v = 0.01 * ((i * 7 % 11) as f64 - 4.0) + 0.003 * seed as f64;
                cells.push((fam, names[i].as_str(), seed, v));
            }
            i += 1;
        }
    }
    NestedSample::from_cells(cells).unwrap()
}

fn bits(ci: &anoonly_bench::stats::BootstrapCi) -> [u64; 3] {
    [ci.estimate.to_bits(), ci.lo.to_bits(), ci.hi.to_bits()]
}

#[test]
fn deterministic_for_a_seed_and_independent_of_threads() {
    let s = sample();
    let run = |threads: usize, seed: u64| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| s.bootstrap(BOOTSTRAP_RESAMPLES, seed, 0.95).unwrap())
    };
    let one = run(1, 42);
    let two = run(2, 42);
    assert_eq!(
        bits(&one),
        bits(&two),
        "1 thread {one:?} vs 2 threads {two:?}"
    );
    assert_eq!(bits(&one), bits(&run(2, 42)), "same seed, same bits");
    assert_eq!(one.resamples, BOOTSTRAP_RESAMPLES);
    let other = run(2, 43);
    assert_ne!(
        bits(&one),
        bits(&other),
        "another seed draws other resamples"
    );
    assert!(one.lo < one.estimate && one.estimate < one.hi, "{one:?}");
    // The two intervals agree to Monte Carlo noise (10,000 resamples).
    let width = one.hi - one.lo;
    assert!((one.lo - other.lo).abs() < 0.1 * width && (one.hi - other.hi).abs() < 0.1 * width);
}

#[test]
fn files_are_resampled_within_families() {
    // Family "a" has one file (always drawn), family "b" has files of 0: every resample's
    // statistic is (10 + 0) / 2 = 5. A bootstrap over pooled files would vary.
    let mut cells = vec![("a", "only", 0u64, 10.0)];
    let names: Vec<String> = (0..20).map(|i| format!("f{i}")).collect();
    for n in &names {
        cells.push(("b", n.as_str(), 0, 0.0));
    }
    let ci = NestedSample::from_cells(cells)
        .unwrap()
        .bootstrap(2000, 1, 0.95)
        .unwrap();
    assert_eq!((ci.estimate, ci.lo, ci.hi), (5.0, 5.0, 5.0));
}

#[test]
fn seeds_are_resampled() {
    // Same file effects; adding seed effects (sd ~ 0.05 over 5 seeds) must widen the interval.
    let names: Vec<String> = (0..30).map(|i| format!("f{i}")).collect();
    let make = |seed_effect: f64| {
        let mut cells = Vec::new();
        for (i, n) in names.iter().enumerate() {
            for s in 0..5u64 {
                let v = 0.01 * ((i * 13 % 17) as f64 - 8.0) / 8.0 + seed_effect * (s as f64 - 2.0);
                cells.push(("fam", n.as_str(), s, v));
            }
        }
        NestedSample::from_cells(cells)
            .unwrap()
            .bootstrap(4000, 3, 0.95)
            .unwrap()
    };
    let (flat, noisy) = (make(0.0), make(0.035));
    assert!(
        noisy.hi - noisy.lo > 3.0 * (flat.hi - flat.lo),
        "seed variation must show: {flat:?} vs {noisy:?}"
    );
}

#[test]
fn one_level_width_matches_normal_theory() {
    // One family, one seed, 400 files at the normal quantiles: the percentile interval of
    // the mean is mean +- 1.96 s / sqrt(n) up to Monte Carlo noise (~1% of the width with
    // 10,000 resamples) and the bootstrap's n (not n - 1) variance (0.1%).
    let n = 400;
    let normal = Normal::standard();
    let values: Vec<f64> = (0..n)
        .map(|i| normal.inverse_cdf((i as f64 + 0.5) / n as f64))
        .collect();
    let names: Vec<String> = (0..n).map(|i| format!("f{i:03}")).collect();
    let s = NestedSample::from_cells(
        names
            .iter()
            .zip(&values)
            .map(|(f, &v)| ("fam", f.as_str(), 0u64, v)),
    )
    .unwrap();
    let ci = s.bootstrap(BOOTSTRAP_RESAMPLES, 5, 0.95).unwrap();
    let mean = values.iter().sum::<f64>() / n as f64;
    let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
    let expect = 2.0 * 1.959964 * sd / (n as f64).sqrt();
    let width = ci.hi - ci.lo;
    assert!(
        (width / expect - 1.0).abs() < 0.05,
        "width {width} vs normal theory {expect}"
    );
    assert!((ci.estimate - mean).abs() < 1e-15);
    assert!(((ci.lo + ci.hi) / 2.0 - mean).abs() < 0.05 * expect);
}
