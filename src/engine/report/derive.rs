//! A report's derived columns: each parsed expression (`model::expr`) turned
//! into a Polars expression and added to the joined rows, in order, so that a
//! later one may read an earlier one. Division is always of decimals and a
//! division by zero is null, as in SQL engines; a field that is not there is
//! named with the fields that are.
//!
//! Owns the meaning of the expression language in Polars; must not parse it
//! (the model does) nor read any dataset.

use polars::prelude::*;

use crate::engine::imports::ImportError;
use crate::model::expr::{BinaryOp, Expr as Tree, Function};
use crate::model::reports::DerivedSpec;

/// `lazy` (whose columns are `schema`) with every derived column of `derive` added.
pub fn with_derived(mut lazy: LazyFrame, schema: &Schema, derive: &[DerivedSpec]) -> Result<LazyFrame, ImportError> {
    let mut known: Vec<String> = schema.iter_names().map(ToString::to_string).collect();
    for derived in derive {
        let what = format!("derived column `{}`", derived.name);
        let tree = derived
            .parsed()
            .map_err(|error| ImportError::Config(format!("{what}: `{}` cannot be read {error}", derived.expr)))?;
        if let Some(missing) = tree.fields().into_iter().find(|field| !known.iter().any(|k| k == field)) {
            let visible: Vec<&str> =
                known.iter().map(String::as_str).filter(|name| !name.starts_with("__tidepool")).collect();
            return Err(ImportError::Config(format!(
                "{what}: there is no field `{missing}` to compute it from (the rows have {})",
                visible.join(", ")
            )));
        }
        lazy = lazy.with_column(polars_expr(&tree).alias(derived.name.as_str()));
        known.push(derived.name.clone());
    }
    Ok(lazy)
}

/// The Polars expression of a parsed tree.
pub fn polars_expr(tree: &Tree) -> Expr {
    match tree {
        Tree::Field(name) => col(name.as_str()),
        Tree::Integer(value) => lit(*value),
        Tree::Float(value) => lit(*value),
        Tree::Text(text) => lit(text.as_str()),
        Tree::Boolean(value) => lit(*value),
        Tree::Null => lit(NULL),
        Tree::Negate(inner) => lit(0) - polars_expr(inner),
        Tree::Not(inner) => polars_expr(inner).not(),
        Tree::Binary(left, op, right) => binary(polars_expr(left), *op, polars_expr(right)),
        Tree::Call(function, arguments) => call(*function, arguments.iter().map(polars_expr).collect()),
    }
}

fn binary(left: Expr, op: BinaryOp, right: Expr) -> Expr {
    match op {
        BinaryOp::Add => left + right,
        BinaryOp::Subtract => left - right,
        BinaryOp::Multiply => left * right,
        BinaryOp::Divide => {
            let divisor = right.cast(DataType::Float64);
            when(divisor.clone().eq(lit(0.0)))
                .then(lit(NULL).cast(DataType::Float64))
                .otherwise(left.cast(DataType::Float64) / divisor)
        }
        BinaryOp::Equal => left.eq(right),
        BinaryOp::NotEqual => left.neq(right),
        BinaryOp::Less => left.lt(right),
        BinaryOp::LessOrEqual => left.lt_eq(right),
        BinaryOp::Greater => left.gt(right),
        BinaryOp::GreaterOrEqual => left.gt_eq(right),
        BinaryOp::And => left.and(right),
        BinaryOp::Or => left.or(right),
    }
}

fn call(function: Function, mut arguments: Vec<Expr>) -> Expr {
    match function {
        Function::Coalesce => {
            let mut arguments = arguments.into_iter();
            let first = arguments.next().unwrap_or_else(|| lit(NULL));
            arguments.fold(first, Expr::fill_null)
        }
        Function::If => {
            let otherwise = arguments.pop().unwrap_or_else(|| lit(NULL));
            let then = arguments.pop().unwrap_or_else(|| lit(NULL));
            let condition = arguments.pop().unwrap_or_else(|| lit(false));
            when(condition).then(then).otherwise(otherwise)
        }
        // The parser gave every other function exactly one argument.
        single => one_argument(single, arguments.pop().unwrap_or_else(|| lit(NULL))),
    }
}

fn one_argument(function: Function, value: Expr) -> Expr {
    match function {
        Function::Abs => when(value.clone().lt(lit(0))).then(lit(0) - value.clone()).otherwise(value),
        Function::Int => value.cast(DataType::Int64),
        Function::Float => value.cast(DataType::Float64),
        Function::Text => value.cast(DataType::String),
        Function::Lower => value.str().to_lowercase(),
        Function::Upper => value.str().to_uppercase(),
        Function::Length => value.str().len_chars(),
        Function::Year => value.dt().year(),
        Function::Month => value.dt().month(),
        Function::Day => value.dt().day(),
        Function::Hour => value.dt().hour(),
        Function::Minute => value.dt().minute(),
        Function::Weekday => value.dt().weekday(),
        Function::Date => value.dt().date(),
        Function::If | Function::Coalesce => value,
    }
}
