use super::*;
use crate::engine::chart::ReportChart;
use crate::engine::rollup::distinct::coupon_of;
use crate::engine::rollup::{EventOrder, MetricInput, RollupFrame};

const MINUTE: i64 = 60_000_000;

pub(super) fn report(text: &str) -> ReportSpec {
    toml::from_str(text).unwrap()
}

/// A rollup per minute, country and device of events (minute, country, device, price or NaN, user).
pub(super) fn rollup(events: &[(i64, &str, &str, f64, &str)]) -> RollupState {
    let spec = crate::model::workbook::test_stream(
        r#"granularity = "1m"
dimensions = ["country", "device"]
metrics = [
  { name = "events", kind = "count" },
  { name = "revenue", kind = "sum", field = "price" },
  { name = "avg_price", kind = "mean", field = "price" },
  { name = "cheapest", kind = "min", field = "price" },
  { name = "users", kind = "approx_distinct", field = "user" },
  { name = "price", kind = "quantiles", field = "price", quantiles = [0.5] },
]"#,
    );
    let mut state = RollupState::new(&spec.rollup.shape());
    for (offset, event) in events.iter().enumerate() {
        merge_event(&mut state, offset as i64, *event);
    }
    state
}

/// Merges one event (minute, country, device, price or NaN, user) into a rollup made by [`rollup`].
pub(super) fn merge_event(state: &mut RollupState, offset: i64, event: (i64, &str, &str, f64, &str)) {
    let (minute, country, device, price, user) = event;
    // NaN: an event without a price.
    let number = if price.is_nan() { MetricInput::Absent } else { MetricInput::Number { value: price, exact: None } };
    let inputs = [MetricInput::Absent, number, number, number, MetricInput::Distinct(coupon_of(user)), number];
    let micros = minute * MINUTE;
    let order = EventOrder { micros, partition: 0, offset };
    state.merge(micros, &[Some(country), Some(device)], &inputs, order);
}

fn countries() -> BTreeMap<String, DataFrame> {
    let table = df!("code" => ["DE", "FR", "US"], "region" => ["EU", "EU", "NA"]).unwrap();
    BTreeMap::from([("countries".to_string(), table)])
}

fn time_chart_of(drawn: Result<Option<ReportChart>, String>) -> crate::engine::chart::TimeChart {
    match drawn {
        Ok(Some(ReportChart::Time(chart))) => chart,
        other => panic!("not a chart over time: {other:?}"),
    }
}

fn floats(frame: &DataFrame, column: &str) -> Vec<Option<f64>> {
    frame.column(column).unwrap().cast(&DataType::Float64).unwrap().f64().unwrap().iter().collect()
}

#[test]
fn stream_metrics_combine_exactly_when_a_joined_report_groups_coarser_than_the_rollup() {
    let state = rollup(&[
        (0, "DE", "mobile", 10.0, "u1"),
        (0, "DE", "mobile", 20.0, "u2"),
        (0, "DE", "desktop", 30.0, "u1"),
        (1, "FR", "mobile", 5.0, "u2"),
        (61, "DE", "mobile", 7.0, "u3"),
        (62, "US", "mobile", 100.0, "u1"),
    ]);
    let spec = report(
        r#"name = "by_region"
from = "s"
joins = [{ with = "countries", on = { country = "code" } }]
group_by = ["region"]
time = { grain = "1h" }
measures = [
  { name = "events", metric = "events" },
  { name = "revenue", metric = "revenue" },
  { name = "avg_price", metric = "avg_price" },
  { name = "cheapest", metric = "cheapest" },
  { name = "users", metric = "users" },
  { name = "median_price", metric = "price", quantile = 0.5 },
]"#,
    );
    let answer = compute(&spec, Base::Stream(&state), &countries(), 0).unwrap().frame;
    let names: Vec<String> = answer.get_column_names().into_iter().map(ToString::to_string).collect();
    assert_eq!(names, ["bucket", "region", "events", "revenue", "avg_price", "cheapest", "users", "median_price"]);
    let regions: Vec<Option<&str>> = answer.column("region").unwrap().str().unwrap().iter().collect();
    assert_eq!(regions, [Some("EU"), Some("EU"), Some("NA")], "sorted by hour, then region");
    assert_eq!(answer.column("events").unwrap().dtype(), &DataType::Int64, "counts stay whole numbers");
    assert_eq!(floats(&answer, "events"), [Some(4.0), Some(1.0), Some(1.0)]);
    assert_eq!(floats(&answer, "revenue"), [Some(65.0), Some(7.0), Some(100.0)]);
    // Rows' means are 15 (DE mobile, 2 events), 30 and 5: their mean would be 16.67.
    assert_eq!(floats(&answer, "avg_price"), [Some(65.0 / 4.0), Some(7.0), Some(100.0)], "Σsum / Σcount");
    assert_eq!(floats(&answer, "cheapest"), [Some(5.0), Some(7.0), Some(100.0)]);
    // u1 is in two rows of the first hour and u2 in two: summing rows would say 4.
    assert_eq!(floats(&answer, "users"), [Some(2.0), Some(1.0), Some(1.0)], "the union of the sketches");
    assert_eq!(floats(&answer, "median_price")[0], Some(10.0), "the merged sketch's median of 5, 10, 20, 30");
}

#[test]
fn a_stream_report_without_groups_is_one_row_over_every_rollup_row() {
    let state =
        rollup(&[(0, "DE", "mobile", 10.0, "u1"), (5, "FR", "desktop", 30.0, "u1"), (9, "JP", "mobile", 2.0, "u9")]);
    let spec = report(
        r#"name = "totals"
from = "s"
filters = [{ field = "country", op = "!=", value = "JP" }]
measures = [{ name = "events", metric = "events" }, { name = "users", metric = "users" }]"#,
    );
    let answer = compute(&spec, Base::Stream(&state), &BTreeMap::new(), 0).unwrap().frame;
    assert_eq!(answer.height(), 1);
    assert_eq!(floats(&answer, "events"), [Some(2.0)]);
    assert_eq!(floats(&answer, "users"), [Some(1.0)]);
}

