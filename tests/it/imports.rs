//! Imports through the real `tidepool import` against the real PostgreSQL and
//! MariaDB servers on loopback (started before the tests, as on CI), SQLite
//! files and real CSV/NDJSON/Parquet files: every column type with NULLs,
//! checked value by value; bad rows by line; incremental runs; failed runs
//! keeping the previous version; a planted secret found nowhere.

use std::path::Path;

use polars::prelude::*;

use crate::support::*;

const POSTGRES_URL: &str = "postgresql://postgres@127.0.0.1:5432/test";
const MARIADB_URL: &str = "mysql://root@127.0.0.1:3306/test";

fn postgres() -> postgres::Client {
    postgres::Client::connect(&format!("{POSTGRES_URL}?connect_timeout=10"), postgres::NoTls)
        .expect("the test PostgreSQL on 127.0.0.1:5432 (database `test`, trust auth)")
}

fn mariadb() -> mysql::Conn {
    mysql::Conn::new(mysql::Opts::from_url(MARIADB_URL).unwrap()).expect("the test MariaDB on 127.0.0.1:3306 (root)")
}

/// A table name no other test (or earlier run) uses.
fn unique_table(prefix: &str) -> String {
    unique_topic(prefix).replace('-', "_")
}

fn import(sandbox: &Sandbox, workbook: &Path, name: &str) -> std::process::Output {
    sandbox.tidepool(&["import", path_str(workbook), name])
}

fn imported(sandbox: &Sandbox, workbook: &Path, name: &str) -> DataFrame {
    let output = import(sandbox, workbook, name);
    assert_success(&output, &format!("import {name}"));
    sandbox.export(workbook, name)
}

fn value(frame: &DataFrame, column: &str, row: usize) -> AnyValue<'static> {
    frame
        .column(column)
        .unwrap_or_else(|_| panic!("column {column} in {:?}", frame.get_column_names()))
        .get(row)
        .unwrap()
        .into_static()
}

fn micros(text: &str) -> i64 {
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").unwrap().and_utc().timestamp_micros()
}

