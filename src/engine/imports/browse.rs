//! A table as the window shows it: its current version read back (sorted
//! when asked) and its run history; and a table's current version exported
//! to a CSV or Parquet file. Read-only; runs on a background thread,
//! never the UI's, and never blocks a running import (the catalogue is
//! SQLite in WAL mode, the version file is immutable once committed).

use polars::prelude::*;

use super::{ImportContext, ImportError, read_version};
use crate::engine::store::tables::{RunRecord, TableCatalog, TableVersion};

/// Runs of a table the window lists.
pub const HISTORY_RUNS: usize = 50;

/// A table's current version, its rows and its recent runs.
#[derive(Debug, Clone)]
pub struct TableSnapshot {
    pub name: String,
    /// `None` until an import run has succeeded.
    pub version: Option<TableVersion>,
    pub frame: Option<DataFrame>,
    /// Newest first.
    pub runs: Vec<RunRecord>,
    /// The column sorted by and whether descending.
    pub sort: Option<(String, bool)>,
}

/// Reads table `name`'s current version and history, sorted by `sort` (column, descending).
pub fn table_snapshot(
    context: &ImportContext,
    name: &str,
    sort: Option<(String, bool)>,
) -> Result<TableSnapshot, ImportError> {
    let catalog = TableCatalog::open(&context.data_dir, &context.workbook_id)?;
    let version = catalog.current(name)?;
    let runs = catalog.runs(Some(name), HISTORY_RUNS)?;
    let frame = match &version {
        None => None,
        Some(version) => {
            let frame = read_version(version)?;
            Some(match &sort {
                Some((column, descending)) if frame.schema().contains(column) => frame
                    .sort(
                        [column.as_str()],
                        SortMultipleOptions::default().with_order_descending(*descending).with_nulls_last(true),
                    )
                    .map_err(|err| ImportError::Source(format!("cannot sort `{name}` by `{column}`: {err}")))?,
                _ => frame,
            })
        }
    };
    Ok(TableSnapshot { name: name.to_string(), version, frame, runs, sort })
}

/// Writes table `name`'s current version to `path` (CSV or Parquet by its
/// extension, atomically); answers the rows written.
pub fn export_table(context: &ImportContext, name: &str, path: &std::path::Path) -> Result<u64, ImportError> {
    let catalog = TableCatalog::open(&context.data_dir, &context.workbook_id)?;
    let version = catalog.current(name)?.ok_or_else(|| {
        ImportError::Config(format!("table `{name}` has no version yet (its import has not succeeded)"))
    })?;
    let mut frame = read_version(&version)?;
    crate::engine::export::write_frame(&mut frame, path)
        .map_err(|err| ImportError::Source(format!("cannot export `{name}`: {err}")))?;
    Ok(frame.height() as u64)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::engine::store::tables::RunTrigger;

    #[test]
    fn a_table_is_read_sorted_with_its_history_and_exported() {
        let folder = tempfile::tempdir().unwrap();
        std::fs::write(folder.path().join("t.csv"), "id,name\n2,b\n3,c\n1,a\n").unwrap();
        let spec: crate::model::ImportSpec =
            toml::from_str("name = \"t\"\n[source]\nkind = \"file\"\npath = \"t.csv\"\n").unwrap();
        let context = ImportContext {
            data_dir: folder.path().join("state"),
            workbook_id: "w".into(),
            base_dir: folder.path().into(),
        };
        let before = table_snapshot(&context, "t", None).unwrap();
        assert!(before.version.is_none() && before.frame.is_none() && before.runs.is_empty());
        let stop = Arc::new(AtomicBool::new(false));
        super::super::run_import(
            &spec,
            &context,
            RunTrigger::Manual,
            &stop,
            &(Arc::new(|_| {}) as _),
            &mut |_, _, _| {},
        )
        .unwrap();
        let snapshot = table_snapshot(&context, "t", Some(("id".into(), true))).unwrap();
        let ids: Vec<Option<i64>> = snapshot.frame.unwrap().column("id").unwrap().i64().unwrap().iter().collect();
        assert_eq!(ids, [Some(3), Some(2), Some(1)]);
        assert_eq!(snapshot.version.unwrap().rows, 3);
        assert_eq!(snapshot.runs.len(), 1);
        let out = folder.path().join("out.csv");
        assert_eq!(export_table(&context, "t", &out).unwrap(), 3);
        assert_eq!(std::fs::read_to_string(out).unwrap(), "id,name\n2,b\n3,c\n1,a\n");
        let err = export_table(&context, "missing", &folder.path().join("x.csv")).unwrap_err();
        assert!(err.to_string().contains("`missing` has no version yet"), "{err}");
    }
}
