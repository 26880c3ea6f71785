//! Opening the window: what to show first, window options and persistence.

use std::path::PathBuf;

use super::app::{FrameTimeLog, TidepoolApp, load_persisted, repaint_waker};

/// What the window opens with.
#[derive(Debug, Clone)]
pub enum Launch {
    /// The built-in demo (embedded broker + demo workbook).
    Demo { rate: u32 },
    /// A workbook file; state in `data_dir` (default: the platform data directory).
    Open { workbook: PathBuf, data_dir: Option<PathBuf> },
    /// The last workbook, else an empty window.
    Restore,
}

/// Opens the window and runs until it is closed.
pub fn run_window(launch: Launch, frame_times: Option<PathBuf>) -> eframe::Result {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("tidepool")
            .with_app_id("tidepool")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([720.0, 480.0])
            .with_icon(icon()),
        persist_window: true,
        ..Default::default()
    };
    eframe::run_native(
        "tidepool",
        options,
        Box::new(move |creation| {
            let log = frame_times.map(FrameTimeLog::new);
            // Ctrl-C or SIGTERM close the window like its close button: streams checkpoint on the way out.
            let ctx = creation.egui_ctx.clone();
            let _ = ctrlc::set_handler(move || ctx.send_viewport_cmd(egui::ViewportCommand::Close));
            let persisted = load_persisted(creation.storage);
            Ok(Box::new(TidepoolApp::new(persisted, launch, log, repaint_waker(&creation.egui_ctx))))
        }),
    )
}

fn icon() -> egui::IconData {
    eframe::icon_data::from_png_bytes(include_bytes!("../../assets/icon-256.png")).unwrap_or_default()
}