fn days(text: &str) -> i32 {
    (chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
        - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
    .num_days() as i32
}

fn decimal(frame: &DataFrame, column: &str, row: usize) -> Option<String> {
    let series = frame.column(column).unwrap().as_materialized_series().cast(&DataType::String).unwrap();
    series.str().unwrap().get(row).map(str::to_string)
}

fn assert_all_null_but_id(frame: &DataFrame, row: usize) {
    for column in frame.columns() {
        if column.name() != "id" {
            assert!(column.get(row).unwrap().is_null(), "column {} of the NULL row is null", column.name());
        }
    }
}

#[test]
fn postgres_types_map_value_by_value_with_nulls() {
    let table = unique_table("pg_types");
    let mut client = postgres();
    client
        .batch_execute(&format!(
            "CREATE TABLE {table} (id int PRIMARY KEY, i2 smallint, i4 integer, i8 bigint, f4 real, f8 double precision,
               amount numeric(12,3), loose numeric, txt text, vc varchar(20), ch char(3), flag boolean, d date, tm time,
               ts timestamp, tstz timestamptz, j jsonb, js json, b bytea, u uuid);
             INSERT INTO {table} VALUES
              (1, -32768, 2147483647, -9223372036854775808, 1.5, 2.25, -123456789.125, 0.1, 'ünï', 'v', 'ab',
               true, '2026-02-28', '23:59:58.123456', '2026-11-20 07:42:10.654321', '2026-11-20 09:42:10+02',
               '{{\"a\": [1, 2]}}', '{{\"b\":1}}', '\\x00ff10', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
              (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);"
        ))
        .unwrap();
    let sandbox = Sandbox::new();
    let workbook = sandbox.write_workbook(&format!(
        "[[imports]]\nname = \"types\"\nsource = {{ kind = \"postgres\", url = \"{POSTGRES_URL}\", query = \"SELECT * FROM {table} ORDER BY id\" }}\n"
    ));
    let frame = imported(&sandbox, &workbook, "types");
    let dtype = |c: &str| frame.column(c).unwrap().dtype().clone();
    assert_eq!(dtype("i2"), DataType::Int16);
    assert_eq!(dtype("i4"), DataType::Int32);
    assert_eq!(dtype("i8"), DataType::Int64);
    assert_eq!(dtype("f4"), DataType::Float32);
    assert_eq!(dtype("amount"), DataType::Decimal(12, 3));
    assert_eq!(dtype("loose"), DataType::Float64, "numeric without a scale is a float, said in the run log");
    assert_eq!(dtype("d"), DataType::Date);
    assert_eq!(dtype("tm"), DataType::Time);
    assert_eq!(dtype("ts"), DataType::Datetime(TimeUnit::Microseconds, None));
    assert_eq!(dtype("tstz"), DataType::Datetime(TimeUnit::Microseconds, Some(polars::prelude::TimeZone::UTC)));
    assert_eq!(dtype("b"), DataType::Binary);
    assert_eq!(value(&frame, "i2", 0), AnyValue::Int16(-32768));
    assert_eq!(value(&frame, "i4", 0), AnyValue::Int32(i32::MAX));
    assert_eq!(value(&frame, "i8", 0), AnyValue::Int64(i64::MIN));
    assert_eq!(value(&frame, "f4", 0), AnyValue::Float32(1.5));
    assert_eq!(value(&frame, "f8", 0), AnyValue::Float64(2.25));
    assert_eq!(decimal(&frame, "amount", 0).as_deref(), Some("-123456789.125"));
    assert_eq!(value(&frame, "txt", 0), AnyValue::StringOwned("ünï".into()));
    assert_eq!(value(&frame, "ch", 0), AnyValue::StringOwned("ab ".into()), "char(3) keeps its padding");
    assert_eq!(value(&frame, "flag", 0), AnyValue::Boolean(true));
    assert_eq!(
        frame.column("d").unwrap().as_materialized_series().to_physical_repr().get(0).unwrap(),
        AnyValue::Int32(days("2026-02-28"))
    );
    let physical =
        |c: &str| frame.column(c).unwrap().as_materialized_series().to_physical_repr().get(0).unwrap().into_static();
    assert_eq!(physical("tm"), AnyValue::Int64((23 * 3600 + 59 * 60 + 58) * 1_000_000_000 + 123_456_000));
    assert_eq!(physical("ts"), AnyValue::Int64(micros("2026-11-20 07:42:10.654321")));
    assert_eq!(physical("tstz"), AnyValue::Int64(micros("2026-11-20 07:42:10")), "timestamptz is the UTC instant");
    assert_eq!(value(&frame, "j", 0), AnyValue::StringOwned("{\"a\": [1, 2]}".into()));
    assert_eq!(value(&frame, "js", 0), AnyValue::StringOwned("{\"b\":1}".into()));
    assert_eq!(value(&frame, "b", 0), AnyValue::BinaryOwned(vec![0, 255, 16]));
    assert_eq!(value(&frame, "u", 0), AnyValue::StringOwned("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()));
    assert_all_null_but_id(&frame, 1);
    let history = sandbox.tidepool(&["history", path_str(&workbook), "types"]);
    assert_success(&history, "history");
    assert!(stdout(&history).contains("succeeded"), "{}", stdout(&history));
    client.batch_execute(&format!("DROP TABLE {table}")).unwrap();
}

#[test]
fn mariadb_types_map_value_by_value_with_nulls() {
    use mysql::prelude::Queryable as _;
    let table = unique_table("my_types");
    let mut connection = mariadb();
    connection
        .query_drop(format!(
            "CREATE TABLE {table} (id INT PRIMARY KEY, t TINYINT, s SMALLINT, m MEDIUMINT, i INT, big BIGINT,
               ubig BIGINT UNSIGNED, f FLOAT, dbl DOUBLE, amount DECIMAL(12,3), vc VARCHAR(20), txt TEXT,
               flag BOOLEAN, d DATE, tm TIME(6), dt DATETIME(6), ts TIMESTAMP(6) NULL, j JSON, vb VARBINARY(8), bl BLOB)"
        ))
        .unwrap();
    connection.query_drop("SET time_zone = '+00:00'").unwrap();
    connection
        .query_drop(format!(
            "INSERT INTO {table} VALUES
              (1, -128, -32768, 8388607, -2147483648, 9223372036854775807, 18446744073709551615, 1.5, 2.25,
               -123456789.125, 'ünï', 'long text', TRUE, '2026-02-28', '23:59:58.123456', '2026-11-20 07:42:10.654321',
               '2026-11-20 07:42:10.5', '{{\"a\": 1}}', X'00ff10', X'0102'),
              (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"
        ))
        .unwrap();
    let sandbox = Sandbox::new();
    let workbook = sandbox.write_workbook(&format!(
        "[[imports]]\nname = \"types\"\nsource = {{ kind = \"mysql\", url = \"{MARIADB_URL}\", query = \"SELECT * FROM {table} ORDER BY id\" }}\n"
    ));
    let frame = imported(&sandbox, &workbook, "types");
    let dtype = |c: &str| frame.column(c).unwrap().dtype().clone();
    assert_eq!(dtype("t"), DataType::Int8);
    assert_eq!(dtype("s"), DataType::Int16);
    assert_eq!(dtype("m"), DataType::Int32);
    assert_eq!(dtype("ubig"), DataType::UInt64);
    assert_eq!(dtype("amount"), DataType::Decimal(12, 3));
    assert_eq!(dtype("flag"), DataType::Boolean, "MariaDB's BOOLEAN (TINYINT(1)) is a boolean");
    assert_eq!(dtype("dt"), DataType::Datetime(TimeUnit::Microseconds, None));
    assert_eq!(dtype("ts"), DataType::Datetime(TimeUnit::Microseconds, Some(polars::prelude::TimeZone::UTC)));
    assert_eq!(dtype("vb"), DataType::Binary);
    assert_eq!(value(&frame, "t", 0), AnyValue::Int8(-128));
    assert_eq!(value(&frame, "m", 0), AnyValue::Int32(8_388_607));
    assert_eq!(value(&frame, "i", 0), AnyValue::Int32(i32::MIN));
    assert_eq!(value(&frame, "big", 0), AnyValue::Int64(i64::MAX));
    assert_eq!(value(&frame, "ubig", 0), AnyValue::UInt64(u64::MAX));
    assert_eq!(value(&frame, "f", 0), AnyValue::Float32(1.5));
    assert_eq!(decimal(&frame, "amount", 0).as_deref(), Some("-123456789.125"));
    assert_eq!(value(&frame, "vc", 0), AnyValue::StringOwned("ünï".into()));
    assert_eq!(value(&frame, "flag", 0), AnyValue::Boolean(true));
    let physical =
        |c: &str| frame.column(c).unwrap().as_materialized_series().to_physical_repr().get(0).unwrap().into_static();
    assert_eq!(physical("d"), AnyValue::Int32(days("2026-02-28")));
    assert_eq!(physical("tm"), AnyValue::Int64((23 * 3600 + 59 * 60 + 58) * 1_000_000_000 + 123_456_000));
    assert_eq!(physical("dt"), AnyValue::Int64(micros("2026-11-20 07:42:10.654321")));
    assert_eq!(physical("ts"), AnyValue::Int64(micros("2026-11-20 07:42:10.5")));
    assert_eq!(value(&frame, "j", 0), AnyValue::StringOwned("{\"a\": 1}".into()));
    assert_eq!(value(&frame, "vb", 0), AnyValue::BinaryOwned(vec![0, 255, 16]));
    assert_eq!(value(&frame, "bl", 0), AnyValue::BinaryOwned(vec![1, 2]));
    assert_all_null_but_id(&frame, 1);
    connection.query_drop(format!("DROP TABLE {table}")).unwrap();
}

#[test]
fn sqlite_tables_are_typed_by_their_declared_types() {
    let sandbox = Sandbox::new();
    let database = sandbox.path("shop.sqlite");
    let connection = rusqlite::Connection::open(&database).unwrap();
    connection
        .execute_batch(
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, score REAL, balance DECIMAL(10,2),
               vip BOOLEAN, born DATE, seen DATETIME, photo BLOB);
             INSERT INTO customers VALUES (1, 'Ada', 9.5, '1234.50', 1, '1990-12-10', '2026-11-20 07:42:10', x'0a0b');
             INSERT INTO customers VALUES (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
             INSERT INTO customers VALUES (3, 'Bob', 'not a number', '1.00', 0, '1991-01-01', NULL, NULL);",
        )
        .unwrap();
    drop(connection);
    let workbook = sandbox.write_workbook(
        "[[imports]]\nname = \"customers\"\nbad_rows = \"skip\"\nsource = { kind = \"sqlite\", url = \"shop.sqlite\", table = \"customers\" }\n",
    );
    let frame = imported(&sandbox, &workbook, "customers");
    assert_eq!(frame.height(), 2, "the row with text in a REAL column is a bad row, skipped");
    assert_eq!(frame.column("balance").unwrap().dtype(), &DataType::Decimal(10, 2));
    assert_eq!(decimal(&frame, "balance", 0).as_deref(), Some("1234.50"));
    assert_eq!(value(&frame, "vip", 0), AnyValue::Boolean(true));
    assert_eq!(value(&frame, "photo", 0), AnyValue::BinaryOwned(vec![10, 11]));
    assert_all_null_but_id(&frame, 1);
    let history = stdout(&sandbox.tidepool(&["history", path_str(&workbook)]));
    assert!(history.contains("\t1\t"), "one bad row counted in the history: {history}");
}

#[test]
fn csv_bad_rows_are_reported_by_line_and_a_failed_run_keeps_the_previous_version() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.path("products.csv"), "id,name,price\n1,Mug,4.5\n2,\"Tea, green\",3\n").unwrap();
    let workbook = sandbox.write_workbook(
        "[[imports]]\nname = \"products\"\nsource = { kind = \"file\", path = \"products.csv\", columns = { price = \"float\" } }\n\
         [[imports]]\nname = \"lenient\"\nbad_rows = \"skip\"\nsource = { kind = \"file\", path = \"products.csv\", columns = { price = \"float\" } }\n",
    );
    let first = imported(&sandbox, &workbook, "products");
    assert_eq!(first.height(), 2);
    assert_eq!(value(&first, "name", 1), AnyValue::StringOwned("Tea, green".into()));
    // A quoted line break, a short row on line 6 and a bad number on line 7.
    std::fs::write(
        sandbox.path("products.csv"),
        "id,name,price\n1,Mug,4.5\n2,\"Tea,\ngreen\",3\n4,Pen,1\n5,Short\n6,Cup,cheap\n7,Bowl,2\n",
    )
    .unwrap();
    let failed = import(&sandbox, &workbook, "products");
    assert!(!failed.status.success(), "bad rows fail an import whose bad_rows is fail");
    let message = stderr(&failed);
    assert!(message.contains("2 bad rows"), "{message}");
    assert!(message.contains("products.csv, line 6: has 2 fields, the header has 3"), "{message}");
    assert!(message.contains("line 7: column `price`: `cheap` is not a number"), "{message}");
    let kept = sandbox.export(&workbook, "products");
    assert_eq!(kept, first, "the failed run left the previous version as it was");
    let lenient = imported(&sandbox, &workbook, "lenient");
    let ids: Vec<Option<i64>> = lenient.column("id").unwrap().i64().unwrap().iter().collect();
    assert_eq!(ids, vec![Some(1), Some(2), Some(4), Some(7)], "bad rows skipped, the rest kept in order");
    assert_eq!(value(&lenient, "name", 1), AnyValue::StringOwned("Tea,\ngreen".into()));
    let history = sandbox.tidepool(&["history", path_str(&workbook), "products"]);
    let printed = stdout(&history);
    assert!(printed.contains("failed") && printed.contains("succeeded"), "{printed}");
}

#[test]
fn files_by_glob_latin1_ndjson_and_parquet() {
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.path("drops")).unwrap();
    std::fs::write(sandbox.path("drops/2026-01.csv"), b"city;when\nK\xf6ln;2026-01-05\n").unwrap();
    std::fs::write(sandbox.path("drops/2026-02.csv"), b"city;when\nM\xfcnchen;2026-02-06\n").unwrap();
    std::fs::write(
        sandbox.path("events.ndjson"),
        "{\"id\": 1, \"user\": {\"name\": \"ada\", \"geo\": {\"country\": \"DE\"}}}\n{\"id\": 2, \"user\": {\"name\": \"bob\", \"geo\": {\"country\": null}}}\n",
    )
    .unwrap();
    let mut parquet = df!("sku" => ["a", "b"], "stock" => [3_i64, 0]).unwrap();
    ParquetWriter::new(std::fs::File::create(sandbox.path("stock.parquet")).unwrap()).finish(&mut parquet).unwrap();
    let workbook = sandbox.write_workbook(
        "[[imports]]\nname = \"cities\"\nsource = { kind = \"file\", path = \"drops/*.csv\", delimiter = \";\", encoding = \"latin1\", file_name_column = \"file\" }\n\
         [[imports]]\nname = \"events\"\nsource = { kind = \"file\", path = \"events.ndjson\" }\n\
         [[imports]]\nname = \"stock\"\nsource = { kind = \"file\", path = \"stock.parquet\" }\n",
    );
    let cities = imported(&sandbox, &workbook, "cities");
    assert_eq!(value(&cities, "city", 0), AnyValue::StringOwned("Köln".into()));
    assert_eq!(value(&cities, "city", 1), AnyValue::StringOwned("München".into()));
    assert_eq!(value(&cities, "file", 1), AnyValue::StringOwned("2026-02.csv".into()));
    assert_eq!(cities.column("when").unwrap().dtype(), &DataType::Date, "dates are inferred");
    let events = imported(&sandbox, &workbook, "events");
    assert_eq!(value(&events, "user.geo.country", 0), AnyValue::StringOwned("DE".into()), "nested fields flattened");
    assert!(value(&events, "user.geo.country", 1).is_null());
    assert_eq!(imported(&sandbox, &workbook, "stock"), parquet);
}

