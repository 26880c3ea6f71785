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
    assert_frames_match(&actual, &expected, &[("users", 0.02)]);
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
            "bucket,country,device.kind,events,revenue,items,cheapest,dearest,mean_price,first_price,last_price,users"
        )
    );
    let first = lines.next().expect("a data row");
    // 1_764_000_000_000 ms is 2025-11-24T16:00:00Z; 5-minute buckets start on the minute.
    assert!(first.starts_with("2025-11-24T16:00:00Z,"), "{first}");
    let events_total: i64 =
        text.lines().skip(1).map(|line| line.split(',').nth(3).unwrap().parse::<i64>().unwrap()).sum();
    assert_eq!(events_total, 50);
}
