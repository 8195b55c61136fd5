//! Crash consistency: kill -9 passthru-sync during writes while the proxy follows the file.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use passthru_routes::RoutesFile;
use passthru_tests::binary;
use passthru_tests::http::{get, Behaviour, Upstream};
use passthru_tests::process::output_with_stdin;
use passthru_tests::proxy::Proxy;
use passthru_tests::sync::sync_command;
use passthru_tests::wait::{poll, wait_until};

use super::RELOAD_ERRORS;

/// An embedded SQLite database of `routes` rows: `/known` (to `upstream`) and fillers whose
/// targets name `tag`, so that every database renders to different bytes. The rows go in with
/// the `sqlite3` shell, or Python's sqlite3 module when the shell is not installed (2,000
/// `passthru-sync routes add` processes would take over a minute).
fn sqlite_table(dir: &Path, tag: &str, routes: usize, upstream: &str) -> PathBuf {
    let db = dir.join(format!("{tag}.db"));
    let (code, err) = sync_command(&["--sqlite-path", db.to_str().unwrap(), "routes", "list"]);
    assert_eq!(code, 0, "{err}");
    let mut sql = String::from("BEGIN;\n");
    sql.push_str(&format!(
        "INSERT INTO passthru_routes (id, path, target, auth) VALUES ('known', '/known', '{upstream}/known', 0);\n"
    ));
    for i in 1..routes {
        sql.push_str(&format!(
            "INSERT INTO passthru_routes (path, target, methods, headers, auth) VALUES \
             ('/filler/{i}', 'http://{tag}.invalid/{i}', '[\"GET\",\"POST\"]', '{{\"x-tag\": \"{tag}\"}}', 0);\n"
        ));
    }
    sql.push_str("COMMIT;\n");
    let run = |mut c: Command| {
        let out = output_with_stdin(&mut c, sql.as_bytes()).ok()?;
        Some(out.status.success())
    };
    let mut shell = Command::new("sqlite3");
    shell.arg(&db);
    let mut python = Command::new("python3");
    python.args([
        "-c",
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.executescript(sys.stdin.read()); c.close()",
    ]);
    python.arg(&db);
    let ok = run(shell).or_else(|| run(python));
    assert_eq!(
        ok,
        Some(true),
        "neither sqlite3 nor python3 could fill {}",
        db.display()
    );
    db
}

