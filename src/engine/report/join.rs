//! A report's joins with imported tables: equal keys (inner, left, full) or
//! the nearest time (as-of), each checked first (key types must agree) and
//! counted as it runs — what each side matched, and how many left rows met
//! several table rows — from row numbers carried through the join, not from
//! extra joins.
//!
//! Owns how a report joins; must not read datasets nor aggregate.

use polars::prelude::*;

use super::{ROW, failed};
use crate::engine::imports::ImportError;
use crate::model::reports::{AsofSpec, JoinKind, JoinSpec};

/// Row numbers of the left side and of the table, carried through a join to count what it matched.
const LEFT_ROW: &str = "__tidepool_left_row";
pub(super) const TABLE_ROW: &str = "__tidepool_table_row";

/// `left` joined with `right` as `join` says, and what the join matched.
pub(super) fn joined(
    left: &DataFrame,
    right: &DataFrame,
    join: &JoinSpec,
    weights: RowWeights<'_>,
) -> Result<(DataFrame, JoinStats), ImportError> {
    check_join_keys(left, right, join)?;
    match (join.how, &join.asof) {
        (JoinKind::Asof, Some(asof)) => asof_join(left, right, join, asof, weights),
        _ => equi_join(left, right, join, weights),
    }
}

/// How many of the stream's rollup rows each row of the report's rows stands
/// for: one, unless the report reads a merged rollup (see `coarse`), whose
/// rows each merge several — so that what a join matched is counted in the
/// stream's rows whichever rollup the report read.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RowWeights<'a>(pub Option<&'a [u32]>);

impl RowWeights<'_> {
    /// Each row's weight, found by its rollup row number (`ROW`); `None` when
    /// every row weighs one.
    pub fn of_rows(self, frame: &DataFrame) -> Option<Vec<u64>> {
        let weights = self.0?;
        let rows = frame.column(ROW).ok()?.idx().ok()?;
        // A row without a rollup row (a full join's table-only row) weighs one.
        Some(
            rows.iter().map(|row| row.and_then(|row| weights.get(row as usize)).map_or(1, |&w| u64::from(w))).collect(),
        )
    }

    /// The rows of `frame` counted in the stream's rows.
    pub fn total(self, frame: &DataFrame) -> u64 {
        self.of_rows(frame).map_or(frame.height() as u64, |weights| weights.iter().sum())
    }
}

/// What a join matched, for the user to trust it (or not): what an inner join
/// drops, what a left join leaves without values, whether keys repeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinStats {
    pub with: String,
    pub left_rows: u64,
    /// Left rows with at least one match.
    pub matched_left: u64,
    pub right_rows: u64,
    /// Table rows matching at least one left row.
    pub matched_right: u64,
    /// Rows after the join.
    pub joined_rows: u64,
    /// Left rows that met more than one table row (and so appear several times).
    pub repeated_left: u64,
}

impl JoinStats {
    /// Whether some left rows met several table rows (keys repeat in the table).
    pub fn multiplies_rows(&self) -> bool {
        self.repeated_left > 0
    }
}

impl std::fmt::Display for JoinStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "join with `{}`: {} of {} rows matched ({} without a match), {} of {} table rows used ({} unused); {} rows after the join",
            self.with,
            self.matched_left,
            self.left_rows,
            self.left_rows - self.matched_left,
            self.matched_right,
            self.right_rows,
            self.right_rows - self.matched_right,
            self.joined_rows
        )?;
        if self.multiplies_rows() {
            let rows = if self.repeated_left == 1 { "row" } else { "rows" };
            write!(f, " — keys repeat in `{}`: {} {rows} met several of its rows", self.with, self.repeated_left)?;
        }
        Ok(())
    }
}

