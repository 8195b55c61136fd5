//! LISTEN/NOTIFY on PostgreSQL: a commit reaches the file long before the next poll.

use std::path::Path;
use std::time::{Duration, Instant};

use passthru_tests::postgres::{PgCluster, PgTestDatabase};
use passthru_tests::process::Daemon;
use passthru_tests::sync::*;
use passthru_tests::wait::wait_for;

use super::ROUTE_INSERT;

/// The line the daemon logs (at debug) each time its LISTEN connection is up.
const LISTENING: &str = "listening for commits";

/// [`daemon`] logging at debug, so that [`LISTENING`] shows when NOTIFY can reach it.
fn listening_daemon(url: &str, output: &Path, dir: &Path, args: &[&str]) -> Daemon {
    let mut c = command(url, output);
    c.env("PASSTHRU_LOG", "info,passthru_sync=debug")
        .arg("run")
        .args(args);
    Daemon::spawn_logging_to("passthru-sync", &mut c, &dir.join("daemon.log"))
}

/// Waits until the daemon has logged [`LISTENING`] `times` times in all.
async fn wait_listening(d: &Daemon, times: usize) {
    wait_for(Duration::from_secs(10), "the LISTEN connection", || {
        (d.count(LISTENING) >= times).then_some(())
    })
    .await;
}

#[tokio::test]
async fn notify_carries_a_commit_to_the_file_at_a_sixty_second_interval() {
    let pg = PgTestDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    assert_eq!(run(&pg.url(), &out, &["migrate"]).0, 0);
    let d = listening_daemon(&pg.url(), &out, dir.path(), &["--interval", "60s"]);
    wait_for(Duration::from_secs(10), "the first write", || read(&out)).await;
    wait_listening(&d, 1).await;
    sql(&pg.url(), &[ROUTE_INSERT]).await;
    // Far below the 60 s poll: only NOTIFY can have carried it.
    wait_for(Duration::from_secs(5), "the NOTIFY-driven write", || {
        read(&out).filter(|t| t.contains("/my-service"))
    })
    .await;
}

/// The NOTIFY latency figure of crates/sync/README.md ("Measured: NOTIFY commit-to-file latency"):
/// `cargo test -p passthru-sync --release --test sync -- --ignored --nocapture notify_latency`.
/// Not a timed unit test: it prints, it does not assert the figure.
#[tokio::test]
#[ignore]
async fn notify_latency_over_200_commits() {
    let pg = PgTestDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    assert_eq!(run(&pg.url(), &out, &["migrate"]).0, 0);
    sql(&pg.url(), &[ROUTE_INSERT]).await;
    // Table size: PASSTHRU_BENCH_ROUTES routes in all (default 1).
    let routes: usize = std::env::var("PASSTHRU_BENCH_ROUTES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    if routes > 1 {
        sql(
            &pg.url(),
            &[&format!(
                "INSERT INTO passthru_routes (path, target) \
                 SELECT '/svc-' || i, 'http://backend-' || i || ':8080' FROM generate_series(2, {routes}) AS i"
            )],
        )
        .await;
    }
    let d = listening_daemon(&pg.url(), &out, dir.path(), &["--interval", "60s"]);
    wait_for(Duration::from_secs(10), "the first write", || read(&out)).await;
    wait_listening(&d, 1).await;
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(&pg.url()).await.unwrap();
    let mut latencies = Vec::new();
    for i in 0..200 {
        let target = format!("http://notify-bench-{i}.invalid:8080");
        sqlx::query("UPDATE passthru_routes SET target = $1 WHERE path = '/my-service'")
            .bind(&target)
            .execute(&mut c)
            .await
            .unwrap();
        let committed = Instant::now();
        wait_for_fast(&out, &target);
        latencies.push(committed.elapsed());
    }
    latencies.sort();
    let pct = |p: f64| {
        latencies[((latencies.len() as f64 * p).ceil() as usize - 1).min(latencies.len() - 1)]
    };
    println!(
        "NOTIFY commit-to-file latency over {} commits at --interval 60s, {routes} routes: p50 {:?}, p99 {:?}, max {:?}",
        latencies.len(),
        pct(0.50),
        pct(0.99),
        latencies[latencies.len() - 1]
    );
    assert!(
        pct(0.99) < Duration::from_secs(30),
        "NOTIFY did not carry the commits at all"
    );
}

/// Busy-polls the file (0.2 ms) so the measurement is not quantised by the wait loop.
fn wait_for_fast(out: &Path, needle: &str) {
    passthru_tests::wait::poll(Duration::from_secs(60), Duration::from_micros(200), || {
        read(out).is_some_and(|t| t.contains(needle)).then_some(())
    })
    .unwrap_or_else(|| panic!("{needle} never reached the file"));
}

#[tokio::test]
async fn notify_resumes_after_the_cluster_restarts() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    assert_eq!(run(&pg.url(), &out, &["migrate"]).0, 0);
    let mut d = listening_daemon(
        &pg.url(),
        &out,
        dir.path(),
        &["--interval", "60s", "--connect-timeout", "1s"],
    );
    wait_for(Duration::from_secs(10), "the first write", || read(&out)).await;
    wait_listening(&d, 1).await;
    pg.stop();
    // The outage lasts until the daemon has tried to LISTEN again and failed.
    wait_for(Duration::from_secs(20), "a failed LISTEN retry", || {
        d.log()
            .contains("LISTEN connection failed; retrying")
            .then_some(())
    })
    .await;
    pg.restart();
    // The LISTEN connection comes back by itself (retrying every 0.5 s, 1 s, 2 s, ...), far
    // sooner than the 60 s poll; a commit then reaches the file through NOTIFY again.
    wait_listening(&d, 2).await;
    sql(&pg.url(), &[ROUTE_INSERT]).await;
    wait_for(
        Duration::from_secs(5),
        "the NOTIFY-driven write after the restart",
        || read(&out).filter(|t| t.contains("/my-service")),
    )
    .await;
    assert!(d.is_running());
}
