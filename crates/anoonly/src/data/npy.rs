//! NPY reader (format versions 1.0, 2.0, 3.0), streaming: the data is read in bounded chunks
//! and converted straight into the destination `f32` matrix (Fortran order is transposed on the
//! fly), so a file is read once and no byte copy of it is kept.
//!
//! Safety rules: the header is capped at [`MAX_HEADER_LEN`] bytes; the header's shape is turned
//! into a byte count with checked arithmetic and compared with the bytes the file (or zip entry)
//! can provide *before* anything is allocated; nesting in the header literal is bounded.

use super::{check_shape, io_err, DataError};
use ndarray::{Array1, Array2};
use std::fs::File;
use std::io::{BufReader, ErrorKind, Read};
use std::path::Path;

/// Largest NPY header accepted, in bytes (numpy itself refuses more than 10 000 by default).
pub const MAX_HEADER_LEN: usize = 65_536;

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// Bytes converted per step.
const CHUNK_BYTES: usize = 1 << 18;
/// Nesting allowed in the header literal (the shape tuple needs 2).
const MAX_DEPTH: usize = 4;

/// Where an array comes from, for error messages.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ctx<'a> {
    pub file: &'a str,
    pub array: &'a str,
    /// Read errors inside a zip entry are corrupt-archive errors, not I/O errors.
    pub in_zip: bool,
}

impl Ctx<'_> {
    fn bad(&self, detail: impl Into<String>) -> DataError {
        DataError::BadNpy {
            file: self.file.into(),
            array: self.array.into(),
            detail: detail.into(),
        }
    }

    fn read_err(&self, e: std::io::Error) -> DataError {
        if self.in_zip {
            DataError::Zip {
                file: self.file.into(),
                detail: format!("entry {}: {e}", self.array),
            }
        } else {
            io_err(self.file, e)
        }
    }

    fn bad_shape(&self, shape: &[u64], expected: &str) -> DataError {
        DataError::BadShape {
            file: self.file.into(),
            array: self.array.into(),
            shape: shape.to_vec(),
            expected: expected.into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Float,
    Int,
    Uint,
    Bool,
}

/// A supported element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dtype {
    kind: Kind,
    size: usize,
    big_endian: bool,
}

impl Dtype {
    fn parse(descr: &str) -> Option<Dtype> {
        let b = descr.as_bytes();
        let (order, rest) = match b.first()? {
            c @ (b'<' | b'>' | b'|' | b'=') => (*c, &b[1..]),
            _ => (b'=', b),
        };
        let (&k, digits) = rest.split_first()?;
        let size: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
        let kind = match k {
            b'f' => Kind::Float,
            b'i' => Kind::Int,
            b'u' => Kind::Uint,
            b'b' => Kind::Bool,
            _ => return None,
        };
        let ok = match kind {
            Kind::Float => matches!(size, 4 | 8),
            Kind::Int | Kind::Uint => matches!(size, 1 | 2 | 4 | 8),
            Kind::Bool => size == 1,
        };
        if !ok {
            return None;
        }
        let big_endian = match order {
            b'>' => true,
            b'=' => cfg!(target_endian = "big"),
            _ => false,
        };
        Some(Dtype {
            kind,
            size,
            big_endian,
        })
    }
}

/// A parsed NPY header.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Header {
    pub descr: String,
    pub dtype: Dtype,
    pub fortran_order: bool,
    pub shape: Vec<u64>,
    /// Bytes before the data (magic, version, length field, header).
    pub prefix_len: u64,
}

impl Header {
    /// Number of elements and data bytes, or `None` on overflow.
    fn sizes(&self) -> Option<(u64, u64)> {
        let n = self.shape.iter().try_fold(1u64, |a, d| a.checked_mul(*d))?;
        Some((n, n.checked_mul(self.dtype.size as u64)?))
    }
}

