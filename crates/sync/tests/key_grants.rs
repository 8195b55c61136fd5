//! Scoped keys in the native schema (issue 12, item 3): `passthru_keys.admin`, `allow`, `deny`
//! and `only` (migration 3) become the key's `admin`, `allow`, `deny` and `only` in routes.yaml;
//! `keys add` writes them; a malformed value makes its key fail closed (no grant at all,
//! reported with the table, the hash prefix and the column), never unscoped. On real SQLite
//! files and real PostgreSQL clusters; each test is named after its property.

use std::path::Path;
use std::time::{Duration, Instant};

use passthru_routes::Grants;
use passthru_sync::admin::hash_key;
use passthru_tests::postgres::PgTestDatabase;
use passthru_tests::process::Daemon;
use passthru_tests::sync::*;
use passthru_tests::wait::wait_for;
use sqlx::Connection;

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

/// `keys add` with each kind of access, `once`, and the grants read back from the file; `keys
/// list` shows them. The same on both databases (the insert is the one place the SQL differs).
async fn keys_add_writes_each_access_into_the_file(url: &str, out: &Path) {
    let (code, _, err) = run(
        url,
        out,
        &[
            "routes",
            "add",
            "--path",
            "/a",
            "--target",
            "http://a",
            "--include-subpath",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let add = |args: &[&str]| {
        let mut all = vec!["keys", "add", "--sha256"];
        all.extend_from_slice(args);
        let (code, hex, err) = run(url, out, &all);
        assert_eq!(code, 0, "{all:?}: {err}");
        hex.trim().to_owned()
    };
    let plain = add(&[&hash_key("sk-plain")]);
    let scoped = add(&[
        &hash_key("sk-scoped"),
        "--allow",
        "/a",
        "--allow",
        "/b",
        "--deny",
        "/a/admin",
    ]);
    let deny_only = add(&[&hash_key("sk-deny"), "--deny", "/a/admin*"]);
    let none = add(&[&hash_key("sk-none"), "--allow-none"]);
    let admin = add(&[&hash_key("sk-admin"), "--admin"]);
    let limited_admin = add(&[&hash_key("sk-limited"), "--admin", "--only", "/a/v1/*"]);

    let (code, _, err) = run(url, out, &["once"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("skipped row"), "{err}");
    assert_eq!(grants_of(out, &plain), Grants::default());
    assert_eq!(
        grants_of(out, &scoped),
        Grants {
            allow: Some(list(&["/a", "/b"])),
            deny: list(&["/a/admin"]),
            ..Grants::default()
        }
    );
    assert_eq!(
        grants_of(out, &deny_only),
        Grants {
            deny: list(&["/a/admin*"]),
            ..Grants::default()
        }
    );
    assert_eq!(grants_of(out, &none), no_grant());
    assert_eq!(
        grants_of(out, &admin),
        Grants {
            admin: true,
            ..Grants::default()
        }
    );
    assert_eq!(
        grants_of(out, &limited_admin),
        Grants {
            admin: true,
            only: Some(list(&["/a/v1/*"])),
            ..Grants::default()
        }
    );

    let (code, listed, err) = run(url, out, &["keys", "list"]);
    assert_eq!(code, 0, "{err}");
    let access = |hex: &str| {
        let line = listed
            .lines()
            .find(|l| l.starts_with(hex))
            .unwrap_or_else(|| panic!("{hex} not listed:\n{listed}"));
        line.split_whitespace()
            .skip(3)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(access(&plain), "all");
    assert_eq!(access(&scoped), r#"allow=["/a","/b"] deny=["/a/admin"]"#);
    assert_eq!(access(&none), "allow=[]");
    assert_eq!(access(&admin), "admin");
    assert_eq!(access(&limited_admin), r#"admin only=["/a/v1/*"]"#);
}

#[tokio::test]
async fn keys_add_writes_each_access_into_the_file_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = native_sqlite(dir.path());
    keys_add_writes_each_access_into_the_file(&url, &dir.path().join("routes.yaml")).await;
}

#[tokio::test]
async fn keys_add_writes_each_access_into_the_file_on_postgres() {
    let pg = PgTestDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    assert_eq!(run(&pg.url(), &out, &["migrate"]).0, 0);
    keys_add_writes_each_access_into_the_file(&pg.url(), &out).await;
}

#[tokio::test]
async fn keys_add_refuses_grants_that_can_only_be_a_mistake_and_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = native_sqlite(dir.path());
    let out = dir.path().join("routes.yaml");
    let hex = hash_key("sk-refused");
    let refused: &[(&[&str], &str)] = &[
        (&["--admin", "--allow", "/a"], "--admin ignores --allow"),
        (&["--admin", "--deny", "/a"], "--admin ignores --allow"),
        (&["--allow", "a"], "--allow \"a\" is not a request path"),
        (&["--deny", "*"], "--deny \"*\" is not a request path"),
        (
            &["--allow", "/a/*"],
            "--allow /a already allows every path below it",
        ),
        (&["--allow", "/a", "--allow-none"], "cannot be used with"),
    ];
    for (flags, message) in refused {
        let mut args = vec!["keys", "add", "--sha256", &hex];
        args.extend_from_slice(flags);
        let (code, _, err) = run(&url, &out, &args);
        assert_eq!(
            code,
            if message.contains("cannot") { 2 } else { 1 },
            "{flags:?}"
        );
        assert!(err.contains(message), "{flags:?}: {err}");
    }
    let (code, listed, _) = run(&url, &out, &["keys", "list"]);
    assert_eq!(code, 0);
    assert!(!listed.contains(&hex), "a refused key was added:\n{listed}");
}

/// Every malformed value a list column or `admin` can hold on SQLite (type triggers dropped, as
/// for rows written by hand into a database without them): each key is written with no grant,
/// even when its `admin` says 1, and the report names the key and the column.
#[tokio::test]
async fn a_malformed_grant_column_fails_closed_and_is_named_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = native_sqlite(dir.path());
    sql(
        &url,
        &[
            "DROP TRIGGER passthru_keys_grants_types_insert",
            ROUTE_WITH_AUTH,
        ],
    )
    .await;
    let long_entry = format!("[\"/{}\"]", "x".repeat(3000));
    let many = format!(
        "[{}]",
        (0..1001)
            .map(|i| format!("\"/p{i}\""))
            .collect::<Vec<_>>()
            .join(",")
    );
    // (column, SQL value, what the report says); every row also says admin = 1 unless `admin`
    // is the column under test, so that a malformed list never leaves an admin behind.
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "allow",
            "'{\"/a\": true}'".into(),
            "column `allow` holds a JSON object",
        ),
        (
            "allow",
            "'\"/a\"'".into(),
            "column `allow` holds a JSON string",
        ),
        ("allow", "'not json'".into(), "column `allow` is not JSON"),
        (
            "allow",
            "'[\"/a\", 2]'".into(),
            "column `allow` entry 1 is a JSON number",
        ),
        ("allow", "x'5b5d'".into(), "column `allow` holds BLOB"),
        (
            "deny",
            "'[null]'".into(),
            "column `deny` entry 0 is a JSON null",
        ),
        ("deny", "'7'".into(), "column `deny` holds a JSON number"),
        (
            "deny",
            format!("'{long_entry}'"),
            "column `deny` entry 0 is 3001 bytes",
        ),
        (
            "only",
            format!("'{many}'"),
            "column `only` has 1001 entries",
        ),
        (
            "only",
            "'[\"/a\\u0000\"]'".into(),
            "column `only` entry 0 contains the control character",
        ),
        ("admin", "'true'".into(), "column `admin` holds TEXT"),
        ("admin", "2".into(), "column `admin` holds INTEGER 2"),
        ("admin", "0.5".into(), "column `admin` holds REAL"),
        ("admin", "x'01'".into(), "column `admin` holds BLOB"),
    ];
    let mut statements = Vec::new();
    for (i, (column, value, _)) in cases.iter().enumerate() {
        let hex = hash_key(&format!("sk-{i}"));
        statements.push(if *column == "admin" {
            format!("INSERT INTO passthru_keys (sha256, admin) VALUES ('{hex}', {value})")
        } else {
            format!(
                "INSERT INTO passthru_keys (sha256, admin, \"{column}\") VALUES ('{hex}', 1, {value})"
            )
        });
    }
    let good = hash_key("sk-good");
    statements.push(format!(
        "INSERT INTO passthru_keys (sha256, allow, deny) VALUES ('{good}', '[\"/a\"]', 'null')"
    ));
    sql(
        &url,
        &statements.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;

    let out = dir.path().join("routes.yaml");
    let (code, _, err) = run(&url, &out, &["once"]);
    assert_eq!(code, 0, "{err}");
    for (i, (column, _, message)) in cases.iter().enumerate() {
        let hex = hash_key(&format!("sk-{i}"));
        assert_eq!(grants_of(&out, &hex), no_grant(), "{column} case {i}");
        let line = warn_line(&err, &key_row(&hex));
        assert!(
            line.contains(message) && line.contains("the key keeps no grant"),
            "case {i}: {message:?} not in {line}"
        );
    }
    assert_eq!(
        grants_of(&out, &good),
        Grants {
            allow: Some(list(&["/a"])),
            ..Grants::default()
        },
        "JSON null is the default, like SQL NULL"
    );
    assert!(
        err.contains(&format!("skipped {} row(s)", cases.len())),
        "{err}"
    );
    let (code, listed, list_err) = run(&url, &out, &["keys", "list"]);
    assert_eq!(code, 0, "{list_err}");
    let first = hash_key("sk-0");
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(&first) && l.contains("allow=[]")),
        "{listed}"
    );
    assert!(
        list_err.contains(&format!(
            "{}: column `allow` holds a JSON object",
            key_row(&first)
        )),
        "{list_err}"
    );
}

