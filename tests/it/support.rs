//! Helpers shared by the integration tests: the broker, topics, producing
//! events, running the real binary, and an independent Polars computation of
//! what a rollup must hold.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use polars::prelude::*;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

/// The broker started by `scripts/test`.
pub fn broker() -> String {
    std::env::var("TIDEPOOL_TEST_BROKER").expect(
        "TIDEPOOL_TEST_BROKER is not set: run the integration tests through scripts/test, which starts the test broker",
    )
}

/// A topic name no other test uses.
pub fn unique_topic(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}-{}-{nanos}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

pub fn create_topic(topic: &str, partitions: i32) {
    create_topic_with(&client_config(&broker(), &[]), topic, partitions);
}

/// A client config for `brokers` with extra settings (TLS, compression…).
pub fn client_config(brokers: &str, settings: &[(&str, &str)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    for (key, value) in settings {
        config.set(*key, *value);
    }
    config
}

pub fn create_topic_with(config: &ClientConfig, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = config.create().expect("admin client");
    let runtime = futures_executor();
    let results = runtime(admin.create_topics(
        &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
        &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
    ))
    .expect("create_topics request");
    for result in results {
        result.unwrap_or_else(|(name, code)| panic!("creating topic {name}: {code}"));
    }
}

/// A tansu broker of the test's own (the binary `scripts/test` installed), on a
/// port that survives a restart: stopping and starting it again empties it, as
/// if the topic had been deleted and made anew.
pub struct OwnBroker {
    pub address: String,
    process: std::process::Child,
}

impl OwnBroker {
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Self::start_on(port)
    }

    pub fn start_on(port: u16) -> Self {
        let tansu = std::env::var("TIDEPOOL_TEST_TANSU").expect("TIDEPOOL_TEST_TANSU is not set: run scripts/test");
        let address = format!("127.0.0.1:{port}");
        let url = format!("tcp://{address}");
        let process = Command::new(tansu)
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start tansu");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(&address).is_err() {
            assert!(std::time::Instant::now() < deadline, "tansu did not listen on {address}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { address, process }
    }

    /// Stops the broker and starts an empty one on the same address.
    #[must_use]
    pub fn restart_empty(mut self) -> Self {
        let port = self.address.rsplit(':').next().unwrap().parse().unwrap();
        let _ = self.process.kill();
        let _ = self.process.wait();
        Self::start_on(port)
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// `full_workbook` reading from another broker.
pub fn full_workbook_on(brokers: &str, topic: &str, granularity: &str) -> String {
    full_workbook(topic, granularity)
        .replace(&format!("brokers = \"{}\"", broker()), &format!("brokers = \"{brokers}\""))
}

/// `full_workbook` at 1m on another broker, with a `[streams.kafka]` table.
pub fn workbook_with_client(brokers: &str, topic: &str, kafka_table: &str) -> String {
    full_workbook_on(brokers, topic, "1m") + kafka_table
}

/// Runs a future to completion on this thread (the admin API is async).
fn futures_executor<F: std::future::Future>() -> impl FnOnce(F) -> F::Output {
    |future| tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(future)
}

/// One message to produce.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub partition: i32,
    pub payload: Option<Vec<u8>>,
    pub timestamp_ms: Option<i64>,
}

pub fn producer() -> BaseProducer {
    producer_with(client_config(&broker(), &[]))
}

pub fn producer_with(mut config: ClientConfig) -> BaseProducer {
    config.set("linger.ms", "5").set("message.max.bytes", "2000000").create().expect("producer")
}

/// Produces messages in order and waits until the broker has them all.
pub fn produce(topic: &str, messages: &[Outgoing]) {
    produce_with(&producer(), topic, messages);
}

/// As [`produce`], through a given producer (TLS, compression…).
pub fn produce_with(producer: &BaseProducer, topic: &str, messages: &[Outgoing]) {
    for message in messages {
        send(producer, topic, message);
    }
    producer.flush(Duration::from_mins(1)).expect("flush");
}

/// Produces each message as its own flushed batch (see the guide on tansu's batch-granular offsets).
pub fn produce_one_by_one(topic: &str, messages: &[Outgoing]) {
    produce_one_by_one_to(&broker(), topic, messages);
}

/// As [`produce_one_by_one`], to another broker.
pub fn produce_one_by_one_to(brokers: &str, topic: &str, messages: &[Outgoing]) {
    let producer = producer_with(client_config(brokers, &[]));
    for message in messages {
        send(&producer, topic, message);
        producer.flush(Duration::from_secs(30)).expect("flush");
    }
}

fn send(producer: &BaseProducer, topic: &str, message: &Outgoing) {
    let mut record: BaseRecord<'_, (), [u8]> = BaseRecord::to(topic).partition(message.partition);
    if let Some(payload) = &message.payload {
        record = record.payload(payload.as_slice());
    }
    if let Some(ts) = message.timestamp_ms {
        record = record.timestamp(ts);
    }
    let mut record = record;
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((rdkafka::error::KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull), back)) => {
                producer.poll(Duration::from_millis(10));
                record = back;
            }
            Err((err, _)) => panic!("produce: {err}"),
        }
    }
}

