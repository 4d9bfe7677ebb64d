//! One test per `DataError` variant (several inputs where the variant has several causes):
//! the variant is asserted, and the message must name the file.

mod data_util;

use anoonly::data::{load, load_features, DataError, Dataset, LoadOptions};
use data_util::*;
use ndarray::array;
use std::path::{Path, PathBuf};

fn opts() -> LoadOptions {
    LoadOptions::default()
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Loads `path` (with `load`) expecting an error; checks the message names the file and
/// returns the error and its message.
fn fail(path: &Path, o: &LoadOptions) -> (DataError, String) {
    let e = load(path, o).expect_err("should fail");
    let msg = e.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "message does not name the file: {msg}"
    );
    eprintln!("{msg}");
    (e, msg)
}

fn npz(dir: &Path, entries: &[(&str, Vec<u8>)]) -> PathBuf {
    write_npz(dir, "t.npz", entries, Method::Deflated)
}

#[test]
fn io_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let (e, _) = fail(&dir.path().join("absent.npz"), &opts());
    assert!(matches!(e, DataError::Io { .. }), "{e:?}");
}

#[test]
fn unsupported_format() {
    let dir = tempfile::tempdir().unwrap();
    let (e, m) = fail(&write(dir.path(), "a.txt", "1,2"), &opts());
    assert!(matches!(e, DataError::UnsupportedFormat { .. }), "{e:?}");
    assert!(m.contains("\"txt\""));
}

#[test]
fn invalid_options() {
    let dir = tempfile::tempdir().unwrap();
    let p = npz(dir.path(), &good_entries());
    let o = LoadOptions {
        labels: Some(dir.path().join("y.npy")),
        ..LoadOptions::default()
    };
    let (e, _) = fail(&p, &o);
    assert!(matches!(e, DataError::InvalidOptions { .. }), "{e:?}");
    let o = LoadOptions {
        label_column: Some("y".into()),
        ..LoadOptions::default()
    };
    let (e, _) = fail(&p, &o);
    assert!(matches!(e, DataError::InvalidOptions { .. }), "{e:?}");
}

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["e.npz", "e_X.npy", "e.csv"] {
        let (e, _) = fail(&write(dir.path(), name, ""), &opts());
        assert!(matches!(e, DataError::EmptyFile { .. }), "{name}: {e:?}");
    }
}

#[test]
fn bad_npy() {
    let dir = tempfile::tempdir().unwrap();
    let x = npy("<f4", false, "(1, 1)", &f32s(&[1.]));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("bad magic", b"PK\x03\x04 not npy at all".to_vec()),
        ("short", b"\x93NUM".to_vec()),
        ("version 9", {
            let mut b = x.clone();
            b[6] = 9;
            b
        }),
        (
            "no shape key",
            npy_versioned(1, "{'descr': '<f4', 'fortran_order': False}", &[0; 4]),
        ),
        (
            "malformed",
            npy_versioned(
                1,
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1}",
                &[0; 4],
            ),
        ),
        (
            "negative dim",
            npy_versioned(
                1,
                "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 1)}",
                &[0; 4],
            ),
        ),
        (
            "bad bool",
            npy_versioned(
                1,
                "{'descr': '<f4', 'fortran_order': 0, 'shape': (1, 1)}",
                &[0; 4],
            ),
        ),
        (
            "deep nesting",
            npy_versioned(
                1,
                &format!(
                    "{{'descr': '<f4', 'shape': {}1{} }}",
                    "(".repeat(5000),
                    ")".repeat(5000)
                ),
                &[],
            ),
        ),
        ("header cut", x[..30].to_vec()),
        (
            "non-ascii header",
            npy_versioned(
                1,
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), 'é': 1}",
                &[0; 4],
            ),
        ),
    ];
    for (what, bytes) in cases {
        let p = write(dir.path(), "b_X.npy", &bytes);
        let (e, m) = fail(&p, &opts());
        assert!(matches!(e, DataError::BadNpy { .. }), "{what}: {e:?}");
        if what == "no shape key" {
            assert!(m.contains("\"shape\""), "{m}");
        }
    }
}

