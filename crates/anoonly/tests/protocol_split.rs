//! The split protocol (docs/protocol.md 1.2, 1.5) on synthetic labels: counts, numpy-identical row
//! choice, leakage, scaling, determinism, clean/noisy, normal_ratio, errors.

mod common;

use std::collections::HashSet;

use anoonly::protocol::{
    split, split_indices, split_owned, Labeled, MinMax, Protocol, ProtocolError, Resampling,
    Setting, Split, SplitParams,
};
use common::{bits, widen};
use ndarray::{array, Array1, Array2, ShapeBuilder};

fn params(protocol: Protocol, setting: Setting) -> SplitParams {
    SplitParams {
        protocol,
        setting,
        ..SplitParams::default()
    }
}

/// `n` labels with the anomalies at the first `n_anom` positions of a stride (positions only
/// matter for files that are resampled).
fn labels(n: usize, n_anom: usize) -> Array1<u8> {
    let mut y = Array1::zeros(n);
    let stride = n / n_anom;
    for k in 0..n_anom {
        y[k * stride] = 1;
    }
    y
}

/// x with column 0 = row index, column 1 = constant 7.
fn features(n: usize) -> Array2<f32> {
    Array2::from_shape_fn((n, 2), |(i, j)| if j == 0 { i as f32 } else { 7.0 })
}

/// (file, rows, anomalies, n_train clean, n_train noisy, n_lab, n_test, test anomalies).
/// The first two are the docs/protocol.md 1.5 table rows of files that are not resampled (their
/// counts do not depend on where the anomalies sit); the Classical rows come from the
/// numpy/sklearn replica in scripts/protocol_reference.py (seed 42, la 0.1), not from the table.
#[rustfmt::skip]
#[allow(clippy::type_complexity)]
const NOT_RESAMPLED: &[(&str, usize, usize, usize, usize, usize, usize, usize)] = &[
    ("CIFAR10_0 (table 1.5)", 5263, 263, 3519, 3684, 19, 1579, 79),
    ("SVHN_0 (table 1.5)",    5208, 260, 3482, 3645, 19, 1563, 78),
    ("12_fault",      1941, 673,  935, 1358,  48,  583, 202),
    ("20_letter",     1600, 100, 1057, 1120,   7,  480,  30),
    ("24_mnist",      7603, 700, 4881, 5322,  49, 2281, 210),
    ("26_optdigits",  5216, 150, 3557, 3651,  11, 1565,  45),
    ("28_pendigits",  6870, 156, 4711, 4809,  11, 2061,  47),
    ("2_annthyroid",  7200, 534, 4704, 5040,  38, 2160, 160),
    ("30_satellite",  6435, 2036, 3222, 4504, 143, 1931, 611),
    ("38_thyroid",    3772,  93, 2582, 2640,   7, 1132,  28),
    ("40_vowels",     1456,  50,  988, 1019,   4,  437,  15),
    ("44_Wilt",       4819, 257, 3211, 3373,  18, 1446,  77),
    ("6_cardio",      1831, 176, 1171, 1281,  13,  550,  53),
];

#[test]
fn counts_of_files_that_are_not_resampled() {
    for &(name, n, n_anom, clean, noisy, n_lab, n_test, test_anom) in NOT_RESAMPLED {
        let y = labels(n, n_anom);
        for protocol in [Protocol::Adbench, Protocol::LeakageFree] {
            let c = split_indices(y.view(), &params(protocol, Setting::Clean), 42).unwrap();
            let z = split_indices(y.view(), &params(protocol, Setting::Noisy), 42).unwrap();
            assert_eq!(c.train.len(), clean, "{name} clean");
            assert_eq!(z.train.len(), noisy, "{name} noisy");
            assert_eq!((c.n_labeled, z.n_labeled), (n_lab, n_lab), "{name} n_lab");
            assert_eq!(c.test.len(), n_test, "{name} n_test");
            let ta = c.test.iter().filter(|&&r| y[r as usize] == 1).count();
            assert_eq!(ta, test_anom, "{name} test anomalies");
            assert_eq!(z.n_unlabeled_anomalies, noisy - clean, "{name}");
            assert_eq!(c.resampled, Resampling::None);
        }
    }
}

