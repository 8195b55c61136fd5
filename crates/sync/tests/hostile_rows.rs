//! Rows holding values of the wrong type (issue 11, items 1 and 2): one such row is one skipped,
//! named row, never a failed pass, and a key is active only when its `blocked` is a clear false.
//! On real SQLite files and real PostgreSQL clusters; each test is named after its property.

use std::path::Path;
use std::time::{Duration, Instant};

use passthru_sync::admin::hash_key;
use passthru_tests::postgres::PgTestDatabase;
use passthru_tests::process::Daemon;
use passthru_tests::sync::*;
use passthru_tests::wait::wait_for;
use sqlx::Connection;

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

#[tokio::test]
async fn a_mistyped_value_in_any_route_column_skips_only_its_row_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_before_the_type_triggers(dir.path()).await;
    let bad = fill_hostile_routes(&url).await;
    let out = dir.path().join("routes.yaml");
    let (code, _, err) = run(&url, &out, &["once"]);
    assert_eq!(code, 0, "{err}");
    let mut paths: Vec<String> = parsed(&out)
        .routes()
        .iter()
        .map(|r| r.path.to_string())
        .collect();
    paths.sort();
    assert_eq!(paths, vec!["/also-good", "/good"]);
    for (row_id, h) in &bad {
        let line = warn_line(&err, &format!("passthru_routes row_id {row_id}"));
        let expected = format!("column `{}` holds {}", h.column, h.found);
        assert!(line.contains(&expected), "{expected:?} not in {line}");
    }
    assert!(
        err.contains(&format!("skipped {} row(s)", bad.len())),
        "{err}"
    );
    assert!(
        !err.contains("s3cret"),
        "a header value reached the log:\n{err}"
    );
}

#[tokio::test]
async fn a_key_is_active_only_when_blocked_is_the_integer_0_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_before_the_type_triggers(dir.path()).await;
    let active = hash_key("sk-active");
    let refused = [
        ("'true'", "TEXT"),
        ("'false'", "TEXT"),
        ("'no'", "TEXT"),
        ("2", "INTEGER 2"),
        ("0.5", "REAL"),
        ("x'00'", "BLOB"),
    ];
    let mut statements = vec![
        ROUTE_WITH_AUTH.to_owned(),
        insert_key(&active, "0"),
        insert_key(&hash_key("sk-blocked"), "1"),
    ];
    for (i, (value, _)) in refused.iter().enumerate() {
        statements.push(insert_key(&hash_key(&format!("sk-{i}")), value));
    }
    let statements: Vec<&str> = statements.iter().map(String::as_str).collect();
    sql(&url, &statements).await;
    let out = dir.path().join("routes.yaml");
    let (code, _, err) = run(&url, &out, &["once"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(key_hexes(&out), vec![active]);
    for (i, (_, found)) in refused.iter().enumerate() {
        let hex = hash_key(&format!("sk-{i}"));
        let line = warn_line(&err, &format!("passthru_keys sha256 {}", &hex[..12]));
        assert!(
            line.contains(&format!("column `blocked` holds {found}"))
                && line.contains("refused as if blocked"),
            "{line}"
        );
    }
}

const ROUTE_WITH_AUTH: &str =
    "INSERT INTO passthru_routes (path, target, auth) VALUES ('/secure', 'http://secure', 1)";

#[tokio::test]
async fn a_mistyped_key_column_refuses_only_its_key_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_before_the_type_triggers(dir.path()).await;
    let good = hash_key("sk-good");
    sql(
        &url,
        &[
            ROUTE_WITH_AUTH,
            &insert_key(&good, "0"),
            "INSERT INTO passthru_keys (sha256, blocked) VALUES (x'00ff', 0)",
            "INSERT INTO passthru_keys (sha256, blocked) VALUES (NULL, 0)",
            &format!(
                "INSERT INTO passthru_keys (sha256, expires, blocked) VALUES ('{}', x'00', 0)",
                hash_key("sk-blob-expiry")
            ),
        ],
    )
    .await;
    let out = dir.path().join("routes.yaml");
    let (code, _, err) = run(&url, &out, &["once"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(key_hexes(&out), vec![good]);
    assert!(warn_line(&err, "passthru_keys rowid 2").contains("column `sha256` holds BLOB"));
    assert!(warn_line(&err, "passthru_keys rowid 3").contains("column `sha256` is NULL"));
    let expiry = hash_key("sk-blob-expiry");
    assert!(
        warn_line(&err, &format!("passthru_keys sha256 {}", &expiry[..12]))
            .contains("column `expires` holds BLOB")
    );
}

#[tokio::test]
async fn a_hash_blocked_in_one_row_is_refused_in_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let url = native_sqlite(dir.path());
    let hex = hash_key("sk-twice");
    sql(
        &url,
        &[
            ROUTE_WITH_AUTH,
            &insert_key(&hex.to_ascii_uppercase(), "1"),
            &insert_key(&hex, "0"),
            &insert_key(&format!(" {hex}"), "0"),
        ],
    )
    .await;
    let out = dir.path().join("routes.yaml");
    let (code, _, err) = run(&url, &out, &["once"]);
    assert_eq!(code, 0, "{err}");
    assert!(key_hexes(&out).is_empty(), "{err}");
    assert!(
        warn_line(&err, &format!("passthru_keys sha256 {}", &hex[..12]))
            .contains("holds the same hash and is blocked"),
        "{err}"
    );
}

#[tokio::test]
async fn a_revocation_reaches_the_file_within_one_poll_over_hostile_rows_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_before_the_type_triggers(dir.path()).await;
    fill_hostile_routes(&url).await;
    let (first, second) = (hash_key("sk-first"), hash_key("sk-second"));
    sql(
        &url,
        &[
            &insert_key(&first, "0"),
            &insert_key(&second, "0"),
            "INSERT INTO passthru_keys (sha256, blocked) VALUES (x'00', 'true')",
        ],
    )
    .await;
    let out = dir.path().join("routes.yaml");
    // The daemon applies the type triggers to this database as it starts: the upgrade path.
    let d = daemon(&url, &out, dir.path());
    wait_for(Duration::from_secs(10), "both keys in the file", || {
        read(&out).filter(|_| key_hexes(&out).len() == 2)
    })
    .await;

    sql(
        &url,
        &[&format!(
            "UPDATE passthru_keys SET blocked = 1 WHERE sha256 = '{first}'"
        )],
    )
    .await;
    wait_for(ONE_POLL, "the revocation", || {
        (key_hexes(&out) == vec![second.clone()]).then_some(())
    })
    .await;
    assert!(!d.log().contains("pass failed"), "{}", d.log());
}

