//! The workbench window, driven through `egui_kittest` on the real app with the
//! real engine and the embedded demo broker; widgets are found by label.

use std::sync::Arc;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use tidepool::ui::app::Persisted;
use tidepool::ui::{Launch, TidepoolApp};

/// The one way tests open the window: the real app in a 1280×800 harness.
fn open_window(launch: Launch) -> Harness<'static, TidepoolApp> {
    let app = TidepoolApp::new(Persisted::default(), launch, None, Arc::new(|| {}));
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_ui_state(|ui, app: &mut TidepoolApp| app.frame_ui(ui), app)
}

/// Steps frames until `done` holds, or fails after `timeout` saying what it waited for.
fn step_until(
    harness: &mut Harness<'static, TidepoolApp>,
    what: &str,
    done: impl Fn(&Harness<'static, TidepoolApp>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_mins(1);
    while Instant::now() < deadline {
        harness.step();
        if done(harness) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out after 60 s waiting for {what}; the window shows:\n{:#?}", harness.root());
}

/// Clicks the widget labelled `label` and steps until `done` holds, clicking
/// it again each second meanwhile. A click lands where the widget was drawn
/// in the last frame, and the demo's left panel can move between two frames
/// (an import lands, a line grows) when the machine is busy: one lost click
/// must not fail a test.
fn click_until(
    harness: &mut Harness<'static, TidepoolApp>,
    label: &str,
    what: &str,
    done: impl Fn(&Harness<'static, TidepoolApp>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_mins(1);
    while Instant::now() < deadline {
        harness.get_by_label(label).click();
        let again = Instant::now() + Duration::from_secs(1);
        while Instant::now() < again {
            harness.step();
            if done(harness) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("timed out after 60 s clicking `{label}` for {what}; the window shows:\n{:#?}", harness.root());
}

/// Opens report `name` from the left panel.
fn open_report(harness: &mut Harness<'static, TidepoolApp>, name: &str) {
    click_until(harness, name, &format!("report {name} to open"), |h| {
        h.state().session.as_ref().and_then(|s| s.report.as_ref()).is_some_and(|r| r.name == name)
    });
}

/// Opens the report builder on a new report.
fn open_new_report(harness: &mut Harness<'static, TidepoolApp>) {
    click_until(harness, "+ New report", "the report builder", |h| h.state().report_builder.is_some());
}

/// What the window knows of one stream.
fn stream<'h>(
    harness: &'h Harness<'static, TidepoolApp>,
    name: &str,
) -> Option<&'h tidepool::ui::session::StreamState> {
    harness.state().session.as_ref().and_then(|session| session.streams.get(name))
}

/// The latest view data the engine sent for one stream.
fn view_of(harness: &Harness<'static, TidepoolApp>, name: &str) -> Option<Arc<tidepool::engine::StreamViewData>> {
    stream(harness, name).and_then(|state| state.view.clone())
}

/// The demo window, one at a time: each demo runs an embedded broker, a
/// backfill producer and three imports, and several at once on a 2-core
/// machine starve each other past the tests' patience.
fn demo_window() -> (std::sync::MutexGuard<'static, ()>, Harness<'static, TidepoolApp>) {
    static ONE_DEMO_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let turn = ONE_DEMO_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut harness = open_window(Launch::Demo { rate: 2_000 });
    // The demo has two streams on the one topic: any of them live will do.
    step_until(&mut harness, "the demo streams to go live", |h| {
        h.query_all_by_label_contains("live ").next().is_some() || h.query_all_by_label("caught up").next().is_some()
    });
    (turn, harness)
}

#[test]
fn the_demo_imports_its_exchange_rates_from_its_own_api() {
    let (_turn, mut harness) = demo_window();
    step_until(&mut harness, "the demo's rates import", |h| h.query_by_label_contains("version 1 · 90 rows").is_some());
    assert!(harness.query_by_label("exchange_rates").is_some());
    assert_eq!(harness.query_all_by_label_contains("next run").count(), 4, "each demo import runs again");
}

/// The demo's joined report: the live stream per minute and region, its
/// countries looked up in an imported table; every country has its region.
#[test]
fn the_demo_report_joins_the_live_stream_with_the_countries_table() {
    let (_turn, mut harness) = demo_window();
    step_until(&mut harness, "the countries table", |h| h.query_by_label_contains("version 1 · 12 rows").is_some());
    open_report(&mut harness, "regions_per_minute");
    step_until(&mut harness, "the report's answer", |h| {
        let report = h.state().session.as_ref().and_then(|s| s.report.as_ref());
        report.and_then(|r| r.answer.as_ref()).is_some_and(|answer| answer.height() > 0)
    });
    let session = harness.state().session.as_ref().unwrap();
    let report = session.report.as_ref().unwrap();
    let join = &report.joins[0];
    // Rows without a match are the few events without a country (the demo sends some incomplete ones).
    assert!(
        join.matched_left * 100 >= join.left_rows * 99,
        "nearly every rollup row's country is in the table: {join}"
    );
    assert!(!join.multiplies_rows(), "{join}");
    let answer = report.answer.as_ref().unwrap();
    let regions = answer.column("region").unwrap().str().unwrap().clone();
    let known = ["North America", "Europe", "South America", "Asia"];
    assert!(regions.iter().flatten().all(|r| known.contains(&r)), "{answer}");
    assert!(regions.iter().flatten().count() > 0, "{answer}");
    let events: i64 = answer.column("events").unwrap().i64().unwrap().iter().flatten().sum();
    assert!(events > 0, "{events} events");
    let chart = report.chart.as_ref().and_then(tidepool::engine::chart::ReportChart::as_time);
    let chart = chart.expect("the report is drawn over time");
    assert_eq!(chart.y_label, "revenue per 1 min");
    let drawn: f64 = chart.series.iter().flat_map(|s| &s.points).map(|(_, value)| value).sum();
    let buckets = answer.column("bucket").unwrap().cast(&polars::prelude::DataType::Int64).unwrap();
    let revenues = answer.column("revenue").unwrap().f64().unwrap().clone();
    let revenue: f64 = buckets
        .i64()
        .unwrap()
        .iter()
        .zip(revenues.iter())
        .filter(|(bucket, _)| bucket.is_some_and(|b| b >= chart.first_bucket()))
        .filter_map(|(_, revenue)| revenue)
        .sum();
    assert!(
        (drawn - revenue).abs() < 1e-6 * revenue.max(1.0),
        "the chart draws the answer's whole minutes: {drawn} vs {revenue}"
    );
    assert!(chart.series.iter().all(|s| known.contains(&s.label.as_str())), "one line per region");
    assert_eq!(chart.end_micros - chart.start_micros, 30 * 60 * 1_000_000, "the x-axis is the report's range");
    // The report reads snapshots published every 100 ms, the stream's status
    // comes once a second: the events it counted are ones the stream reports soon after.
    step_until(&mut harness, "the stream's count to reach the report's", |h| {
        h.state().session.as_ref().is_some_and(|s| s.streams["clicks"].stats.events >= events as u64)
    });
    step_until_shown(&mut harness, "join with `countries`");
}

/// The demo's other joined reports: revenue per product category (the
/// catalogue import) and in euros (an as-of join with the rates API's import
/// and a derived column), checked against what the data allows.
#[test]
fn the_demo_reports_revenue_per_category_and_in_euros() {
    let (_turn, mut harness) = demo_window();
    step_until(&mut harness, "the rates and the catalogue", |h| {
        h.query_by_label_contains("version 1 · 90 rows").is_some()
            && h.query_by_label_contains("version 1 · 120 rows").is_some()
    });
    open_report(&mut harness, "revenue_in_eur");
    let answer = report_answer(&mut harness, "revenue_in_eur");
    let usd = answer.column("revenue_usd").unwrap().f64().unwrap().clone();
    let eur = answer.column("revenue_eur").unwrap().f64().unwrap().clone();
    let mut converted = 0;
    for (usd, eur) in usd.iter().zip(eur.iter()) {
        let (Some(usd), Some(eur)) = (usd, eur) else { continue };
        // The API's dollar rate stays within 1% of 1.08 dollars per euro.
        assert!(
            eur >= usd / (1.08 * 1.01) - 1e-6 && eur <= usd / (1.08 * 0.99) + 1e-6,
            "{usd} USD is {eur} EUR?\n{answer}"
        );
        converted += usize::from(usd > 0.0);
    }
    assert!(converted > 0, "some minutes have revenue in euros:\n{answer}");
    let categories: std::collections::HashSet<&str> = include_str!("../../assets/demo-products.csv")
        .lines()
        .skip(1)
        .filter_map(|line| line.split(',').nth_back(2))
        .collect();
    open_report(&mut harness, "revenue_by_category");
    let answer = report_answer(&mut harness, "revenue_by_category");
    let shown = answer.column("category").unwrap().str().unwrap().clone();
    assert!(shown.iter().flatten().all(|c| categories.contains(c)), "{categories:?}\n{answer}");
    let orders: i64 = answer.column("orders").unwrap().i64().unwrap().iter().flatten().sum();
    let revenue: f64 = answer.column("revenue").unwrap().f64().unwrap().iter().flatten().sum();
    // Each order is 1–4 items of 4.99–254.98.
    assert!(orders > 0 && revenue >= orders as f64 * 4.99 && revenue <= orders as f64 * 4.0 * 254.99, "{answer}");

    // Orders by customer segment: the orders-only stream joined with the customers import.
    step_until(&mut harness, "the customers", |h| h.query_by_label_contains("version 1 · 20,000 rows").is_some());
    click_listed(&mut harness, "orders_by_segment");
    let answer = report_answer(&mut harness, "orders_by_segment");
    // A malformed order without a `user` has no customer: its segment is empty, as the join left it.
    let segments: std::collections::HashSet<&str> =
        answer.column("segment").unwrap().str().unwrap().iter().flatten().collect();
    assert!(
        !segments.is_empty() && segments.is_subset(&["consumer", "student", "business"].into()),
        "every known buyer is a customer with a segment: {segments:?}\n{answer}"
    );
    let segment = answer.column("segment").unwrap().str().unwrap().clone();
    let orders = answer.column("orders").unwrap().i64().unwrap().clone();
    let buyers = answer.column("buyers").unwrap().i64().unwrap().clone();
    let revenue = answer.column("revenue").unwrap().f64().unwrap().clone();
    let mut known_orders = 0;
    for (((segment, orders), buyers), revenue) in
        segment.iter().zip(orders.iter()).zip(buyers.iter()).zip(revenue.iter())
    {
        let (Some(_), Some(orders), Some(buyers), Some(revenue)) = (segment, orders, buyers, revenue) else {
            continue;
        };
        assert!(orders > 0 && buyers > 0 && buyers <= orders, "{orders} orders by {buyers} buyers?\n{answer}");
        assert!(revenue >= orders as f64 * 4.99 && revenue <= orders as f64 * 4.0 * 254.99, "{answer}");
        known_orders += orders;
    }
    let all_orders: i64 = orders.iter().flatten().sum();
    assert!(known_orders * 100 >= all_orders * 95, "nearly every order has a known buyer:\n{answer}");
    let orders_stream = stream(&harness, "orders").expect("the demo's orders stream");
    assert!(orders_stream.stats.filtered > orders_stream.stats.events, "most clicks are not orders and are left out");
}

/// The demo's donut, heatmap and scatter: each drawn from its answer, with
/// the numbers the answer holds (shares of the revenue, every minute of the
/// half hour, one point per country).
#[test]
fn the_demo_draws_a_donut_a_heatmap_and_a_scatter_from_their_answers() {
    use tidepool::engine::chart::ReportChart;
    let (_turn, mut harness) = demo_window();
    step_until(&mut harness, "the countries table", |h| h.query_by_label_contains("version 1 · 12 rows").is_some());
    let chart_of = |harness: &mut Harness<'static, TidepoolApp>, name: &str| {
        click_listed(harness, name);
        let answer = report_answer(harness, name);
        step_until(harness, &format!("the chart of {name}"), |h| {
            h.state().session.as_ref().and_then(|s| s.report.as_ref()).is_some_and(|r| r.chart.is_some())
        });
        let report = harness.state().session.as_ref().and_then(|s| s.report.as_ref()).unwrap();
        assert_eq!(report.chart_error, None, "{name}");
        (answer, report.chart.clone().unwrap())
    };

    let (answer, chart) = chart_of(&mut harness, "revenue_share_by_region");
    let ReportChart::Pie(pie) = chart else { panic!("a donut: {chart:?}") };
    let revenue: f64 = answer.column("revenue").unwrap().f64().unwrap().iter().flatten().sum();
    assert!(pie.donut && (pie.total - revenue).abs() < 1e-6 * revenue.max(1.0), "{} vs {revenue}", pie.total);
    let shares: f64 = pie.slices.iter().map(|slice| slice.share).sum();
    assert!((shares - 1.0).abs() < 1e-9, "the slices make the whole: {shares}");
    step_until_shown(&mut harness, "revenue by region");
    // A click on a legend entry hides its slice; the rest share out what is shown.
    let largest = pie.slices[0].label.clone();
    harness.query_all_by_label_contains(&format!("{largest}  ")).next().expect("the largest slice's entry").click();
    step_until_shown(&mut harness, "(hidden)");
    step_until_shown(&mut harness, "shares are of what is shown");

    let (answer, chart) = chart_of(&mut harness, "activity_heatmap");
    let ReportChart::Heatmap(map) = chart else { panic!("a heatmap: {chart:?}") };
    assert!((30..=31).contains(&map.columns.len()), "a column per minute of the half hour: {}", map.columns.len());
    let types = answer.column("type").unwrap().str().unwrap().clone();
    let distinct: std::collections::HashSet<&str> = types.iter().flatten().collect();
    assert_eq!(map.rows.len(), distinct.len() + usize::from(types.null_count() > 0), "a row per event type");
    let drawn: f64 = map.cells.iter().flatten().flatten().sum();
    let events: i64 = answer.column("events").unwrap().i64().unwrap().iter().flatten().sum();
    assert!(drawn <= events as f64 && drawn > 0.0, "the cells draw the answer's whole minutes: {drawn} of {events}");

    let (answer, chart) = chart_of(&mut harness, "countries_compared");
    let ReportChart::Scatter(scatter) = chart else { panic!("a scatter: {chart:?}") };
    let points: usize = scatter.series.iter().map(|s| s.points.len()).sum();
    let placed = answer
        .column("revenue")
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .zip(answer.column("visitors").unwrap().i64().unwrap().iter());
    let placed = placed.filter(|(revenue, visitors)| revenue.is_some() && visitors.is_some()).count();
    assert_eq!((points, scatter.left_out), (placed, answer.height() - placed), "a point per country with both values");
    assert_eq!((scatter.x_label.as_str(), scatter.y_label.as_str()), ("visitors", "revenue"));

    let (answer, chart) = chart_of(&mut harness, "visitors_by_region_and_device");
    let ReportChart::Pivot(pivot) = chart else { panic!("a pivot: {chart:?}") };
    let cells: f64 = pivot.rows.iter().flat_map(|row| row.cells.iter().flatten()).sum();
    let visitors: i64 = answer.column("visitors").unwrap().i64().unwrap().iter().flatten().sum();
    assert!((cells - visitors as f64).abs() < 0.5, "the cells are the answer's rows: {cells} vs {visitors}");
    let grand = pivot.grand_total.expect("a grand total");
    assert!(grand > 0.0 && grand < cells, "visitors on several devices or regions count once: {grand} of {cells}");
    step_until_shown(&mut harness, "visitors by region across device");
}

/// Steps until the report `name` shown has an answer, and returns it.
/// Opens a report listed in the left panel, scrolled into view first (the
/// last reports are below the panel's fold).
fn click_listed(harness: &mut Harness<'static, TidepoolApp>, name: &str) {
    harness.get_by_label(name).scroll_to_me();
    // The scroll request is taken on the next frame and animated over several:
    // click once the row has kept its place for a few frames inside the window.
    let window = egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1280.0, 800.0));
    let mut at = harness.get_by_label(name).rect();
    let mut still_frames = 0;
    for _ in 0..120 {
        harness.step();
        let now = harness.get_by_label(name).rect();
        still_frames = if now == at { still_frames + 1 } else { 0 };
        at = now;
        if still_frames >= 3 && window.contains(at.center()) {
            break;
        }
    }
    open_report(harness, name);
}

fn report_answer(harness: &mut Harness<'static, TidepoolApp>, name: &str) -> polars::prelude::DataFrame {
    // Until the stream's first checkpoint the report says it has no rollup yet.
    step_until(harness, &format!("the answer of {name}"), |h| {
        let report = h.state().session.as_ref().and_then(|s| s.report.as_ref()).filter(|r| r.name == name);
        report.is_some_and(|r| r.error.is_none() && r.answer.as_ref().is_some_and(|answer| answer.height() > 0))
    });
    let report = harness.state().session.as_ref().and_then(|s| s.report.as_ref()).unwrap();
    assert_eq!(report.error, None);
    report.answer.clone().unwrap()
}

/// The demo's offline data: the shipped catalogue (one row per clickstream
/// product) and the generated customers (one per clickstream user) land as tables.
#[test]
fn the_demo_imports_its_catalogue_and_customers() {
    let (_turn, mut harness) = demo_window();
    step_until(&mut harness, "the catalogue and the customers", |h| {
        h.query_by_label_contains("version 1 · 120 rows").is_some()
            && h.query_by_label_contains("version 1 · 20,000 rows").is_some()
    });
    harness.get_by_label("customers").click();
    step_until(&mut harness, "the customers table", |h| {
        h.query_by_label_contains("20,000 rows · click a header").is_some()
    });
    assert!(harness.query_all_by_label("u000000").next().is_some(), "user ids match the clickstream's");
}

#[test]
fn the_demo_lists_its_stream_with_a_live_status() {
    let (_turn, mut harness) = demo_window();
    assert!(harness.query_all_by_label("clicks").next().is_some(), "the stream is listed by name");
    assert!(harness.query_all_by_label("orders").next().is_some(), "so is the orders-only stream");
    assert_eq!(harness.query_all_by_label_contains("topic clickstream").count(), 2, "both read the clickstream");
    step_until(&mut harness, "events to be counted", |h| stream(h, "clicks").is_some_and(|s| s.stats.events > 1_000));
    step_until(&mut harness, "chart data for the selected stream", |h| {
        view_of(h, "clicks").is_some_and(|v| !v.chart.series.is_empty())
    });
}

#[test]
fn switching_the_time_window_changes_what_the_engine_sends() {
    let (_turn, mut harness) = demo_window();
    harness.get_by_label("5 min").click();
    harness.step();
    assert_eq!(harness.state().persisted.window, tidepool::ui::panels_api::TimeWindow::LastFiveMinutes);
    step_until(&mut harness, "a view computed for the 5-minute window", |h| {
        view_of(h, "clicks").is_some_and(|v| v.spec.window == Some(Duration::from_mins(5)))
    });
    let view = view_of(&harness, "clicks").unwrap();
    let oldest_ms = view
        .chart
        .series
        .iter()
        .filter_map(|s| s.points.first())
        .map(|(bucket, _)| bucket / 1_000)
        .min()
        .unwrap_or(i64::MAX);
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    assert!(
        now_ms - oldest_ms <= 310_000,
        "the 5-minute window holds no older buckets ({} ms old)",
        now_ms - oldest_ms
    );
    assert_eq!(
        view.chart.end_micros - view.chart.start_micros,
        300_000_000,
        "the x-axis spans the chosen window, not the data"
    );
    assert!(view.chart.y_label.contains("per 10 s"), "the y-axis says the grain: {}", view.chart.y_label);
}

#[test]
fn the_quarantine_view_shows_the_bad_messages() {
    let (_turn, mut harness) = demo_window();
    harness.get_by_label("Quarantine").click();
    step_until(&mut harness, "quarantined demo records in the table", |h| {
        h.query_all_by_label("not_json").next().is_some() || h.query_all_by_label("not_an_object").next().is_some()
    });
    assert!(
        harness.query_all_by_label_contains("late (merged into their buckets)").next().is_some(),
        "the counters are shown"
    );
}

#[test]
fn the_table_lists_rollup_rows_and_sorts_by_a_clicked_header() {
    let (_turn, mut harness) = demo_window();
    harness.get_by_label("Table").click();
    step_until(&mut harness, "the rollup table", |h| h.query_by_label_contains("rows · click a header").is_some());
    harness.get_by_label("events").click_accesskit();
    harness.step();
    assert_eq!(harness.state().table_sort(), Some(&("events".to_string(), true)), "the header click asked for a sort");
    step_until(&mut harness, "the table sorted by events", |h| {
        let view = view_of(h, "clicks");
        view.and_then(|v| v.table.clone()).is_some_and(|table| {
            let events = table.column("events").unwrap().as_materialized_series().i64().unwrap().clone();
            let values: Vec<i64> = events.into_no_null_iter().collect();
            h.state().table_sort() == Some(&("events".to_string(), true)) && values.windows(2).all(|w| w[0] >= w[1])
        })
    });
}

#[test]
fn a_stream_added_in_the_editor_is_saved_and_charted() {
    use crate::support::*;
    let topic = unique_topic("editor");
    create_topic(&topic, 2);
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let events = generate_events(500, 2, now_ms - 600_000, 1_000, 9);
    let mut messages: Vec<Outgoing> = events.iter().map(TestEvent::outgoing).collect();
    for (partition, bad) in [(0, "this is not json"), (1, "[\"an\", \"array\"]"), (0, "{\"country\": \"DE\"}")] {
        messages.push(Outgoing { partition, payload: Some(bad.as_bytes().to_vec()), timestamp_ms: None });
    }
    produce(&topic, &messages);
    let sandbox = Sandbox::new();
    let workbook = sandbox.write_workbook("[workbook]\nname = \"editor test\"\n");
    let mut harness = open_window(Launch::Open { workbook: workbook.clone(), data_dir: Some(sandbox.data_dir()) });

    harness.get_by_label("+ New stream").click();
    step_until(&mut harness, "the stream editor", |h| h.query_by_label("List topics").is_some());
    // The broker address differs per run: put it in the form, then drive everything else by label.
    harness.state_mut().editor.as_mut().expect("the editor opened").brokers = broker();
    harness.get_by_label("List topics").click_accesskit();
    step_until(&mut harness, "our topic in the topic list", |h| {
        h.query_by_label(&format!("{topic} (2 partitions)")).is_some()
    });
    harness.get_by_label(&format!("{topic} (2 partitions)")).click_accesskit();
    step_until(&mut harness, "the sampled fields", |h| h.query_by_label("country").is_some());
    harness.get_by_label("country").click_accesskit();
    step_until(&mut harness, "a valid draft", |h| h.query_by_label_contains("Problem:").is_none());
    let draft = harness.state().editor.clone().expect("editor still open");
    assert_eq!(draft.time_field, "ts", "the time field is detected from the sample");
    assert_eq!(draft.dimensions, vec!["country".to_string()]);
    harness.get_by_label("Save stream").click_accesskit();
    harness.step();

    let name = topic.replace(['.', '-'], "_");
    step_until(&mut harness, "all 500 events in the new stream's chart", |h| {
        view_of(h, &name).is_some_and(|view| {
            (view.chart.series.iter().flat_map(|s| &s.points).map(|(_, value)| value).sum::<f64>() - 500.0).abs() < 0.5
        })
    });
    assert!(harness.query_all_by_label(&name).next().is_some(), "the new stream is listed");
    harness.get_by_label("Quarantine").click_accesskit();
    step_until(&mut harness, "the three bad messages in the quarantine view", |h| {
        ["not_json", "not_an_object", "missing_time"].iter().all(|reason| h.query_all_by_label(reason).next().is_some())
    });
    step_until(&mut harness, "the workbook file to hold the stream", |_| {
        std::fs::read_to_string(&workbook).is_ok_and(|text| text.contains(&format!("topic = \"{topic}\"")))
    });
    let saved = tidepool::model::Workbook::load(&workbook).expect("the saved workbook parses");
    assert_eq!(saved.streams[0].rollup.dimensions, vec!["country".to_string()]);
}

/// Edit → Save through the window keeps every setting the form does not show
/// and the user's comments; a new stream may not take an existing name.
#[test]
fn editing_a_stream_keeps_its_settings_and_the_files_comments() {
    use crate::support::*;
    let topic = unique_topic("keep");
    create_topic(&topic, 1);
    produce(
        &topic,
        &generate_events(20, 1, 1_764_000_000_000, 1_000, 3).iter().map(TestEvent::outgoing).collect::<Vec<_>>(),
    );
    let sandbox = Sandbox::new();
    let text = format!(
        r#"# Our shop — this comment must survive the editor.
[workbook]
name = "keep"

[[streams]]
name = "shop"   # the clickstream
brokers = "{broker}"
topic = "{topic}"
max_message_bytes = 2000000
quarantine_capacity = 77
time = {{ field = "ts", format = "epoch_ms" }}

[streams.rollup]
# buckets for the dashboard
granularity = "1m"
dimensions = ["country"]
allowed_lateness = "7m"
retention = "3650d"
metrics = [{{ name = "events", kind = "count" }}, {{ name = "p", kind = "quantiles", field = "price", quantiles = [0.25, 0.75] }}]

[streams.kafka]
properties = {{ "client.rack" = "eu-1" }} # kept as written
"#,
        broker = broker()
    );
    let workbook = sandbox.write_workbook(&text);
    let mut harness = open_window(Launch::Open { workbook: workbook.clone(), data_dir: Some(sandbox.data_dir()) });
    step_until(&mut harness, "the stream to be listed", |h| stream(h, "shop").is_some());

    harness.get_by_label("+ New stream").click();
    step_until(&mut harness, "the stream editor", |h| h.query_by_label("List topics").is_some());
    harness.state_mut().editor.as_mut().expect("the editor opened").name = "shop".into();
    step_until(&mut harness, "the duplicate name to be refused", |h| {
        h.query_by_label_contains("a stream named `shop` already exists").is_some()
    });
    harness.state_mut().editor = None;

    harness.get_by_label("Edit").click_accesskit();
    step_until(&mut harness, "the stream editor on `shop`", |h| {
        h.state().editor.as_ref().is_some_and(|d| d.original.is_some())
    });
    harness.state_mut().editor.as_mut().expect("editor").granularity = "5m".into();
    step_until(&mut harness, "the editor's Save button", |h| h.query_by_label("Save stream").is_some());
    step_until(&mut harness, "a valid draft", |h| h.query_by_label_contains("Problem:").is_none());
    harness.get_by_label("Save stream").click_accesskit();
    step_until(&mut harness, "the saved workbook", |_| {
        std::fs::read_to_string(&workbook).is_ok_and(|saved| saved.contains("granularity = \"5m\""))
    });
    let saved = std::fs::read_to_string(&workbook).unwrap();
    assert_eq!(saved, text.replace("granularity = \"1m\"", "granularity = \"5m\""), "only the granularity changed");
}

/// What the window knows of one import or export.
fn job<'h>(
    harness: &'h Harness<'static, TidepoolApp>,
    name: &str,
) -> Option<&'h tidepool::ui::imports_state::JobState> {
    harness.state().session.as_ref().and_then(|session| session.jobs.get(name))
}