#[test]
fn table_reports_aggregate_filter_sort_and_cut() {
    let orders = df!(
        "order" => [1i64, 2, 3, 4, 5, 6],
        "country" => ["DE", "FR", "DE", "US", "US", "FR"],
        "amount" => [Some(10.0), Some(20.0), None, Some(5.0), Some(50.0), Some(1.0)],
        "customer" => ["a", "b", "a", "c", "d", "b"],
    )
    .unwrap();
    let spec = report(
        r#"name = "regions"
from = "orders"
joins = [{ with = "countries", on = { country = "code" }, how = "inner" }]
filters = [{ field = "order", op = "in", value = [1, 2, 3, 4, 5] }]
group_by = ["region"]
measures = [
  { name = "orders", agg = "count" },
  { name = "paid", agg = "count", field = "amount" },
  { name = "customers", agg = "count_distinct", field = "customer" },
  { name = "total", agg = "sum", field = "amount" },
  { name = "mean", agg = "mean", field = "amount" },
]
sort = [{ field = "total", descending = true }]
limit = 1"#,
    );
    let answer = compute(&spec, Base::Table(orders), &countries(), 0).unwrap().frame;
    assert_eq!(answer.height(), 1, "cut to the limit");
    assert_eq!(answer.column("region").unwrap().str().unwrap().get(0), Some("NA"), "the largest total first");
    assert_eq!(floats(&answer, "orders"), [Some(2.0)]);
    assert_eq!(floats(&answer, "customers"), [Some(2.0)]);
    assert_eq!(floats(&answer, "total"), [Some(55.0)]);

    let all = report(
        r#"name = "regions"
from = "orders"
joins = [{ with = "countries", on = { country = "code" } }]
group_by = ["region"]
measures = [{ name = "orders", agg = "count" }, { name = "paid", agg = "count", field = "amount" }, { name = "mean", agg = "mean", field = "amount" }]"#,
    );
    let orders = df!("country" => ["DE", "DE", "JP"], "amount" => [Some(10.0), None, Some(3.0)]).unwrap();
    let answer = compute(&all, Base::Table(orders), &countries(), 0).unwrap().frame;
    let regions: Vec<Option<&str>> = answer.column("region").unwrap().str().unwrap().iter().collect();
    assert_eq!(regions, [Some("EU"), None], "a left join keeps unmatched rows, their group last");
    assert_eq!(floats(&answer, "orders"), [Some(2.0), Some(1.0)]);
    assert_eq!(floats(&answer, "paid"), [Some(1.0), Some(1.0)], "count of a field counts its values");
    assert_eq!(floats(&answer, "mean"), [Some(10.0), Some(3.0)]);
}

#[test]
fn join_keys_of_different_types_are_an_error_with_both_types() {
    let orders = df!("country" => [1i64, 2]).unwrap();
    let spec = report(
        r#"name = "r"
from = "orders"
joins = [{ with = "countries", on = { country = "code" } }]
measures = [{ name = "n", agg = "count" }]"#,
    );
    let err = compute(&spec, Base::Table(orders), &countries(), 0).unwrap_err().to_string();
    assert!(err.contains("`country` is i64") && err.contains("`code` is str"), "{err}");
    let misspelt = report(
        r#"name = "r"
from = "orders"
joins = [{ with = "countries", on = { country = "cod" } }]
measures = [{ name = "n", agg = "count" }]"#,
    );
    let orders = df!("country" => ["DE"]).unwrap();
    let err = compute(&misspelt, Base::Table(orders), &countries(), 0).unwrap_err().to_string();
    assert!(err.contains("no column `cod`; it has `code`, `region`"), "the table's columns are named: {err}");
}

#[test]
fn a_join_says_what_it_matched_and_when_repeated_keys_multiply_rows() {
    let orders = df!("country" => ["DE", "DE", "JP", "FR"], "amount" => [1.0, 2.0, 3.0, 4.0]).unwrap();
    let spec = report(
        r#"name = "r"
from = "orders"
joins = [{ with = "countries", on = { country = "code" } }]
group_by = ["region"]
measures = [{ name = "n", agg = "count" }]"#,
    );
    let answer = compute(&spec, Base::Table(orders.clone()), &countries(), 0).unwrap();
    let stats = &answer.joins[0];
    assert_eq!((stats.left_rows, stats.matched_left), (4, 3), "JP has no region");
    assert_eq!((stats.right_rows, stats.matched_right), (3, 2), "US is not among the orders");
    assert_eq!(stats.joined_rows, 4);
    assert!(!stats.multiplies_rows());
    assert!(stats.to_string().contains("3 of 4 rows matched (1 without a match)"), "{stats}");

    let doubled = df!("code" => ["DE", "DE"], "region" => ["EU", "Europe"]).unwrap();
    let tables = BTreeMap::from([("countries".to_string(), doubled)]);
    let answer = compute(&spec, Base::Table(orders), &tables, 0).unwrap();
    assert_eq!(answer.joins[0].joined_rows, 6, "each DE order meets both DE rows");
    assert!(answer.joins[0].to_string().contains("keys repeat in `countries`"), "{}", answer.joins[0]);
}

#[test]
fn a_rollup_row_meeting_two_table_rows_of_one_group_counts_once() {
    let state = rollup(&[(0, "DE", "mobile", 10.0, "u1"), (0, "FR", "mobile", 5.0, "u2")]);
    let doubled = df!("code" => ["DE", "DE", "FR"], "region" => ["EU", "EU", "EU"]).unwrap();
    let spec = report(
        r#"name = "r"
from = "s"
joins = [{ with = "countries", on = { country = "code" } }]
group_by = ["region"]
measures = [{ name = "events", metric = "events" }, { name = "revenue", metric = "revenue" }]"#,
    );
    let tables = BTreeMap::from([("countries".to_string(), doubled)]);
    let answer = compute(&spec, Base::Stream(&state), &tables, 0).unwrap();
    assert_eq!(floats(&answer.frame, "events"), [Some(2.0)]);
    assert_eq!(floats(&answer.frame, "revenue"), [Some(15.0)]);
    assert!(answer.joins[0].multiplies_rows(), "and the join says its keys repeat");
}

