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

/// Writes `frame` to `path` (through a temporary file, so a failed export leaves no half file).
pub fn write_frame(frame: &mut DataFrame, path: &Path) -> Result<(), ExportError> {
    let format = ExportFormat::of(path)?;
    let shown = path.display().to_string();
    let io = |source| ExportError::Io { path: shown.clone(), source };
    let partial =
        path.with_extension(format!("{}.partial", path.extension().and_then(|e| e.to_str()).unwrap_or_default()));
    let file = std::fs::File::create(&partial).map_err(io)?;
    let written = match format {
        ExportFormat::Csv => CsvWriter::new(file)
            .include_header(true)
            .with_datetime_format(Some("%Y-%m-%dT%H:%M:%SZ".into()))
            .finish(frame),
        ExportFormat::Parquet => ParquetWriter::new(file).finish(frame).map(|_| ()),
    };
    if let Err(source) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(ExportError::Polars { path: shown, source });
    }
    std::fs::rename(&partial, path).map_err(io)
}