#[test]
fn imports_run_in_the_window_show_their_outcome_and_run_again_on_request() {
    let sandbox = crate::support::Sandbox::new();
    std::fs::write(sandbox.path("rates.csv"), "currency,rate\nEUR,1.0\nUSD,1.08\n").unwrap();
    std::fs::write(sandbox.path("broken.csv"), "id,name\n1,ok\n2\n").unwrap();
    let workbook = sandbox.write_workbook(
        "[[imports]]\nname = \"rates\"\nschedule = { every = \"1h\" }\nsource = { kind = \"file\", path = \"rates.csv\" }\n\
         [[imports]]\nname = \"broken\"\nattempts = 1\nschedule = { every = \"1h\" }\nsource = { kind = \"file\", path = \"broken.csv\" }\n",
    );
    let mut harness = open_window(Launch::Open { workbook, data_dir: Some(sandbox.data_dir()) });
    step_until_shown(&mut harness, "version 1 · 2 rows");
    step_until(&mut harness, "the failed import's error", |h| {
        job(h, "broken").and_then(|j| j.failure.clone()).is_some_and(|f| f.contains("broken.csv, line 3"))
    });
    assert!(
        harness.query_all_by_label_contains("broken.csv, line 3: has 1 fields").next().is_some(),
        "the error is shown in the window"
    );
    assert_eq!(harness.query_all_by_label_contains("next run").count(), 2, "each import says when it runs next");
    // Imports are listed by name: `broken`, then `rates`.
    let run_now = harness.get_all_by_label("Run now").nth(1).unwrap();
    run_now.click();
    step_until_shown(&mut harness, "version 2 · 2 rows");
}

