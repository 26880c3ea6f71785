//! `tidepool run`: consume every stream of a workbook, checkpointing, until
//! caught up (or until Ctrl-C / SIGTERM), then print one summary line each.
//! Without `--until-caught-up` it also runs the imports' schedules, until
//! Ctrl-C / SIGTERM stops both cleanly (running imports are cancelled and keep
//! their previous versions).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};

use crate::engine::schedule::{Scheduler, SchedulerEvent, SchedulerEvents, SystemClock};
use crate::engine::{Command, Engine, EngineOptions, Event, HistoryLoss, RunMode, StreamStats, StreamStatus, paths};
use crate::model::Workbook;
use crate::model::numbers::group_digits;

/// Options of `tidepool run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub until_caught_up: bool,
    pub checkpoint_every: Duration,
    pub give_up_after: Duration,
    /// Whether a rebuild may lose history the topic no longer holds.
    pub history: HistoryLoss,
}

enum Outcome {
    CaughtUp(StreamStats),
    Stopped(StreamStats),
    Failed(String),
}

pub fn run(workbook_path: &Path, options: &RunOptions, data_dir: &Path) -> Result<()> {
    let workbook = Workbook::load(workbook_path)?;
    if workbook.streams.is_empty() && (options.until_caught_up || workbook.imports.is_empty()) {
        bail!(
            "workbook {} declares no streams{}: add a [[streams]] table (see the README)",
            workbook_path.display(),
            if workbook.imports.is_empty() {
                ""
            } else {
                " (imports run with `tidepool import`, or with `run` without --until-caught-up)"
            }
        );
    }
    let _scheduler = if options.until_caught_up || (workbook.imports.is_empty() && workbook.exports.is_empty()) {
        None
    } else {
        Some(start_scheduler(&workbook, workbook_path, data_dir)?)
    };
    if !workbook.reports.is_empty() {
        eprintln!(
            "note: reports are not refreshed by `run`; write one with `tidepool export {} REPORT --out FILE`",
            workbook_path.display()
        );
    }
    let engine = Engine::start(
        EngineOptions {
            data_dir: data_dir.to_path_buf(),
            workbook_id: paths::workbook_id(&workbook, workbook_path),
            checkpoint_every: options.checkpoint_every,
        },
        Arc::new(|| {}),
    )?;
    let interrupt = engine.command_sender();
    // Best effort: without a handler, a kill still loses nothing committed.
    let _ = ctrlc::set_handler(move || {
        let _ = interrupt.try_send(Command::Shutdown);
    });
    let mode = if options.until_caught_up {
        RunMode::UntilCaughtUp { give_up_after: options.give_up_after }
    } else {
        RunMode::Continuous
    };
    for spec in &workbook.streams {
        engine.send(Command::StartStream { spec: Box::new(spec.clone()), mode, history: options.history });
    }
    let mut outcomes: BTreeMap<String, Outcome> = BTreeMap::new();
    let mut last_retry_message: BTreeMap<String, String> = BTreeMap::new();
    let mut shutdown_sent = false;
    while let Some(event) = engine.next_event() {
        match event {
            Event::StreamDefinitionChanged { stream, changes } => eprintln!(
                "{stream}: the rollup definition changed since the last checkpoint ({}); rebuilding from the start position \
                 (the previous rollup stays readable until the rebuild has caught up)",
                changes.join(", ")
            ),
            Event::StreamRebuilt { stream, stats } => {
                eprintln!("{stream}: the rebuilt rollup ({} events) replaced the previous one", stats.events);
            }
            Event::StreamDefinitionRenamed { stream, changes } => {
                eprintln!("{stream}: {} (in place, no rebuild)", changes.join(", "));
            }
            Event::StreamCheckpointSetAside { stream, why } => {
                eprintln!(
                    "{stream}: {why}; it was kept aside unchanged and the stream rebuilds from its start position"
                );
            }
            Event::StreamStatusChanged { stream, status: StreamStatus::Retrying { message, retry_in }, .. }
                if last_retry_message.get(&stream) != Some(&message) =>
            {
                eprintln!("{stream}: {message}; retrying in {}s", retry_in.as_secs());
                last_retry_message.insert(stream, message);
            }
            Event::CheckpointFailed { stream, message } => eprintln!("{stream}: checkpoint failed: {message}"),
            Event::StreamCaughtUp { stream, stats } => {
                outcomes.insert(stream, Outcome::CaughtUp(stats));
            }
            Event::StreamFailed { stream, message } => {
                outcomes.insert(stream, Outcome::Failed(message));
            }
            Event::StreamStopped { stream, stats } => {
                outcomes.entry(stream).or_insert(Outcome::Stopped(stats));
            }
            Event::EngineStopped => break,
            _ => {}
        }
        if !shutdown_sent && !workbook.streams.is_empty() && outcomes.len() == workbook.streams.len() {
            shutdown_sent = engine.send(Command::Shutdown);
        }
    }
    let mut failures = Vec::new();
    for (stream, outcome) in &outcomes {
        match outcome {
            Outcome::CaughtUp(stats) => println!("{stream}: {}, caught up", summary(stats)),
            Outcome::Stopped(stats) => println!("{stream}: {}, stopped", summary(stats)),
            Outcome::Failed(message) => failures.push(format!("stream `{stream}`: {message}")),
        }
    }
    if !failures.is_empty() {
        bail!("{}", failures.join("\n"));
    }
    Ok(())
}

