//! Scoped keys in the native schema (issue 12, item 3): `passthru_keys.admin`, `allow`, `deny`
//! and `only` (migration 3) become the key's `admin`, `allow`, `deny` and `only` in routes.yaml;
//! `keys add` writes them; a malformed value makes its key fail closed (no grant at all,
//! reported with the table, the hash prefix and the column), never unscoped. On real SQLite
//! files and real PostgreSQL clusters; each test is named after its property.

mod keys_add;
mod malformed;
mod upgrade;

use std::path::Path;
use std::time::Duration;

use passthru_routes::Grants;
use passthru_tests::sync::*;

const MIGRATION_1: &str = "20261123000001_native_schema.sql";

const SQLITE_MIGRATION_2: &str = "20261130000001_refuse_mistyped_values.sql";

/// The grants of every key in the file, by hash.
fn grants_in(out: &Path) -> Vec<(String, Grants)> {
    parsed(out)
        .keys()
        .iter()
        .map(|k| (k.hex(), k.grants().clone()))
        .collect()
}

fn grants_of(out: &Path, hex: &str) -> Grants {
    grants_in(out)
        .into_iter()
        .find(|(h, _)| h == hex)
        .unwrap_or_else(|| panic!("{hex} is not in the file:\n{}", read(out).unwrap()))
        .1
}

fn list(entries: &[&str]) -> Vec<String> {
    entries.iter().map(|e| e.to_string()).collect()
}

/// No grant at all: what a key with a malformed column gets.
fn no_grant() -> Grants {
    Grants {
        allow: Some(Vec::new()),
        ..Grants::default()
    }
}

fn warn_line<'a>(log: &'a str, row: &str) -> &'a str {
    log.lines()
        .find(|l| l.contains("WARN") && l.contains(&format!("row={row} ")))
        .unwrap_or_else(|| panic!("no WARN names {row}:\n{log}"))
}

fn key_row(hex: &str) -> String {
    format!("passthru_keys sha256 {}", &hex[..12])
}

const ROUTE_WITH_AUTH: &str = "INSERT INTO passthru_routes (path, target, include_subpath, auth) \
     VALUES ('/a', 'http://a', 1, 1)";

/// The next poll starts at most 1.1 intervals after the commit; allow one more for the pass.
const ONE_POLL: Duration = Duration::from_millis(400 * 2 + 200);
