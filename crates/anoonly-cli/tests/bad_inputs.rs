//! Bad inputs through the real binary: every case must exit non-zero with ONE stderr line
//! that names the file (where there is one) and the problem, print no panic, leave no output
//! file behind, and stay within a 2 GB address-space limit (so a header that claims 10^12
//! elements is refused before anything is allocated from it, not merely lucky with
//! overcommit). Library-level error details are in `tests/data_errors.rs`; this suite checks
//! what a user of the CLI sees.

mod data_util;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use data_util::{f32s, npy, npz_bytes, patch_uncompressed_size, Method};
use safetensors::tensor::{SafeTensors, TensorView};

/// Address-space limit for each run, in KiB (`ulimit -v`).
const ADDRESS_SPACE_KIB: u64 = 2 << 20;

/// Runs `anoonly ARGS` under `ulimit -v`.
fn run(args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v {ADDRESS_SPACE_KIB} && exec \"$0\" \"$@\""
        ))
        .arg(env!("CARGO_BIN_EXE_anoonly"))
        .args(args)
        .output()
        .expect("run anoonly")
}

/// The contract for one bad input. `names` are substrings the line must contain (the file
/// and the error kind); `out` is the output file the command was asked to write.
#[track_caller]
fn refused(args: &[&str], names: &[&str], out: Option<&Path>) {
    let o = run(args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "{args:?} succeeded; stderr: {err}");
    assert!(
        o.status.code().is_some(),
        "{args:?} killed by a signal (allocation failure?); stderr: {err}"
    );
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: not one line: {err}");
    assert!(lines[0].starts_with("error: "), "{args:?}: {err}");
    for n in names {
        assert!(err.contains(n), "{args:?}: {n:?} not in: {err}");
    }
    if let Some(log) = std::env::var_os("BAD_INPUTS_LOG") {
        // For docs: every case's message, one per line.
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        writeln!(
            f,
            "{}\t{}",
            std::thread::current().name().unwrap_or("?"),
            lines[0]
        )
        .unwrap();
    }
    if let Some(p) = out {
        assert!(!p.exists(), "{args:?} left {}", p.display());
        if let Some(dir) = p.parent().filter(|d| d.is_dir()) {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                assert!(!name.ends_with(".tmp"), "{args:?} left temp file {name}");
            }
        }
    }
}

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Case {
        Case {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> String {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_str().unwrap().to_string()
    }

    /// `fit --data FILE --out DIR/model.st` must be refused with `names` in the message.
    fn fit_refused(&self, data: &str, extra: &[&str], names: &[&str]) {
        let out = self.path("model.st");
        let mut args = vec![
            "fit",
            "--data",
            data,
            "--out",
            out.to_str().unwrap(),
            "--epochs",
            "1",
        ];
        args.extend_from_slice(extra);
        refused(&args, names, Some(&out));
    }

    /// `score --model MODEL --data DATA --out DIR/scores.csv` must be refused.
    fn score_refused(&self, model: &str, data: &str, extra: &[&str], names: &[&str]) {
        let out = self.path("scores.csv");
        let mut args = vec![
            "score",
            "--model",
            model,
            "--data",
            data,
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        refused(&args, names, Some(&out));
    }

    /// A small valid labeled CSV (60 rows, 2 features, 6 anomalies).
    fn good_csv(&self) -> String {
        let mut s = String::from("a,b,y\n");
        for i in 0..60 {
            let v = i as f32 * 0.1;
            s.push_str(&format!(
                "{},{},{}\n",
                v.sin(),
                v.cos(),
                u8::from(i % 10 == 0)
            ));
        }
        self.write("good.csv", s)
    }

    /// A tiny model of `method`, rewritten by `edit` into `name`, must be refused by `score`.
    fn edited_model_refused(
        &self,
        (method, sets): (&str, &[&str]),
        name: &str,
        edit: impl FnOnce(&mut Meta, &mut Tensors),
        names: &[&str],
    ) {
        let data = self.good_csv();
        let good = self.good_model(method, sets);
        let m = self.path(name);
        rewrite_model(&good, &m, edit);
        self.score_refused(m.to_str().unwrap(), &data, &[], names);
    }

    /// An npz of `x` and labels `y` (deflated).
    fn npz(&self, name: &str, x: Vec<u8>, y: &[u8]) -> String {
        self.write(
            name,
            npz_bytes(&[("X.npy", x), ("y.npy", labels(y))], Method::Deflated),
        )
    }

    /// A tiny fitted model of `method` on [`Case::good_csv`].
    fn good_model(&self, method: &str, sets: &[&str]) -> String {
        let data = self.good_csv();
        let out = self.path(&format!("{method}.st"));
        let mut args = vec![
            "fit",
            "--method",
            method,
            "--data",
            &data,
            "--out",
            out.to_str().unwrap(),
            "--epochs",
            "1",
        ];
        for s in sets {
            args.extend_from_slice(&["--set", s]);
        }
        let o = run(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out.to_str().unwrap().to_string()
    }
}

/// A 6 x 2 feature matrix and labels with two anomalies.
fn good_x() -> Vec<u8> {
    npy(
        "<f4",
        false,
        "(6, 2)",
        &f32s(&[0., 1., 2., 3., 4., 5., 6., 7., 8., 9., 10., 11.]),
    )
}

fn labels(values: &[u8]) -> Vec<u8> {
    npy("|u1", false, &format!("({},)", values.len()), values)
}

fn good_npz() -> Vec<u8> {
    npz_bytes(
        &[("X.npy", good_x()), ("y.npy", labels(&[0, 1, 0, 0, 1, 0]))],
        Method::Deflated,
    )
}

type Meta = std::collections::HashMap<String, String>;
type Tensors = Vec<(String, Vec<usize>, Vec<u8>)>;

const DEVNET: (&str, &[&str]) = ("devnet", &["hidden=3"]);
const DEEPSAD: (&str, &[&str]) = ("deepsad", &["hidden=[4,3]", "rep_dim=2"]);

/// Rewrites a model file's header metadata and tensors through `edit`.
fn rewrite_model(src: &str, dst: &Path, edit: impl FnOnce(&mut Meta, &mut Tensors)) {
    let bytes = std::fs::read(src).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let mut meta = meta.metadata().clone().unwrap();
    let mut tensors: Tensors = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.shape().to_vec(), v.data().to_vec()))
        .collect();
    edit(&mut meta, &mut tensors);
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, s, d)| {
            (
                n.clone(),
                TensorView::new(safetensors::Dtype::F32, s.clone(), d).unwrap(),
            )
        })
        .collect();
    let out = safetensors::serialize(views, &Some(meta)).unwrap();
    std::fs::write(dst, out).unwrap();
}

