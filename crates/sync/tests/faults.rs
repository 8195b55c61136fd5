//! Database faults against a running passthru-sync (issue "Break it"): connection refused at
//! start, a wrong password, a server-side statement timeout, the server restarting in the middle
//! of a query, the schema missing, and a row carrying 10 MB of headers. In each the daemon stays
//! up, the routes file is not touched, and the log says what happened and what to do; when the
//! fault goes away the daemon recovers by itself. (The outage after start and the client-side
//! --query-timeout on a lock are in sync.rs.)

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use passthru_tests::postgres::PgCluster;
use passthru_tests::process::Daemon;
use passthru_tests::sync::*;
use passthru_tests::wait::wait_for;

const ROUTE_INSERT: &str =
    "INSERT INTO passthru_routes (path, target, auth) VALUES ('/my-service', 'http://backend:8080', false)";

fn daemon(url: &str, output: &Path, dir: &Path, args: &[&str]) -> Daemon {
    let mut c = command(url, output);
    c.arg("run").args([
        "--interval",
        "200ms",
        "--max-backoff",
        "500ms",
        "--connect-timeout",
        "2s",
    ]);
    c.args(args);
    // Debug, so that every pass leaves a line (see `passes`).
    c.env("PASSTHRU_LOG", "info,passthru_sync=debug");
    Daemon::spawn_logging_to("passthru-sync", &mut c, &dir.join("daemon.log"))
}

/// How many passes the daemon has finished, whatever their outcome.
fn passes(d: &Daemon) -> usize {
    [
        "pass failed",
        "poll: nothing new",
        "poll: table unchanged",
        "wrote routes file",
    ]
    .iter()
    .map(|outcome| d.count(outcome))
    .sum()
}

/// The routes file at `path` as it is now: its bytes and mtime, which no fault may change.
struct WrittenFile {
    path: PathBuf,
    bytes: Vec<u8>,
    modified: SystemTime,
}

impl WrittenFile {
    fn read(path: PathBuf) -> WrittenFile {
        let bytes = fs::read(&path).unwrap();
        let modified = mtime(&path);
        WrittenFile {
            path,
            bytes,
            modified,
        }
    }
}

/// A routes file as the daemon would have left it, written before the daemon starts.
fn existing_file(dir: &Path) -> WrittenFile {
    let out = dir.join("routes.yaml");
    fs::write(
        &out,
        "version: 1\nroutes:\n- id: kept\n  path: /kept\n  target: http://kept\n  auth: false\n",
    )
    .unwrap();
    WrittenFile::read(out)
}

/// A daemon that wrote one route, then was told to poll (SIGHUP) while `locker` holds the routes
/// table locked, so its read waits on the lock. `file` is the file as written.
struct BlockedDaemon {
    d: Daemon,
    file: WrittenFile,
    locker: sqlx::PgConnection,
    _dir: tempfile::TempDir,
}

/// Migrates, inserts one route, runs `before_start` (if any), starts the daemon, waits for its
/// first write, then takes the lock (`session_sql` runs first on the locking connection) and
/// sends SIGHUP.
async fn daemon_blocked_on_a_lock(
    pg: &PgCluster,
    before_start: Option<&str>,
    session_sql: &str,
) -> BlockedDaemon {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    assert_eq!(run(&pg.url(), &out, &["migrate"]).0, 0);
    sql(&pg.url(), &[ROUTE_INSERT]).await;
    if let Some(statement) = before_start {
        pg.psql("postgres", statement);
    }
    let d = daemon(&pg.url(), &out, dir.path(), &["--query-timeout", "60s"]);
    wait_for(Duration::from_secs(10), "the first write", || read(&out)).await;
    let file = WrittenFile::read(out);
    let mut locker = sqlx::PgConnection::connect(&pg.url()).await.unwrap();
    sqlx::raw_sql(&format!(
        "{session_sql} BEGIN; LOCK TABLE passthru_routes IN ACCESS EXCLUSIVE MODE; \
         UPDATE passthru_revision SET revision = revision + 1"
    ))
    .execute(&mut locker)
    .await
    .unwrap();
    d.signal("HUP");
    BlockedDaemon {
        d,
        file,
        locker,
        _dir: dir,
    }
}