#[test]
fn appends_and_file_upserts_combine_versions_a_row_group_at_a_time() {
    let sandbox = Sandbox::new();
    // Append: the second file has a column the first had not.
    std::fs::write(sandbox.path("prices.csv"), "id,price\n1,10\n2,20\n3,30\n").unwrap();
    // Upsert over a glob of Parquet files, large enough for several row groups.
    std::fs::create_dir_all(sandbox.path("drops")).unwrap();
    let write_parquet = |name: &str, frame: &mut DataFrame| {
        ParquetWriter::new(std::fs::File::create(sandbox.path(name)).unwrap())
            .with_row_group_size(Some(50_000))
            .finish(frame)
            .unwrap();
    };
    let ids: Vec<i64> = (0..300_000).collect();
    let mut first =
        df!("id" => &ids, "seq" => &ids, "name" => ids.iter().map(|i| format!("v1 {i}")).collect::<Vec<_>>()).unwrap();
    write_parquet("drops/a.parquet", &mut first);
    let workbook = sandbox.write_workbook(
        "[[imports]]\nname = \"prices\"\nmode = \"append\"\nsource = { kind = \"file\", path = \"prices.csv\" }\n\
         [[imports]]\nname = \"people\"\nmode = { incremental = { cursor = \"seq\", key = [\"id\"] } }\n\
         source = { kind = \"file\", path = \"drops/*.parquet\" }\n",
    );
    assert_eq!(imported(&sandbox, &workbook, "prices").height(), 3);
    std::fs::write(sandbox.path("prices.csv"), "id,price,currency\n4,40.5,EUR\n5,50,USD\n").unwrap();
    let prices = imported(&sandbox, &workbook, "prices");
    let ids_now: Vec<i64> = prices.column("id").unwrap().i64().unwrap().iter().flatten().collect();
    assert_eq!(ids_now, [1, 2, 3, 4, 5], "the previous version's rows first, then the new ones");
    assert_eq!(prices.column("price").unwrap().dtype(), &DataType::Float64, "integer and float combine to float");
    assert_eq!(value(&prices, "price", 0), AnyValue::Float64(10.0));
    assert_eq!(value(&prices, "price", 3), AnyValue::Float64(40.5));
    assert!(value(&prices, "currency", 2).is_null(), "the new column is null for the old rows");
    assert_eq!(value(&prices, "currency", 4), AnyValue::StringOwned("USD".into()));

    assert_eq!(imported(&sandbox, &workbook, "people").height(), 300_000);
    // The next drop: 1,000 ids updated (a later seq) and 500 new ones; the
    // first file stays in the glob, its rows are not past the cursor.
    let changed: Vec<i64> = (0..1_000).map(|i| i * 250).chain(300_000..300_500).collect();
    let seqs: Vec<i64> = (0..changed.len() as i64).map(|i| 400_000 + i).collect();
    let mut second =
        df!("id" => &changed, "seq" => &seqs, "name" => changed.iter().map(|i| format!("v2 {i}")).collect::<Vec<_>>())
            .unwrap();
    write_parquet("drops/b.parquet", &mut second);
    let output = import(&sandbox, &workbook, "people");
    assert_success(&output, "second upsert");
    let people = sandbox.export(&workbook, "people");
    assert_eq!(people.height(), 300_500, "updated rows replaced, new rows added, none doubled");
    let unique = people.column("id").unwrap().as_materialized_series().n_unique().unwrap();
    assert_eq!(unique, 300_500);
    let name_of = |id: i64| {
        let row = people.clone().lazy().filter(col("id").eq(lit(id))).collect().unwrap();
        value(&row, "name", 0)
    };
    assert_eq!(name_of(250), AnyValue::StringOwned("v2 250".into()));
    assert_eq!(name_of(251), AnyValue::StringOwned("v1 251".into()));
    assert_eq!(name_of(300_499), AnyValue::StringOwned("v2 300499".into()));
    let renamed =
        people.column("name").unwrap().str().unwrap().iter().flatten().filter(|n| n.starts_with("v2")).count();
    assert_eq!(renamed, 1_500);
    let third = import(&sandbox, &workbook, "people");
    assert_success(&third, "third upsert");
    assert_eq!(sandbox.export(&workbook, "people").height(), 300_500, "nothing past the cursor: nothing changes");
}