/// Runs the imports' schedules in the background, telling stderr what happens.
fn start_scheduler(workbook: &Workbook, workbook_path: &Path, data_dir: &Path) -> Result<Scheduler> {
    let context = super::imports::context_of(workbook, workbook_path, data_dir);
    let events: SchedulerEvents = Arc::new(|event| match event {
        SchedulerEvent::RunStarted { import, trigger } => eprintln!("{import}: run started ({})", trigger.code()),
        SchedulerEvent::RunRetrying { import, attempt, message, wait } => {
            eprintln!("{import}: attempt {attempt} failed: {message}; retrying in {:.0}s", wait.as_secs_f64());
        }
        SchedulerEvent::RunSucceeded { import, summary } => eprintln!(
            "{import}: version {} with {} rows ({} fetched)",
            summary.version.version, summary.version.rows, summary.fetched_rows
        ),
        SchedulerEvent::ExportSucceeded { export, summary } => {
            eprintln!("{export}: wrote {} rows to {}", summary.rows, summary.destination);
        }
        SchedulerEvent::RunFailed { message, .. } => eprintln!("{message}"),
        SchedulerEvent::NextRun { import, at: Some(at) } => {
            eprintln!("{import}: next run at {}", at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        }
        SchedulerEvent::RunProgress { .. } | SchedulerEvent::NextRun { at: None, .. } => {}
    });
    Ok(Scheduler::start(
        Arc::new(workbook.clone()),
        context,
        Arc::new(SystemClock),
        crate::engine::schedule::DEFAULT_CONCURRENT_RUNS,
        events,
    )?)
}

fn summary(stats: &StreamStats) -> String {
    let skipped = if stats.skipped_offsets > 0 {
        format!(", {} offsets skipped by the broker", stats.skipped_offsets)
    } else {
        String::new()
    };
    let filtered =
        if stats.filtered > 0 { format!(", {} left out by the filter", stats.filtered) } else { String::new() };
    format!(
        "{} events{filtered}, {} quarantined, {} late, lag {}, {} rows{skipped}, {} new this run{}",
        stats.events,
        stats.quarantined,
        stats.late,
        stats.lag_msgs.map_or_else(|| "unknown".into(), |lag| lag.to_string()),
        stats.rows,
        stats.counted_this_run,
        reading_rate(stats)
    )
}

/// How fast this run read its messages, as `, read in 3.4 s (590,000 messages/s)`;
/// empty when it read too little to say.
fn reading_rate(stats: &StreamStats) -> String {
    match stats.reading {
        Some(took) if stats.counted_this_run > 1 && !took.is_zero() => {
            let rate = stats.counted_this_run as f64 / took.as_secs_f64();
            format!(", read in {:.1} s ({} messages/s)", took.as_secs_f64(), group_digits(rate.round() as u64))
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reading_rate_is_this_runs_messages_over_its_reading_time() {
        let stats = StreamStats {
            counted_this_run: 3_000_000,
            reading: Some(Duration::from_secs(2)),
            ..StreamStats::default()
        };
        assert_eq!(reading_rate(&stats), ", read in 2.0 s (1,500,000 messages/s)");
        assert!(summary(&stats).ends_with("3000000 new this run, read in 2.0 s (1,500,000 messages/s)"));
        // Nothing read, or a single instant, says nothing rather than a made-up rate.
        assert_eq!(reading_rate(&StreamStats { reading: None, ..stats.clone() }), "");
        assert_eq!(reading_rate(&StreamStats { reading: Some(Duration::ZERO), ..stats.clone() }), "");
        assert_eq!(reading_rate(&StreamStats { counted_this_run: 0, ..stats }), "");
    }
}
