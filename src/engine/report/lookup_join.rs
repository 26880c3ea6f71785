//! A report's first join as a lookup (Druid's `LOOKUP`): when it meets one
//! dimension of a stream's rollup with a text key of a table whose keys do
//! not repeat (`dimension_join`'s case), and the report may read a merged
//! rollup (`coarse`) and reads only text columns of the table, each table
//! column the report reads becomes a dimension looked up through the key —
//! by the key's value id, computed once per distinct value — and the rollup
//! is merged over what the report reads with them. Ten million rows per
//! minute, user and country, reported per customer segment and country,
//! become a few dozen rows before any frame is built; the join is done.
//!
//! What the join matched is counted from the key's ids, exactly as the
//! general join counts it. Declines (`None`) wherever it could not give
//! what `dimension_join` gives; owns no I/O.

use std::collections::BTreeMap;

use polars::prelude::*;

use super::coarse::{fields_deciding_rows, keeps_buckets, kept_dimensions};
use super::dimension_join::{first_join_on_a_dimension, joined_table_columns, table_rows_by_value};
use super::failed;
use super::join::JoinStats;
use crate::engine::imports::ImportError;
use crate::engine::rollup::dictionary::NULL_ID;
use crate::engine::rollup::{Coarsened, Coarsening, Dictionary, Lookup, RollupState};
use crate::model::reports::{JoinKind, ReportSpec};

/// The first join done as a lookup: the merged rollup with the table's
/// columns as dimensions, what the join matched, and the report left to
/// compute over it (the same report without that join).
pub(super) struct LookedUp {
    pub merged: Coarsened,
    pub matched: JoinStats,
    pub rest: ReportSpec,
}

/// `report`'s first join done as a lookup over `state`, if it can be.
pub(super) fn through_lookup(
    state: &RollupState,
    report: &ReportSpec,
    tables: &BTreeMap<String, DataFrame>,
) -> Result<Option<LookedUp>, ImportError> {
    let Some(table) = report.joins.first().and_then(|join| tables.get(&join.with)) else { return Ok(None) };
    let Some((join, through, right_key)) = first_join_on_a_dimension(state, report, table) else { return Ok(None) };
    let mut rest = report.clone();
    rest.joins.remove(0);
    let (Some(deciding), Some(read)) = (fields_deciding_rows(state, &rest), report.fields_read(None)) else {
        return Ok(None);
    };
    let Some(columns) = looked_up_columns(state, table, right_key, &read) else { return Ok(None) };
    let Some(table_row_of_value) = table_rows_by_value(state, through, table, right_key)? else {
        return Ok(None);
    };
    let mut lookups = Vec::with_capacity(columns.len());
    for (name, column) in columns {
        lookups.push(lookup(name, through, &column, &table_row_of_value)?);
    }
    let matched_values: Vec<bool> = table_row_of_value.iter().map(Option::is_some).collect();
    let only = (join.how == JoinKind::Inner).then_some((through, matched_values.as_slice()));
    let dimensions = kept_dimensions(state, &rest, tables, &deciding);
    let by =
        Coarsening { dimensions: &dimensions, lookups: &lookups, keep_buckets: keeps_buckets(&rest, &deciding), only };
    let Some(merged) = state.coarsened_by(&by) else { return Ok(None) };
    let matched = counted(state, through, join.how, &table_row_of_value, table.height(), &join.with);
    Ok(Some(LookedUp { merged, matched, rest }))
}

/// The table's columns the report reads, named as the general join names
/// them (`…_right` beside a rollup column of the same name); `None` unless
/// every one of them is text.
fn looked_up_columns(
    state: &RollupState,
    table: &DataFrame,
    key: &str,
    read: &std::collections::BTreeSet<String>,
) -> Option<Vec<(String, Column)>> {
    let read_columns: Vec<(String, &Column)> = joined_table_columns(state, table, key)
        .into_iter()
        .filter(|(joined_name, _)| read.contains(joined_name))
        .collect();
    let all_text = read_columns.iter().all(|(_, column)| column.dtype() == &DataType::String);
    all_text.then(|| read_columns.into_iter().map(|(joined_name, column)| (joined_name, column.clone())).collect())
}

/// Table column `column` as a dimension looked up through dimension
/// `through`: each of its value ids gets the id of its table row's text.
fn lookup(
    name: String,
    through: usize,
    column: &Column,
    table_row_of_value: &[Option<IdxSize>],
) -> Result<Lookup, ImportError> {
    let texts = column.str().map_err(failed("a looked-up column"))?;
    let mut dictionary = Dictionary::default();
    let id_of_table_row: Vec<u32> = texts.iter().map(|text| dictionary.id_of(text)).collect();
    let ids = table_row_of_value.iter().map(|row| row.map_or(NULL_ID, |row| id_of_table_row[row as usize])).collect();
    Ok(Lookup { name, through, ids, dictionary })
}

/// What the join matched, counted in the rollup's rows from the key's ids.
fn counted(
    state: &RollupState,
    through: usize,
    how: JoinKind,
    table_row_of_value: &[Option<IdxSize>],
    table_rows: usize,
    with: &str,
) -> JoinStats {
    let mut rows_of_value = vec![0_u64; table_row_of_value.len()];
    for row in 0..state.row_count() {
        rows_of_value[state.dimension_id(row, through) as usize] += 1;
    }
    let mut used = vec![false; table_rows];
    let mut matched_left = 0;
    for (&rows, table_row) in rows_of_value.iter().zip(table_row_of_value) {
        if rows > 0
            && let Some(table_row) = table_row
        {
            matched_left += rows;
            used[*table_row as usize] = true;
        }
    }
    let left_rows = state.row_count() as u64;
    JoinStats {
        with: with.to_string(),
        left_rows,
        matched_left,
        right_rows: table_rows as u64,
        matched_right: used.iter().filter(|&&used| used).count() as u64,
        joined_rows: if how == JoinKind::Inner { matched_left } else { left_rows },
        repeated_left: 0,
    }
}