// ---------------------------------------------------------------- npz

#[test]
fn npz_truncated_zip() {
    let c = Case::new();
    let bytes = good_npz();
    let f = c.write("cut.npz", &bytes[..bytes.len() / 2]);
    c.fit_refused(&f, &[], &["cut.npz", "corrupt or unsupported zip"]);
}

#[test]
fn npz_corrupt_zip() {
    let c = Case::new();
    let mut bytes = good_npz();
    // Scramble the compressed body of the first entry (after its 30-byte local header + name).
    for b in &mut bytes[40..120] {
        *b ^= 0x5a;
    }
    let f = c.write("scrambled.npz", bytes);
    c.fit_refused(&f, &[], &["scrambled.npz", "zip"]);
}

#[test]
fn npz_not_a_zip() {
    let c = Case::new();
    let f = c.write("text.npz", "X,y\n1,0\n");
    c.fit_refused(&f, &[], &["text.npz", "corrupt or unsupported zip"]);
}

#[test]
fn npz_entry_declaring_a_huge_size() {
    let c = Case::new();
    let mut bytes = good_npz();
    // Every entry declares 4 GB uncompressed (local and central headers).
    patch_uncompressed_size(&mut bytes, 0xFFFF_FFF0);
    let f = c.write("huge.npz", bytes);
    c.fit_refused(&f, &[], &["huge.npz", "more than deflate can produce"]);
}

#[test]
fn npz_header_claiming_1e12_elements() {
    let c = Case::new();
    let x = npy("<f4", false, "(1000000, 1000000)", &f32s(&[1.0; 8]));
    let f = c.write(
        "claims.npz",
        npz_bytes(&[("X.npy", x), ("y.npy", labels(&[0, 1]))], Method::Stored),
    );
    c.fit_refused(&f, &[], &["claims.npz", "X.npy", "truncated"]);
}

