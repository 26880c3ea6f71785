//! A broker that cannot be reached, a topic that does not exist, and reset:
//! clear messages that name the broker and topic, non-zero exits, no panics.

use crate::support::*;

fn one_stream(brokers: &str, topic: &str) -> String {
    format!(
        r#"[[streams]]
name = "orders"
brokers = "{brokers}"
topic = "{topic}"
time = {{ field = "ts", format = "epoch_ms" }}
rollup = {{ granularity = "1m", metrics = [{{ name = "events", kind = "count" }}] }}
"#
    )
}

fn assert_clean_failure(output: &std::process::Output, must_mention: &[&str]) {
    assert!(!output.status.success(), "expected a failure, got success: {}", stdout(output));
    let message = stderr(output);
    for word in must_mention {
        assert!(message.contains(word), "message should mention {word}: {message}");
    }
    assert!(!message.contains("panicked") && !message.contains("RUST_BACKTRACE"), "{message}");
}

#[test]
fn an_unreachable_broker_fails_with_a_clear_message() {
    let sandbox = Sandbox::new();
    let workbook = sandbox.write_workbook(&one_stream("127.0.0.1:1", "orders-topic"));
    let output = sandbox.tidepool(&["run", path_str(&workbook), "--until-caught-up", "--give-up-after", "3s"]);
    assert_clean_failure(&output, &["127.0.0.1:1", "orders-topic", "gave up"]);
}

#[test]
fn a_missing_topic_fails_with_a_clear_message() {
    let sandbox = Sandbox::new();
    let topic = unique_topic("never-created");
    let workbook = sandbox.write_workbook(&one_stream(&broker(), &topic));
    let output = sandbox.tidepool(&["run", path_str(&workbook), "--until-caught-up", "--give-up-after", "3s"]);
    assert_clean_failure(&output, &[&topic, &broker()]);
}

#[test]
fn reset_forgets_the_rollup_and_quarantine() {
    let topic = unique_topic("reset");
    create_topic(&topic, 1);
    produce(
        &topic,
        &[
            Outgoing { partition: 0, payload: Some(br#"{"ts":1764000000000}"#.to_vec()), timestamp_ms: None },
            Outgoing { partition: 0, payload: Some(b"oops".to_vec()), timestamp_ms: None },
        ],
    );
    let sandbox = Sandbox::new();
    let workbook = sandbox.write_workbook(&one_stream(&broker(), &topic));
    let output = sandbox.run_until_caught_up(&workbook);
    assert!(stdout(&output).contains("orders: 1 events, 1 quarantined"), "{}", stdout(&output));

    assert_success(&sandbox.tidepool(&["reset", path_str(&workbook), "orders"]), "reset");
    let out = sandbox.path("orders.csv");
    let export = sandbox.tidepool(&["export", path_str(&workbook), "orders", "--out", path_str(&out)]);
    assert_clean_failure(&export, &["no rollup yet", "--until-caught-up"]);
    let listing = sandbox.tidepool(&["quarantine", path_str(&workbook), "orders"]);
    assert_eq!(stdout(&listing), "");

    let output = sandbox.run_until_caught_up(&workbook);
    assert!(stdout(&output).contains("orders: 1 events, 1 quarantined"), "after reset: {}", stdout(&output));
}