#[test]
fn header_too_long() {
    let dir = tempfile::tempdir().unwrap();
    // v2 header claiming 1 GiB of header text; the file is tiny.
    let mut b = b"\x93NUMPY\x02\x00".to_vec();
    b.extend_from_slice(&(1u32 << 30).to_le_bytes());
    b.extend_from_slice(b"{'descr': '<f4'");
    let (e, _) = fail(&write(dir.path(), "h_X.npy", &b), &opts());
    assert!(matches!(e, DataError::HeaderTooLong { .. }), "{e:?}");
}

#[test]
fn unsupported_dtype() {
    let dir = tempfile::tempdir().unwrap();
    for d in ["<c8", "<U3", "<f2", "|O", "<M8[ns]", "<i16"] {
        let p = write(dir.path(), "d_X.npy", npy(d, false, "(1, 1)", &[0; 16]));
        let (e, m) = fail(&p, &opts());
        assert!(
            matches!(e, DataError::UnsupportedDtype { .. }),
            "{d}: {e:?}"
        );
        assert!(m.contains(d), "{m}");
    }
    // structured dtype (a list as descr), in y of an npz
    let mut entries = good_entries();
    entries[1].1 = npy_versioned(
        1,
        "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }",
        &[0; 12],
    );
    let (e, m) = fail(&npz(dir.path(), &entries), &opts());
    assert!(matches!(e, DataError::UnsupportedDtype { .. }), "{e:?}");
    assert!(m.contains("y.npy"), "{m}");
}

#[test]
fn bad_shape() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "s_X.npy",
        npy("<f4", false, "(1, 1, 1)", &[0; 4]),
    );
    assert!(matches!(fail(&p, &opts()).0, DataError::BadShape { .. }));
    let p = write(dir.path(), "s_X.npy", npy("<f4", false, "(4,)", &[0; 16]));
    assert!(matches!(fail(&p, &opts()).0, DataError::BadShape { .. }));
    let mut entries = good_entries();
    entries[1].1 = npy("<i8", false, "(3, 2)", &labels_i8(&[0, 1, 0, 1, 0, 1]));
    let (e, m) = fail(&npz(dir.path(), &entries), &opts());
    assert!(matches!(e, DataError::BadShape { .. }), "{e:?}");
    assert!(m.contains("y.npy"), "{m}");
    // element count overflowing u64
    let p = write(
        dir.path(),
        "s_X.npy",
        npy(
            "<f8",
            false,
            "(18446744073709551615, 18446744073709551615)",
            &[0; 8],
        ),
    );
    assert!(matches!(fail(&p, &opts()).0, DataError::BadShape { .. }));
}

#[test]
fn truncated_and_huge_shape_fails_fast() {
    let dir = tempfile::tempdir().unwrap();
    // .npy claiming 10^9 x 10^3 f8 (8 TB) with 16 bytes of data
    let p = write(
        dir.path(),
        "t_X.npy",
        npy("<f8", false, "(1000000000, 1000)", &[0; 16]),
    );
    let (e, m) = fail(&p, &opts());
    assert!(matches!(e, DataError::Truncated { .. }), "{e:?}");
    assert!(
        m.contains("8000000000000") && m.contains("16 available"),
        "{m}"
    );
    // one element short
    let p = write(
        dir.path(),
        "t_X.npy",
        npy("<f4", false, "(2, 2)", &f32s(&[1., 2., 3.])),
    );
    assert!(matches!(fail(&p, &opts()).0, DataError::Truncated { .. }));
    // inside an npz whose entry sizes are honest
    let mut entries = good_entries();
    entries[0].1 = npy("<f4", false, "(100000000, 512)", &f32s(&[1., 2.]));
    let (e, m) = fail(&npz(dir.path(), &entries), &opts());
    assert!(matches!(e, DataError::Truncated { .. }), "{e:?}");
    assert!(m.contains("X.npy"), "{m}");
}