/// Waits for the table view of the selected import to show `text`.
fn step_until_shown(harness: &mut Harness<'static, TidepoolApp>, text: &str) {
    step_until(harness, text, |h| h.query_all_by_label_contains(text).next().is_some());
}

/// The whole path of a new file import through the window: the editor's Test
/// previews the typed rows without saving, Save writes the workbook and runs
/// it on its schedule, and the table view shows the data, the schema and the
/// history; a second import of a broken file fails with its error in the
/// history and a notice.
#[test]
fn a_file_import_made_in_the_editor_is_tested_saved_run_and_browsed() {
    let sandbox = crate::support::Sandbox::new();
    std::fs::write(sandbox.path("orders.csv"), "id,item,amount\n1,widget,2.50\n2,gadget,10.00\n3,doohickey,7.25\n")
        .unwrap();
    let workbook = sandbox
        .write_workbook("# my workbook\n[workbook]\nname = \"imports in the editor\"\nid = \"editor-imports\"\n");
    let mut harness = open_window(Launch::Open { workbook: workbook.clone(), data_dir: Some(sandbox.data_dir()) });
    harness.get_by_label("+ New import").click();
    step_until(&mut harness, "the import editor", |h| h.query_by_label("Save import").is_some());
    {
        let draft = harness.state_mut().import_editor.as_mut().expect("the editor opened");
        draft.name = "orders".into();
        draft.location = sandbox.path("orders.csv").display().to_string();
        draft.schedule_kind = tidepool::ui::import_editor::ScheduleKind::Every;
        draft.every = "1h".into();
    }
    step_until_shown(&mut harness, "runs every 1h; next ");
    harness.get_by_label("Test").click_accesskit();
    step_until_shown(&mut harness, "First 3 rows · 3 columns");
    assert!(harness.query_all_by_label("doohickey").next().is_some(), "the preview shows the rows");
    assert!(harness.query_all_by_label("f64").next().is_some(), "and the detected types");
    let catalogue = tidepool::engine::store::tables::TableCatalog::open(&sandbox.data_dir(), "editor-imports");
    assert!(catalogue.map_or(true, |c| c.current("orders").unwrap().is_none()), "a Test stores nothing");
    harness.get_by_label("Save import").click_accesskit();
    step_until_shown(&mut harness, "version 1 · 3 rows");
    step_until_shown(&mut harness, "3 rows · click a header to sort");
    assert!(harness.query_all_by_label("gadget").next().is_some(), "the table view shows the data");
    step_until(&mut harness, "the workbook file to hold the import", |_| {
        std::fs::read_to_string(&workbook).is_ok_and(|text| text.contains("name = \"orders\""))
    });
    let saved = std::fs::read_to_string(&workbook).unwrap();
    assert!(saved.starts_with("# my workbook\n"), "the file's comment stays: {saved}");
    assert_eq!(tidepool::model::Workbook::load(&workbook).unwrap().imports[0].name, "orders");

    harness.get_by_label("Schema").click_accesskit();
    step_until(&mut harness, "the schema", |h| {
        h.query_by_label("amount").is_some() && h.query_by_label("f64").is_some()
    });
    harness.get_by_label("History").click_accesskit();
    step_until_shown(&mut harness, " · attempt 1 · 3 rows · version 1");

    // A broken file, imported by dropping it on the window.
    std::fs::write(sandbox.path("broken.csv"), "id,name\n1,ok\n2\n").unwrap();
    harness.input_mut().dropped_files.push(Arc::new(DroppedFromDesktop(sandbox.path("broken.csv"))));
    step_until(&mut harness, "the editor prefilled from the dropped file", |h| {
        h.state().import_editor.as_ref().is_some_and(|d| d.name == "broken")
    });
    step_until_shown(&mut harness, "1 bad rows among them");
    harness.state_mut().import_editor.as_mut().unwrap().attempts = 1;
    harness.get_by_label("Save import").click_accesskit();
    step_until_shown(&mut harness, "broken failed");
    harness.get_by_label("History").click_accesskit();
    step_until_shown(&mut harness, "error: ");
    assert!(
        harness.query_all_by_label_contains("broken.csv, line 3").next().is_some(),
        "the failed run's error names the file and line"
    );

    // Delete asks first, then removes the import from the workbook file.
    harness.get_by_label("Delete…").click_accesskit();
    step_until(&mut harness, "the confirmation", |h| h.query_by_label("Delete").is_some());
    assert!(harness.query_by_label_contains("Delete this import?").is_some());
    harness.get_by_label("Delete").click_accesskit();
    step_until(&mut harness, "the import gone from the file", |_| {
        tidepool::model::Workbook::load(&workbook).is_ok_and(|w| w.imports.len() == 1)
    });
    assert!(job(&harness, "broken").is_none());
}

