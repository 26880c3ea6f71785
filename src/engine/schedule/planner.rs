//! When each import runs: its schedule's next time, runs missed while the
//! laptop slept or the app was closed (run **once**, on wake or start — not
//! once per missed slot, unlike Airflow's catch-up), pause and resume, run
//! now, one run of an import at a time, and `after` dependencies run as a
//! small DAG (an import runs once every import it is `after` has succeeded
//! since its own last run).
//!
//! Pure logic over times it is given: no threads, no clock of its own, no I/O,
//! so tests drive it with any clock.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::engine::store::tables::RunTrigger;
use crate::model::imports::{ImportSpec, Schedule};

/// What the planner needs of an import or export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub name: String,
    pub schedule: Option<Schedule>,
    pub after: Vec<String>,
}

impl From<&ImportSpec> for Job {
    fn from(import: &ImportSpec) -> Self {
        Self { name: import.name.clone(), schedule: import.schedule.clone(), after: import.after.clone() }
    }
}

impl From<&crate::model::exports::ExportSpec> for Job {
    fn from(export: &crate::model::exports::ExportSpec) -> Self {
        Self { name: export.name.clone(), schedule: export.schedule.clone(), after: export.after.clone() }
    }
}

/// A slot run this long after its time still counts as on schedule, not a catch-up.
const ON_TIME_GRACE_SECS: i64 = 60;

#[derive(Debug)]
struct Entry {
    schedule: Option<Schedule>,
    after: Vec<String>,
    next_due: Option<DateTime<Utc>>,
    paused: bool,
    running: bool,
    /// Asked to run now (or by a dependency), with why.
    requested: Option<RunTrigger>,
    last_started: Option<DateTime<Utc>>,
    last_succeeded: Option<DateTime<Utc>>,
}

/// The plan of one workbook's imports.
#[derive(Debug)]
pub struct Planner {
    entries: BTreeMap<String, Entry>,
}

/// What the history says of an import's earlier runs, to plan after a restart.
#[derive(Debug, Clone, Copy, Default)]
pub struct PastRuns {
    pub last_started: Option<DateTime<Utc>>,
    pub last_succeeded: Option<DateTime<Utc>>,
}

impl Planner {
    /// Plans `imports` at `now`. An import that has run before is next due at
    /// its schedule's first time after that run — which may already have
    /// passed (missed while closed): then it is due at once, as one catch-up
    /// run. One that never ran waits for its first cron time; an `every`
    /// schedule runs it at once, so its table exists.
    pub fn new(imports: &[Job], past: &BTreeMap<String, PastRuns>, now: DateTime<Utc>) -> Self {
        let entries = imports
            .iter()
            .map(|import| {
                let past = past.get(&import.name).copied().unwrap_or_default();
                let next_due = import.schedule.as_ref().and_then(|schedule| match (schedule, past.last_started) {
                    (_, Some(last)) => schedule.next_after(last),
                    (Schedule::Every(_), None) => Some(now),
                    (Schedule::Cron { .. }, None) => schedule.next_after(now),
                });
                let entry = Entry {
                    schedule: import.schedule.clone(),
                    after: import.after.clone(),
                    next_due,
                    paused: false,
                    running: false,
                    requested: None,
                    last_started: past.last_started,
                    last_succeeded: past.last_succeeded,
                };
                (import.name.clone(), entry)
            })
            .collect();
        Self { entries }
    }

