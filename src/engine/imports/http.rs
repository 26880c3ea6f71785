//! HTTP JSON API imports (ureq): GET or POST with headers (secret ones from
//! environment variables or the OS keyring), query parameters and a body; the records array at
//! a dotted path of each response; pagination by page number, offset/limit,
//! a cursor field, or a next link (a body field or the `Link` header), up to
//! a page cap; `429 Too Many Requests` waits as `Retry-After` says; each
//! request has its own timeout. Nested fields become dotted columns.
//!
//! Never logs a header's value: secrets travel only in the request.

use std::io::Cursor;
use std::time::{Duration, Instant};

use polars::prelude::*;
use serde_json::Value;

use super::file::flatten_structs;
use super::{Cancel, Fetched, ImportError};
use crate::engine::secrets::{self, SecretPlace};
use crate::model::imports::{HttpMethod, HttpSource, Pagination};

/// Times one page may answer 429 before the run fails.
const MAX_RATE_LIMITED: u32 = 5;
/// The longest `Retry-After` wait honoured; longer ones fail the attempt (the run's retries take over).
const LONGEST_RETRY_AFTER: Duration = Duration::from_mins(5);
/// Records gathered from pages before they are handed on as one batch.
const RECORDS_PER_BATCH: usize = 50_000;
/// The largest response body read.
const MAX_BODY_BYTES: u64 = 512 * 1024 * 1024;

pub fn fetch(source: &HttpSource, import: &str, cancel: &Cancel, fetched: &mut Fetched) -> Result<(), ImportError> {
    let mut headers: Vec<(String, String)> = source.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let secret_headers = source
        .headers_env
        .iter()
        .map(|(header, variable)| (header, SecretPlace::Env(variable)))
        .chain(source.headers_keyring.iter().map(|(header, entry)| (header, SecretPlace::Keyring(entry))));
    for (header, place) in secret_headers {
        let value = secrets::read(place, &format!("import `{import}` reads header {header}"))?;
        headers.push((header.clone(), value));
    }
    let timeout = Duration::from_secs(source.request_timeout.seconds().max(1) as u64);
    let agent: ureq::Agent =
        ureq::Agent::config_builder().timeout_global(Some(timeout)).http_status_as_error(false).build().into();
    let mut records: Vec<Value> = Vec::new();
    let mut url = source.url.clone();
    let mut extra: Vec<(String, String)> = first_page_parameters(&source.pagination);
    let mut pages = 0;
    loop {
        cancel.check()?;
        if pages >= source.max_pages {
            fetched.log.push(format!("stopped at the page cap of {} pages (max_pages)", source.max_pages));
            break;
        }
        pages += 1;
        let (body, link_next) = request(&agent, source, &url, &extra, &headers, cancel)?;
        fetched.bytes_read += body.len() as u64;
        let document: Value = serde_json::from_str(&body)
            .map_err(|err| ImportError::Source(format!("{url}: the response is not JSON ({err})")))?;
        let page_records = match at_path(&document, &source.records) {
            Some(Value::Array(items)) => items.clone(),
            Some(other) => {
                return Err(ImportError::Source(format!(
                    "{url}: `{}` is {} in the response, not an array of records",
                    source.records,
                    kind(other)
                )));
            }
            None => {
                return Err(ImportError::Source(format!(
                    "{url}: the response has no `{}` (set `records` to the path of the records array)",
                    source.records
                )));
            }
        };
        let count = page_records.len();
        records.extend(page_records);
        fetched.log.push(format!("page {pages}: {count} records from {url}"));
        if records.len() >= RECORDS_PER_BATCH {
            // Handed on (to disk, for a run) so that a long API never sits in memory.
            push_records(&mut records, source, fetched)?;
        }
        let next = next_page(&source.pagination, &document, count, &extra, link_next.as_deref(), &source.url);
        match next {
            Some(Next::Parameters(parameters)) => extra = parameters,
            Some(Next::Url(next_url)) => {
                url = next_url;
                extra = Vec::new();
            }
            None => break,
        }
    }
    push_records(&mut records, source, fetched)
}

/// The records gathered so far as one batch (taken out of `records`).
fn push_records(records: &mut Vec<Value>, source: &HttpSource, fetched: &mut Fetched) -> Result<(), ImportError> {
    let frame = frame_of(records).map_err(|err| ImportError::Source(format!("{}: {err}", source.url)))?;
    records.clear();
    fetched.push(frame)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The records as a frame: NDJSON through Polars' reader, nested fields flattened.
fn frame_of(records: &[Value]) -> PolarsResult<DataFrame> {
    if records.is_empty() {
        return Ok(DataFrame::empty());
    }
    let mut lines = Vec::new();
    for record in records {
        serde_json::to_writer(&mut lines, record).map_err(|err| polars_err!(ComputeError: "{err}"))?;
        lines.push(b'\n');
    }
    // Types from every record (Polars' default looks at 100).
    let frame =
        JsonReader::new(Cursor::new(lines)).with_json_format(JsonFormat::JsonLines).infer_schema_len(None).finish()?;
    flatten_structs(frame)
}

/// The value at a dotted path (`data.items`); the empty path is the document.
fn at_path<'a>(document: &'a Value, path: &str) -> Option<&'a Value> {
    if path.trim().is_empty() {
        return Some(document);
    }
    path.split('.').try_fold(document, |value, key| value.get(key))
}

fn first_page_parameters(pagination: &Pagination) -> Vec<(String, String)> {
    match pagination {
        Pagination::Page { param, first } => vec![(param.clone(), first.to_string())],
        Pagination::Offset { offset_param, limit_param, limit } => {
            vec![(offset_param.clone(), "0".into()), (limit_param.clone(), limit.to_string())]
        }
        Pagination::None | Pagination::Cursor { .. } | Pagination::NextLink { .. } => Vec::new(),
    }
}