/// Waits until the log holds every one of `needles`, then checks the daemon runs and the file
/// is byte-for-byte and mtime-for-mtime what it was.
async fn fault_reported(d: &mut Daemon, file: &WrittenFile, needles: &[&str]) {
    wait_for(
        Duration::from_secs(20),
        &format!("{needles:?} in the log"),
        || {
            let log = d.log();
            needles.iter().all(|n| log.contains(n)).then_some(())
        },
    )
    .await;
    // A few more failed passes must not change anything either.
    let done = passes(d);
    wait_for(Duration::from_secs(20), "two more passes", || {
        (passes(d) >= done + 2).then_some(())
    })
    .await;
    assert!(d.is_running(), "the daemon exited:\n{}", d.log());
    assert_eq!(
        fs::read(&file.path).unwrap(),
        file.bytes,
        "the file changed:\n{}",
        d.log()
    );
    assert_eq!(mtime(&file.path), file.modified, "the file was touched");
    let failed: Vec<String> = d
        .log()
        .lines()
        .filter(|l| l.contains("ERROR") || l.contains("WARN"))
        .take(2)
        .map(str::to_owned)
        .collect();
    eprintln!("{}", failed.join("\n"));
    assert!(
        d.log().contains("keeps the last good table"),
        "the log does not say the file is kept:\n{}",
        d.log()
    );
}

async fn recovers(d: &mut Daemon, out: &Path, needle: &str) {
    wait_for(Duration::from_secs(20), "the write after the fault", || {
        read(out).filter(|t| t.contains(needle))
    })
    .await;
    assert!(d.is_running());
}

#[tokio::test]
async fn connection_refused_at_start_leaves_the_existing_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = existing_file(dir.path());
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("postgres://sync:secret-pw-1@{closed}/app");
    let mut d = daemon(&url, &file.path, dir.path(), &[]);
    fault_reported(
        &mut d,
        &file,
        &[
            "Connection refused",
            "check that the server is up and reachable",
        ],
    )
    .await;
    assert!(!d.log().contains("secret-pw-1"), "the password was logged");
}

#[tokio::test]
async fn a_wrong_password_is_reported_and_the_file_kept() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    assert_eq!(run(&pg.url(), &out, &["migrate"]).0, 0);
    sql(&pg.url(), &[ROUTE_INSERT]).await;
    // The harness trusts every local connection: require a password for role `app` over TCP.
    pg.psql("postgres", "CREATE ROLE app LOGIN PASSWORD 'right-pw-2'; GRANT SELECT ON ALL TABLES IN SCHEMA public TO app");
    let hba = pg.psql("postgres", "SHOW hba_file").trim().to_owned();
    let rules = fs::read_to_string(&hba).unwrap();
    fs::write(
        &hba,
        format!("host all app 127.0.0.1/32 scram-sha-256\n{rules}"),
    )
    .unwrap();
    pg.psql("postgres", "SELECT pg_reload_conf()");
    let good = format!("postgres://app:right-pw-2@127.0.0.1:{}/postgres", pg.port());
    assert_eq!(run(&good, &out, &["once"]).0, 0, "the right password works");
    let file = WrittenFile::read(out.clone());

    let bad = format!("postgres://app:wrong-pw-3@127.0.0.1:{}/postgres", pg.port());
    let mut d = daemon(&bad, &out, dir.path(), &[]);
    fault_reported(
        &mut d,
        &file,
        &[
            "password authentication failed for user \"app\"",
            "check the user name and password in the database URL",
        ],
    )
    .await;
    let log = d.log();
    assert!(
        !log.contains("wrong-pw-3") && !log.contains("right-pw-2"),
        "a password was logged:\n{log}"
    );
}

#[tokio::test]
async fn a_server_statement_timeout_is_reported_and_the_daemon_recovers() {
    let pg = PgCluster::start();
    // The server cancels any statement after 300 ms; the client's own timeout is far away. The
    // lock holder opts out, so only the daemon's read waits on the lock until cancelled.
    let BlockedDaemon {
        mut d,
        file,
        mut locker,
        _dir,
    } = daemon_blocked_on_a_lock(
        &pg,
        Some("ALTER DATABASE postgres SET statement_timeout = '300ms'"),
        "SET statement_timeout = 0;",
    )
    .await;
    fault_reported(
        &mut d,
        &file,
        &[
            "canceling statement due to statement timeout",
            "check for long transactions holding locks",
        ],
    )
    .await;

    sqlx::raw_sql("UPDATE passthru_routes SET target = 'http://after-timeout'; COMMIT")
        .execute(&mut locker)
        .await
        .unwrap();
    recovers(&mut d, &file.path, "http://after-timeout").await;
}

