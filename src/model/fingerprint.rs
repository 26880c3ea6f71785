//! The identity of a rollup definition: what must match for a checkpoint to be reused.
//!
//! Granularity, dimensions, metrics, the time source, the topic and the message
//! format define what a rollup frame means; brokers, start position, lateness
//! and retention do not (they change how it is fed, not what a row holds).

use serde::{Deserialize, Serialize};

use super::Granularity;
use super::workbook::{MessageFormat, MetricSpec, StreamSpec, TimeSpec};

/// The parts of a stream that define the meaning of its rollup frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollupDefinition {
    pub topic: String,
    pub format: MessageFormat,
    pub time: TimeSpec,
    pub granularity: Granularity,
    pub dimensions: Vec<String>,
    pub metrics: Vec<MetricSpec>,
}

impl RollupDefinition {
    pub fn of(stream: &StreamSpec) -> Self {
        Self {
            topic: stream.topic.clone(),
            format: stream.format,
            time: stream.time.clone(),
            granularity: stream.rollup.granularity,
            dimensions: stream.rollup.dimensions.clone(),
            metrics: stream.rollup.metrics.clone(),
        }
    }

    /// A stable text form, stored beside a checkpoint.
    pub fn canonical_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A short hash of the canonical form.
    pub fn fingerprint(&self) -> String {
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(self.canonical_json().as_bytes()))
    }

    /// Whether `other` computes the same rollup, up to the names of its metrics
    /// (a rename changes the frame's column names, not its values).
    pub fn computes_the_same_as(&self, other: &Self) -> bool {
        let unnamed = |definition: &Self| {
            let mut copy = definition.clone();
            for metric in &mut copy.metrics {
                metric.name.clear();
            }
            copy
        };
        unnamed(self) == unnamed(other)
    }

    /// Human words for what differs from `previous`, e.g. "granularity from 1m to 5m".
    pub fn changes_since(&self, previous: &Self) -> Vec<String> {
        let mut changes = Vec::new();
        if self.topic != previous.topic {
            changes.push(format!("topic from {} to {}", previous.topic, self.topic));
        }
        if self.format != previous.format {
            changes.push("message format".into());
        }
        if self.time != previous.time {
            changes.push("time field".into());
        }
        if self.granularity != previous.granularity {
            changes.push(format!("granularity from {} to {}", previous.granularity, self.granularity));
        }
        if self.dimensions != previous.dimensions {
            changes.push(format!(
                "dimensions from [{}] to [{}]",
                previous.dimensions.join(", "),
                self.dimensions.join(", ")
            ));
        }
        if self.metrics != previous.metrics {
            let renamed: Vec<String> = previous
                .metrics
                .iter()
                .zip(&self.metrics)
                .filter(|(old, new)| old.name != new.name)
                .map(|(old, new)| format!("metric {} renamed to {}", old.name, new.name))
                .collect();
            if self.computes_the_same_as(previous) {
                changes.extend(renamed);
            } else {
                changes.push("metrics".into());
            }
        }
        changes
    }
}
