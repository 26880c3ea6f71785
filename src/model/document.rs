//! Saving a workbook without losing what the user wrote: the new streams,
//! imports and exports are merged into the file's own TOML document (`toml_edit`), so comments,
//! ordering, formatting and untouched keys stay as they were.
//!
//! The merge is three-way, key by key: `base` is the workbook as the file held
//! it when it was read, `new` the workbook to save, `text` the file. A key whose
//! value is the same in `base` and `new` is left alone (whether the file wrote
//! it or relied on its default); a changed key gets the new value in place,
//! keeping its comments; a key gone from `new` is removed. Sections match by
//! name (a new name where a removed one stood is a rename in place); new
//! ones are appended, deleted ones removed. Text in, text out: no I/O here.

use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, TableLike};

use super::exports::ExportSpec;
use super::imports::ImportSpec;
use super::workbook::{StreamSpec, Workbook};

/// `text` with the streams, imports, exports and reports of `base` replaced by those of `new`.
pub fn updated_text(text: &str, base: &Workbook, new: &Workbook) -> Result<String, String> {
    let mut document: DocumentMut = text.parse().map_err(|err| format!("the workbook file does not parse: {err}"))?;
    let streams = |items: &[StreamSpec]| items.iter().map(|s| Named::of("streams", &s.name, s)).collect::<Vec<_>>();
    merge_sections(&mut document, "streams", &streams(&base.streams), &streams(&new.streams))?;
    let imports = |items: &[ImportSpec]| items.iter().map(|i| Named::of("imports", &i.name, i)).collect::<Vec<_>>();
    merge_sections(&mut document, "imports", &imports(&base.imports), &imports(&new.imports))?;
    let exports = |items: &[ExportSpec]| items.iter().map(|e| Named::of("exports", &e.name, e)).collect::<Vec<_>>();
    merge_sections(&mut document, "exports", &exports(&base.exports), &exports(&new.exports))?;
    let reports = |items: &[super::reports::ReportSpec]| {
        items.iter().map(|r| Named::of("reports", &r.name, r)).collect::<Vec<_>>()
    };
    merge_sections(&mut document, "reports", &reports(&base.reports), &reports(&new.reports))?;
    Ok(document.to_string())
}

/// An item of a section list: its name, its plain TOML (to compare) and its
/// section as it would be written (keys in the workbook's own order), or why
/// it cannot be written.
struct Named {
    name: String,
    plain: Result<toml::Table, String>,
    section: Result<Table, String>,
}

impl Named {
    fn of<T: serde::Serialize>(key: &str, name: &str, item: &T) -> Self {
        Self { name: name.to_string(), plain: plain(item, name), section: section_table(key, item) }
    }
}

/// Merges the `[[key]]` sections of the document from `base` to `new`. Items
/// match by name; a new name where a removed one stood is that item renamed in
/// place; removed items' sections go; new items are appended after everything.
fn merge_sections(document: &mut DocumentMut, key: &str, base: &[Named], new: &[Named]) -> Result<(), String> {
    if !document.contains_key(key) && !new.is_empty() {
        document.insert(key, Item::ArrayOfTables(ArrayOfTables::new()));
    }
    let mut next_position = deepest_position(document.as_table()) + 1;
    let sections = match document.get_mut(key) {
        Some(Item::ArrayOfTables(sections)) => sections,
        Some(_) => return Err(format!("the workbook writes `{key}` in a form this editor does not change")),
        None => return Ok(()),
    };
    let new_names: Vec<&str> = new.iter().map(|item| item.name.as_str()).collect();
    let mut used = vec![false; base.len()];
    let mut matches: Vec<Option<usize>> = new
        .iter()
        .map(|item| {
            let index = base.iter().position(|old| old.name == item.name)?;
            used[index] = true;
            Some(index)
        })
        .collect();
    for (index, matched) in matches.iter_mut().enumerate() {
        let renamed = base.get(index).is_some_and(|old| !new_names.contains(&old.name.as_str()));
        if matched.is_none() && renamed && !used[index] {
            used[index] = true;
            *matched = Some(index);
        }
    }
    for (item, matched) in new.iter().zip(&matches) {
        if let Some((table, old)) = matched.and_then(|index| Some((sections.get_mut(index)?, &base[index].plain))) {
            merge(table, old.as_ref().map_err(Clone::clone)?, item.plain.as_ref().map_err(Clone::clone)?);
        } else {
            let mut table = item.section.clone()?;
            // Sections of a new item go after everything already in the file, in order.
            place_after(&mut table, &mut next_position);
            table.decor_mut().set_prefix("\n");
            sections.push(table);
        }
    }
    for index in (0..base.len()).rev().filter(|index| !used[*index]) {
        if index < sections.len() {
            sections.remove(index);
        }
    }
    Ok(())
}

