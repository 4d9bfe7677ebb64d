//! Hand-computed metric values (arithmetic in the comments), incl. tied scores, and the
//! perfect / inverted / constant scorers. Cross-checked once against scikit-learn.

use anoonly::metrics::{
    aucpr, aucpr_normal, aucpr_normal_official, aucroc, average_precision, evaluate, MetricError,
};

const EPS: f64 = 1e-12;

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < EPS, "{a} != {b}");
}

// y = [A, N, A, N, N], s = [0.9, 0.9, 0.5, 0.5, 0.1]: two tied groups, each with 1 A + 1 N.
const Y_TIES: [u8; 5] = [1, 0, 1, 0, 0];
const S_TIES: [f32; 5] = [0.9, 0.9, 0.5, 0.5, 0.1];

#[test]
fn aucroc_with_ties() {
    // P = 2, N = 3, 6 pairs.
    // A@0.9: vs N@0.9 tie (1/2), vs N@0.5 win, vs N@0.1 win  -> 2.5
    // A@0.5: vs N@0.9 loss,      vs N@0.5 tie (1/2), vs N@0.1 win -> 1.5
    // AUC = (2.5 + 1.5) / 6 = 2/3
    close(aucroc(&Y_TIES, &S_TIES).unwrap(), 2.0 / 3.0);
}

#[test]
fn aucpr_with_ties() {
    // thresholds (decreasing), anomalies positive, P = 2:
    // 0.9 {A,N}: TP 1, FP 1, R 1/2, P 1/2 -> (1/2 - 0) * 1/2   = 1/4
    // 0.5 {A,N}: TP 2, FP 2, R 1,   P 1/2 -> (1 - 1/2) * 1/2   = 1/4
    // 0.1 {N}:   R unchanged                                    = 0
    // AP = 1/2 (the trapezoidal PR area would differ)
    close(aucpr(&Y_TIES, &S_TIES).unwrap(), 0.5);
    let positive: Vec<bool> = Y_TIES.iter().map(|&v| v == 1).collect();
    close(average_precision(&positive, &S_TIES).unwrap(), 0.5);
}

#[test]
fn aucpr_normal_with_ties() {
    // normals positive (3), score negated: -0.1 {N}, -0.5 {A,N}, -0.9 {A,N}
    // -0.1: TP 1, FP 0, R 1/3, P 1   -> 1/3
    // -0.5: TP 2, FP 1, R 2/3, P 2/3 -> 1/3 * 2/3 = 2/9
    // -0.9: TP 3, FP 2, R 1,   P 3/5 -> 1/3 * 3/5 = 1/5
    // AP = 1/3 + 2/9 + 1/5 = 34/45
    close(aucpr_normal(&Y_TIES, &S_TIES).unwrap(), 34.0 / 45.0);
}

#[test]
fn aucpr_normal_official_with_ties() {
    // normals positive (3), score NOT negated: 0.9 {A,N}, 0.5 {A,N}, 0.1 {N}
    // 0.9: TP 1, FP 1, R 1/3, P 1/2 -> 1/6
    // 0.5: TP 2, FP 2, R 2/3, P 1/2 -> 1/6
    // 0.1: TP 3, FP 2, R 1,   P 3/5 -> 1/5
    // AP = 1/6 + 1/6 + 1/5 = 8/15
    close(aucpr_normal_official(&Y_TIES, &S_TIES).unwrap(), 8.0 / 15.0);
}

#[test]
fn perfect_scorer() {
    let y = [1u8, 1, 0, 0, 0];
    let s = [5.0f32, 4.0, 3.0, 2.0, 1.0];
    let m = evaluate(&y, &s).unwrap();
    close(m.aucroc, 1.0);
    close(m.aucpr, 1.0);
    close(m.aucpr_normal, 1.0);
    // official (sign error), normals positive in order A A N N N:
    // N@3: TP 1 FP 2 R 1/3 P 1/3 -> 1/9; N@2: TP 2 FP 2 R 2/3 P 1/2 -> 1/6;
    // N@1: TP 3 FP 2 R 1 P 3/5 -> 1/5; sum = 10/90 + 15/90 + 18/90 = 43/90
    close(m.aucpr_normal_official, 43.0 / 90.0);
}

