//! Rows holding values of the wrong type (issue 11, items 1 and 2): one such row is one skipped,
//! named row, never a failed pass, and a key is active only when its `blocked` is a clear false.
//! On real SQLite files and real PostgreSQL clusters; each test is named after its property.

mod postgres;
mod sqlite;

use std::path::Path;
use std::time::Duration;

use passthru_tests::process::Daemon;
use passthru_tests::sync::*;

/// The migration that created the native schema before the type triggers existed.
const FIRST_SQLITE_MIGRATION: &str = "20261123000001_native_schema.sql";

/// A SQLite database as the first release left it: the native schema without the type
/// triggers, so that rows of any type can be written, as they could before the upgrade.
async fn sqlite_before_the_type_triggers(dir: &Path) -> String {
    sqlite_at(dir, &[FIRST_SQLITE_MIGRATION]).await
}

/// One hostile value for a column, and the storage type the report must name.
struct Hostile {
    column: &'static str,
    value: &'static str,
    found: &'static str,
}

/// Every column of `passthru_routes` with every type it must not hold. The invalid UTF-8 text in
/// `headers` carries a secret-looking value that must never reach the log.
const HOSTILE_ROUTE_VALUES: &[Hostile] = &[
    Hostile {
        column: "id",
        value: "x'00ff'",
        found: "BLOB",
    },
    Hostile {
        column: "id",
        value: "CAST(x'ff' AS TEXT)",
        found: "TEXT that cannot be read as text",
    },
    Hostile {
        column: "path",
        value: "x'2f61'",
        found: "BLOB",
    },
    Hostile {
        column: "path",
        value: "CAST(x'2fff' AS TEXT)",
        found: "TEXT that cannot be read as text",
    },
    Hostile {
        column: "target",
        value: "x'00'",
        found: "BLOB",
    },
    Hostile {
        column: "include_subpath",
        value: "'yes'",
        found: "TEXT",
    },
    Hostile {
        column: "include_subpath",
        value: "0.5",
        found: "REAL",
    },
    Hostile {
        column: "methods",
        value: "x'5b5d'",
        found: "BLOB",
    },
    Hostile {
        column: "headers",
        value: "x'7b7d'",
        found: "BLOB",
    },
    Hostile {
        column: "headers",
        value: "CAST(x'7b2261223a22733363726574ff227d' AS TEXT)",
        found: "TEXT that cannot be read as text",
    },
    Hostile {
        column: "forward_headers",
        value: "'true'",
        found: "TEXT",
    },
    Hostile {
        column: "forward_headers",
        value: "2",
        found: "INTEGER 2",
    },
    Hostile {
        column: "default_query_params",
        value: "x'7b7d'",
        found: "BLOB",
    },
    Hostile {
        column: "timeout",
        value: "'abc'",
        found: "TEXT",
    },
    Hostile {
        column: "timeout",
        value: "x'01'",
        found: "BLOB",
    },
    Hostile {
        column: "auth",
        value: "'false'",
        found: "TEXT",
    },
    Hostile {
        column: "auth",
        value: "-1",
        found: "INTEGER -1",
    },
    Hostile {
        column: "auth",
        value: "x'00'",
        found: "BLOB",
    },
];

/// Rows 2.. hold one hostile value each; rows 1 and last are good. Returns the bad rows' ids.
async fn fill_hostile_routes(url: &str) -> Vec<(i64, &'static Hostile)> {
    let mut statements = vec![
        "INSERT INTO passthru_routes (id, path, target) VALUES ('good', '/good', 'http://good')"
            .to_owned(),
    ];
    for (i, h) in HOSTILE_ROUTE_VALUES.iter().enumerate() {
        let (id, path) = (format!("'bad-{i}'"), format!("'/bad-{i}'"));
        let mut columns = vec![
            ("id", id),
            ("path", path),
            ("target", "'http://x'".to_owned()),
        ];
        match columns.iter_mut().find(|(c, _)| *c == h.column) {
            Some(column) => column.1 = h.value.to_owned(),
            None => columns.push((h.column, h.value.to_owned())),
        }
        let (names, values): (Vec<_>, Vec<_>) = columns.into_iter().unzip();
        statements.push(format!(
            "INSERT INTO passthru_routes ({}) VALUES ({})",
            names.join(", "),
            values.join(", ")
        ));
    }
    statements.push(
        "INSERT INTO passthru_routes (path, target, include_subpath, auth, timeout) \
         VALUES ('/also-good', 'http://also-good', 1, 0, 5)"
            .to_owned(),
    );
    let statements: Vec<&str> = statements.iter().map(String::as_str).collect();
    sql(url, &statements).await;
    HOSTILE_ROUTE_VALUES
        .iter()
        .enumerate()
        .map(|(i, h)| (i as i64 + 2, h))
        .collect()
}

fn warn_line<'a>(log: &'a str, row: &str) -> &'a str {
    log.lines()
        .find(|l| l.contains("WARN") && (l.contains(&format!("{row} ")) || l.ends_with(row)))
        .unwrap_or_else(|| panic!("no WARN names {row}:\n{log}"))
}

fn key_hexes(out: &Path) -> Vec<String> {
    parsed(out).keys().iter().map(|k| k.hex()).collect()
}

fn insert_key(sha256: &str, blocked: &str) -> String {
    format!("INSERT INTO passthru_keys (sha256, blocked) VALUES ('{sha256}', {blocked})")
}

fn daemon(url: &str, out: &Path, dir: &Path) -> Daemon {
    let mut c = command(url, out);
    c.args(["run", "--interval", "400ms", "--no-listen"]);
    Daemon::spawn_logging_to("passthru-sync", &mut c, &dir.join("daemon.log"))
}

/// The next poll starts at most 1.1 intervals after the commit; allow one more for the pass.
const ONE_POLL: Duration = Duration::from_millis(400 * 2 + 200);

const ROUTE_WITH_AUTH: &str =
    "INSERT INTO passthru_routes (path, target, auth) VALUES ('/secure', 'http://secure', 1)";
