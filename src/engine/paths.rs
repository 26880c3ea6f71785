//! Where tidepool keeps its state, and how a workbook is identified.
//!
//! The data directory is `--data-dir`, else `$TIDEPOOL_DATA_DIR`, else the
//! platform's data directory (`~/.local/share/tidepool` on Linux).

use std::path::{Path, PathBuf};

use crate::model::Workbook;

/// Environment variable overriding the data directory.
pub const DATA_DIR_ENV: &str = "TIDEPOOL_DATA_DIR";

pub fn data_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(path) = explicit {
        return path.to_path_buf();
    }
    if let Some(path) = std::env::var_os(DATA_DIR_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    directories::ProjectDirs::from("org", "tidepool", "tidepool")
        .map_or_else(|| PathBuf::from(".tidepool"), |dirs| dirs.data_dir().to_path_buf())
}

/// The workbook's `[workbook] id`, else its absolute path.
pub fn workbook_id(workbook: &Workbook, path: &Path) -> String {
    workbook.workbook.id.clone().unwrap_or_else(|| {
        std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()).to_string_lossy().into_owned()
    })
}