#[test]
fn incremental_imports_fetch_past_the_cursor_and_upsert_by_key() {
    let table = unique_table("pg_orders");
    let mut client = postgres();
    client
        .batch_execute(&format!(
            "CREATE TABLE {table} (id int PRIMARY KEY, status text, updated_at timestamp);
             INSERT INTO {table} VALUES (1, 'new', '2026-11-20 10:00:00'), (2, 'new', '2026-11-20 10:01:00');"
        ))
        .unwrap();
    let sandbox = Sandbox::new();
    let workbook = sandbox.write_workbook(&format!(
        "[[imports]]\nname = \"orders\"\nmode = {{ incremental = {{ cursor = \"updated_at\", key = [\"id\"] }} }}\n\
         source = {{ kind = \"postgres\", url = \"{POSTGRES_URL}\", table = \"{table}\" }}\n"
    ));
    let statuses = |frame: &DataFrame| {
        let sorted = frame.sort(["id"], SortMultipleOptions::default()).unwrap();
        let ids: Vec<i32> = sorted.column("id").unwrap().i32().unwrap().iter().flatten().collect();
        let statuses: Vec<String> =
            sorted.column("status").unwrap().str().unwrap().iter().flatten().map(str::to_string).collect();
        ids.into_iter().zip(statuses).collect::<Vec<_>>()
    };
    let first = imported(&sandbox, &workbook, "orders");
    assert_eq!(statuses(&first), vec![(1, "new".into()), (2, "new".into())]);
    client
        .batch_execute(&format!(
            "UPDATE {table} SET status = 'paid', updated_at = '2026-11-20 11:00:00' WHERE id = 1;
             INSERT INTO {table} VALUES (3, 'new', '2026-11-20 11:05:00');
             UPDATE {table} SET status = 'lost' WHERE id = 2;"
        ))
        .unwrap();
    let output = import(&sandbox, &workbook, "orders");
    assert_success(&output, "second incremental run");
    assert!(stderr(&output).contains("2 fetched"), "only rows past the cursor: {}", stderr(&output));
    let second = sandbox.export(&workbook, "orders");
    assert_eq!(
        statuses(&second),
        vec![(1, "paid".into()), (2, "new".into()), (3, "new".into())],
        "upserted by key; a change that did not move the cursor is not fetched"
    );
    let third = import(&sandbox, &workbook, "orders");
    assert!(stderr(&third).contains("0 fetched"), "{}", stderr(&third));
    assert_eq!(sandbox.export(&workbook, "orders").height(), 3);
    client.batch_execute(&format!("DROP TABLE {table}")).unwrap();
}

