//! The database going away or blocking: the file is left alone and the daemon recovers.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use passthru_tests::postgres::{PgCluster, PgTestDatabase};
use passthru_tests::process::Daemon;
use passthru_tests::sync::*;
use passthru_tests::wait::wait_for;

use super::{daemon, ROUTE_INSERT};

/// Migrates the database at `url`, inserts one route and starts a daemon polling every 200 ms
/// (backing off to 500 ms at most) with `timeout_flag` at 1 s, writing `routes.yaml` in `dir`;
/// returns once it wrote the file.
async fn daemon_after_its_first_write(
    url: &str,
    dir: &Path,
    timeout_flag: &str,
) -> (Daemon, PathBuf) {
    let out = dir.join("routes.yaml");
    assert_eq!(run(url, &out, &["migrate"]).0, 0);
    sql(url, &[ROUTE_INSERT]).await;
    let d = daemon(
        url,
        &out,
        dir,
        &[
            "--interval",
            "200ms",
            "--max-backoff",
            "500ms",
            timeout_flag,
            "1s",
        ],
    );
    wait_for(Duration::from_secs(10), "the first write", || read(&out)).await;
    (d, out)
}

#[tokio::test]
async fn stopping_the_cluster_leaves_the_file_alone_and_the_daemon_recovers_without_a_restart() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let (mut d, out) =
        daemon_after_its_first_write(&pg.url(), dir.path(), "--connect-timeout").await;
    let bytes = fs::read(&out).unwrap();
    let modified = mtime(&out);

    pg.stop();
    // Several failed passes, each a chance to exit or to touch the file.
    wait_for(Duration::from_secs(20), "five failed passes", || {
        (d.count("pass failed") >= 5).then_some(())
    })
    .await;
    assert!(
        d.is_running(),
        "the daemon exited during the outage:\n{}",
        d.log()
    );
    assert_eq!(
        fs::read(&out).unwrap(),
        bytes,
        "the outage changed the file"
    );
    assert_eq!(mtime(&out), modified, "the outage touched the file");
    let log = d.log();
    assert!(
        log.contains("pass failed")
            && log.contains("keeps the last good table")
            && log.contains("Connection refused"),
        "the daemon did not say why:\n{log}"
    );

    pg.restart();
    sql(
        &pg.url(),
        &["UPDATE passthru_routes SET target = 'http://after-outage'"],
    )
    .await;
    wait_for(
        Duration::from_secs(10),
        "the first write after the outage",
        || read(&out).filter(|t| t.contains("http://after-outage")),
    )
    .await;
    assert!(d.is_running());
    wait_for(Duration::from_secs(2), "the recovery log line", || {
        d.log().contains("database reachable again").then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_query_blocked_by_a_lock_times_out_leaves_the_file_alone_and_recovers() {
    use sqlx::Connection;
    let pg = PgTestDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let (mut d, out) = daemon_after_its_first_write(&pg.url(), dir.path(), "--query-timeout").await;
    let bytes = fs::read(&out).unwrap();

    let mut locker = sqlx::PgConnection::connect(&pg.url()).await.unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE passthru_revision IN ACCESS EXCLUSIVE MODE")
        .execute(&mut locker)
        .await
        .unwrap();
    wait_for(Duration::from_secs(10), "the timeout report", || {
        d.log().contains("--query-timeout").then_some(())
    })
    .await;
    assert_eq!(fs::read(&out).unwrap(), bytes);
    assert!(d.is_running());

    sqlx::raw_sql("UPDATE passthru_routes SET target = 'http://after-lock'; COMMIT")
        .execute(&mut locker)
        .await
        .unwrap();
    wait_for(Duration::from_secs(10), "the write after the lock", || {
        read(&out).filter(|t| t.contains("http://after-lock"))
    })
    .await;
}
