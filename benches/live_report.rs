//! (j) A live report over a million-row rollup while its stream ingests
//! 100k events/s (issue 10 §10): how long from an event's production to a
//! chart that counts it, and how much a refreshing live report slows the
//! stream's ingestion.
//!
//! The stream (the demo's shape: per minute, six dimensions, four metrics)
//! first reads a history of 12.5M events — about a million rollup rows over
//! the 3.5 hours before now — from the broker. Then a producer sends events
//! stamped now, of a country of their own, 1,000 every 10 ms, and a reader
//! does what the window does for a shown report: as soon as the stream has
//! published a newer snapshot (and no sooner than `refresh_back_off` of its
//! last computation after that one started), it computes the report — per minute and country
//! over the last hour, counts and sums added, distinct users united — and
//! its chart. An event's latency runs from its being handed to the producer
//! to the end of the first computation that counts it. The reader runs once
//! answering by time group (`LiveAnswer`, as the window does) and once
//! computing the whole report each time, for comparison.
//!
//! The slowdown: the stream is stopped, a burst of events is produced, and the
//! stream restarted; how fast it reads the burst (from its first fifth on,
//! past a fresh reader's first whole computation) is measured with and
//! without the live reader, alternating.
//!
//! `tidepool-bench --live-report [HISTORY_EVENTS]` with `TIDEPOOL_BENCH_BROKER`
//! set (`scripts/bench` sets it).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use tidepool::demo::clickstream::{Clickstream, ClickstreamOptions};
use tidepool::engine::imports::ImportContext;
use tidepool::engine::report::{LiveAnswer, ReportSources, refresh_back_off, run_report};
use tidepool::engine::{Command, Engine, EngineOptions, Event, HistoryLoss, RunMode};
use tidepool::model::Workbook;

/// The marker of the live events (no history event is from there).
const LIVE_COUNTRY: &str = "ZZ";
const LIVE_PER_TICK: u64 = 1_000;
const TICK: Duration = Duration::from_millis(10);
const LIVE_FOR: Duration = Duration::from_secs(20);
/// Batches in the first seconds of a phase are left out (the reader's first, whole computation).
const WARM_UP: Duration = Duration::from_secs(3);
const BURST: usize = 3_000_000;
/// The burst's rate is measured from this share of it on, once a fresh
/// reader's first, whole computation (after the restart) is done.
const BURST_MEASURED_FROM: f64 = 0.2;

fn workbook(brokers: &str, topic: &str) -> Workbook {
    let text = format!(
        r#"{}
[[reports]]
name = "live"
from = "clicks"
time = {{ grain = "1m" }}
group_by = ["country"]
range = {{ last = "1h" }}
measures = [
  {{ name = "events", metric = "events" }},
  {{ name = "revenue", metric = "revenue" }},
  {{ name = "users", metric = "users" }},
]
chart = {{ kind = "line", y = "events" }}
"#,
        super::demo_stream_toml(brokers, topic)
    );
    Workbook::from_toml(&text, std::path::Path::new("bench.toml")).expect("bench workbook")
}

fn producer(brokers: &str, linger_ms: &str) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", linger_ms)
        .set("batch.num.messages", "10000")
        .set("compression.type", "none")
        .create()
        .expect("producer")
}

fn send(producer: &BaseProducer, topic: &str, index: u64, payload: &[u8]) {
    let partition = i32::try_from(index % super::PARTITIONS as u64).expect("partition");
    let mut record = BaseRecord::<(), [u8]>::to(topic).payload(payload).partition(partition);
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((_, back)) => {
                producer.poll(Duration::from_millis(1));
                record = back;
            }
        }
    }
}

