//! Polls a stream's Kafka consumer on a thread of its own and hands the
//! stream's thread what it read in order: batches of messages (their payloads
//! copied into one buffer per batch), ends of partitions and errors. Polling
//! (librdkafka's queue, one event per message) and decoding then run side by
//! side instead of taking turns on one thread.
//!
//! Also moves a partition's read position when the stream asks, and marks in
//! the hand-over where the move happened, so that nothing read before it is
//! taken for what was read after.
//!
//! Owns the poll loop only: must not decode, merge or decide what an error
//! means for the stream (the stream worker does).

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::Offset;
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;

use super::ingest::IncomingMessage;
use super::kafka::{REQUEST_TIMEOUT, StreamConsumer};

/// Messages per batch, at most: enough to make the hand-over's cost per
/// message small, few enough that the stream looks at its clocks often.
const BATCH_MESSAGES: usize = 512;
/// Payload bytes per batch, at most (a batch also ends at its message count).
const BATCH_BYTES: usize = 1 << 20;
/// Batches read ahead of the stream's thread; past that the poller waits
/// (and librdkafka's own queue bounds what it fetches meanwhile).
const BATCHES_AHEAD: usize = 4;
/// Moves asked for and not yet done, at most, before asking waits.
const MOVES_PENDING: usize = 64;
/// How long one poll waits when there is nothing to hand over; also how long
/// stopping may wait for the poll under way (a session's end waits for it).
const IDLE_POLL: Duration = Duration::from_millis(20);

/// Messages read in a row from the consumer, with their payloads in one buffer.
#[derive(Debug)]
pub struct MessageBatch {
    payloads: Vec<u8>,
    messages: Vec<MessageSlot>,
}

#[derive(Debug, Clone)]
struct MessageSlot {
    partition: i32,
    offset: i64,
    timestamp_ms: Option<i64>,
    /// Where the payload lies in the batch's buffer (`None`: a message without one).
    payload: Option<Range<usize>>,
}

impl MessageBatch {
    /// An empty batch with room for a full one.
    fn empty() -> Self {
        Self { payloads: Vec::with_capacity(64 * BATCH_MESSAGES), messages: Vec::with_capacity(BATCH_MESSAGES) }
    }

    fn push(&mut self, partition: i32, offset: i64, timestamp_ms: Option<i64>, payload: Option<&[u8]>) {
        let payload = payload.map(|bytes| {
            let start = self.payloads.len();
            self.payloads.extend_from_slice(bytes);
            start..self.payloads.len()
        });
        self.messages.push(MessageSlot { partition, offset, timestamp_ms, payload });
    }

    fn is_full(&self) -> bool {
        self.messages.len() >= BATCH_MESSAGES || self.payloads.len() >= BATCH_BYTES
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// The messages in the order they were read.
    pub fn iter(&self) -> impl Iterator<Item = IncomingMessage<'_>> {
        self.messages.iter().map(|slot| IncomingMessage {
            partition: slot.partition,
            offset: slot.offset,
            timestamp_ms: slot.timestamp_ms,
            payload: slot.payload.clone().map(|range| &self.payloads[range]),
        })
    }
}

/// One thing the poller read, in the order it read them.
#[derive(Debug)]
pub enum Polled {
    Messages(MessageBatch),
    /// The partition's end was reached.
    End(i32),
    /// A poll failed (the worker decides what that means).
    Error(KafkaError),
    /// The partition's position was moved as asked: everything of it handed
    /// over since the request and before this mark was read before the move.
    Moved {
        partition: i32,
        result: Result<(), KafkaError>,
    },
}

/// A request to the poller: move a partition's read position.
#[derive(Debug, Clone, Copy)]
struct Move {
    partition: i32,
    offset: i64,
}

