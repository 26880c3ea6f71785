//! Native file dialogs (rfd) on their own thread, so the window keeps drawing
//! while one is open. Opening also reads and validates the chosen workbook
//! there: the UI thread receives a parsed workbook or a message.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, TryRecvError, sync_channel};

use crate::model::Workbook;

/// What a finished dialog produced.
#[derive(Debug)]
pub enum DialogOutcome {
    /// A workbook was chosen and read.
    Opened { path: PathBuf, workbook: Box<Workbook> },
    /// A place to save the workbook was chosen.
    SaveTo(PathBuf),
    /// A data file to import was chosen.
    DataFile(PathBuf),
    /// A file to export table `.0` to was chosen.
    ExportTo(String, PathBuf),
    /// A file to export report `.0`'s answer to was chosen.
    ExportReportTo(String, PathBuf),
    /// A PNG file to draw report `.0`'s chart into was chosen.
    ExportReportPngTo(String, PathBuf),
    /// The dialog was cancelled.
    Cancelled,
    /// The chosen file could not be used.
    Failed(String),
}

/// At most one dialog at a time.
#[derive(Debug, Default)]
pub struct Dialogs {
    pending: Option<Receiver<DialogOutcome>>,
}

impl Dialogs {
    pub fn is_open(&self) -> bool {
        self.pending.is_some()
    }

    /// Asks for a workbook to open.
    pub fn open_workbook(&mut self) {
        self.spawn(|| match workbook_dialog().pick_file() {
            None => DialogOutcome::Cancelled,
            Some(path) => match Workbook::load(&path) {
                Ok(workbook) => DialogOutcome::Opened { path, workbook: Box::new(workbook) },
                Err(err) => DialogOutcome::Failed(err.to_string()),
            },
        });
    }

    /// Asks where to save the workbook.
    pub fn save_workbook_as(&mut self, suggested_name: &str) {
        let file_name = format!("{}.toml", suggested_name.replace(['/', '\\', ' '], "_"));
        self.spawn(move || match workbook_dialog().set_file_name(file_name).save_file() {
            None => DialogOutcome::Cancelled,
            Some(path) => DialogOutcome::SaveTo(path),
        });
    }

    /// Asks for a data file (CSV, Parquet, JSON, SQLite) for an import.
    pub fn pick_data_file(&mut self) {
        self.spawn(|| {
            let dialog = rfd::FileDialog::new()
                .add_filter("data files", &["csv", "tsv", "txt", "parquet", "json", "ndjson", "jsonl", "sqlite", "db"])
                .set_title("File to import");
            match dialog.pick_file() {
                None => DialogOutcome::Cancelled,
                Some(path) => DialogOutcome::DataFile(path),
            }
        });
    }

    /// Asks where to export report `name`'s answer (CSV or Parquet, by the extension chosen).
    pub fn export_report(&mut self, name: &str) {
        self.ask_export_file(name, "Export the report's answer", DialogOutcome::ExportReportTo);
    }

    /// Asks where to write report `name`'s chart as a PNG.
    pub fn export_report_png(&mut self, name: &str) {
        let (name, file_name) = (name.to_string(), format!("{name}.png"));
        self.spawn(move || {
            let dialog = rfd::FileDialog::new()
                .add_filter("PNG", &["png"])
                .set_file_name(file_name)
                .set_title("Export the chart");
            match dialog.save_file() {
                None => DialogOutcome::Cancelled,
                Some(path) => DialogOutcome::ExportReportPngTo(name, path),
            }
        });
    }

    /// Asks where to export table `name` (CSV or Parquet, by the extension chosen).
    pub fn export_table(&mut self, name: &str) {
        self.ask_export_file(name, "Export the table", DialogOutcome::ExportTo);
    }

    /// A save dialog for a CSV or Parquet file named after `name`; `chosen` makes the outcome.
    fn ask_export_file(&mut self, name: &str, title: &'static str, chosen: fn(String, PathBuf) -> DialogOutcome) {
        let (name, file_name) = (name.to_string(), format!("{name}.csv"));
        self.spawn(move || {
            let dialog = rfd::FileDialog::new()
                .add_filter("CSV", &["csv"])
                .add_filter("Parquet", &["parquet"])
                .set_file_name(file_name)
                .set_title(title);
            match dialog.save_file() {
                None => DialogOutcome::Cancelled,
                Some(path) => chosen(name, path),
            }
        });
    }

    fn spawn(&mut self, dialog: impl FnOnce() -> DialogOutcome + Send + 'static) {
        if self.pending.is_some() {
            return;
        }
        let (sender, receiver) = sync_channel(1);
        let spawned = std::thread::Builder::new().name("tidepool-file-dialog".into()).spawn(move || {
            let _ = sender.send(dialog());
        });
        match spawned {
            Ok(_) => self.pending = Some(receiver),
            Err(err) => tracing::warn!("cannot open a file dialog: {err}"),
        }
    }

    /// The outcome of the open dialog, once it is closed.
    pub fn poll(&mut self) -> Option<DialogOutcome> {
        let receiver = self.pending.as_ref()?;
        match receiver.try_recv() {
            Ok(outcome) => {
                self.pending = None;
                Some(outcome)
            }
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                self.pending = None;
                Some(DialogOutcome::Failed("the file dialog could not be shown (is a desktop portal running?)".into()))
            }
        }
    }
}

fn workbook_dialog() -> rfd::FileDialog {
    rfd::FileDialog::new().add_filter("tidepool workbook", &["toml"]).set_title("tidepool workbook")
}