/// A long import shows its progress while it runs, then the table; a header click sorts it.
#[test]
fn a_long_import_shows_its_progress_then_a_sortable_table() {
    let sandbox = crate::support::Sandbox::new();
    let db = rusqlite::Connection::open(sandbox.path("big.sqlite")).unwrap();
    db.execute_batch(
        "CREATE TABLE facts (id INTEGER PRIMARY KEY, label TEXT, amount REAL);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 600000)
         INSERT INTO facts SELECT i, 'row ' || i, i * 0.5 FROM n;",
    )
    .unwrap();
    drop(db);
    let workbook = sandbox.write_workbook(
        "[[imports]]\nname = \"facts\"\nsource = { kind = \"sqlite\", url = \"big.sqlite\", table = \"facts\" }\n",
    );
    let mut harness = open_window(Launch::Open { workbook, data_dir: Some(sandbox.data_dir()) });
    step_until_shown(&mut harness, "No version yet");
    harness.get_all_by_label("Run now").next().unwrap().click();
    step_until(&mut harness, "progress while the import runs", |h| {
        job(h, "facts").is_some_and(|j| j.running && j.progress_rows >= 50_000)
            && h.query_all_by_label_contains("rows so far").next().is_some()
    });
    step_until_shown(&mut harness, "version 1 · 600,000 rows");
    step_until_shown(&mut harness, "600,000 rows · click a header to sort");
    harness.get_by_label("id").click_accesskit();
    step_until(&mut harness, "the table sorted by id, largest first", |h| {
        h.state().session.as_ref().and_then(|s| s.table.as_ref()).and_then(|t| t.snapshot.as_ref()).is_some_and(|s| {
            s.sort == Some(("id".into(), true))
                && s.frame.as_ref().unwrap().column("id").unwrap().get(0).unwrap().extract::<i64>() == Some(600_000)
        })
    });
    assert!(harness.query_all_by_label("row 600000").next().is_some(), "the sorted rows are drawn");
}