#[test]
fn a_planted_secret_appears_nowhere() {
    let secret = format!("planted-{}", unique_topic("secret"));
    let sandbox = Sandbox::new();
    let workbook = sandbox.write_workbook(&format!(
        "[[imports]]\nname = \"pg\"\nsource = {{ kind = \"postgres\", url = \"{POSTGRES_URL}\", password_env = \"TIDEPOOL_TEST_SECRET\", query = \"SELECT 1 AS one\" }}\n\
         [[imports]]\nname = \"my\"\nattempts = 1\nsource = {{ kind = \"mysql\", url = \"{MARIADB_URL}\", password_env = \"TIDEPOOL_TEST_SECRET\", query = \"SELECT 1 AS one\" }}\n\
         [[imports]]\nname = \"unset\"\nsource = {{ kind = \"mysql\", url = \"{MARIADB_URL}\", password_env = \"TIDEPOOL_TEST_UNSET_VARIABLE\", table = \"t\" }}\n"
    ));
    let run = |args: &[&str]| sandbox.command(args).env("TIDEPOOL_TEST_SECRET", &secret).output().unwrap();
    let pg = run(&["import", path_str(&workbook), "pg"]);
    assert_success(&pg, "PostgreSQL (trust auth takes any password)");
    let my = run(&["import", path_str(&workbook), "my"]);
    assert!(!my.status.success(), "MariaDB's root has no password: a wrong one is refused");
    assert!(stderr(&my).contains("Access denied"), "{}", stderr(&my));
    let unset = run(&["import", path_str(&workbook), "unset"]);
    assert!(stderr(&unset).contains("TIDEPOOL_TEST_UNSET_VARIABLE, which is not set"), "{}", stderr(&unset));
    let export = sandbox.path("pg.csv");
    let exported = run(&["export", path_str(&workbook), "pg", "--out", path_str(&export)]);
    let history = run(&["history", path_str(&workbook)]);
    let mut everything: Vec<(String, Vec<u8>)> = Vec::new();
    for output in [&pg, &my, &unset, &exported, &history] {
        everything.push(("output".into(), [output.stdout.clone(), output.stderr.clone()].concat()));
    }
    let mut pending = vec![sandbox.data_dir(), export];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            pending.extend(std::fs::read_dir(&path).unwrap().map(|entry| entry.unwrap().path()));
        } else {
            everything.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    assert!(everything.len() > 6, "the state database and the table files were searched");
    for (place, bytes) in everything {
        let found = bytes.windows(secret.len()).any(|window| window == secret.as_bytes());
        assert!(!found, "the secret appears in {place}");
    }
}

#[test]
fn a_killed_run_and_a_timed_out_run_leave_the_previous_version_readable() {
    let sandbox = Sandbox::new();
    let query = |rows: u32, sleep: &str| {
        format!("SELECT n, pg_sleep({sleep}) IS NULL AS slept FROM generate_series(1, {rows}) AS n")
    };
    let workbook_with = |rows: u32, sleep: &str, timeout: &str| {
        sandbox.write_workbook(&format!(
            "[[imports]]\nname = \"slow\"\nattempts = 1\ntimeout = \"{timeout}\"\n\
             source = {{ kind = \"postgres\", url = \"{POSTGRES_URL}\", query = \"{}\" }}\n",
            query(rows, sleep)
        ))
    };
    let workbook = workbook_with(3, "0", "1m");
    let first = imported(&sandbox, &workbook, "slow");
    assert_eq!(first.height(), 3);
    // Ten thousand rows at 10 ms each: still running when it is killed.
    let workbook = workbook_with(10_000, "0.01", "10m");
    let mut child = sandbox.command(&["import", path_str(&workbook), "slow"]).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    kill_9(child.id());
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed");
    assert_eq!(sandbox.export(&workbook, "slow"), first, "the killed run left version 1 as it was");
    let history = stdout(&sandbox.tidepool(&["history", path_str(&workbook), "slow"]));
    assert!(
        history.contains("interrupted") && !history.contains("running"),
        "the killed run is marked interrupted as soon as the history is read: {history}"
    );
    // What a run killed while writing leaves: a temporary part in the table's folder.
    let version_file = walk(&sandbox.data_dir())
        .into_iter()
        .find(|path| path.to_string_lossy().ends_with("v000001.parquet"))
        .expect("version 1's file");
    let stale = version_file.with_file_name(".left-by-a-killed-run.parquet.partial");
    std::fs::write(&stale, b"half a parquet file").unwrap();
    let workbook = workbook_with(10_000, "0.01", "2s");
    let started = std::time::Instant::now();
    let timed_out = import(&sandbox, &workbook, "slow");
    assert!(!timed_out.status.success());
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "the timeout cancels the query");
    assert!(
        stderr(&timed_out).contains("statement timeout") || stderr(&timed_out).contains("timeout"),
        "{}",
        stderr(&timed_out)
    );
    assert_eq!(sandbox.export(&workbook, "slow"), first);
    assert!(!stale.exists(), "the next run removes what a killed one left");
    let history = stdout(&sandbox.tidepool(&["history", path_str(&workbook), "slow"]));
    assert!(history.contains("interrupted"), "the killed run stays marked interrupted: {history}");
    assert!(history.contains("timed out"), "the timed-out run says so: {history}");
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// SIGKILL, as a crash or the OOM killer would end the process.
fn kill_9(pid: u32) {
    let status = std::process::Command::new("kill").arg("-9").arg(pid.to_string()).status().unwrap();
    assert!(status.success());
}

#[test]
fn run_runs_schedules_and_dependencies_until_sigterm() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.path("rates.csv"), "currency,rate\nEUR,1.0\nUSD,1.08\n").unwrap();
    let workbook = sandbox.write_workbook(
        "[[imports]]\nname = \"rates\"\nschedule = { every = \"1s\" }\nsource = { kind = \"file\", path = \"rates.csv\" }\n\
         [[imports]]\nname = \"rates_copy\"\nafter = [\"rates\"]\nsource = { kind = \"file\", path = \"rates.csv\" }\n",
    );
    let mut child =
        sandbox.command(&["run", path_str(&workbook)]).stderr(std::process::Stdio::piped()).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(5));
    let status = std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(status.success());
    let started = std::time::Instant::now();
    let exit = child.wait().unwrap();
    assert!(exit.success(), "SIGTERM stops `run` cleanly");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    let history = stdout(&sandbox.tidepool(&["history", path_str(&workbook)]));
    let runs = |name: &str, trigger: &str| {
        history
            .lines()
            .filter(|line| {
                let fields: Vec<&str> = line.split('\t').collect();
                fields.get(1) == Some(&name) && fields.get(4) == Some(&"succeeded") && fields.get(5) == Some(&trigger)
            })
            .count()
    };
    let scheduled = runs("rates", "schedule") + runs("rates", "catch-up");
    assert!(scheduled >= 3, "an every-1s schedule ran several times in 5s: {history}");
    assert!(runs("rates_copy", "after") >= 1, "the dependent ran after it: {history}");
    assert_eq!(sandbox.export(&workbook, "rates_copy").height(), 2);
}