/// Fills `buf` as far as the reader allows; returns the bytes read (short only at EOF).
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads and parses the NPY preamble and header.
pub(crate) fn read_header<R: Read>(r: &mut R, ctx: Ctx) -> Result<Header, DataError> {
    let mut pre = [0u8; 8];
    let got = read_full(r, &mut pre).map_err(|e| ctx.read_err(e))?;
    if got < 6 || &pre[..6] != MAGIC {
        return Err(ctx.bad("missing the \\x93NUMPY magic (not an .npy file)"));
    }
    if got < 8 {
        return Err(ctx.bad("file ends inside the NPY preamble"));
    }
    let (major, minor) = (pre[6], pre[7]);
    let len_bytes = match major {
        1 => 2,
        2 | 3 => 4,
        _ => return Err(ctx.bad(format!("unsupported NPY format version {major}.{minor}"))),
    };
    let mut lb = [0u8; 4];
    if read_full(r, &mut lb[..len_bytes]).map_err(|e| ctx.read_err(e))? < len_bytes {
        return Err(ctx.bad("file ends inside the NPY header length"));
    }
    let header_len = u64::from(u32::from_le_bytes(lb));
    if header_len > MAX_HEADER_LEN as u64 {
        return Err(DataError::HeaderTooLong {
            file: ctx.file.into(),
            array: ctx.array.into(),
            len: header_len,
            max: MAX_HEADER_LEN,
        });
    }
    let mut text = vec![0u8; header_len as usize];
    if read_full(r, &mut text).map_err(|e| ctx.read_err(e))? < text.len() {
        return Err(ctx.bad(format!("file ends inside the {header_len}-byte NPY header")));
    }
    let text = if major == 3 {
        String::from_utf8(text).map_err(|_| ctx.bad("header is not valid UTF-8"))?
    } else {
        if !text.is_ascii() {
            return Err(ctx.bad("header is not ASCII"));
        }
        String::from_utf8_lossy(&text).into_owned()
    };
    let mut header = parse_header(&text, ctx)?;
    header.prefix_len = 6 + 2 + len_bytes as u64 + header_len;
    Ok(header)
}

/// A value of the Python literal subset numpy writes.
#[derive(Clone, Debug, PartialEq)]
enum PyVal {
    Str(String),
    Bool(bool),
    Int(u64),
    Seq(Vec<PyVal>),
    None,
}

impl PyVal {
    /// Python-like rendering, for messages.
    fn repr(&self) -> String {
        match self {
            PyVal::Str(s) => format!("'{s}'"),
            PyVal::Bool(b) => if *b { "True" } else { "False" }.into(),
            PyVal::Int(n) => n.to_string(),
            PyVal::Seq(v) => {
                let items: Vec<String> = v.iter().map(PyVal::repr).collect();
                format!("({})", items.join(", "))
            }
            PyVal::None => "None".into(),
        }
    }
}

/// The header text for a message, quoted and cut to 200 characters.
fn shorten(text: &str) -> String {
    let t = text.trim_end();
    match t.char_indices().nth(200) {
        Some((i, _)) => format!("{:?}...", &t[..i]),
        None => format!("{t:?}"),
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!(
                "expected '{}' at byte {} of the header",
                c as char, self.i
            ))
        }
    }

    fn string(&mut self) -> Result<String, String> {
        let q = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => {
                return Err(format!(
                    "expected a string at byte {} of the header",
                    self.i
                ))
            }
        };
        self.i += 1;
        let mut out = Vec::new();
        while let Some(&c) = self.s.get(self.i) {
            self.i += 1;
            if c == q {
                return Ok(String::from_utf8_lossy(&out).into_owned());
            }
            if c == b'\\' {
                if let Some(&n) = self.s.get(self.i) {
                    out.push(n);
                    self.i += 1;
                }
                continue;
            }
            out.push(c);
        }
        Err("unterminated string in the header".into())
    }

    fn value(&mut self, depth: usize) -> Result<PyVal, String> {
        if depth > MAX_DEPTH {
            return Err("header literal nested too deeply".into());
        }
        match self.peek() {
            Some(b'\'' | b'"') => self.string().map(PyVal::Str),
            Some(open @ (b'(' | b'[')) => {
                let close = if open == b'(' { b')' } else { b']' };
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    if self.peek() == Some(close) {
                        self.i += 1;
                        return Ok(PyVal::Seq(items));
                    }
                    items.push(self.value(depth + 1)?);
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(c) if c == close => {}
                        _ => return Err(format!("expected ',' at byte {} of the header", self.i)),
                    }
                }
            }
            Some(b'0'..=b'9') => {
                let mut v: u64 = 0;
                while let Some(d @ b'0'..=b'9') = self.s.get(self.i).copied() {
                    v = v
                        .checked_mul(10)
                        .and_then(|v| v.checked_add(u64::from(d - b'0')))
                        .ok_or("integer in the header overflows")?;
                    self.i += 1;
                }
                // Python 2 long suffix, as written by old numpy: (3L, 4L).
                if matches!(self.s.get(self.i), Some(b'L' | b'l')) {
                    self.i += 1;
                }
                Ok(PyVal::Int(v))
            }
            Some(b'-') => Err("negative number in the header".into()),
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i].is_ascii_alphanumeric() {
                    self.i += 1;
                }
                match &self.s[start..self.i] {
                    b"True" => Ok(PyVal::Bool(true)),
                    b"False" => Ok(PyVal::Bool(false)),
                    b"None" => Ok(PyVal::None),
                    w => Err(format!(
                        "unexpected word {:?} in the header",
                        String::from_utf8_lossy(w)
                    )),
                }
            }
            Some(c) => Err(format!(
                "unexpected character {:?} at byte {} of the header",
                c as char, self.i
            )),
            None => Err("header ends early".into()),
        }
    }

    fn dict(&mut self) -> Result<Vec<(String, PyVal)>, String> {
        self.expect(b'{')?;
        let mut out = Vec::new();
        loop {
            if self.peek() == Some(b'}') {
                self.i += 1;
                break;
            }
            let k = self.string()?;
            self.expect(b':')?;
            let v = self.value(1)?;
            out.push((k, v));
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {}
                _ => {
                    return Err(format!(
                        "expected ',' or '}}' at byte {} of the header",
                        self.i
                    ))
                }
            }
        }
        if self.peek().is_some() {
            return Err(format!(
                "unexpected text after the header dict at byte {}",
                self.i
            ));
        }
        Ok(out)
    }
}