#[test]
fn inverted_scorer() {
    let y = [1u8, 1, 0, 0, 0];
    let s = [1.0f32, 2.0, 3.0, 4.0, 5.0];
    let m = evaluate(&y, &s).unwrap();
    close(m.aucroc, 0.0);
    // order N N N A A: A@2: TP 1 FP 3 R 1/2 P 1/4 -> 1/8; A@1: TP 2 FP 3 R 1 P 2/5 -> 1/5
    // AP = 1/8 + 1/5 = 13/40
    close(m.aucpr, 13.0 / 40.0);
    // negated: A A N N N with normals positive -> same arithmetic as the official perfect case
    close(m.aucpr_normal, 43.0 / 90.0);
    // official: normals come first -> 1
    close(m.aucpr_normal_official, 1.0);
}

#[test]
fn constant_scorer() {
    // one threshold: AUC = 1/2, AP = prevalence of the positive class
    let y = [1u8, 1, 0, 0, 0];
    let s = [3.0f32; 5];
    let m = evaluate(&y, &s).unwrap();
    close(m.aucroc, 0.5);
    close(m.aucpr, 2.0 / 5.0);
    close(m.aucpr_normal, 3.0 / 5.0);
    close(m.aucpr_normal_official, 3.0 / 5.0);
}

#[test]
fn signed_zeros_are_one_threshold() {
    // -0.0 == 0.0: one tied group -> AUC 1/2
    let y = [1u8, 0];
    close(aucroc(&y, &[-0.0, 0.0]).unwrap(), 0.5);
    close(aucroc(&y, &[0.0, -0.0]).unwrap(), 0.5);
}

#[test]
fn order_of_samples_does_not_matter() {
    let y = [0u8, 0, 1, 0, 1];
    let s = [0.5f32, 0.1, 0.9, 0.9, 0.5];
    let a = evaluate(&y, &s).unwrap();
    let b = evaluate(&Y_TIES, &S_TIES).unwrap();
    for (u, v) in [
        (a.aucroc, b.aucroc),
        (a.aucpr, b.aucpr),
        (a.aucpr_normal, b.aucpr_normal),
        (a.aucpr_normal_official, b.aucpr_normal_official),
    ] {
        close(u, v);
    }
}

#[test]
fn errors() {
    assert!(matches!(
        aucroc(&[1, 1, 1], &[0.1, 0.2, 0.3]),
        Err(MetricError::SingleClass)
    ));
    assert!(matches!(
        aucpr(&[0, 0], &[0.1, 0.2]),
        Err(MetricError::SingleClass)
    ));
    assert!(matches!(
        aucroc(&[1, 0, 0], &[0.1, f32::NAN, 0.3]),
        Err(MetricError::NonFiniteScore { index: 1 })
    ));
    assert!(matches!(
        aucpr(&[1, 0, 0], &[0.1, 0.2, f32::INFINITY]),
        Err(MetricError::NonFiniteScore { index: 2 })
    ));
    assert!(matches!(
        evaluate(&[1, 0], &[0.1]),
        Err(MetricError::LengthMismatch {
            labels: 2,
            scores: 1
        })
    ));
    assert!(matches!(evaluate(&[], &[]), Err(MetricError::Empty)));
    assert!(matches!(
        evaluate(&[1, 0, 2], &[0.1, 0.2, 0.3]),
        Err(MetricError::InvalidLabel { index: 2, value: 2 })
    ));
    // AP with only positives is defined (= 1)
    close(average_precision(&[true, true], &[0.3, 0.1]).unwrap(), 1.0);
}

#[test]
fn large_input_is_fast_and_sane() {
    // 200k samples: O(n log n); anomalies score higher on average
    let n = 200_000usize;
    let y: Vec<u8> = (0..n).map(|i| u8::from(i % 20 == 0)).collect();
    let s: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 + if i % 20 == 0 { 0.5 } else { 0.0 })
        .collect();
    let m = evaluate(&y, &s).unwrap();
    assert!(m.aucroc > 0.7 && m.aucroc <= 1.0);
    assert!(m.aucpr > 0.05 && m.aucpr <= 1.0);
}