#[tokio::test]
async fn routes_list_and_keys_list_name_mistyped_rows_and_exit_zero() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_before_the_type_triggers(dir.path()).await;
    sql(
        &url,
        &[
            "INSERT INTO passthru_routes (id, path, target) VALUES ('good', '/good', 'http://good')",
            "INSERT INTO passthru_routes (id, path, target, auth) VALUES ('hand', '/hand', 'http://h', 'false')",
            &insert_key(&hash_key("sk-a"), "'true'"),
            "INSERT INTO passthru_keys (sha256, note, blocked) VALUES ('note-blob', x'00', 0)",
        ],
    )
    .await;
    let out = dir.path().join("routes.yaml");
    let (code, list, err) = run(&url, &out, &["routes", "list"]);
    assert_eq!(code, 0, "{err}");
    assert!(list.contains("good"), "{list}");
    assert!(
        err.contains("row_id 2 is skipped by the daemon: column `auth` holds TEXT"),
        "{err}"
    );
    let (code, list, err) = run(&url, &out, &["keys", "list"]);
    assert_eq!(code, 0, "{err}");
    let listed = list
        .lines()
        .find(|l| l.starts_with(&hash_key("sk-a")))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(listed.contains("true"), "shown as not blocked: {listed}");
    assert!(err.contains("column `blocked` holds TEXT"), "{err}");
    assert!(err.contains("column `note` holds BLOB"), "{err}");
}