#[test]
fn counts_sums_and_extremes_combine_the_same_whether_or_not_a_join_repeats_rollup_rows() {
    let state = rollup(&[
        (0, "DE", "mobile", 10.0, "u1"),
        (0, "DE", "desktop", 4.0, "u2"),
        (1, "FR", "mobile", 5.0, "u2"),
        (1, "JP", "mobile", f64::NAN, "u3"),
        (2, "JP", "mobile", f64::NAN, "u4"),
    ]);
    let spec = report(
        r#"name = "r"
from = "s"
joins = [{ with = "countries", on = { country = "code" } }]
group_by = ["region"]
measures = [
  { name = "events", metric = "events" },
  { name = "revenue", metric = "revenue" },
  { name = "cheapest", metric = "cheapest" },
]"#,
    );
    let table = |codes: &[&str], regions: &[&str]| {
        let table = df!("code" => codes, "region" => regions).unwrap();
        BTreeMap::from([("countries".to_string(), table)])
    };
    let once = table(&["DE", "FR", "JP"], &["EU", "EU", "APAC"]);
    // DE twice in one region: its rows meet two table rows, so each group's rows are merged one by one.
    let twice = table(&["DE", "DE", "FR", "JP"], &["EU", "EU", "EU", "APAC"]);
    let by_columns = compute(&spec, Base::Stream(&state), &once, 0).unwrap();
    let by_rows = compute(&spec, Base::Stream(&state), &twice, 0).unwrap();
    assert_eq!(by_columns.joins[0].repeated_left, 0);
    assert_eq!(by_rows.joins[0].repeated_left, 2, "the two DE rows");
    assert!(by_columns.frame.equals_missing(&by_rows.frame), "{}\n{}", by_columns.frame, by_rows.frame);
    assert_eq!(floats(&by_columns.frame, "events"), [Some(2.0), Some(3.0)], "APAC, then EU");
    assert_eq!(floats(&by_columns.frame, "revenue"), [None, Some(19.0)], "no price in APAC is no sum, not 0");
    assert_eq!(floats(&by_columns.frame, "cheapest"), [None, Some(4.0)]);
}