#[test]
fn zip_corrupt_truncated_or_lying() {
    let dir = tempfile::tempdir().unwrap();
    // not a zip
    let (e, _) = fail(
        &write(dir.path(), "z.npz", b"definitely not a zip file"),
        &opts(),
    );
    assert!(matches!(e, DataError::Zip { .. }), "{e:?}");
    // cut in half
    let full = npz_bytes(&good_entries(), Method::Deflated);
    let (e, _) = fail(
        &write(dir.path(), "z.npz", &full[..full.len() / 2]),
        &opts(),
    );
    assert!(matches!(e, DataError::Zip { .. }), "{e:?}");
    // huge declared uncompressed size (deflated and stored entries): refused before reading
    for method in [Method::Deflated, Method::Stored] {
        let mut b = npz_bytes(&good_entries(), method);
        patch_uncompressed_size(&mut b, 0xFFFF_FF00);
        let (e, _) = fail(&write(dir.path(), "z.npz", &b), &opts());
        assert!(matches!(e, DataError::Zip { .. }), "{e:?}");
    }
    // corrupted compressed data / CRC
    let mut b = npz_bytes(&good_entries(), Method::Stored);
    // Stored entry: flip a byte of the first f32 of X (data after the 128-byte NPY header);
    // the value stays finite, only the CRC check can catch it.
    let lh = find_sig(&b, 0x0403_4b50)[0];
    let name_len = u16::from_le_bytes([b[lh + 26], b[lh + 27]]) as usize;
    let extra_len = u16::from_le_bytes([b[lh + 28], b[lh + 29]]) as usize;
    let at = lh + 30 + name_len + extra_len + 128 + 1;
    b[at] ^= 0xFF;
    let (e, m) = fail(&write(dir.path(), "z.npz", &b), &opts());
    assert!(matches!(e, DataError::Zip { .. }), "{e:?}");
    assert!(m.contains("X.npy"), "{m}");
}

#[test]
fn missing_key_lists_entries() {
    let dir = tempfile::tempdir().unwrap();
    let p = npz(dir.path(), &[("features.npy", good_entries()[0].1.clone())]);
    let (e, m) = fail(&p, &opts());
    assert!(matches!(e, DataError::MissingKey { .. }), "{e:?}");
    assert!(m.contains("\"X.npy\"") && m.contains("features.npy"), "{m}");
    // y.npy required by load, optional for load_features
    let p = npz(dir.path(), &good_entries()[..1]);
    let (e, m) = fail(&p, &opts());
    assert!(matches!(e, DataError::MissingKey { .. }), "{e:?}");
    assert!(m.contains("\"y.npy\"") && m.contains("X.npy"), "{m}");
    assert_eq!(load_features(&p, &opts()).unwrap().y, None);
}

#[test]
fn missing_labels_for_npy() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "X.npy", &good_entries()[0].1);
    let (e, m) = fail(&p, &opts());
    assert!(matches!(e, DataError::MissingLabels { .. }), "{e:?}");
    assert!(m.contains("y.npy"), "{m}");
    // no naming rule: nothing to look for, still a clear error
    let p = write(dir.path(), "feat.npy", &good_entries()[0].1);
    assert!(matches!(
        fail(&p, &opts()).0,
        DataError::MissingLabels { .. }
    ));
}

#[test]
fn no_rows() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "r_X.npy", npy("<f4", false, "(0, 3)", &[]));
    assert!(matches!(fail(&p, &opts()).0, DataError::NoRows { .. }));
    let p = write(dir.path(), "r.csv", "a,b,y\n");
    assert!(matches!(fail(&p, &opts()).0, DataError::NoRows { .. }));
    assert!(matches!(
        Dataset::new(
            "d",
            ndarray::Array2::zeros((0, 2)),
            ndarray::Array1::zeros(0)
        ),
        Err(DataError::NoRows { .. })
    ));
}

#[test]
fn no_columns() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "c_X.npy", npy("<f4", false, "(3, 0)", &[]));
    assert!(matches!(fail(&p, &opts()).0, DataError::NoColumns { .. }));
    let p = write(dir.path(), "c.csv", "y\n1\n0\n");
    assert!(matches!(fail(&p, &opts()).0, DataError::NoColumns { .. }));
}

