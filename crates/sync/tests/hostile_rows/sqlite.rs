//! Hostile rows on SQLite files: mistyped route and key columns, revocations over them, the
//! listing subcommands, the upgrade, a mistyped change marker.

use std::time::Duration;

use passthru_sync::admin::hash_key;
use passthru_tests::sync::*;
use passthru_tests::wait::wait_for;

use super::{
    daemon, fill_hostile_routes, insert_key, key_hexes, sqlite_before_the_type_triggers, warn_line,
    ONE_POLL, ROUTE_WITH_AUTH,
};

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
    assert_sqlite_refuses(&url, &refused).await;
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
