//! Times `RollupState::coarsened` on a rollup like benchmark (i)'s: per
//! minute, user and country, a count and a sum; merged to (user, country).
//! `cargo run --release --example coarsen [ROWS [USERS]]`.

use std::time::Instant;

use tidepool_rollup::spec::{MetricKind, MetricShape, RollupShape};
use tidepool_rollup::{EventOrder, MetricInput, RollupState};

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().expect("a number"));
    let rows = args.next().unwrap_or(10_000_000);
    let users = args.next().unwrap_or(1_000_000);
    let metric = |name: &str, kind| MetricShape { name: name.into(), kind, ranks: Vec::new() };
    let mut state = RollupState::new(&RollupShape {
        granularity_micros: 60_000_000,
        dimensions: vec!["user".into(), "country".into()],
        metrics: vec![metric("events", MetricKind::Count), metric("revenue", MetricKind::Sum)],
    });
    let countries = ["US", "DE", "GB", "FR", "NL", "ES", "IT", "SE", "PL", "BR", "JP", "IN"];
    let started = Instant::now();
    for index in 0..rows {
        let (minute, user) = (index / users, index % users);
        let name = format!("u{user:07}");
        let inputs = [MetricInput::Absent, MetricInput::Number { value: (index % 500) as f64, exact: None }];
        let micros = minute as i64 * 60_000_000;
        let order = EventOrder { micros, partition: 0, offset: index as i64 };
        state.merge(micros, &[Some(&name), Some(countries[user % countries.len()])], &inputs, order);
    }
    println!("built {} rows in {:.1} s", state.row_count(), started.elapsed().as_secs_f64());
    let rounds = std::env::var("ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(3);
    for _ in 0..rounds {
        let started = Instant::now();
        let merged = state.coarsened(&[0, 1], false).expect("a small key space");
        println!("merged to {} rows in {:.0} ms", merged.rollup.row_count(), started.elapsed().as_secs_f64() * 1000.0);
    }
}
