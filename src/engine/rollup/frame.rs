//! Turns rollup state into a Polars frame: `bucket` (UTC datetime), one
//! string column per dimension, one column per metric named as in the workbook
//! (all of them, or only those a reader wants), and a dimension's values by id
//! for joining through its dictionary. Reads the state; never changes it.

use polars::prelude::*;

use super::RollupState;
use crate::model::workbook::BUCKET_COLUMN;

/// The rollup as Polars frames (the state itself knows nothing of Polars).
pub trait RollupFrame {
    /// A snapshot of every row, sorted by bucket and then dimensions.
    fn to_frame(&self) -> PolarsResult<DataFrame>;

    /// A snapshot of every row in storage order, for callers that sort it their own way.
    fn to_unsorted_frame(&self) -> PolarsResult<DataFrame> {
        self.to_unsorted_frame_of(&|_| true)
    }

    /// A snapshot of every row in storage order with `bucket` and only the
    /// dimension and metric columns `wanted` names: a report builds no column it does not read.
    fn to_unsorted_frame_of(&self, wanted: &dyn Fn(&str) -> bool) -> PolarsResult<DataFrame>;

    /// The names of the frame's columns: `bucket`, the dimensions, the metrics' outputs.
    fn column_names(&self) -> Vec<String>;

    /// The values of dimension `dimension` by id (null for events without it):
    /// one more than there are distinct values, however many rows hold them.
    fn dimension_values(&self, dimension: usize) -> StringChunked;
}

impl RollupFrame for RollupState {
    fn to_frame(&self) -> PolarsResult<DataFrame> {
        let mut order: Vec<PlSmallStr> = vec![BUCKET_COLUMN.into()];
        order.extend(self.dimension_names().iter().map(|name| PlSmallStr::from(name.as_str())));
        self.to_unsorted_frame()?.sort(order, SortMultipleOptions::default().with_nulls_last(true))
    }

    fn to_unsorted_frame_of(&self, wanted: &dyn Fn(&str) -> bool) -> PolarsResult<DataFrame> {
        let rows = self.row_count();
        let metrics = self.metric_columns();
        let mut columns: Vec<Column> = Vec::with_capacity(1 + self.dimension_names().len() + metrics.len());
        let buckets = Int64Chunked::from_vec(BUCKET_COLUMN.into(), self.buckets().to_vec())
            .into_datetime(TimeUnit::Microseconds, None);
        columns.push(buckets.into_column());
        for (dimension, name) in self.dimension_names().iter().enumerate() {
            if !wanted(name) {
                continue;
            }
            let dictionary = self.dictionary(dimension);
            let values: StringChunked = if rows >= dictionary.len() {
                // Each distinct text written once, then gathered by id: copying a
                // view per row is far cheaper than writing each row's text.
                let ids = IdxCa::from_vec(PlSmallStr::EMPTY, self.dimension_ids(dimension));
                self.dimension_values(dimension).take(&ids)?
            } else {
                (0..rows).map(|row| dictionary.value(self.dimension_id(row, dimension))).collect()
            };
            columns.push(values.with_name(name.as_str().into()).into_column());
        }
        let event_counts = self.event_counts();
        for (name, column) in self.metric_names().iter().zip(metrics) {
            for output in 0..column.output_width() {
                let name = column.output_name(name, output);
                if !wanted(&name) {
                    continue;
                }
                let values = (0..rows).map(|row| column.output_value(output, row, event_counts[row]));
                let series = if column.is_integral() {
                    let whole: Int64Chunked = values.map(|v| v.map(|v| v as i64)).collect();
                    whole.with_name(name.as_str().into()).into_series()
                } else {
                    let real: Float64Chunked = values.collect();
                    real.with_name(name.as_str().into()).into_series()
                };
                columns.push(series.into_column());
            }
        }
        DataFrame::new(rows, columns)
    }

    fn column_names(&self) -> Vec<String> {
        let mut names = vec![BUCKET_COLUMN.to_string()];
        names.extend(self.dimension_names().iter().cloned());
        for (name, column) in self.metric_names().iter().zip(self.metric_columns()) {
            names.extend((0..column.output_width()).map(|output| column.output_name(name, output)));
        }
        names
    }

    fn dimension_values(&self, dimension: usize) -> StringChunked {
        let dictionary = self.dictionary(dimension);
        // Ids start at 1; 0 stands for no value.
        (0..=dictionary.len() as u32).map(|id| dictionary.value(id)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rollup::{EventOrder, MetricInput};

    fn texts(frame: &DataFrame, column: &str) -> Vec<Option<String>> {
        frame.column(column).unwrap().str().unwrap().iter().map(|v| v.map(str::to_string)).collect()
    }

    #[test]
    fn dimension_texts_are_the_same_gathered_by_id_or_written_row_by_row() {
        let spec = crate::model::workbook::test_stream(
            r#"granularity = "1m"
dimensions = ["country"]
metrics = [{ name = "events", kind = "count" }]"#,
        );
        let mut state = RollupState::new(&spec.rollup.shape());
        let minute = 60_000_000;
        let countries =
            [Some("DE"), None, Some("a country name longer than twelve bytes"), Some("DE"), Some("FR"), None];
        for (index, country) in countries.into_iter().enumerate() {
            let micros = index as i64 * minute;
            let order = EventOrder { micros, partition: 0, offset: index as i64 };
            state.merge(micros, &[country], &[MetricInput::Absent], order);
        }
        // Six rows, three texts: gathered by id.
        let expected: Vec<Option<String>> = countries.iter().map(|c| c.map(str::to_string)).collect();
        assert_eq!(texts(&state.to_unsorted_frame().unwrap(), "country"), expected);
        // Two rows left, three texts still known: written row by row.
        state.drop_buckets_before(4 * minute);
        assert_eq!(texts(&state.to_unsorted_frame().unwrap(), "country"), expected[4..]);
    }
}
