//! The demo's exchange-rate API: a small HTTP server on a loopback port whose
//! euro rates change every minute (smoothly, deterministically from the
//! minute), so the demo workbook's every-minute import shows the scheduler at
//! work with nothing installed.
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

/// The rates of one minute (minutes since the epoch), as the API's JSON.
pub fn rates_json(minute: i64) -> String {
    let rates: Vec<String> = CURRENCIES
        .iter()
        .enumerate()
        .map(|(index, (currency, centre))| {
            let wave = ((minute as f64) / 7.0 + index as f64).sin() * 0.01;
            format!("{{\"currency\":\"{currency}\",\"rate\":{:.4}}}", centre * (1.0 + wave))
        })
        .collect();
    let at = chrono::DateTime::from_timestamp(minute * 60, 0).map(|t| t.to_rfc3339()).unwrap_or_default();
    format!("{{\"base\":\"EUR\",\"as_of\":\"{at}\",\"rates\":[{}]}}", rates.join(","))
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
    fn rates_change_from_minute_to_minute() {
        assert_ne!(rates_json(1), rates_json(2));
        assert_eq!(rates_json(5), rates_json(5));
        let document: serde_json::Value = serde_json::from_str(&rates_json(3)).unwrap();
        assert_eq!(document["rates"].as_array().map(Vec::len), Some(5));
    }
}
