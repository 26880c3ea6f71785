//! Rollups equal an independent Polars `group_by` over the same events, for
//! every metric kind, across several partitions; exports are well formed.

use crate::support::*;

const DIMENSIONS: [&str; 2] = ["country", "device.kind"];

#[test]
fn rollup_matches_an_independent_group_by_over_three_partitions() {
    let topic = unique_topic("exact");
    create_topic(&topic, 3);
    let events = generate_events(3_000, 3, 1_764_000_000_000, 700, 7);
    produce(&topic, &events.iter().map(TestEvent::outgoing).collect::<Vec<_>>());
    let sandbox = Sandbox::new();
    let workbook = sandbox.write_workbook(&full_workbook(&topic, "1m"));

    let output = sandbox.run_until_caught_up(&workbook);
    assert!(
        stdout(&output).contains("shop: 3000 events, 0 quarantined, 0 late, lag 0"),
        "summary: {}",
        stdout(&output)
    );

    let actual = sorted(&sandbox.export(&workbook, "shop"), &DIMENSIONS);
    let expected = sorted(&expected_rollup(&events, 60_000), &DIMENSIONS);
    assert!(expected.height() > 100, "the test should spread over many rows");
    // Distinct counts and quantiles are exact at these sizes (DataSketches' list/set modes, KLL below k).
    assert_frames_match(&actual, &expected, &[]);
}

/// A rollup with a filter holds exactly the rollup of the events it keeps; the
/// rest are counted as left out, and none is quarantined.
#[test]
fn a_filtered_rollup_equals_the_group_by_of_the_kept_events() {
    let topic = unique_topic("filtered");
    create_topic(&topic, 2);
    let events = generate_events(2_000, 2, 1_764_000_000_000, 700, 11);
    produce(&topic, &events.iter().map(TestEvent::outgoing).collect::<Vec<_>>());
    let sandbox = Sandbox::new();
    let text = full_workbook(&topic, "1m").replace(
        "allowed_lateness = \"1m\"",
        "allowed_lateness = \"1m\"\nfilter = { field = \"country\", in = [\"DE\", \"FR\"] }",
    );
    let workbook = sandbox.write_workbook(&text);

    let output = sandbox.run_until_caught_up(&workbook);
    let kept: Vec<TestEvent> = events.iter().filter(|e| ["DE", "FR"].contains(&e.country)).cloned().collect();
    assert!(!kept.is_empty() && kept.len() < events.len(), "the filter should keep some events and not others");
    let summary =
        format!("shop: {} events, {} left out by the filter, 0 quarantined", kept.len(), events.len() - kept.len());
    assert!(stdout(&output).contains(&summary), "expected `{summary}` in: {}", stdout(&output));

    let actual = sorted(&sandbox.export(&workbook, "shop"), &DIMENSIONS);
    let expected = sorted(&expected_rollup(&kept, 60_000), &DIMENSIONS);
    assert_frames_match(&actual, &expected, &[]);
}

#[test]
fn csv_export_has_bucket_dimensions_and_named_metrics() {
    let topic = unique_topic("csv");
    create_topic(&topic, 1);
    let events = generate_events(50, 1, 1_764_000_000_000, 10_000, 3);
    produce(&topic, &events.iter().map(TestEvent::outgoing).collect::<Vec<_>>());
    let sandbox = Sandbox::new();
    let workbook = sandbox.write_workbook(&full_workbook(&topic, "5m"));
    sandbox.run_until_caught_up(&workbook);

    let out = sandbox.path("shop.csv");
    let output = sandbox.tidepool(&["export", path_str(&workbook), "shop", "--out", path_str(&out)]);
    assert_success(&output, "export csv");
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "bucket,country,device.kind,events,revenue,items,cheapest,dearest,mean_price,first_price,last_price,users,\
             price_p50,price_p90"
        )
    );
    let first = lines.next().expect("a data row");
    // 1_764_000_000_000 ms is 2025-11-24T16:00:00Z; 5-minute buckets start on the minute.
    assert!(first.starts_with("2025-11-24T16:00:00Z,"), "{first}");
    let events_total: i64 =
        text.lines().skip(1).map(|line| line.split(',').nth(3).unwrap().parse::<i64>().unwrap()).sum();
    assert_eq!(events_total, 50);
}

/// Rows with many events but few users, and rows with hundreds of users: a
/// distinct count that counted events, or a sketch that collides at small
/// sizes, fails row by row.
#[test]
fn distinct_counts_are_exact_row_by_row_up_to_hundreds_of_values() {
    let topic = unique_topic("distinct");
    create_topic(&topic, 2);
    // Per country, a pool of users; every row sees far more events than users.
    let pools: [(&str, u64); 4] = [("DE", 3), ("FR", 45), ("US", 280), ("JP", 900)];
    let mut rng = tidepool::demo::clickstream::Rng::new(11);
    let start_ms = 1_764_000_000_000_i64;
    let mut events = Vec::new();
    for index in 0..24_000_i64 {
        let (country, pool) = pools[(index % 4) as usize];
        events.push(TestEvent {
            partition: (index % 2) as i32,
            offset: 0,
            ts_ms: start_ms + index * 10, // four minutes
            country,
            device: None,
            price: Some(1.0),
            qty: 1,
            user: format!("{country}-{}", rng.below(pool)),
        });
    }
    produce(&topic, &events.iter().map(TestEvent::outgoing).collect::<Vec<_>>());
    let sandbox = Sandbox::new();
    let workbook = sandbox.write_workbook(&full_workbook(&topic, "1m"));
    sandbox.run_until_caught_up(&workbook);
    let actual = sorted(&sandbox.export(&workbook, "shop"), &DIMENSIONS);
    let expected = sorted(&expected_rollup(&events, 60_000), &DIMENSIONS);
    let (got, want, counted) =
        (actual.column("users").unwrap(), expected.column("users").unwrap(), expected.column("events").unwrap());
    assert_eq!(got.len(), want.len());
    let mut rows_checked = 0;
    for row in 0..want.len() {
        let (got, want, events) = (
            got.get(row).unwrap().extract::<i64>(),
            want.get(row).unwrap().extract::<i64>(),
            counted.get(row).unwrap().extract::<i64>(),
        );
        assert_eq!(got, want, "row {row}: distinct users");
        assert!(want < events, "row {row} must hold more events than users");
        rows_checked += 1;
    }
    assert!(rows_checked >= 16, "{rows_checked} rows");
}
