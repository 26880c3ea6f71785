//! Reports through the real `tidepool export WORKBOOK REPORT`: a stream rolled
//! up from the real test broker, joined with a CSV imported by `tidepool
//! import`, grouped more coarsely than the rollup; the answer is checked
//! against an independent Polars computation over the raw events.

use polars::prelude::*;

use crate::support::*;

/// What regions.csv says (JP has no region).
const REGIONS: [(&str, &str); 3] = [("DE", "EU"), ("FR", "EU"), ("US", "NA")];

#[test]
fn a_report_joins_a_stream_with_a_table_and_combines_its_metrics_per_hour_and_region() {
    let topic = unique_topic("report");
    create_topic(&topic, 2);
    // About 2.5 hours of events by 500 users: a user is in many rollup rows of
    // an hour and region, so a sum of per-row distinct counts would be wrong.
    let events = generate_events(9_000, 2, 1_700_000_000_000, 1_000, 41);
    produce(&topic, &events.iter().map(TestEvent::outgoing).collect::<Vec<_>>());
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.path("regions.csv"), "code,region\nDE,EU\nFR,EU\nUS,NA\n").unwrap();
    let workbook = sandbox.write_workbook(&format!(
        "{}\n[[imports]]\nname = \"regions\"\nsource = {{ kind = \"file\", path = \"regions.csv\" }}\n\n\
         [[reports]]\nname = \"hourly_regions\"\nfrom = \"shop\"\ngroup_by = [\"region\"]\ntime = {{ grain = \"1h\" }}\n\
         joins = [{{ with = \"regions\", on = {{ country = \"code\" }} }}]\n\
         measures = [\n  {{ name = \"events\", metric = \"events\" }},\n  {{ name = \"revenue\", metric = \"revenue\" }},\n\
           {{ name = \"mean_price\", metric = \"mean_price\" }},\n  {{ name = \"cheapest\", metric = \"cheapest\" }},\n\
           {{ name = \"users\", metric = \"users\" }},\n]\n\n\
         [[exports]]\nname = \"hourly_regions_csv\"\nfrom = \"hourly_regions\"\nto = {{ kind = \"file\", path = \"scheduled.csv\" }}\n",
        full_workbook(&topic, "1m")
    ));
    sandbox.run_until_caught_up(&workbook);
    assert_success(&sandbox.tidepool(&["import", path_str(&workbook), "regions"]), "import regions");
    let out = sandbox.path("answer.parquet");
    let output = sandbox.tidepool(&["export", path_str(&workbook), "hourly_regions", "--out", path_str(&out)]);
    assert_success(&output, "export the report");
    let said = stderr(&output);
    assert!(said.contains("join with `regions`") && said.contains("3 of 3 table rows used (0 unused)"), "{said}");
    assert!(!said.contains("keys repeat"), "{said}");
    let answer = ParquetReader::new(std::fs::File::open(&out).unwrap()).finish().unwrap();

    let regions = df!(
        "code" => REGIONS.map(|(code, _)| code),
        "region" => REGIONS.map(|(_, region)| region),
    )
    .unwrap();
    let raw = df!(
        "ts_ms" => events.iter().map(|e| e.ts_ms).collect::<Vec<_>>(),
        "country" => events.iter().map(|e| e.country).collect::<Vec<_>>(),
        "price" => events.iter().map(|e| e.price).collect::<Vec<_>>(),
        "user" => events.iter().map(|e| e.user.clone()).collect::<Vec<_>>(),
    )
    .unwrap();
    let expected = raw
        .lazy()
        .with_column(bucket_expr(3_600_000))
        .join(regions.lazy(), [col("country")], [col("code")], JoinArgs::new(JoinType::Left))
        .group_by([col("bucket"), col("region")])
        .agg([
            len().cast(DataType::Int64).alias("events"),
            col("price").sum().alias("revenue"),
            col("price").mean().alias("mean_price"),
            col("price").min().alias("cheapest"),
            col("user").n_unique().cast(DataType::Int64).alias("users"),
        ])
        .sort(["bucket", "region"], SortMultipleOptions::default().with_nulls_last(true))
        .collect()
        .unwrap();
    assert!(expected.height() >= 6, "several hours and regions, JP without one: {expected}");
    assert_frames_match(&answer, &expected, &[]);
    // The scheduled export of the report writes the same file as `--out`.
    let csv = sandbox.path("answer.csv");
    let output = sandbox.tidepool(&["export", path_str(&workbook), "hourly_regions", "--out", path_str(&csv)]);
    assert_success(&output, "export the report to CSV");
    assert_success(&sandbox.tidepool(&["export", path_str(&workbook), "hourly_regions_csv"]), "the scheduled export");
    assert_eq!(std::fs::read(sandbox.path("scheduled.csv")).unwrap(), std::fs::read(&csv).unwrap());
    let distinct_in_rows: i64 = column_total(&sandbox.export(&workbook, "shop"), "users");
    assert!(
        distinct_in_rows > column_total(&answer, "users"),
        "the rollup rows' distinct counts add up to more than the report's unions, so the test tells them apart"
    );
}