/// A CSV larger than one chunk is read a chunk at a time: every row lands,
/// typed by the first chunk, and bad rows anywhere are reported by their line.
#[test]
fn a_large_csv_is_imported_exactly_across_chunks() {
    use std::fmt::Write as _;
    let sandbox = Sandbox::new();
    let mut text = String::from("id,amount,day\n");
    let (mut expected_rows, mut expected_sum) = (0_i64, 0_i64);
    for id in 0..1_100_000_i64 {
        match id {
            // A short row in the first chunk, a misfit far into the second.
            1_000 => text.push_str("1000,short\n"),
            900_000 => text.push_str("900000,not a number,2026-01-01\n"),
            _ => {
                let _ = writeln!(text, "{id},{},2026-{:02}-{:02}", id % 1_000, 1 + id % 12, 1 + id % 28);
                expected_rows += 1;
                expected_sum += id % 1_000;
            }
        }
    }
    std::fs::write(sandbox.path("big.csv"), text).unwrap();
    let workbook = sandbox.write_workbook(
        "[[imports]]\nname = \"big\"\nbad_rows = \"skip\"\nsource = { kind = \"file\", path = \"big.csv\" }\n",
    );
    let output = import(&sandbox, &workbook, "big");
    assert_success(&output, "import of a large CSV");
    let table = sandbox.export(&workbook, "big");
    assert_eq!(table.height() as i64, expected_rows);
    assert_eq!(table.column("amount").unwrap().dtype(), &DataType::Int64);
    assert_eq!(table.column("day").unwrap().dtype(), &DataType::Date);
    assert_eq!(column_total(&table, "amount"), expected_sum);
    let ids = table.column("id").unwrap().i64().unwrap();
    assert!(ids.iter().zip(ids.iter().skip(1)).all(|(a, b)| a < b), "rows keep the file's order");
    assert!(stderr(&output).contains("2 bad rows left out"), "{}", stderr(&output));
    let log = stderr(&sandbox.tidepool(&["history", path_str(&workbook), "big"]));
    assert!(log.contains("big.csv, line 1002: has 2 fields"), "the short row by its line: {log}");
    assert!(log.contains("big.csv, line 900002: column `amount`"), "the misfit far into the file: {log}");
}

/// `watch = true`: a file that changes is imported again, once the change has settled.
#[test]
fn a_watched_file_is_imported_again_after_it_changes() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.path("prices.csv"), "sku,price\na,1.5\n").unwrap();
    let workbook = sandbox.write_workbook(
        "[[imports]]\nname = \"prices\"\nschedule = { every = \"1h\" }\n\
         source = { kind = \"file\", path = \"prices.csv\", watch = true }\n",
    );
    let mut child =
        sandbox.command(&["run", path_str(&workbook)]).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let history = |sandbox: &Sandbox| stdout(&sandbox.tidepool(&["history", path_str(&workbook), "prices"]));
    let wait_for = |what: &str, done: &dyn Fn(&str) -> bool| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_mins(1);
        loop {
            let seen = history(&sandbox);
            if done(&seen) {
                return seen;
            }
            assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}: {seen}");
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
    };
    wait_for("the first run", &|h| h.contains("succeeded"));
    std::fs::write(sandbox.path("prices.csv"), "sku,price\na,1.5\nb,2.5\nc,3.5\n").unwrap();
    // Finished, not only started: stopping the process mid-run would keep the old version.
    let seen = wait_for("the run on the change", &|h| {
        h.lines().any(|line| line.contains("file changed") && line.contains("succeeded"))
    });
    let status = std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
    let changed: Vec<&str> = seen.lines().filter(|line| line.contains("file changed")).collect();
    assert_eq!(changed.len(), 1, "one change, one run: {seen}");
    assert_eq!(sandbox.export(&workbook, "prices").height(), 3, "the new version holds the changed file");
}

#[test]
fn exports_write_tables_to_files_and_databases_replacing_or_appending() {
    use mysql::prelude::Queryable as _;
    let sandbox = Sandbox::new();
    let table = unique_table("exported");
    std::fs::write(
        sandbox.path("products.csv"),
        "id,name,price,added\n1,Mug,4.50,2026-01-02\n2,\"Tea\tgreen\",,2026-01-03\n",
    )
    .unwrap();
    let workbook = sandbox.write_workbook(&format!(
        "[[imports]]\nname = \"products\"\nsource = {{ kind = \"file\", path = \"products.csv\" }}\n\
         [[exports]]\nname = \"to_csv\"\nfrom = \"products\"\nto = {{ kind = \"file\", path = \"out/products.csv\" }}\n\
         [[exports]]\nname = \"to_sqlite\"\nfrom = \"products\"\nto = {{ kind = \"sqlite\", url = \"out.sqlite\", table = \"products\" }}\n\
         [[exports]]\nname = \"to_pg\"\nfrom = \"products\"\nto = {{ kind = \"postgres\", url = \"{POSTGRES_URL}\", table = \"{table}\", mode = \"append\" }}\n\
         [[exports]]\nname = \"to_my\"\nfrom = \"products\"\nto = {{ kind = \"mysql\", url = \"{MARIADB_URL}\", table = \"{table}\" }}\n"
    ));
    let before = sandbox.tidepool(&["export", path_str(&workbook), "to_csv"]);
    assert!(!before.status.success() && stderr(&before).contains("no version yet"), "{}", stderr(&before));
    assert_success(&import(&sandbox, &workbook, "products"), "import");
    std::fs::create_dir_all(sandbox.path("out")).unwrap();
    for export in ["to_csv", "to_sqlite", "to_pg", "to_pg", "to_my", "to_my"] {
        assert_success(&sandbox.tidepool(&["export", path_str(&workbook), export]), export);
    }
    let written = std::fs::read_to_string(sandbox.path("out/products.csv")).unwrap();
    assert_eq!(written, "id,name,price,added\n1,Mug,4.5,2026-01-02\n2,Tea\tgreen,,2026-01-03\n");
    let sqlite = rusqlite::Connection::open(sandbox.path("out.sqlite")).unwrap();
    let names: Vec<String> = sqlite
        .prepare("SELECT name FROM products ORDER BY id")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(names, vec!["Mug", "Tea\tgreen"]);
    let mut client = postgres();
    let rows =
        client.query(&format!("SELECT id, name, price, added::text FROM {table} ORDER BY id, name"), &[]).unwrap();
    assert_eq!(rows.len(), 4, "appended twice");
    assert_eq!(rows[2].get::<_, String>(1), "Tea\tgreen");
    assert_eq!(rows[2].get::<_, Option<f64>>(2), None);
    assert_eq!(rows[0].get::<_, String>(3), "2026-01-02");
    let mut connection = mariadb();
    let count: Option<i64> = connection.query_first(format!("SELECT COUNT(*) FROM {table}")).unwrap();
    assert_eq!(count, Some(2), "replaced, not appended");
    let history = stdout(&sandbox.tidepool(&["history", path_str(&workbook), "to_pg"]));
    assert_eq!(history.lines().filter(|l| l.contains("succeeded")).count(), 2, "{history}");
    client.batch_execute(&format!("DROP TABLE {table}")).unwrap();
    connection.query_drop(format!("DROP TABLE {table}")).unwrap();
}

