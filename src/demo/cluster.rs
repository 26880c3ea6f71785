//! The embedded demo broker: librdkafka's in-process mock cluster (the real
//! Kafka protocol, no installation) fed by the clickstream generator at an
//! adjustable rate, after back-filling the last hour of history.
//!
//! Everything runs on one named thread that owns the cluster and producer;
//! dropping the [`DemoCluster`] stops it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::config::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use super::clickstream::{Clickstream, ClickstreamOptions};

/// The topic the demo workbook reads.
pub const DEMO_TOPIC: &str = "clickstream";
/// Partitions of the demo topic.
pub const DEMO_PARTITIONS: i32 = 6;
/// Events per second produced live unless changed.
pub const DEFAULT_RATE: u32 = 300;
/// History produced at start-up so charts have a past, at the default rate.
const BACKFILL: Duration = Duration::from_mins(15);
/// The mock broker keeps only ~5 MB or 100,000 messages per partition and drops
/// older ones; producing the history at a bounded speed lets the demo stream
/// keep up instead of finding the start of its history already gone.
const BACKFILL_MAX_PER_SEC: u64 = 60_000;

/// Settings the UI can change while the demo runs.
#[derive(Debug, Default)]
pub struct DemoControls {
    /// Live events per second.
    pub rate: AtomicU32,
    /// Share of malformed events, in thousandths.
    pub malformed_per_mille: AtomicU32,
    /// Share of late events, in thousandths.
    pub late_per_mille: AtomicU32,
    /// Events produced so far.
    pub produced: AtomicU64,
    stop: AtomicBool,
}

/// A running demo broker and generator.
#[derive(Debug)]
pub struct DemoCluster {
    bootstrap_servers: String,
    controls: Arc<DemoControls>,
    thread: Option<JoinHandle<()>>,
}

impl DemoCluster {
    /// Starts the mock cluster, creates the topic and starts producing.
    pub fn start(rate: u32) -> Result<Self, String> {
        let controls = Arc::new(DemoControls {
            rate: AtomicU32::new(rate),
            malformed_per_mille: AtomicU32::new(5),
            late_per_mille: AtomicU32::new(10),
            ..DemoControls::default()
        });
        let (ready_sender, ready) = sync_channel(1);
        let thread_controls = controls.clone();
        let thread = std::thread::Builder::new()
            .name("tidepool-demo-broker".into())
            .spawn(move || {
                let cluster = match MockCluster::new(1) {
                    Ok(cluster) => cluster,
                    Err(err) => {
                        let _ = ready_sender.send(Err(format!("cannot start the demo broker: {err}")));
                        return;
                    }
                };
                if let Err(err) = cluster.create_topic(DEMO_TOPIC, DEMO_PARTITIONS, 1) {
                    let _ = ready_sender.send(Err(format!("cannot create the demo topic: {err}")));
                    return;
                }
                let servers = cluster.bootstrap_servers();
                let producer: BaseProducer =
                    match ClientConfig::new().set("bootstrap.servers", &servers).set("linger.ms", "20").create() {
                        Ok(producer) => producer,
                        Err(err) => {
                            let _ = ready_sender.send(Err(format!("cannot start the demo producer: {err}")));
                            return;
                        }
                    };
                let _ = ready_sender.send(Ok(servers));
                produce_forever(&producer, &thread_controls);
                let _ = producer.flush(Duration::from_secs(2));
                drop(producer);
                drop(cluster);
            })
            .map_err(|err| format!("cannot start the demo thread: {err}"))?;
        let bootstrap_servers = ready
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| "the demo broker did not start within 30 s".to_string())??;
        Ok(Self { bootstrap_servers, controls, thread: Some(thread) })
    }

    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }

    pub fn controls(&self) -> Arc<DemoControls> {
        self.controls.clone()
    }
}

impl Drop for DemoCluster {
    fn drop(&mut self) {
        self.controls.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Users of the demo's clickstream (`u000000`…`u019999`), each one a row of the customers database.
pub const DEMO_USERS: u64 = 20_000;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn produce_forever(producer: &BaseProducer, controls: &DemoControls) {
    let start_ms = now_ms() - BACKFILL.as_millis() as i64;
    let mut history = Clickstream::new(ClickstreamOptions {
        seed: 7,
        start_ms,
        events_per_sec: DEFAULT_RATE,
        malformed_share: 0.002,
        late_share: 0.0,
        users: DEMO_USERS,
    });
    let mut payload = Vec::with_capacity(256);
    // The history runs up to the moment live events begin (producing it takes a
    // few seconds): ending it at launch left a gap that looked like an outage.
    let reached_now = |index: u64| {
        let reached_ms = start_ms + (index * 1_000 / u64::from(DEFAULT_RATE)) as i64;
        index.is_multiple_of(100) && reached_ms >= now_ms()
    };
    let backfill_started = Instant::now();
    let mut backfill_events = 0_u64;
    loop {
        let index = backfill_events;
        if controls.stop.load(Ordering::Relaxed) {
            return;
        }
        if reached_now(index) {
            break;
        }
        backfill_events += 1;
        history.next_into(&mut payload);
        send(producer, &payload, index, controls);
        if index.is_multiple_of(1_000) {
            let due = Duration::from_secs_f64(index as f64 / BACKFILL_MAX_PER_SEC as f64);
            if let Some(early) = due.checked_sub(backfill_started.elapsed()) {
                std::thread::sleep(early);
            }
        }
    }
    let mut sent = backfill_events;
    let mut seed = 1_000;
    let tick = Duration::from_millis(50);
    let mut next_tick = Instant::now();
    while !controls.stop.load(Ordering::Relaxed) {
        let per_tick = controls.rate.load(Ordering::Relaxed) / 20;
        seed += 1;
        let mut live = Clickstream::new(ClickstreamOptions {
            seed,
            start_ms: now_ms(),
            events_per_sec: (per_tick * 20).max(1),
            malformed_share: f64::from(controls.malformed_per_mille.load(Ordering::Relaxed)) / 1_000.0,
            late_share: f64::from(controls.late_per_mille.load(Ordering::Relaxed)) / 1_000.0,
            users: DEMO_USERS,
        });
        for _ in 0..per_tick {
            live.next_into(&mut payload);
            send(producer, &payload, sent, controls);
            sent += 1;
        }
        producer.poll(Duration::ZERO);
        next_tick += tick;
        let now = Instant::now();
        if next_tick > now {
            std::thread::sleep(next_tick - now);
        } else {
            next_tick = now;
        }
    }
}

fn send(producer: &BaseProducer, payload: &[u8], index: u64, controls: &DemoControls) {
    let partition = (index % DEMO_PARTITIONS as u64) as i32;
    let mut record = BaseRecord::<(), [u8]>::to(DEMO_TOPIC).payload(payload).partition(partition);
    loop {
        match producer.send(record) {
            Ok(()) => {
                controls.produced.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err((_, back)) => {
                if controls.stop.load(Ordering::Relaxed) {
                    return;
                }
                producer.poll(Duration::from_millis(5));
                record = back;
            }
        }
    }
}