    /// The imports to start now, with why; each is marked running. A schedule
    /// whose time has passed (by a little, or by a night of sleep) gives one
    /// run, and its next time is counted from now.
    pub fn due(&mut self, now: DateTime<Utc>) -> Vec<(String, RunTrigger)> {
        let mut due = Vec::new();
        for (name, entry) in &mut self.entries {
            if entry.running || entry.paused {
                continue;
            }
            let trigger = if let Some(requested) = entry.requested.take() {
                Some(requested)
            } else {
                match entry.next_due {
                    Some(next) if next <= now => Some(if (now - next).num_seconds() <= ON_TIME_GRACE_SECS {
                        RunTrigger::Schedule
                    } else {
                        RunTrigger::CatchUp
                    }),
                    _ => None,
                }
            };
            let Some(trigger) = trigger else { continue };
            entry.running = true;
            entry.last_started = Some(now);
            // A run that covers a passed slot (whatever asked for it) counts it; the next one is after now.
            if entry.next_due.is_some_and(|next| next <= now) {
                entry.next_due = entry.schedule.as_ref().and_then(|schedule| schedule.next_after(now));
            }
            due.push((name.clone(), trigger));
        }
        due
    }

    /// Notes that a run ended; a success may make dependents due.
    pub fn finished(&mut self, name: &str, succeeded: bool, now: DateTime<Utc>) {
        if let Some(entry) = self.entries.get_mut(name) {
            entry.running = false;
            if succeeded {
                entry.last_succeeded = Some(now);
            }
        }
        if !succeeded {
            return;
        }
        let ready: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, entry)| entry.after.iter().any(|dependency| dependency == name))
            .filter(|(_, entry)| {
                entry.after.iter().all(|dependency| {
                    let succeeded = self.entries.get(dependency).and_then(|d| d.last_succeeded);
                    succeeded.is_some_and(|at| entry.last_started.is_none_or(|started| at >= started))
                })
            })
            .map(|(dependent, _)| dependent.clone())
            .collect();
        for dependent in ready {
            if let Some(entry) = self.entries.get_mut(&dependent) {
                entry.requested.get_or_insert(RunTrigger::Dependency);
            }
        }
    }

    /// Asks for a run as soon as the import is free (`run now`, or a changed file).
    pub fn request(&mut self, name: &str, trigger: RunTrigger) -> bool {
        self.entries.get_mut(name).is_some_and(|entry| {
            entry.requested = Some(trigger);
            true
        })
    }

    pub fn set_paused(&mut self, name: &str, paused: bool) -> bool {
        self.entries.get_mut(name).is_some_and(|entry| {
            entry.paused = paused;
            true
        })
    }

    pub fn is_paused(&self, name: &str) -> bool {
        self.entries.get(name).is_some_and(|entry| entry.paused)
    }

    /// When an import runs next by its schedule.
    pub fn next_due(&self, name: &str) -> Option<DateTime<Utc>> {
        self.entries.get(name).and_then(|entry| entry.next_due)
    }

    /// The earliest next scheduled time of any import that is not paused.
    pub fn next_wake(&self) -> Option<DateTime<Utc>> {
        self.entries.values().filter(|entry| !entry.paused).filter_map(|entry| entry.next_due).min()
    }

    /// Imports running now.
    pub fn running(&self) -> BTreeSet<String> {
        self.entries.iter().filter(|(_, entry)| entry.running).map(|(name, _)| name.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn spec(text: &str) -> Job {
        let import: ImportSpec =
            toml::from_str(&format!("source = {{ kind = \"file\", path = \"a.csv\" }}\n{text}")).unwrap();
        Job::from(&import)
    }

    fn at(hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, hour, minute, 0).unwrap()
    }

    fn names(due: &[(String, RunTrigger)]) -> Vec<(&str, RunTrigger)> {
        due.iter().map(|(name, trigger)| (name.as_str(), *trigger)).collect()
    }

    #[test]
    fn intervals_run_at_start_then_every_interval_one_at_a_time() {
        let imports = vec![spec("name = \"rates\"\nschedule = { every = \"1m\" }")];
        let mut planner = Planner::new(&imports, &BTreeMap::new(), at(9, 0));
        assert_eq!(names(&planner.due(at(9, 0))), vec![("rates", RunTrigger::Schedule)]);
        assert!(planner.due(at(9, 2)).is_empty(), "still running: never two runs of one import");
        planner.finished("rates", true, at(9, 3));
        assert_eq!(names(&planner.due(at(9, 3))), vec![("rates", RunTrigger::CatchUp)], "the slot at 9:01 was missed");
        planner.finished("rates", true, at(9, 3));
        assert!(planner.due(at(9, 3)).is_empty(), "one run for the missed slots at 9:01 and 9:02");
        assert_eq!(planner.next_due("rates"), Some(at(9, 4)));
    }

    #[test]
    fn a_night_of_missed_slots_runs_once_on_wake() {
        let imports = vec![spec("name = \"orders\"\nschedule = { cron = \"*/15 * * * *\" }")];
        let mut planner = Planner::new(&imports, &BTreeMap::new(), at(8, 5));
        assert_eq!(planner.next_due("orders"), Some(at(8, 15)), "a cron import that never ran waits for its slot");
        assert_eq!(names(&planner.due(at(8, 15))), vec![("orders", RunTrigger::Schedule)]);
        planner.finished("orders", true, at(8, 16));
        // The laptop sleeps from 8:20 to 17:07: 35 slots pass.
        assert_eq!(names(&planner.due(at(17, 7))), vec![("orders", RunTrigger::CatchUp)]);
        planner.finished("orders", true, at(17, 8));
        assert!(planner.due(at(17, 8)).is_empty(), "one run for all the missed slots");
        assert_eq!(planner.next_due("orders"), Some(at(17, 15)));
    }

    #[test]
    fn after_a_restart_a_missed_schedule_runs_once_and_a_kept_one_waits() {
        let imports = vec![
            spec("name = \"daily\"\nschedule = { cron = \"0 6 * * *\" }"),
            spec("name = \"hourly\"\nschedule = { cron = \"0 * * * *\" }"),
        ];
        let mut past = BTreeMap::new();
        let yesterday = Utc.with_ymd_and_hms(2026, 11, 19, 6, 0, 0).unwrap();
        past.insert("daily".to_string(), PastRuns { last_started: Some(yesterday), last_succeeded: Some(yesterday) });
        past.insert("hourly".to_string(), PastRuns { last_started: Some(at(9, 0)), last_succeeded: None });
        let mut planner = Planner::new(&imports, &past, at(9, 30));
        assert_eq!(names(&planner.due(at(9, 30))), vec![("daily", RunTrigger::CatchUp)]);
        assert_eq!(planner.next_due("hourly"), Some(at(10, 0)));
    }

    #[test]
    fn dependencies_run_once_all_they_wait_for_have_succeeded() {
        let imports = vec![
            spec("name = \"customers\"\nschedule = { every = \"1h\" }"),
            spec("name = \"orders\"\nschedule = { every = \"1h\" }"),
            spec("name = \"joined\"\nafter = [\"customers\", \"orders\"]"),
        ];
        let mut planner = Planner::new(&imports, &BTreeMap::new(), at(9, 0));
        assert_eq!(planner.due(at(9, 0)).len(), 2);
        planner.finished("customers", true, at(9, 1));
        assert!(planner.due(at(9, 1)).is_empty(), "orders has not succeeded yet");
        planner.finished("orders", false, at(9, 1));
        assert!(planner.due(at(9, 2)).is_empty(), "a failed dependency does not start it");
        assert!(planner.request("orders", RunTrigger::Manual));
        assert_eq!(names(&planner.due(at(9, 3))), vec![("orders", RunTrigger::Manual)]);
        planner.finished("orders", true, at(9, 4));
        assert_eq!(names(&planner.due(at(9, 4))), vec![("joined", RunTrigger::Dependency)]);
    }

    #[test]
    fn paused_imports_wait_and_resume() {
        let imports = vec![spec("name = \"rates\"\nschedule = { every = \"1m\" }")];
        let mut planner = Planner::new(&imports, &BTreeMap::new(), at(9, 0));
        planner.set_paused("rates", true);
        assert!(planner.due(at(9, 5)).is_empty());
        assert_eq!(planner.next_wake(), None);
        planner.set_paused("rates", false);
        assert_eq!(names(&planner.due(at(9, 5))), vec![("rates", RunTrigger::CatchUp)]);
    }
}