#[test]
fn duplicated_files_have_1000_rows() {
    // whatever the positions: 1000 rows -> 700 train (noisy) / 300 test
    for (n, n_anom) in [(292, 63), (615, 30), (198, 47)] {
        let y = labels(n, n_anom);
        let z = split_indices(y.view(), &params(Protocol::Adbench, Setting::Noisy), 42).unwrap();
        assert_eq!(z.resampled, Resampling::Duplicated { from: n });
        assert_eq!(
            (z.n_rows_used, z.train.len(), z.test.len()),
            (1000, 700, 300)
        );
    }
}

/// numpy/sklearn reference (scripts/protocol_reference.py, `pipeline_indices`, numpy 2.4.6,
/// scikit-learn 1.9.1): y[i] = 1 iff i % 7 == 3, la = 0.1. Columns: (n, seed, clean,
/// final train rows [..8], final train rows [last 4], test rows [..8], n_train, Σ train rows,
/// Σ test rows). Covers duplication (300, 999), the cap (12000) and plain files (2000).
#[rustfmt::skip]
#[allow(clippy::type_complexity)]
const NUMPY_ROWS: &[(usize, u64, bool, &[usize], &[usize], &[usize], usize, usize, usize)] = &[
    (300, 42, true, &[251, 232, 263, 176, 202, 292, 217, 77], &[164, 283, 136, 164], &[285, 14, 138, 186, 41, 186, 36, 287], 615, 90305, 46788),
    (300, 42, false, &[251, 232, 263, 176, 202, 292, 217, 77], &[164, 283, 136, 164], &[285, 14, 138, 186, 41, 186, 36, 287], 700, 102936, 46788),
    (2000, 0, true, &[410, 95, 1485, 916, 1530, 1127, 1940, 201], &[1193, 1550, 1914, 1669], &[940, 1128, 634, 258, 971, 502, 1570, 652], 1220, 1220185, 597479),
    (2000, 1, false, &[1404, 1338, 355, 1637, 1735, 1260, 78, 1489], &[1032, 1039, 1221, 1242], &[178, 1030, 1793, 1016, 1731, 237, 867, 718], 1400, 1373711, 625289),
    (12000, 42, true, &[4761, 8933, 1216, 11573, 1549, 9443, 6845, 5962], &[8851, 8270, 1032, 10132], &[1242, 4776, 2749, 6454, 10754, 5479, 10635, 7779], 6091, 36457953, 17926842),
    (999, 7, false, &[532, 819, 607, 211, 288, 106, 678, 819], &[927, 969, 290, 759], &[764, 959, 157, 939, 303, 745, 516, 341], 700, 358262, 148439),
];

#[test]
fn rows_match_the_official_numpy_pipeline() {
    for &(n, seed, clean, head, tail, test_head, n_train, sum_train, sum_test) in NUMPY_ROWS {
        let y: Array1<u8> = (0..n).map(|i| u8::from(i % 7 == 3)).collect();
        let setting = if clean {
            Setting::Clean
        } else {
            Setting::Noisy
        };
        let s = split_indices(y.view(), &params(Protocol::Adbench, setting), seed).unwrap();
        let what = format!("n {n} seed {seed} clean {clean}");
        let (train, test) = (widen(&s.train), widen(&s.test));
        assert_eq!(&train[..8], head, "{what}");
        assert_eq!(&train[train.len() - 4..], tail, "{what}");
        assert_eq!(&test[..8], test_head, "{what}");
        assert_eq!(train.len(), n_train, "{what}");
        assert_eq!(train.iter().sum::<usize>(), sum_train, "{what}");
        assert_eq!(test.iter().sum::<usize>(), sum_test, "{what}");
    }
}

