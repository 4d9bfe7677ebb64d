//! Format coverage of `anoonly::data` on tiny hand-built `.npy`, `.npz` and `.csv` files,
//! written to a temporary folder: every dtype, both memory orders, header versions, label
//! lookup, names. Error cases are in `data_errors.rs`.

mod data_util;

use anoonly::data::{load, load_features, Dataset, LoadOptions};
use data_util::*;
use ndarray::{array, Array2};

fn opts() -> LoadOptions {
    LoadOptions::default()
}

/// The values 1..=6 in `descr`, as raw bytes in file order.
fn one_to_six(descr: &str) -> Vec<u8> {
    let vals = [1i64, 2, 3, 4, 5, 6];
    vals.iter().flat_map(|v| encode(descr, *v as f64)).collect()
}

#[test]
fn every_feature_dtype_c_order() {
    let dtypes = [
        "<f4", "<f8", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8", "|b1", ">f4", ">f8",
        ">i2", ">i4", ">i8", ">u2", "<i1", "|f8",
    ];
    for d in dtypes {
        let dir = tempfile::tempdir().unwrap();
        let vals: Vec<u8> = if d.ends_with("b1") {
            [1u8, 0, 1, 1, 0, 0].to_vec()
        } else {
            one_to_six(d)
        };
        let p = write_npz(
            dir.path(),
            "t.npz",
            &[
                ("X.npy", npy(d, false, "(2, 3)", &vals)),
                ("y.npy", npy("<i8", false, "(2,)", &labels_i8(&[0, 1]))),
            ],
            Method::Deflated,
        );
        let ds = load(&p, &opts()).unwrap_or_else(|e| panic!("{d}: {e}"));
        let want: Array2<f32> = if d.ends_with("b1") {
            array![[1., 0., 1.], [1., 0., 0.]]
        } else {
            array![[1., 2., 3.], [4., 5., 6.]]
        };
        assert_eq!(ds.x, want, "dtype {d}");
    }
}

#[test]
fn fortran_order_places_elements_column_major() {
    for d in ["<f4", "<f8", "<i2", "|u1", "<i8"] {
        let dir = tempfile::tempdir().unwrap();
        // File order 1..6 with shape (2, 3), Fortran: column 0 = [1, 2], column 1 = [3, 4], ...
        let p = dir.path().join("F_X.npy");
        std::fs::write(&p, npy(d, true, "(2, 3)", &one_to_six(d))).unwrap();
        let f = load_features(&p, &opts()).unwrap();
        assert_eq!(f.x, array![[1., 3., 5.], [2., 4., 6.]], "dtype {d}");
        assert!(f.x.is_standard_layout());
        assert_eq!(f.y, None);
        assert_eq!(f.name, "F");
    }
    // Degenerate Fortran shapes (one row, one column) and a taller one.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a_X.npy");
    std::fs::write(&p, npy("<f8", true, "(1, 3)", &one_to_six("<f8")[..24])).unwrap();
    assert_eq!(load_features(&p, &opts()).unwrap().x, array![[1., 2., 3.]]);
    std::fs::write(&p, npy("<f8", true, "(3, 1)", &one_to_six("<f8")[..24])).unwrap();
    assert_eq!(
        load_features(&p, &opts()).unwrap().x,
        array![[1.], [2.], [3.]]
    );
    std::fs::write(&p, npy("<f8", true, "(3, 2)", &one_to_six("<f8"))).unwrap();
    assert_eq!(
        load_features(&p, &opts()).unwrap().x,
        array![[1., 4.], [2., 5.], [3., 6.]]
    );
}