/// A file dropped on the window, as the desktop hands it over.
#[derive(Debug)]
struct DroppedFromDesktop(std::path::PathBuf);

impl egui::DroppedFile for DroppedFromDesktop {
    fn path(&self) -> &std::path::Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|err| err.to_string())
    }
}

/// A report listed in the left panel shows its answer, computed in the background.
#[test]
fn a_report_in_the_left_panel_shows_its_answer() {
    let (sandbox, workbook, mut harness) = orders_report_shown(
        "measures = [{ name = \"total\", agg = \"sum\", field = \"amount\" }, { name = \"orders\", agg = \"count\" }]\n\
         sort = [{ field = \"total\", descending = true }]\n",
    );
    step_until(&mut harness, "the report's answer", |h| {
        h.state().session.as_ref().and_then(|s| s.report.as_ref()).and_then(|r| r.answer.as_ref()).is_some()
    });
    step_until_shown(&mut harness, "2 rows");
    let answer = harness.state().session.as_ref().unwrap().report.as_ref().unwrap().answer.clone().unwrap();
    let totals: Vec<Option<f64>> = answer.column("total").unwrap().f64().unwrap().iter().collect();
    assert_eq!(totals, [Some(15.5), Some(7.0)], "largest total first");
    assert!(harness.query_all_by_label_contains("15.5").next().is_some(), "the answer is drawn");
    // Export… writes what `tidepool export` writes, byte for byte (the dialog is
    // the desktop's: the test hands the session the path it would answer).
    let from_window = sandbox.path("from-window.csv");
    harness.state_mut().session.as_mut().unwrap().export_report("by_country", from_window.clone());
    step_until_shown(&mut harness, "exported 2 rows of report `by_country`");
    let from_cli = sandbox.path("from-cli.csv");
    crate::support::assert_success(
        &sandbox.tidepool(&[
            "export",
            crate::support::path_str(&workbook),
            "by_country",
            "--out",
            crate::support::path_str(&from_cli),
        ]),
        "export the report",
    );
    assert_eq!(std::fs::read(&from_window).unwrap(), std::fs::read(&from_cli).unwrap());
}