#[test]
fn a_scheduled_export_of_a_stream_writes_its_checkpointed_rollup() {
    let topic = unique_topic("export");
    create_topic(&topic, 2);
    let events = generate_events(2_000, 2, 1_764_000_000_000, 1_000, 7);
    produce(&topic, &events.iter().map(TestEvent::outgoing).collect::<Vec<_>>());
    let sandbox = Sandbox::new();
    let workbook = sandbox.write_workbook(&format!(
        "{}\n[[exports]]\nname = \"shop_file\"\nfrom = \"shop\"\nto = {{ kind = \"file\", path = \"shop-export.parquet\" }}\n\
         [[exports]]\nname = \"shop_db\"\nfrom = \"shop\"\nto = {{ kind = \"sqlite\", url = \"shop.sqlite\", table = \"shop\" }}\n",
        full_workbook(&topic, "1m")
    ));
    let early = sandbox.tidepool(&["export", path_str(&workbook), "shop_file"]);
    assert!(stderr(&early).contains("has no rollup yet"), "{}", stderr(&early));
    sandbox.run_until_caught_up(&workbook);
    assert_success(&sandbox.tidepool(&["export", path_str(&workbook), "shop_file"]), "export shop_file");
    assert_success(&sandbox.tidepool(&["export", path_str(&workbook), "shop_db"]), "export shop_db");
    let scheduled =
        ParquetReader::new(std::fs::File::open(sandbox.path("shop-export.parquet")).unwrap()).finish().unwrap();
    assert_eq!(scheduled, sandbox.export(&workbook, "shop"), "the same rows as `export --out`");
    assert_eq!(column_total(&scheduled, "events"), 2_000);
    let sqlite = rusqlite::Connection::open(sandbox.path("shop.sqlite")).unwrap();
    let total: i64 = sqlite.query_row("SELECT SUM(events) FROM shop", [], |row| row.get(0)).unwrap();
    assert_eq!(total, 2_000);
}

/// PostgreSQL over TLS on this machine's server (Debian's default: TLS on,
/// with its own self-signed certificate) and MariaDB over TLS on the private
/// TLS-only server scripts/test starts with a certificate of the test CA; a
/// certificate that does not verify and a server without TLS fail at once
/// with the reason, not after retries.
#[test]
fn database_imports_use_tls_as_the_url_asks_and_a_failed_handshake_is_not_retried() {
    let tls_dir = std::env::var("TIDEPOOL_TEST_TLS_DIR").expect("scripts/test makes the test CA");
    let tls_mariadb = std::env::var("TIDEPOOL_TEST_TLS_MARIADB").expect("scripts/test starts a TLS-only MariaDB");
    let pg_ssl = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    let maria_tls =
        "SELECT VARIABLE_VALUE AS tls FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_version'";
    let sandbox = Sandbox::new();
    let workbook = sandbox.write_workbook(&format!(
        "[[imports]]\nname = \"pg_tls\"\nsource = {{ kind = \"postgres\", url = \"{POSTGRES_URL}?sslmode=require\", query = \"{pg_ssl}\" }}\n\
         [[imports]]\nname = \"pg_plain\"\nsource = {{ kind = \"postgres\", url = \"{POSTGRES_URL}?sslmode=disable\", query = \"{pg_ssl}\" }}\n\
         [[imports]]\nname = \"pg_unverified\"\nattempts = 3\nretry_delay = \"1s\"\n\
         source = {{ kind = \"postgres\", url = \"{POSTGRES_URL}?sslmode=verify-full&sslrootcert={tls_dir}/ca.pem\", query = \"SELECT 1 AS one\" }}\n\
         [[imports]]\nname = \"maria_tls\"\nsource = {{ kind = \"mysql\", url = \"mysql://root@{tls_mariadb}/mysql?ssl-mode=VERIFY_IDENTITY&ssl-ca={tls_dir}/ca.pem\", query = \"{maria_tls}\" }}\n\
         [[imports]]\nname = \"maria_untrusted\"\nattempts = 3\nretry_delay = \"1s\"\n\
         source = {{ kind = \"mysql\", url = \"mysql://root@{tls_mariadb}/mysql?ssl-mode=VERIFY_IDENTITY\", query = \"SELECT 1 AS one\" }}\n\
         [[imports]]\nname = \"maria_plain_server\"\nattempts = 3\nretry_delay = \"1s\"\n\
         source = {{ kind = \"mysql\", url = \"{MARIADB_URL}?ssl-mode=REQUIRED\", query = \"SELECT 1 AS one\" }}\n"
    ));
    assert_eq!(value(&imported(&sandbox, &workbook, "pg_tls"), "ssl", 0), AnyValue::Boolean(true));
    assert_eq!(value(&imported(&sandbox, &workbook, "pg_plain"), "ssl", 0), AnyValue::Boolean(false));
    let tls_version = value(&imported(&sandbox, &workbook, "maria_tls"), "tls", 0);
    assert!(tls_version.str_value().starts_with("TLSv1"), "{tls_version:?}");

    let fails_at_once = |name: &str| {
        let output = import(&sandbox, &workbook, name);
        assert!(!output.status.success(), "{name} should fail");
        let said = stderr(&output);
        assert!(said.contains("TLS failed"), "{name}: {said}");
        assert!(!said.contains("attempts"), "{name} is not retried: {said}");
        said
    };
    // This machine's PostgreSQL certificate is not signed by the test CA.
    fails_at_once("pg_unverified");
    // The test CA is not among the system's trusted CAs.
    fails_at_once("maria_untrusted");
    let have_ssl: Option<String> = mysql::prelude::Queryable::query_first(&mut mariadb(), "SELECT @@have_ssl").unwrap();
    if have_ssl.as_deref() == Some("YES") {
        assert_success(&import(&sandbox, &workbook, "maria_plain_server"), "a MariaDB with TLS on");
    } else {
        let said = fails_at_once("maria_plain_server");
        assert!(said.contains("secure connection"), "the server's lack of TLS is named: {said}");
    }
}