/// Parses the header dict (`{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`).
fn parse_header(text: &str, ctx: Ctx) -> Result<Header, DataError> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let dict = p
        .dict()
        .map_err(|e| ctx.bad(format!("malformed header ({e}): {}", shorten(text))))?;
    let get = |key: &str| {
        dict.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .ok_or_else(|| ctx.bad(format!("header has no {key:?} key: {}", shorten(text))))
    };
    let descr = match get("descr")? {
        PyVal::Str(s) => s.clone(),
        other => {
            return Err(DataError::UnsupportedDtype {
                file: ctx.file.into(),
                array: ctx.array.into(),
                dtype: format!("{} (structured dtype)", other.repr()),
            })
        }
    };
    let dtype = Dtype::parse(&descr).ok_or_else(|| DataError::UnsupportedDtype {
        file: ctx.file.into(),
        array: ctx.array.into(),
        dtype: descr.clone(),
    })?;
    let fortran_order = match get("fortran_order")? {
        PyVal::Bool(b) => *b,
        other => return Err(ctx.bad(format!("'fortran_order' is {}, not a bool", other.repr()))),
    };
    let shape = match get("shape")? {
        PyVal::Seq(items) => items
            .iter()
            .map(|v| match v {
                PyVal::Int(n) => Ok(*n),
                other => Err(ctx.bad(format!("'shape' holds {}, not an integer", other.repr()))),
            })
            .collect::<Result<Vec<u64>, _>>()?,
        other => return Err(ctx.bad(format!("'shape' is {}, not a tuple", other.repr()))),
    };
    Ok(Header {
        descr,
        dtype,
        fortran_order,
        shape,
        prefix_len: 0,
    })
}

/// Checks the declared data size against what is available; returns the element count.
fn check_size(h: &Header, available: u64, ctx: Ctx) -> Result<usize, DataError> {
    let (n, bytes) = h
        .sizes()
        .filter(|(n, _)| usize::try_from(*n).is_ok())
        .ok_or_else(|| ctx.bad_shape(&h.shape, "too many elements to address"))?;
    if bytes > available {
        return Err(truncated(h, bytes, available, ctx));
    }
    usize::try_from(n).map_err(|_| ctx.bad_shape(&h.shape, "too many elements to address"))
}

fn truncated(h: &Header, needed: u64, available: u64, ctx: Ctx) -> DataError {
    DataError::Truncated {
        file: ctx.file.into(),
        array: ctx.array.into(),
        shape: h.shape.clone(),
        dtype: h.descr.clone(),
        needed,
        available,
    }
}

