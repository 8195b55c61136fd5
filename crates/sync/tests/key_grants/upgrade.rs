//! Databases from before the grant columns: old keys stay unscoped, mistyped grants are refused.

use std::time::Duration;

use passthru_routes::Grants;
use passthru_sync::admin::hash_key;
use passthru_tests::postgres::PgTestDatabase;
use passthru_tests::process::Daemon;
use passthru_tests::sync::*;
use passthru_tests::wait::wait_for;

use super::{grants_in, list, MIGRATION_1, ONE_POLL, ROUTE_WITH_AUTH, SQLITE_MIGRATION_2};

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
    assert_sqlite_refuses(&url, &refused).await;
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
    postgres_at(&url, dir.path(), &[MIGRATION_1]).await;
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
    assert!(!d.log().contains("pass failed"), "{}", d.log());
}
