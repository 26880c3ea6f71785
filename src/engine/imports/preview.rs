//! A look at what an import would fetch, without saving anything: the first
//! rows and the detected schema, for the editor's Test button. The source is
//! read as a run reads it (same readers, same type mapping, same secrets from
//! the environment); the fetch stops once it has the rows it needs, and
//! nothing is written: no table file, no catalogue row, no run history.
//!
//! Runs on the caller's thread, never the UI's.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use polars::prelude::*;

use super::{BadRow, Cancel, Fetched, ImportContext, ImportError, fetch};
use crate::model::imports::{BadRowPolicy, ImportSource, ImportSpec};

/// Rows a preview shows.
pub const PREVIEW_ROWS: usize = 100;
/// The longest a preview may take, whatever the import's own timeout.
const PREVIEW_TIMEOUT_SECS: i64 = 60;

/// The first rows of an import's source and their types.
#[derive(Debug, Clone)]
pub struct Preview {
    pub frame: DataFrame,
    /// Each column's name and type, as the table would have them.
    pub schema: Vec<(String, String)>,
    /// Bad rows met among the rows read (a run under `bad_rows = "fail"` would fail on them).
    pub bad_rows: u64,
    pub first_bad_rows: Vec<BadRow>,
    pub log: Vec<String>,
}

/// Fetches up to `rows` rows of `spec`'s source (an HTTP API: its first page only).
pub fn preview_import(
    spec: &ImportSpec,
    context: &ImportContext,
    rows: usize,
    stop: &Arc<AtomicBool>,
) -> Result<Preview, ImportError> {
    let mut spec = spec.clone();
    // A preview shows bad rows instead of stopping at the first one.
    spec.bad_rows = BadRowPolicy::Skip;
    if let ImportSource::Http(http) = &mut spec.source {
        http.max_pages = 1;
    }
    let timeout = spec.timeout.seconds().clamp(1, PREVIEW_TIMEOUT_SECS);
    let cancel = Cancel::new(stop.clone(), Duration::from_secs(timeout as u64));
    let mut fetched = Fetched::new(Arc::new(|_| {}));
    fetched.limit = Some(rows as u64);
    match fetch(&spec, context, None, &cancel, &mut fetched) {
        Ok(()) => {}
        Err(ImportError::Cancelled) if fetched.is_full() => {}
        Err(err) => return Err(err),
    }
    let frame = fetched.take_frame()?.head(Some(rows));
    let schema = frame.schema().iter().map(|(name, dtype)| (name.to_string(), dtype.to_string())).collect();
    Ok(Preview {
        frame,
        schema,
        bad_rows: fetched.bad_row_count,
        first_bad_rows: std::mem::take(&mut fetched.kept_bad_rows),
        log: std::mem::take(&mut fetched.log),
    })
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    fn file_import(folder: &std::path::Path, text: &str) -> (ImportSpec, ImportContext) {
        std::fs::write(folder.join("data.csv"), text).unwrap();
        let spec: ImportSpec =
            toml::from_str("name = \"t\"\n[source]\nkind = \"file\"\npath = \"data.csv\"\n").unwrap();
        let context =
            ImportContext { data_dir: folder.join("state"), workbook_id: "w".into(), base_dir: folder.to_path_buf() };
        (spec, context)
    }

    #[test]
    fn a_preview_shows_typed_rows_and_writes_nothing() {
        let folder = tempfile::tempdir().unwrap();
        let mut text = String::from("id,name,price\n");
        for id in 0..500 {
            let _ = writeln!(text, "{id},item {id},{}.5", id % 7);
            if id == 3 {
                text.push_str("oops,only two\n");
            }
        }
        let (spec, context) = file_import(folder.path(), &text);
        let preview = preview_import(&spec, &context, 20, &Arc::new(AtomicBool::new(false))).unwrap();
        assert_eq!(preview.frame.height(), 20);
        assert_eq!(
            preview.schema,
            vec![("id".into(), "i64".into()), ("name".into(), "str".into()), ("price".into(), "f64".into())]
        );
        assert_eq!(preview.bad_rows, 1, "the short row is counted, not fatal");
        assert!(preview.first_bad_rows[0].location.ends_with("line 6"), "{:?}", preview.first_bad_rows);
        assert!(!context.data_dir.exists(), "a preview leaves no state behind");
    }

    #[test]
    fn a_preview_of_a_missing_file_says_which() {
        let folder = tempfile::tempdir().unwrap();
        let (mut spec, context) = file_import(folder.path(), "a\n1\n");
        if let ImportSource::File(file) = &mut spec.source {
            file.path = "nowhere.csv".into();
        }
        let err = preview_import(&spec, &context, 20, &Arc::new(AtomicBool::new(false))).unwrap_err();
        assert!(err.to_string().contains("nowhere.csv"), "{err}");
    }
}
