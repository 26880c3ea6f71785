//! Throughput and memory benchmark (run through `scripts/bench`):
//!   (a) engine only: decode + roll up pre-built demo-shaped messages on one core;
//!   (b) end to end from the test broker through the engine, beside
//!   (c) the raw librdkafka consume rate of the same topic, and
//!   (d) `DuckDB` rolling up the same events from an NDJSON file (the peer);
//!   (e) peak memory for 10M events rolled up at 1-minute granularity, and
//!   (f) how long checkpoints of that rollup hold the stream thread (the first, and one while live).
//!   (i) with `--report-join`: a report joining a 10M-row rollup with a 1M-row table, beside `DuckDB`;
//!   (j) with `--live-report`: a live report over a 1M-row rollup while its stream ingests 100k events/s.
//! Without `--bench` it runs a tiny smoke pass only; `--engine-only` repeats (a) for profiling.

mod live_report;
mod report_join;

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use tidepool::demo::clickstream::{Clickstream, ClickstreamOptions};
use tidepool::engine::stream::ingest::{IncomingMessage, Ingestor};
use tidepool::engine::{Command, Engine, EngineOptions, Event, RunMode};
use tidepool::model::{StreamSpec, Workbook};

const PARTITIONS: i32 = 2;

fn demo_stream(brokers: &str, topic: &str) -> StreamSpec {
    Workbook::from_toml(&demo_stream_toml(brokers, topic), std::path::Path::new("bench.toml"))
        .expect("bench workbook")
        .streams
        .remove(0)
}

/// The demo-shaped stream as workbook text.
fn demo_stream_toml(brokers: &str, topic: &str) -> String {
    format!(
        r#"[[streams]]
name = "clicks"
brokers = "{brokers}"
topic = "{topic}"
time = {{ field = "ts", format = "epoch_ms" }}
[streams.rollup]
granularity = "1m"
dimensions = ["type", "country", "device", "browser", "section", "referrer"]
metrics = [
  {{ name = "events", kind = "count" }},
  {{ name = "revenue", kind = "sum", field = "price" }},
  {{ name = "slowest_ms", kind = "max", field = "latency_ms" }},
  {{ name = "users", kind = "approx_distinct", field = "user" }},
]
"#
    )
}

fn messages(count: usize) -> Vec<Vec<u8>> {
    let mut generator = Clickstream::new(ClickstreamOptions::default());
    (0..count).map(|_| generator.next_event()).collect()
}

