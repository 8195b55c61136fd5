//! Signals, readiness and crashes: SIGHUP polls, SIGTERM finishes the write and exits 0,
//! kill -9 never leaves a partial file.

use std::fs;
use std::time::{Duration, Instant};

use passthru_tests::process::Daemon;
use passthru_tests::sync::*;
use passthru_tests::wait::{patient, wait_for};

use super::{daemon, ROUTE_INSERT};

#[tokio::test]
async fn sighup_causes_an_immediate_poll() {
    let dir = tempfile::tempdir().unwrap();
    let url = native_sqlite(dir.path());
    let out = dir.path().join("routes.yaml");
    let d = daemon(&url, &out, dir.path(), &["--interval", "60s"]);
    wait_for(Duration::from_secs(10), "the first write", || read(&out)).await;
    sql(&url, &[ROUTE_INSERT]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !read(&out).unwrap().contains("/my-service"),
        "polled without SIGHUP"
    );
    d.signal("HUP");
    wait_for(Duration::from_secs(5), "the SIGHUP poll", || {
        read(&out).filter(|t| t.contains("/my-service"))
    })
    .await;
}

#[tokio::test]
async fn sigterm_exits_zero_within_two_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let url = native_sqlite(dir.path());
    let out = dir.path().join("routes.yaml");
    let mut d = daemon(&url, &out, dir.path(), &["--interval", "60s"]);
    wait_for(Duration::from_secs(10), "the first write", || read(&out)).await;
    let sent = Instant::now();
    d.signal("TERM");
    let status = d
        .exit_status(Duration::from_secs(2))
        .expect("still running 2 s after SIGTERM");
    assert!(status.success(), "{status:?}");
    assert!(sent.elapsed() < patient(Duration::from_secs(2)));
}

#[tokio::test]
async fn sigterm_during_a_database_outage_still_exits_zero_within_two_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    // A port nothing listens on: every pass fails.
    let mut d = daemon(
        "postgres://sync:pw@127.0.0.1:9/none",
        &out,
        dir.path(),
        &["--interval", "100ms", "--connect-timeout", "10s"],
    );
    // Started, and so inside its first connection attempt (which hangs or fails, by host).
    wait_for(Duration::from_secs(10), "the start", || {
        d.log().contains("INFO starting").then_some(())
    })
    .await;
    d.signal("TERM");
    let status = d
        .exit_status(Duration::from_secs(2))
        .expect("still running 2 s after SIGTERM");
    assert!(status.success(), "{status:?}");
    assert!(!out.exists());
}