#[test]
fn npz_without_labels() {
    let c = Case::new();
    let f = c.write(
        "nolabels.npz",
        npz_bytes(&[("X.npy", good_x())], Method::Deflated),
    );
    c.fit_refused(&f, &[], &["nolabels.npz", "no \"y.npy\" entry"]);
}

#[test]
fn npz_nan_feature() {
    let c = Case::new();
    let mut v = [1.0f32; 12];
    v[7] = f32::NAN;
    let x = npy("<f4", false, "(6, 2)", &f32s(&v));
    let f = c.npz("nan.npz", x, &[0, 1, 0, 0, 1, 0]);
    c.fit_refused(&f, &[], &["nan.npz", "non-finite", "row 3, column 1"]);
}

#[test]
fn npz_length_mismatch() {
    let c = Case::new();
    let f = c.npz("short.npz", good_x(), &[0, 1, 0]);
    c.fit_refused(&f, &[], &["short.npz", "6 rows but y has 3 labels"]);
}

#[test]
fn npz_label_other_than_0_1() {
    let c = Case::new();
    let f = c.npz("labels.npz", good_x(), &[0, 1, 2, 0, 1, 0]);
    c.fit_refused(&f, &[], &["labels.npz", "label 2 at row 2", "not 0 or 1"]);
}

#[test]
fn npz_single_class() {
    let c = Case::new();
    let f = c.npz("normal.npz", good_x(), &[0; 6]);
    // The fit decides: a method that needs labeled anomalies says so (DeepSAD trains on
    // unlabeled rows alone: cli.rs), and an evaluation needs anomalies to label and test.
    c.fit_refused(
        &f,
        &["--method", "devnet"],
        &[
            "normal.npz",
            "no labeled anomaly",
            "devnet needs at least one",
            "deepsad",
        ],
    );
    refused(
        &["eval", "--data", &f, "--epochs", "1"],
        &["normal.npz", "no anomaly"],
        None,
    );
}

#[test]
fn npz_complex_dtype() {
    let c = Case::new();
    let x = npy("<c8", false, "(6, 1)", &f32s(&[1.0; 12]));
    let f = c.npz("complex.npz", x, &[0, 1, 0, 0, 1, 0]);
    c.fit_refused(&f, &[], &["complex.npz", "unsupported dtype \"<c8\""]);
}

#[test]
fn npz_three_dimensional_features() {
    let c = Case::new();
    let x = npy("<f4", false, "(3, 2, 2)", &f32s(&[1.0; 12]));
    let f = c.npz("cube.npz", x, &[0, 1, 0]);
    c.fit_refused(&f, &[], &["cube.npz", "2-D"]);
}

#[test]
fn npz_empty_file() {
    let c = Case::new();
    let f = c.write("empty.npz", b"");
    c.fit_refused(&f, &[], &["empty.npz", "file is empty"]);
}

// ---------------------------------------------------------------- npy

#[test]
fn npy_header_claiming_1e12_elements() {
    let c = Case::new();
    let f = c.write(
        "big_X.npy",
        npy("<f4", true, "(1000000, 1000000)", &f32s(&[1.0; 4])),
    );
    c.write("big_y.npy", labels(&[0, 1]));
    c.fit_refused(&f, &[], &["big_X.npy", "truncated", "4000000000000 bytes"]);
}

#[test]
fn npy_shape_overflowing_u64() {
    let c = Case::new();
    let f = c.write(
        "X.npy",
        npy("<f8", false, "(18446744073709551615, 3)", &f32s(&[1.0; 4])),
    );
    c.write("y.npy", labels(&[0, 1]));
    c.fit_refused(&f, &[], &["X.npy", "too many elements"]);
}

#[test]
fn npy_bad_magic() {
    let c = Case::new();
    let f = c.write("magic_X.npy", b"NUMPY\x01\x00 not really");
    c.fit_refused(&f, &[], &["magic_X.npy", "not a valid NPY array"]);
}

#[test]
fn npy_header_too_long() {
    let c = Case::new();
    let mut b = b"\x93NUMPY\x02\x00".to_vec();
    b.extend_from_slice(&u32::MAX.to_le_bytes());
    b.extend_from_slice(b"{'descr': '<f4'");
    let f = c.write("long_X.npy", b);
    c.fit_refused(&f, &[], &["long_X.npy", "exceeds the 65536-byte limit"]);
}