#[test]
fn capped_files_are_subsampled() {
    let y: Array1<u8> = (0..12000).map(|i| u8::from(i % 7 == 3)).collect();
    let s = split_indices(y.view(), &SplitParams::default(), 42).unwrap();
    assert_eq!(s.resampled, Resampling::Subsampled { from: 12000 });
    assert_eq!(
        (s.n_rows_used, s.train_all.len(), s.test.len()),
        (10000, 7000, 3000)
    );
    let uniq: HashSet<u32> = s.train_all.iter().chain(&s.test).copied().collect();
    assert_eq!(uniq.len(), 10000, "subsampling is without replacement");
    let p = SplitParams {
        max_rows: None,
        ..SplitParams::default()
    };
    let s = split_indices(y.view(), &p, 42).unwrap();
    assert_eq!((s.resampled, s.n_rows_used), (Resampling::None, 12000));
}

#[test]
fn leakage_free_has_no_row_in_train_and_test() {
    let n = 300;
    let y = labels(n, 40);
    let x = features(n);
    for setting in [Setting::Clean, Setting::Noisy] {
        let s = split(
            x.view(),
            y.view(),
            &params(Protocol::LeakageFree, setting),
            42,
        )
        .unwrap();
        assert_eq!(s.resampled, Resampling::None);
        assert_eq!(s.n_rows_used, n);
        assert_eq!(s.x_test.nrows(), 90); // ceil(0.3 * 300)
        let train: HashSet<u32> = s.idx_train.iter().copied().collect();
        assert_eq!(train.len(), s.idx_train.len(), "no duplicate in train");
        assert!(s.idx_test.iter().all(|r| !train.contains(r)), "{setting:?}");
        let all: HashSet<u32> = s.idx_train.iter().chain(&s.idx_test).copied().collect();
        assert_eq!(all.len(), s.idx_train.len() + s.idx_test.len());
    }
    // the ADBench protocol on the same file duplicates rows into both parts
    let s = split(x.view(), y.view(), &SplitParams::default(), 42).unwrap();
    let train: HashSet<u32> = s.idx_train.iter().copied().collect();
    assert!(s.idx_test.iter().any(|r| train.contains(r)));
}

#[test]
fn minmax_by_hand() {
    // columns: min/max = 1/3, 5/5 (constant), -2/2
    let x = array![[1.0f32, 5.0, 2.0], [3.0, 5.0, -2.0], [2.0, 5.0, 0.0]];
    let m = MinMax::fit(x.view());
    assert_eq!(m.min, array![1.0f32, 5.0, -2.0]);
    assert_eq!(m.scale, array![2.0f32, 1.0, 4.0]); // constant column -> scale 1
    let t = m.transform(x.view());
    assert_eq!(
        t,
        array![[0.0f32, 0.0, 1.0], [1.0, 0.0, 0.0], [0.5, 0.0, 0.5]]
    );
    // no clipping: (4-1)/2 = 1.5, (6-5)/1 = 1, (-4+2)/4 = -0.5
    let u = m.transform(array![[4.0f32, 6.0, -4.0]].view());
    assert_eq!(u, array![[1.5f32, 1.0, -0.5]]);
}

#[test]
fn minmax_is_fitted_on_the_whole_train_split() {
    let n = 2000;
    let y = labels(n, 100);
    let x = features(n);
    let s = split(x.view(), y.view(), &SplitParams::default(), 3).unwrap();
    let idx = split_indices(y.view(), &SplitParams::default(), 3).unwrap();
    // fitted on all train rows, including the unlabeled anomalies the clean setting drops
    assert!(idx.train_all.len() > idx.train.len());
    let fit = MinMax::fit(x.select(ndarray::Axis(0), &widen(&idx.train_all)).view());
    assert_eq!(s.scaler, fit);
    // column 0 is the row index: train values in [0, 1], constant column 1 -> 0
    assert!(s
        .x_train
        .column(0)
        .iter()
        .all(|&v| (0.0..=1.0).contains(&v)));
    assert!(s.x_train.column(1).iter().all(|&v| v == 0.0));
    assert!(s.x_test.column(1).iter().all(|&v| v == 0.0));
    // rows are the selected ones, scaled
    for (k, &r) in s.idx_test.iter().enumerate() {
        let want = ((r as f64 - f64::from(fit.min[0])) / f64::from(fit.scale[0])) as f32;
        assert_eq!(s.x_test[[k, 0]], want);
        assert_eq!(s.y_test[k], y[r as usize]);
    }
}