#[tokio::test]
async fn the_upgrade_refuses_mistyped_writes_and_still_lets_old_rows_be_blocked() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_before_the_type_triggers(dir.path()).await;
    let old = hash_key("sk-old");
    sql(
        &url,
        &[&format!(
            "INSERT INTO passthru_keys (sha256, expires, blocked) VALUES ('{old}', x'00', 0)"
        )],
    )
    .await;
    let out = dir.path().join("routes.yaml");
    let (code, _, err) = run(&url, &out, &["migrate"]);
    assert_eq!(code, 0, "{err}");

    // An old row with a bad `expires` can still be blocked: only changed columns are checked.
    sql(
        &url,
        &[&format!(
            "UPDATE passthru_keys SET blocked = 1 WHERE sha256 = '{old}'"
        )],
    )
    .await;
    let refused = [
        ("INSERT INTO passthru_routes (path, target, auth) VALUES ('/h', 'http://h', 'false')", "passthru_routes.auth must be 0, 1 or NULL"),
        ("INSERT INTO passthru_routes (path, target, include_subpath) VALUES ('/h', 'http://h', 'yes')", "passthru_routes.include_subpath must be 0, 1 or NULL"),
        ("INSERT INTO passthru_routes (path, target, timeout) VALUES ('/h', 'http://h', 'abc')", "passthru_routes.timeout must be a number"),
        ("INSERT INTO passthru_routes (path, target) VALUES (x'2f', 'http://h')", "passthru_routes.path must be text"),
        ("INSERT INTO passthru_routes (path, target, headers) VALUES ('/h', 'http://h', x'7b7d')", "passthru_routes.headers must be text"),
        ("INSERT INTO passthru_keys (sha256) VALUES (x'00')", "passthru_keys.sha256 must be text"),
        ("UPDATE passthru_keys SET blocked = 'true'", "passthru_keys.blocked must be 0 (active) or 1 (blocked)"),
    ];
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    for (statement, message) in refused {
        let e = sqlx::query(statement)
            .execute(&mut conn)
            .await
            .expect_err(statement);
        assert!(e.to_string().contains(message), "{statement}: {e}");
    }
    conn.close().await.unwrap();
}

#[tokio::test]
async fn a_mistyped_or_missing_change_marker_still_lets_changes_reach_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = native_sqlite(dir.path());
    sql(&url, &["UPDATE passthru_revision SET revision = 0.5"]).await;
    let out = dir.path().join("routes.yaml");
    let d = daemon(&url, &out, dir.path());
    wait_for(Duration::from_secs(10), "the first write", || read(&out)).await;
    // REAL stays REAL through the trigger's `revision + 1`: the marker never reads again.
    sql(
        &url,
        &["INSERT INTO passthru_routes (path, target) VALUES ('/one', 'http://one')"],
    )
    .await;
    wait_for(ONE_POLL, "the insert", || {
        read(&out).filter(|t| t.contains("/one"))
    })
    .await;
    sql(&url, &["DELETE FROM passthru_revision"]).await;
    sql(
        &url,
        &["INSERT INTO passthru_routes (path, target) VALUES ('/two', 'http://two')"],
    )
    .await;
    wait_for(ONE_POLL, "the insert without a marker row", || {
        read(&out).filter(|t| t.contains("/two"))
    })
    .await;
    let log = d.log();
    assert!(!log.contains("pass failed"), "{log}");
    assert!(
        warn_line(&log, "passthru_revision").contains("column `revision` holds REAL"),
        "{log}"
    );
    assert!(log.contains("the table has no row"), "{log}");
}

