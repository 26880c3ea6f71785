//! (i) A report joining a large stream rollup with a large imported table,
//! filtered and grouped, beside `DuckDB` running the same query on the same data
//! (issue 10 §10). Both sides start from data already in memory: tidepool
//! from the rollup and the table's frame, `DuckDB` from tables it loaded from
//! Parquet files of the same rows before the clock starts.
//!
//! `tidepool-bench --report-join [ROLLUP_ROWS [TABLE_ROWS]]` (default 10M and 1M).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

use polars::prelude::*;
use tidepool::engine::report::{Base, compute};
use tidepool::engine::rollup::RollupFrame;
use tidepool::engine::stream::ingest::{IncomingMessage, Ingestor};
use tidepool::model::Workbook;
use tidepool::model::reports::ReportSpec;

const COUNTRIES: [&str; 12] = ["US", "DE", "GB", "FR", "NL", "ES", "IT", "SE", "PL", "BR", "JP", "IN"];
const SEGMENTS: [&str; 4] = ["consumer", "student", "business", "enterprise"];
const ROUNDS: usize = 3;

/// The stream: per minute, user and country, events and revenue.
fn stream_spec() -> tidepool::model::StreamSpec {
    let text = r#"[[streams]]
name = "orders"
brokers = "unused:9092"
topic = "unused"
time = { field = "ts", format = "epoch_ms" }
[streams.rollup]
granularity = "1m"
dimensions = ["user", "country"]
metrics = [{ name = "events", kind = "count" }, { name = "revenue", kind = "sum", field = "revenue" }]
"#;
    Workbook::from_toml(text, std::path::Path::new("bench.toml")).expect("bench workbook").streams.remove(0)
}

/// The report: orders of non-student customers per segment and country.
fn report() -> ReportSpec {
    toml::from_str(
        r#"name = "segments"
from = "orders"
joins = [{ with = "customers", on = { user = "user_id" } }]
filters = [{ field = "segment", op = "!=", value = "student" }]
group_by = ["segment", "country"]
measures = [{ name = "events", metric = "events" }, { name = "revenue", metric = "revenue" }]"#,
    )
    .expect("the report")
}

fn user_id(index: usize) -> String {
    format!("u{index:07}")
}

/// A rollup of `rows` rows: every user once per minute, for as many minutes as it takes.
fn rollup(rows: usize, users: usize) -> Ingestor {
    let mut ingestor = Ingestor::new(&stream_spec());
    let mut payload = String::with_capacity(128);
    for index in 0..rows {
        let (minute, user) = (index / users, index % users);
        payload.clear();
        let _ = write!(
            payload,
            r#"{{"ts":{},"user":"{}","country":"{}","revenue":{}.{:02}}}"#,
            1_764_000_000_000_i64 + minute as i64 * 60_000,
            user_id(user),
            COUNTRIES[user % COUNTRIES.len()],
            (index * 7_919) % 500,
            index % 100
        );
        let message = IncomingMessage {
            partition: 0,
            offset: index as i64,
            timestamp_ms: None,
            payload: Some(payload.as_bytes()),
        };
        ingestor.ingest(message, 0);
    }
    ingestor
}

fn customers(rows: usize) -> DataFrame {
    df!(
        "user_id" => (0..rows).map(user_id).collect::<Vec<_>>(),
        "segment" => (0..rows).map(|i| SEGMENTS[(i / 7) % SEGMENTS.len()]).collect::<Vec<_>>(),
        "signed_up_year" => (0..rows).map(|i| 2015 + (i % 11) as i32).collect::<Vec<_>>(),
    )
    .expect("customers")
}

fn write_parquet(frame: &mut DataFrame, path: &std::path::Path) {
    let file = std::fs::File::create(path).expect("parquet file");
    ParquetWriter::new(file).finish(frame).expect("parquet written");
}