/// A report over a running stream reads the stream's live snapshot: its
/// answer counts events the stream has not checkpointed yet, follows new
/// events within seconds, and equals the answer over the checkpoint once the
/// stream stops and saves. A report grouped per minute, refreshed as the
/// window refreshes it (`LiveAnswer`), computes only the minutes the new
/// events touched and still equals an independent computation of every minute.
#[test]
fn a_report_over_a_running_stream_reads_its_live_snapshot_before_any_checkpoint() {
    use tidepool::engine::report::{LiveAnswer, ReportSources, run_report};
    use tidepool::engine::{Command, Engine, EngineOptions, HistoryLoss, RunMode};

    let topic = unique_topic("live-report");
    create_topic(&topic, 2);
    let events = generate_events(3_000, 2, 1_700_000_000_000, 1_000, 43);
    let (first, second) = events.split_at(2_000);
    produce(&topic, &first.iter().map(TestEvent::outgoing).collect::<Vec<_>>());
    let sandbox = Sandbox::new();
    let text = format!(
        "{}\n[[reports]]\nname = \"per_country\"\nfrom = \"shop\"\ngroup_by = [\"country\"]\n\
         measures = [{{ name = \"events\", metric = \"events\" }}, {{ name = \"users\", metric = \"users\" }}]\n\
         sort = [{{ field = \"country\" }}]\n\
         [[reports]]\nname = \"per_minute\"\nfrom = \"shop\"\ntime = {{ grain = \"1m\" }}\ngroup_by = [\"country\"]\n\
         measures = [{{ name = \"events\", metric = \"events\" }}, {{ name = \"users\", metric = \"users\" }}]\n",
        full_workbook(&topic, "1m")
    );
    let path = sandbox.write_workbook(&text);
    let workbook = tidepool::model::Workbook::load(&path).unwrap();
    let report = workbook.report("per_country").unwrap().clone();
    let context = tidepool::engine::imports::ImportContext {
        data_dir: sandbox.data_dir(),
        workbook_id: "live-report".into(),
        base_dir: sandbox.path(""),
    };
    let options = EngineOptions {
        data_dir: context.data_dir.clone(),
        workbook_id: context.workbook_id.clone(),
        // No checkpoint falls due while the test looks.
        checkpoint_every: std::time::Duration::from_hours(1),
    };
    let engine = Engine::start(options, std::sync::Arc::new(|| {})).unwrap();
    let sources = ReportSources { context: context.clone(), live: engine.snapshots() };
    engine.send(Command::StartStream {
        spec: Box::new(workbook.streams[0].clone()),
        mode: RunMode::Continuous,
        history: HistoryLoss::Refuse,
    });
    let answer_after =
        |wanted: i64| answer_counting(&engine, wanted, "the live report", || run_report(&workbook, &report, &sources));
    let per_minute = workbook.report("per_minute").unwrap().clone();
    let live_answer = std::cell::RefCell::new(LiveAnswer::default());
    let per_minute_after = |wanted: i64| {
        answer_counting(&engine, wanted, "the live report per minute", || {
            live_answer.borrow_mut().run(&workbook, &per_minute, &sources)
        })
    };
    let minutes = per_minute_after(2_000);
    assert_frames_match(&minutes, &events_and_users(first, true), &[]);
    let first_refresh = live_answer.borrow().last_refresh().expect("answered per time group");

    let live = answer_after(2_000);
    let stored_only = run_report(&workbook, &report, &ReportSources::stored(context.clone()));
    assert!(
        stored_only.as_ref().is_err_and(|err| err.to_string().contains("has not checkpointed")),
        "no checkpoint was written, so the answer came from the live snapshot: {stored_only:?}"
    );
    assert_frames_match(&live, &events_and_users(first, false), &[]);

    produce(&topic, &second.iter().map(TestEvent::outgoing).collect::<Vec<_>>());
    let moved_on = answer_after(3_000);
    assert_frames_match(&moved_on, &events_and_users(&events, false), &[]);
    let minutes = per_minute_after(3_000);
    assert_frames_match(&minutes, &events_and_users(&events, true), &[]);
    let refresh = live_answer.borrow().last_refresh().expect("answered per time group");
    assert!(
        refresh.groups > first_refresh.groups && refresh.recomputed < refresh.groups,
        "the later events' minutes were computed again, not every minute: {first_refresh:?} then {refresh:?}"
    );

    drop(engine); // stops the stream, which checkpoints and withdraws its snapshot
    assert!(sources.live.latest("shop").is_none(), "a stopped stream publishes nothing");
    let from_checkpoint = run_report(&workbook, &report, &sources).expect("the checkpoint's answer").frame;
    assert_frames_match(&from_checkpoint, &moved_on, &[]);
}

