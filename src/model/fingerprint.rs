//! The identity of a rollup definition: what must match for a checkpoint to be reused.
//!
//! Granularity, dimensions, metrics, the ingestion filter, the time source, the
//! topic and the message format define what a rollup frame means; brokers, start position, lateness
//! and retention do not (they change how it is fed, not what a row holds).

use serde::{Deserialize, Serialize};

use super::Granularity;
use super::workbook::{EventFilter, MessageFormat, MetricSpec, StreamSpec, TimeSpec};

/// The parts of a stream that define the meaning of its rollup frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollupDefinition {
    pub topic: String,
    pub format: MessageFormat,
    pub time: TimeSpec,
    pub granularity: Granularity,
    pub dimensions: Vec<String>,
    pub metrics: Vec<MetricSpec>,
    /// Left out of the canonical form when unset, so rollups without a filter keep their fingerprints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventFilter>,
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
            filter: stream.rollup.filter.clone(),
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
        if self.filter != previous.filter {
            let words =
                |filter: &Option<EventFilter>| filter.as_ref().map_or("every event".into(), EventFilter::describe);
            changes.push(format!("filter from {} to {}", words(&previous.filter), words(&self.filter)));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn definition(filter: &str) -> RollupDefinition {
        RollupDefinition::of(&crate::model::workbook::test_stream(&format!(
            "granularity = \"1m\"\nmetrics = [{{ name = \"events\", kind = \"count\" }}]\n{filter}"
        )))
    }

    #[test]
    fn a_filter_is_part_of_the_definition_and_no_filter_leaves_the_old_form_alone() {
        let plain = definition("");
        assert!(!plain.canonical_json().contains("filter"), "checkpoints made before filters keep their identity");
        let orders = definition(r#"filter = { field = "type", in = ["order"] }"#);
        assert_ne!(orders.fingerprint(), plain.fingerprint());
        assert!(!orders.computes_the_same_as(&plain));
        assert_eq!(orders.changes_since(&plain), ["filter from every event to type is order"]);
        let stored: RollupDefinition = serde_json::from_str(&orders.canonical_json()).unwrap();
        assert_eq!(stored, orders);
    }
}