/// A window on a workbook of three imported orders (DE 10 and 5.5, FR 7) and
/// the report `by_country` grouping them by country, with `rest` (its
/// measures and more) — clicked in the left panel.
fn orders_report_shown(rest: &str) -> (crate::support::Sandbox, std::path::PathBuf, Harness<'static, TidepoolApp>) {
    let sandbox = crate::support::Sandbox::new();
    std::fs::write(sandbox.path("orders.csv"), "id,country,amount\n1,DE,10\n2,DE,5.5\n3,FR,7\n").unwrap();
    let workbook = sandbox.write_workbook(&format!(
        "[[imports]]\nname = \"orders\"\nsource = {{ kind = \"file\", path = \"orders.csv\" }}\n\
         [[reports]]\nname = \"by_country\"\nfrom = \"orders\"\ngroup_by = [\"country\"]\n{rest}"
    ));
    crate::support::assert_success(
        &sandbox.tidepool(&["import", crate::support::path_str(&workbook), "orders"]),
        "import orders",
    );
    let mut harness = open_window(Launch::Open { workbook: workbook.clone(), data_dir: Some(sandbox.data_dir()) });
    step_until_shown(&mut harness, "by_country");
    open_report(&mut harness, "by_country");
    (sandbox, workbook, harness)
}

/// Drags from the middle of one widget to the middle of another, as a mouse would.
fn drag(harness: &mut Harness<'static, TidepoolApp>, from: egui::Rect, to: egui::Rect) {
    harness.hover_at(from.center());
    harness.step();
    harness.drag_at(from.center());
    harness.step();
    for step in 1..=4 {
        harness.hover_at(from.center() + (to.center() - from.center()) * (step as f32 / 4.0));
        harness.step();
    }
    harness.drop_at(to.center());
    harness.step();
    harness.step();
}

fn rect_of(harness: &Harness<'static, TidepoolApp>, label: &str) -> egui::Rect {
    harness.get_by_label(label).rect()
}