#[tokio::test]
async fn a_malformed_grant_column_fails_closed_and_is_named_on_postgres() {
    let pg = PgTestDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    let url = pg.url();
    assert_eq!(run(&url, &out, &["migrate"]).0, 0);
    let key = |i: usize| hash_key(&format!("sk-pg-{i}"));
    sql(
        &url,
        &[
            &ROUTE_WITH_AUTH.replace(", 1, 1)", ", true, true)"),
            &format!("INSERT INTO passthru_keys (sha256, admin, allow) VALUES ('{}', true, '{{\"/a\": 1}}')", key(0)),
            &format!("INSERT INTO passthru_keys (sha256, deny) VALUES ('{}', '[\"/a\", [\"/b\"]]')", key(1)),
            &format!("INSERT INTO passthru_keys (sha256, admin, \"only\") VALUES ('{}', true, '\"/a\"')", key(2)),
            "ALTER TABLE passthru_keys ALTER COLUMN admin DROP NOT NULL",
            &format!("INSERT INTO passthru_keys (sha256, admin) VALUES ('{}', NULL)", key(3)),
            &format!("INSERT INTO passthru_keys (sha256, allow) VALUES ('{}', 'null')", key(4)),
        ],
    )
    .await;
    let (code, _, err) = run(&url, &out, &["once"]);
    assert_eq!(code, 0, "{err}");
    let expected = [
        "column `allow` holds a JSON object",
        "column `deny` entry 1 is a JSON list",
        "column `only` holds a JSON string",
        "column `admin` is NULL",
    ];
    for (i, message) in expected.iter().enumerate() {
        assert_eq!(grants_of(&out, &key(i)), no_grant(), "case {i}");
        let line = warn_line(&err, &key_row(&key(i)));
        assert!(line.contains(message), "{message:?} not in {line}");
    }
    assert_eq!(grants_of(&out, &key(4)), Grants::default());
    // A column altered by hand to another type: its keys fail closed, the others are read.
    sql(
        &url,
        &["ALTER TABLE passthru_keys ALTER COLUMN admin TYPE text USING admin::text"],
    )
    .await;
    let (code, _, err) = run(&url, &out, &["once"]);
    assert!(code == 0 || code == 3, "{err}");
    assert_eq!(grants_of(&out, &key(4)), no_grant());
    assert!(
        warn_line(&err, &key_row(&key(4))).contains("column `admin` holds TEXT"),
        "{err}"
    );
}