#[test]
fn deterministic_for_a_seed() {
    let n = 1500;
    let y = labels(n, 90);
    let x = features(n);
    let p = params(Protocol::Adbench, Setting::Noisy);
    let a = split(x.view(), y.view(), &p, 7).unwrap();
    let b = split(x.view(), y.view(), &p, 7).unwrap();
    assert_eq!(a.idx_train, b.idx_train);
    assert_eq!(a.idx_test, b.idx_test);
    assert_eq!(a.x_train, b.x_train);
    assert_eq!(a.y_train, b.y_train);
    assert_eq!(a.x_test, b.x_test);
    let c = split(x.view(), y.view(), &p, 8).unwrap();
    assert_ne!(a.idx_test, c.idx_test);
}

#[test]
fn clean_drops_and_noisy_keeps_unlabeled_anomalies() {
    let n = 3000;
    let y = labels(n, 300);
    let x = features(n);
    let clean = split(
        x.view(),
        y.view(),
        &params(Protocol::Adbench, Setting::Clean),
        42,
    )
    .unwrap();
    let noisy = split(
        x.view(),
        y.view(),
        &params(Protocol::Adbench, Setting::Noisy),
        42,
    )
    .unwrap();
    for s in [&clean, &noisy] {
        // labeled rows are true anomalies, and come last
        let n_lab = s.n_labeled;
        assert_eq!(s.y_train.iter().filter(|&&v| v == 1).count(), n_lab);
        let m = s.y_train.len();
        assert!(s.y_train.iter().skip(m - n_lab).all(|&v| v == 1));
        for (k, &r) in s.idx_train.iter().enumerate() {
            if s.y_train[k] == 1 {
                assert_eq!(y[r as usize], 1);
            }
        }
    }
    // 300 anomalies * 0.7 = 210 in train, 21 labeled
    assert_eq!(clean.n_labeled, 21);
    let unlabeled_true_anomalies = |s: &anoonly::protocol::Split| {
        s.idx_train
            .iter()
            .zip(s.y_train.iter())
            .filter(|&(&r, &l)| l == 0 && y[r as usize] == 1)
            .count()
    };
    assert_eq!(unlabeled_true_anomalies(&clean), 0);
    assert_eq!(clean.n_unlabeled_anomalies, 0);
    assert_eq!(unlabeled_true_anomalies(&noisy), 189);
    assert_eq!(noisy.n_unlabeled_anomalies, 189);
    // noisy order: [normals, unlabeled anomalies, labeled anomalies]
    let n_norm = noisy.y_train.len() - 189 - 21;
    assert!(noisy.idx_train[..n_norm]
        .iter()
        .all(|&r| y[r as usize] == 0));
    assert!(noisy.idx_train[n_norm..]
        .iter()
        .all(|&r| y[r as usize] == 1));
    // same normals, same labeled anomalies in both settings
    assert_eq!(clean.idx_train[..n_norm], noisy.idx_train[..n_norm]);
    assert_eq!(
        clean.idx_train[n_norm..],
        noisy.idx_train[noisy.idx_train.len() - 21..]
    );
    assert_eq!(clean.idx_test, noisy.idx_test);
}