/// An event stamped `ts_ms`, of the live country.
fn live_event(index: u64, ts_ms: i64, out: &mut Vec<u8>) {
    use std::io::Write as _;
    out.clear();
    write!(
        out,
        r#"{{"ts":{ts_ms},"type":"view","country":"{LIVE_COUNTRY}","device":"mobile","browser":"firefox","section":"s{}","referrer":"direct","user":"live{}","price":1.5,"latency_ms":{}}}"#,
        index % 20,
        index % 5_000,
        index % 300
    )
    .expect("written");
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

struct Bench {
    engine: Engine,
    workbook: Workbook,
    sources: ReportSources,
    brokers: String,
    topic: String,
    /// Messages produced so far (history, live and bursts).
    produced: u64,
}

impl Bench {
    fn start_stream(&self) {
        let spec = self.workbook.stream("clicks").expect("stream").clone();
        let started = self.engine.send(Command::StartStream {
            spec: Box::new(spec),
            mode: RunMode::Continuous,
            history: HistoryLoss::Refuse,
        });
        assert!(started, "engine running");
    }

    fn stop_stream(&self) {
        self.engine.send(Command::StopStream { stream: "clicks".into() });
        loop {
            match self.engine.next_event_timeout(Duration::from_mins(2)) {
                Some(Event::StreamStopped { .. }) => return,
                Some(Event::StreamFailed { message, .. }) => panic!("stream failed: {message}"),
                Some(_) => {}
                None => panic!("the stream did not stop"),
            }
        }
    }

    fn drain_events(&self) {
        while let Some(event) = self.engine.try_next_event() {
            if let Event::StreamFailed { message, .. } = event {
                panic!("stream failed: {message}");
            }
        }
    }

    /// Messages the stream's latest snapshot has counted.
    fn counted(&self) -> Option<u64> {
        self.sources.live.latest("clicks").map(|snapshot| snapshot.meta.counted)
    }

    /// Waits until the stream has counted every message produced.
    fn wait_caught_up(&self) {
        while self.counted() < Some(self.produced) {
            self.drain_events();
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// One refresh of the reader: when it ended, the live events its answer counts, and how long it took.
struct Refreshed {
    at: Instant,
    live_events: u64,
    took: Duration,
    recomputed: Option<(usize, usize)>,
    /// When the snapshot it read was published, and when it ended (µs since the epoch).
    published_micros: i64,
    ended_micros: i64,
}

/// The reader: refreshes the report like the window does until `stop`.
fn read_live(bench: &Bench, by_group: bool, stop: &AtomicBool) -> Vec<Refreshed> {
    let report = bench.workbook.report("live").expect("report").clone();
    let mut live = LiveAnswer::default();
    let mut refreshes = Vec::new();
    let (mut read_from, mut started, mut took) = (None, None::<Instant>, Duration::ZERO);
    while !stop.load(Ordering::Relaxed) {
        bench.drain_events();
        let published = bench.sources.live.serving("clicks").map(|snapshot| snapshot.meta.published_micros);
        let backing_off = started.is_some_and(|started| started.elapsed() < refresh_back_off(took));
        if published == read_from || backing_off {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        (read_from, started) = (published, Some(Instant::now()));
        let begun = Instant::now();
        let answer = if by_group {
            live.run(&bench.workbook, &report, &bench.sources)
        } else {
            run_report(&bench.workbook, &report, &bench.sources)
        }
        .expect("the live report");
        let now = chrono::Utc::now().timestamp_micros();
        let chart =
            tidepool::engine::report::chart::answer_chart(bench.workbook.stream("clicks"), &report, &answer, now);
        assert!(chart.is_ok_and(|chart| chart.is_some()), "the report is drawn");
        took = begun.elapsed();
        let frame = &answer.frame;
        let countries = frame.column("country").expect("country").str().expect("text").clone();
        let events = frame.column("events").expect("events").i64().expect("count").clone();
        let live_events = countries
            .iter()
            .zip(events.iter())
            .filter(|(country, _)| *country == Some(LIVE_COUNTRY))
            .map(|(_, events)| events.unwrap_or(0).unsigned_abs())
            .sum();
        let recomputed = live.last_refresh().map(|refresh| (refresh.recomputed, refresh.groups));
        let (published_micros, ended_micros) = (read_from.unwrap_or(now), chrono::Utc::now().timestamp_micros());
        refreshes.push(Refreshed { at: Instant::now(), live_events, took, recomputed, published_micros, ended_micros });
    }
    refreshes
}

/// Produces live events for `LIVE_FOR` while the reader refreshes; prints the latencies.
fn live_phase(bench: &mut Bench, by_group: bool) {
    let stop = AtomicBool::new(false);
    let sent: Mutex<Vec<(Instant, u64)>> = Mutex::new(Vec::new());
    let live_before = bench.produced;
    let (brokers, topic) = (bench.brokers.clone(), bench.topic.clone());
    let refreshes = std::thread::scope(|scope| {
        let producing = scope.spawn(|| {
            let producer = producer(&brokers, "5");
            let (mut payload, mut index, mut next) = (Vec::with_capacity(256), 0_u64, Instant::now());
            let started = Instant::now();
            while started.elapsed() < LIVE_FOR {
                let ts = now_ms();
                for _ in 0..LIVE_PER_TICK {
                    live_event(index, ts, &mut payload);
                    send(&producer, &topic, index, &payload);
                    index += 1;
                }
                producer.poll(Duration::ZERO);
                sent.lock().expect("log").push((Instant::now(), index));
                next += TICK;
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            producer.flush(Duration::from_mins(1)).expect("flush");
            stop.store(true, Ordering::Relaxed);
            index
        });
        let refreshes = read_live(bench, by_group, &stop);
        let live = producing.join().expect("producer");
        (refreshes, live)
    });
    let (refreshes, live_sent) = refreshes;
    bench.produced = live_before + live_sent;
    // Live events sent before this phase were of the same country: count from where the answers started.
    let base = refreshes.first().map_or(0, |first| first.live_events);
    let sent = sent.into_inner().expect("log");
    let phase_start = sent.first().map_or_else(Instant::now, |first| first.0);
    let mut latencies: Vec<f64> = Vec::new();
    let mut unseen = 0;
    for &(at, count) in &sent {
        if at.duration_since(phase_start) < WARM_UP {
            continue;
        }
        let first =
            refreshes.iter().find(|refresh| refresh.at >= at && refresh.live_events.saturating_sub(base) >= count);
        match first {
            Some(refresh) => latencies.push(refresh.at.duration_since(at).as_secs_f64() * 1000.0),
            None => unseen += 1,
        }
    }
    latencies.sort_by(f64::total_cmp);
    let quantile =
        |q: f64| latencies.get(((latencies.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0.0);
    let mut took: Vec<f64> = refreshes.iter().skip(1).map(|r| r.took.as_secs_f64() * 1000.0).collect();
    took.sort_by(f64::total_cmp);
    let recomputed = refreshes.last().and_then(|r| r.recomputed);
    // Where the time goes: how far apart the snapshots read were published, and
    // how old each was when the refresh that read it ended.
    let mut apart: Vec<i64> =
        refreshes.windows(2).skip(1).map(|pair| pair[1].published_micros - pair[0].published_micros).collect();
    apart.sort_unstable();
    let mut age: Vec<i64> = refreshes.iter().skip(1).map(|r| r.ended_micros - r.published_micros).collect();
    age.sort_unstable();
    let median_ms = |values: &[i64]| values.get(values.len() / 2).map_or(0.0, |&v| v as f64 / 1000.0);
    let rate = live_sent as f64 / LIVE_FOR.as_secs_f64();
    println!(
        "(j) {} at {:.0}k events/s: event to chart median {:.0} ms, p90 {:.0} ms, max {:.0} ms ({} batches, {unseen} not yet shown at the end); \
         {} refreshes, each {:.0} ms median{}; snapshots read {:.0} ms apart (median), each {:.0} ms old when its refresh ended",
        if by_group { "by time group (LiveAnswer)" } else { "whole report each time" },
        rate / 1000.0,
        quantile(0.5),
        quantile(0.9),
        quantile(1.0),
        latencies.len(),
        refreshes.len(),
        took.get(took.len() / 2).copied().unwrap_or(0.0),
        recomputed
            .map_or(String::new(), |(changed, groups)| format!(", the last computed {changed} of {groups} minutes")),
        median_ms(&apart),
        median_ms(&age),
    );
}

/// CPU time so far, in ns, of this process's threads that ingest: the
/// stream's own, its poller, its checkpoint writer and librdkafka's (Linux's
/// per-thread `schedstat`; 0 where there is none).
fn ingest_cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0 };
    tasks
        .flatten()
        .filter_map(|task| {
            let name = std::fs::read_to_string(task.path().join("comm")).ok()?;
            let ingests = ["tidepool-strea", "tidepool-poll", "tidepool-check", "rdk:"]
                .iter()
                .any(|prefix| name.starts_with(prefix));
            let schedstat =
                if ingests { std::fs::read_to_string(task.path().join("schedstat")).ok()? } else { return None };
            schedstat.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum()
}

/// How fast the stream read a burst, and the CPU its threads spent per event meanwhile.
#[derive(Debug, Clone, Copy)]
struct BurstRead {
    events_per_sec: f64,
    cpu_ns_per_event: f64,
}

/// Stops the stream, produces a burst, restarts it and measures how fast it reads the burst.
fn burst_rate(bench: &mut Bench, with_reader: bool) -> BurstRead {
    bench.stop_stream();
    {
        // The producer goes (with its librdkafka threads) before the stream starts.
        let producer = producer(&bench.brokers, "20");
        let mut payload = Vec::with_capacity(256);
        let ts = now_ms();
        for index in 0..BURST as u64 {
            live_event(index, ts + i64::try_from(index / 100_000).expect("small"), &mut payload);
            send(&producer, &bench.topic, index, &payload);
        }
        producer.flush(Duration::from_mins(5)).expect("flush");
    }
    bench.produced += BURST as u64;
    bench.start_stream();
    // The clock starts when the restored stream publishes its first snapshot
    // (a stopped stream's snapshot is withdrawn).
    while bench.counted().is_none() {
        bench.drain_events();
        std::thread::sleep(Duration::from_millis(1));
    }
    let restored = bench.counted().unwrap_or(0);
    let from = restored + (bench.produced.saturating_sub(restored) as f64 * BURST_MEASURED_FROM) as u64;
    let stop = AtomicBool::new(false);
    let (snapshots, target) = (bench.sources.live.clone(), bench.produced);
    std::thread::scope(|scope| {
        let waiting = scope.spawn(|| {
            let counted = || snapshots.latest("clicks").map(|snapshot| snapshot.meta.counted);
            while counted() < Some(from) {
                std::thread::sleep(Duration::from_millis(1));
            }
            let (started, at_start, cpu_at_start) = (Instant::now(), counted().unwrap_or(0), ingest_cpu_ns());
            while counted() < Some(target) {
                std::thread::sleep(Duration::from_millis(1));
            }
            let (events, cpu_ns) = ((target - at_start) as f64, ingest_cpu_ns().saturating_sub(cpu_at_start) as f64);
            stop.store(true, Ordering::Relaxed);
            BurstRead { events_per_sec: events / started.elapsed().as_secs_f64(), cpu_ns_per_event: cpu_ns / events }
        });
        if with_reader {
            read_live(bench, true, &stop);
        }
        while !stop.load(Ordering::Relaxed) {
            bench.drain_events();
            std::thread::sleep(Duration::from_millis(5));
        }
        waiting.join().expect("the burst's clock")
    })
}

pub fn run(brokers: &str, history: usize) {
    let topic = format!("live-{}", std::process::id());
    super::create_topic(brokers, &topic);
    let data_dir = std::env::temp_dir().join(format!("tidepool-bench-live-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let options = EngineOptions {
        data_dir: data_dir.clone(),
        workbook_id: "bench".into(),
        checkpoint_every: Duration::from_secs(10),
    };
    let engine = Engine::start(options, Arc::new(|| {})).expect("engine");
    let context = ImportContext { data_dir: data_dir.clone(), workbook_id: "bench".into(), base_dir: data_dir.clone() };
    let sources = ReportSources { context, live: engine.snapshots() };
    let workbook = workbook(brokers, &topic);
    let mut bench = Bench { engine, workbook, sources, brokers: brokers.into(), topic, produced: 0 };

    // The history: 1,000 events a second of event time, ending now.
    let span_ms = i64::try_from(history).expect("history") * 1000 / 1000;
    let options = ClickstreamOptions { start_ms: now_ms() - span_ms, ..ClickstreamOptions::default() };
    let mut generator = Clickstream::new(options);
    let started = Instant::now();
    let producer = producer(brokers, "20");
    let mut payload = Vec::with_capacity(256);
    for index in 0..history as u64 {
        generator.next_into(&mut payload);
        send(&producer, &bench.topic, index, &payload);
    }
    producer.flush(Duration::from_mins(10)).expect("flush");
    bench.produced = history as u64;
    println!("(j) produced a history of {history} events in {:.0} s", started.elapsed().as_secs_f64());
    let started = Instant::now();
    bench.start_stream();
    bench.wait_caught_up();
    let rows = bench.sources.live.latest("clicks").map_or(0, |snapshot| snapshot.rows());
    println!("(j) the stream read it in {:.0} s: {rows} rollup rows", started.elapsed().as_secs_f64());

    live_phase(&mut bench, true);
    live_phase(&mut bench, false);
    live_phase(&mut bench, true);

    let (mut without, mut with) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        without.push(burst_rate(&mut bench, false));
        with.push(burst_rate(&mut bench, true));
    }
    let median = |rates: &[f64]| super::median(rates);
    let rates = |reads: &[BurstRead]| reads.iter().map(|read| read.events_per_sec).collect::<Vec<_>>();
    let (rate_without, rate_with) = (rates(&without), rates(&with));
    println!(
        "(j) reading a burst of {BURST} events: {} without a live report, {} with one refreshing (rounds: {} / {}): {:.1}% slower",
        super::millions(median(&rate_without)),
        super::millions(median(&rate_with)),
        super::list(&rate_without, 1e6),
        super::list(&rate_with, 1e6),
        (1.0 - median(&rate_with) / median(&rate_without)) * 100.0
    );
    let cpu = |reads: &[BurstRead]| reads.iter().map(|read| read.cpu_ns_per_event).collect::<Vec<_>>();
    let (cpu_without, cpu_with) = (cpu(&without), cpu(&with));
    println!(
        "(j) CPU of the stream's threads per event read: {:.0} ns without a live report, {:.0} ns with one (rounds: {} / {}): {:+.1}%",
        median(&cpu_without),
        median(&cpu_with),
        super::list(&cpu_without, 1.0),
        super::list(&cpu_with, 1.0),
        (median(&cpu_with) / median(&cpu_without) - 1.0) * 100.0
    );
    drop(bench);
    let _ = std::fs::remove_dir_all(&data_dir);
}