/// (a) events per second through decode + rollup on this thread.
fn engine_only(messages: &[Vec<u8>], passes: usize) -> f64 {
    let spec = demo_stream("unused:9092", "unused");
    let mut ingestor = Ingestor::new(&spec);
    let now = 1_764_000_000_000_000;
    let started = Instant::now();
    let mut offset = 0;
    for _ in 0..passes {
        for payload in messages {
            ingestor.ingest(IncomingMessage { partition: 0, offset, timestamp_ms: None, payload: Some(payload) }, now);
            offset += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(ingestor.progress.events, offset as u64, "every event merged");
    offset as f64 / elapsed
}

/// (e) peak resident memory (MB) of a child process that rolls up `count` events.
fn peak_memory_child(count: usize) {
    let spec = demo_stream("unused:9092", "unused");
    let mut ingestor = Ingestor::new(&spec);
    let mut generator = Clickstream::new(ClickstreamOptions { events_per_sec: 1_000, ..ClickstreamOptions::default() });
    let mut payload = Vec::with_capacity(256);
    for offset in 0..count {
        generator.next_into(&mut payload);
        ingestor.ingest(
            IncomingMessage { partition: 0, offset: offset as i64, timestamp_ms: None, payload: Some(&payload) },
            1_764_000_000_000_000,
        );
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak_kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    // (f) how long a checkpoint of this rollup holds the stream's thread: the
    // first writes every bucket; the next, after a minute more of live events,
    // writes only the buckets those touched, as every later checkpoint does.
    let dir = std::env::temp_dir().join(format!("tidepool-bench-checkpoint-{}", std::process::id()));
    let mut store = tidepool::engine::store::StateStore::open(&dir).expect("state store");
    let key = tidepool::engine::store::StreamKey { workbook_id: "bench".into(), stream: "clicks".into() };
    let definition = tidepool::model::fingerprint::RollupDefinition::of(&spec);
    let mut checkpoint = |ingestor: &mut Ingestor| {
        // The stream's thread only encodes the changes (its pause); the checkpoint thread saves them.
        let started = Instant::now();
        let changes = ingestor.rollup.take_changes().expect("encoded");
        let paused = started.elapsed().as_millis();
        let started = Instant::now();
        store
            .save(
                &key,
                &definition.fingerprint(),
                &definition.canonical_json(),
                &ingestor.progress,
                &changes,
                &[],
                10_000,
            )
            .expect("checkpoint");
        (paused, started.elapsed().as_millis(), changes.rows())
    };
    let (first_ms, first_write_ms, _) = checkpoint(&mut ingestor);
    for offset in count..count + 60_000 {
        generator.next_into(&mut payload);
        ingestor.ingest(
            IncomingMessage { partition: 0, offset: offset as i64, timestamp_ms: None, payload: Some(&payload) },
            1_764_000_000_000_000,
        );
    }
    let (next_ms, next_write_ms, next_rows) = checkpoint(&mut ingestor);
    let _ = std::fs::remove_dir_all(&dir);
    // (g) a reader of the live snapshot (a report, the stream view) puts the
    // buckets it needs back together on its own thread: all, or the last hour.
    // The first reader decodes what it reads; every later one copies the
    // decoded buckets (a snapshot of its own for each first read).
    let encoded = ingestor.rollup.encode_all().expect("encoded");
    let fresh_snapshot = || {
        let snapshots = tidepool::engine::snapshots::Snapshots::default();
        snapshots.publish("clicks", &encoded, tidepool::engine::snapshots::SnapshotMeta::default());
        snapshots.latest("clicks").expect("published")
    };
    let snapshot = fresh_snapshot();
    let started = Instant::now();
    let whole = snapshot.rollup(..).expect("the whole rollup");
    let whole_ms = started.elapsed().as_millis();
    let started = Instant::now();
    let _ = snapshot.rollup(..).expect("the whole rollup again");
    let whole_again_ms = started.elapsed().as_millis();
    let hour_start = whole.latest_bucket().unwrap_or(0) - 3_600_000_000;
    drop(whole);
    let started = Instant::now();
    let hour = fresh_snapshot().rollup(hour_start..).expect("the last hour");
    let hour_ms = started.elapsed().as_millis();
    let started = Instant::now();
    let _ = snapshot.rollup(hour_start..).expect("the last hour again");
    let hour_again_ms = started.elapsed().as_millis();
    // (h) what a live report over the last hour costs on top: grouped per
    // minute and country, its counts and sums added, its distinct users
    // united, Σsum / Σcount — the report engine's work after (g).
    let report: tidepool::model::reports::ReportSpec = toml::from_str(
        r#"name = "live"
from = "clicks"
time = { grain = "1m" }
group_by = ["country"]
measures = [
  { name = "events", metric = "events" },
  { name = "revenue", metric = "revenue" },
  { name = "users", metric = "users" },
]"#,
    )
    .expect("the report");
    let started = Instant::now();
    let tables = std::collections::BTreeMap::new();
    let base = tidepool::engine::report::Base::Stream(&hour);
    let answer = tidepool::engine::report::compute(&report, base, &tables, 0).expect("the report's answer");
    let report_ms = started.elapsed().as_millis();
    println!(
        "{} {} {} {first_ms} {first_write_ms} {next_ms} {next_write_ms} {next_rows} {whole_ms} {hour_ms} {} {report_ms} {} {whole_again_ms} {hour_again_ms}",
        peak_kb / 1024,
        ingestor.rollup.row_count(),
        ingestor.progress.events,
        hour.row_count(),
        answer.frame.height()
    );
}

fn produce(brokers: &str, topic: &str, messages: &[Vec<u8>]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("compression.type", "none")
        .create()
        .expect("producer");
    for (index, payload) in messages.iter().enumerate() {
        let mut record =
            BaseRecord::<(), [u8]>::to(topic).payload(payload.as_slice()).partition(index as i32 % PARTITIONS);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    producer.poll(Duration::from_millis(5));
                    record = back;
                }
            }
        }
    }
    producer.flush(Duration::from_mins(5)).expect("flush");
}