/// Client certificates: the private TLS-only PostgreSQL and MariaDB that
/// scripts/test starts let the user `tidepool_cert` in with a certificate of
/// the test CA and no password; without it both refuse, and an encrypted key
/// is named with what to do, not retried.
#[test]
fn database_imports_log_in_with_a_client_certificate() {
    let tls_dir = std::env::var("TIDEPOOL_TEST_TLS_DIR").expect("scripts/test makes the test CA");
    let tls_mariadb = std::env::var("TIDEPOOL_TEST_TLS_MARIADB").expect("scripts/test starts a TLS-only MariaDB");
    let cert_postgres =
        std::env::var("TIDEPOOL_TEST_CERT_POSTGRES").expect("scripts/test starts a TLS-only PostgreSQL");
    let ca = format!("{tls_dir}/ca.pem");
    let identity = format!("{tls_dir}/db.pem");
    let key = format!("{tls_dir}/db.key");
    let pg = format!("postgresql://tidepool_cert@{cert_postgres}/postgres?sslmode=verify-full&sslrootcert={ca}");
    let maria = format!("mysql://tidepool_cert@{tls_mariadb}/mysql?ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}");
    let pg_who = "SELECT current_user::text AS who, client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    let sandbox = Sandbox::new();
    let workbook = sandbox.write_workbook(&format!(
        "[[imports]]\nname = \"pg_cert\"\nsource = {{ kind = \"postgres\", url = \"{pg}&sslcert={identity}&sslkey={key}\", query = \"{pg_who}\" }}\n\
         [[imports]]\nname = \"pg_no_cert\"\nattempts = 1\nsource = {{ kind = \"postgres\", url = \"{pg}\", query = \"SELECT 1 AS one\" }}\n\
         [[imports]]\nname = \"maria_cert\"\nsource = {{ kind = \"mysql\", url = \"{maria}&ssl-cert={identity}&ssl-key={key}\", query = \"SELECT CURRENT_USER() AS who\" }}\n\
         [[imports]]\nname = \"maria_no_cert\"\nattempts = 1\nsource = {{ kind = \"mysql\", url = \"{maria}\", query = \"SELECT 1 AS one\" }}\n\
         [[imports]]\nname = \"maria_encrypted_key\"\nattempts = 3\nretry_delay = \"1s\"\n\
         source = {{ kind = \"mysql\", url = \"{maria}&ssl-cert={tls_dir}/client.pem&ssl-key={tls_dir}/client.key\", query = \"SELECT 1 AS one\" }}\n"
    ));
    let by_certificate = imported(&sandbox, &workbook, "pg_cert");
    assert_eq!(value(&by_certificate, "who", 0).str_value(), "tidepool_cert");
    assert_eq!(value(&by_certificate, "client_dn", 0).str_value(), "/CN=tidepool_cert");
    assert_eq!(value(&imported(&sandbox, &workbook, "maria_cert"), "who", 0).str_value(), "tidepool_cert@%");

    let refused = import(&sandbox, &workbook, "pg_no_cert");
    assert!(!refused.status.success(), "PostgreSQL's cert login needs the certificate");
    assert!(stderr(&refused).contains("client certificate"), "{}", stderr(&refused));
    let refused = import(&sandbox, &workbook, "maria_no_cert");
    assert!(!refused.status.success(), "REQUIRE X509 needs the certificate");
    assert!(stderr(&refused).contains("Access denied"), "{}", stderr(&refused));
    let encrypted = import(&sandbox, &workbook, "maria_encrypted_key");
    assert!(!encrypted.status.success());
    let said = stderr(&encrypted);
    assert!(said.contains("client.key") && said.contains("unencrypted"), "{said}");
    assert!(!said.contains("attempts"), "a key that cannot be read is not retried: {said}");
}

/// A database password kept in the OS keyring (`tidepool secret set`, fed
/// through a pipe) logs in to MariaDB, which checks it; without the entry the
/// import says how to store it; the value is never printed.
#[test]
fn a_database_password_from_the_os_keyring_logs_in() {
    use mysql::prelude::Queryable as _;
    let user = unique_table("keyring_user");
    let entry = format!("tidepool-test-{user}");
    let password = format!("pw-{}", unique_topic("kr"));
    let mut connection = mariadb();
    connection.query_drop(format!("CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")).unwrap();
    let sandbox = Sandbox::new();
    let workbook = sandbox.write_workbook(&format!(
        "[[imports]]\nname = \"who\"\nattempts = 1\nsource = {{ kind = \"mysql\", url = \"mysql://{user}@127.0.0.1:3306/\", \
         password_keyring = \"{entry}\", query = \"SELECT CURRENT_USER() AS who\" }}\n"
    ));
    let missing = import(&sandbox, &workbook, "who");
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains(&format!("tidepool secret set {entry}")), "{}", stderr(&missing));

    let secret = |args: &[&str], input: &str| {
        let mut child = sandbox
            .command(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let stored = secret(&["secret", "set", &entry], &format!("{password}\n"));
    assert_success(&stored, "secret set");
    assert!(!stderr(&stored).contains(&password) && !stdout(&stored).contains(&password));
    let logged_in = import(&sandbox, &workbook, "who");
    assert_success(&logged_in, "import with the keyring's password");
    assert!(!stderr(&logged_in).contains(&password));
    assert_eq!(value(&sandbox.export(&workbook, "who"), "who", 0).str_value(), format!("{user}@%"));

    assert_success(&secret(&["secret", "set", &entry], "not-the-password\n"), "secret set again");
    let wrong = import(&sandbox, &workbook, "who");
    assert!(stderr(&wrong).contains("Access denied"), "the new value is the one sent: {}", stderr(&wrong));
    assert_success(&secret(&["secret", "forget", &entry], ""), "secret forget");
    assert!(stderr(&import(&sandbox, &workbook, "who")).contains("tidepool secret set"));
    connection.query_drop(format!("DROP USER '{user}'@'%'")).unwrap();
}
