//! ADBench's labeled-count mode (`nla`) against ADBench's own selection: the labeled rows of
//! `data_generator.generator(la=K)` for a few counts K and for the ratio, on synthetic
//! labels, from `scripts/protocol_reference.py --nla` (numpy + scikit-learn, committed as
//! tests/fixtures/protocol_nla.json); the nesting of the sets; the refusal of a count above
//! the train anomalies; `fit --n-labeled`'s `keep_labeled`.

use anoonly::protocol::{
    keep_labeled, split_indices, Labeled, ProtocolError, Setting, SplitParams,
};
use ndarray::Array1;

/// One case of the fixture: ADBench's labeled rows (original row indices, in draw order),
/// or `None` where it raises (more labeled anomalies asked for than the train split has).
#[derive(serde::Deserialize)]
struct Case {
    n: usize,
    seed: u64,
    mode: String,
    la: f64,
    train_anomalies: usize,
    labeled: Option<Vec<u32>>,
}

#[derive(serde::Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

fn fixture() -> Vec<Case> {
    let text = include_str!("fixtures/protocol_nla.json");
    serde_json::from_str::<Fixture>(text).unwrap().cases
}

/// The labels the reference script draws: `y[i] = 1` iff `i % 7 == 3`.
fn labels(n: usize) -> Array1<u8> {
    (0..n).map(|i| u8::from(i % 7 == 3)).collect()
}

fn params(labeled: Labeled, setting: Setting) -> SplitParams {
    SplitParams {
        labeled,
        setting,
        ..SplitParams::default()
    }
}

fn labeled_of(c: &Case) -> Labeled {
    if c.mode == "count" {
        Labeled::Count(c.la as usize)
    } else {
        Labeled::Ratio(c.la)
    }
}

/// The labeled rows (original indices, in draw order) of our split: the tail of the train
/// order, in both settings.
fn our_labeled(
    n: usize,
    seed: u64,
    labeled: Labeled,
    setting: Setting,
) -> Result<Vec<u32>, ProtocolError> {
    let s = split_indices(labels(n).view(), &params(labeled, setting), seed)?;
    assert_eq!(
        s.train_labels.iter().filter(|&&l| l == 1).count(),
        s.n_labeled
    );
    Ok(s.train[s.train.len() - s.n_labeled..].to_vec())
}

#[test]
fn labeled_rows_are_adbenchs_for_counts_and_the_ratio() {
    let cases = fixture();
    assert!(cases.len() >= 30);
    for c in &cases {
        let what = format!("n {} seed {} {} {}", c.n, c.seed, c.mode, c.la);
        for setting in [Setting::Clean, Setting::Noisy] {
            let ours = our_labeled(c.n, c.seed, labeled_of(c), setting);
            match &c.labeled {
                Some(want) => assert_eq!(&ours.unwrap(), want, "{what} {setting}"),
                None => match ours {
                    Err(ProtocolError::TooFewAnomalies {
                        requested,
                        available,
                        part,
                    }) => {
                        assert_eq!((requested, available), (c.la as usize, c.train_anomalies));
                        let e = ours_err_text(requested, available, part);
                        assert_eq!(
                            e,
                            format!(
                                "n_labeled = {requested} but the train split has {} anomalies",
                                c.train_anomalies
                            )
                        );
                    }
                    other => panic!("{what}: expected TooFewAnomalies, got {other:?}"),
                },
            }
        }
    }
}

fn ours_err_text(requested: usize, available: usize, part: &'static str) -> String {
    ProtocolError::TooFewAnomalies {
        requested,
        available,
        part,
    }
    .to_string()
}

