//! A report's first join, when it starts from a stream and matches one
//! dimension of the rollup with a text column of a table whose keys do not
//! repeat (the usual lookup: users to customers, products to a catalogue):
//! the table meets the dimension's distinct values — its dictionary — instead
//! of every rollup row's text, and each row then takes its table row by its
//! value's id. This is Druid's lookup join; a million distinct values hash
//! far faster than ten million rows' texts, and the key's text column is
//! never built unless the report reads it.
//!
//! Gives exactly what the general join (`join`) gives — the same rows and
//! columns, `_right` on a table column whose name the rollup has, the same
//! statistics — and declines (`None`) wherever it could not: several keys, a
//! full or as-of join, a key that is not a dimension, a key that is not
//! text, a key that repeats in the table.

use std::collections::BTreeSet;

use polars::prelude::*;

use super::join::{JoinStats, RowWeights, TABLE_ROW};
use super::{ROW, failed};
use crate::engine::imports::ImportError;
use crate::engine::rollup::{RollupFrame, RollupState};
use crate::model::reports::{JoinKind, JoinSpec, ReportSpec};

const ID: &str = "__tidepool_value_id";
const VALUE: &str = "__tidepool_value";

/// The rollup's rows (numbered in `ROW`; with only the columns the report
/// reads when `pruned`, else all) joined with `table` as the report's first
/// join says, if this way can.
pub(super) fn through_dictionary(
    state: &RollupState,
    report: &ReportSpec,
    table: &DataFrame,
    pruned: bool,
    weights: RowWeights<'_>,
) -> Result<Option<(DataFrame, JoinStats)>, ImportError> {
    let Some((join, dimension, right_key)) = first_join_on_a_dimension(state, report, table) else { return Ok(None) };
    let Some(table_row_of_value) = table_rows_by_value(state, dimension, table, right_key)? else {
        return Ok(None);
    };
    let read = if pruned { report.fields_read(Some(0)) } else { None };
    let wanted = |name: &str| read.as_ref().is_none_or(|read| read.contains(name));
    let ids = state.dimension_ids(dimension);
    let table_rows: IdxCa = ids.iter().map(|&id| table_row_of_value[id as usize]).collect();
    let rows = state
        .to_unsorted_frame_of(&wanted)
        .and_then(|rows| rows.with_row_index(ROW.into(), None))
        .map_err(failed("building the rollup rows"))?;
    let left_rows = weights.total(&rows);
    let (rows, table_rows) = match join.how {
        JoinKind::Inner => {
            let matched = table_rows.is_not_null();
            let rows = rows.filter(&matched).map_err(failed("the rows the join matched"))?;
            (rows, table_rows.filter(&matched).map_err(failed("the rows the join matched"))?)
        }
        _ => (rows, table_rows),
    };
    let taken = table_columns(state, table, right_key, &wanted)?
        .take(&table_rows)
        .map_err(failed(&format!("the join with `{}`", join.with)))?;
    let joined = rows.hstack(taken.columns()).map_err(failed(&format!("the join with `{}`", join.with)))?;
    let mut used = vec![false; table.height()];
    table_rows.iter().flatten().for_each(|row| used[row as usize] = true);
    let matched = JoinStats {
        with: join.with.clone(),
        left_rows,
        matched_left: match weights.of_rows(&joined) {
            Some(weights) => table_rows.iter().zip(weights).filter(|(row, _)| row.is_some()).map(|(_, w)| w).sum(),
            None => (table_rows.len() - table_rows.null_count()) as u64,
        },
        right_rows: table.height() as u64,
        matched_right: used.iter().filter(|&&used| used).count() as u64,
        joined_rows: weights.total(&joined),
        repeated_left: 0,
    };
    Ok(Some((joined, matched)))
}

/// The report's first join, the dimension it meets and the table's key, when
/// it is an inner or left join on one dimension against a text key of `table`.
pub(super) fn first_join_on_a_dimension<'a>(
    state: &RollupState,
    report: &'a ReportSpec,
    table: &DataFrame,
) -> Option<(&'a JoinSpec, usize, &'a str)> {
    let join = report.joins.first()?;
    if !matches!(join.how, JoinKind::Inner | JoinKind::Left) || join.asof.is_some() || join.on.len() != 1 {
        return None;
    }
    let (left_key, right_key) = join.on.iter().next()?;
    let dimension = state.dimension_index(left_key)?;
    (table.schema().get(right_key.as_str()) == Some(&DataType::String)).then_some((join, dimension, right_key.as_str()))
}

/// Every column of `table` but its key `key`, with the name it has after
/// the join (`…_right` beside a rollup column of the same name).
pub(super) fn joined_table_columns<'t>(
    state: &RollupState,
    table: &'t DataFrame,
    key: &str,
) -> Vec<(String, &'t Column)> {
    let rollup_names: BTreeSet<String> = state.column_names().into_iter().collect();
    table
        .columns()
        .iter()
        .filter(|column| column.name().as_str() != key)
        .map(|column| {
            let name = column.name().as_str();
            let joined_name = if rollup_names.contains(name) { format!("{name}_right") } else { name.to_string() };
            (joined_name, column)
        })
        .collect()
}

/// The table row each value id of `dimension` meets (`None` when it meets
/// none); `Ok(None)` when a value meets several (the key repeats in the table).
pub(super) fn table_rows_by_value(
    state: &RollupState,
    dimension: usize,
    table: &DataFrame,
    key: &str,
) -> Result<Option<Vec<Option<IdxSize>>>, ImportError> {
    let values = state.dimension_values(dimension);
    let count = values.len();
    let dictionary = DataFrame::new(
        count,
        vec![
            IdxCa::from_vec(ID.into(), (0..count as IdxSize).collect()).into_column(),
            values.with_name(VALUE.into()).into_column(),
        ],
    )
    .map_err(failed("the dimension's values"))?;
    let keys = table.select([key]).map(|keys| keys.lazy().with_row_index(TABLE_ROW, None));
    let pairs = keys.and_then(|keys| {
        dictionary.lazy().join(keys, [col(VALUE)], [col(key)], JoinArgs::new(JoinType::Inner)).collect()
    });
    let pairs = pairs.map_err(failed("matching the dimension's values"))?;
    let numbers =
        |name: &str| pairs.column(name).and_then(Column::idx).map_err(failed("matching the dimension's values"));
    let (ids, table_rows) = (numbers(ID)?, numbers(TABLE_ROW)?);
    let mut table_row_of_value: Vec<Option<IdxSize>> = vec![None; count];
    for (id, table_row) in ids.into_no_null_iter().zip(table_rows.into_no_null_iter()) {
        let slot = &mut table_row_of_value[id as usize];
        if slot.is_some() {
            return Ok(None);
        }
        *slot = Some(table_row);
    }
    Ok(Some(table_row_of_value))
}

/// The table's columns a report can read after the join (all but the key,
/// which the rollup's column stands for), named as the general join names them.
fn table_columns(
    state: &RollupState,
    table: &DataFrame,
    key: &str,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<DataFrame, ImportError> {
    let columns: Vec<Column> = joined_table_columns(state, table, key)
        .into_iter()
        .filter(|(joined_name, _)| wanted(joined_name))
        .map(|(joined_name, column)| column.clone().with_name(joined_name.into()))
        .collect();
    DataFrame::new(table.height(), columns).map_err(failed("the table's columns"))
}