/// A temporary place for one test's workbook, state and exports.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("temp dir") }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.path("state")
    }

    pub fn write_workbook(&self, text: &str) -> PathBuf {
        let path = self.path("workbook.toml");
        std::fs::write(&path, text).expect("write workbook");
        path
    }

    /// Runs `tidepool ARGS… --data-dir <sandbox>`.
    pub fn tidepool(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run tidepool")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tidepool"));
        command.args(args).arg("--data-dir").arg(self.data_dir());
        command
    }

    /// `run WORKBOOK --until-caught-up`, which must succeed.
    pub fn run_until_caught_up(&self, workbook: &Path) -> Output {
        let output = self.tidepool(&["run", path_str(workbook), "--until-caught-up", "--give-up-after", "60s"]);
        assert_success(&output, "run --until-caught-up");
        output
    }

    /// Exports a stream to Parquet and reads it back.
    pub fn export(&self, workbook: &Path, stream: &str) -> DataFrame {
        let out = self.path(&format!("{stream}.parquet"));
        let output = self.tidepool(&["export", path_str(workbook), stream, "--out", path_str(&out)]);
        assert_success(&output, "export");
        ParquetReader::new(std::fs::File::open(&out).expect("open export")).finish().expect("read export")
    }
}

/// The sum of an integer column (e.g. the events of a rollup).
pub fn column_total(frame: &DataFrame, column: &str) -> i64 {
    let values = frame.column(column).expect("column").as_materialized_series().i64().expect("integers").clone();
    values.iter().flatten().sum()
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

pub fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts that stream `shop` of `full_workbook` exports exactly what an
/// independent `group_by` over `events` gives at `granularity_ms`.
pub fn assert_export_matches(sandbox: &Sandbox, workbook: &Path, events: &[TestEvent], granularity_ms: i64) {
    let dimensions = ["country", "device.kind"];
    let actual = sorted(&sandbox.export(workbook, "shop"), &dimensions);
    let expected = sorted(&expected_rollup(events, granularity_ms), &dimensions);
    assert_frames_match(&actual, &expected, &[]);
}

/// Sorts a rollup frame by bucket and the given dimensions, for row-by-row comparison.
pub fn sorted(frame: &DataFrame, dimensions: &[&str]) -> DataFrame {
    let mut by = vec!["bucket"];
    by.extend_from_slice(dimensions);
    frame.sort(by, SortMultipleOptions::default().with_nulls_last(true)).expect("sort")
}

/// Asserts two frames hold the same rows; floats within `1e-9` relative.
pub fn assert_frames_match(actual: &DataFrame, expected: &DataFrame, approx_columns: &[(&str, f64)]) {
    assert_eq!(actual.height(), expected.height(), "row counts differ:\nactual {actual}\nexpected {expected}");
    for column in expected.columns() {
        let name = column.name().as_str();
        let got = actual.column(name).unwrap_or_else(|_| panic!("export has no column `{name}`"));
        let tolerance = approx_columns.iter().find(|(n, _)| *n == name).map(|(_, t)| *t);
        let want = column.as_materialized_series();
        let got = got.as_materialized_series();
        if want.dtype().is_float() || got.dtype().is_float() || tolerance.is_some() {
            let want = want.cast(&DataType::Float64).unwrap();
            let got = got.cast(&DataType::Float64).unwrap();
            for (row, (w, g)) in want.f64().unwrap().iter().zip(got.f64().unwrap().iter()).enumerate() {
                match (w, g) {
                    (Some(w), Some(g)) => {
                        let allowed = tolerance.map_or(1e-9 * w.abs().max(1.0), |share| (share * w.abs()).max(1.0));
                        assert!((w - g).abs() <= allowed, "`{name}` row {row}: expected {w}, got {g}");
                    }
                    (None, None) => {}
                    other => panic!("`{name}` row {row}: expected/got {other:?}"),
                }
            }
        } else {
            let want = want.cast(&DataType::String).unwrap();
            let got = got.cast(&DataType::String).unwrap();
            assert!(want.equals_missing(&got), "column `{name}` differs:\nexpected {want}\ngot {got}");
        }
    }
}

/// Events as a frame for the independent computation; column `ts_ms` plus whatever fields.
pub fn bucket_expr(granularity_ms: i64) -> Expr {
    ((col("ts_ms") - col("ts_ms") % lit(granularity_ms)) * lit(1_000_i64))
        .cast(DataType::Datetime(TimeUnit::Microseconds, None))
        .alias("bucket")
}

/// One test event: where it goes and what it says.
#[derive(Debug, Clone)]
pub struct TestEvent {
    pub partition: i32,
    pub offset: i64,
    pub ts_ms: i64,
    pub country: &'static str,
    pub device: Option<&'static str>,
    pub price: Option<f64>,
    pub qty: i64,
    pub user: String,
}

impl TestEvent {
    pub fn json(&self) -> Vec<u8> {
        let mut value = serde_json::json!({
            "ts": self.ts_ms,
            "country": self.country,
            "qty": self.qty,
            "user": self.user,
            "extra": {"ignored": [1, 2, 3], "text": "not read"},
        });
        if let Some(device) = self.device {
            value["device"] = serde_json::json!({ "kind": device, "os": "x" });
        }
        match self.price {
            Some(price) => value["price"] = serde_json::json!(price),
            None if self.qty % 2 == 0 => value["price"] = serde_json::Value::Null,
            None => {}
        }
        serde_json::to_vec(&value).unwrap()
    }

    pub fn outgoing(&self) -> Outgoing {
        Outgoing { partition: self.partition, payload: Some(self.json()), timestamp_ms: Some(self.ts_ms) }
    }
}

/// Deterministic events spread over `partitions`, starting at `start_ms`, about `step_ms` apart.
pub fn generate_events(count: usize, partitions: i32, start_ms: i64, step_ms: i64, seed: u64) -> Vec<TestEvent> {
    const COUNTRIES: [&str; 4] = ["DE", "FR", "US", "JP"];
    const DEVICES: [Option<&str>; 3] = [Some("mobile"), Some("desktop"), None];
    let mut rng = tidepool::demo::clickstream::Rng::new(seed);
    let mut next_offset = vec![0_i64; partitions as usize];
    (0..count)
        .map(|index| {
            let partition = rng.below(partitions as u64) as i32;
            let offset = next_offset[partition as usize];
            next_offset[partition as usize] += 1;
            // Mostly increasing per partition, with small jitter inside the lateness allowance.
            let ts_ms = start_ms + index as i64 * step_ms + rng.below(2_000) as i64;
            let price = if rng.below(10) == 0 { None } else { Some(rng.below(100_000) as f64 / 100.0) };
            TestEvent {
                partition,
                offset,
                ts_ms,
                country: COUNTRIES[rng.below(4) as usize],
                device: DEVICES[rng.below(3) as usize],
                price,
                qty: 1 + rng.below(5) as i64,
                user: format!("u{}", rng.below(500)),
            }
        })
        .collect()
}

/// The workbook text of one stream over `topic` with every metric kind.
pub fn full_workbook(topic: &str, granularity: &str) -> String {
    format!(
        r#"[workbook]
name = "integration"

[[streams]]
name = "shop"
brokers = "{broker}"
topic = "{topic}"
start = "earliest"

[streams.time]
field = "ts"
format = "epoch_ms"

[streams.rollup]
granularity = "{granularity}"
dimensions = ["country", "device.kind"]
allowed_lateness = "1m"
metrics = [
  {{ name = "events", kind = "count" }},
  {{ name = "revenue", kind = "sum", field = "price" }},
  {{ name = "items", kind = "sum", field = "qty" }},
  {{ name = "cheapest", kind = "min", field = "price" }},
  {{ name = "dearest", kind = "max", field = "price" }},
  {{ name = "mean_price", kind = "mean", field = "price" }},
  {{ name = "first_price", kind = "first", field = "price" }},
  {{ name = "last_price", kind = "last", field = "price" }},
  {{ name = "users", kind = "approx_distinct", field = "user" }},
  {{ name = "price", kind = "quantiles", field = "price", quantiles = [0.5, 0.9] }},
]
"#,
        broker = broker()
    )
}

/// What the rollup of `full_workbook` must hold, computed by a plain Polars `group_by` over the raw events.
pub fn expected_rollup(events: &[TestEvent], granularity_ms: i64) -> DataFrame {
    let frame = df!(
        "ts_ms" => events.iter().map(|e| e.ts_ms).collect::<Vec<_>>(),
        "partition" => events.iter().map(|e| e.partition).collect::<Vec<_>>(),
        "offset" => events.iter().map(|e| e.offset).collect::<Vec<_>>(),
        "country" => events.iter().map(|e| e.country).collect::<Vec<_>>(),
        "device.kind" => events.iter().map(|e| e.device).collect::<Vec<_>>(),
        "price" => events.iter().map(|e| e.price).collect::<Vec<_>>(),
        "qty" => events.iter().map(|e| e.qty).collect::<Vec<_>>(),
        "user" => events.iter().map(|e| e.user.clone()).collect::<Vec<_>>(),
    )
    .expect("events frame");
    let in_order = |e: Expr| {
        e.sort_by([col("ts_ms"), col("partition"), col("offset")], SortMultipleOptions::default()).drop_nulls()
    };
    let grouped = frame
        .lazy()
        .with_column(bucket_expr(granularity_ms))
        .group_by([col("bucket"), col("country"), col("device.kind")])
        .agg([
            len().cast(DataType::Int64).alias("events"),
            when(col("price").count().gt(lit(0))).then(col("price").sum()).otherwise(lit(NULL)).alias("revenue"),
            col("qty").sum().cast(DataType::Float64).alias("items"),
            col("price").min().alias("cheapest"),
            col("price").max().alias("dearest"),
            col("price").mean().alias("mean_price"),
            in_order(col("price")).first().alias("first_price"),
            in_order(col("price")).last().alias("last_price"),
            col("user").n_unique().cast(DataType::Int64).alias("users"),
        ])
        .collect()
        .expect("expected rollup");
    let keys = ["bucket", "country", "device.kind"];
    let quantiles = nearest_rank_quantiles(events, granularity_ms, &[(0.5, "price_p50"), (0.9, "price_p90")]);
    grouped
        .lazy()
        .join(
            quantiles.lazy(),
            keys.map(col),
            keys.map(col),
            JoinArgs { nulls_equal: true, ..JoinArgs::new(JoinType::Left) },
        )
        .collect()
        .expect("expected rollup with quantiles")
}

/// Per (bucket, country, device) the nearest-rank quantiles of `price`: the
/// smallest value with at least `rank` of the row's values at or below it —
/// computed by sorting, independently of any sketch.
fn nearest_rank_quantiles(events: &[TestEvent], granularity_ms: i64, ranks: &[(f64, &str)]) -> DataFrame {
    let mut groups: std::collections::BTreeMap<(i64, &str, Option<&str>), Vec<f64>> =
        std::collections::BTreeMap::default();
    for event in events {
        let bucket_us = (event.ts_ms - event.ts_ms.rem_euclid(granularity_ms)) * 1_000;
        let prices = groups.entry((bucket_us, event.country, event.device)).or_default();
        prices.extend(event.price);
    }
    let mut columns = vec![
        Int64Chunked::from_vec("bucket".into(), groups.keys().map(|k| k.0).collect())
            .into_datetime(TimeUnit::Microseconds, None)
            .into_column(),
        Column::new("country".into(), groups.keys().map(|k| k.1).collect::<Vec<_>>()),
        Column::new("device.kind".into(), groups.keys().map(|k| k.2).collect::<Vec<_>>()),
    ];
    for (rank, name) in ranks {
        let values: Vec<Option<f64>> = groups
            .values_mut()
            .map(|prices| {
                prices.sort_by(f64::total_cmp);
                let position = (rank * prices.len() as f64).ceil() as usize;
                prices.get(position.max(1) - 1).copied()
            })
            .collect();
        columns.push(Column::new((*name).into(), values));
    }
    DataFrame::new(groups.len(), columns).expect("quantile frame")
}
