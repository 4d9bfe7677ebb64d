//! ADSD: the overlap loss and its gradient against finite differences, the grid and the
//! intersections, both batch samplers (fresh per epoch, and the authors' fixed batches), a
//! synthetic fit that beats chance, the baseline's refusal of AnoOnly, and (with the shared
//! data) the authors' code's AUCROC on cardio.

mod common;

use anoonly::methods::adsd::overlap::{self, area_at, grid, intersections, kde, linspace};
use anoonly::methods::adsd::{cantor, fresh_batches, official_batches};
use anoonly::methods::{AdsdCompat, AdsdParams, FitError, FitParams, MethodKind, MethodParams};
use anoonly::rng::component_rng;
use ndarray::Array1;
use rand::Rng as _;

fn normal_scores(n: usize, mean: f32, seed: u64) -> Vec<f32> {
    let mut rng = component_rng(seed, "scores");
    (0..n)
        .map(|_| {
            // Sum of 12 uniforms: an approximately standard normal.
            let z: f32 = (0..12).map(|_| rng.gen_range(0.0f32..1.0)).sum::<f32>() - 6.0;
            mean + z
        })
        .collect()
}

#[test]
fn adsd_linspace_is_torchs() {
    assert_eq!(linspace(0.0, 1.0, 5), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
    let x = linspace(-1.3, 2.7, 1000);
    assert_eq!((x[0], x[999]), (-1.3, 2.7));
    assert!(x.windows(2).all(|w| w[1] > w[0]));
    // The grid spans the scores widened by a fifth of their range on each side.
    let g = grid(&[0.0, 1.0], &[2.0], 11);
    assert!(
        (g[0] + 0.4).abs() < 1e-6 && (g[10] - 2.4).abs() < 1e-6,
        "{g:?}"
    );
}

#[test]
fn adsd_two_separated_densities_cross_once_between_them() {
    let su = normal_scores(128, 0.0, 1);
    let sa = normal_scores(128, 3.0, 2);
    let x = grid(&su, &sa, 1000);
    let fu = kde(&su, 1.0, &x);
    let fa = kde(&sa, 1.0, &x);
    // Each density integrates to about 1 (plus the floor over the grid's width).
    let area = |f: &[f64]| -> f64 {
        x.windows(2)
            .zip(f.windows(2))
            .map(|(xx, ff)| f64::from(xx[1] - xx[0]) * (ff[0] + ff[1]) / 2.0)
            .sum()
    };
    let width = f64::from(x[999] - x[0]);
    assert!(
        (area(&fu) - 1e-4 * width - 1.0).abs() < 0.02,
        "{}",
        area(&fu)
    );
    let cuts = intersections(&fu, &fa);
    let between: Vec<f32> = cuts
        .iter()
        .map(|&k| x[k])
        .filter(|c| (0.5..2.5).contains(c))
        .collect();
    assert_eq!(between.len(), 1, "{cuts:?}");
    // The loss there is the two tails beyond the cut: small, and larger when the
    // densities overlap more.
    let far = overlap::overlap(&su, &sa, (1.0, 1.0), 1000, |_| 0);
    let near = overlap::overlap(&su, &normal_scores(128, 1.0, 2), (1.0, 1.0), 1000, |_| 0);
    assert!(far.value < near.value, "{} vs {}", far.value, near.value);
}

/// The gradient of the area with respect to every score, the grid and the cut held fixed
/// (as the authors' detached grid and chosen index are), against central differences.
#[test]
fn adsd_overlap_gradient_matches_finite_differences() {
    let su = normal_scores(20, 0.0, 3);
    let sa = normal_scores(15, 1.5, 4);
    let x = grid(&su, &sa, 200);
    let fu = kde(&su, 1.0, &x);
    let fa = kde(&sa, 1.0, &x);
    let cuts = intersections(&fu, &fa);
    assert!(!cuts.is_empty());
    for (cut, bw) in [
        (Some(cuts[0]), (1.0, 1.0)),
        (None, (1.0, 1.0)),
        (Some(cuts[0]), (0.5, 2.0)),
    ] {
        let (_, gu, ga) = area_at(&su, &sa, bw, &x, cut);
        let h = 1e-3f32;
        let value = |u: &[f32], a: &[f32]| area_at(u, a, bw, &x, cut).0;
        for j in 0..su.len() {
            let (mut up, mut down) = (su.clone(), su.clone());
            up[j] += h;
            down[j] -= h;
            let num = (value(&up, &sa) - value(&down, &sa)) / (2.0 * f64::from(h));
            assert!(
                (f64::from(gu[j]) - num).abs() < 1e-4 + 1e-3 * num.abs(),
                "u {j}: {} vs {num}",
                gu[j]
            );
        }
        for j in 0..sa.len() {
            let (mut up, mut down) = (sa.clone(), sa.clone());
            up[j] += h;
            down[j] -= h;
            let num = (value(&su, &up) - value(&su, &down)) / (2.0 * f64::from(h));
            assert!(
                (f64::from(ga[j]) - num).abs() < 1e-4 + 1e-3 * num.abs(),
                "a {j}: {} vs {num}",
                ga[j]
            );
        }
        // The loss pushes unlabeled scores down and anomaly scores up (on average).
        if cut.is_some() {
            assert!(gu.iter().sum::<f32>() > 0.0 && ga.iter().sum::<f32>() < 0.0);
        }
    }
    // Equal scores: a zero-width grid, no area and no gradient.
    let o = overlap::overlap(&[0.5; 4], &[0.5; 4], (1.0, 1.0), 100, |_| 0);
    assert_eq!(o.value, 0.0);
    assert!(o.grad_u.iter().chain(&o.grad_a).all(|&g| g == 0.0));
}

#[test]
fn adsd_fresh_batches_use_every_unlabeled_row_in_balanced_batches() {
    let unlabeled: Vec<u32> = (0..1158).collect();
    let anomalies: Vec<u32> = (2000..2013).collect();
    let mut rng = component_rng(1, "t");
    let b = fresh_batches(&unlabeled, &anomalies, 128, &mut rng);
    // ceil(1158 / 128) = 10 batches (the authors': floor - 1 = 8).
    assert_eq!(b.len(), 10);
    let mut seen = vec![0usize; 1158];
    for (u, a) in &b {
        assert_eq!((u.len(), a.len()), (128, 128));
        let mut d = u.clone();
        d.sort_unstable();
        d.dedup();
        assert_eq!(d.len(), 128, "no unlabeled row twice in a batch");
        assert!(a.iter().all(|r| anomalies.contains(r)));
        for &r in u {
            seen[r as usize] += 1;
        }
    }
    assert!(seen.iter().all(|&c| c >= 1), "every unlabeled row is used");
    assert_eq!(seen.iter().sum::<usize>(), 1280);
    // Another epoch, other batches.
    let b2 = fresh_batches(&unlabeled, &anomalies, 128, &mut rng);
    assert_ne!(b2[0].0, b[0].0);
    // Fewer unlabeled rows than half a batch: one balanced batch of them.
    let few: Vec<u32> = (0..40).collect();
    let b = fresh_batches(&few, &anomalies, 128, &mut rng);
    assert_eq!(b.len(), 1);
    assert_eq!((b[0].0.len(), b[0].1.len()), (40, 40));
}

#[test]
fn adsd_official_batches_are_the_authors_fixed_batches() {
    let unlabeled: Vec<u32> = (0..1158).collect();
    let anomalies: Vec<u32> = (2000..2013).collect();
    let b = official_batches(&unlabeled, &anomalies, 128);
    // While at least 256 remain: floor(1158/128) - 1 = 8 batches, 134 rows never used.
    assert_eq!(b.len(), 8);
    let mut used: Vec<u32> = b.iter().flat_map(|(u, _)| u.clone()).collect();
    used.sort_unstable();
    used.dedup();
    assert_eq!(used.len(), 8 * 128, "each unlabeled row at most once");
    // No seed enters: the same batches every call (every epoch, every run seed).
    assert_eq!(b, official_batches(&unlabeled, &anomalies, 128));
    assert!(official_batches(&(0..255).collect::<Vec<_>>(), &anomalies, 128).is_empty());
    // The authors' Cantor pairing of (epoch, step).
    assert_eq!(
        (cantor(0, 0), cantor(1, 0), cantor(0, 1), cantor(2, 3)),
        (0, 1, 2, 18)
    );
}

#[test]
fn adsd_beats_chance_on_synthetic_data_in_both_compat_modes() {
    let sp = common::demo_split(0);
    for compat in [AdsdCompat::Fixed, AdsdCompat::Official] {
        let mut p = FitParams::new(MethodKind::Adsd).seed(0);
        p.method = MethodParams::Adsd(AdsdParams {
            compat,
            ..AdsdParams::default()
        });
        let auc = common::split_aucroc(&p, &sp);
        // Measured: 0.72 (fixed); chance is 0.5 with a spread of about 0.03 here.
        assert!(auc > 0.65, "{compat:?}: AUCROC {auc}");
    }
}

#[test]
fn adsd_official_needs_a_batch_of_unlabeled_rows_and_fixed_says_so() {
    let ds = common::small_synthetic();
    // 100 unlabeled rows and the anomalies.
    let keep: Vec<usize> = (0..ds.n_rows())
        .filter(|&i| ds.y[i] == 1 || i % 3 == 0)
        .collect();
    let x = ds.x.select(ndarray::Axis(0), &keep);
    let y: Array1<u8> = keep.iter().map(|&i| ds.y[i]).collect();
    let n_u = y.iter().filter(|&&v| v == 0).count();
    assert!(n_u < 128);
    let mut p = FitParams::new(MethodKind::Adsd).seed(0);
    p.method.set_epochs(2).unwrap();
    let m = p.fit(x.view(), y.view()).unwrap();
    assert!(
        m.report
            .notes
            .iter()
            .any(|n| n.contains("fewer than batch_size")),
        "{:?}",
        m.report.notes
    );
    p.method.set("compat", "official").unwrap();
    match p.fit(x.view(), y.view()) {
        Err(FitError::TooFewUnlabeled { found, needed, .. }) => {
            assert_eq!((found, needed), (n_u, 256))
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    // The baseline refuses the AnoOnly switch.
    let e = FitParams::new(MethodKind::Adsd)
        .anoonly(true)
        .validate()
        .unwrap_err();
    assert_eq!(e.field, "anoonly");
}

#[test]
fn adsd_representation_feeds_the_last_layer() {
    let ds = common::small_synthetic();
    let mut p = FitParams::new(MethodKind::Adsd).seed(1);
    p.method.set_epochs(2).unwrap();
    let m = p.fit(ds.x.view(), ds.y.view()).unwrap();
    let anoonly::methods::Fitted::Adsd(f) = &m.fitted else {
        panic!("not adsd")
    };
    let rep = anoonly::methods::Method::representation(f.as_ref(), ds.x.view()).unwrap();
    assert_eq!(rep.dim(), (ds.n_rows(), 20));
    assert!(rep.iter().all(|&v| v >= 0.0), "ReLU features");
}

/// The authors' ADSD (MLP) on the shared cardio file, clean, gamma_la 0.1, seeds 0-2, on the
/// same split arrays (scripts/peers/fidelity.py; docs/fidelity.md): AUCROC
/// 0.9752, 0.9820, 0.9595, mean 0.972 (ours at the time of writing: 0.9790, 0.9938, 0.9763,
/// mean 0.983; `compat=official` 0.984). Tolerance 0.03: the seed-to-seed sd is about 0.01 to
/// 0.02 here.
#[test]
#[ignore = "needs ../shared/data (run by scripts/test.sh when it exists)"]
fn adsd_matches_the_authors_code_on_cardio() {
    let aucs = common::default_aucrocs("Classical/6_cardio.npz", MethodKind::Adsd, 3);
    let mean = aucs.iter().sum::<f64>() / aucs.len() as f64;
    assert!((mean - 0.972).abs() < 0.03, "ours {aucs:?}, mean {mean}");
}