/// The sets are nested: count 5 ⊂ count 10 ⊂ the ratio's set (when it labels at least 10),
/// each a prefix of the next, and the rest of the split does not depend on the count.
#[test]
fn counts_are_nested_prefixes_of_the_ratios_draw() {
    for (n, seed) in [(300, 42), (2000, 0), (2000, 7), (5000, 3)] {
        let y = labels(n);
        let ratio =
            split_indices(y.view(), &params(Labeled::Ratio(0.1), Setting::Clean), seed).unwrap();
        let ratio_labeled = &ratio.train[ratio.train.len() - ratio.n_labeled..];
        assert!(ratio.n_labeled >= 10, "{n} {seed}: {}", ratio.n_labeled);
        let mut previous: Vec<u32> = Vec::new();
        for k in [0, 1, 5, 10] {
            let s =
                split_indices(y.view(), &params(Labeled::Count(k), Setting::Clean), seed).unwrap();
            assert_eq!(s.n_labeled, k);
            let labeled = &s.train[s.train.len() - k..];
            assert!(labeled.starts_with(&previous), "{n} {seed} {k}");
            assert_eq!(labeled, &ratio_labeled[..k], "{n} {seed} {k}");
            // Same test rows, same unlabeled train rows.
            assert_eq!(s.test, ratio.test);
            assert_eq!(
                s.train[..s.train.len() - k],
                ratio.train[..ratio.train.len() - ratio.n_labeled]
            );
            previous = labeled.to_vec();
        }
        // The ratio's own count labels exactly its set.
        let same = split_indices(
            y.view(),
            &params(Labeled::Count(ratio.n_labeled), Setting::Noisy),
            seed,
        )
        .unwrap();
        let noisy_ratio =
            split_indices(y.view(), &params(Labeled::Ratio(0.1), Setting::Noisy), seed).unwrap();
        assert_eq!(same.train, noisy_ratio.train);
        assert_eq!(same.train_labels, noisy_ratio.train_labels);
    }
}

/// `fit --n-labeled`: `n` of the file's anomalies stay labeled, drawn as the split draws
/// them (the first `n` of one permutation: nested), the others become unlabeled rows.
#[test]
fn keep_labeled_keeps_a_nested_draw_and_refuses_too_many() {
    let y = labels(700);
    let n_anomalies = y.iter().filter(|&&v| v == 1).count();
    let mut previous = Array1::<u8>::zeros(y.len());
    for k in [0, 1, 5, 10, n_anomalies] {
        let kept = keep_labeled(y.view(), k, 3).unwrap();
        assert_eq!(kept.iter().filter(|&&v| v == 1).count(), k);
        for i in 0..y.len() {
            assert!(kept[i] <= y[i], "a normal row was labeled");
            assert!(kept[i] >= previous[i], "{k}: not nested");
        }
        previous = kept;
    }
    assert_eq!(previous, y);
    assert_ne!(
        keep_labeled(y.view(), 5, 3).unwrap(),
        keep_labeled(y.view(), 5, 4).unwrap()
    );
    let e = keep_labeled(y.view(), n_anomalies + 1, 3).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "n_labeled = {} but the file has {n_anomalies} anomalies",
            n_anomalies + 1
        )
    );
    let bad = Array1::from(vec![0u8, 2, 1]);
    assert!(matches!(
        keep_labeled(bad.view(), 1, 0),
        Err(ProtocolError::InvalidLabel { index: 1, value: 2 })
    ));
}

/// Records and split parameters spell a ratio as they always did (`"gamma_la":0.1`) and a
/// count as `"n_labeled_requested":10`, and read both back; both or neither is refused.
#[test]
fn the_mode_serialises_in_place_of_gamma_la() {
    let json = serde_json::to_string(&SplitParams::default()).unwrap();
    assert_eq!(
        json,
        r#"{"protocol":"adbench","setting":"clean","gamma_la":0.1,"test_size":0.3,"min_rows":1000,"max_rows":10000,"normal_ratio":1.0}"#
    );
    let count = serde_json::to_string(&params(Labeled::Count(10), Setting::Clean)).unwrap();
    assert!(
        count.contains(r#""setting":"clean","n_labeled_requested":10,"test_size""#),
        "{count}"
    );
    for (text, want) in [
        (r#"{"gamma_la":0.25}"#, Ok(Labeled::Ratio(0.25))),
        (r#"{"n_labeled_requested":5}"#, Ok(Labeled::Count(5))),
        (
            r#"{"gamma_la":0.1,"n_labeled_requested":5}"#,
            Err("exclusive"),
        ),
        (r#"{}"#, Err("missing field `gamma_la`")),
    ] {
        match (serde_json::from_str::<Labeled>(text), want) {
            (Ok(got), Ok(want)) => assert_eq!(got, want),
            (Err(e), Err(want)) => assert!(e.to_string().contains(want), "{e}"),
            (got, want) => panic!("{text}: {got:?} against {want:?}"),
        }
    }
    assert_eq!(Labeled::Ratio(0.1).to_string(), "gamma_la=0.1");
    assert_eq!(Labeled::Count(10).to_string(), "n_labeled=10");
    assert!(Labeled::from_options(Some(0.1), Some(3)).is_err());
    assert_eq!(
        Labeled::from_options(None, None),
        Ok(SplitParams::default().labeled)
    );
}
