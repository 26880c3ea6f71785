//! When a stream publishes its next live snapshot: every [`SNAPSHOT_EVERY`]
//! while events arrive, unless publishing would take time from ingestion.
//! Publishing encodes the buckets changed since the last snapshot on the
//! stream's own thread, so while the stream reads a backlog (its thread never
//! waits for messages) a publish that took T waits `SNAPSHOT_SHARE` × T before
//! the next one: readers then take at most about 5% of ingestion. A live stream
//! that waits for messages has that time to spare: as long as it waited at
//! least T since the last publish, the next comes after `SNAPSHOT_EVERY`.
//!
//! Owns only the decision; must not publish nor know what a snapshot holds.

use std::time::{Duration, Instant};

/// How often a stream publishes its live snapshot while events arrive, at
/// most: a live report shows an event this long after it is read, plus its
/// own computation.
pub const SNAPSHOT_EVERY: Duration = Duration::from_millis(100);
/// While the stream has no time to spare, publishing takes at most one part in
/// this many of its thread: a publish that took 20 ms (a coarse rollup's big
/// bucket) waits 400 ms before the next.
pub const SNAPSHOT_SHARE: u32 = 20;

/// The pace of one stream's snapshots.
#[derive(Debug)]
pub struct SnapshotPace {
    last: Instant,
    /// How long the last publish took.
    took: Duration,
    /// How long the stream waited for messages since the last publish.
    waited: Duration,
}

impl Default for SnapshotPace {
    fn default() -> Self {
        Self::since(Instant::now())
    }
}

impl SnapshotPace {
    fn since(last: Instant) -> Self {
        Self { last, took: Duration::ZERO, waited: Duration::ZERO }
    }

    pub fn is_due(&self) -> bool {
        let elapsed = self.last.elapsed();
        elapsed >= SNAPSHOT_EVERY && (self.waited >= self.took || elapsed >= self.took * SNAPSHOT_SHARE)
    }

    /// The stream waited `waited` for messages (time a publish takes from no one).
    pub fn waited(&mut self, waited: Duration) {
        self.waited += waited;
    }

    /// A publish that took `took` has just finished.
    pub fn published(&mut self, took: Duration) {
        *self = Self { took, ..Self::default() };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pace(ago: Duration, took: Duration, waited: Duration) -> SnapshotPace {
        let last = Instant::now().checked_sub(ago).expect("a monotonic clock this far back");
        SnapshotPace { took, waited, ..SnapshotPace::since(last) }
    }

    #[test]
    fn a_costly_publish_waits_its_share_unless_the_stream_has_time_to_spare() {
        let ms = Duration::from_millis;
        assert!(!pace(ms(50), ms(1), ms(50)).is_due(), "never sooner than every 100 ms");
        assert!(pace(ms(120), ms(1), ms(0)).is_due(), "a cheap publish every 100 ms, busy or not");
        // A 15 ms publish while reading a backlog (no waiting): 20 × 15 ms apart.
        assert!(!pace(ms(150), ms(15), ms(0)).is_due());
        assert!(!pace(ms(150), ms(15), ms(14)).is_due(), "waited less than a publish takes");
        assert!(pace(ms(310), ms(15), ms(0)).is_due());
        // The same publish while live: the stream waited longer than it takes.
        assert!(pace(ms(120), ms(15), ms(90)).is_due());
        let mut next = pace(ms(120), ms(15), ms(90));
        next.published(ms(15));
        assert!(!next.is_due(), "the clock and the waiting start again");
        assert_eq!((next.took, next.waited), (ms(15), Duration::ZERO));
    }
}
