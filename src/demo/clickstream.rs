//! A deterministic generator of web-shop clickstream events (page views,
//! add-to-cart, orders) with skewed countries, devices and pages and a daily
//! rhythm, written as ~200-byte JSON objects. Optional shares of malformed and
//! late events show what tidepool does with them.

use std::io::Write as _;

/// The dimensions the demo workbook rolls up by.
pub const DIMENSIONS: [&str; 6] = ["type", "country", "device", "browser", "section", "referrer"];

const TYPES: [(&str, u32); 3] = [("page_view", 85), ("add_to_cart", 11), ("order", 4)];
const COUNTRIES: [(&str, u32); 12] = [
    ("US", 30),
    ("DE", 14),
    ("GB", 11),
    ("FR", 9),
    ("NL", 6),
    ("ES", 6),
    ("IT", 5),
    ("SE", 4),
    ("PL", 4),
    ("BR", 4),
    ("JP", 4),
    ("IN", 3),
];
const DEVICES: [(&str, u32); 3] = [("mobile", 58), ("desktop", 36), ("tablet", 6)];
const BROWSERS: [(&str, u32); 4] = [("chrome", 62), ("safari", 22), ("firefox", 9), ("edge", 7)];
const SECTIONS: [(&str, u32); 8] = [
    ("home", 20),
    ("search", 16),
    ("category", 18),
    ("product", 30),
    ("cart", 7),
    ("checkout", 4),
    ("account", 3),
    ("help", 2),
];
/// Products in the catalogue (`assets/demo-products.csv`: ids `p0001`…`p0120`).
pub const PRODUCTS: u64 = 120;
const REFERRERS: [(&str, u32); 5] = [("direct", 34), ("search", 38), ("social", 14), ("email", 8), ("ads", 6)];

/// `SplitMix64`: small, fast and good enough for synthetic data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    pub fn chance(&mut self, share: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64 <= share
    }

    fn pick<'a>(&mut self, table: &[(&'a str, u32)]) -> &'a str {
        let total: u32 = table.iter().map(|(_, weight)| weight).sum();
        let mut ticket = self.below(u64::from(total)) as u32;
        for (value, weight) in table {
            if ticket < *weight {
                return value;
            }
            ticket -= weight;
        }
        table[0].0
    }
}

/// Settings of the generator.
#[derive(Debug, Clone, Copy)]
pub struct ClickstreamOptions {
    pub seed: u64,
    /// Event time of the first event, ms since the epoch.
    pub start_ms: i64,
    /// Events per second of event time (the generator's clock, not the wall clock).
    pub events_per_sec: u32,
    /// Share of events written malformed (0.0–1.0).
    pub malformed_share: f64,
    /// Share of events stamped 5–30 minutes in the past.
    pub late_share: f64,
    /// Distinct users in the population.
    pub users: u64,
}

impl Default for ClickstreamOptions {
    fn default() -> Self {
        Self {
            seed: 42,
            start_ms: 1_764_000_000_000,
            events_per_sec: 1_000,
            malformed_share: 0.0,
            late_share: 0.0,
            users: 50_000,
        }
    }
}

/// Writes one event after another.
#[derive(Debug, Clone)]
pub struct Clickstream {
    options: ClickstreamOptions,
    rng: Rng,
    emitted: u64,
}

impl Clickstream {
    pub fn new(options: ClickstreamOptions) -> Self {
        Self { rng: Rng::new(options.seed), options, emitted: 0 }
    }

    /// Event time of the next event, ms; a daily rhythm thins the night out by skipping ahead.
    fn next_time_ms(&mut self) -> i64 {
        let step_ms = 1_000.0 / f64::from(self.options.events_per_sec.max(1));
        let base = self.options.start_ms + (self.emitted as f64 * step_ms) as i64;
        let hour = (base / 3_600_000).rem_euclid(24);
        let night = (1..=6).contains(&hour);
        base + if night { self.rng.below(step_ms as u64 + 1) as i64 } else { 0 }
    }