#[tokio::test]
async fn kill_dash_nine_during_writes_never_exposes_a_partial_file() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let url = native_sqlite(dir.path());
    for i in 0..20 {
        sql(
            &url,
            &[&format!(
                "INSERT INTO passthru_routes (path, target) VALUES ('/r{i}', 'http://r{i}')"
            )],
        )
        .await;
    }
    let out = dir.path().join("routes.yaml");
    assert_eq!(run(&url, &out, &["once"]).0, 0);

    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let reader = {
        let (stop, reads, out) = (stop.clone(), reads.clone(), out.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let bytes = fs::read(&out).expect("the routes file disappeared");
                if let Err(p) = passthru_routes::RoutesFile::parse(&bytes) {
                    panic!(
                        "the reader saw an invalid file: {p}\n{}",
                        String::from_utf8_lossy(&bytes)
                    );
                }
                reads.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let updater = {
        let (stop, url) = (stop.clone(), url.clone());
        tokio::spawn(async move {
            use sqlx::Connection;
            let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                sqlx::query(
                    "UPDATE passthru_routes SET target = 'http://v' || ? WHERE path = '/r0'",
                )
                .bind(n as i64)
                .execute(&mut c)
                .await
                .unwrap();
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };

    let (mut rng, seed) = passthru_tests::seeded_rng("PASSTHRU_KILL_SEED");
    let mut writes = 0;
    let mut kills = 0;
    let started = Instant::now();
    let time_bound = passthru_tests::wait::patient(Duration::from_secs(90));
    while (writes < 200 || kills < 50) && started.elapsed() < time_bound {
        let d = daemon(&url, &out, dir.path(), &["--interval", "1ms"]);
        // A random instant: 5 to 65 ms into the run (start-up included).
        tokio::time::sleep(Duration::from_millis(5 + rng.u64(..60))).await;
        d.signal("KILL");
        drop(d); // reaps
        kills += 1;
        writes += fs::read_to_string(dir.path().join("daemon.log"))
            .unwrap()
            .matches("wrote routes file")
            .count();
    }
    stop.store(true, Ordering::Relaxed);
    updater.await.unwrap();
    reader
        .join()
        .expect("the reader saw a partial or invalid file");
    assert!(writes >= 200, "only {writes} writes in {kills} runs");
    assert!(kills >= 50, "only {kills} kills");
    assert!(reads.load(Ordering::Relaxed) > 100);
    println!(
        "{writes} writes, {kills} kill -9 (seed {seed}), {} reads",
        reads.load(Ordering::Relaxed)
    );
    // The next start removes temp files that kills left between create and rename.
    assert!(run(&url, &out, &["once"]).0 != 1);
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn the_daemon_notifies_ready_after_the_first_successful_pass() {
    let dir = tempfile::tempdir().unwrap();
    let url = native_sqlite(dir.path());
    let out = dir.path().join("routes.yaml");
    let socket_path = dir.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut c = command(&url, &out);
    c.env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "200000")
        .args(["run", "--interval", "60s"]);
    let d = Daemon::spawn_logging_to("passthru-sync", &mut c, &dir.path().join("daemon.log"));
    let mut buf = [0u8; 512];
    let ready = loop {
        let n = socket.recv(&mut buf).expect("no READY=1 within 10 s");
        let message = String::from_utf8_lossy(&buf[..n]).into_owned();
        if message.starts_with("READY=1") {
            break message;
        }
        assert_eq!(message, "WATCHDOG=1", "unexpected message before READY");
    };
    assert!(out.exists(), "READY before the first write");
    assert!(
        ready.contains("\nSTATUS=1 routes") || ready.contains("\nSTATUS=0 routes"),
        "{ready}"
    );
    let mut watchdog = false;
    for _ in 0..10 {
        let n = socket.recv(&mut buf).unwrap();
        if &buf[..n] == b"WATCHDOG=1" {
            watchdog = true;
            break;
        }
    }
    assert!(
        watchdog,
        "no WATCHDOG ping although WATCHDOG_USEC asks for them"
    );
    drop(d);
}

#[tokio::test]
async fn sigterm_in_the_middle_of_writes_finishes_the_write_and_exits_zero() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let url = native_sqlite(dir.path());
    sql(&url, &[ROUTE_INSERT]).await;
    let out = dir.path().join("routes.yaml");
    let stop = Arc::new(AtomicBool::new(false));
    let updater = {
        let (stop, url) = (stop.clone(), url.clone());
        tokio::spawn(async move {
            use sqlx::Connection;
            let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
            let mut n = 0i64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                sqlx::query("UPDATE passthru_routes SET target = 'http://v' || ?")
                    .bind(n)
                    .execute(&mut c)
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    let mut writes = 0;
    for round in 0..20u64 {
        let mut d = daemon(&url, &out, dir.path(), &["--interval", "1ms"]);
        // Into the write loop first (however long start-up takes on a loaded machine), then
        // an instant within it.
        wait_for(Duration::from_secs(10), "two writes", || {
            (d.count("wrote routes file") >= 2).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis((round * 37) % 50)).await;
        d.signal("TERM");
        let status = d
            .exit_status(Duration::from_secs(2))
            .expect("still running 2 s after SIGTERM");
        assert!(status.success(), "round {round}: {status:?}\n{}", d.log());
        writes += d.log().matches("wrote routes file").count();
        // A write cut short would leave its temp file behind; a finished one never does.
        let temps: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect();
        assert!(temps.is_empty(), "round {round} left {temps:?}");
        parsed(&out);
    }
    stop.store(true, Ordering::Relaxed);
    updater.await.unwrap();
    assert!(
        writes >= 40,
        "only {writes} writes: SIGTERM never met a write"
    );
}
