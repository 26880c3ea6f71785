//! Restart safety: a clean stop and `kill -9` at arbitrary moments both
//! resume to exactly the rollup of an uninterrupted run; a changed rollup
//! definition is noticed and rebuilt.

use std::time::Duration;

use crate::support::*;

const DIMENSIONS: [&str; 2] = ["country", "device.kind"];

#[test]
fn a_second_run_continues_where_the_first_stopped() {
    let topic = unique_topic("resume");
    create_topic(&topic, 3);
    let events = generate_events(4_000, 3, 1_764_000_000_000, 500, 21);
    let (first, second): (Vec<_>, Vec<_>) = events.iter().partition(|e| e.ts_ms < 1_764_000_000_000 + 1_000_000);
    produce(&topic, &first.iter().map(|e| e.outgoing()).collect::<Vec<_>>());
    let sandbox = Sandbox::new();
    let workbook = sandbox.write_workbook(&full_workbook(&topic, "1m"));
    let output = sandbox.run_until_caught_up(&workbook);
    assert!(stdout(&output).contains(&format!("shop: {} events", first.len())), "{}", stdout(&output));

    produce(&topic, &second.iter().map(|e| e.outgoing()).collect::<Vec<_>>());
    let output = sandbox.run_until_caught_up(&workbook);
    assert!(stdout(&output).contains("shop: 4000 events, 0 quarantined"), "{}", stdout(&output));
    let actual = sorted(&sandbox.export(&workbook, "shop"), &DIMENSIONS);
    let expected = sorted(&expected_rollup(&events, 60_000), &DIMENSIONS);
    assert_frames_match(&actual, &expected, &[("users", 0.02)]);
}

#[test]
fn kill_9_at_any_moment_neither_loses_nor_double_counts() {
    let topic = unique_topic("kill");
    create_topic(&topic, 2);
    let events = generate_events(200_000, 2, 1_764_000_000_000, 20, 33);
    produce(&topic, &events.iter().map(TestEvent::outgoing).collect::<Vec<_>>());
    let sandbox = Sandbox::new();
    let workbook = sandbox.write_workbook(&full_workbook(&topic, "1m"));

    let mut killed_while_running = 0;
    for delay_ms in [600, 900, 1_300] {
        let mut child = sandbox
            .command(&["run", path_str(&workbook), "--until-caught-up", "--checkpoint-every-ms", "100"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn tidepool run");
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().expect("wait").is_none() {
            killed_while_running += 1;
        }
        child.kill().expect("kill -9"); // SIGKILL on Unix
        child.wait().expect("reap");
    }
    assert!(killed_while_running > 0, "every run finished before it could be killed; produce more events");

    let output = sandbox.run_until_caught_up(&workbook);
    assert!(stdout(&output).contains("shop: 200000 events, 0 quarantined"), "{}", stdout(&output));
    let actual = sorted(&sandbox.export(&workbook, "shop"), &DIMENSIONS);
    let expected = sorted(&expected_rollup(&events, 60_000), &DIMENSIONS);
    assert_frames_match(&actual, &expected, &[("users", 0.02)]);
}

#[test]
fn a_changed_definition_is_noticed_and_rebuilt() {
    let topic = unique_topic("redefine");
    create_topic(&topic, 2);
    let events = generate_events(1_000, 2, 1_764_000_000_000, 900, 44);
    produce(&topic, &events.iter().map(TestEvent::outgoing).collect::<Vec<_>>());
    let sandbox = Sandbox::new();
    let workbook = sandbox.write_workbook(&full_workbook(&topic, "1m"));
    sandbox.run_until_caught_up(&workbook);

    sandbox.write_workbook(&full_workbook(&topic, "5m"));
    let output = sandbox.run_until_caught_up(&workbook);
    assert!(stderr(&output).contains("granularity from 1m to 5m"), "{}", stderr(&output));
    assert!(stdout(&output).contains("shop: 1000 events"), "{}", stdout(&output));
    let actual = sorted(&sandbox.export(&workbook, "shop"), &DIMENSIONS);
    let expected = sorted(&expected_rollup(&events, 300_000), &DIMENSIONS);
    assert_frames_match(&actual, &expected, &[("users", 0.02)]);
}