    /// Appends the next event's payload to `out` (cleared first).
    pub fn next_into(&mut self, out: &mut Vec<u8>) {
        out.clear();
        let mut ts = self.next_time_ms();
        self.emitted += 1;
        let rng = &mut self.rng;
        if self.options.malformed_share > 0.0 && rng.chance(self.options.malformed_share) {
            match rng.below(5) {
                0 => out.extend_from_slice(b"{\"ts\":"),
                1 => out.extend_from_slice(b"not json at all"),
                2 => out.extend_from_slice(b"[1,2,3]"),
                3 => out.extend_from_slice(b"{\"type\":\"page_view\",\"country\":\"DE\"}"),
                _ => {
                    let _ = write!(out, "{{\"ts\":{ts},\"type\":\"order\",\"price\":\"free\"}}");
                }
            }
            return;
        }
        if self.options.late_share > 0.0 && rng.chance(self.options.late_share) {
            ts -= 300_000 + rng.below(1_500_000) as i64;
        }
        let kind = rng.pick(&TYPES);
        let country = rng.pick(&COUNTRIES);
        let device = rng.pick(&DEVICES);
        let browser = rng.pick(&BROWSERS);
        let section = if kind == "page_view" {
            rng.pick(&SECTIONS)
        } else if kind == "order" {
            "checkout"
        } else {
            "product"
        };
        let referrer = rng.pick(&REFERRERS);
        // Product pages, carts and orders name a catalogue product; a few sell most.
        let product = (section == "product" || section == "checkout")
            .then(|| 1 + (rng.below(PRODUCTS) * rng.below(PRODUCTS)) / PRODUCTS);
        // Zipf-ish users: a few heavy users, a long tail.
        let user = (rng.below(self.options.users) * rng.below(self.options.users)) / self.options.users.max(1);
        let (price_cents, quantity) = match kind {
            "order" => (499 + rng.below(25_000), 1 + rng.below(4)),
            "add_to_cart" => (499 + rng.below(9_000), 1),
            _ => (0, 0),
        };
        let latency_ms = 20 + rng.below(80) + if rng.chance(0.02) { rng.below(2_000) } else { 0 };
        // Only orders earn revenue: what they cost in all.
        let revenue = if kind == "order" { price_cents * quantity } else { 0 };
        let _ = write!(
            out,
            "{{\"ts\":{ts},\"type\":\"{kind}\",\"user\":\"u{user:06}\",\"session\":\"s{:08x}\",\"country\":\"{country}\",\
             \"device\":\"{device}\",\"browser\":\"{browser}\",\"section\":\"{section}\",\"referrer\":\"{referrer}\",\
             \"price\":{}.{:02},\"quantity\":{quantity},\"latency_ms\":{latency_ms}",
            rng.next_u64() as u32,
            price_cents / 100,
            price_cents % 100,
        );
        if let Some(product) = product {
            let _ = write!(out, ",\"product\":\"p{product:04}\"");
        }
        if revenue > 0 {
            let _ = write!(out, ",\"revenue\":{}.{:02}", revenue / 100, revenue % 100);
        }
        out.push(b'}');
    }

    /// The next event as a fresh vector.
    pub fn next_event(&mut self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.next_into(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_scanner_reads_every_demo_event_without_serde_json() {
        let mut plan = tidepool_json::FieldPlan::default();
        for path in ["ts", "type", "country", "price", "latency_ms", "user"] {
            plan.add_path(path);
        }
        let mut stream = Clickstream::new(ClickstreamOptions::default());
        for _ in 0..1_000 {
            let event = String::from_utf8(stream.next_event()).unwrap();
            assert!(plan.scans(&event), "declined {event}");
            assert_eq!(tidepool_json::check_agreement(&mut plan, event.as_bytes()), Ok(()));
        }
    }

    #[test]
    fn events_are_json_objects_of_about_200_bytes() {
        let mut stream = Clickstream::new(ClickstreamOptions::default());
        let mut total = 0;
        for _ in 0..1_000 {
            let event = stream.next_event();
            total += event.len();
            let value: serde_json::Value = serde_json::from_slice(&event).unwrap();
            for dimension in DIMENSIONS {
                assert!(value[dimension].is_string(), "{dimension} in {value}");
            }
            assert!(value["price"].is_number());
            let section = value["section"].as_str().unwrap();
            if section == "product" || section == "checkout" {
                let product = value["product"].as_str().unwrap();
                let id: u64 = product.strip_prefix('p').unwrap().parse().unwrap();
                assert!((1..=PRODUCTS).contains(&id), "{product}");
            } else {
                assert!(value.get("product").is_none(), "{value}");
            }
        }
        let mean = total / 1_000;
        assert!((180..=260).contains(&mean), "mean size {mean}");
    }

    #[test]
    fn same_seed_same_events() {
        let mut a = Clickstream::new(ClickstreamOptions::default());
        let mut b = Clickstream::new(ClickstreamOptions::default());
        for _ in 0..100 {
            assert_eq!(a.next_event(), b.next_event());
        }
    }

    #[test]
    fn malformed_share_is_respected() {
        let mut stream = Clickstream::new(ClickstreamOptions { malformed_share: 0.1, ..ClickstreamOptions::default() });
        let bad = (0..10_000)
            .filter(|_| {
                serde_json::from_slice::<serde_json::Value>(&stream.next_event())
                    .map_or(true, |v| !v.is_object() || !v["price"].is_number())
            })
            .count();
        assert!((800..=1_200).contains(&bad), "{bad}");
    }
}