#[test]
fn npy_without_sibling_labels() {
    let c = Case::new();
    let f = c.write("alone_X.npy", good_x());
    c.fit_refused(&f, &[], &["alone_X.npy", "no labels", "alone_y.npy"]);
}

#[test]
fn npy_infinite_feature() {
    let c = Case::new();
    let mut v = [1.0f32; 12];
    v[0] = f32::INFINITY;
    let f = c.write("inf_X.npy", npy("<f4", false, "(6, 2)", &f32s(&v)));
    c.write("inf_y.npy", labels(&[0, 1, 0, 0, 1, 0]));
    c.fit_refused(&f, &[], &["inf_X.npy", "non-finite", "inf"]);
}

#[test]
fn npy_labels_file_of_another_length() {
    let c = Case::new();
    let f = c.write("feat.npy", good_x());
    let l = c.write("lab.npy", labels(&[0, 1, 0, 1]));
    c.fit_refused(&f, &["--labels", &l], &["feat.npy", "6 rows but y has 4"]);
}

#[test]
fn npy_string_dtype() {
    let c = Case::new();
    let f = c.write("str_X.npy", npy("<U3", false, "(2, 1)", &[0u8; 24]));
    c.write("str_y.npy", labels(&[0, 1]));
    c.fit_refused(&f, &[], &["str_X.npy", "unsupported dtype \"<U3\""]);
}

#[test]
fn npy_truncated_data() {
    let c = Case::new();
    let mut b = good_x();
    b.truncate(b.len() - 10);
    let f = c.write("cut_X.npy", b);
    c.write("cut_y.npy", labels(&[0, 1, 0, 0, 1, 0]));
    c.fit_refused(&f, &[], &["cut_X.npy", "truncated"]);
}

#[test]
fn npy_float_labels_other_than_0_1() {
    let c = Case::new();
    let f = c.write("fl_X.npy", good_x());
    c.write(
        "fl_y.npy",
        npy("<f4", false, "(6,)", &f32s(&[0., 1., 0.5, 0., 1., 0.])),
    );
    c.fit_refused(&f, &[], &["fl_y.npy", "label 0.5 at row 2"]);
}

// ---------------------------------------------------------------- csv

#[test]
fn csv_ragged_row() {
    let c = Case::new();
    let f = c.write("ragged.csv", "a,b,y\n1,2,0\n3,1\n");
    c.fit_refused(
        &f,
        &[],
        &[
            "ragged.csv",
            "line 3 (row 1) has 2 fields, the header has 3",
        ],
    );
}

#[test]
fn csv_non_numeric_cell() {
    let c = Case::new();
    let f = c.write("words.csv", "a,b,y\n1,2,0\n3,abc,1\n");
    c.fit_refused(
        &f,
        &[],
        &["words.csv", "column \"b\"", "cannot parse \"abc\""],
    );
}

#[test]
fn csv_nan_cell() {
    let c = Case::new();
    let f = c.write("nan.csv", "a,b,y\n1,NaN,1\n");
    c.fit_refused(&f, &[], &["nan.csv", "non-finite", "column \"b\""]);
}

#[test]
fn csv_value_overflowing_f32() {
    let c = Case::new();
    let f = c.write("overflow.csv", "a,b,y\n1,2,0\n1e39,2,1\n");
    c.fit_refused(&f, &[], &["overflow.csv", "non-finite", "1e39"]);
}

#[test]
fn csv_empty_file() {
    let c = Case::new();
    let f = c.write("empty.csv", b"");
    c.fit_refused(&f, &[], &["empty.csv", "file is empty"]);
}

#[test]
fn csv_header_only() {
    let c = Case::new();
    let f = c.write("header.csv", "a,b,y\n");
    c.fit_refused(&f, &[], &["header.csv", "no data rows"]);
}

#[test]
fn csv_label_other_than_0_1() {
    let c = Case::new();
    let f = c.write("label.csv", "a,y\n1,0\n2,-1\n");
    c.fit_refused(&f, &[], &["label.csv", "label -1 at row 1", "not 0 or 1"]);
}

#[test]
fn csv_missing_label_column() {
    let c = Case::new();
    let f = c.write("nolabel.csv", "a,b\n1,2\n");
    c.fit_refused(&f, &[], &["nolabel.csv", "label column", "not found"]);
}

