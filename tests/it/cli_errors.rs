//! Mistakes on the command line or in a workbook: a non-zero exit and one
//! message saying what is wrong and where, never a panic.

use crate::support::*;

const WORKBOOK: &str = r#"[[streams]]
name = "clicks"
brokers = "127.0.0.1:9"
topic = "clicks"
time = { field = "ts", format = "epoch_ms" }

[streams.rollup]
granularity = "7m"
metrics = [{ name = "events", kind = "count" }]
"#;

fn assert_one_clear_error(output: &std::process::Output, must_mention: &[&str]) {
    assert!(!output.status.success());
    let message = stderr(output);
    assert!(message.starts_with("error: "), "{message}");
    for word in must_mention {
        assert!(message.contains(word), "should mention {word}: {message}");
    }
    assert!(!message.contains("panicked"), "{message}");
}

#[test]
fn a_bad_workbook_names_the_file_and_line() {
    let sandbox = Sandbox::new();
    let workbook = sandbox.write_workbook(WORKBOOK);
    let output = sandbox.tidepool(&["run", path_str(&workbook), "--until-caught-up"]);
    assert_one_clear_error(&output, &["workbook.toml, line 8", "divide a day"]);
}

#[test]
fn an_unknown_stream_lists_the_known_ones() {
    let sandbox = Sandbox::new();
    let workbook = sandbox.write_workbook(&WORKBOOK.replace("7m", "5m"));
    let output = sandbox.tidepool(&["export", path_str(&workbook), "clickz", "--out", "x.csv"]);
    assert_one_clear_error(&output, &["no stream named `clickz`", "`clicks`"]);
}

#[test]
fn an_export_needs_a_known_file_type() {
    let sandbox = Sandbox::new();
    let workbook = sandbox.write_workbook(&WORKBOOK.replace("7m", "5m"));
    let output = sandbox.tidepool(&["export", path_str(&workbook), "clicks", "--out", "rollup.xlsx"]);
    assert_one_clear_error(&output, &["rollup.xlsx", ".csv or .parquet"]);
}