/// An item as a `[[key]]` section, keys in the workbook's own order.
fn section_table<T: serde::Serialize>(key: &str, item: &T) -> Result<Table, String> {
    let mut wrapper = std::collections::BTreeMap::new();
    wrapper.insert(key, [item]);
    let text = toml::to_string_pretty(&wrapper).map_err(|err| err.to_string())?;
    let document: DocumentMut = text.parse().map_err(|err: toml_edit::TomlError| err.to_string())?;
    match document.get(key) {
        Some(Item::ArrayOfTables(tables)) => tables.get(0).cloned().ok_or_else(|| format!("no {key} written")),
        _ => Err(format!("no {key} written")),
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

/// An item as plain TOML values (for comparing and for new text).
fn plain<T: serde::Serialize>(item: &T, name: &str) -> Result<toml::Table, String> {
    toml::Table::try_from(item).map_err(|err| format!("cannot write `{name}`: {err}"))
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
name = "by_country"   # kept as written
from = "clicks"
group_by = ["country"]
measures = [{ name = "events", metric = "events" }]
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
        assert!(text.find("name = \"by_country\"   # kept as written") < text.find("name = \"orders\""), "{text}");
        assert!(text.contains("name = \"by_country\"   # kept as written"));
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

    const IMPORTS: &str = r#"[workbook]
name = "offline"

# Nightly CRM dump.
[[imports]]
name = "customers" # who buys
schedule = { cron = "0 6 * * *", time_zone = "Europe/Berlin" }

[imports.source]
kind = "sqlite"
url = "crm.sqlite"
table = "customers"

# Rates, every minute.
[[imports]]
name = "rates"

[imports.source]
kind = "http"
url = "https://rates.example/v1"
records = "rates"

[[imports]]
name = "products"

[imports.source]
kind = "file"
path = "products.csv" # shipped by merchandising
"#;

    #[test]
    fn imports_are_edited_in_place_deleted_and_added_by_name() {
        let base = parse(IMPORTS);
        let mut new = base.clone();
        new.imports.remove(1);
        if let crate::model::ImportSource::File(file) = &mut new.imports[1].source {
            file.delimiter = Some(';');
        }
        let mut added = base.imports[1].clone();
        added.name = "fx".into();
        new.imports.push(added);
        let text = updated_text(IMPORTS, &base, &new).unwrap();
        assert_eq!(parse(&text), new);
        assert!(text.contains("# Nightly CRM dump.\n[[imports]]\nname = \"customers\" # who buys"), "{text}");
        assert!(text.contains("path = \"products.csv\" # shipped by merchandising\ndelimiter = \";\""), "{text}");
        assert!(!text.contains("name = \"rates\""), "{text}");
        assert!(text.find("name = \"products\"") < text.find("name = \"fx\""), "{text}");
    }

    #[test]
    fn a_renamed_import_keeps_its_place_and_comments() {
        let base = parse(IMPORTS);
        let mut new = base.clone();
        new.imports[0].name = "crm_customers".into();
        let text = updated_text(IMPORTS, &base, &new).unwrap();
        assert_eq!(parse(&text), new);
        assert!(text.contains("name = \"crm_customers\" # who buys"), "{text}");
    }
}