enum Next {
    Parameters(Vec<(String, String)>),
    Url(String),
}

fn next_page(
    pagination: &Pagination,
    document: &Value,
    records: usize,
    current: &[(String, String)],
    link_next: Option<&str>,
    base_url: &str,
) -> Option<Next> {
    let current_number = |name: &str| current.iter().find(|(k, _)| k == name).and_then(|(_, v)| v.parse::<u64>().ok());
    match pagination {
        Pagination::None => None,
        Pagination::Page { param, first } => (records > 0).then(|| {
            Next::Parameters(vec![(param.clone(), (current_number(param).unwrap_or(*first) + 1).to_string())])
        }),
        Pagination::Offset { offset_param, limit_param, limit } => {
            (records as u64 >= *limit && *limit > 0).then(|| {
                let offset = current_number(offset_param).unwrap_or(0) + limit;
                Next::Parameters(vec![
                    (offset_param.clone(), offset.to_string()),
                    (limit_param.clone(), limit.to_string()),
                ])
            })
        }
        Pagination::Cursor { field, param } => match at_path(document, field) {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) if text.is_empty() => None,
            Some(Value::String(text)) => Some(Next::Parameters(vec![(param.clone(), text.clone())])),
            Some(other) => Some(Next::Parameters(vec![(param.clone(), other.to_string())])),
        },
        Pagination::NextLink { field } => {
            let from_body = field.as_deref().and_then(|field| at_path(document, field)).and_then(Value::as_str);
            let link = from_body.or(link_next).filter(|link| !link.is_empty())?;
            Some(Next::Url(resolve(base_url, link)))
        }
    }
}

/// A link relative to the API's address made absolute.
fn resolve(base: &str, link: &str) -> String {
    if link.starts_with("http://") || link.starts_with("https://") {
        return link.to_string();
    }
    let origin_end = base.find("://").map_or(0, |i| i + 3);
    let origin = base[origin_end..].find('/').map_or(base, |i| &base[..origin_end + i]);
    if link.starts_with('/') { format!("{origin}{link}") } else { format!("{origin}/{link}") }
}

/// The `rel="next"` target of a `Link` header.
fn link_header_next(value: &str) -> Option<String> {
    value.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"" || p.trim() == "rel=next")
            .then(|| target.trim().trim_start_matches('<').trim_end_matches('>').to_string())
    })
}

/// A request with the source's query, the page's parameters and the headers.
fn with_parameters<B>(
    mut request: ureq::RequestBuilder<B>,
    source: &HttpSource,
    parameters: &[(String, String)],
    headers: &[(String, String)],
) -> ureq::RequestBuilder<B> {
    for (key, value) in source.query.iter().chain(parameters.iter().map(|(k, v)| (k, v))) {
        request = request.query(key, value);
    }
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request
}

/// One page: the body and the `Link` header's next target; 429 waits and asks again.
fn request(
    agent: &ureq::Agent,
    source: &HttpSource,
    url: &str,
    parameters: &[(String, String)],
    headers: &[(String, String)],
    cancel: &Cancel,
) -> Result<(String, Option<String>), ImportError> {
    let mut rate_limited = 0;
    loop {
        cancel.check()?;
        let failed = |err: ureq::Error| ImportError::Source(format!("{} {url}: {err}", source.method));
        let mut response = match source.method {
            HttpMethod::Get => with_parameters(agent.get(url), source, parameters, headers).call().map_err(failed)?,
            HttpMethod::Post => {
                let body = source.body.clone().unwrap_or_default();
                with_parameters(agent.post(url), source, parameters, headers)
                    .header("Content-Type", "application/json")
                    .send(body)
                    .map_err(failed)?
            }
        };
        let status = response.status().as_u16();
        if status == 429 && rate_limited < MAX_RATE_LIMITED {
            rate_limited += 1;
            let wait = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map_or(Duration::from_secs(1 << rate_limited), Duration::from_secs);
            if wait > LONGEST_RETRY_AFTER {
                return Err(ImportError::Source(format!("{url}: rate limited, asked to wait {}s", wait.as_secs())));
            }
            let until = Instant::now() + wait;
            while Instant::now() < until {
                cancel.check()?;
                std::thread::sleep(Duration::from_millis(50).min(until - Instant::now()));
            }
            continue;
        }
        let link_next = response.headers().get("link").and_then(|v| v.to_str().ok()).and_then(link_header_next);
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_string()
            .map_err(|err| ImportError::Source(format!("{url}: reading the response failed: {err}")))?;
        if status >= 400 {
            let excerpt: String = body.chars().take(200).collect();
            return Err(ImportError::Source(format!("{} {url} answered HTTP {status}: {excerpt}", source.method)));
        }
        return Ok((body, link_next));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_and_relative_links() {
        let header = "<https://api.example.com/items?page=2>; rel=\"next\", <https://api.example.com/items?page=9>; rel=\"last\"";
        assert_eq!(link_header_next(header).as_deref(), Some("https://api.example.com/items?page=2"));
        assert_eq!(link_header_next("<x>; rel=\"prev\""), None);
        assert_eq!(resolve("http://127.0.0.1:8080/api/items", "/api/items?c=2"), "http://127.0.0.1:8080/api/items?c=2");
    }

    #[test]
    fn records_are_found_by_dotted_path() {
        let document: Value = serde_json::json!({"data": {"items": [{"a": 1}]}});
        assert!(matches!(at_path(&document, "data.items"), Some(Value::Array(items)) if items.len() == 1));
        assert!(at_path(&document, "data.nope").is_none());
    }
}