#[test]
fn csv_named_label_column_missing() {
    let c = Case::new();
    let f = c.write("named.csv", "a,y\n1,1\n");
    c.fit_refused(
        &f,
        &["--label-column", "target"],
        &["named.csv", "label column \"target\" not found"],
    );
}

#[test]
fn csv_invalid_utf8_header() {
    let c = Case::new();
    let f = c.write("latin1.csv", b"a,\xe9t\xe9,y\n1,2,1\n");
    c.fit_refused(&f, &[], &["latin1.csv", "CSV error", "UTF-8"]);
}

#[test]
fn no_labeled_anomaly_with_anoonly() {
    let c = Case::new();
    let f = c.write("allnormal.csv", "a,y\n1,0\n2,0\n3,0\n");
    c.fit_refused(
        &f,
        &["--anoonly"],
        &[
            "allnormal.csv",
            "no labeled anomaly",
            "lambda_n = 0",
            "no loss",
        ],
    );
}

#[test]
fn unsupported_extension() {
    let c = Case::new();
    let f = c.write("data.txt", "a,y\n1,1\n");
    c.fit_refused(&f, &[], &["data.txt", "unsupported file extension"]);
}

#[test]
fn missing_data_file() {
    let c = Case::new();
    let f = c.path("absent.csv");
    c.fit_refused(f.to_str().unwrap(), &[], &["absent.csv", "cannot read"]);
}

// ---------------------------------------------------------------- model files

#[test]
fn model_not_a_model_file() {
    let c = Case::new();
    let data = c.good_csv();
    let m = c.write("model.st", "a,b\n1,2\n");
    c.score_refused(&m, &data, &[], &["model.st", "not an anoonly model file"]);
}

#[test]
fn model_empty_file() {
    let c = Case::new();
    let data = c.good_csv();
    let m = c.write("empty.st", b"");
    c.score_refused(&m, &data, &[], &["empty.st", "not an anoonly model file"]);
}

#[test]
fn model_other_format_version() {
    Case::new().edited_model_refused(
        DEVNET,
        "v99.st",
        |meta, _| {
            meta.insert("format_version".into(), "99".into());
        },
        &["v99.st", "format version 99"],
    );
}

#[test]
fn model_safetensors_of_another_tool() {
    Case::new().edited_model_refused(
        DEVNET,
        "other.st",
        |meta, _| {
            meta.insert("format".into(), "pytorch".into());
        },
        &["other.st", "not an anoonly model file", "pytorch"],
    );
}

#[test]
fn model_from_another_method() {
    let c = Case::new();
    let deepsad = c.good_model(DEEPSAD.0, DEEPSAD.1);
    let deepsad_meta = {
        let b = std::fs::read(deepsad).unwrap();
        SafeTensors::read_metadata(&b)
            .unwrap()
            .1
            .metadata()
            .clone()
            .unwrap()
    };
    // DevNet's weights under DeepSAD's header.
    c.edited_model_refused(
        DEVNET,
        "mixed.st",
        |meta, _| *meta = deepsad_meta,
        &["mixed.st", "do not fit the configuration"],
    );
}

#[test]
fn model_tensor_of_the_wrong_shape() {
    Case::new().edited_model_refused(
        DEEPSAD,
        "shape.st",
        |_, tensors| {
            let t = tensors
                .iter_mut()
                .find(|(_, s, _)| s.len() == 2 && s[0] != s[1])
                .expect("a non-square weight matrix");
            t.1 = vec![t.1[1], t.1[0]];
        },
        &["shape.st", "do not fit the configuration"],
    );
}

#[test]
fn model_config_claiming_a_huge_network() {
    Case::new().edited_model_refused(
        DEEPSAD,
        "forged.st",
        |meta, _| {
            let cfg = meta["config"].replace("\"hidden\":[4,3]", "\"hidden\":[1000000000,3]");
            assert_ne!(
                cfg, meta["config"],
                "config layout changed: {}",
                meta["config"]
            );
            meta.insert("config".into(), cfg);
        },
        &["forged.st", "layer widths"],
    );
}

#[test]
fn model_config_not_json() {
    Case::new().edited_model_refused(
        DEVNET,
        "json.st",
        |meta, _| {
            meta.insert("config".into(), "{not json".into());
        },
        &["json.st", "configuration is invalid"],
    );
}

