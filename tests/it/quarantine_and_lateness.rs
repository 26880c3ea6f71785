//! Bad messages are quarantined with their reason and position and counted,
//! without disturbing good events; late events are counted and still merged;
//! watermarks are per partition.

use std::collections::BTreeMap;

use crate::support::*;

const DIMENSIONS: [&str; 2] = ["country", "device.kind"];

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[test]
fn every_kind_of_bad_message_is_quarantined_and_counted() {
    let topic = unique_topic("bad");
    create_topic(&topic, 1);
    let start = now_ms() - 3_600_000;
    let good = generate_events(200, 1, start, 1_000, 11);
    let raw = |text: &str| Some(text.as_bytes().to_vec());
    let bad: Vec<(&str, Option<Vec<u8>>)> = vec![
        ("empty", None),
        ("empty", Some(Vec::new())),
        ("oversized", Some(format!(r#"{{"ts":{start},"country":"DE","pad":"{}"}}"#, "x".repeat(600)).into_bytes())),
        ("not_json", raw("hello {")),
        ("not_an_object", raw("[1,2,3]")),
        ("missing_time", raw(r#"{"country":"DE","price":1.5}"#)),
        ("bad_time", raw(r#"{"ts":"yesterday","country":"DE"}"#)),
        ("wrong_type", Some(format!(r#"{{"ts":{start},"country":"DE","price":"abc"}}"#).into_bytes())),
        ("too_old", Some(format!(r#"{{"ts":{},"country":"DE","price":2}}"#, start - 60 * 86_400_000).into_bytes())),
    ];
    // Interleave: bad message i goes after good event 20·i; offsets follow production order.
    let mut messages = Vec::new();
    let mut good_events = Vec::new();
    let mut bad_offsets = BTreeMap::new();
    let mut bad_iter = bad.iter().enumerate().peekable();
    for (index, event) in good.iter().enumerate() {
        while let Some((_, (reason, payload))) = bad_iter.next_if(|(i, _)| i * 20 == index) {
            bad_offsets.insert(messages.len() as i64, *reason);
            messages.push(Outgoing { partition: 0, payload: payload.clone(), timestamp_ms: Some(start) });
        }
        let mut event = event.clone();
        event.offset = messages.len() as i64;
        messages.push(event.outgoing());
        good_events.push(event);
    }
    produce(&topic, &messages);

    let sandbox = Sandbox::new();
    let text = full_workbook(&topic, "1m")
        .replace("start = \"earliest\"", "start = \"earliest\"\nmax_message_bytes = 400")
        .replace("allowed_lateness = \"1m\"", "allowed_lateness = \"1m\"\nretention = \"30d\"");
    let workbook = sandbox.write_workbook(&text);
    let output = sandbox.run_until_caught_up(&workbook);
    assert!(stdout(&output).contains("shop: 200 events, 9 quarantined, 0 late"), "{}", stdout(&output));

    let listing = sandbox.tidepool(&["quarantine", path_str(&workbook), "shop"]);
    assert_success(&listing, "quarantine");
    let lines: Vec<String> = stdout(&listing).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), bad.len(), "{lines:#?}");
    for (line, (offset, reason)) in lines.iter().zip(&bad_offsets) {
        assert!(line.contains(&format!("partition=0 offset={offset} reason={reason} ")), "{line}");
    }
    assert!(lines.iter().any(|l| l.contains("field `price` is text, expected a number")), "{lines:#?}");
    assert!(stderr(&listing).contains("empty 2"), "{}", stderr(&listing));

    let actual = sorted(&sandbox.export(&workbook, "shop"), &DIMENSIONS);
    let expected = sorted(&expected_rollup(&good_events, 60_000), &DIMENSIONS);
    assert_frames_match(&actual, &expected, &[]);
}

#[test]
fn late_events_are_counted_merged_and_judged_per_partition() {
    let topic = unique_topic("late");
    create_topic(&topic, 2);
    let start = 1_764_000_000_000;
    // Partition 0: 100 events a second apart, then 5 events 80 s behind the watermark (allowed: 60 s).
    let mut events = generate_events(100, 1, start, 1_000, 5);
    for (index, base) in generate_events(5, 1, start + 20_000, 0, 6).into_iter().enumerate() {
        events.push(TestEvent { offset: 100 + index as i64, ts_ms: start + 20_000, ..base });
    }
    // Partition 1: an older backlog, in order: not late, whatever partition 0 has seen.
    for (index, base) in generate_events(50, 1, start - 3_600_000, 1_000, 8).into_iter().enumerate() {
        events.push(TestEvent { partition: 1, offset: index as i64, ..base });
    }
    produce(&topic, &events.iter().map(TestEvent::outgoing).collect::<Vec<_>>());

    let sandbox = Sandbox::new();
    let workbook = sandbox.write_workbook(&full_workbook(&topic, "1m"));
    let output = sandbox.run_until_caught_up(&workbook);
    assert!(stdout(&output).contains("shop: 155 events, 0 quarantined, 5 late"), "{}", stdout(&output));

    assert_export_matches(&sandbox, &workbook, &events, 60_000);
}
