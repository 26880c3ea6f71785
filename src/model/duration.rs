//! Human-written spans of time ("90s", "5m", "1h", "30d") and rollup granularities.

use std::fmt;

use serde::{Deserialize, Serialize};

const MICROS_PER_SECOND: i64 = 1_000_000;
const SECONDS_PER_DAY: i64 = 86_400;
/// The longest span a workbook may write: 1,000 years, far beyond any lateness
/// or retention, and far inside what microsecond arithmetic can hold.
pub const MAX_SPAN_SECONDS: i64 = 1_000 * 366 * SECONDS_PER_DAY;

/// A span of time written as a whole number and a unit: `s`, `m`, `h` or `d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SpanDuration {
    seconds: i64,
}

impl SpanDuration {
    pub const ZERO: Self = Self { seconds: 0 };

    pub const fn from_seconds(seconds: i64) -> Self {
        Self { seconds }
    }

    pub fn seconds(self) -> i64 {
        self.seconds
    }

    pub fn micros(self) -> i64 {
        self.seconds * MICROS_PER_SECOND
    }
}

impl TryFrom<String> for SpanDuration {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl std::str::FromStr for SpanDuration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let amount: i64 = digits.parse().map_err(|_| {
            format!("`{text}` is not a duration: write a whole number and a unit, e.g. 30s, 5m, 1h, 7d")
        })?;
        let unit_seconds = match unit.trim() {
            "s" | "sec" | "secs" => 1,
            "m" | "min" | "mins" => 60,
            "h" | "hour" | "hours" => 3_600,
            "d" | "day" | "days" => SECONDS_PER_DAY,
            other => {
                return Err(format!("`{text}` has an unknown unit `{other}`: use s, m, h or d (e.g. 30s, 5m, 1h, 7d)"));
            }
        };
        amount
            .checked_mul(unit_seconds)
            .filter(|&seconds| seconds <= MAX_SPAN_SECONDS)
            .map(|seconds| Self { seconds })
            .ok_or_else(|| format!("`{text}` is too long: durations go up to 1000 years (e.g. 365000d)"))
    }
}

impl fmt::Display for SpanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.seconds;
        if s != 0 && s % SECONDS_PER_DAY == 0 {
            write!(f, "{}d", s / SECONDS_PER_DAY)
        } else if s != 0 && s % 3_600 == 0 {
            write!(f, "{}h", s / 3_600)
        } else if s != 0 && s % 60 == 0 {
            write!(f, "{}m", s / 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

impl From<SpanDuration> for String {
    fn from(value: SpanDuration) -> Self {
        value.to_string()
    }
}

/// The width of a rollup's time bucket: from 1 second to 1 day, dividing a day
/// evenly so that buckets line up with midnight UTC (as Druid's do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Granularity(SpanDuration);

impl Granularity {
    pub fn micros(self) -> i64 {
        self.0.micros()
    }

    /// The start of the bucket holding `event_micros` (UTC, microseconds since the epoch).
    pub fn bucket_start(self, event_micros: i64) -> i64 {
        let width = self.micros();
        event_micros.div_euclid(width) * width
    }
}

impl TryFrom<String> for Granularity {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        let span: SpanDuration = text.parse()?;
        let seconds = span.seconds();
        if !(1..=SECONDS_PER_DAY).contains(&seconds) || SECONDS_PER_DAY % seconds != 0 {
            return Err(format!(
                "granularity `{text}` must be between 1s and 1d and divide a day evenly \
                 (e.g. 1s, 10s, 1m, 5m, 15m, 1h, 6h, 1d)"
            ));
        }
        Ok(Self(span))
    }
}

impl From<Granularity> for String {
    fn from(value: Granularity) -> Self {
        value.0.to_string()
    }
}

impl fmt::Display for Granularity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_unit() {
        assert_eq!("90s".parse::<SpanDuration>().map(SpanDuration::seconds), Ok(90));
        assert_eq!("5m".parse::<SpanDuration>().map(SpanDuration::seconds), Ok(300));
        assert_eq!("2h".parse::<SpanDuration>().map(SpanDuration::seconds), Ok(7_200));
        assert_eq!("30d".parse::<SpanDuration>().map(SpanDuration::seconds), Ok(2_592_000));
    }

    #[test]
    fn rejects_unknown_units_with_a_hint() {
        let err = "5x".parse::<SpanDuration>().unwrap_err();
        assert!(err.contains("unknown unit `x`"), "{err}");
        assert!("m".parse::<SpanDuration>().is_err());
    }

    #[test]
    fn granularity_must_divide_a_day() {
        assert!(Granularity::try_from("7m".to_string()).is_err());
        assert!(Granularity::try_from("2d".to_string()).is_err());
        assert!(Granularity::try_from("15m".to_string()).is_ok());
    }

    #[test]
    fn buckets_floor_towards_the_past_even_before_the_epoch() {
        let minute = Granularity::try_from("1m".to_string()).unwrap();
        assert_eq!(minute.bucket_start(61_000_000), 60_000_000);
        assert_eq!(minute.bucket_start(-1), -60_000_000);
    }

    #[test]
    fn display_round_trips() {
        for text in ["1s", "5m", "1h", "1d", "90s"] {
            let span: SpanDuration = text.parse().unwrap();
            assert_eq!(span.to_string(), text);
        }
    }
}