/// Runs `kills` rounds: start passthru-sync on the next of three databases (1, 100 and 2,000
/// routes), so each start has a whole new table to write, and SIGKILL it at a random instant
/// within the time a start-and-write takes. Meanwhile a client asks the proxy for `/known`
/// without pause. The file must always parse, the proxy must never answer anything but 200,
/// and it must never count a reload error (it never saw a partial file).
fn kill_dash_nine_during_writes(kills: usize) {
    let up = Upstream::start(Behaviour::Echo);
    let dir = tempfile::tempdir().unwrap();
    let dbs: Vec<PathBuf> = [("one", 1), ("hundred", 100), ("twothousand", 2_000)]
        .iter()
        .map(|(tag, n)| sqlite_table(dir.path(), tag, *n, &up.url()))
        .collect();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("routes.yaml");
    let (code, err) = sync_command(&[
        "--sqlite-path",
        dbs[0].to_str().unwrap(),
        "once",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let proxy = Proxy::start(&out, &[]);
    assert_eq!(get(proxy.addr, "/known").status(), 200);

    let stop = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicU64::new(0));
    let client = {
        let (stop, requests, addr) = (stop.clone(), requests.clone(), proxy.addr);
        std::thread::spawn(move || {
            let mut bad = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let status = get(addr, "/known").status();
                requests.fetch_add(1, Ordering::Relaxed);
                if status != 200 {
                    bad.push(status);
                }
            }
            bad
        })
    };

    // Calibration: how long a start takes to rename its table into place, per database, so
    // that the kills can be aimed around that instant.
    let spawn_sync = |db: &Path| {
        Command::new(binary("passthru-sync"))
            .args(["--sqlite-path", db.to_str().unwrap(), "run", "--output"])
            .arg(&out)
            .args(["--interval", "10ms"])
            .env("PASSTHRU_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut write_at = vec![Duration::from_secs(1); dbs.len()];
    for round in 0..dbs.len() * 3 {
        let i = (round + 1) % dbs.len();
        let before = std::fs::read(&out).unwrap();
        let t0 = Instant::now();
        let mut child = spawn_sync(&dbs[i]);
        let written = || (std::fs::read(&out).unwrap() != before).then_some(());
        poll(Duration::from_secs(10), Duration::from_micros(200), written);
        write_at[i] = write_at[i].min(t0.elapsed());
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let (mut rng, seed) = passthru_tests::seeded_rng("PASSTHRU_KILL_SEED");
    let started = Instant::now();
    let (mut mid_or_before, mut after_write, mut mid_write) = (0, 0, 0);
    let mut last = std::fs::read(&out).unwrap();
    for round in 0..kills {
        let db = &dbs[(round + 1) % dbs.len()];
        let mut child = spawn_sync(db);
        // Anywhere from the start to 20 % past the calibrated write, most often near the write.
        let target = write_at[(round + 1) % dbs.len()].as_micros() as u64;
        let delay = if rng.bool() {
            rng.u64(..target * 6 / 5 + 1)
        } else {
            target * 4 / 5 + rng.u64(..target * 2 / 5 + 1)
        };
        std::thread::sleep(Duration::from_micros(delay));
        child.kill().unwrap();
        child.wait().unwrap();
        // A temp file next to routes.yaml: the kill came between its creation and the rename.
        if std::fs::read_dir(&out_dir).unwrap().count() > 1 {
            mid_write += 1;
        }
        let now = std::fs::read(&out).expect("routes.yaml is always there");
        if let Err(p) = RoutesFile::parse(&now) {
            panic!("round {round} (seed {seed}): a partial file: {p}");
        }
        if now == last {
            mid_or_before += 1;
        } else {
            after_write += 1;
        }
        last = now;
    }
    let elapsed = started.elapsed();
    // Let the proxy catch up with the last write before the final checks: it serves as many
    // routes as the last file holds (each database has a different count).
    let last_routes = RoutesFile::parse(&last).unwrap().routes().len() as f64;
    wait_until(
        Duration::from_secs(10),
        "the proxy on the last table",
        || proxy.metric("passthru_routes") == Some(last_routes),
    );
    stop.store(true, Ordering::Relaxed);
    let bad = client.join().unwrap();
    let errors = proxy.metric(RELOAD_ERRORS).unwrap_or(0.0);
    let ok = proxy
        .metric("passthru_reloads_total{result=\"ok\"}")
        .unwrap_or(0.0);
    let leftovers = std::fs::read_dir(&out_dir).unwrap().count() - 1;
    eprintln!("calibrated start-to-rename times: {write_at:?}");
    eprintln!(
        "kill -9: {kills} kills in {:.1} s (seed {seed}); {after_write} after the write, {mid_or_before} before it or during it ({mid_write} with a temp file written but not renamed); \
         proxy: {} requests, {} not 200, {ok} reloads, {errors} reload errors; {leftovers} temp files left",
        elapsed.as_secs_f64(),
        requests.load(Ordering::Relaxed),
        bad.len()
    );
    assert!(bad.is_empty(), "the proxy answered {bad:?} (seed {seed})");
    assert_eq!(
        errors,
        0.0,
        "the proxy saw a bad file (seed {seed}):\n{}",
        proxy.log()
    );
    assert!(
        after_write > 0 && mid_or_before > 0,
        "kills did not straddle writes"
    );
    assert!(leftovers <= 1, "{leftovers} temp files left behind");
}

#[test]
fn kill_dash_nine_during_writes_never_exposes_a_partial_or_empty_table() {
    kill_dash_nine_during_writes(100);
}

/// The figure: 1,000 kills (5 min with debug builds on two cores, 12 min while they
/// also fuzz).
#[test]
#[ignore = "slow (5 to 12 min, by machine load): run with --ignored for the 1,000-kill figure"]
fn a_thousand_kill_dash_nine_during_writes_never_expose_a_partial_or_empty_table() {
    kill_dash_nine_during_writes(1_000);
}