#[test]
fn fortran_order_larger_than_one_chunk() {
    // 70 000 x 3 f8 = 1.68 MB, several read chunks; value = 10 * row + column.
    let (n, d) = (70_000usize, 3usize);
    let mut raw = Vec::with_capacity(n * d * 8);
    for j in 0..d {
        for i in 0..n {
            raw.extend_from_slice(&((10 * i + j) as f64).to_le_bytes());
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let p = write_npz(
        dir.path(),
        "big.npz",
        &[
            ("X.npy", npy("<f8", true, &format!("({n}, {d})"), &raw)),
            (
                "y.npy",
                npy("<i8", false, &format!("({n},)"), &labels_i8(&vec![1; n])),
            ),
        ],
        Method::Deflated,
    );
    let ds = load(&p, &opts()).unwrap();
    for (i, j) in [
        (0, 0),
        (0, 2),
        (1, 1),
        (32_767, 2),
        (32_768, 0),
        (69_999, 2),
    ] {
        assert_eq!(ds.x[[i, j]], (10 * i + j) as f32, "X[{i}, {j}]");
    }
}

#[test]
fn header_versions_2_and_3_and_python2_longs() {
    let dir = tempfile::tempdir().unwrap();
    for (version, shape) in [(2u8, "(2, 3)"), (3, "(2, 3)"), (1, "(2L, 3L)")] {
        let p = dir.path().join("v_X.npy");
        std::fs::write(
            &p,
            npy_versioned(
                version,
                "{'descr': '<f4', 'fortran_order': False, 'shape': SHAPE, }"
                    .replace("SHAPE", shape)
                    .as_str(),
                &one_to_six("<f4"),
            ),
        )
        .unwrap();
        let f = load_features(&p, &opts()).unwrap_or_else(|e| panic!("v{version}: {e}"));
        assert_eq!(f.x, array![[1., 2., 3.], [4., 5., 6.]]);
    }
}

#[test]
fn stored_npz_is_accepted_and_extra_entries_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_npz(
        dir.path(),
        "CIFAR10_0.npz",
        &[
            ("X.npy", npy("<f4", false, "(2, 3)", &one_to_six("<f4"))),
            ("y.npy", npy("<i4", false, "(2,)", &labels_i4(&[1, 0]))),
            ("meta.npy", npy("<f4", false, "(1,)", &1f32.to_le_bytes())),
        ],
        Method::Stored,
    );
    let ds = load(&p, &opts()).unwrap();
    assert_eq!(ds.name, "CIFAR10_0");
    assert_eq!(ds.y, array![1u8, 0]);
    assert_eq!((ds.n_rows(), ds.n_features(), ds.n_anomalies()), (2, 3, 1));
}

#[test]
fn every_label_dtype_and_column_shape() {
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("<i8", "(3,)", labels_i8(&[0, 1, 1])),
        ("<i4", "(3,)", labels_i4(&[0, 1, 1])),
        ("|u1", "(3,)", vec![0, 1, 1]),
        ("|b1", "(3,)", vec![0, 1, 1]),
        (
            "<f8",
            "(3,)",
            [0f64, 1., 1.]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
        (
            "<f4",
            "(3, 1)",
            [0f32, 1., 1.]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
        ("<i8", "(3, 1)", labels_i8(&[0, 1, 1])),
    ];
    for (d, shape, raw) in cases {
        let dir = tempfile::tempdir().unwrap();
        let p = write_npz(
            dir.path(),
            "l.npz",
            &[
                ("X.npy", npy("<f4", false, "(3, 2)", &one_to_six("<f4"))),
                ("y.npy", npy(d, false, shape, &raw)),
            ],
            Method::Deflated,
        );
        let ds = load(&p, &opts()).unwrap_or_else(|e| panic!("{d} {shape}: {e}"));
        assert_eq!(ds.y, array![0u8, 1, 1], "{d} {shape}");
    }
}

#[test]
fn npy_pairs_find_their_labels() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("glass");
    std::fs::create_dir(&sub).unwrap();
    let x = npy("<f8", true, "(2, 3)", &one_to_six("<f8"));
    let y = npy("<i8", false, "(2,)", &labels_i8(&[0, 1]));
    // X.npy -> y.npy, name = folder
    std::fs::write(sub.join("X.npy"), &x).unwrap();
    std::fs::write(sub.join("y.npy"), &y).unwrap();
    let ds = load(&sub.join("X.npy"), &opts()).unwrap();
    assert_eq!((ds.name.as_str(), ds.n_anomalies()), ("glass", 1));
    // NAME_X.npy -> NAME_y.npy, name = NAME
    std::fs::write(dir.path().join("wbc_X.npy"), &x).unwrap();
    std::fs::write(dir.path().join("wbc_y.npy"), &y).unwrap();
    let ds = load(&dir.path().join("wbc_X.npy"), &opts()).unwrap();
    assert_eq!(ds.name, "wbc");
    assert_eq!(ds.x, array![[1., 3., 5.], [2., 4., 6.]]);
    // explicit labels, any names
    std::fs::write(dir.path().join("feat.npy"), &x).unwrap();
    std::fs::write(
        dir.path().join("lab.npy"),
        npy("|u1", false, "(2,)", &[1, 1]),
    )
    .unwrap();
    let o = LoadOptions {
        labels: Some(dir.path().join("lab.npy")),
        ..LoadOptions::default()
    };
    let ds = load(&dir.path().join("feat.npy"), &o).unwrap();
    assert_eq!((ds.name.as_str(), ds.n_anomalies()), ("feat", 2));
    // no labels: features only
    let f = load_features(&dir.path().join("feat.npy"), &opts()).unwrap();
    assert_eq!(f.y, None);
}

#[test]
fn csv_label_columns() {
    let dir = tempfile::tempdir().unwrap();
    let w = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    // default `y`, anywhere in the header; whitespace trimmed; float labels 0.0 / 1.0
    let p = w("a.csv", "f1, y ,f2\n1.5, 0, 2\n-3e2,1.0,4\n");
    let ds = load(&p, &opts()).unwrap();
    assert_eq!(ds.x, array![[1.5, 2.], [-300., 4.]]);
    assert_eq!(ds.y, array![0u8, 1]);
    assert_eq!(ds.name, "a");
    // default `label`
    let p = w("b.csv", "label,f\n1,7\n0,8\n");
    assert_eq!(load(&p, &opts()).unwrap().y, array![1u8, 0]);
    // explicit name; `y` then is a feature
    let p = w("c.csv", "y,cls\n5,1\n6,0\n");
    let o = LoadOptions {
        label_column: Some("cls".into()),
        ..LoadOptions::default()
    };
    let ds = load(&p, &o).unwrap();
    assert_eq!(
        (ds.x.clone(), ds.y.clone()),
        (array![[5.], [6.]], array![1u8, 0])
    );
    // unlabeled features; CRLF line ends
    let p = w("d.csv", "a,b\r\n1,2\r\n3,4\r\n");
    let f = load_features(&p, &opts()).unwrap();
    assert_eq!((f.x, f.y), (array![[1., 2.], [3., 4.]], None));
}

#[test]
fn load_features_accepts_all_normal_labels_but_load_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("n.csv");
    std::fs::write(&p, "a,y\n1,0\n2,0\n").unwrap();
    assert_eq!(load_features(&p, &opts()).unwrap().y, Some(array![0u8, 0]));
    assert!(load(&p, &opts()).is_err());
}

#[test]
fn dataset_new_accepts_valid_data() {
    let d = Dataset::new("m", array![[1f32, 2.], [3., 4.]], array![0u8, 1]).unwrap();
    assert_eq!((d.n_rows(), d.n_features(), d.n_anomalies()), (2, 2, 1));
    // all-normal is fine in memory (only load() insists on anomalies)
    assert!(Dataset::new("m", array![[1f32]], array![0u8]).is_ok());
}