/// `left` joined with `right` on the `on` fields, and what the join matched.
fn equi_join(
    left: &DataFrame,
    right: &DataFrame,
    join: &JoinSpec,
    weights: RowWeights<'_>,
) -> Result<(DataFrame, JoinStats), ImportError> {
    let left_on: Vec<Expr> = join.on.keys().map(|k| col(k.as_str())).collect();
    let right_on: Vec<Expr> = join.on.values().map(|v| col(v.as_str())).collect();
    let how = match join.how {
        JoinKind::Inner => JoinType::Inner,
        JoinKind::Left | JoinKind::Asof => JoinType::Left,
        JoinKind::Full => JoinType::Full,
    };
    let joined = numbered(left, LEFT_ROW)
        .join(
            numbered(right, TABLE_ROW),
            left_on,
            right_on,
            JoinArgs::new(how).with_coalesce(JoinCoalesce::CoalesceColumns),
        )
        .collect()
        .map_err(failed(&format!("the join with `{}`", join.with)))?;
    counted(&joined, left, right, join, weights)
}

/// `frame` with its rows numbered in a column `name`.
fn numbered(frame: &DataFrame, name: &str) -> LazyFrame {
    frame.clone().lazy().with_row_index(name, None)
}

/// The joined rows without the row numbers, and what they say the join
/// matched: one pass over the numbers, no second join.
fn counted(
    joined: &DataFrame,
    left: &DataFrame,
    right: &DataFrame,
    join: &JoinSpec,
    weights: RowWeights<'_>,
) -> Result<(DataFrame, JoinStats), ImportError> {
    let numbers = |name: &str| {
        joined.column(name).and_then(|c| c.idx().cloned()).map_err(failed(&format!("the join with `{}`", join.with)))
    };
    let (left_numbers, table_numbers) = (numbers(LEFT_ROW)?, numbers(TABLE_ROW)?);
    let mut meetings = vec![0_u8; left.height()];
    let mut used = vec![false; right.height()];
    for (left_row, table_row) in left_numbers.iter().zip(table_numbers.iter()) {
        if let (Some(left_row), Some(table_row)) = (left_row, table_row) {
            let met = &mut meetings[left_row as usize];
            *met = met.saturating_add(1);
            used[table_row as usize] = true;
        }
    }
    let left_weights = weights.of_rows(left);
    let weighed = |keep: &dyn Fn(u8) -> bool| -> u64 {
        let kept = meetings.iter().enumerate().filter(|(_, met)| keep(**met));
        match &left_weights {
            Some(left_weights) => kept.map(|(row, _)| left_weights[row]).sum(),
            None => kept.count() as u64,
        }
    };
    let stats = JoinStats {
        with: join.with.clone(),
        left_rows: weighed(&|_| true),
        matched_left: weighed(&|met| met > 0),
        right_rows: right.height() as u64,
        matched_right: used.iter().filter(|&&used| used).count() as u64,
        joined_rows: weights.total(joined),
        repeated_left: weighed(&|met| met > 1),
    };
    let joined = joined.drop_many([LEFT_ROW, TABLE_ROW]);
    Ok((joined, stats))
}

