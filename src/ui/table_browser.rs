//! What the window holds of the table being looked at and of the import
//! being previewed: the latest answers of background reads, and the reads in
//! flight. Reading a version, sorting it and fetching a preview happen on
//! threads of their own (see [`Pending`]); the UI thread only takes answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::engine::imports::ImportContext;
use crate::engine::imports::browse::{TableSnapshot, table_snapshot};
use crate::engine::imports::preview::{PREVIEW_ROWS, Preview, preview_import};
use crate::model::imports::ImportSpec;
use crate::ui::background::Pending;

/// The table shown in the central area.
#[derive(Debug)]
pub struct TableBrowser {
    pub name: String,
    pub sort: Option<(String, bool)>,
    /// The latest snapshot read (kept while a newer one loads).
    pub snapshot: Option<Arc<TableSnapshot>>,
    pub error: Option<String>,
    loading: Option<Pending<Result<TableSnapshot, String>>>,
    /// Asked to reload while a read ran: read again when it ends.
    again: bool,
}

impl TableBrowser {
    pub fn open(name: &str, context: &ImportContext, wake: &crate::engine::Waker) -> Self {
        let mut browser =
            Self { name: name.to_string(), sort: None, snapshot: None, error: None, loading: None, again: false };
        browser.reload(context, wake);
        browser
    }

    /// Reads the table again (a new version landed, a run finished, the sort changed).
    pub fn reload(&mut self, context: &ImportContext, wake: &crate::engine::Waker) {
        if self.loading.as_ref().is_some_and(Pending::is_running) {
            self.again = true;
            return;
        }
        let (context, name, sort) = (context.clone(), self.name.clone(), self.sort.clone());
        self.loading = Some(Pending::spawn("tidepool-read-table", wake.clone(), move || {
            table_snapshot(&context, &name, sort).map_err(|err| err.to_string())
        }));
    }

    /// Sorts by `column`: descending first, then the other way on a second click.
    pub fn sort_by(&mut self, column: &str, context: &ImportContext, wake: &crate::engine::Waker) {
        let descending = match &self.sort {
            Some((current, descending)) if current == column => !descending,
            _ => true,
        };
        self.sort = Some((column.to_string(), descending));
        self.reload(context, wake);
    }

    /// Takes a finished read's answer; answers whether anything changed.
    pub fn poll(&mut self, context: &ImportContext, wake: &crate::engine::Waker) -> bool {
        let Some(answer) = self.loading.as_mut().and_then(Pending::take) else { return false };
        self.loading = None;
        match answer.and_then(|read| read) {
            Ok(snapshot) => {
                self.snapshot = Some(Arc::new(snapshot));
                self.error = None;
            }
            Err(message) => self.error = Some(message),
        }
        if std::mem::take(&mut self.again) {
            self.reload(context, wake);
        }
        true
    }

    pub fn is_loading(&self) -> bool {
        self.loading.as_ref().is_some_and(Pending::is_running)
    }
}

/// A Test of the import editor: what was asked and, once fetched, the preview.
#[derive(Debug)]
pub struct PreviewState {
    pub spec: ImportSpec,
    pub answer: Option<Result<Preview, String>>,
    pending: Pending<Result<Preview, String>>,
    stop: Arc<AtomicBool>,
}

impl PreviewState {
    pub fn start(spec: ImportSpec, context: &ImportContext, wake: &crate::engine::Waker) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (asked, context, stopped) = (spec.clone(), context.clone(), stop.clone());
        let pending = Pending::spawn("tidepool-preview-import", wake.clone(), move || {
            preview_import(&asked, &context, PREVIEW_ROWS, &stopped).map_err(|err| err.to_string())
        });
        Self { spec, answer: None, pending, stop }
    }

    /// Takes the answer once it is there; answers whether it arrived now.
    pub fn poll(&mut self) -> bool {
        let Some(answer) = self.pending.take() else { return false };
        self.answer = Some(answer.and_then(|fetched| fetched));
        true
    }
}

impl Drop for PreviewState {
    /// A preview nobody waits for any more stops fetching.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