/// The menu button labelled `menu` on the row of the field labelled `field` (the first such field).
fn click_menu_beside(harness: &mut Harness<'static, TidepoolApp>, field: &str, menu: &str) {
    let row = harness.query_all_by_label(field).next().expect("the field is listed").rect();
    let button = harness
        .query_all_by_label(menu)
        .find(|node| (node.rect().center().y - row.center().y).abs() < 6.0)
        .expect("the menu on the field's row");
    button.click();
    for _ in 0..3 {
        harness.step();
    }
}

fn builder<'h>(harness: &'h Harness<'static, TidepoolApp>) -> &'h tidepool::ui::report_builder::ReportDraft {
    harness.state().report_builder.as_ref().expect("the builder is open")
}

/// A joined report built in the window: a table dragged onto Joins (its
/// suggested key fixed in the key list, the dropped rows said before and
/// after), fields dragged onto shelves and added through their menus, undo
/// and redo by the keyboard, the chart kind changed, then saved into the
/// workbook and shown.
#[test]
fn a_joined_report_is_built_by_dragging_undone_and_saved() {
    let (_turn, mut harness) = demo_window();
    step_until(&mut harness, "the countries table", |h| h.query_by_label_contains("version 1 · 12 rows").is_some());
    open_new_report(&mut harness);
    step_until(&mut harness, "the builder with the tables' columns", |h| {
        h.state().report_builder.is_some() && h.query_by_label("region").is_some()
    });
    assert_eq!(builder(&harness).spec.from, "clicks");

    // A table dropped onto the dataset the report starts from joins it (undone here)…
    let (table, clicks) = (rect_of(&harness, "countries (table)"), rect_of(&harness, "clicks (stream)"));
    drag(&mut harness, table, clicks);
    let joined: Vec<String> = builder(&harness).spec.joins.iter().map(|j| j.with.clone()).collect();
    assert_eq!(joined, ["countries"], "dropping a table on the stream joins it");
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    harness.step();
    assert!(builder(&harness).spec.joins.is_empty(), "Ctrl+Z takes the join back");
    // …as dropping it on Joins does.
    let (table, joins) = (rect_of(&harness, "countries (table)"), rect_of(&harness, "Joins"));
    drag(&mut harness, table, joins);
    let join = builder(&harness).spec.joins.first().cloned().expect("dropping the table joins it");
    assert_eq!(join.with, "countries");
    assert_eq!(join.on.get("country").map(String::as_str), Some("country"), "suggested by the matching name");

    let (region, group_by) = (rect_of(&harness, "region"), rect_of(&harness, "Group by"));
    drag(&mut harness, region, group_by);
    // Both demo streams have a `bucket`: the first listed is the clicks stream's.
    let bucket = harness.query_all_by_label("bucket").next().expect("a bucket field").rect();
    let time = rect_of(&harness, "Time");
    drag(&mut harness, bucket, time);
    click_menu_beside(&mut harness, "events", "Add to");
    harness.get_by_role_and_label(egui::accesskit::Role::Button, "Measures").click();
    harness.step();
    let spec = &builder(&harness).spec;
    assert_eq!(spec.group_by, ["region"]);
    assert!(spec.time.is_some(), "the bucket dropped on Time");
    assert_eq!(spec.measures.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["events"], "added by the menu");

    // The names match but the values do not (codes against full names): the join says so.
    step_until_shown(&mut harness, "join with `countries`: 0 of ");
    // Fix the key in the join's key lists: the second one showing "country" is the table's side.
    let combo = harness
        .query_all_by_role(egui::accesskit::Role::ComboBox)
        .rfind(|node| node.value().as_deref() == Some("country"))
        .expect("the join's key lists");
    let (below, left) = (combo.rect().bottom() - 1.0, combo.rect().left());
    combo.click();
    for _ in 0..3 {
        harness.step();
    }
    // The list opens under its button; the field list's `code` is elsewhere.
    let option = harness
        .query_all_by_label("code")
        .find(|node| node.rect().top() >= below && (node.rect().left() - left).abs() < 40.0);
    option.expect("`code` in the opened key list").click();
    for _ in 0..3 {
        harness.step();
    }
    assert_eq!(builder(&harness).spec.joins[0].on.get("country").map(String::as_str), Some("code"));
    step_until(&mut harness, "a preview where the countries match", |h| {
        let draft = h.state().report_builder.as_ref();
        draft.and_then(|d| d.preview.as_ref()).and_then(|p| p.as_ref().ok()).is_some_and(|(answer, chart)| {
            let join = &answer.joins[0];
            join.matched_left * 100 >= join.left_rows * 99
                && answer.frame.height() > 0
                && chart.as_ref().is_ok_and(Option::is_some)
        })
    });

    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    harness.step();
    assert_eq!(builder(&harness).spec.joins[0].on["country"], "country", "Ctrl+Z undoes the key change");
    harness.key_press_modifiers(egui::Modifiers::COMMAND | egui::Modifiers::SHIFT, egui::Key::Z);
    harness.step();
    assert_eq!(builder(&harness).spec.joins[0].on["country"], "code", "Ctrl+Shift+Z redoes it");

    harness.get_by_label("Area").click();
    harness.step();
    assert_eq!(builder(&harness).spec.chart.as_ref().map(|c| c.kind), Some(tidepool::model::reports::ChartKind::Area));
    harness.get_by_label("Save report").click();
    harness.step();
    assert!(harness.state().report_builder.is_none(), "saved: the builder closes");
    let session = harness.state().session.as_ref().unwrap();
    let saved = session.workbook.report("report_1").expect("the report is in the workbook");
    assert_eq!(saved.joins[0].on["country"], "code");
    assert_eq!(harness.state().selected_report.as_deref(), Some("report_1"), "and shown");
    step_until(&mut harness, "the saved report's chart", |h| {
        h.state().session.as_ref().and_then(|s| s.report.as_ref()).is_some_and(|r| r.chart.is_some())
    });
}

