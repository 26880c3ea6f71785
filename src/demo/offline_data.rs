//! The demo's offline data, written into the demo's state folder at start so
//! the demo needs no files beside the binary: the product catalogue (a CSV
//! built into the binary from `assets/demo-products.csv`, ids matching the
//! clickstream's `product`), the countries (`assets/demo-countries.csv`,
//! codes matching its `country`, with their regions, for the demo's joined
//! report) and a customers SQLite database generated from a fixed seed, one
//! row per clickstream user (`u000000`…).
//!
//! Owns only those files; the demo workbook's imports read them like any
//! user's file and database.

use std::path::Path;

use crate::demo::clickstream::Rng;

/// The catalogue file's name in the demo folder (the demo workbook's file import reads it).
pub const PRODUCTS_FILE: &str = "demo-products.csv";
/// The countries file's name in the demo folder.
pub const COUNTRIES_FILE: &str = "demo-countries.csv";
/// The countries shipped with the demo (every country the clickstream uses).
pub const COUNTRIES_CSV: &str = include_str!("../../assets/demo-countries.csv");
/// The customers database's name in the demo folder (the demo workbook's SQLite import reads it).
pub const CUSTOMERS_FILE: &str = "demo-customers.sqlite";
/// The product catalogue shipped with the demo.
pub const PRODUCTS_CSV: &str = include_str!("../../assets/demo-products.csv");

const SEGMENTS: [&str; 4] = ["consumer", "consumer", "student", "business"];
const COUNTRIES: [&str; 12] = ["US", "DE", "GB", "FR", "NL", "ES", "IT", "SE", "PL", "BR", "JP", "IN"];
const FIRST_NAMES: [&str; 12] =
    ["Ada", "Ben", "Chloé", "Dev", "Elif", "Finn", "Grace", "Hiro", "Ines", "Jon", "Kemal", "Lena"];
const LAST_NAMES: [&str; 10] =
    ["Okafor", "Müller", "Smith", "Dubois", "de Vries", "García", "Rossi", "Berg", "Nowak", "Sato"];

/// Writes the catalogue and a customers database of `users` rows into `folder`.
pub fn write_offline_data(folder: &Path, users: u64) -> Result<(), String> {
    let products = folder.join(PRODUCTS_FILE);
    std::fs::write(&products, PRODUCTS_CSV).map_err(|err| format!("cannot write {}: {err}", products.display()))?;
    let countries = folder.join(COUNTRIES_FILE);
    std::fs::write(&countries, COUNTRIES_CSV).map_err(|err| format!("cannot write {}: {err}", countries.display()))?;
    let customers = folder.join(CUSTOMERS_FILE);
    write_customers(&customers, users).map_err(|err| format!("cannot write {}: {err}", customers.display()))
}

fn write_customers(path: &Path, users: u64) -> rusqlite::Result<()> {
    let _ = std::fs::remove_file(path);
    let mut db = rusqlite::Connection::open(path)?;
    db.execute_batch(
        "CREATE TABLE customers (
             user_id TEXT PRIMARY KEY,
             name TEXT NOT NULL,
             country TEXT NOT NULL,
             segment TEXT NOT NULL,
             signed_up DATE NOT NULL,
             lifetime_orders INTEGER NOT NULL,
             newsletter BOOLEAN
         );",
    )?;
    let transaction = db.transaction()?;
    {
        let mut insert = transaction.prepare("INSERT INTO customers VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?;
        let mut rng = Rng::new(2_024);
        let pick = |rng: &mut Rng, values: &[&'static str]| values[rng.below(values.len() as u64) as usize];
        for user in 0..users {
            let name = format!("{} {}", pick(&mut rng, &FIRST_NAMES), pick(&mut rng, &LAST_NAMES));
            let signed_up = chrono::NaiveDate::from_ymd_opt(2019, 1, 1)
                .and_then(|day| day.checked_add_days(chrono::Days::new(rng.below(2_500))))
                .map(|day| day.to_string());
            // Some customers never said: a NULL, as real CRM exports have.
            let newsletter = match rng.below(5) {
                0 => None,
                choice => Some(choice % 2 == 0),
            };
            insert.execute(rusqlite::params![
                format!("u{user:06}"),
                name,
                pick(&mut rng, &COUNTRIES),
                pick(&mut rng, &SEGMENTS),
                signed_up,
                rng.below(40) as i64,
                newsletter,
            ])?;
        }
    }
    transaction.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_customers_are_the_clickstream_users() {
        let folder = tempfile::tempdir().unwrap();
        write_offline_data(folder.path(), 300).unwrap();
        let db = rusqlite::Connection::open(folder.path().join(CUSTOMERS_FILE)).unwrap();
        let (rows, first, last): (i64, String, String) = db
            .query_row("SELECT count(*), min(user_id), max(user_id) FROM customers", [], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .unwrap();
        assert_eq!((rows, first.as_str(), last.as_str()), (300, "u000000", "u000299"));
        let catalogue = std::fs::read_to_string(folder.path().join(PRODUCTS_FILE)).unwrap();
        let ids: Vec<&str> = catalogue.lines().skip(1).map(|line| line.split(',').next().unwrap()).collect();
        let expected: Vec<String> = (1..=crate::demo::clickstream::PRODUCTS).map(|id| format!("p{id:04}")).collect();
        assert_eq!(ids, expected, "one catalogue row per clickstream product, in order");
    }
}