/// Polls `answer` (taking the engine's events meanwhile) until its `events`
/// column totals `wanted`, for up to a minute.
fn answer_counting<E>(
    engine: &tidepool::engine::Engine,
    wanted: i64,
    what: &str,
    mut answer: impl FnMut() -> Result<tidepool::engine::report::ReportAnswer, E>,
) -> DataFrame {
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(1);
    loop {
        while engine.try_next_event().is_some() {}
        if let Ok(answer) = answer()
            && column_total(&answer.frame, "events") == wanted
        {
            return answer.frame;
        }
        assert!(std::time::Instant::now() < deadline, "{what} never counted {wanted} events");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Events and distinct users per country — and per minute first, as `bucket`,
/// when `per_minute` — computed from the events themselves.
fn events_and_users(events: &[TestEvent], per_minute: bool) -> DataFrame {
    let minute_ms = |e: &TestEvent| e.ts_ms.div_euclid(60_000) * 60_000;
    let keys: Vec<&str> = if per_minute { vec!["bucket", "country"] } else { vec!["country"] };
    df!(
        "bucket" => events.iter().map(|e| minute_ms(e) * 1000).collect::<Vec<_>>(),
        "country" => events.iter().map(|e| e.country).collect::<Vec<_>>(),
        "user" => events.iter().map(|e| e.user.clone()).collect::<Vec<_>>(),
    )
    .unwrap()
    .lazy()
    .with_column(col("bucket").cast(DataType::Datetime(TimeUnit::Microseconds, None)))
    .group_by(keys.iter().map(|key| col(*key)).collect::<Vec<_>>())
    .agg([len().cast(DataType::Int64).alias("events"), col("user").n_unique().cast(DataType::Int64).alias("users")])
    .sort(keys.clone(), SortMultipleOptions::default().with_nulls_last(true))
    .collect()
    .unwrap()
}

/// A changed definition is rebuilt beside the old rollup in a running engine:
/// while it rebuilds, reports read the old rollup's checkpoint; once the rebuild
/// has caught up and replaced it, the live snapshot is the rebuilt rollup,
/// every bucket of it (published without encoding a bucket again), and a
/// report over it counts every event.
#[test]
fn a_promoted_rebuild_is_served_live_whole() {
    use tidepool::engine::report::{ReportSources, run_report};
    use tidepool::engine::{Command, Engine, EngineOptions, Event, HistoryLoss, RunMode};

    let topic = unique_topic("live-rebuild");
    create_topic(&topic, 2);
    let events = generate_events(2_000, 2, 1_700_000_000_000, 1_000, 47);
    produce(&topic, &events.iter().map(TestEvent::outgoing).collect::<Vec<_>>());
    let sandbox = Sandbox::new();
    let context = tidepool::engine::imports::ImportContext {
        data_dir: sandbox.data_dir(),
        workbook_id: "live-rebuild".into(),
        base_dir: sandbox.path(""),
    };
    let report_text = "\n[[reports]]\nname = \"per_country\"\nfrom = \"shop\"\ngroup_by = [\"country\"]\n\
         measures = [{ name = \"events\", metric = \"events\" }, { name = \"users\", metric = \"users\" }]\n\
         sort = [{ field = \"country\" }]\n";
    let workbook_at = |granularity: &str| {
        let path = sandbox.write_workbook(&format!("{}{report_text}", full_workbook(&topic, granularity)));
        tidepool::model::Workbook::load(&path).unwrap()
    };
    let engine_for = || {
        let options = EngineOptions {
            data_dir: context.data_dir.clone(),
            workbook_id: context.workbook_id.clone(),
            checkpoint_every: std::time::Duration::from_secs(1),
        };
        Engine::start(options, std::sync::Arc::new(|| {})).unwrap()
    };
    let wait_for = |engine: &Engine, what: &str, wanted: &dyn Fn(&Event) -> bool| loop {
        match engine.next_event_timeout(std::time::Duration::from_mins(1)) {
            Some(event) if wanted(&event) => return,
            Some(Event::StreamFailed { message, .. }) => panic!("stream failed: {message}"),
            Some(_) => {}
            None => panic!("no {what} within a minute"),
        }
    };

    let per_minute = workbook_at("1m");
    let engine = engine_for();
    engine.send(Command::StartStream {
        spec: Box::new(per_minute.streams[0].clone()),
        mode: RunMode::UntilCaughtUp { give_up_after: std::time::Duration::from_mins(1) },
        history: HistoryLoss::Refuse,
    });
    wait_for(&engine, "stop", &|event| matches!(event, Event::StreamStopped { .. }));
    drop(engine);

    let per_five_minutes = workbook_at("5m");
    let engine = engine_for();
    let sources = ReportSources { context: context.clone(), live: engine.snapshots() };
    engine.send(Command::StartStream {
        spec: Box::new(per_five_minutes.streams[0].clone()),
        mode: RunMode::Continuous,
        history: HistoryLoss::Refuse,
    });
    wait_for(&engine, "promoted rebuild", &|event| matches!(event, Event::StreamRebuilt { .. }));
    let snapshot = sources.live.serving("shop").expect("the promoted rebuild is served live");
    let expected_rows = expected_rollup(&events, 300_000).height();
    assert_eq!(snapshot.rows(), expected_rows, "every bucket of the rebuilt rollup, not only the latest changes");
    let report = per_five_minutes.report("per_country").unwrap();
    let answer = run_report(&per_five_minutes, report, &sources).expect("the live answer").frame;
    assert_frames_match(&answer, &events_and_users(&events, false), &[]);
}
