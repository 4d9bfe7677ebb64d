//! Builders for tiny NPY / NPZ files, shared by the `data_*` tests.
#![allow(dead_code)]

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

/// An NPY v1.0 file: header dict padded so that the data starts at a multiple of 64.
pub fn npy(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
    let dict = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
        if fortran { "True" } else { "False" }
    );
    npy_versioned(1, &dict, data)
}

/// An NPY file of the given major version (1, 2 or 3) with a raw header dict.
pub fn npy_versioned(major: u8, dict: &str, data: &[u8]) -> Vec<u8> {
    let len_bytes = if major == 1 { 2 } else { 4 };
    let mut h = dict.to_string();
    while !(8 + len_bytes + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.push(major);
    out.push(0);
    if major == 1 {
        out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(h.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out
}

/// One value in a dtype, as bytes.
pub fn encode(descr: &str, v: f64) -> Vec<u8> {
    let be = descr.starts_with('>');
    let body = descr.trim_start_matches(['<', '>', '|', '=']);
    macro_rules! e {
        ($t:ty) => {{
            let x = v as $t;
            if be {
                x.to_be_bytes().to_vec()
            } else {
                x.to_le_bytes().to_vec()
            }
        }};
    }
    match body {
        "f4" => e!(f32),
        "f8" => e!(f64),
        "i1" => e!(i8),
        "i2" => e!(i16),
        "i4" => e!(i32),
        "i8" => e!(i64),
        "u1" | "b1" => e!(u8),
        "u2" => e!(u16),
        "u4" => e!(u32),
        "u8" => e!(u64),
        other => panic!("test helper: no encoder for {other}"),
    }
}

pub fn labels_i8(v: &[i64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn labels_i4(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn f64s(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[derive(Clone, Copy)]
pub enum Method {
    Stored,
    Deflated,
}

/// Zip bytes holding the given entries.
pub fn npz_bytes(entries: &[(&str, Vec<u8>)], method: Method) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let m = match method {
        Method::Stored => zip::CompressionMethod::Stored,
        Method::Deflated => zip::CompressionMethod::Deflated,
    };
    let o = zip::write::SimpleFileOptions::default().compression_method(m);
    for (name, data) in entries {
        w.start_file(*name, o).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

pub fn write_npz(dir: &Path, name: &str, entries: &[(&str, Vec<u8>)], method: Method) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, npz_bytes(entries, method)).unwrap();
    p
}

/// A valid labeled pair: X (3, 2) f4 = 1..6, y = [0, 1, 0].
pub fn good_entries() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "X.npy",
            npy("<f4", false, "(3, 2)", &f32s(&[1., 2., 3., 4., 5., 6.])),
        ),
        ("y.npy", npy("<i8", false, "(3,)", &labels_i8(&[0, 1, 0]))),
    ]
}

/// Positions of a 4-byte little-endian signature in `bytes`.
pub fn find_sig(bytes: &[u8], sig: u32) -> Vec<usize> {
    let s = sig.to_le_bytes();
    (0..bytes.len().saturating_sub(3))
        .filter(|i| bytes[*i..*i + 4] == s)
        .collect()
}

/// Overwrites the declared uncompressed size of every entry (local and central headers).
pub fn patch_uncompressed_size(bytes: &mut [u8], size: u32) {
    for i in find_sig(bytes, 0x0403_4b50) {
        bytes[i + 22..i + 26].copy_from_slice(&size.to_le_bytes());
    }
    for i in find_sig(bytes, 0x0201_4b50) {
        bytes[i + 24..i + 28].copy_from_slice(&size.to_le_bytes());
    }
}
