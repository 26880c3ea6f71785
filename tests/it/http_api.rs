//! HTTP JSON API imports against a real HTTP server on loopback, started by
//! the test: every way of paginating, a 500 then recovery, 429 with
//! Retry-After, and a server that hangs past the request timeout.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use polars::prelude::*;

use crate::support::*;

/// A request as the handler sees it.
struct Request {
    path: String,
    query: HashMap<String, String>,
    headers: HashMap<String, String>,
    number: usize,
}

/// status, extra headers, body; `None` hangs up without answering after a long sleep.
type Reply = Option<(u16, Vec<(String, String)>, String)>;

/// Serves `handler` on a loopback port until the test ends; answers the base URL.
fn serve(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let count = Arc::new(AtomicUsize::new(0));
    let handler = Arc::new(handler);
    std::thread::Builder::new()
        .name("test-http".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let handler = handler.clone();
                let log = log.clone();
                let number = count.fetch_add(1, Ordering::SeqCst) + 1;
                std::thread::Builder::new()
                    .name("test-http-conn".into())
                    .spawn(move || {
                        let mut reader = BufReader::new(stream.try_clone().unwrap());
                        let mut line = String::new();
                        reader.read_line(&mut line).unwrap();
                        let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                        let mut headers = HashMap::new();
                        loop {
                            let mut header = String::new();
                            reader.read_line(&mut header).unwrap();
                            if header.trim().is_empty() {
                                break;
                            }
                            if let Some((k, v)) = header.split_once(':') {
                                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                            }
                        }
                        let (path, query_text) = target.split_once('?').unwrap_or((&target, ""));
                        let query = query_text
                            .split('&')
                            .filter_map(|pair| pair.split_once('='))
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect();
                        log.lock().unwrap().push(target.clone());
                        let request = Request { path: path.to_string(), query, headers, number };
                        match handler(&request) {
                            Some((status, extra, body)) => {
                                let mut response = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\nContent-Type: application/json\r\n", body.len());
                                for (k, v) in extra {
                                    let _ = write!(response, "{k}: {v}\r\n");
                                }
                                response.push_str("\r\n");
                                response.push_str(&body);
                                let _ = stream.write_all(response.as_bytes());
                            }
                            None => std::thread::sleep(std::time::Duration::from_secs(30)),
                        }
                    })
                    .unwrap();
            }
        })
        .unwrap();
    (base, seen)
}

fn items(from: u64, to: u64) -> String {
    let records: Vec<String> = (from..to)
        .map(|id| format!("{{\"id\": {id}, \"price\": {{\"amount\": {id}.5, \"currency\": \"EUR\"}}}}"))
        .collect();
    format!("[{}]", records.join(","))
}

fn http_workbook(sandbox: &Sandbox, base: &str, extra: &str) -> std::path::PathBuf {
    sandbox.write_workbook(&format!(
        "[[imports]]\nname = \"api\"\nattempts = 2\nretry_delay = \"1s\"\n[imports.source]\nkind = \"http\"\nurl = \"{base}/items\"\n{extra}\n"
    ))
}

fn ids(frame: &DataFrame) -> Vec<i64> {
    frame.column("id").unwrap().i64().unwrap().iter().flatten().collect()
}

