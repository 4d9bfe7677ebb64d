//! `.npz` reader: a zip of `X.npy` and `y.npy`, deflated (numpy `savez_compressed`, ADBench) or
//! stored (`savez`). Entries are streamed through the NPY reader, never unpacked to a buffer.

use super::npy::{read_header, read_labels, read_matrix, Ctx};
use super::{io_err, DataError};
use ndarray::{Array1, Array2};
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;
use zip::{CompressionMethod, ZipArchive};

/// Deflate cannot expand data more than about 1032:1; an entry declaring more is corrupt or
/// malicious, and is refused before its declared size is trusted for anything.
const MAX_DEFLATE_RATIO: u64 = 1032;

fn zip_err(file: &str, detail: impl Into<String>) -> DataError {
    DataError::Zip {
        file: file.into(),
        detail: detail.into(),
    }
}

/// Reads `X.npy` and, if present (required when `need_labels`), `y.npy`.
pub(crate) fn read_npz(
    path: &Path,
    file: &str,
    need_labels: bool,
) -> Result<(Array2<f32>, Option<Array1<u8>>), DataError> {
    let f = File::open(path).map_err(|e| io_err(file, e))?;
    let file_len = f.metadata().map_err(|e| io_err(file, e))?.len();
    read_npz_from(BufReader::new(f), file_len, file, need_labels)
}

/// [`read_npz`] on any seekable source of `file_len` bytes (a file, or bytes in memory for
/// the fuzzer); `file` names it in errors.
pub(crate) fn read_npz_from<R: Read + Seek>(
    source: R,
    file_len: u64,
    file: &str,
    need_labels: bool,
) -> Result<(Array2<f32>, Option<Array1<u8>>), DataError> {
    if file_len == 0 {
        return Err(DataError::EmptyFile { file: file.into() });
    }
    let mut zip = ZipArchive::new(source).map_err(|e| zip_err(file, e.to_string()))?;
    let mut names: Vec<String> = zip.file_names().map(String::from).collect();
    names.sort();
    let has = |k: &str| names.iter().any(|n| n == k);
    if !has("X.npy") {
        return Err(DataError::MissingKey {
            file: file.into(),
            key: "X.npy".into(),
            found: names,
        });
    }
    let x = read_entry(&mut zip, file, file_len, "X.npy", |r, h, avail, ctx| {
        read_matrix(r, h, avail, ctx)
    })?;
    let y = if has("y.npy") {
        Some(read_entry(
            &mut zip,
            file,
            file_len,
            "y.npy",
            |r, h, avail, ctx| read_labels(r, h, avail, ctx),
        )?)
    } else if need_labels {
        return Err(DataError::MissingKey {
            file: file.into(),
            key: "y.npy".into(),
            found: names,
        });
    } else {
        None
    };
    Ok((x, y))
}

/// Opens one entry, checks its declared sizes, reads its NPY header and data through `body`,
/// then reads the entry to its end so that the zip CRC is verified.
fn read_entry<T, R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    file: &str,
    file_len: u64,
    key: &str,
    body: impl FnOnce(
        &mut zip::read::ZipFile<'_, R>,
        &super::npy::Header,
        u64,
        Ctx,
    ) -> Result<T, DataError>,
) -> Result<T, DataError> {
    let mut entry = zip
        .by_name(key)
        .map_err(|e| zip_err(file, format!("entry {key}: {e}")))?;
    let size = entry.size();
    let csize = entry.compressed_size();
    if csize > file_len {
        return Err(zip_err(
            file,
            format!("entry {key} declares {csize} compressed bytes, the file has {file_len}"),
        ));
    }
    match entry.compression() {
        CompressionMethod::Stored => {
            if size != csize {
                return Err(zip_err(
                    file,
                    format!("stored entry {key} declares {size} bytes but holds {csize}"),
                ));
            }
        }
        CompressionMethod::Deflated => {
            if size > csize.saturating_mul(MAX_DEFLATE_RATIO).saturating_add(1024) {
                return Err(zip_err(
                    file,
                    format!(
                        "entry {key} declares {size} uncompressed bytes from {csize} \
                         compressed ones, more than deflate can produce"
                    ),
                ));
            }
        }
        other => {
            return Err(zip_err(
                file,
                format!(
                    "entry {key} uses compression {other}; only deflate and stored are supported"
                ),
            ))
        }
    }
    let ctx = Ctx {
        file,
        array: key,
        in_zip: true,
    };
    let h = read_header(&mut entry, ctx)?;
    let available = size.saturating_sub(h.prefix_len);
    let out = body(&mut entry, &h, available, ctx)?;
    // Drain what is left (normally nothing) so the CRC check at end-of-entry runs.
    let mut sink = [0u8; 4096];
    let mut extra = 0u64;
    loop {
        match entry.read(&mut sink) {
            Ok(0) => break,
            Ok(n) => {
                extra += n as u64;
                if extra > size {
                    return Err(zip_err(
                        file,
                        format!("entry {key} holds more data than its declared {size} bytes"),
                    ));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(zip_err(file, format!("entry {key}: {e}"))),
        }
    }
    Ok(out)
}