#[test]
fn non_finite_names_row_and_column_of_the_first() {
    let dir = tempfile::tempdir().unwrap();
    // C order: NaN at (1, 0) and Inf at (2, 1): first is (1, 0)
    let mut entries = good_entries();
    entries[0].1 = npy(
        "<f4",
        false,
        "(3, 2)",
        &f32s(&[1., 2., f32::NAN, 4., 5., f32::INFINITY]),
    );
    let (e, m) = fail(&npz(dir.path(), &entries), &opts());
    assert!(
        matches!(
            e,
            DataError::NonFinite {
                row: 1,
                column: 0,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(m.contains("row 1, column 0"), "{m}");
    // Fortran order: file order is column-major; the first in row order is reported:
    // X = [[1, NaN], [Inf, 4], [5, 6]] -> file order 1, Inf, 5, NaN, 4, 6 -> first is (0, 1)
    entries[0].1 = npy(
        "<f8",
        true,
        "(3, 2)",
        &f64s(&[1., f64::INFINITY, 5., f64::NAN, 4., 6.]),
    );
    let (e, _) = fail(&npz(dir.path(), &entries), &opts());
    assert!(
        matches!(
            e,
            DataError::NonFinite {
                row: 0,
                column: 1,
                ..
            }
        ),
        "{e:?}"
    );
    // f8 too large for f32: the stored value is reported
    entries[0].1 = npy("<f8", false, "(3, 2)", &f64s(&[1., 2., 3., 4., 5., 1e300]));
    let (e, m) = fail(&npz(dir.path(), &entries), &opts());
    assert!(
        matches!(
            e,
            DataError::NonFinite {
                row: 2,
                column: 1,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(m.contains("1e300"), "{m}");
    // CSV: line and column name
    let p = write(dir.path(), "n.csv", "a,b,y\n1,2,0\n3,nan,1\n");
    let (e, m) = fail(&p, &opts());
    assert!(
        matches!(
            e,
            DataError::NonFinite {
                row: 1,
                column: 1,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(m.contains("line 3") && m.contains("\"b\""), "{m}");
    // in memory
    assert!(matches!(
        Dataset::new("d", array![[1f32, f32::NAN]], array![1u8]),
        Err(DataError::NonFinite {
            row: 0,
            column: 1,
            ..
        })
    ));
}

#[test]
fn length_mismatch_gives_both_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = good_entries();
    entries[1].1 = npy("<i8", false, "(4,)", &labels_i8(&[0, 1, 0, 0]));
    let (e, m) = fail(&npz(dir.path(), &entries), &opts());
    assert!(
        matches!(
            e,
            DataError::LengthMismatch {
                x_rows: 3,
                y_len: 4,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(m.contains('3') && m.contains('4'), "{m}");
    assert!(matches!(
        Dataset::new("d", array![[1f32]], array![1u8, 0]),
        Err(DataError::LengthMismatch { .. })
    ));
}

#[test]
fn bad_label_gives_row_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = good_entries();
    entries[1].1 = npy("<i8", false, "(3,)", &labels_i8(&[0, 2, -1]));
    let (e, m) = fail(&npz(dir.path(), &entries), &opts());
    assert!(matches!(e, DataError::BadLabel { row: 1, .. }), "{e:?}");
    assert!(m.contains("label 2 at row 1"), "{m}");
    entries[1].1 = npy("<f8", false, "(3,)", &f64s(&[0., 1., 0.5]));
    let (e, m) = fail(&npz(dir.path(), &entries), &opts());
    assert!(matches!(e, DataError::BadLabel { row: 2, .. }), "{e:?}");
    assert!(m.contains("0.5"), "{m}");
    let p = write(dir.path(), "l.csv", "a,y\n1,0\n2,anomaly\n");
    let (e, m) = fail(&p, &opts());
    assert!(matches!(e, DataError::BadLabel { row: 1, .. }), "{e:?}");
    assert!(m.contains("anomaly") && m.contains("line 3"), "{m}");
    assert!(matches!(
        Dataset::new("d", array![[1f32]], array![3u8]),
        Err(DataError::BadLabel { .. })
    ));
}

#[test]
fn no_anomaly() {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = good_entries();
    entries[1].1 = npy("<i8", false, "(3,)", &labels_i8(&[0, 0, 0]));
    let (e, _) = fail(&npz(dir.path(), &entries), &opts());
    assert!(matches!(e, DataError::NoAnomaly { n_rows: 3, .. }), "{e:?}");
}

#[test]
fn ragged_row() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "g.csv", "a,b,y\n1,2,0\n3,1\n");
    let (e, m) = fail(&p, &opts());
    assert!(
        matches!(
            e,
            DataError::RaggedRow {
                line: 3,
                row: 1,
                expected: 3,
                found: 2,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(m.contains("line 3"), "{m}");
}

#[test]
fn non_numeric_cell() {
    let dir = tempfile::tempdir().unwrap();
    for (text, cell) in [
        ("a,b,y\n1,2,0\n3,x7,1\n", "x7"),
        ("a,b,y\n1,2,0\n3,,1\n", ""),
    ] {
        let p = write(dir.path(), "v.csv", text);
        let (e, m) = fail(&p, &opts());
        assert!(
            matches!(
                e,
                DataError::NonNumeric {
                    line: 3,
                    row: 1,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(
            m.contains("\"b\"") && m.contains(&format!("{cell:?}")),
            "{m}"
        );
    }
}

#[test]
fn missing_label_column_lists_header() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "m.csv", "a,b\n1,2\n");
    let (e, m) = fail(&p, &opts());
    assert!(matches!(e, DataError::MissingLabelColumn { .. }), "{e:?}");
    assert!(m.contains("[\"a\", \"b\"]"), "{m}");
    let o = LoadOptions {
        label_column: Some("cls".into()),
        ..LoadOptions::default()
    };
    let (e, m) = fail(&p, &o);
    assert!(matches!(e, DataError::MissingLabelColumn { .. }), "{e:?}");
    assert!(m.contains("\"cls\""), "{m}");
    // an explicitly named column must exist for load_features too
    assert!(load_features(&p, &o).is_err());
}

#[test]
fn ambiguous_label_column() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "a.csv", "f,y,label\n1,0,0\n");
    assert!(matches!(
        fail(&p, &opts()).0,
        DataError::AmbiguousLabelColumn { .. }
    ));
}

#[test]
fn csv_level_error() {
    let dir = tempfile::tempdir().unwrap();
    // invalid UTF-8 in the header
    let p = write(dir.path(), "u.csv", b"a,\xff\xfe,y\n1,2,1\n");
    assert!(matches!(fail(&p, &opts()).0, DataError::Csv { .. }));
    // duplicated label column
    let p = write(dir.path(), "u.csv", "y,a,y\n1,2,1\n");
    assert!(matches!(fail(&p, &opts()).0, DataError::Csv { .. }));
}

/// Arbitrary garbage (including mutations of valid files) must give an error, never a panic.
#[test]
fn mutated_files_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let npz_good = npz_bytes(&good_entries(), Method::Stored);
    let npy_good = good_entries()[0].1.clone();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..400 {
        for (name, good) in [("f.npz", &npz_good), ("f_X.npy", &npy_good)] {
            let mut b = good.clone();
            match round % 3 {
                0 => {
                    let i = (next() as usize) % b.len();
                    b[i] = next() as u8;
                }
                1 => {
                    let n = (next() as usize) % b.len();
                    b.truncate(n);
                }
                _ => {
                    for _ in 0..4 {
                        let i = (next() as usize) % b.len();
                        b[i] = next() as u8;
                    }
                }
            }
            let p = write(dir.path(), name, &b);
            // No panic (the point), and a refusal names the file.
            if let Err(e) = load_features(&p, &opts()) {
                let msg = e.to_string();
                assert!(msg.contains(name), "round {round}, {name}: {msg}");
            }
        }
    }
}
