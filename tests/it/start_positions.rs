//! Where a stream starts without a checkpoint: earliest (see exactness.rs),
//! latest, or the first message at or after a point in time.

use crate::support::*;

fn kafka_time_workbook(topic: &str, start: &str) -> String {
    format!(
        r#"[[streams]]
name = "ticks"
brokers = "{broker}"
topic = "{topic}"
start = "{start}"
time = {{ format = "kafka" }}
rollup = {{ granularity = "1s", metrics = [{{ name = "events", kind = "count" }}] }}
"#,
        broker = broker()
    )
}

fn ticks(count: usize, first_ms: i64) -> Vec<Outgoing> {
    (0..count)
        .map(|i| Outgoing {
            partition: 0,
            payload: Some(format!(r#"{{"n":{i}}}"#).into_bytes()),
            timestamp_ms: Some(first_ms + i as i64 * 1_000),
        })
        .collect()
}

fn total_events(sandbox: &Sandbox, workbook: &std::path::Path) -> i64 {
    let frame = sandbox.export(workbook, "ticks");
    frame.column("events").unwrap().as_materialized_series().sum::<i64>().unwrap()
}

#[test]
fn latest_skips_what_was_there_and_reads_what_comes_after() {
    let topic = unique_topic("latest");
    create_topic(&topic, 1);
    produce_one_by_one(&topic, &ticks(10, 1_764_000_000_000));
    let sandbox = Sandbox::new();
    let workbook = sandbox.write_workbook(&kafka_time_workbook(&topic, "latest"));
    let output = sandbox.run_until_caught_up(&workbook);
    assert!(stdout(&output).contains("ticks: 0 events"), "{}", stdout(&output));

    produce_one_by_one(&topic, &ticks(5, 1_764_000_100_000));
    let output = sandbox.run_until_caught_up(&workbook);
    assert!(stdout(&output).contains("ticks: 5 events"), "{}", stdout(&output));
    assert_eq!(total_events(&sandbox, &workbook), 5);
}

#[test]
fn a_point_in_time_starts_at_the_first_message_at_or_after_it() {
    // Records carry wall-clock timestamps, so the broker's time index (tansu indexes
    // batches by append time, Kafka by record time) agrees on either side of the boundary.
    // Each record is its own flushed batch, as the guide advises for tansu.
    let topic = unique_topic("at-time");
    create_topic(&topic, 1);
    let now_ms = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    produce_one_by_one(
        &topic,
        &ticks(10, now_ms()).into_iter().map(|m| Outgoing { timestamp_ms: None, ..m }).collect::<Vec<_>>(),
    );
    std::thread::sleep(std::time::Duration::from_millis(1_500));
    let boundary_ms = now_ms();
    std::thread::sleep(std::time::Duration::from_millis(1_500));
    produce_one_by_one(
        &topic,
        &ticks(7, 0).into_iter().map(|m| Outgoing { timestamp_ms: None, ..m }).collect::<Vec<_>>(),
    );

    let boundary = chrono::DateTime::from_timestamp_millis(boundary_ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let sandbox = Sandbox::new();
    let workbook = sandbox.write_workbook(&kafka_time_workbook(&topic, &boundary));
    let output = sandbox.run_until_caught_up(&workbook);
    assert!(stdout(&output).contains("ticks: 7 events"), "{}", stdout(&output));
    let frame = sandbox.export(&workbook, "ticks");
    let buckets =
        frame.column("bucket").unwrap().as_materialized_series().cast(&polars::prelude::DataType::Int64).unwrap();
    let first_bucket_ms = buckets.i64().unwrap().get(0).unwrap() / 1_000;
    assert!(
        first_bucket_ms >= boundary_ms - 1_000,
        "first bucket {first_bucket_ms} is before the boundary {boundary_ms}"
    );
}