#[tokio::test]
async fn rows_of_one_hash_with_different_grants_fail_closed() {
    let dir = tempfile::tempdir().unwrap();
    let url = native_sqlite(dir.path());
    let hex = hash_key("sk-twice");
    let same = hash_key("sk-same");
    sql(
        &url,
        &[
            ROUTE_WITH_AUTH,
            &format!(
                "INSERT INTO passthru_keys (sha256) VALUES ('{}')",
                hex.to_ascii_uppercase()
            ),
            &format!("INSERT INTO passthru_keys (sha256, allow) VALUES ('{hex}', '[\"/a\"]')"),
            &format!(
                "INSERT INTO passthru_keys (sha256, allow) VALUES ('{}', '[\"/a\"]')",
                same.to_ascii_uppercase()
            ),
            &format!("INSERT INTO passthru_keys (sha256, allow) VALUES ('{same}', '[\"/a\"]')"),
        ],
    )
    .await;
    let out = dir.path().join("routes.yaml");
    let (code, _, err) = run(&url, &out, &["once"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(grants_of(&out, &hex), no_grant(), "{err}");
    assert!(
        warn_line(&err, &key_row(&hex)).contains("hold this hash with different grants"),
        "{err}"
    );
    // Equal grants in both rows: the key keeps them (the second row is only a duplicate).
    assert_eq!(
        grants_of(&out, &same),
        Grants {
            allow: Some(list(&["/a"])),
            ..Grants::default()
        }
    );
}

/// A database at migration 2 with keys upgrades: the keys stay unscoped, an old row can still be
/// blocked, and values of the wrong storage type in the new columns are refused at write time.
#[tokio::test]
async fn the_upgrade_keeps_old_keys_unscoped_and_refuses_mistyped_grants_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_at(dir.path(), &[MIGRATION_1, SQLITE_MIGRATION_2]).await;
    let (old, other) = (hash_key("sk-old"), hash_key("sk-other"));
    sql(
        &url,
        &[
            ROUTE_WITH_AUTH,
            &format!("INSERT INTO passthru_keys (sha256, blocked) VALUES ('{old}', 0)"),
            &format!("INSERT INTO passthru_keys (sha256, blocked) VALUES ('{other}', 0)"),
        ],
    )
    .await;
    let out = dir.path().join("routes.yaml");
    let (code, _, err) = run(&url, &out, &["migrate"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(&url, &out, &["once"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        grants_in(&out),
        {
            let mut both = vec![
                (old.clone(), Grants::default()),
                (other.clone(), Grants::default()),
            ];
            both.sort();
            both
        },
        "{err}"
    );

    sql(
        &url,
        &[
            &format!("UPDATE passthru_keys SET blocked = 1 WHERE sha256 = '{old}'"),
            &format!("UPDATE passthru_keys SET deny = '[\"/a/admin\"]' WHERE sha256 = '{other}'"),
        ],
    )
    .await;
    let (code, _, err) = run(&url, &out, &["once"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        grants_in(&out),
        vec![(
            other.clone(),
            Grants {
                deny: list(&["/a/admin"]),
                ..Grants::default()
            }
        )]
    );

    let refused = [
        (
            "UPDATE passthru_keys SET admin = 'true'",
            "passthru_keys.admin must be 0 (not admin) or 1 (admin)",
        ),
        (
            "UPDATE passthru_keys SET admin = 2",
            "passthru_keys.admin must be 0 (not admin) or 1 (admin)",
        ),
        (
            "UPDATE passthru_keys SET allow = x'5b5d'",
            "passthru_keys.allow must be text",
        ),
        (
            "UPDATE passthru_keys SET deny = x'5b5d'",
            "passthru_keys.deny must be text",
        ),
        (
            "UPDATE passthru_keys SET \"only\" = x'5b5d'",
            "passthru_keys.only must be text",
        ),
        (
            "INSERT INTO passthru_keys (sha256, admin) VALUES ('x', 'yes')",
            "passthru_keys.admin must be 0",
        ),
        (
            "INSERT INTO passthru_keys (sha256, allow) VALUES ('x', x'00')",
            "passthru_keys.allow must be text",
        ),
        (
            "INSERT INTO passthru_keys (sha256, admin) VALUES ('x', NULL)",
            "passthru_keys.admin must be 0",
        ),
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

/// A database at migration 1 upgrades on PostgreSQL: old keys stay unscoped; a later `UPDATE`
/// of `deny` reaches the file within one poll (NOTIFY off, so the poll carries it).
#[tokio::test]
async fn the_upgrade_keeps_old_keys_unscoped_and_a_grant_change_reaches_the_file_within_one_poll_on_postgres(
) {
    let pg = PgTestDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    let url = pg.url();
    let first = dir.path().join("first-migration");
    std::fs::create_dir_all(&first).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations/postgres")
            .join(MIGRATION_1),
        first.join(MIGRATION_1),
    )
    .unwrap();
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::migrate::Migrator::new(first.as_path())
        .await
        .unwrap()
        .run(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let key = hash_key("sk-old");
    sql(
        &url,
        &[
            &ROUTE_WITH_AUTH.replace(", 1, 1)", ", true, true)"),
            &format!("INSERT INTO passthru_keys (sha256) VALUES ('{key}')"),
        ],
    )
    .await;
    let (code, _, err) = run(&url, &out, &["migrate"]);
    assert_eq!(code, 0, "{err}");

    let mut c = command(&url, &out);
    c.args(["run", "--interval", "400ms", "--no-listen"]);
    let d = Daemon::spawn_logging_to("passthru-sync", &mut c, &dir.path().join("daemon.log"));
    wait_for(Duration::from_secs(10), "the old key, unscoped", || {
        read(&out).filter(|_| grants_in(&out) == vec![(key.clone(), Grants::default())])
    })
    .await;
    let start = Instant::now();
    sql(
        &url,
        &[r#"UPDATE passthru_keys SET allow = '["/a"]', deny = '["/a/admin"]'"#],
    )
    .await;
    let scoped = Grants {
        allow: Some(list(&["/a"])),
        deny: list(&["/a/admin"]),
        ..Grants::default()
    };
    wait_for(ONE_POLL, "the grant change", || {
        (grants_in(&out) == vec![(key.clone(), scoped.clone())]).then_some(())
    })
    .await;
    assert!(start.elapsed() < ONE_POLL);
    assert!(!d.log().contains("pass failed"), "{}", d.log());
}

/// The next poll starts at most 1.1 intervals after the commit; allow one more for the pass.
const ONE_POLL: Duration = Duration::from_millis(400 * 2 + 200);