#[test]
fn score_data_of_another_width() {
    let c = Case::new();
    let good = c.good_model(DEVNET.0, DEVNET.1);
    let data = c.write("wide.csv", "a,b,c\n1,2,3\n");
    c.score_refused(
        &good,
        &data,
        &[],
        &["wide.csv", "trained on 2 features, the data has 3"],
    );
}

#[test]
fn score_contamination_out_of_range() {
    let c = Case::new();
    let data = c.good_csv();
    let good = c.good_model(DEVNET.0, DEVNET.1);
    c.score_refused(&good, &data, &["--contamination", "2"], &["contamination"]);
}

// ---------------------------------------------------------------- CLI arguments

fn cli_refused(extra: &[&str], names: &[&str]) {
    let c = Case::new();
    let data = c.good_csv();
    c.fit_refused(&data, extra, names);
}

#[test]
fn negative_learning_rate() {
    cli_refused(&["--set", "lr=-1"], &["lr", "-1", "> 0"]);
}

#[test]
fn absurd_epochs() {
    let c = Case::new();
    let data = c.good_csv();
    let out = c.path("model.st");
    refused(
        &[
            "fit",
            "--data",
            &data,
            "--out",
            out.to_str().unwrap(),
            "--epochs",
            "1000000000000",
        ],
        &["epochs", "1000000000000"],
        Some(&out),
    );
}

#[test]
fn zero_width_layer() {
    cli_refused(&["--set", "hidden=[0]"], &["hidden"]);
}

#[test]
fn absurd_width_layer() {
    cli_refused(&["--set", "hidden=[1000000000000]"], &["hidden"]);
}

#[test]
fn wrong_type_for_a_hyperparameter() {
    cli_refused(&["--set", "lr=fast"], &["lr"]);
}

#[test]
fn unknown_hyperparameter() {
    cli_refused(
        &["--set", "learning_rate=0.1"],
        &["has no parameter `learning_rate`"],
    );
}

#[test]
fn set_without_equals() {
    cli_refused(&["--set", "lr"], &["--set lr", "NAME=VALUE"]);
}

#[test]
fn unknown_method() {
    cli_refused(&["--method", "isolation-forest"], &["unknown method"]);
}

#[test]
fn negative_lambda_n() {
    cli_refused(&["--lambda-n=-1"], &["lambda_n"]);
}

#[test]
fn unknown_loss_variant() {
    cli_refused(
        &["--method", "devnet", "--loss", "hinge2"],
        &["loss", "hinge2"],
    );
}

#[test]
fn zero_threads() {
    cli_refused(&["--threads", "0"], &["--threads"]);
}

#[test]
fn out_in_a_missing_directory() {
    let c = Case::new();
    let data = c.good_csv();
    let out = c.path("no-such-dir").join("model.st");
    refused(
        &[
            "fit",
            "--data",
            &data,
            "--out",
            out.to_str().unwrap(),
            "--epochs",
            "1",
            "--method",
            "devnet",
        ],
        &["model.st", "no-such-dir", "does not exist"],
        Some(&out),
    );
}

fn eval_refused(extra: &[&str], names: &[&str]) {
    let c = Case::new();
    let data = c.good_csv();
    let mut args = vec!["eval", "--data", &data, "--epochs", "1", "--json"];
    args.extend_from_slice(extra);
    refused(&args, names, None);
}

#[test]
fn eval_gamma_la_out_of_range() {
    eval_refused(&["--gamma-la", "2"], &["gamma_la"]);
}

#[test]
fn eval_max_rows_too_small() {
    eval_refused(&["--max-rows", "2"], &["max_rows"]);
}

#[test]
fn eval_max_rows_not_a_number() {
    eval_refused(&["--max-rows", "lots"], &["--max-rows", "`none`"]);
}

#[test]
fn eval_unknown_protocol() {
    eval_refused(&["--protocol", "magic"], &["--protocol", "magic"]);
}

#[test]
fn failed_fit_keeps_an_existing_model_file() {
    let c = Case::new();
    let old = c.good_model(DEVNET.0, DEVNET.1);
    let before = std::fs::read(&old).unwrap();
    let bad = c.write("ragged.csv", "a,b,y\n1,2,0\n3,1\n");
    let o = run(&["fit", "--method", "devnet", "--data", &bad, "--out", &old]);
    assert!(!o.status.success());
    assert_eq!(
        std::fs::read(&old).unwrap(),
        before,
        "the old model was touched"
    );
}