/// Converts `src` (whole elements of `dt`) into `dst` through `cast`, one monomorphized loop
/// per dtype.
#[inline]
fn convert<O: Copy>(dt: Dtype, src: &[u8], dst: &mut [O], cast: impl Fn(f64) -> O) {
    macro_rules! go {
        ($t:ty, $n:literal, $from:ident) => {
            for (d, c) in dst.iter_mut().zip(src.chunks_exact($n)) {
                let mut a = [0u8; $n];
                a.copy_from_slice(c);
                *d = cast(<$t>::$from(a) as f64);
            }
        };
    }
    macro_rules! both {
        ($t:ty, $n:literal) => {
            if dt.big_endian {
                go!($t, $n, from_be_bytes)
            } else {
                go!($t, $n, from_le_bytes)
            }
        };
    }
    match (dt.kind, dt.size) {
        (Kind::Float, 4) => both!(f32, 4),
        (Kind::Float, _) => both!(f64, 8),
        (Kind::Int, 1) => both!(i8, 1),
        (Kind::Int, 2) => both!(i16, 2),
        (Kind::Int, 4) => both!(i32, 4),
        (Kind::Int, _) => both!(i64, 8),
        (Kind::Uint | Kind::Bool, 1) => both!(u8, 1),
        (Kind::Uint, 2) => both!(u16, 2),
        (Kind::Uint, 4) => both!(u32, 4),
        (Kind::Uint | Kind::Bool, _) => both!(u64, 8),
    }
}

/// One element as f64, for error messages.
fn element_f64(dt: Dtype, src: &[u8]) -> f64 {
    let mut out = [0f64];
    convert(dt, src, &mut out, |v| v);
    out[0]
}

/// Streams `n_elems` elements of `h.dtype` from `r` in chunks, converting each chunk with
/// `cast` into a scratch slice and handing it to `sink(first_element_index, values, raw)`.
fn stream<R: Read, O: Copy + Default>(
    r: &mut R,
    h: &Header,
    n_elems: usize,
    available: u64,
    ctx: Ctx,
    cast: impl Fn(f64) -> O + Copy,
    mut sink: impl FnMut(usize, &[O], &[u8]) -> Result<(), DataError>,
) -> Result<(), DataError> {
    let size = h.dtype.size;
    let per_chunk = (CHUNK_BYTES / size).min(n_elems.max(1));
    let mut raw = vec![0u8; per_chunk * size];
    let mut vals = vec![O::default(); per_chunk];
    let mut done = 0usize;
    while done < n_elems {
        let m = per_chunk.min(n_elems - done);
        let want = m * size;
        let got = read_full(r, &mut raw[..want]).map_err(|e| ctx.read_err(e))?;
        if got < want {
            let have = (done * size + got) as u64;
            return Err(truncated(
                h,
                (n_elems * size) as u64,
                have.min(available),
                ctx,
            ));
        }
        convert(h.dtype, &raw[..want], &mut vals[..m], cast);
        sink(done, &vals[..m], &raw[..want])?;
        done += m;
    }
    Ok(())
}

/// Reads a 2-D feature array (after its header) into a C-order `Array2<f32>`, refusing
/// non-finite values (the first in row order is reported, with its value as stored).
pub(crate) fn read_matrix<R: Read>(
    r: &mut R,
    h: &Header,
    available: u64,
    ctx: Ctx,
) -> Result<Array2<f32>, DataError> {
    let [rows, cols] = match h.shape.as_slice() {
        [a, b] => [*a, *b],
        _ => return Err(ctx.bad_shape(&h.shape, "features must be a 2-D array (rows, columns)")),
    };
    let (rows, cols) = match (usize::try_from(rows), usize::try_from(cols)) {
        (Ok(a), Ok(b)) => (a, b),
        _ => return Err(ctx.bad_shape(&h.shape, "too many elements to address")),
    };
    check_shape(ctx.file, rows, cols)?;
    let n = check_size(h, available, ctx)?;
    // Allocation only now, bounded by the bytes the source can provide.
    let mut out = vec![0f32; n];
    let fortran = h.fortran_order && rows > 1 && cols > 1;
    let check_finite = h.dtype.kind == Kind::Float;
    // First non-finite value in row-major order: (destination index, stored value).
    let mut bad: Option<(usize, f64)> = None;
    let size = h.dtype.size;
    stream(
        r,
        h,
        n,
        available,
        ctx,
        |v| v as f32,
        |start, vals, raw| {
            let dest = |k: usize| {
                if fortran {
                    (k % rows) * cols + k / rows
                } else {
                    k
                }
            };
            if check_finite {
                for (off, v) in vals.iter().enumerate() {
                    if !v.is_finite() {
                        let d = dest(start + off);
                        let earlier = match bad {
                            Some((b, _)) => d < b,
                            None => true,
                        };
                        if earlier {
                            let orig = element_f64(h.dtype, &raw[off * size..(off + 1) * size]);
                            bad = Some((d, orig));
                        }
                    }
                }
            }
            if fortran {
                let (mut i, mut j) = (start % rows, start / rows);
                for v in vals {
                    out[i * cols + j] = *v;
                    i += 1;
                    if i == rows {
                        i = 0;
                        j += 1;
                    }
                }
            } else {
                out[start..start + vals.len()].copy_from_slice(vals);
            }
            Ok(())
        },
    )?;
    if let Some((d, value)) = bad {
        return Err(DataError::NonFinite {
            file: ctx.file.into(),
            row: d / cols,
            column: d % cols,
            value,
            line: None,
            column_name: None,
        });
    }
    Array2::from_shape_vec((rows, cols), out)
        .map_err(|e| ctx.bad_shape(&h.shape, &format!("cannot build the matrix: {e}")))
}

