//! Hostile rows on PostgreSQL: columns of another type, `blocked` and expiry edge values,
//! revocations, and unusable LiteLLM settings.

use std::time::Duration;

use passthru_sync::admin::hash_key;
use passthru_tests::postgres::PgTestDatabase;
use passthru_tests::process::Daemon;
use passthru_tests::sync::*;
use passthru_tests::wait::wait_for;

use super::{daemon, insert_key, key_hexes, warn_line, ONE_POLL, ROUTE_WITH_AUTH};

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
    sql(&url, &["UPDATE passthru_keys SET blocked = 'true'"]).await;
    wait_for(ONE_POLL, "the revocation", || {
        key_hexes(&out).is_empty().then_some(())
    })
    .await;
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