fn create_topic(brokers: &str, topic: &str) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    let admin: AdminClient<rdkafka::client::DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", brokers).create().expect("admin");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let results = runtime
        .block_on(
            admin.create_topics(&[NewTopic::new(topic, PARTITIONS, TopicReplication::Fixed(1))], &AdminOptions::new()),
        )
        .expect("create topic");
    for result in results {
        result.expect("topic created");
    }
}

/// Two rates of one read of the topic: over the whole run (start to the end of
/// every partition, or to caught up and checkpointed), and while messages flowed
/// (the first message to the last).
#[derive(Debug, Clone, Copy)]
struct Rates {
    whole: f64,
    flowing: f64,
}

/// (c) messages per second read by a bare librdkafka consumer until every
/// partition's EOF. It is made from the stream's own client settings and is
/// connected (metadata fetched, as a stream's is) before its clock starts, so
/// that the whole-run rates compare like with like.
fn raw_consume(brokers: &str, topic: &str, expected: usize) -> Rates {
    let consumer: BaseConsumer = tidepool::engine::stream::kafka::client_config(&demo_stream(brokers, topic))
        .expect("the stream's client settings")
        .set("group.id", "bench-raw")
        .create()
        .expect("consumer");
    consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).expect("metadata");
    let mut assignment = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        assignment.add_partition_offset(topic, partition, Offset::Beginning).expect("assign");
    }
    consumer.assign(&assignment).expect("assign");
    let started = Instant::now();
    let (mut seen, mut ended, mut bytes) = (0_usize, 0, 0_usize);
    let (mut first, mut last) = (started, started);
    while ended < PARTITIONS {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                last = Instant::now();
                if seen == 0 {
                    first = last;
                    tracing::info!("raw consumer: first message {} ms after assigning", started.elapsed().as_millis());
                }
                seen += 1;
                bytes += message.payload_len();
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => ended += 1,
            _ => {}
        }
    }
    assert_eq!(seen, expected, "raw consumer read every message ({bytes} bytes)");
    tracing::info!("raw consumer: every partition read to its end in {} ms", started.elapsed().as_millis());
    Rates { whole: seen as f64 / started.elapsed().as_secs_f64(), flowing: seen as f64 / (last - first).as_secs_f64() }
}

/// (b) events per second through the engine (consumer + decode + rollup + checkpoints) until caught up.
fn end_to_end(brokers: &str, topic: &str, expected: usize) -> Rates {
    let data_dir = std::env::temp_dir().join(format!("tidepool-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let options = EngineOptions {
        data_dir: data_dir.clone(),
        workbook_id: "bench".into(),
        checkpoint_every: Duration::from_secs(5),
    };
    let engine = Engine::start(options, Arc::new(|| {})).expect("engine");
    let started = Instant::now();
    engine.send(Command::StartStream {
        spec: Box::new(demo_stream(brokers, topic)),
        mode: RunMode::UntilCaughtUp { give_up_after: Duration::from_mins(1) },
        history: tidepool::engine::HistoryLoss::Refuse,
    });
    let rate = loop {
        match engine.next_event() {
            Some(Event::StreamCaughtUp { stats, .. }) => {
                assert_eq!(stats.events as usize, expected, "engine merged every event");
                let reading = stats.reading.expect("the stream read messages");
                break Rates {
                    whole: stats.events as f64 / started.elapsed().as_secs_f64(),
                    flowing: stats.counted_this_run as f64 / reading.as_secs_f64(),
                };
            }
            Some(Event::StreamFailed { message, .. }) => panic!("stream failed: {message}"),
            Some(_) => {}
            None => panic!("engine stopped early"),
        }
    };
    drop(engine);
    let _ = std::fs::remove_dir_all(&data_dir);
    rate
}

/// (d) `DuckDB` (Python package) rolling up the same events from NDJSON, events per second.
fn duckdb(messages: &[Vec<u8>]) -> Option<f64> {
    let path = std::env::temp_dir().join(format!("tidepool-bench-{}.ndjson", std::process::id()));
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).ok()?);
    for message in messages {
        file.write_all(message).ok()?;
        file.write_all(b"\n").ok()?;
    }
    file.flush().ok()?;
    drop(file);
    let script = format!(
        r#"
import duckdb, time
con = duckdb.connect()
start = time.perf_counter()
rows = con.execute("""
  SELECT time_bucket(INTERVAL 1 minute, make_timestamp(ts * 1000)) AS bucket,
         type, country, device, browser, section, referrer,
         count(*) AS events, sum(price) AS revenue, max(latency_ms) AS slowest_ms,
         approx_count_distinct("user") AS users
  FROM read_json('{}', format = 'newline_delimited')
  GROUP BY ALL
""").fetchall()
elapsed = time.perf_counter() - start
print({} / elapsed, len(rows))
"#,
        path.display(),
        messages.len()
    );
    let output = std::process::Command::new("python3").arg("-c").arg(script).output().ok()?;
    let _ = std::fs::remove_file(&path);
    if !output.status.success() {
        eprintln!("duckdb run failed: {}", String::from_utf8_lossy(&output.stderr));
        return None;
    }
    String::from_utf8_lossy(&output.stdout).split_whitespace().next()?.parse().ok()
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        len if len % 2 == 1 => sorted[len / 2],
        len => f64::midpoint(sorted[len / 2 - 1], sorted[len / 2]),
    }
}