#[test]
fn every_pagination_reads_every_record_and_flattens_nested_fields() {
    // Page numbers: pages 1..=3 hold 2 records each, page 4 is empty.
    let (base, _) = serve(|r| {
        let page: u64 = r.query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
        let body = if page <= 3 { items(page * 2 - 1, page * 2 + 1) } else { "[]".into() };
        Some((200, vec![], format!("{{\"data\": {{\"items\": {body}}}}}")))
    });
    let sandbox = Sandbox::new();
    let workbook = http_workbook(&sandbox, &base, "records = \"data.items\"\npagination = { by = \"page\" }");
    assert_success(&sandbox.tidepool(&["import", path_str(&workbook), "api"]), "page import");
    let frame = sandbox.export(&workbook, "api");
    assert_eq!(ids(&frame), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(
        frame.column("price.currency").unwrap().str().unwrap().get(0),
        Some("EUR"),
        "nested fields are dotted columns"
    );

    // Offset and limit: 5 records in pages of 2.
    let (base, seen) = serve(|r| {
        let offset: u64 = r.query["offset"].parse().unwrap();
        let limit: u64 = r.query["limit"].parse().unwrap();
        Some((200, vec![], items(offset + 1, (offset + limit).min(5) + 1)))
    });
    let sandbox = Sandbox::new();
    let workbook = http_workbook(&sandbox, &base, "pagination = { by = \"offset\", limit = 2 }");
    assert_success(&sandbox.tidepool(&["import", path_str(&workbook), "api"]), "offset import");
    assert_eq!(ids(&sandbox.export(&workbook, "api")), vec![1, 2, 3, 4, 5]);
    assert_eq!(seen.lock().unwrap().len(), 3, "a short page ends it");

    // A cursor field of the response, sent back as a parameter.
    let (base, _) = serve(|r| {
        let body = match r.query.get("after").map(String::as_str) {
            None => format!("{{\"records\": {}, \"next\": \"c2\"}}", items(1, 3)),
            Some("c2") => format!("{{\"records\": {}, \"next\": null}}", items(3, 4)),
            Some(other) => panic!("unexpected cursor {other}"),
        };
        Some((200, vec![], body))
    });
    let sandbox = Sandbox::new();
    let workbook = http_workbook(
        &sandbox,
        &base,
        "records = \"records\"\npagination = { by = \"cursor\", field = \"next\", param = \"after\" }",
    );
    assert_success(&sandbox.tidepool(&["import", path_str(&workbook), "api"]), "cursor import");
    assert_eq!(ids(&sandbox.export(&workbook, "api")), vec![1, 2, 3]);

    // The Link header's rel="next", relative to the server.
    let (base, _) = serve(move |r| {
        let page: u64 = r.query.get("p").and_then(|p| p.parse().ok()).unwrap_or(1);
        let link =
            if page < 3 { vec![("Link".into(), format!("</items?p={}>; rel=\"next\"", page + 1))] } else { vec![] };
        Some((200, link, items(page, page + 1)))
    });
    let sandbox = Sandbox::new();
    let workbook = http_workbook(&sandbox, &base, "pagination = { by = \"next_link\" }\nmax_pages = 2");
    let output = sandbox.tidepool(&["import", path_str(&workbook), "api"]);
    assert_success(&output, "next-link import");
    assert_eq!(ids(&sandbox.export(&workbook, "api")), vec![1, 2], "the page cap stops it");
    let history = sandbox.tidepool(&["history", path_str(&workbook), "api"]);
    assert!(stdout(&history).contains("succeeded"));
}

#[test]
fn failures_rate_limits_and_hangs() {
    // 500 on the first request: the run's second attempt succeeds; the token travels only as a header.
    let (base, _) = serve(|r| {
        assert_eq!(r.headers.get("authorization").map(String::as_str), Some("Bearer sekrit-token-42"));
        if r.number == 1 {
            Some((500, vec![], "{\"error\": \"down\"}".into()))
        } else {
            Some((200, vec![], items(1, 3)))
        }
    });
    let sandbox = Sandbox::new();
    let workbook = http_workbook(&sandbox, &base, "headers_env = { Authorization = \"TIDEPOOL_TEST_API_TOKEN\" }");
    let output = sandbox
        .command(&["import", path_str(&workbook), "api"])
        .env("TIDEPOOL_TEST_API_TOKEN", "Bearer sekrit-token-42")
        .output()
        .unwrap();
    assert_success(&output, "import after a 500");
    assert!(stderr(&output).contains("HTTP 500"), "the failed attempt is said: {}", stderr(&output));
    assert!(!stderr(&output).contains("sekrit"), "{}", stderr(&output));
    assert_eq!(ids(&sandbox.export(&workbook, "api")), vec![1, 2]);

    // 429 with Retry-After: 1, then the records.
    let (base, _) = serve(|r| {
        if r.number == 1 {
            Some((429, vec![("Retry-After".into(), "1".into())], String::new()))
        } else {
            Some((200, vec![], items(1, 2)))
        }
    });
    let sandbox = Sandbox::new();
    let workbook = http_workbook(&sandbox, &base, "");
    let started = std::time::Instant::now();
    assert_success(&sandbox.tidepool(&["import", path_str(&workbook), "api"]), "import after a 429");
    assert!(started.elapsed() >= std::time::Duration::from_secs(1), "Retry-After was honoured");
    assert_eq!(ids(&sandbox.export(&workbook, "api")), vec![1]);

    // A server that never answers: the request timeout fails the run, naming the URL.
    let (base, _) = serve(|r| if r.path == "/items" { None } else { Some((404, vec![], String::new())) });
    let sandbox = Sandbox::new();
    let workbook = sandbox.write_workbook(&format!(
        "[[imports]]\nname = \"api\"\nattempts = 1\n[imports.source]\nkind = \"http\"\nurl = \"{base}/items\"\nrequest_timeout = \"2s\"\n"
    ));
    let started = std::time::Instant::now();
    let output = sandbox.tidepool(&["import", path_str(&workbook), "api"]);
    assert!(!output.status.success());
    assert!(started.elapsed() < std::time::Duration::from_secs(15), "the request timeout cut it short");
    assert!(stderr(&output).contains(&format!("{base}/items")), "{}", stderr(&output));
}

/// An API token kept in the OS keyring travels as its header; forgotten, the
/// import fails saying how to store it again.
#[test]
fn a_header_from_the_os_keyring_is_sent() {
    let entry = format!("tidepool-test-{}", crate::support::unique_topic("api-token"));
    let (base, _) = serve(|r| match r.headers.get("authorization").map(String::as_str) {
        Some("Bearer from-the-keyring") => Some((200, vec![], items(1, 3))),
        _ => Some((401, vec![], "{\"error\": \"who are you\"}".into())),
    });
    let sandbox = Sandbox::new();
    let workbook = http_workbook(&sandbox, &base, &format!("headers_keyring = {{ Authorization = \"{entry}\" }}"));
    let mut child = sandbox
        .command(&["secret", "set", &entry])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"Bearer from-the-keyring\n").unwrap();
    assert_success(&child.wait_with_output().unwrap(), "secret set");
    assert_success(&sandbox.tidepool(&["import", path_str(&workbook), "api"]), "import with the keyring's token");
    assert_eq!(ids(&sandbox.export(&workbook, "api")), vec![1, 2]);
    assert_success(&sandbox.tidepool(&["secret", "forget", &entry]), "secret forget");
    let output = sandbox.tidepool(&["import", path_str(&workbook), "api"]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains(&format!("tidepool secret set {entry}")), "{}", stderr(&output));
}
