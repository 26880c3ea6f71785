//! The demo's exchange-rate API: a small HTTP server on a loopback port whose
//! euro rates change every minute (smoothly, deterministically from the
//! minute; the last hour and a half is served, one record per minute), so the
//! demo workbook's every-minute import shows the scheduler at work with
//! nothing installed, and its report in euros has a rate for every minute.
//!
//! Serves `GET /rates` only; knows nothing of imports.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// Placeholder host in `views/demo.toml`, replaced by the server's address.
pub const DEMO_RATES_URL: &str = "http://embedded-demo-rates";

const CURRENCIES: [(&str, f64); 5] = [("USD", 1.08), ("GBP", 0.85), ("JPY", 162.0), ("CHF", 0.94), ("SEK", 11.4)];

/// The running API; dropping it stops the server.
#[derive(Debug)]
pub struct RatesApi {
    base_url: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RatesApi {
    pub fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let stop = Arc::new(AtomicBool::new(false));
        let serving = stop.clone();
        let thread = std::thread::Builder::new().name("tidepool-demo-rates".into()).spawn(move || {
            for stream in listener.incoming() {
                if serving.load(Ordering::Relaxed) {
                    break;
                }
                if let Ok(stream) = stream {
                    let _ = answer(stream);
                }
            }
        })?;
        Ok(Self { base_url, stop, thread: Some(thread) })
    }

    /// `http://127.0.0.1:PORT`, to put in place of [`DEMO_RATES_URL`].
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

impl Drop for RatesApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.base_url.trim_start_matches("http://"));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// How many minutes of rates the API serves, up to the current one: the
/// demo's clickstream history reaches an hour back, and every bucket of it
/// finds the rate then in force.
pub const HISTORY_MINUTES: i64 = 90;

/// The euro rate of each currency in one minute (minutes since the epoch).
fn rates_of(minute: i64) -> impl Iterator<Item = (&'static str, f64)> {
    CURRENCIES.iter().enumerate().map(move |(index, (currency, centre))| {
        let wave = ((minute as f64) / 7.0 + index as f64).sin() * 0.01;
        (*currency, centre * (1.0 + wave))
    })
}

/// The API's JSON up to `minute` (minutes since the epoch): one record per
/// minute of [`HISTORY_MINUTES`], oldest first, with its time and a column
/// per currency (`{"as_of": "…", "USD": 1.0812, …}`), as rate APIs' time series are.
pub fn rates_json(minute: i64) -> String {
    let records: Vec<String> = ((minute - HISTORY_MINUTES + 1)..=minute)
        .map(|minute| {
            let at = chrono::DateTime::from_timestamp(minute * 60, 0).map(|t| t.to_rfc3339()).unwrap_or_default();
            let rates: Vec<String> =
                rates_of(minute).map(|(currency, rate)| format!("\"{currency}\":{rate:.4}")).collect();
            format!("{{\"as_of\":\"{at}\",{}}}", rates.join(","))
        })
        .collect();
    format!("{{\"base\":\"EUR\",\"rates\":[{}]}}", records.join(","))
}

fn answer(stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let (status, body) = if path.split('?').next() == Some("/rates") {
        ("200 OK", rates_json(chrono::Utc::now().timestamp() / 60))
    } else {
        ("404 Not Found", "{\"error\":\"try /rates\"}".to_string())
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_minute_of_the_history_has_its_own_rates() {
        assert_eq!(rates_json(5), rates_json(5));
        let document: serde_json::Value = serde_json::from_str(&rates_json(30_000_000)).unwrap();
        let records = document["rates"].as_array().unwrap();
        assert_eq!(records.len() as i64, HISTORY_MINUTES);
        assert_ne!(records[0]["USD"], records[1]["USD"], "the rate moves from minute to minute");
        let last = records.last().unwrap();
        assert_eq!(last["as_of"], "2027-01-15T08:00:00+00:00");
        assert_eq!(last.as_object().unwrap().len(), 1 + CURRENCIES.len());
    }
}