fn millions(rate: f64) -> String {
    format!("{:.2}M events/s", rate / 1e6)
}

/// (c) and (b), alternating on the same topic for several rounds (as (a) and (d) do).
fn consume_rounds(brokers: &str, topic: &str, expected: usize) {
    let consume_rounds: usize =
        std::env::var("TIDEPOOL_BENCH_CONSUME_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let (mut raws, mut e2es) = (Vec::new(), Vec::new());
    for _ in 0..consume_rounds.max(1) {
        raws.push(raw_consume(brokers, topic, expected));
        e2es.push(end_to_end(brokers, topic, expected));
    }
    for (what, rate) in [
        ("whole run", (|rates: &Rates| rates.whole) as fn(&Rates) -> f64),
        ("while messages flowed", |rates: &Rates| rates.flowing),
    ] {
        let raw: Vec<f64> = raws.iter().map(rate).collect();
        let e2e: Vec<f64> = e2es.iter().map(rate).collect();
        let shares: Vec<f64> = raw.iter().zip(&e2e).map(|(raw, e2e)| 100.0 * e2e / raw).collect();
        println!("{what}:");
        println!(
            "(c) raw librdkafka consume, tansu:   {} median   (rounds, M/s: {})",
            millions(median(&raw)),
            list(&raw, 1e6)
        );
        println!(
            "(b) end to end through the engine:   {} median   (rounds, M/s: {})",
            millions(median(&e2e)),
            list(&e2e, 1e6)
        );
        println!(
            "    (b) / (c) in the same round:      {:.0}% median   (rounds, %: {})",
            median(&shares),
            list(&shares, 1.0)
        );
    }
}

fn list(values: &[f64], unit: f64) -> String {
    values.iter().map(|value| format!("{:.2}", value / unit)).collect::<Vec<_>>().join(" ")
}

/// jemalloc for the whole process, librdkafka's C code included (see Cargo.toml).
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    // `TIDEPOOL_LOG=info` shows where a stream's time goes (connecting, reading, the last checkpoint).
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("TIDEPOOL_LOG") {
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    }
    let args: Vec<String> = std::env::args().collect();
    if let Some(count) = args.iter().position(|a| a == "--peak-memory-child").and_then(|i| args.get(i + 1)) {
        peak_memory_child(count.parse().expect("count"));
        return;
    }
    if let Some(at) = args.iter().position(|a| a == "--report-join") {
        let number =
            |offset: usize, default: usize| args.get(at + offset).and_then(|n| n.parse().ok()).unwrap_or(default);
        report_join::run(number(1, 10_000_000), number(2, 1_000_000));
        return;
    }
    if let Some(at) = args.iter().position(|a| a == "--live-report") {
        let brokers = std::env::var("TIDEPOOL_BENCH_BROKER").expect("TIDEPOOL_BENCH_BROKER (scripts/bench sets it)");
        let history = args.get(at + 1).and_then(|n| n.parse().ok()).unwrap_or(12_500_000);
        live_report::run(&brokers, history);
        return;
    }
    if args.iter().any(|a| a == "--engine-only") {
        // For profiling the hot path: (a) alone, repeated, e.g. under `perf record`.
        let events = args.iter().skip_while(|a| *a != "--engine-only").nth(1).and_then(|n| n.parse().ok());
        let batch = messages(events.unwrap_or(1_000_000));
        for _ in 0..3 {
            println!("(a) engine only, one core: {}", millions(engine_only(&batch, 2)));
        }
        return;
    }
    if !args.iter().any(|a| a == "--bench" || a == "--consume-only") {
        let rate = engine_only(&messages(10_000), 1);
        println!("smoke: engine-only pass over 10k events ok ({})", millions(rate));
        return;
    }
    let events: usize = std::env::var("TIDEPOOL_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let batch = messages(events);
    let mean_bytes = batch.iter().map(Vec::len).sum::<usize>() / batch.len();
    println!(
        "tidepool throughput benchmark: {events} demo events of ~{mean_bytes} bytes, 6 dimensions, 4 metrics, 1m buckets"
    );

    // (a) and (d) alternate for several rounds, so a busy moment on a shared
    // host shows up as one odd round instead of skewing the comparison.
    let rounds: usize = std::env::var("TIDEPOOL_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    // `--consume-only` measures (b) and (c) alone (for profiling the consumer path).
    let consume_only = args.iter().any(|a| a == "--consume-only");
    let (mut engine_rates, mut duck_rates, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..if consume_only { 0 } else { rounds.max(1) } {
        let engine_rate = engine_only(&batch, 2);
        engine_rates.push(engine_rate);
        if let Some(rate) = duckdb(&batch) {
            duck_rates.push(rate);
            ratios.push(engine_rate / rate);
        }
    }
    if !consume_only {
        println!(
            "(a) engine only, one core:           {} median   (rounds, M/s: {})",
            millions(median(&engine_rates)),
            list(&engine_rates, 1e6)
        );
        if duck_rates.is_empty() {
            println!("(d) DuckDB: not measured (pip install duckdb)");
        } else {
            println!(
                "(d) DuckDB from NDJSON, both cores:   {} median   (rounds, M/s: {})",
                millions(median(&duck_rates)),
                list(&duck_rates, 1e6)
            );
            println!(
                "    (a) / (d) in the same round:      {:.2}x median   (rounds: {})",
                median(&ratios),
                list(&ratios, 1.0)
            );
        }
    }

    match std::env::var("TIDEPOOL_BENCH_BROKER") {
        Ok(brokers) => {
            let topic = format!("bench-{}", std::process::id());
            create_topic(&brokers, &topic);
            produce(&brokers, &topic, &batch);
            consume_rounds(&brokers, &topic, batch.len());
        }
        Err(_) => println!("(b)/(c): not measured (set TIDEPOOL_BENCH_BROKER, as scripts/bench does)"),
    }
    drop(batch);
    if consume_only {
        return;
    }

    memory_and_checkpoints();
}

/// (e), (f) and (g), measured in a child process so its peak memory is its own.
fn memory_and_checkpoints() {
    let peak_events =
        std::env::var("TIDEPOOL_BENCH_PEAK_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000_usize);
    let output = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args(["--peak-memory-child", &peak_events.to_string()])
        .output()
        .expect("memory child");
    let text = String::from_utf8_lossy(&output.stdout);
    let fields: Vec<&str> = text.split_whitespace().collect();
    if let [
        peak_mb,
        rows,
        merged,
        first_ms,
        first_write_ms,
        next_ms,
        next_write_ms,
        next_rows,
        whole_ms,
        hour_ms,
        hour_rows,
        report_ms,
        report_rows,
        whole_again_ms,
        hour_again_ms,
    ] = fields[..]
    {
        println!("(e) peak memory, {merged} events at 1m: {peak_mb} MB ({rows} rollup rows)");
        println!(
            "(f) first checkpoint of those rows (all of them): stream thread paused {first_ms} ms, \
             written by the checkpoint thread in {first_write_ms} ms"
        );
        println!(
            "(f) the next, after a minute more of events ({next_rows} rows changed): paused {next_ms} ms, \
             written in {next_write_ms} ms"
        );
        println!(
            "(g) the first reader of the live snapshot puts back together the whole rollup in {whole_ms} ms, \
             the last hour ({hour_rows} rows) in {hour_ms} ms; a later reader, from the buckets \
             the first one decoded: {whole_again_ms} ms and {hour_again_ms} ms"
        );
        println!(
            "(h) a report over that hour (per minute and country, {report_rows} rows) is computed in {report_ms} ms more"
        );
    } else {
        println!("(e) peak memory: child failed: {}", String::from_utf8_lossy(&output.stderr));
    }
}