/// The poller thread of one consuming session; stops and joins when dropped.
#[derive(Debug)]
pub struct Poller {
    received: Option<Receiver<Polled>>,
    moves: SyncSender<Move>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Poller {
    /// Starts polling `consumer` (already assigned) for topic `topic`.
    pub fn start(consumer: Arc<StreamConsumer>, topic: &str, stream: &str) -> std::io::Result<Self> {
        let (handed, received) = sync_channel(BATCHES_AHEAD);
        // A partition has at most one move pending: the stream waits for its mark.
        let (moves, move_requests) = sync_channel(MOVES_PENDING);
        let stop = Arc::new(AtomicBool::new(false));
        let polling = PollLoop { consumer, topic: topic.to_owned(), handed, move_requests, stop: stop.clone() };
        let thread =
            std::thread::Builder::new().name(format!("tidepool-poll-{stream}")).spawn(move || polling.run())?;
        Ok(Self { received: Some(received), moves, stop, thread: Some(thread) })
    }

    /// The next thing read, waiting at most `timeout`; `None` when nothing came
    /// (or the poller is gone, which only a panic in it can cause).
    pub fn next(&self, timeout: Duration) -> Option<Polled> {
        let received = self.received.as_ref()?;
        received.recv_timeout(timeout).ok()
    }

    /// Asks to read `partition` from `offset` on; [`Polled::Moved`] says when it was done.
    pub fn move_to(&self, partition: i32, offset: i64) {
        // A send fails only when the poller is gone; `next` then answers nothing.
        let _ = self.moves.send(Move { partition, offset });
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Dropping the receiver frees a poller waiting to hand over.
        self.received = None;
        if let Some(thread) = self.thread.take() {
            let stopping = std::time::Instant::now();
            let _ = thread.join();
            tracing::debug!("poller stopped in {} ms", stopping.elapsed().as_millis());
        }
    }
}

struct PollLoop {
    consumer: Arc<StreamConsumer>,
    topic: String,
    handed: SyncSender<Polled>,
    move_requests: Receiver<Move>,
    stop: Arc<AtomicBool>,
}

impl PollLoop {
    fn run(self) {
        let mut batch = MessageBatch::empty();
        while !self.stop.load(Ordering::Relaxed) {
            if !self.serve_moves(&mut batch) {
                return;
            }
            // While a batch is being filled a poll does not wait: when librdkafka's
            // queue runs dry the batch goes at once, so a quiet stream's events
            // are not held back.
            let timeout = if batch.is_empty() { IDLE_POLL } else { Duration::ZERO };
            let other = match self.consumer.poll(timeout) {
                Some(Ok(message)) => {
                    let timestamp_ms = message.timestamp().to_millis();
                    batch.push(message.partition(), message.offset(), timestamp_ms, message.payload());
                    if !batch.is_full() {
                        continue;
                    }
                    None
                }
                None => None,
                Some(Err(KafkaError::PartitionEOF(partition))) => Some(Polled::End(partition)),
                Some(Err(err)) => Some(Polled::Error(err)),
            };
            if !batch.is_empty() && !self.hand(Polled::Messages(std::mem::replace(&mut batch, MessageBatch::empty()))) {
                return;
            }
            if let Some(other) = other
                && !self.hand(other)
            {
                return;
            }
        }
    }

    /// Moves the positions asked for, after handing over what was read before.
    /// Answers false when the stream's side is gone.
    fn serve_moves(&self, batch: &mut MessageBatch) -> bool {
        loop {
            let request = match self.move_requests.try_recv() {
                Ok(request) => request,
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return true,
            };
            if !batch.is_empty() && !self.hand(Polled::Messages(std::mem::replace(batch, MessageBatch::empty()))) {
                return false;
            }
            let result =
                self.consumer.seek(&self.topic, request.partition, Offset::Offset(request.offset), REQUEST_TIMEOUT);
            if !self.hand(Polled::Moved { partition: request.partition, result }) {
                return false;
            }
        }
    }

    /// Hands `polled` to the stream's thread, waiting while it is busy;
    /// answers false when it is gone.
    fn hand(&self, polled: Polled) -> bool {
        self.handed.send(polled).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_gives_back_every_message_with_its_own_payload_in_order() {
        let mut batch = MessageBatch::empty();
        batch.push(0, 7, Some(1_000), Some(b"{\"a\":1}"));
        batch.push(1, 3, None, None);
        batch.push(0, 8, Some(1_001), Some(b""));
        batch.push(2, 0, Some(5), Some(b"xyz"));
        let read: Vec<_> =
            batch.iter().map(|m| (m.partition, m.offset, m.timestamp_ms, m.payload.map(<[u8]>::to_vec))).collect();
        assert_eq!(
            read,
            vec![
                (0, 7, Some(1_000), Some(b"{\"a\":1}".to_vec())),
                (1, 3, None, None),
                (0, 8, Some(1_001), Some(Vec::new())),
                (2, 0, Some(5), Some(b"xyz".to_vec())),
            ]
        );
        assert_eq!(batch.len(), 4);
    }

    #[test]
    fn a_batch_is_full_at_its_message_count_or_its_bytes() {
        let mut by_count = MessageBatch::empty();
        for offset in 0..BATCH_MESSAGES as i64 {
            assert!(!by_count.is_full());
            by_count.push(0, offset, None, Some(b"x"));
        }
        assert!(by_count.is_full());
        let mut by_bytes = MessageBatch::empty();
        by_bytes.push(0, 0, None, Some(&vec![b'x'; BATCH_BYTES - 1]));
        assert!(!by_bytes.is_full());
        by_bytes.push(0, 1, None, Some(b"x"));
        assert!(by_bytes.is_full());
    }
}