#[tokio::test]
async fn a_column_of_another_type_skips_only_the_rows_it_cannot_read_on_postgres() {
    let pg = PgTestDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    let url = pg.url();
    assert_eq!(run(&url, &out, &["migrate"]).0, 0);
    // A column altered by hand: the driver now hands back text where a boolean was.
    sql(
        &url,
        &[
            "INSERT INTO passthru_routes (id, path, target) VALUES ('good', '/good', 'http://good')",
            "INSERT INTO passthru_routes (id, path, target, auth) VALUES ('hand', '/hand', 'http://h', false)",
            "ALTER TABLE passthru_routes ALTER COLUMN auth TYPE text",
            "INSERT INTO passthru_routes (id, path, target, timeout) VALUES ('nan', '/nan', 'http://n', 'NaN')",
        ],
    )
    .await;
    let (code, _, err) = run(&url, &out, &["once"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(ids(&out), vec!["good"]);
    assert!(
        warn_line(&err, "passthru_routes row_id 2 (id hand)").contains("column `auth` holds TEXT"),
        "{err}"
    );
    assert!(
        warn_line(&err, "passthru_routes row_id 3 (id nan)").contains("column `timeout` is NaN"),
        "{err}"
    );
}

#[tokio::test]
async fn a_key_is_active_only_when_blocked_is_false_on_postgres() {
    let pg = PgTestDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    let url = pg.url();
    assert_eq!(run(&url, &out, &["migrate"]).0, 0);
    let (active, text_true, null) = (hash_key("sk-a"), hash_key("sk-t"), hash_key("sk-n"));
    sql(
        &url,
        &[
            ROUTE_WITH_AUTH.replace(", 1)", ", true)").as_str(),
            &insert_key(&active, "false"),
            &insert_key(&text_true, "'true'"),
            "ALTER TABLE passthru_keys ALTER COLUMN blocked DROP NOT NULL",
            &insert_key(&null, "NULL"),
        ],
    )
    .await;
    let (code, _, err) = run(&url, &out, &["once"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(key_hexes(&out), vec![active]);
    assert!(
        warn_line(&err, &format!("passthru_keys sha256 {}", &null[..12]))
            .contains("column `blocked` is NULL; the key is refused as if blocked"),
        "{err}"
    );
}

#[tokio::test]
async fn an_expiry_of_minus_infinity_is_expired_on_postgres() {
    let pg = PgTestDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    let url = pg.url();
    assert_eq!(run(&url, &out, &["migrate"]).0, 0);
    let (past, never) = (hash_key("sk-past"), hash_key("sk-never"));
    sql(
        &url,
        &[
            ROUTE_WITH_AUTH.replace(", 1)", ", true)").as_str(),
            &format!("INSERT INTO passthru_keys (sha256, expires) VALUES ('{past}', '-infinity')"),
            &format!("INSERT INTO passthru_keys (sha256, expires) VALUES ('{never}', 'infinity')"),
        ],
    )
    .await;
    let (code, _, err) = run(&url, &out, &["once"]);
    assert_eq!(code, 0, "{err}");
    let file = parsed(&out);
    let keys: Vec<_> = file.keys().iter().map(|k| (k.hex(), k.expires)).collect();
    assert_eq!(keys, vec![(never, None)]);
}

#[tokio::test]
async fn a_revocation_with_blocked_true_reaches_the_file_within_one_poll_on_postgres() {
    let pg = PgTestDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    let url = pg.url();
    assert_eq!(run(&url, &out, &["migrate"]).0, 0);
    let key = hash_key("sk-revoked");
    sql(
        &url,
        &[
            ROUTE_WITH_AUTH.replace(", 1)", ", true)").as_str(),
            r#"INSERT INTO passthru_routes (path, target, methods, headers) VALUES ('/shape', 'http://s', '{"GET": 1}', '[1]')"#,
            &insert_key(&key, "false"),
        ],
    )
    .await;
    let d = daemon(&url, &out, dir.path());
    wait_for(Duration::from_secs(10), "the key in the file", || {
        read(&out).filter(|_| key_hexes(&out) == vec![key.clone()])
    })
    .await;
    let start = Instant::now();
    sql(&url, &["UPDATE passthru_keys SET blocked = 'true'"]).await;
    wait_for(ONE_POLL, "the revocation", || {
        key_hexes(&out).is_empty().then_some(())
    })
    .await;
    assert!(start.elapsed() < ONE_POLL);
    assert!(!d.log().contains("pass failed"), "{}", d.log());
}

#[tokio::test]
async fn a_revocation_reaches_the_file_while_the_litellm_settings_are_unusable() {
    let pg = PgTestDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    let url = pg.url();
    let ddl = litellm_ddl();
    sql(&url, &ddl.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let key = "a".repeat(64);
    let settings = |endpoints: &str| {
        format!(
            r#"INSERT INTO "LiteLLM_Config" (param_name, param_value)
               VALUES ('general_settings', '{{"pass_through_endpoints": {endpoints}}}'::jsonb)
               ON CONFLICT (param_name) DO UPDATE SET param_value = EXCLUDED.param_value"#
        )
    };
    sql(
        &url,
        &[
            &format!(r#"INSERT INTO "LiteLLM_VerificationToken" (token) VALUES ('{key}')"#),
            &settings(r#"[{"path": "/a", "target": "http://a"}]"#),
        ],
    )
    .await;
    let mut c = command(&url, &out);
    c.args(["run", "--schema", "litellm", "--interval", "400ms"]);
    let d = Daemon::spawn_logging_to("passthru-sync", &mut c, &dir.path().join("daemon.log"));
    wait_for(Duration::from_secs(10), "the route and its key", || {
        read(&out).filter(|t| t.contains("/a") && t.contains(&key))
    })
    .await;

    // One unusable value for every route: the routes in the file stay, keys still follow.
    sql(&url, &[&settings(r#"{"path": "/b"}"#)]).await;
    sql(
        &url,
        &[r#"UPDATE "LiteLLM_VerificationToken" SET blocked = true"#],
    )
    .await;
    wait_for(ONE_POLL, "the revocation", || {
        read(&out).filter(|t| !t.contains(&key))
    })
    .await;
    assert!(read(&out).unwrap().contains("/a"));
    let log = d.log();
    assert!(
        warn_line(&log, "\"LiteLLM_Config\" general_settings")
            .contains("pass_through_endpoints must be a list"),
        "{log}"
    );
    assert!(!log.contains("pass failed"), "{log}");
}