#[test]
fn normal_ratio_keeps_the_first_normals() {
    let y = labels(5263, 263);
    let full = split_indices(y.view(), &SplitParams::default(), 42).unwrap();
    for (ratio, want) in [(1.0, 3500), (0.5, 1750), (0.1, 350), (0.333, 1166)] {
        let p = SplitParams {
            normal_ratio: ratio,
            ..SplitParams::default()
        };
        let s = split_indices(y.view(), &p, 42).unwrap();
        let n_norm = s.train.iter().filter(|&&r| y[r as usize] == 0).count();
        assert_eq!(n_norm, want, "ratio {ratio}"); // ceil(ratio * 3500)
        assert_eq!(s.train[..n_norm], full.train[..n_norm]);
        assert_eq!(s.n_labeled, 19);
        assert_eq!(s.test, full.test);
    }
}

#[test]
fn invalid_params_name_the_field() {
    let field = |p: SplitParams| match p.validate() {
        Err(ProtocolError::InvalidParam { field, .. }) => field,
        other => panic!("expected InvalidParam, got {other:?}"),
    };
    let d = SplitParams::default;
    assert!(d().validate().is_ok());
    assert_eq!(
        field(SplitParams {
            labeled: Labeled::Ratio(0.0),
            ..d()
        }),
        "gamma_la"
    );
    assert_eq!(
        field(SplitParams {
            labeled: Labeled::Ratio(1.5),
            ..d()
        }),
        "gamma_la"
    );
    assert_eq!(
        field(SplitParams {
            labeled: Labeled::Ratio(f64::NAN),
            ..d()
        }),
        "gamma_la"
    );
    assert_eq!(
        field(SplitParams {
            test_size: 1.0,
            ..d()
        }),
        "test_size"
    );
    assert_eq!(
        field(SplitParams {
            test_size: 0.0,
            ..d()
        }),
        "test_size"
    );
    assert_eq!(
        field(SplitParams {
            normal_ratio: 0.0,
            ..d()
        }),
        "normal_ratio"
    );
    assert_eq!(
        field(SplitParams {
            max_rows: Some(1),
            ..d()
        }),
        "max_rows"
    );
    assert!(SplitParams {
        labeled: Labeled::Ratio(1.0),
        ..d()
    }
    .validate()
    .is_ok());
}

#[test]
fn errors() {
    let x = features(10);
    let p = params(Protocol::LeakageFree, Setting::Clean);
    let mut y = Array1::<u8>::zeros(10);
    y[3] = 1;
    assert_eq!(
        split(x.view(), y.view(), &p, 0).unwrap_err(),
        ProtocolError::ClassTooSmall { class: 1, count: 1 }
    );
    y[5] = 1;
    assert!(split(x.view(), y.view(), &p, 0).is_ok());
    y[6] = 2;
    assert_eq!(
        split(x.view(), y.view(), &p, 0).unwrap_err(),
        ProtocolError::InvalidLabel { index: 6, value: 2 }
    );
    y[6] = 0;
    assert!(matches!(
        split(x.view(), Array1::<u8>::zeros(9).view(), &p, 0),
        Err(ProtocolError::ShapeMismatch {
            x_rows: 10,
            y_len: 9
        })
    ));
    let mut xn = x.clone();
    xn[[4, 1]] = f32::NAN;
    assert_eq!(
        split(xn.view(), y.view(), &p, 0).unwrap_err(),
        ProtocolError::NonFiniteFeature { row: 4, col: 1 }
    );
    // 4 rows, test_size 0.3 -> 2 test / 2 train is fine; 3 rows -> 1 train: too few
    let y3 = array![0u8, 1, 1];
    assert!(matches!(
        split_indices(y3.view(), &p, 0),
        Err(ProtocolError::ClassTooSmall { class: 0, count: 1 })
    ));
    let y4 = array![0u8, 1, 0, 1, 0];
    let q = SplitParams {
        test_size: 0.8,
        ..p.clone()
    };
    assert!(matches!(
        split_indices(y4.view(), &q, 0),
        Err(ProtocolError::TooFewRows {
            n_rows: 5,
            n_train: 1,
            n_test: 4
        })
    ));
}

