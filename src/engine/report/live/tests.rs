//! A live report answered by time group gives exactly the whole report's
//! answer, while buckets change, appear and drop out, and computes again only
//! the groups whose buckets changed.

use super::*;
use crate::engine::report::tests::{merge_event, report, rollup};
use crate::engine::snapshots::{SnapshotMeta, Snapshots};

const MINUTE: i64 = 60_000_000;
const USERS: [&str; 7] = ["u1", "u2", "u3", "u4", "u5", "u6", "u7"];
const COUNTRIES: [&str; 3] = ["DE", "FR", "US"];
const DEVICES: [&str; 2] = ["mobile", "desktop"];

type TestEvent = (i64, &'static str, &'static str, f64, &'static str);

/// A few events per minute in `minutes`, of every country, device and user, some without a price.
fn events(minutes: std::ops::Range<i64>) -> Vec<TestEvent> {
    let mut events = Vec::new();
    for minute in minutes {
        for i in 0..=(minute % 5) {
            let price = if i % 4 == 3 { f64::NAN } else { (minute * 7 + i) as f64 / 4.0 };
            let at = |values: &[&'static str], n: i64| values[usize::try_from(n).unwrap() % values.len()];
            events.push((minute, at(&COUNTRIES, minute + i), at(&DEVICES, i), price, at(&USERS, minute * i + i)));
        }
    }
    events
}

fn reports() -> Vec<ReportSpec> {
    let measures = r#"measures = [
  { name = "events", metric = "events" },
  { name = "revenue", metric = "revenue" },
  { name = "avg_price", metric = "avg_price" },
  { name = "cheapest", metric = "cheapest" },
  { name = "users", metric = "users" },
  { name = "median_price", metric = "price", quantile = 0.5 },
]"#;
    [
        r#"name = "per_minute"
from = "s"
time = { grain = "1m" }
group_by = ["country"]
sort = [{ field = "revenue", descending = true }]
limit = 40"#,
        r#"name = "hourly_outside_us"
from = "s"
time = { grain = "1h" }
group_by = ["device"]
filters = [{ field = "country", op = "!=", value = "US" }]
range = { from = "1970-01-01T00:30:00Z" }"#,
        r#"name = "last_half_hour"
from = "s"
time = { grain = "10m" }
group_by = ["country", "device"]
range = { last = "30m" }"#,
    ]
    .iter()
    .map(|head| report(&format!("{head}\n{measures}")))
    .collect()
}

fn meta(counted: u64) -> SnapshotMeta {
    SnapshotMeta { counted, ..SnapshotMeta::default() }
}

/// Each report answered by group (through its own cache) equals the whole report over the snapshot.
fn assert_same_answers(snapshots: &Snapshots, answers: &mut [LiveAnswer], now: i64) {
    let snapshot = snapshots.latest("s").expect("published");
    for (report, live) in reports().iter().zip(answers) {
        let by_group = live.by_group(report, &snapshot, now).expect("answered by group").frame;
        let whole = snapshot.rollup(..).expect("rollup");
        let whole = compute(report, Base::Stream(&whole), &BTreeMap::new(), now).expect("answered whole").frame;
        assert!(whole.height() > 0, "{}: the comparison has rows", report.name);
        assert!(by_group.equals_missing(&whole), "{}: by group\n{by_group}\nwhole\n{whole}", report.name);
    }
}

#[test]
fn a_live_report_computes_only_the_changed_time_groups_and_answers_as_the_whole_report() {
    let snapshots = Snapshots::default();
    let mut state = rollup(&events(0..90));
    snapshots.publish("s", &state.encode_all().expect("encoded"), meta(1));
    let _ = state.take_changes();
    let mut answers: Vec<LiveAnswer> = reports().iter().map(|_| LiveAnswer::default()).collect();
    let now = 90 * MINUTE;
    assert_same_answers(&snapshots, &mut answers, now);
    let first = answers[0].last_refresh().expect("by group");
    assert_eq!((first.groups, first.recomputed), (90, 90), "the first refresh computes every minute");

    // Events in the newest minute, a new minute and a late one in minute 12.
    let new_events = events(89..91).into_iter().chain([(12, "FR", "mobile", 1000.0, "u9")]);
    for (offset, event) in (10_000..).zip(new_events) {
        merge_event(&mut state, offset, event);
    }
    snapshots.publish("s", &state.take_changes().expect("encoded"), meta(2));
    let now = 91 * MINUTE;
    assert_same_answers(&snapshots, &mut answers, now);
    let per_minute = answers[0].last_refresh().expect("by group");
    assert_eq!((per_minute.groups, per_minute.recomputed), (91, 3), "minutes 12, 89 and 90 only");
    let snapshot = snapshots.latest("s").expect("published");
    let changed_rows = snapshot.segments(..).filter(|s| [12, 89, 90].contains(&(s.bucket / MINUTE))).map(|s| s.rows);
    assert_eq!(per_minute.rows_read, changed_rows.sum::<usize>(), "only the changed minutes are read");
    let hourly = answers[1].last_refresh().expect("by group");
    assert_eq!((hourly.groups, hourly.recomputed), (2, 1), "the first hour is before the range; the second changed");

    // Retention drops old buckets; the clock moves the last half hour on.
    state.drop_buckets_before(20 * MINUTE);
    snapshots.publish("s", &state.take_changes().expect("encoded"), meta(3));
    let now = 95 * MINUTE;
    assert_same_answers(&snapshots, &mut answers, now);
    let per_minute = answers[0].last_refresh().expect("by group");
    assert_eq!((per_minute.groups, per_minute.recomputed), (71, 0), "dropped minutes leave, nothing is computed");
    let half_hour = answers[2].last_refresh().expect("by group");
    assert_eq!(half_hour.recomputed, 1, "only the ten minutes the range now cuts differently");

    // A changed report is computed whole again.
    let mut changed = reports().remove(0);
    changed.group_by = vec!["device".into()];
    let snapshot = snapshots.latest("s").expect("published");
    let answer = answers[0].by_group(&changed, &snapshot, now).expect("answered").frame;
    assert_eq!(answers[0].last_refresh().map(|r| r.recomputed), Some(71));
    assert_eq!(answer.get_column_names()[1].as_str(), "device");
}

#[test]
fn reports_whose_groups_depend_on_each_other_are_computed_whole() {
    type Change = fn(&mut ReportSpec);
    let base = reports().remove(0);
    assert!(answers_by_group(&base));
    let variants: [(&str, Change); 4] = [
        ("without time", |r| r.time = None),
        ("top N", |r| {
            r.top = Some(
                toml::from_str(
                    r#"field = "country"
n = 2
by = "events""#,
                )
                .unwrap(),
            );
        }),
        ("joined", |r| {
            r.joins = vec![
                toml::from_str(
                    r#"with = "t"
on = { country = "code" }"#,
                )
                .unwrap(),
            ];
        }),
        ("ranged on another field", |r| {
            r.range = Some(
                toml::from_str(
                    r#"field = "at"
last = "1h""#,
                )
                .unwrap(),
            );
        }),
    ];
    for (what, change) in variants {
        let mut report = base.clone();
        change(&mut report);
        assert!(!answers_by_group(&report), "{what}");
    }
}