#[tokio::test]
async fn the_server_restarting_in_the_middle_of_a_query_is_survived() {
    let pg = PgCluster::start();
    // The daemon's read blocks behind a lock; the server is restarted while it waits.
    let BlockedDaemon {
        mut d,
        file,
        locker,
        _dir,
    } = daemon_blocked_on_a_lock(&pg, None, "").await;
    wait_for(
        Duration::from_secs(10),
        "the daemon's query waiting on the lock",
        || {
            let waiting = pg.psql(
                "postgres",
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
            );
            (waiting.trim() == "1").then_some(())
        },
    )
    .await;
    let in_flight = pg.psql(
        "postgres",
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
    );
    assert_eq!(
        in_flight.trim(),
        "1",
        "the daemon's query is not waiting on the lock"
    );
    pg.stop();
    fault_reported(
        &mut d,
        &file,
        &[
            "pass failed",
            "terminating connection due to administrator command",
        ],
    )
    .await;
    drop(locker);
    pg.restart();
    sql(
        &pg.url(),
        &["UPDATE passthru_routes SET target = 'http://after-restart'"],
    )
    .await;
    recovers(&mut d, &file.path, "http://after-restart").await;
}

#[tokio::test]
async fn a_missing_schema_says_to_run_migrate_and_the_file_is_kept() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let file = existing_file(dir.path());
    let mut d = daemon(&pg.url(), &file.path, dir.path(), &[]);
    fault_reported(
        &mut d,
        &file,
        &["does not exist", "run `passthru-sync migrate`"],
    )
    .await;
    assert_eq!(run(&pg.url(), &file.path, &["migrate"]).0, 0);
    sql(
        &pg.url(),
        &["INSERT INTO passthru_routes (path, target, auth) VALUES ('/after-migrate', 'http://m', false)"],
    )
    .await;
    recovers(&mut d, &file.path, "/after-migrate").await;
}

/// A row whose headers hold 10 MB: the daemon neither crashes nor stalls, and the file is
/// either written with every row (the proxy's 64 MiB cap leaves room) or the row is skipped
/// with a reason; the other rows are always written.
#[tokio::test]
async fn a_row_with_ten_megabytes_of_headers_is_handled() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    assert_eq!(run(&pg.url(), &out, &["migrate"]).0, 0);
    sql(
        &pg.url(),
        &[
            ROUTE_INSERT,
            "INSERT INTO passthru_routes (path, target, auth, headers) VALUES ('/big', 'http://big', false, \
             jsonb_build_object('x-big', repeat('b', 10 * 1024 * 1024)))",
            "INSERT INTO passthru_routes (path, target, auth, headers) VALUES ('/many', 'http://many', false, \
             (SELECT jsonb_object_agg('x-h' || i, repeat('m', 1000)) FROM generate_series(1, 10000) i))",
        ],
    )
    .await;
    let started = std::time::Instant::now();
    let mut d = daemon(&pg.url(), &out, dir.path(), &[]);
    let text = wait_for(Duration::from_secs(60), "the write", || {
        read(&out).filter(|t| t.contains("/my-service"))
    })
    .await;
    let took = started.elapsed();
    // Two more passes over the big rows, each a chance to fall over.
    let done = passes(&d);
    wait_for(Duration::from_secs(20), "two more passes", || {
        (passes(&d) >= done + 2).then_some(())
    })
    .await;
    assert!(d.is_running(), "the daemon exited:\n{}", d.log());
    let file = parsed(&out);
    let paths: Vec<&str> = file.routes().iter().map(|r| r.path.as_str()).collect();
    let log = d.log();
    eprintln!(
        "10 MB headers: file {} bytes, routes {paths:?}, written in {took:?}, log {} bytes",
        text.len(),
        log.len()
    );
    for (path, name) in [("/big", "x-big"), ("/many", "x-h1")] {
        if !paths.contains(&path) {
            assert!(
                log.contains("skipped row") && log.contains(path),
                "{path} is neither written nor reported:\n{}",
                &log[..log.len().min(4000)]
            );
        } else {
            let route = file.routes().iter().find(|r| r.path == path).unwrap();
            assert!(route.headers.contains_key(name));
        }
    }
    assert!(
        log.len() < 1 << 20,
        "the log holds {} bytes: the row was logged whole",
        log.len()
    );
}