/// Reads a label vector (shape `(n,)` or `(n, 1)`) after its header; values must be exactly 0
/// or 1 (the first other one is reported with its row).
pub(crate) fn read_labels<R: Read>(
    r: &mut R,
    h: &Header,
    available: u64,
    ctx: Ctx,
) -> Result<Array1<u8>, DataError> {
    match h.shape.as_slice() {
        [_] | [_, 1] => {}
        _ => return Err(ctx.bad_shape(&h.shape, "labels must be 1-D, (n,) or (n, 1)")),
    }
    let n = check_size(h, available, ctx)?;
    let mut out = vec![0u8; n];
    stream(
        r,
        h,
        n,
        available,
        ctx,
        |v| v,
        |start, vals, _| {
            for (off, v) in vals.iter().enumerate() {
                out[start + off] = if *v == 0.0 {
                    0
                } else if *v == 1.0 {
                    1
                } else {
                    return Err(DataError::BadLabel {
                        file: ctx.file.into(),
                        row: start + off,
                        value: v.to_string(),
                        line: None,
                    });
                };
            }
            Ok(())
        },
    )?;
    Ok(Array1::from(out))
}

fn open(path: &Path, file: &str) -> Result<(BufReader<File>, u64), DataError> {
    let f = File::open(path).map_err(|e| io_err(file, e))?;
    let len = f.metadata().map_err(|e| io_err(file, e))?.len();
    if len == 0 {
        return Err(DataError::EmptyFile { file: file.into() });
    }
    Ok((BufReader::new(f), len))
}

/// An `.npy` feature array held in memory (2-D, any supported dtype and order), with the
/// checks of the file reader; errors name the array `<memory>`. For callers holding bytes and
/// for the fuzz targets.
pub fn parse(bytes: &[u8]) -> Result<Array2<f32>, DataError> {
    parse_with(bytes, "X", read_matrix)
}

/// An `.npy` label vector held in memory (`(n,)` or `(n, 1)`, values 0 or 1); see [`parse`].
pub fn parse_labels(bytes: &[u8]) -> Result<Array1<u8>, DataError> {
    parse_with(bytes, "y", read_labels)
}

fn parse_with<'b, T>(
    bytes: &'b [u8],
    array: &str,
    body: impl for<'c> FnOnce(&mut &'b [u8], &Header, u64, Ctx<'c>) -> Result<T, DataError>,
) -> Result<T, DataError> {
    let ctx = Ctx {
        file: "<memory>",
        array,
        in_zip: false,
    };
    if bytes.is_empty() {
        return Err(DataError::EmptyFile {
            file: ctx.file.into(),
        });
    }
    let mut r = bytes;
    let h = read_header(&mut r, ctx)?;
    let available = (bytes.len() as u64).saturating_sub(h.prefix_len);
    body(&mut r, &h, available, ctx)
}

/// Reads an `.npy` feature file.
pub(crate) fn read_matrix_file(path: &Path, file: &str) -> Result<Array2<f32>, DataError> {
    let (mut r, len) = open(path, file)?;
    let ctx = Ctx {
        file,
        array: "X",
        in_zip: false,
    };
    let h = read_header(&mut r, ctx)?;
    read_matrix(&mut r, &h, len.saturating_sub(h.prefix_len), ctx)
}

/// Reads an `.npy` label file; errors name this file.
pub(crate) fn read_labels_file(path: &Path) -> Result<Array1<u8>, DataError> {
    let file = path.display().to_string();
    let (mut r, len) = open(path, &file)?;
    let ctx = Ctx {
        file: &file,
        array: "y",
        in_zip: false,
    };
    let h = read_header(&mut r, ctx)?;
    read_labels(&mut r, &h, len.saturating_sub(h.prefix_len), ctx)
}
