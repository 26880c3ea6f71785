//! Saving a workbook without losing what the user wrote: the new streams are
//! merged into the file's own TOML document (`toml_edit`), so comments,
//! ordering, formatting and untouched keys stay as they were.
//!
//! The merge is three-way, key by key: `base` is the workbook as the file held
//! it when it was read, `new` the workbook to save, `text` the file. A key whose
//! value is the same in `base` and `new` is left alone (whether the file wrote
//! it or relied on its default); a changed key gets the new value in place,
//! keeping its comments; a key gone from `new` is removed. Streams match by
//! position (the editor replaces a stream where it stands and appends new
//! ones). Text in, text out: no I/O here.

use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, TableLike};

use super::workbook::{StreamSpec, Workbook};

/// `text` with the streams of `base` replaced by those of `new`.
pub fn updated_text(text: &str, base: &Workbook, new: &Workbook) -> Result<String, String> {
    let mut document: DocumentMut = text.parse().map_err(|err| format!("the workbook file does not parse: {err}"))?;
    if !document.contains_key("streams") && !new.streams.is_empty() {
        document.insert("streams", Item::ArrayOfTables(ArrayOfTables::new()));
    }
    let mut next_position = deepest_position(document.as_table()) + 1;
    let streams = match document.get_mut("streams") {
        Some(Item::ArrayOfTables(streams)) => streams,
        Some(_) => return Err("the workbook writes `streams` in a form this editor does not change".into()),
        None => return Ok(document.to_string()),
    };
    for (index, stream) in new.streams.iter().enumerate() {
        if let (Some(table), Some(old)) = (streams.get_mut(index), base.streams.get(index)) {
            merge(table, &plain_table(old)?, &plain_table(stream)?);
        } else {
            let mut table = stream_section(stream)?;
            // Sections of the new stream go after everything already in the file, in order.
            place_after(&mut table, &mut next_position);
            table.decor_mut().set_prefix("\n");
            streams.push(table);
        }
    }
    while streams.len() > new.streams.len() {
        streams.remove(streams.len() - 1);
    }
    Ok(document.to_string())
}

/// A new stream as a `[[streams]]` section, keys in the workbook's own order.
fn stream_section(stream: &StreamSpec) -> Result<Table, String> {
    #[derive(serde::Serialize)]
    struct Streams<'a> {
        streams: [&'a StreamSpec; 1],
    }
    let text = toml::to_string_pretty(&Streams { streams: [stream] }).map_err(|err| err.to_string())?;
    let document: DocumentMut = text.parse().map_err(|err: toml_edit::TomlError| err.to_string())?;
    match document.get("streams") {
        Some(Item::ArrayOfTables(tables)) => tables.get(0).cloned().ok_or_else(|| "no stream written".to_string()),
        _ => Err("no stream written".into()),
    }
}

/// The largest section position in `table` and everything under it.
fn deepest_position(table: &Table) -> isize {
    let own = table.position().unwrap_or(0);
    table
        .iter()
        .map(|(_, item)| match item {
            Item::Table(sub) => deepest_position(sub),
            Item::ArrayOfTables(array) => array.iter().map(deepest_position).max().unwrap_or(0),
            _ => 0,
        })
        .fold(own, isize::max)
}

/// Numbers the sections of `table` from `next` on, depth first; lists of
/// tables (the metrics) are written inline, as the workbooks write them.
fn place_after(table: &mut Table, next: &mut isize) {
    table.set_position(Some(*next));
    *next += 1;
    for (_, item) in table.iter_mut() {
        if let Item::ArrayOfTables(array) = item {
            let mut inline = array.clone().into_array();
            inline.fmt();
            *item = Item::Value(toml_edit::Value::Array(inline));
        }
        if let Item::Table(sub) = item {
            place_after(sub, next);
        }
    }
}

/// A stream as plain TOML values (for comparing and for new text).
fn plain_table(stream: &StreamSpec) -> Result<toml::Table, String> {
    toml::Table::try_from(stream).map_err(|err| format!("cannot write stream `{}`: {err}", stream.name))
}

fn merge(document: &mut dyn TableLike, old: &toml::Table, new: &toml::Table) {
    for (key, value) in new {
        let old_value = old.get(key);
        if old_value == Some(value) {
            continue;
        }
        if let (toml::Value::Table(new_sub), Some(toml::Value::Table(old_sub))) = (value, old_value)
            && let Some(sub) = document.get_mut(key).and_then(Item::as_table_like_mut)
        {
            merge(sub, old_sub, new_sub);
            continue;
        }
        if let Some(Item::Value(existing)) = document.get_mut(key) {
            if let Some(mut replacement) = edit_value(value) {
                *replacement.decor_mut() = existing.decor().clone();
                *existing = replacement;
            }
            continue;
        }
        let item = match value {
            // A new sub-table (e.g. a first `[streams.kafka]`) becomes a section of its own;
            // inside an inline table it is written inline.
            toml::Value::Table(sub) => edit_table(sub).ok().map(Item::Table),
            value => edit_value(value).map(Item::Value),
        };
        if let Some(item) = item {
            document.insert(key, item);
        }
    }
    let gone: Vec<String> = old.keys().filter(|key| !new.contains_key(*key)).cloned().collect();
    for key in gone {
        document.remove(&key);
    }
}