/// Every field of two splits, bit for bit.
fn assert_same_split(a: &Split, b: &Split, what: &str) {
    assert_eq!(bits(&a.x_train), bits(&b.x_train), "{what}: x_train");
    assert_eq!(a.x_train.dim(), b.x_train.dim(), "{what}");
    assert_eq!(bits(&a.x_test), bits(&b.x_test), "{what}: x_test");
    assert_eq!(a.x_test.dim(), b.x_test.dim(), "{what}");
    assert_eq!(a.y_train, b.y_train, "{what}");
    assert_eq!(a.y_test, b.y_test, "{what}");
    assert_eq!(
        (&a.idx_train, &a.idx_test),
        (&b.idx_train, &b.idx_test),
        "{what}"
    );
    assert_eq!(a.scaler, b.scaler, "{what}");
    assert_eq!(
        (
            a.n_labeled,
            a.n_unlabeled_anomalies,
            a.n_rows_used,
            a.resampled
        ),
        (
            b.n_labeled,
            b.n_unlabeled_anomalies,
            b.n_rows_used,
            b.resampled
        ),
        "{what}"
    );
}

#[test]
fn split_owned_equals_split_in_every_case() {
    // random-looking features with a few -0.0/0.0 ties, 3 columns
    let x_of = |n: usize| {
        Array2::from_shape_fn((n, 3), |(i, j)| match (i * 7 + j * 13) % 11 {
            0 => 0.0,
            1 => -0.0,
            k => ((i * 31 + j * 17) % 97) as f32 * 0.37 - 5.0 + k as f32,
        })
    };
    let cases: Vec<(&str, usize, usize, SplitParams)> = vec![
        ("adbench, duplicated", 300, 40, SplitParams::default()),
        (
            "adbench, plain",
            3000,
            300,
            params(Protocol::Adbench, Setting::Noisy),
        ),
        (
            "subsampled",
            12000,
            700,
            SplitParams {
                max_rows: Some(5000),
                ..SplitParams::default()
            },
        ),
        (
            "leakage-free, small, normal ratio",
            300,
            40,
            SplitParams {
                protocol: Protocol::LeakageFree,
                normal_ratio: 0.3,
                ..SplitParams::default()
            },
        ),
        (
            "no cap",
            12000,
            400,
            SplitParams {
                max_rows: None,
                setting: Setting::Noisy,
                ..SplitParams::default()
            },
        ),
    ];
    for (what, n, n_anom, p) in cases {
        let (x, y) = (x_of(n), labels(n, n_anom));
        for seed in [0, 42] {
            let copied = split(x.view(), y.view(), &p, seed).unwrap();
            let owned = split_owned(x.clone(), y.clone(), &p, seed).unwrap();
            assert_same_split(&copied, &owned, &format!("{what}, seed {seed}"));
        }
    }
    // a column-major (Fortran-order) matrix takes the copying route and gives the same split
    let (x, y) = (x_of(3000), labels(3000, 300));
    let mut f = Array2::<f32>::zeros((3000, 3).f());
    f.assign(&x);
    let p = SplitParams::default();
    let owned = split_owned(f, y.clone(), &p, 5).unwrap();
    assert_same_split(
        &split(x.view(), y.view(), &p, 5).unwrap(),
        &owned,
        "F order",
    );
}

#[test]
fn split_owned_refuses_what_split_refuses() {
    let (x, mut y) = (features(300), labels(300, 40));
    y[3] = 2;
    assert_eq!(
        split_owned(x.clone(), y.clone(), &SplitParams::default(), 0).unwrap_err(),
        split(x.view(), y.view(), &SplitParams::default(), 0).unwrap_err()
    );
    let mut x = features(300);
    x[[9, 1]] = f32::NAN;
    let y = labels(300, 40);
    assert_eq!(
        split_owned(x, y, &SplitParams::default(), 0).unwrap_err(),
        ProtocolError::NonFiniteFeature { row: 9, col: 1 }
    );
}