/// `DuckDB`'s query times (ms) and its answer's row count and revenue total.
fn duckdb(rollup: &std::path::Path, customers: &std::path::Path) -> Option<(Vec<f64>, u64, f64)> {
    let script = format!(
        r#"
import duckdb, time
con = duckdb.connect()
con.execute("CREATE TABLE orders AS SELECT * FROM read_parquet('{}')")
con.execute("CREATE TABLE customers AS SELECT * FROM read_parquet('{}')")
times = []
for _ in range({ROUNDS}):
    start = time.perf_counter()
    rows = con.execute("""
      SELECT c.segment, o.country, sum(o.events) AS events, sum(o.revenue) AS revenue
      FROM orders o JOIN customers c ON o."user" = c.user_id
      WHERE c.segment <> 'student'
      GROUP BY ALL
    """).fetchall()
    times.append((time.perf_counter() - start) * 1000)
print(" ".join(f"{{t:.1f}}" for t in times), len(rows), sum(r[3] for r in rows))
"#,
        rollup.display(),
        customers.display()
    );
    let output = std::process::Command::new("python3").arg("-c").arg(script).output().ok()?;
    if !output.status.success() {
        eprintln!("duckdb run failed: {}", String::from_utf8_lossy(&output.stderr));
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let fields: Vec<&str> = text.split_whitespace().collect();
    let (times, rest) = fields.split_at(ROUNDS.min(fields.len()));
    let times = times.iter().filter_map(|t| t.parse().ok()).collect();
    Some((times, rest.first()?.parse().ok()?, rest.get(1)?.parse().ok()?))
}

pub fn run(rollup_rows: usize, table_rows: usize) {
    println!("(i) report join: a {rollup_rows}-row rollup ⋈ a {table_rows}-row table, filtered, grouped");
    let started = Instant::now();
    let ingestor = rollup(rollup_rows, table_rows);
    let state = &ingestor.rollup;
    assert_eq!(state.row_count(), rollup_rows, "one rollup row per event");
    println!("    rollup built in {:.1} s", started.elapsed().as_secs_f64());
    let table = customers(table_rows);
    let tables = BTreeMap::from([("customers".to_string(), table.clone())]);
    let report = report();

    let mut times = Vec::new();
    let mut answer = None;
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let computed = compute(&report, Base::Stream(state), &tables, 0).expect("the report's answer");
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        answer = Some(computed.frame);
    }
    let answer = answer.expect("an answer");
    let revenue: f64 = answer.column("revenue").and_then(|c| c.f64().map(|c| c.sum().unwrap_or(0.0))).unwrap_or(0.0);
    println!(
        "    tidepool: {:.0} ms median (rounds, ms: {}), {} rows, revenue {revenue:.2}",
        crate::median(&times),
        crate::list(&times, 1.0),
        answer.height()
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let rollup_file = dir.path().join("orders.parquet");
    let customers_file = dir.path().join("customers.parquet");
    let mut plain = state
        .to_frame()
        .expect("rollup frame")
        .select(["bucket", "user", "country", "events", "revenue"])
        .expect("plain columns");
    write_parquet(&mut plain, &rollup_file);
    write_parquet(&mut table.clone(), &customers_file);
    drop(plain);
    match duckdb(&rollup_file, &customers_file) {
        Some((duck_times, rows, duck_revenue)) => {
            println!(
                "    DuckDB, both cores: {:.0} ms median (rounds, ms: {}), {rows} rows, revenue {duck_revenue:.2}",
                crate::median(&duck_times),
                crate::list(&duck_times, 1.0)
            );
            println!("    tidepool / DuckDB: {:.2}x", crate::median(&times) / crate::median(&duck_times));
            assert_eq!(rows as usize, answer.height(), "DuckDB and tidepool answer as many rows");
            assert!((duck_revenue - revenue).abs() <= 1e-6 * revenue.abs().max(1.0), "the same revenue in all");
        }
        None => println!("    DuckDB: not measured (pip install duckdb)"),
    }
}
