//! A malformed grant column, or rows of one hash that disagree, fail closed and are named.

use passthru_routes::Grants;
use passthru_sync::admin::hash_key;
use passthru_tests::postgres::PgTestDatabase;
use passthru_tests::sync::*;

use super::{grants_of, key_row, list, no_grant, warn_line, ROUTE_WITH_AUTH};

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
