//! Polling: derived ids, changes within one poll, unchanged tables leave the file alone, a
//! removed or edited file comes back.

use std::fs;
use std::path::Path;
use std::time::Duration;

use passthru_sync::config::Schema;
use passthru_sync::PassOutcome;
use passthru_tests::postgres::PgTestDatabase;
use passthru_tests::process::Daemon;
use passthru_tests::sync::*;
use passthru_tests::wait::wait_for;

use super::{auto_id, daemon, syncer, ROUTE_INSERT};

#[tokio::test]
async fn id_less_rows_get_the_derived_ids_of_design_section_3() {
    let dir = tempfile::tempdir().unwrap();
    let url = native_sqlite(dir.path());
    sql(
        &url,
        &[
            ROUTE_INSERT,
            r#"INSERT INTO passthru_routes (path, target, methods) VALUES ('/b', 'http://b', '["post","GET","get"]')"#,
            "INSERT INTO passthru_routes (id, path, target) VALUES ('kept-as-is', '/c', 'http://c')",
        ],
    )
    .await;
    let out = dir.path().join("routes.yaml");
    let (code, _, err) = run(&url, &out, &["once"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        ids(&out),
        vec![
            auto_id("path:/b|methods:GET,POST"),
            "kept-as-is".into(),
            "auto-64ec647a7877a6c4".into()
        ]
    );
}

#[tokio::test]
async fn five_hundred_polls_over_unchanged_id_less_rows_write_the_file_exactly_once() {
    let pg = PgTestDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    let (code, _, err) = run(&pg.url(), &out, &["migrate"]);
    assert_eq!(code, 0, "{err}");
    sql(&pg.url(), &[ROUTE_INSERT, "INSERT INTO passthru_routes (path, target, include_subpath) VALUES ('/api', 'http://api', true)"]).await;

    let mut syncer = syncer(&pg.url(), Schema::Native, &out);
    assert_eq!(syncer.pass(false).await.unwrap(), PassOutcome::Written);
    let bytes = fs::read(&out).unwrap();
    let modified = mtime(&out);
    // Half the cycles as timer polls (change marker only), half forced like SIGHUP (full read
    // and render): neither may touch the file.
    for cycle in 1..500 {
        let outcome = syncer.pass(cycle % 2 == 0).await.unwrap();
        assert_ne!(
            outcome,
            PassOutcome::Written,
            "cycle {cycle} rewrote the file"
        );
        assert_eq!(
            fs::read(&out).unwrap(),
            bytes,
            "cycle {cycle} changed the bytes"
        );
        assert_eq!(mtime(&out), modified, "cycle {cycle} changed the mtime");
    }
    assert_eq!(syncer.stats.writes, 1);
    assert_eq!(syncer.stats.passes, 500);
    assert!(ids(&out).contains(&"auto-64ec647a7877a6c4".to_string()));
}

async fn insert_update_and_delete_reach_the_file_within_one_poll(url: &str, dir: &Path) {
    let out = dir.join("routes.yaml");
    let interval = Duration::from_millis(400);
    let _d = daemon(url, &out, dir, &["--interval", "400ms", "--no-listen"]);
    wait_for(Duration::from_secs(10), "the first write", || read(&out)).await;
    // The next poll starts at most 1.1 intervals after the commit; allow one more for the pass.
    let one_poll = interval * 2 + Duration::from_millis(200);

    sql(url, &[ROUTE_INSERT]).await;
    wait_for(one_poll, "the insert", || {
        read(&out).filter(|t| t.contains("/my-service"))
    })
    .await;
    sql(
        url,
        &["UPDATE passthru_routes SET target = 'http://moved:9090'"],
    )
    .await;
    wait_for(one_poll, "the update", || {
        read(&out).filter(|t| t.contains("http://moved:9090"))
    })
    .await;
    sql(url, &["DELETE FROM passthru_routes"]).await;
    wait_for(one_poll, "the delete", || {
        read(&out).filter(|t| t.contains("routes: []"))
    })
    .await;
}

#[tokio::test]
async fn insert_update_and_delete_reach_the_file_within_one_poll_on_postgres() {
    let pg = PgTestDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(run(&pg.url(), &dir.path().join("x"), &["migrate"]).0, 0);
    insert_update_and_delete_reach_the_file_within_one_poll(&pg.url(), dir.path()).await;
}

#[tokio::test]
async fn insert_update_and_delete_reach_the_file_within_one_poll_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = native_sqlite(dir.path());
    insert_update_and_delete_reach_the_file_within_one_poll(&url, dir.path()).await;
}

#[tokio::test]
async fn a_removed_or_edited_file_is_restored_at_the_next_poll() {
    let dir = tempfile::tempdir().unwrap();
    let url = native_sqlite(dir.path());
    sql(&url, &[ROUTE_INSERT]).await;
    let out = dir.path().join("routes.yaml");
    let _d = daemon(&url, &out, dir.path(), &["--interval", "200ms"]);
    let good = wait_for(Duration::from_secs(10), "the first write", || read(&out)).await;
    fs::remove_file(&out).unwrap();
    wait_for(
        Duration::from_secs(2),
        "the file restored after removal",
        || read(&out).filter(|t| *t == good),
    )
    .await;
    fs::write(&out, "version: 1\nroutes: []\n").unwrap();
    wait_for(
        Duration::from_secs(2),
        "the file restored after an edit",
        || read(&out).filter(|t| *t == good),
    )
    .await;
}

#[tokio::test]
async fn five_hundred_daemon_polls_over_unchanged_rows_leave_the_file_as_first_written() {
    let pg = PgTestDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    assert_eq!(run(&pg.url(), &out, &["migrate"]).0, 0);
    sql(&pg.url(), &[ROUTE_INSERT]).await;
    let mut c = command(&pg.url(), &out);
    c.env("PASSTHRU_LOG", "passthru_sync=debug")
        .args(["run", "--interval", "2ms"]);
    let d = Daemon::spawn_logging_to("passthru-sync", &mut c, &dir.path().join("daemon.log"));
    wait_for(Duration::from_secs(10), "the first write", || read(&out)).await;
    let bytes = fs::read(&out).unwrap();
    let modified = mtime(&out);
    wait_for(Duration::from_secs(30), "500 idle polls", || {
        (d.log().matches("poll: nothing new").count() >= 500).then_some(())
    })
    .await;
    assert_eq!(fs::read(&out).unwrap(), bytes);
    assert_eq!(mtime(&out), modified);
    assert_eq!(
        d.log().matches("wrote routes file").count(),
        1,
        "{}",
        d.log()
    );
}
