//! Writing frames to files: CSV or Parquet, chosen by the file's extension.

use std::path::Path;

use polars::prelude::*;

/// File formats an export can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Parquet,
}

/// A failed export, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot tell the format of {0}: name it .csv or .parquet")]
    UnknownFormat(String),
    #[error("cannot write {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Polars { path: String, source: PolarsError },
}

impl ExportFormat {
    pub fn of(path: &Path) -> Result<Self, ExportError> {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("csv") => Ok(Self::Csv),
            Some("parquet" | "pq") => Ok(Self::Parquet),
            _ => Err(ExportError::UnknownFormat(path.display().to_string())),
        }
    }
}

/// Writes `frame` to `path` atomically (see `files`), so a failed export leaves no half file.
pub fn write_frame(frame: &mut DataFrame, path: &Path) -> Result<(), ExportError> {
    let format = ExportFormat::of(path)?;
    let shown = path.display().to_string();
    let written = crate::engine::files::write_atomically::<WriteError>(path, |file| {
        match format {
            ExportFormat::Csv => CsvWriter::new(file)
                .include_header(true)
                .with_datetime_format(Some("%Y-%m-%dT%H:%M:%SZ".into()))
                .finish(&mut binary_as_hex(frame)),
            ExportFormat::Parquet => ParquetWriter::new(file).finish(frame).map(|_| ()),
        }
        .map_err(WriteError::Polars)
    });
    written.map_err(|err| match err {
        WriteError::Io(source) => ExportError::Io { path: shown.clone(), source },
        WriteError::Polars(source) => ExportError::Polars { path: shown.clone(), source },
    })
}

/// CSV has no bytes: binary columns are written as hexadecimal text (`00ff10`).
fn binary_as_hex(frame: &DataFrame) -> DataFrame {
    let mut frame = frame.clone();
    let binary: Vec<String> = frame
        .columns()
        .iter()
        .filter(|column| column.dtype() == &DataType::Binary)
        .map(|column| column.name().to_string())
        .collect();
    for name in binary {
        let Ok(values) = frame.column(&name).and_then(|column| column.binary().cloned()) else { continue };
        let hex = values.iter().map(|bytes| {
            bytes.map(|bytes| {
                bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut text, byte| {
                    use std::fmt::Write as _;
                    let _ = write!(text, "{byte:02x}");
                    text
                })
            })
        });
        let _ = frame.with_column(StringChunked::from_iter_options(name.as_str().into(), hex).into_column());
    }
    frame
}

/// What can go wrong inside an atomic write of a frame.
enum WriteError {
    Io(std::io::Error),
    Polars(PolarsError),
}

impl From<std::io::Error> for WriteError {
    fn from(err: std::io::Error) -> Self {
        Self::Io(err)
    }
}