/// Each left row with the table row nearest in time as `asof` says (and equal
/// in the `on` fields); both sides sorted by time first, the table's time cast
/// to the left side's type (a table in ms meets a rollup in µs).
fn asof_join(
    left: &DataFrame,
    right: &DataFrame,
    join: &JoinSpec,
    asof: &AsofSpec,
    weights: RowWeights<'_>,
) -> Result<(DataFrame, JoinStats), ImportError> {
    let schema = left.schema();
    let left_time = asof.left_field();
    let config = |message: String| ImportError::Config(format!("the as-of join with `{}`: {message}", join.with));
    let left_type =
        schema.get(left_time).cloned().ok_or_else(|| config(format!("no field `{left_time}` on the left")))?;
    let right_type = right
        .schema()
        .get(asof.right.as_str())
        .cloned()
        .ok_or_else(|| config(format!("table `{}` has no column `{}`", join.with, asof.right)))?;
    // A JSON API's times arrive as text (RFC 3339): read as UTC datetimes.
    let right_is_text = right_type == DataType::String && matches!(left_type, DataType::Datetime(_, _));
    if !(left_type.is_temporal() || left_type.is_primitive_numeric())
        || !(right_type.is_temporal() || right_type.is_primitive_numeric() || right_is_text)
    {
        return Err(config(format!(
            "`{left_time}` is {left_type} and `{}` is {right_type}: as-of joins match times or numbers",
            asof.right
        )));
    }
    let table = numbered(right, TABLE_ROW)
        .with_column(time_column(asof.right.as_str(), right_is_text).strict_cast(left_type))
        .sort([asof.right.as_str()], SortMultipleOptions::default());
    let by = |names: Vec<&String>| {
        (!names.is_empty()).then(|| names.into_iter().map(|n| PlSmallStr::from(n.as_str())).collect())
    };
    let options = AsOfOptions {
        strategy: match asof.strategy {
            crate::model::reports::AsofStrategy::Backward => AsofStrategy::Backward,
            crate::model::reports::AsofStrategy::Forward => AsofStrategy::Forward,
            crate::model::reports::AsofStrategy::Nearest => AsofStrategy::Nearest,
        },
        tolerance_str: asof.tolerance.map(|t| PlSmallStr::from(format!("{}s", t.seconds()))),
        left_by: by(join.on.keys().collect()),
        right_by: by(join.on.values().collect()),
        allow_eq: true,
        ..AsOfOptions::default()
    };
    let joined = numbered(left, LEFT_ROW)
        .sort([left_time], SortMultipleOptions::default())
        .join(table, [col(left_time)], [col(asof.right.as_str())], JoinArgs::new(JoinType::AsOf(Box::new(options))))
        .collect()
        .map_err(failed(&format!("the as-of join with `{}`", join.with)))?;
    counted(&joined, left, right, join, weights)
}

/// The table's time column, text parsed as UTC datetimes (an offset in the text is honoured).
fn time_column(name: &str, is_text: bool) -> Expr {
    if !is_text {
        return col(name);
    }
    let options = StrptimeOptions { format: None, strict: true, exact: true, cache: true };
    col(name)
        .str()
        .to_datetime(Some(TimeUnit::Microseconds), Some(TimeZone::UTC), options, lit("raise"))
        .dt()
        .replace_time_zone(None, lit("raise"), NonExistent::Raise)
}

/// A join whose key types differ would match nothing (or fail deep in Polars): say so with the types.
fn check_join_keys(left: &DataFrame, right: &DataFrame, join: &JoinSpec) -> Result<(), ImportError> {
    let left_schema = left.schema();
    for (left_field, right_field) in &join.on {
        let left_type = left_schema.get(left_field.as_str()).ok_or_else(|| {
            ImportError::Config(format!(
                "the join with `{}`: no field `{left_field}` on the left side; it has {}",
                join.with,
                names_of(left_schema.iter_names().map(PlSmallStr::as_str))
            ))
        })?;
        let right_type = right.schema().get(right_field.as_str()).cloned().ok_or_else(|| {
            ImportError::Config(format!(
                "the join with `{}`: table `{}` has no column `{right_field}`; it has {}",
                join.with,
                join.with,
                names_of(right.get_column_names().into_iter().map(PlSmallStr::as_str))
            ))
        })?;
        if *left_type != right_type {
            let same_type: Vec<&str> =
                right.schema().iter().filter(|(_, dtype)| *dtype == left_type).map(|(name, _)| name.as_str()).collect();
            let hint = if same_type.is_empty() {
                String::new()
            } else {
                format!(" (columns of `{}` that are {left_type}: {})", join.with, names_of(same_type.into_iter()))
            };
            return Err(ImportError::Config(format!(
                "the join with `{}`: `{left_field}` is {left_type} but `{right_field}` is {right_type}; \
                 keys must have the same type{hint}",
                join.with
            )));
        }
    }
    Ok(())
}

/// `a`, `b`, `c` (at most 20, then how many more).
fn names_of<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.filter(|n| !n.starts_with("__tidepool")).collect();
    let mut shown: Vec<String> = names.iter().take(20).map(|n| format!("`{n}`")).collect();
    if names.len() > 20 {
        shown.push(format!("and {} more", names.len() - 20));
    }
    shown.join(", ")
}