/// A plain value as `toml_edit` text, formatted the way `toml` writes it.
fn edit_value(value: &toml::Value) -> Option<toml_edit::Value> {
    let mut wrapper = toml::Table::new();
    wrapper.insert("v".into(), value.clone());
    let text = toml::to_string(&wrapper).ok()?;
    let document: DocumentMut = text.parse().ok()?;
    match document.get("v")? {
        Item::Value(value) => Some(value.clone()),
        Item::Table(table) => Some(toml_edit::Value::InlineTable(table.clone().into_inline_table())),
        _ => None,
    }
}

/// A plain table as a `toml_edit` table (sub-tables as `[a.b]` sections).
fn edit_table(table: &toml::Table) -> Result<Table, String> {
    let text = toml::to_string_pretty(table).map_err(|err| err.to_string())?;
    let document: DocumentMut = text.parse().map_err(|err: toml_edit::TomlError| err.to_string())?;
    let mut table = document.as_table().clone();
    table.set_implicit(false);
    Ok(table)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const FILE: &str = r#"# My shop workbook — comments must survive a save.
[workbook]
name = "shop"

[[streams]]
name = "clicks"   # the web shop's clickstream
brokers = "kafka-1:9092"
topic = "clickstream"
time = { field = "ts", format = "epoch_ms" }

[streams.rollup]
# one-minute buckets for the dashboard
granularity = "1m"
dimensions = ["country"]
allowed_lateness = "10m"
metrics = [{ name = "events", kind = "count" }]

[streams.kafka]
security_protocol = "SASL_SSL"
sasl_mechanism = "SCRAM-SHA-512"
sasl_username = "analyst"
password_env = "KAFKA_PASSWORD" # never the password itself

[[reports]]
title = "kept as written"
"#;

    fn parse(text: &str) -> Workbook {
        Workbook::from_toml(text, Path::new("w.toml")).unwrap()
    }

    #[test]
    fn a_changed_key_changes_in_place_and_everything_else_stays() {
        let base = parse(FILE);
        let mut new = base.clone();
        new.streams[0].rollup.granularity = crate::model::Granularity::try_from("5m".to_string()).unwrap();
        let text = updated_text(FILE, &base, &new).unwrap();
        assert_eq!(text, FILE.replace("granularity = \"1m\"", "granularity = \"5m\""));
        assert_eq!(parse(&text), new);
    }

    #[test]
    fn an_unchanged_workbook_is_written_back_byte_for_byte() {
        let base = parse(FILE);
        assert_eq!(updated_text(FILE, &base, &base).unwrap(), FILE);
    }

    #[test]
    fn new_streams_are_appended_and_removed_keys_disappear() {
        let base = parse(FILE);
        let mut new = base.clone();
        new.streams[0].rollup.dimensions.push("device".into());
        new.streams[0].kafka.sasl_username = None;
        let mut second = base.streams[0].clone();
        second.name = "orders".into();
        second.topic = "orders".into();
        new.streams.push(second);
        let text = updated_text(FILE, &base, &new).unwrap();
        assert_eq!(parse(&text), new);
        assert!(text.contains("# one-minute buckets for the dashboard"));
        assert!(text.contains("password_env = \"KAFKA_PASSWORD\" # never the password itself"));
        assert!(text.contains("name = \"clicks\"   # the web shop's clickstream"));
        let first_stream = text.split("name = \"orders\"").next().unwrap();
        assert!(!first_stream.contains("sasl_username"), "removed from the first stream: {text}");
        assert!(text.find("title = \"kept as written\"") < text.find("name = \"orders\""), "{text}");
        assert!(text.contains("title = \"kept as written\""));
        assert!(text.contains("\n\n[[streams]]\nname = \"orders\""), "{text}");
    }

    #[test]
    fn a_first_kafka_table_becomes_a_section() {
        let text = FILE.replace(
            "[streams.kafka]\nsecurity_protocol = \"SASL_SSL\"\nsasl_mechanism = \"SCRAM-SHA-512\"\nsasl_username = \"analyst\"\npassword_env = \"KAFKA_PASSWORD\" # never the password itself\n",
            "",
        );
        let base = parse(&text);
        let mut new = base.clone();
        new.streams[0].kafka.ca_file = Some("/etc/ca.pem".into());
        let saved = updated_text(&text, &base, &new).unwrap();
        assert_eq!(parse(&saved), new);
        assert!(saved.contains("[streams.kafka]\nca_file = \"/etc/ca.pem\""), "{saved}");
    }
}
