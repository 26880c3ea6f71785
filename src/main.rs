//! The `tidepool` command: parses the command line and starts a headless verb.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use tidepool::cli;
use tidepool::engine::paths;
use tidepool::model::SpanDuration;

/// tidepool: Kafka topics rolled up live into Polars frames.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Where checkpoints and quarantined records live (default: $`TIDEPOOL_DATA_DIR`, else the platform data directory).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    verb: Option<Verb>,
}

#[derive(Debug, Subcommand)]
enum Verb {
    /// Open the workbench on the built-in live demo (an embedded Kafka broker; nothing to install).
    #[cfg(feature = "gui")]
    Demo {
        /// Events per second the demo produces (changeable in the window).
        #[arg(long, default_value_t = tidepool::demo::cluster::DEFAULT_RATE)]
        rate: u32,
        /// Write each frame's time in ms to this file (for measuring responsiveness).
        #[arg(long, value_name = "FILE")]
        frame_times: Option<PathBuf>,
    },
    /// Open the workbench on a workbook.
    #[cfg(feature = "gui")]
    Open {
        workbook: PathBuf,
        #[arg(long, value_name = "FILE")]
        frame_times: Option<PathBuf>,
    },
    /// Consume every stream of a workbook into its rollup, checkpointing as it goes.
    Run {
        workbook: PathBuf,
        /// Stop once every partition of every stream has reached its end.
        #[arg(long)]
        until_caught_up: bool,
        /// How often to checkpoint while consuming (e.g. 1s, 5s, 1m).
        #[arg(long, default_value = "5s", value_parser = parse_span)]
        checkpoint_every: SpanDuration,
        /// With --until-caught-up: give up when a broker cannot be read for this long.
        #[arg(long, default_value = "30s", value_parser = parse_span)]
        give_up_after: SpanDuration,
        /// Checkpoint interval in milliseconds (overrides --checkpoint-every; for tests and tuning).
        #[arg(long, hide = true)]
        checkpoint_every_ms: Option<u64>,
        /// Rebuild a changed rollup even when the topic no longer holds all the messages
        /// the current one was built from (that history is then lost).
        #[arg(long)]
        rebuild_losing_history: bool,
    },
    /// Run one import of a workbook now (with its retries); exits non-zero when it fails.
    Import { workbook: PathBuf, import: String },
    /// Print the run history of a workbook's imports (or of one), newest first.
    History { workbook: PathBuf, import: Option<String> },
    /// Write a report's answer, a stream's rollup or an imported table to a CSV or Parquet file
    /// (by the file's extension) — or a report's chart to a PNG file —, or run one of the
    /// workbook's [[exports]] now (without --out).
    Export {
        workbook: PathBuf,
        /// A report, a stream, an import or an export of the workbook.
        stream: String,
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// A PNG's size in pixels, width x height (1600x900).
        #[arg(long, value_name = "WxH", default_value = "1600x900", value_parser = parse_size)]
        size: (u32, u32),
        /// A PNG drawn in the dark theme (light by default, for slides).
        #[arg(long)]
        dark: bool,
    },
    /// List the quarantined records of one stream, one per line.
    Quarantine { workbook: PathBuf, stream: String },
    /// Forget one stream's checkpoint, rollup and quarantine, so the next run starts over.
    Reset { workbook: PathBuf, stream: String },
    /// Store a password or token in the OS keyring (read without echo, or from a pipe), or remove
    /// it; workbooks name it with `password_keyring = "ENTRY"` or `headers_keyring`.
    Secret {
        #[arg(value_enum)]
        action: SecretVerb,
        entry: String,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum SecretVerb {
    /// Store the secret under ENTRY (replacing what it held).
    Set,
    /// Remove ENTRY.
    Forget,
}

#[cfg(feature = "gui")]
fn window(launch: tidepool::ui::Launch, frame_times: Option<PathBuf>) -> anyhow::Result<()> {
    tidepool::ui::run_window(launch, frame_times).map_err(|err| anyhow::anyhow!("the window could not open: {err}"))
}

fn parse_span(text: &str) -> Result<SpanDuration, String> {
    text.parse()
}

fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (width, height) = text.split_once(['x', 'X', '×']).ok_or("write the size as WIDTHxHEIGHT, e.g. 1600x900")?;
    let side = |text: &str| text.trim().parse::<u32>().map_err(|_| format!("`{text}` is not a number of pixels"));
    Ok((side(width)?, side(height)?))
}

/// jemalloc for the whole process, librdkafka's C code included (see Cargo.toml).
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TIDEPOOL_LOG")
                .unwrap_or_else(|_| "warn,librdkafka=off".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let data_dir = paths::data_dir(args.data_dir.as_deref());
    #[cfg(feature = "gui")]
    let explicit_data_dir = args.data_dir.clone();
    let result = match args.verb {
        #[cfg(feature = "gui")]
        None => window(tidepool::ui::Launch::Restore, None),
        #[cfg(not(feature = "gui"))]
        None => {
            Err(anyhow::anyhow!("this build of tidepool has no window (built without the `gui` feature); see --help"))
        }
        #[cfg(feature = "gui")]
        Some(Verb::Demo { rate, frame_times }) => window(tidepool::ui::Launch::Demo { rate }, frame_times),
        #[cfg(feature = "gui")]
        Some(Verb::Open { workbook, frame_times }) => {
            window(tidepool::ui::Launch::Open { workbook, data_dir: explicit_data_dir }, frame_times)
        }
        Some(Verb::Run {
            workbook,
            until_caught_up,
            checkpoint_every,
            give_up_after,
            checkpoint_every_ms,
            rebuild_losing_history,
        }) => {
            let checkpoint_every = checkpoint_every_ms
                .map_or(Duration::from_secs(checkpoint_every.seconds().max(1) as u64), Duration::from_millis);
            let options = cli::RunOptions {
                until_caught_up,
                checkpoint_every,
                give_up_after: Duration::from_secs(give_up_after.seconds().max(1) as u64),
                history: if rebuild_losing_history {
                    tidepool::engine::HistoryLoss::Accept
                } else {
                    tidepool::engine::HistoryLoss::Refuse
                },
            };
            cli::run(&workbook, &options, &data_dir)
        }
        Some(Verb::Import { workbook, import }) => cli::import(&workbook, &import, &data_dir),
        Some(Verb::History { workbook, import }) => cli::history(&workbook, import.as_deref(), &data_dir),
        Some(Verb::Export { workbook, stream, out, size, dark }) => {
            let picture = cli::Picture { width: size.0, height: size.1, dark };
            cli::export(&workbook, &stream, out.as_deref(), picture, &data_dir)
        }
        Some(Verb::Quarantine { workbook, stream }) => cli::quarantine(&workbook, &stream, &data_dir),
        Some(Verb::Reset { workbook, stream }) => cli::reset(&workbook, &stream, &data_dir),
        Some(Verb::Secret { action, entry }) => cli::secret(
            match action {
                SecretVerb::Set => cli::SecretAction::Set,
                SecretVerb::Forget => cli::SecretAction::Forget,
            },
            &entry,
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
