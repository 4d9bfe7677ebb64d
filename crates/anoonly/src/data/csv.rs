//! CSV reader: header row required, comma-separated, fields trimmed, every non-label column a
//! numeric feature. Rows are streamed into one growing buffer.

use super::{check_shape, io_err, DataError};
use ndarray::{Array1, Array2};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// Default label column names, tried in order when none is given.
pub(crate) const DEFAULT_LABEL_COLUMNS: [&str; 2] = ["y", "label"];

fn csv_err(file: &str, e: &csv::Error) -> DataError {
    if let csv::ErrorKind::Io(_) = e.kind() {
        return DataError::Csv {
            file: file.into(),
            line: None,
            detail: e.to_string(),
        };
    }
    DataError::Csv {
        file: file.into(),
        line: e.position().map(|p| p.line()),
        detail: e.to_string(),
    }
}

/// Picks the label column index, if any.
fn label_index(
    file: &str,
    header: &[String],
    label_column: Option<&str>,
    need_labels: bool,
) -> Result<Option<usize>, DataError> {
    let find = |name: &str| -> Result<Option<usize>, DataError> {
        let hits: Vec<usize> = (0..header.len()).filter(|i| header[*i] == name).collect();
        match hits.as_slice() {
            [] => Ok(None),
            [i] => Ok(Some(*i)),
            _ => Err(DataError::Csv {
                file: file.into(),
                line: Some(1),
                detail: format!(
                    "label column {name:?} appears {} times in the header",
                    hits.len()
                ),
            }),
        }
    };
    let missing = |column: &str| DataError::MissingLabelColumn {
        file: file.into(),
        column: column.into(),
        header: header.to_vec(),
    };
    if let Some(name) = label_column {
        return find(name)?.map(Some).ok_or_else(|| missing(name));
    }
    let found: Vec<usize> = DEFAULT_LABEL_COLUMNS
        .iter()
        .map(|n| find(n))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect();
    match found.as_slice() {
        [i] => Ok(Some(*i)),
        [] if need_labels => Err(missing(&DEFAULT_LABEL_COLUMNS.join("|"))),
        [] => Ok(None),
        _ => Err(DataError::AmbiguousLabelColumn { file: file.into() }),
    }
}

/// Reads a CSV file into features and (if a label column is found) labels.
pub(crate) fn read_csv(
    path: &Path,
    file: &str,
    label_column: Option<&str>,
    need_labels: bool,
) -> Result<(Array2<f32>, Option<Array1<u8>>), DataError> {
    let f = File::open(path).map_err(|e| io_err(file, e))?;
    if f.metadata().map_err(|e| io_err(file, e))?.len() == 0 {
        return Err(DataError::EmptyFile { file: file.into() });
    }
    read_csv_from(BufReader::new(f), file, label_column, need_labels)
}

/// [`read_csv`] on any non-empty source (a file, or bytes in memory for the fuzzer); `file`
/// names it in errors.
pub(crate) fn read_csv_from<R: Read>(
    source: R,
    file: &str,
    label_column: Option<&str>,
    need_labels: bool,
) -> Result<(Array2<f32>, Option<Array1<u8>>), DataError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(source);
    let header: Vec<String> = rdr
        .headers()
        .map_err(|e| csv_err(file, &e))?
        .iter()
        .map(String::from)
        .collect();
    if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
        return Err(DataError::EmptyFile { file: file.into() });
    }
    let label = label_index(file, &header, label_column, need_labels)?;
    let n_cols = header.len();
    let n_feat = n_cols - usize::from(label.is_some());
    if n_feat == 0 {
        return Err(DataError::NoColumns { file: file.into() });
    }

    let mut x: Vec<f32> = Vec::new();
    let mut y: Vec<u8> = Vec::new();
    let mut rec = csv::ByteRecord::new();
    let mut row = 0usize;
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_err(file, &e)),
        }
        let line = rec.position().map_or(0, |p| p.line());
        if rec.len() != n_cols {
            return Err(DataError::RaggedRow {
                file: file.into(),
                line,
                row,
                expected: n_cols,
                found: rec.len(),
            });
        }
        let mut feat_col = 0usize;
        for (c, cell) in rec.iter().enumerate() {
            let text = std::str::from_utf8(cell).ok();
            if Some(c) == label {
                let v = text.and_then(|t| t.parse::<f64>().ok());
                y.push(match v {
                    Some(0.0) => 0,
                    Some(1.0) => 1,
                    _ => {
                        return Err(DataError::BadLabel {
                            file: file.into(),
                            row,
                            value: String::from_utf8_lossy(cell).into_owned(),
                            line: Some(line),
                        })
                    }
                });
                continue;
            }
            let Some(v) = text.and_then(|t| t.parse::<f32>().ok()) else {
                return Err(DataError::NonNumeric {
                    file: file.into(),
                    line,
                    row,
                    column: header[c].clone(),
                    text: String::from_utf8_lossy(cell).into_owned(),
                });
            };
            if !v.is_finite() {
                let value = text
                    .and_then(|t| t.parse::<f64>().ok())
                    .unwrap_or(f64::from(v));
                return Err(DataError::NonFinite {
                    file: file.into(),
                    row,
                    column: feat_col,
                    value,
                    line: Some(line),
                    column_name: Some(header[c].clone()),
                });
            }
            x.push(v);
            feat_col += 1;
        }
        row += 1;
    }
    check_shape(file, row, n_feat)?;
    let x = Array2::from_shape_vec((row, n_feat), x).map_err(|e| DataError::Csv {
        file: file.into(),
        line: None,
        detail: format!("internal shape error: {e}"),
    })?;
    Ok((x, label.map(|_| Array1::from(y))))
}