#[test]
fn a_join_through_a_dimensions_values_equals_the_general_join_of_every_row() {
    let mut state = rollup(&[
        (0, "DE", "mobile", 10.0, "u1"),
        (0, "DE", "desktop", 4.0, "u2"),
        (1, "FR", "mobile", 5.0, "u2"),
        (1, "JP", "mobile", 7.0, "u3"),
        (2, "US", "tablet", 1.0, "u4"),
    ]);
    // An event without a country meets no table row, even one whose code is null.
    let price = MetricInput::Number { value: 2.0, exact: None };
    let inputs = [MetricInput::Absent, price, price, price, MetricInput::Absent, price];
    state.merge(0, &[None, Some("mobile")], &inputs, EventOrder { micros: 0, partition: 0, offset: 99 });
    // `device` is also a dimension: the table's is `device_right` after the join, as Polars names it.
    let table = df!(
        "code" => [Some("DE"), Some("FR"), Some("US"), None, Some("BR")],
        "region" => ["EU", "EU", "NA", "nowhere", "SA"],
        "device" => ["de", "fr", "us", "none", "br"],
    )
    .unwrap();
    let tables = BTreeMap::from([("countries".to_string(), table)]);
    for how in ["inner", "left"] {
        let over = |from: &str, events: &str, revenue: &str| {
            report(&format!(
                r#"name = "r"
from = "{from}"
joins = [{{ with = "countries", on = {{ country = "code" }}, how = "{how}" }}]
group_by = ["region", "device_right"]
measures = [{{ name = "events", {events} }}, {{ name = "revenue", {revenue} }}]"#
            ))
        };
        let by_values =
            compute(&over("s", r#"metric = "events""#, r#"metric = "revenue""#), Base::Stream(&state), &tables, 0)
                .unwrap();
        let every_row = state.to_unsorted_frame().unwrap();
        let plain = over("rows", r#"agg = "sum", field = "events""#, r#"agg = "sum", field = "revenue""#);
        let general = compute(&plain, Base::Table(every_row), &tables, 0).unwrap();
        assert!(by_values.frame.equals_missing(&general.frame), "{how}:\n{}\n{}", by_values.frame, general.frame);
        assert_eq!(by_values.joins, general.joins, "{how}");
        let join = &by_values.joins[0];
        assert_eq!((join.left_rows, join.matched_left, join.matched_right), (6, 4, 3), "{how}: {join}");
    }
}

#[test]
fn an_inner_join_that_drops_some_rows_and_doubles_others_says_so() {
    let orders = df!("country" => ["DE", "DE", "JP", "FR"], "amount" => [1.0, 2.0, 3.0, 4.0]).unwrap();
    let table = df!("code" => ["DE", "FR", "FR"], "region" => ["EU", "EU", "Europe"]).unwrap();
    let spec = report(
        r#"name = "r"
from = "orders"
joins = [{ with = "countries", on = { country = "code" }, how = "inner" }]
measures = [{ name = "n", agg = "count" }]"#,
    );
    let tables = BTreeMap::from([("countries".to_string(), table)]);
    let stats = compute(&spec, Base::Table(orders), &tables, 0).unwrap().joins.remove(0);
    assert_eq!((stats.left_rows, stats.joined_rows), (4, 4), "as many rows out as in");
    assert_eq!((stats.matched_left, stats.repeated_left, stats.matched_right), (3, 1, 3), "{stats}");
    assert!(stats.multiplies_rows(), "FR met two rows though no more rows came out");
    assert!(stats.to_string().contains("keys repeat in `countries`: 1 row met several of its rows"), "{stats}");
}

#[test]
fn a_range_keeps_the_last_span_before_now() {
    let state =
        rollup(&[(0, "DE", "mobile", 1.0, "u1"), (30, "DE", "mobile", 2.0, "u2"), (59, "FR", "mobile", 4.0, "u3")]);
    let spec = report(
        r#"name = "recent"
from = "s"
range = { last = "30m" }
measures = [{ name = "events", metric = "events" }, { name = "revenue", metric = "revenue" }]"#,
    );
    // Now is minute 60: the last 30 minutes start at minute 30.
    let answer = compute(&spec, Base::Stream(&state), &BTreeMap::new(), 60 * MINUTE).unwrap().frame;
    assert_eq!(floats(&answer, "events"), [Some(2.0)]);
    assert_eq!(floats(&answer, "revenue"), [Some(6.0)]);
}

#[test]
fn values_outside_the_top_n_are_grouped_as_other_with_their_metrics_combined() {
    let state = rollup(&[
        (0, "DE", "mobile", 10.0, "u1"),
        (0, "DE", "mobile", 10.0, "u2"),
        (0, "DE", "desktop", 10.0, "u3"),
        (0, "FR", "mobile", 5.0, "u1"),
        (0, "FR", "mobile", 5.0, "u4"),
        (0, "US", "mobile", 1.0, "u1"),
        (0, "JP", "mobile", 1.0, "u5"),
    ]);
    let spec = report(
        r#"name = "top"
from = "s"
group_by = ["country"]
top = { field = "country", n = 2, by = "events" }
measures = [{ name = "events", metric = "events" }, { name = "users", metric = "users" }]
sort = [{ field = "events", descending = true }]"#,
    );
    let answer = compute(&spec, Base::Stream(&state), &BTreeMap::new(), 0).unwrap().frame;
    let countries: Vec<Option<&str>> = answer.column("country").unwrap().str().unwrap().iter().collect();
    assert_eq!(countries, [Some("DE"), Some("FR"), Some(OTHER)]);
    assert_eq!(floats(&answer, "events"), [Some(3.0), Some(2.0), Some(2.0)]);
    assert_eq!(floats(&answer, "users"), [Some(3.0), Some(2.0), Some(2.0)], "other's users are a union too");
}

#[test]
fn an_asof_join_takes_the_rate_in_force_at_each_bucket() {
    let state = rollup(&[
        (0, "DE", "mobile", 10.0, "u1"),
        (5, "DE", "mobile", 10.0, "u1"),
        (5, "US", "mobile", 10.0, "u1"),
        (30, "DE", "mobile", 10.0, "u2"),
    ]);
    // Rates per country, in milliseconds (the rollup is in µs), published at minutes 0 and 10 (DE) and 3 (US).
    let minute_ms = 60_000_i64;
    let rates = df!(
        "currency_of" => ["DE", "DE", "US"],
        "at" => [0, 10 * minute_ms, 3 * minute_ms],
        "rate" => [1.0, 2.0, 0.5],
    )
    .unwrap()
    .lazy()
    .with_column(col("at").cast(DataType::Datetime(TimeUnit::Milliseconds, None)))
    .collect()
    .unwrap();
    let spec = report(
        r#"name = "converted"
from = "s"
joins = [{ with = "rates", how = "asof", on = { country = "currency_of" }, asof = { right = "at", tolerance = "15m" } }]
group_by = ["country", "rate"]
measures = [{ name = "revenue", metric = "revenue" }]"#,
    );
    let tables = BTreeMap::from([("rates".to_string(), rates)]);
    let answer = compute(&spec, Base::Stream(&state), &tables, 0).unwrap();
    let frame = &answer.frame;
    let countries: Vec<Option<&str>> = frame.column("country").unwrap().str().unwrap().iter().collect();
    // DE at minutes 0 and 5: rate 1; DE at 30: the rate of minute 10 is 20 minutes old, past the tolerance.
    assert_eq!(countries, [Some("DE"), Some("DE"), Some("US")]);
    assert_eq!(floats(frame, "rate"), [Some(1.0), None, Some(0.5)]);
    assert_eq!(floats(frame, "revenue"), [Some(20.0), Some(10.0), Some(10.0)]);
    let matched = &answer.joins[0];
    assert_eq!((matched.left_rows, matched.matched_left, matched.joined_rows), (4, 3, 4), "{matched}");
    assert_eq!(matched.matched_right, 2, "DE's first rate and US's");
}

#[test]
fn a_table_groups_by_calendar_month() {
    let day = |text: &str| chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap();
    let orders = df!(
        "on" => [day("2026-01-31"), day("2026-02-01"), day("2026-02-28"), day("2026-03-01")],
        "amount" => [1.0, 2.0, 4.0, 8.0],
    )
    .unwrap();
    let spec = report(
        r#"name = "monthly"
from = "orders"
time = { field = "on", grain = "1mo" }
measures = [{ name = "total", agg = "sum", field = "amount" }]"#,
    );
    let answer = compute(&spec, Base::Table(orders), &BTreeMap::new(), 0).unwrap().frame;
    assert_eq!(floats(&answer, "total"), [Some(1.0), Some(6.0), Some(8.0)], "January, February, March");
}

#[test]
fn a_report_over_time_is_drawn_one_line_per_value_with_other_last_and_counts_zero_when_quiet() {
    let state = rollup(&[
        (0, "DE", "mobile", 10.0, "u1"),
        (0, "FR", "mobile", 20.0, "u2"),
        (0, "US", "mobile", 1.0, "u3"),
        (3, "DE", "mobile", 30.0, "u1"),
        (3, "JP", "mobile", 2.0, "u4"),
    ]);
    let spec = report(
        r#"name = "per_country"
from = "s"
group_by = ["country"]
time = { grain = "1m" }
top = { field = "country", n = 2, by = "revenue" }
measures = [{ name = "revenue", metric = "revenue" }, { name = "cheapest", metric = "cheapest" }]
chart = { y = "revenue" }"#,
    );
    let stream = crate::model::workbook::test_stream(
        r#"granularity = "1m"
dimensions = ["country", "device"]
metrics = [
  { name = "revenue", kind = "sum", field = "price" },
  { name = "cheapest", kind = "min", field = "price" },
]"#,
    );
    let answer = compute(&spec, Base::Stream(&state), &BTreeMap::new(), 0).unwrap().frame;
    let now = 3 * MINUTE + 10_000_000;
    let drawn = time_chart_of(chart::report_chart(Some(&stream), &spec, &answer, now));
    let lines: Vec<(&str, bool)> = drawn.series.iter().map(|s| (s.label.as_str(), s.is_other)).collect();
    assert_eq!(lines, [("DE", false), ("FR", false), ("other", true)], "largest first, the merged rest last");
    assert_eq!(drawn.series[0].points, [(0, 10.0), (3 * MINUTE, 30.0)]);
    assert_eq!(drawn.series[2].points, [(0, 1.0), (3 * MINUTE, 2.0)], "US and JP merged");
    assert_eq!(drawn.empty, crate::engine::chart::EmptyBuckets::Zero, "a quiet minute had no revenue");
    assert_eq!(drawn.value_at(&drawn.series[0], MINUTE), Some(crate::engine::chart::BucketValue::Value(0.0)));
    assert!(drawn.is_filling(3 * MINUTE) && !drawn.is_filling(0), "the minute holding now is still filling");
    assert_eq!(drawn.y_label, "revenue per 1 min");

    let by_minimum = report(
        r#"name = "per_country"
from = "s"
group_by = ["country"]
time = { grain = "1m" }
measures = [{ name = "revenue", metric = "revenue" }, { name = "cheapest", metric = "cheapest" }]
chart = { y = "cheapest", kind = "area" }"#,
    );
    let answer = compute(&by_minimum, Base::Stream(&state), &BTreeMap::new(), 0).unwrap().frame;
    let drawn = time_chart_of(chart::report_chart(Some(&stream), &by_minimum, &answer, now));
    assert_eq!(drawn.empty, crate::engine::chart::EmptyBuckets::Gap, "a quiet minute has no minimum");
    assert!(drawn.filled);
    let as_table = report(
        "name = \"t\"\nfrom = \"s\"\ngroup_by = [\"country\"]\nmeasures = [{ name = \"revenue\", metric = \"revenue\" }]",
    );
    let answer = compute(&as_table, Base::Stream(&state), &BTreeMap::new(), 0).unwrap().frame;
    assert_eq!(chart::report_chart(Some(&stream), &as_table, &answer, now), Ok(None), "no time: a table");
}

#[test]
fn a_table_report_over_a_range_leaves_out_the_bucket_the_range_cuts() {
    let hour = 60 * MINUTE;
    let orders = df!(
        "at" => [55 * MINUTE, 70 * MINUTE, 130 * MINUTE, 135 * MINUTE],
        "amount" => [1.0, 2.0, 3.0, 4.0],
    )
    .unwrap()
    .lazy()
    .with_column(col("at").cast(DataType::Datetime(TimeUnit::Microseconds, None)))
    .collect()
    .unwrap();
    let spec = report(
        r#"name = "hourly"
from = "orders"
time = { field = "at", grain = "1h" }
range = { last = "100m" }
measures = [{ name = "orders", agg = "count" }, { name = "total", agg = "sum", field = "amount" }]"#,
    );
    let now = 150 * MINUTE;
    let answer = compute(&spec, Base::Table(orders), &BTreeMap::new(), now).unwrap().frame;
    let drawn = time_chart_of(chart::report_chart(None, &spec, &answer, now));
    assert_eq!(drawn.series.len(), 1);
    assert_eq!(drawn.series[0].label, "orders");
    assert!(drawn.integral, "counts are whole numbers");
    let counts: Vec<Option<f64>> = floats(&answer, "orders");
    assert_eq!(counts, [Some(1.0), Some(1.0), Some(2.0)], "the answer keeps the hour the range cuts (0:50–1:00)");
    assert_eq!(drawn.first_bucket(), hour);
    assert_eq!(drawn.series[0].points, [(hour, 1.0), (2 * hour, 2.0)], "the chart leaves the partial hour out");
    assert_eq!(drawn.filling_from, None, "a table's buckets are not filling");
    assert_eq!((drawn.start_micros, drawn.end_micros), (50 * MINUTE, now));
}

#[test]
fn a_derived_column_converts_each_rollup_row_at_its_own_rate_before_summing() {
    let state = rollup(&[
        (0, "DE", "mobile", 10.0, "u1"),
        (0, "US", "mobile", 30.0, "u1"),
        (5, "DE", "mobile", 20.0, "u2"),
        (12, "DE", "desktop", 40.0, "u3"),
    ]);
    // One rate for all, published at minutes 0 and 10 (as a JSON API writes times: text, with
    // an offset that counts): EUR = USD / rate.
    let rates = df!("at" => ["1970-01-01T00:00:00+00:00", "1970-01-01T01:10:00+01:00"], "usd" => [2.0, 4.0]).unwrap();
    let spec = report(
        r#"name = "in_eur"
from = "s"
joins = [{ with = "rates", how = "asof", asof = { right = "at" } }]
derive = [
  { name = "revenue_eur", expr = "revenue / usd" },
  { name = "big", expr = "if(revenue_eur >= 10, 'yes', 'no')" },
]
group_by = ["big"]
measures = [{ name = "eur", agg = "sum", field = "revenue_eur" }, { name = "usd", metric = "revenue" }]"#,
    );
    let tables = BTreeMap::from([("rates".to_string(), rates)]);
    let frame = compute(&spec, Base::Stream(&state), &tables, 0).unwrap().frame;
    // Per rollup row: 10/2 = 5 (no), 30/2 = 15 (yes), 20/2 = 10 (yes), 40/4 = 10 (yes).
    let big: Vec<Option<&str>> = frame.column("big").unwrap().str().unwrap().iter().collect();
    assert_eq!(big, [Some("no"), Some("yes")]);
    assert_eq!(floats(&frame, "eur"), [Some(5.0), Some(35.0)], "each row at the rate of its own minute");
    assert_eq!(floats(&frame, "usd"), [Some(10.0), Some(90.0)]);
}

#[test]
fn derived_columns_compute_text_dates_casts_and_a_null_for_division_by_zero() {
    let day = |text: &str| chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap();
    let orders = df!(
        "day" => [day("2026-01-05"), day("2026-02-07"), day("2026-02-08")],
        "country" => ["de", "Fr", "de"],
        "amount" => [10_i64, 7, 5],
        "items" => [2_i64, 0, 1],
        "note" => [None, Some("gift"), None],
    )
    .unwrap();
    let spec = report(
        r#"name = "derived"
from = "orders"
derive = [
  { name = "code", expr = "upper(country)" },
  { name = "month", expr = "month(day)" },
  { name = "per_item", expr = "amount / items" },
  { name = "half", expr = "int(amount / 2)" },
  { name = "label", expr = "coalesce(note, text(amount))" },
]
group_by = ["code", "month", "per_item", "half", "label"]
measures = [{ name = "n", agg = "count" }]"#,
    );
    let frame = compute(&spec, Base::Table(orders), &BTreeMap::new(), 0).unwrap().frame;
    let text = |name: &str| -> Vec<Option<String>> {
        let column = frame.column(name).unwrap().cast(&DataType::String).unwrap();
        column.str().unwrap().iter().map(|v| v.map(str::to_string)).collect()
    };
    let some = |values: &[&str]| values.iter().map(|v| Some((*v).to_string())).collect::<Vec<_>>();
    assert_eq!(text("code"), some(&["DE", "DE", "FR"]));
    assert_eq!(text("month"), some(&["1", "2", "2"]));
    assert_eq!(floats(&frame, "per_item"), [Some(5.0), Some(5.0), None], "7 / 0 is null, not infinity");
    assert_eq!(text("half"), some(&["5", "2", "3"]), "int() cuts towards zero: 10/2, 5/2, 7/2");
    assert_eq!(text("label"), some(&["10", "5", "gift"]));
}

#[test]
fn a_derived_column_over_a_missing_field_names_it_and_the_fields_there_are() {
    let orders = df!("amount" => [1_i64], "items" => [1_i64]).unwrap();
    let spec = report(
        r#"name = "derived"
from = "orders"
derive = [{ name = "x", expr = "amount * price" }]
measures = [{ name = "n", agg = "count" }]"#,
    );
    let error = compute(&spec, Base::Table(orders), &BTreeMap::new(), 0).unwrap_err().to_string();
    assert!(error.contains("derived column `x`: there is no field `price`"), "{error}");
    assert!(error.contains("amount, items"), "{error}");
}

#[test]
fn bars_per_region_stack_per_device_largest_first_and_a_big_number_is_its_last_whole_minute() {
    let state = rollup(&[
        (0, "DE", "mobile", 10.0, "u1"),
        (0, "DE", "desktop", 5.0, "u2"),
        (1, "FR", "mobile", 2.0, "u3"),
        (2, "US", "mobile", 50.0, "u1"),
        (2, "US", "mobile", 20.0, "u4"),
    ]);
    let stream = crate::model::workbook::test_stream(
        r#"granularity = "1m"
dimensions = ["country", "device"]
metrics = [{ name = "events", kind = "count" }, { name = "revenue", kind = "sum", field = "price" }]"#,
    );
    let spec = report(
        r#"name = "bars"
from = "s"
joins = [{ with = "countries", on = { country = "code" } }]
group_by = ["region", "device"]
measures = [{ name = "events", metric = "events" }, { name = "revenue", metric = "revenue" }]
chart = { kind = "bar", y = "revenue", series = "device", stacked = true }"#,
    );
    let answer = compute(&spec, Base::Stream(&state), &countries(), 0).unwrap().frame;
    let Ok(Some(ReportChart::Bars(bars))) = chart::report_chart(Some(&stream), &spec, &answer, 0) else {
        panic!("bars expected")
    };
    // North America 70, Europe 17: the larger first; mobile (82) before desktop (5).
    assert_eq!(bars.categories, ["NA", "EU"]);
    assert_eq!(bars.category_label, "region");
    let series: Vec<(&str, Vec<Option<f64>>)> =
        bars.series.iter().map(|s| (s.label.as_str(), s.values.clone())).collect();
    assert_eq!(series, [("mobile", vec![Some(70.0), Some(12.0)]), ("desktop", vec![None, Some(5.0)])]);
    assert!(bars.stacked && !bars.integral);
    assert_eq!(bars.value_range(), (0.0, 70.0));

    let number = report(
        r#"name = "n"
from = "s"
time = { grain = "1m" }
measures = [{ name = "events", metric = "events" }]
chart = { kind = "big_number" }"#,
    );
    let answer = compute(&number, Base::Stream(&state), &BTreeMap::new(), 0).unwrap().frame;
    let now = 2 * MINUTE + 5_000_000;
    let Ok(Some(ReportChart::Number(big))) = chart::report_chart(Some(&stream), &number, &answer, now) else {
        panic!("a big number expected")
    };
    assert_eq!((big.value, big.integral), (Some(1.0), true), "minute 2 is filling: minute 1 had one event");
    assert_eq!(big.change(), Some(-0.5), "against minute 0's two events");
}

/// `spec` computed over `state` (with a pivot's totals) and drawn as `now` sees it.
fn drawn(state: &RollupState, spec: &ReportSpec, now: i64) -> (DataFrame, ReportChart) {
    let answer = answered(spec, Base::Stream(state), &countries(), now).unwrap();
    match chart::answer_chart(Some(&shop_stream()), spec, &answer, now) {
        Ok(Some(chart)) => (answer.frame, chart),
        other => panic!("report `{}` drew no chart: {other:?}", spec.name),
    }
}

/// The workbook's own checks of `spec` against [`shop_stream`] and a `countries` import.
fn problems_of(spec: &ReportSpec) -> Vec<String> {
    let stream = shop_stream();
    spec.problems(&crate::model::reports::Datasets {
        streams: std::slice::from_ref(&stream),
        imports: vec!["countries"],
    })
}

/// A report parsed from `text` that the workbook's checks accept.
fn checked(text: &str) -> ReportSpec {
    let spec = report(text);
    assert_eq!(problems_of(&spec), Vec::<String>::new(), "{text}");
    spec
}

fn shop_stream() -> crate::model::StreamSpec {
    crate::model::workbook::test_stream(
        r#"granularity = "1m"
dimensions = ["country", "device"]
metrics = [
  { name = "events", kind = "count" },
  { name = "revenue", kind = "sum", field = "price" },
  { name = "avg_price", kind = "mean", field = "price" },
  { name = "users", kind = "approx_distinct", field = "user" },
]"#,
    )
}

#[test]
fn a_pie_shares_out_revenue_per_region_and_refuses_a_measure_that_does_not_add_up() {
    let state =
        rollup(&[(0, "DE", "mobile", 10.0, "u1"), (0, "FR", "desktop", 20.0, "u2"), (1, "US", "mobile", 90.0, "u3")]);
    let spec = checked(
        r#"name = "pie"
from = "s"
joins = [{ with = "countries", on = { country = "code" } }]
group_by = ["region"]
measures = [{ name = "revenue", metric = "revenue" }, { name = "users", metric = "users" }]
chart = { kind = "donut", y = "revenue" }"#,
    );
    let (_, ReportChart::Pie(pie)) = drawn(&state, &spec, 0) else { panic!("a pie expected") };
    let slices: Vec<(&str, f64, f64)> = pie.slices.iter().map(|s| (s.label.as_str(), s.value, s.share)).collect();
    assert_eq!(slices, [("NA", 90.0, 0.75), ("EU", 30.0, 0.25)]);
    assert!(pie.donut && (pie.total - 120.0).abs() < 1e-9);

    let mut of_users = spec.clone();
    of_users.chart = Some(crate::model::reports::ChartSpec {
        kind: crate::model::reports::ChartKind::Pie,
        y: Some("users".into()),
        ..Default::default()
    });
    let problems = problems_of(&of_users);
    assert!(problems.iter().any(|p| p.contains("must add up") && p.contains("`users`")), "{problems:?}");
}

#[test]
fn a_scatter_puts_one_point_per_country_with_its_two_measures() {
    let state =
        rollup(&[(0, "DE", "mobile", 10.0, "u1"), (0, "DE", "desktop", 30.0, "u2"), (1, "US", "mobile", 5.0, "u3")]);
    let spec = report(
        r#"name = "scatter"
from = "s"
group_by = ["country"]
measures = [{ name = "revenue", metric = "revenue" }, { name = "avg_price", metric = "avg_price" }]
chart = { kind = "scatter", x = "avg_price", y = "revenue" }"#,
    );
    let (_, ReportChart::Scatter(scatter)) = drawn(&state, &spec, 0) else { panic!("a scatter expected") };
    assert_eq!((scatter.x_label.as_str(), scatter.y_label.as_str()), ("avg_price", "revenue"));
    let mut points: Vec<(String, f64, f64)> =
        scatter.series.iter().flat_map(|s| &s.points).map(|p| (p.label.clone(), p.x, p.y)).collect();
    points.sort_by(|a, b| a.0.cmp(&b.0));
    // Germany's mean price is Σsum / Σcount over its two rollup rows: 40 / 2.
    assert_eq!(points, [("DE".to_string(), 20.0, 40.0), ("US".to_string(), 5.0, 5.0)]);
}

#[test]
fn a_heatmap_over_time_has_every_minute_of_the_span_and_zero_where_nothing_happened() {
    let state = rollup(&[
        (0, "DE", "mobile", 10.0, "u1"),
        (0, "DE", "mobile", 10.0, "u2"),
        (3, "DE", "mobile", 10.0, "u1"),
        (3, "FR", "mobile", 1.0, "u3"),
    ]);
    let spec = report(
        r#"name = "heat"
from = "s"
time = { grain = "1m" }
group_by = ["country"]
measures = [{ name = "events", metric = "events" }, { name = "avg_price", metric = "avg_price" }]
chart = { kind = "heatmap" }"#,
    );
    let now = 10 * MINUTE;
    let (_, ReportChart::Heatmap(map)) = drawn(&state, &spec, now) else { panic!("a heatmap expected") };
    assert_eq!(map.rows, ["DE", "FR"], "the busier row first");
    let crate::engine::chart::heatmap::HeatColumns::Times { starts, .. } = &map.columns else { panic!("time columns") };
    assert_eq!(starts, &[0, MINUTE, 2 * MINUTE, 3 * MINUTE], "every minute of the span, the quiet ones too");
    assert_eq!(map.cells[0], [Some(2.0), Some(0.0), Some(0.0), Some(1.0)], "counts are zero where nothing happened");
    assert_eq!(map.cells[1], [Some(0.0), Some(0.0), Some(0.0), Some(1.0)]);

    let mut of_means = spec.clone();
    of_means.chart = Some(crate::model::reports::ChartSpec {
        kind: crate::model::reports::ChartKind::Heatmap,
        y: Some("avg_price".into()),
        ..Default::default()
    });
    let (_, ReportChart::Heatmap(means)) = drawn(&state, &of_means, now) else { panic!("a heatmap expected") };
    assert_eq!(means.cells[1], [None, None, None, Some(1.0)], "a mean of nothing is no value, not zero");
}

#[test]
fn bars_over_time_have_a_bar_per_minute_of_the_span_split_by_their_one_group_by_field() {
    let state = rollup(&[
        (0, "DE", "mobile", 10.0, "u1"),
        (0, "DE", "desktop", 10.0, "u2"),
        (2, "DE", "mobile", 10.0, "u1"),
        (2, "FR", "mobile", 1.0, "u3"),
        (2, "FR", "mobile", 1.0, "u4"),
    ]);
    let spec = checked(
        r#"name = "bars_over_time"
from = "s"
time = { grain = "1m" }
group_by = ["device"]
measures = [{ name = "events", metric = "events" }]
chart = { kind = "bar", stacked = true }"#,
    );
    let (_, ReportChart::Bars(bars)) = drawn(&state, &spec, 2 * MINUTE + 1) else { panic!("bars expected") };
    let times = bars.times.as_ref().expect("bars over time");
    assert_eq!(times.starts, [0, MINUTE, 2 * MINUTE], "a bar per minute, the quiet one too");
    assert_eq!(times.filling_from, Some(2 * MINUTE), "minute 2 is still filling");
    let series: Vec<(&str, Vec<Option<f64>>)> =
        bars.series.iter().map(|s| (s.label.as_str(), s.values.clone())).collect();
    assert_eq!(series, [("mobile", vec![Some(1.0), None, Some(3.0)]), ("desktop", vec![Some(1.0), None, None])]);
    assert!(bars.stacked && bars.integral);

    let mut two_fields = spec.clone();
    two_fields.group_by.push("country".into());
    let problems = problems_of(&two_fields);
    assert!(problems.iter().any(|p| p.contains("bars over time")), "{problems:?}");
}

#[test]
fn a_pivots_totals_are_the_measure_over_their_whole_group_not_sums_of_cells() {
    let state = rollup(&[
        (0, "DE", "mobile", 10.0, "u1"),
        (0, "DE", "desktop", 20.0, "u1"),
        (0, "DE", "desktop", 30.0, "u2"),
        (1, "FR", "mobile", 5.0, "u1"),
        (1, "FR", "mobile", 5.0, "u3"),
    ]);
    let spec = checked(
        r#"name = "pivot"
from = "s"
group_by = ["country", "device"]
measures = [{ name = "users", metric = "users" }, { name = "avg_price", metric = "avg_price" }]
chart = { kind = "pivot", y = "users", columns = "device" }"#,
    );
    let (_, ReportChart::Pivot(pivot)) = drawn(&state, &spec, 0) else { panic!("a pivot expected") };
    assert_eq!(pivot.row_fields, ["country"]);
    assert_eq!(pivot.columns, ["mobile", "desktop"], "by size: 3 users on mobile cells, 2 on desktop");
    let rows: Vec<_> = pivot.rows.iter().map(|r| (r.keys.join(","), r.cells.clone(), r.total)).collect();
    assert_eq!(
        rows,
        [
            ("DE".to_string(), vec![Some(1.0), Some(2.0)], Some(2.0)),
            ("FR".to_string(), vec![Some(2.0), None], Some(2.0))
        ],
        "Germany's users are u1 and u2: two, not the three its cells add up to"
    );
    assert_eq!(pivot.column_totals, [Some(2.0), Some(2.0)], "mobile: u1 and u3 (u1 is in both countries)");
    assert_eq!(pivot.grand_total, Some(3.0));

    let mut of_means = spec.clone();
    of_means.chart.as_mut().unwrap().y = Some("avg_price".into());
    let (_, ReportChart::Pivot(means)) = drawn(&state, &of_means, 0) else { panic!("a pivot expected") };
    assert_eq!(means.grand_total, Some(14.0), "Σprice / Σevents = 70 / 5, not a mean of the cells' means");
    let germany = means.rows.iter().find(|r| r.keys == ["DE"]).unwrap();
    assert_eq!(germany.total, Some(20.0), "60 / 3");
}

/// Distinct values of a dimension (or of a joined column) counted over rollup
/// rows equal those counted over the events; a metric's column is refused.
#[test]
fn a_count_distinct_of_a_dimension_over_rollup_rows_is_the_count_over_the_events() {
    let events = [
        (0, "DE", "mobile", 1.0, "u1"),
        (0, "DE", "desktop", 1.0, "u1"),
        (0, "FR", "mobile", 1.0, "u2"),
        (0, "US", "tablet", 1.0, "u3"),
        (1, "DE", "mobile", 1.0, "u1"),
        (1, "FR", "tablet", 1.0, "u2"),
    ];
    let state = rollup(&events);
    let spec = checked(
        r#"name = "devices_per_region"
from = "s"
joins = [{ with = "countries", on = { country = "code" } }]
group_by = ["region"]
measures = [
  { name = "devices", agg = "count_distinct", field = "device" },
  { name = "countries", agg = "count_distinct", field = "country" },
]
sort = [{ field = "region" }]"#,
    );
    let answer = compute(&spec, Base::Stream(&state), &countries(), 0).unwrap().frame;
    // Counted over the events themselves: EU saw mobile, desktop and tablet in DE and FR; NA a tablet in US.
    let count = |column: &str| -> Vec<Option<i64>> { answer.column(column).unwrap().i64().unwrap().iter().collect() };
    assert_eq!(count("devices"), [Some(3), Some(1)], "{answer}");
    assert_eq!(count("countries"), [Some(2), Some(1)], "{answer}");
    let refused = report(
        r#"name = "r"
from = "s"
measures = [{ name = "n", agg = "count_distinct", field = "revenue" }]"#,
    );
    assert!(problems_of(&refused).iter().any(|problem| problem.contains("combines its metrics")), "a metric's column");
}

/// A refresh waits eight times its last computation, at most a second, and
/// at least twice the computation: cheap live refreshes follow every
/// snapshot, a costly one never takes more than an eighth of a core unless
/// that would leave it refreshing less than once a second.
#[test]
fn a_refresh_backs_off_by_its_cost_but_comes_at_least_once_a_second() {
    let ms = std::time::Duration::from_millis;
    assert_eq!(refresh_back_off(ms(3)), ms(24));
    assert_eq!(refresh_back_off(ms(200)), ms(1_000));
    assert_eq!(refresh_back_off(ms(700)), ms(1_400));
}

/// A report that reads few of a rollup's dimensions and no time reads the
/// rollup merged over the rest (`coarse`): the same answer, and its joins
/// count the stream's rows, as over every rollup row.
#[test]
fn a_report_over_few_dimensions_reads_a_merged_rollup_and_answers_and_counts_the_same() {
    let mut events = Vec::new();
    let (countries_seen, devices) = (["DE", "FR", "US", "JP"], ["mobile", "desktop", "tablet"]);
    for n in 0..400_i64 {
        let price = if n % 7 == 0 { f64::NAN } else { (n % 13) as f64 * 1.5 };
        let user = ["u1", "u2", "u3", "u4", "u5"][(n % 5) as usize];
        events.push((n % 9, countries_seen[(n % 4) as usize], devices[(n % 3) as usize], price, user));
    }
    let state = rollup(&events);
    let measures = r#"measures = [
  { name = "events", metric = "events" },
  { name = "revenue", metric = "revenue" },
  { name = "avg_price", metric = "avg_price" },
  { name = "cheapest", metric = "cheapest" },
  { name = "users", metric = "users" },
  { name = "median", metric = "price" },
]"#;
    for how in ["inner", "left"] {
        let spec = report(&format!(
            r#"name = "r"
from = "s"
joins = [{{ with = "countries", on = {{ country = "code" }}, how = "{how}" }}]
group_by = ["region"]
{measures}"#
        ));
        let merged = coarse::coarse_rollup(&state, &spec, &countries()).expect("the report reads one dimension");
        assert_eq!(merged.rollup.row_count(), 4, "one row per country");
        let over_merged = compute_over(&spec, Base::Stream(&state), &countries(), 0, true).unwrap();
        let over_every_row = compute_over(&spec, Base::Stream(&state), &countries(), 0, false).unwrap();
        assert!(
            over_merged.frame.equals_missing(&over_every_row.frame),
            "{}\n{}",
            over_merged.frame,
            over_every_row.frame
        );
        assert_eq!(over_merged.joins, over_every_row.joins, "{how}: counted in the stream's rows");
        assert_eq!(over_merged.joins[0].left_rows, state.row_count() as u64);
    }
    // A second join goes the general way, and counts the stream's rows too.
    let twice = report(&format!(
        r#"name = "r"
from = "s"
joins = [{{ with = "countries", on = {{ country = "code" }}, how = "left" }}, {{ with = "regions", on = {{ region = "name" }} }}]
group_by = ["continent"]
{measures}"#
    ));
    let mut tables = countries();
    tables.insert("regions".into(), df!("name" => ["EU", "NA"], "continent" => ["Europe", "America"]).unwrap());
    let over_merged = compute_over(&twice, Base::Stream(&state), &tables, 0, true).unwrap();
    let over_every_row = compute_over(&twice, Base::Stream(&state), &tables, 0, false).unwrap();
    assert!(over_merged.frame.equals_missing(&over_every_row.frame), "{}\n{}", over_merged.frame, over_every_row.frame);
    assert_eq!(over_merged.joins, over_every_row.joins);
}

/// Merging rows would change what a report answers when it filters on a
/// metric's per-row value or aggregates a column itself: then it reads every
/// row. Grouping by time keeps the buckets.
#[test]
fn a_rollup_is_not_merged_where_that_would_change_the_answer() {
    let state =
        rollup(&[(0, "DE", "mobile", 10.0, "u1"), (0, "DE", "desktop", 4.0, "u2"), (1, "DE", "mobile", 5.0, "u2")]);
    let tables = countries();
    let declined = |text: &str| coarse::coarse_rollup(&state, &report(text), &tables).is_none();
    assert!(declined(
        r#"name = "r"
from = "s"
filters = [{ field = "revenue", op = ">", value = 5 }]
group_by = ["country"]
measures = [{ name = "events", metric = "events" }]"#
    ));
    assert!(declined(
        r#"name = "r"
from = "s"
group_by = ["country"]
measures = [{ name = "rows", agg = "count" }]"#
    ));
    let per_minute = report(
        r#"name = "r"
from = "s"
time = { grain = "1m" }
group_by = ["country"]
measures = [{ name = "events", metric = "events" }]"#,
    );
    let merged = coarse::coarse_rollup(&state, &per_minute, &tables).expect("device is not read");
    assert_eq!(merged.rollup.row_count(), 2, "DE in minute 0 and in minute 1");
    assert_eq!(merged.rows_merged, [2, 1]);
}