/// A derived column written in the builder: an expression that does not read
/// is refused where it was typed, a good one is listed as a field, dropped on
/// Measures it is summed over the rollup rows, undo takes it back, and the
/// preview computes it (here revenue in cents: 100 × revenue, row by row).
#[test]
fn a_derived_column_is_written_in_the_builder_and_summed() {
    let (_turn, mut harness) = demo_window();
    open_new_report(&mut harness);
    step_until_shown(&mut harness, "Add column");
    type_into_derived_form(&mut harness, 0, "cents");
    type_into_derived_form(&mut harness, 1, "revenue *");
    harness.get_by_label("Add column").click();
    harness.step();
    step_until_shown(&mut harness, "`revenue *` cannot be read at character 10");
    assert!(builder(&harness).spec.derive.is_empty(), "nothing added");
    type_into_derived_form(&mut harness, 1, " 100");
    harness.get_by_label("Add column").click();
    harness.step();
    let derive = builder(&harness).spec.derive.clone();
    assert_eq!(derive.len(), 1);
    assert_eq!((derive[0].name.as_str(), derive[0].expr.as_str()), ("cents", "revenue * 100"));
    assert!(builder(&harness).derived_error.is_none());
    harness.step();

    let (cents, measures) = (rect_of(&harness, "cents"), rect_of(&harness, "Measures"));
    drag(&mut harness, cents, measures);
    click_menu_beside(&mut harness, "revenue", "Add to");
    harness.get_by_role_and_label(egui::accesskit::Role::Button, "Measures").click();
    harness.step();
    let measures = builder(&harness).spec.measures.clone();
    assert_eq!(measures.len(), 2, "{measures:?}");
    assert_eq!(
        (measures[0].agg, measures[0].field.as_deref()),
        (Some(tidepool::model::reports::Aggregation::Sum), Some("cents")),
        "a derived column on Measures is summed"
    );
    // The live rollup is empty until the first events arrive: its one row then has no revenue.
    step_until(&mut harness, "the preview of some revenue", |h| {
        let preview = h.state().report_builder.as_ref().and_then(|d| d.preview.as_ref());
        preview.is_some_and(|p| {
            p.as_ref().is_ok_and(|(answer, _)| {
                let revenue = answer.frame.column("revenue").ok().and_then(|c| c.f64().ok()?.get(0));
                answer.frame.height() == 1 && revenue.is_some_and(|r| r > 0.0)
            })
        })
    });
    let frame = builder(&harness).preview.as_ref().unwrap().as_ref().unwrap().0.frame.clone();
    let value = |name: &str| frame.column(name).unwrap().f64().unwrap().get(0).unwrap();
    let (cents, revenue) = (value("sum_cents"), value("revenue"));
    assert!(revenue > 0.0 && (cents - 100.0 * revenue).abs() <= 1e-6 * cents, "{frame}");

    // No time and no groups: "Show me" picks one big number, of the first measure.
    harness.get_by_label("Show me").click();
    harness.step();
    let kind = builder(&harness).spec.chart.as_ref().map(|c| c.kind);
    assert_eq!(kind, Some(tidepool::model::reports::ChartKind::BigNumber));
    step_until(&mut harness, "the big number", |h| {
        let preview = h.state().report_builder.as_ref().and_then(|d| d.preview.as_ref());
        preview.is_some_and(|p| {
            p.as_ref().is_ok_and(|(answer, chart)| match chart {
                Ok(Some(tidepool::engine::chart::ReportChart::Number(number))) => {
                    let shown = answer.frame.column("sum_cents").unwrap().f64().unwrap().get(0);
                    number.value.is_some() && number.value == shown && number.over_time.is_none()
                }
                _ => false,
            })
        })
    });
    harness.get_by_label("Bar").click();
    harness.step();
    step_until_shown(&mut harness, "chart: bars need a group_by field");

    for _ in 0..5 {
        harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
        harness.step();
    }
    assert!(builder(&harness).spec.derive.is_empty(), "undo takes the derived column back too");
    assert!(harness.query_by_label("cents").is_none(), "and it is no longer listed");
}

/// Types `text` into the derived-column form's field `index` (0: name, 1: expression).
fn type_into_derived_form(harness: &mut Harness<'static, TidepoolApp>, index: usize, text: &str) {
    let add = rect_of(harness, "Add column");
    let inputs = || {
        let mut inputs: Vec<egui::Rect> = harness
            .query_all_by_role(egui::accesskit::Role::TextInput)
            .map(|node| node.rect())
            .filter(|rect| (rect.center().y - add.center().y).abs() < 6.0)
            .collect();
        inputs.sort_by(|a, b| a.left().total_cmp(&b.left()));
        inputs
    };
    let target = inputs()[index];
    harness.query_all_by_role(egui::accesskit::Role::TextInput).find(|node| node.rect() == target).unwrap().focus();
    harness.step();
    let node = harness
        .query_all_by_role(egui::accesskit::Role::TextInput)
        .find(|node| node.rect() == target)
        .expect("the form's text field");
    node.type_text(text);
    harness.step();
}

/// A report's bars exported as a PNG: the window's PNG… (at the size chosen
/// beside it) and `tidepool export … --out FILE.png --size` draw the same
/// picture, of that size, with bars as tall as their values from zero.
#[test]
fn a_bar_chart_exports_the_same_png_from_the_window_and_the_command_line() {
    let (sandbox, workbook, mut harness) = orders_report_shown(
        "measures = [{ name = \"total\", agg = \"sum\", field = \"amount\" }]\nchart = { kind = \"bar\" }\n",
    );
    step_until(&mut harness, "the report's bars", |h| {
        let report = h.state().session.as_ref().and_then(|s| s.report.as_ref());
        report.is_some_and(|r| matches!(r.chart, Some(tidepool::engine::chart::ReportChart::Bars(_))))
    });
    // The size is chosen beside the button; the dialog is the desktop's, so the test hands over its answer.
    let options = tidepool::ui::png::PngOptions { width: 800, height: 450, ..Default::default() };
    let session = harness.state_mut().session.as_mut().unwrap();
    session.report.as_mut().unwrap().png = options;
    let from_window = sandbox.path("from-window.png");
    session.export_report_png("by_country", from_window.clone());
    step_until_shown(&mut harness, "wrote the chart of report `by_country`");
    let from_cli = sandbox.path("from-cli.png");
    let workbook = crate::support::path_str(&workbook);
    let out = crate::support::path_str(&from_cli);
    crate::support::assert_success(
        &sandbox.tidepool(&["export", workbook, "by_country", "--out", out, "--size", "800x450"]),
        "export the chart",
    );
    let (window_png, cli_png) = (std::fs::read(&from_window).unwrap(), std::fs::read(&from_cli).unwrap());
    assert!(window_png == cli_png, "the window and the command line draw the same picture");

    let decoder = png::Decoder::new(std::io::Cursor::new(cli_png));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((frame.width, frame.height), (800, 450));
    // DE (15.5) left of FR (7): the bars' areas in the series colour compare as their totals.
    let bar = tidepool::ui::theme::series_colour(0, false).to_array();
    let (mut left, mut right) = (0_u32, 0_u32);
    for (index, pixel) in pixels.chunks_exact(4).enumerate() {
        if pixel == bar {
            if index % 800 < 400 { left += 1 } else { right += 1 }
        }
    }
    let ratio = f64::from(left) / f64::from(right.max(1));
    assert!((ratio - 15.5 / 7.0).abs() < 0.25, "bar areas {left} and {right}: ratio {ratio}, not 15.5 / 7");
    let table = crate::support::path_str(&from_cli).replace("from-cli.png", "nothing.png");
    let refused = sandbox.tidepool(&["export", workbook, "orders", "--out", &table]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("only a report's chart can be written as a PNG"));
}
