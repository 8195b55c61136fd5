//! passthru-sync against a real PostgreSQL (a throwaway cluster per test) and real SQLite files.
//! Each test pins one behaviour of issue 3 and is named after it.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use passthru_sync::config::{DatabaseUrl, Schema};
use passthru_sync::source::Source;
use passthru_sync::{Database, PassOutcome, Syncer};
use passthru_tests::postgres::{PgCluster, PgTestDatabase};
use passthru_tests::process::Daemon;
use passthru_tests::sync::*;
use passthru_tests::wait::wait_for;

const ROUTE_INSERT: &str =
    "INSERT INTO passthru_routes (path, target) VALUES ('/my-service', 'http://backend:8080')";

/// DESIGN.md section 3, computed here independently of passthru-routes.
fn auto_id(key: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("auto-{}", &hex[..16])
}

fn syncer(url: &str, schema: Schema, output: &Path) -> Syncer {
    let db = Database::open(&DatabaseUrl::new(url).unwrap(), Duration::from_secs(5)).unwrap();
    Syncer::new(Source::new(db, schema).unwrap(), output.to_path_buf())
}

fn daemon(url: &str, output: &Path, dir: &Path, args: &[&str]) -> Daemon {
    let mut c = command(url, output);
    c.arg("run").args(args);
    Daemon::spawn_logging_to("passthru-sync", &mut c, &dir.join("daemon.log"))
}

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

/// The NOTIFY latency figure for the README: `cargo test -p passthru-sync --release --test sync
/// -- --ignored --nocapture notify_latency`. Not a timed unit test: it prints, it does not assert
/// the figure.
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

/// `general_settings` as LiteLLM's UI writes it: `model_dump(exclude={"is_from_config"})` of
/// each endpoint, with a UUID id; plus a record written before ids existed.
const LITELLM_SETTINGS: &str = r#"{
  "store_model_in_db": true,
  "pass_through_request_timeout": 300,
  "pass_through_endpoints": [
    {"id": "ca49833f-5d4d-43d0-a079-683f6d390ced", "path": "/bria",
     "target": "https://engine.prod.bria-api.com", "headers": {"api_token": "os.environ/BRIA_KEY"},
     "default_query_params": {}, "include_subpath": true, "cost_per_request": 12.0,
     "timeout": null, "auth": true, "guardrails": null, "methods": null},
    {"path": "/my-service", "target": "http://backend:8080"},
    {"path": "/cohere", "target": "https://api.cohere.com/v1",
     "headers": {"Authorization": "bearer os.environ/COHERE_API_KEY", "litellm_user_api_key": "x-litellm-key"},
     "forward_headers": false, "merge_query_params": true, "custom_auth_parser": "langfuse",
     "include_subpath": false, "methods": ["POST"], "auth": false, "timeout": 30.5,
     "default_query_params": {"version": "2"}},
    {"id": "adapter", "path": "/anthropic-adapter", "target": "custom_callbacks.anthropic_adapter"}
  ]
}"#;

const LITELLM_EXPECTED: &str = "version: 1
routes:
- id: ca49833f-5d4d-43d0-a079-683f6d390ced
  path: /bria
  target: https://engine.prod.bria-api.com
  include_subpath: true
  methods:
  - DELETE
  - GET
  - PATCH
  - POST
  - PUT
  headers:
    api_token: os.environ/BRIA_KEY
  forward_headers: false
  default_query_params: {}
  timeout: 300
  auth: true
- id: auto-2f0e5d3f8a3b0b8e
  path: /cohere
  target: https://api.cohere.com/v1
  include_subpath: false
  methods:
  - POST
  headers:
    authorization: bearer os.environ/COHERE_API_KEY
    litellm_user_api_key: x-litellm-key
  forward_headers: false
  default_query_params:
    version: '2'
  timeout: 30.5
  auth: false
  custom_auth_parser: langfuse
- id: auto-64ec647a7877a6c4
  path: /my-service
  target: http://backend:8080
  include_subpath: false
  methods:
  - DELETE
  - GET
  - PATCH
  - POST
  - PUT
  headers: {}
  forward_headers: false
  default_query_params: {}
  timeout: 300
  auth: true
keys:
- sha256: '1111111111111111111111111111111111111111111111111111111111111111'
  allow: []
- sha256: '4444444444444444444444444444444444444444444444444444444444444444'
  expires: 2099-01-31T12:00:00Z
  allow: []
key_prefix: sk-
cors:
  allow_origins:
  - '*'
  allow_methods:
  - '*'
  allow_headers:
  - '*'
  allow_credentials: false
  expose_headers: []
  max_age: 600
";

#[tokio::test]
async fn litellm_tables_and_rows_as_litellm_writes_them_give_the_expected_file() {
    let pg = PgTestDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    let mut statements = litellm_ddl();
    statements.push(format!(
        r#"INSERT INTO "LiteLLM_Config" (param_name, param_value) VALUES ('general_settings', '{}'::jsonb)"#,
        LITELLM_SETTINGS.replace('\'', "''")
    ));
    statements.push(format!(
        r#"INSERT INTO "LiteLLM_VerificationToken" (token, blocked, expires) VALUES
           ('{}', NULL, NULL),
           ('{}', true, NULL),
           ('{}', false, '2001-01-01 00:00:00'),
           ('{}', false, '2099-01-31 12:00:00.750')"#,
        "1".repeat(64),
        "2".repeat(64),
        "3".repeat(64),
        "4".repeat(64)
    ));
    let refs: Vec<&str> = statements.iter().map(String::as_str).collect();
    sql(&pg.url(), &refs).await;

    let (code, _, err) = run(&pg.url(), &out, &["--schema", "litellm", "once"]);
    assert_eq!(code, 0, "{err}");
    let expected = LITELLM_EXPECTED.replace(
        "auto-2f0e5d3f8a3b0b8e",
        &auto_id("path:/cohere|methods:POST"),
    );
    assert_eq!(read(&out).unwrap(), expected);
    // The Python adapter target is a skipped row, reported with its id, path and reason.
    assert!(
        err.contains("pass_through_endpoints[3] (id adapter, path /anthropic-adapter)")
            && err.contains("target"),
        "{err}"
    );
}

#[tokio::test]
async fn stopping_the_cluster_leaves_the_file_alone_and_the_daemon_recovers_without_a_restart() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    assert_eq!(run(&pg.url(), &out, &["migrate"]).0, 0);
    sql(&pg.url(), &[ROUTE_INSERT]).await;
    let mut d = daemon(
        &pg.url(),
        &out,
        dir.path(),
        &[
            "--interval",
            "200ms",
            "--max-backoff",
            "500ms",
            "--connect-timeout",
            "1s",
        ],
    );
    wait_for(Duration::from_secs(10), "the first write", || read(&out)).await;
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

/// Rows 1 to 6; the expected WARN for each bad one.
const BAD_ROWS: &[&str] = &[
    "INSERT INTO passthru_routes (id, path, target) VALUES ('good', '/good', 'http://good')",
    "INSERT INTO passthru_routes (id, path, target) VALUES ('null-path', NULL, 'http://x')",
    "INSERT INTO passthru_routes (id, path, target) VALUES ('relative', 'relative/path', 'http://x')",
    "INSERT INTO passthru_routes (id, path, target) VALUES ('bad-target', '/bad-target', 'ftp://x')",
    "INSERT INTO passthru_routes (id, path, target) VALUES ('good', '/dup', 'http://dup')",
    r#"INSERT INTO passthru_routes (id, path, target, headers) VALUES ('list-headers', '/h', 'http://h', '["a"]')"#,
    "INSERT INTO passthru_routes (path, target) VALUES ('/also-good', 'http://also-good')",
];
const BAD_ROW_REPORTS: &[(&str, &str)] = &[
    ("row_id 2 (id null-path)", "`path` missing"),
    ("row_id 3 (id relative, path relative/path)", "`path`"),
    ("row_id 4 (id bad-target, path /bad-target)", "`target`"),
    ("row_id 5 (id good, path /dup)", "ids must be unique"),
    ("row_id 6 (id list-headers, path /h)", "`headers`"),
];

fn assert_bad_rows_reported(out: &Path, err: &str, extra: &[(&str, &str)]) {
    let file = parsed(out);
    let paths: Vec<&str> = file.routes().iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, vec!["/also-good", "/good"]);
    for (row, reason) in BAD_ROW_REPORTS.iter().chain(extra) {
        let line = err
            .lines()
            .find(|l| l.contains("WARN") && l.contains(row))
            .unwrap_or_else(|| panic!("no WARN for {row}:\n{err}"));
        assert!(line.contains(reason), "{line}");
    }
    let count = BAD_ROW_REPORTS.len() + extra.len();
    assert!(err.contains(&format!("skipped {count} row(s)")), "{err}");
}

#[tokio::test]
async fn bad_rows_are_skipped_and_reported_and_the_other_rows_are_written_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = native_sqlite(dir.path());
    sql(&url, BAD_ROWS).await;
    // SQLite keeps JSON columns as text, so a row can also hold text that is not JSON.
    sql(&url, &["INSERT INTO passthru_routes (id, path, target, headers) VALUES ('broken-json', '/j', 'http://j', '{not json')"]).await;
    let out = dir.path().join("routes.yaml");
    let (code, _, err) = run(&url, &out, &["once"]);
    assert_eq!(code, 0, "{err}");
    assert_bad_rows_reported(
        &out,
        &err,
        &[("row_id 8 (id broken-json)", "column `headers` is not JSON")],
    );
}

#[tokio::test]
async fn bad_rows_are_skipped_and_reported_and_the_other_rows_are_written_on_postgres() {
    let pg = PgTestDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    assert_eq!(run(&pg.url(), &out, &["migrate"]).0, 0);
    sql(&pg.url(), BAD_ROWS).await;
    let (code, _, err) = run(&pg.url(), &out, &["once"]);
    assert_eq!(code, 0, "{err}");
    assert_bad_rows_reported(&out, &err, &[]);
}

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
    assert!(sent.elapsed() < Duration::from_secs(2));
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
async fn once_exits_0_when_it_wrote_3_when_up_to_date_and_1_when_it_failed() {
    let dir = tempfile::tempdir().unwrap();
    let url = native_sqlite(dir.path());
    let out = dir.path().join("routes.yaml");
    assert_eq!(run(&url, &out, &["once"]).0, 0);
    assert_eq!(run(&url, &out, &["once"]).0, 3);
    let before = fs::read(&out).unwrap();
    let (code, _, err) = run(
        "postgres://sync:hunter2secret@127.0.0.1:9/app",
        &out,
        &["once"],
    );
    assert_eq!(code, 1, "{err}");
    assert_eq!(fs::read(&out).unwrap(), before);
    assert!(err.contains("postgres://sync:***@127.0.0.1:9/app"), "{err}");
    assert!(
        !err.contains("hunter2secret"),
        "the password was logged:\n{err}"
    );
}

#[tokio::test]
async fn the_embedded_sqlite_default_is_created_and_migrated_on_first_use() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    let mut c = command("unused", &out);
    c.env_remove("PASSTHRU_DATABASE_URL")
        .env("PASSTHRU_SQLITE_PATH", dir.path().join("state/sub/sync.db"))
        .arg("once");
    let status = c.output().unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(dir.path().join("state/sub/sync.db").exists());
    assert_eq!(read(&out).unwrap(), "version: 1\nroutes: []\n");
}

#[tokio::test]
async fn the_database_url_can_come_from_a_credentials_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = native_sqlite(dir.path());
    sql(&url, &[ROUTE_INSERT]).await;
    let creds = dir.path().join("creds");
    fs::create_dir(&creds).unwrap();
    fs::write(creds.join("database-url"), format!("{url}\n")).unwrap();
    let out = dir.path().join("routes.yaml");
    let mut c = command("unused", &out);
    c.env_remove("PASSTHRU_DATABASE_URL")
        .env("CREDENTIALS_DIRECTORY", &creds)
        .arg("once");
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(ids(&out), vec!["auto-64ec647a7877a6c4"]);

    let mut c = command("unused", &out);
    c.env_remove("PASSTHRU_DATABASE_URL").args([
        "--database-url-file",
        creds.join("database-url").to_str().unwrap(),
        "once",
    ]);
    assert_eq!(c.output().unwrap().status.code(), Some(3));
}

#[tokio::test]
async fn routes_and_keys_subcommands_manage_native_rows_on_postgres() {
    let pg = PgTestDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    let url = pg.url();
    assert_eq!(run(&url, &out, &["migrate"]).0, 0);
    assert_eq!(run(&url, &out, &["migrate"]).0, 0, "migrate is idempotent");

    let (code, id, err) = run(
        &url,
        &out,
        &[
            "routes",
            "add",
            "--path",
            "/my-service",
            "--target",
            "http://backend:8080",
        ],
    );
    assert_eq!((code, id.trim()), (0, "auto-64ec647a7877a6c4"), "{err}");
    let (code, id, err) = run(
        &url,
        &out,
        &[
            "routes",
            "add",
            "--id",
            "cohere",
            "--path",
            "/cohere",
            "--target",
            "https://api.cohere.com",
            "--include-subpath",
            "--method",
            "post",
            "--header",
            "Authorization=Bearer os.environ/COHERE_KEY",
            "--query",
            "v=2",
            "--timeout",
            "30",
            "--auth",
            "false",
        ],
    );
    assert_eq!((code, id.trim()), (0, "cohere"), "{err}");
    let (code, _, err) = run(
        &url,
        &out,
        &[
            "routes",
            "add",
            "--path",
            "/my-service",
            "--target",
            "http://other",
        ],
    );
    assert_eq!(code, 1, "a clashing route was added");
    assert!(err.contains("clashes"), "{err}");
    let (code, _, err) = run(
        &url,
        &out,
        &["routes", "add", "--path", "/x", "--target", "not a url"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("`target`"), "{err}");

    let (code, list, _) = run(&url, &out, &["routes", "list"]);
    assert_eq!(code, 0);
    assert!(
        list.contains("auto-64ec647a7877a6c4") && list.contains("cohere"),
        "{list}"
    );

    let (code, hash, err) = {
        let mut c = command(&url, &out);
        c.args([
            "keys",
            "add",
            "--key-stdin",
            "--expires",
            "2099-01-01T00:00:00Z",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"sk-secret-key\n")
            .unwrap();
        let o = child.wait_with_output().unwrap();
        (
            o.status.code().unwrap(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    assert_eq!(code, 0, "{err}");
    assert_eq!(hash.trim(), passthru_sync::admin::hash_key("sk-secret-key"));

    assert_eq!(run(&url, &out, &["once"]).0, 0);
    let file = parsed(&out);
    assert_eq!(file.routes().len(), 2);
    assert_eq!(file.keys().len(), 1);
    assert_eq!(file.keys()[0].hex(), hash.trim());
    assert!(file.keys()[0].expires.is_some());

    assert_eq!(
        run(&url, &out, &["routes", "rm", "auto-64ec647a7877a6c4"]).0,
        0
    );
    assert_eq!(run(&url, &out, &["keys", "rm", hash.trim()]).0, 0);
    assert_eq!(run(&url, &out, &["routes", "rm", "no-such-id"]).0, 1);
    // A bad row without a usable id goes by its row id, which `routes list` reports.
    sql(
        &url,
        &["INSERT INTO passthru_routes (path, target) VALUES (NULL, NULL)"],
    )
    .await;
    let (_, _, list_err) = run(&url, &out, &["routes", "list"]);
    let row_id = list_err
        .split("row_id ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("the bad row is not listed: {list_err}"))
        .to_owned();
    assert_eq!(run(&url, &out, &["routes", "rm", "--row-id", &row_id]).0, 0);
    assert_eq!(run(&url, &out, &["routes", "list"]).2, "");
    assert_eq!(run(&url, &out, &["once"]).0, 0);
    assert_eq!(ids(&out), vec!["cohere"]);
    assert!(parsed(&out).keys().is_empty());
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
async fn a_query_blocked_by_a_lock_times_out_leaves_the_file_alone_and_recovers() {
    use sqlx::Connection;
    let pg = PgTestDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    assert_eq!(run(&pg.url(), &out, &["migrate"]).0, 0);
    sql(&pg.url(), &[ROUTE_INSERT]).await;
    let mut d = daemon(
        &pg.url(),
        &out,
        dir.path(),
        &[
            "--interval",
            "200ms",
            "--max-backoff",
            "500ms",
            "--query-timeout",
            "1s",
        ],
    );
    wait_for(Duration::from_secs(10), "the first write", || read(&out)).await;
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

#[tokio::test]
async fn litellm_changes_reach_the_file_within_one_poll() {
    let pg = PgTestDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    let ddl = litellm_ddl();
    sql(
        &pg.url(),
        &ddl.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    let key = "a".repeat(64);
    sql(
        &pg.url(),
        &[&format!(
            r#"INSERT INTO "LiteLLM_VerificationToken" (token) VALUES ('{key}')"#
        )],
    )
    .await;
    let _d = daemon(
        &pg.url(),
        &out,
        dir.path(),
        &["--schema", "litellm", "--interval", "300ms"],
    );
    let one_poll = Duration::from_millis(1000);
    wait_for(Duration::from_secs(10), "the first write", || {
        read(&out).filter(|t| t.contains("routes: []"))
    })
    .await;
    // LiteLLM's write path: an upsert of the whole general_settings object.
    let upsert = |endpoints: &str| {
        format!(
            r#"INSERT INTO "LiteLLM_Config" (param_name, param_value)
               VALUES ('general_settings', '{{"pass_through_endpoints": {endpoints}}}'::jsonb)
               ON CONFLICT (param_name) DO UPDATE SET param_value = EXCLUDED.param_value"#
        )
    };
    sql(
        &pg.url(),
        &[&upsert(r#"[{"path": "/a", "target": "http://a"}]"#)],
    )
    .await;
    wait_for(one_poll, "the new endpoint and its key", || {
        read(&out).filter(|t| t.contains("/a") && t.contains(&key))
    })
    .await;
    sql(
        &pg.url(),
        &[&upsert(r#"[{"path": "/a", "target": "http://a2"}]"#)],
    )
    .await;
    wait_for(one_poll, "the edited endpoint", || {
        read(&out).filter(|t| t.contains("http://a2"))
    })
    .await;
    sql(
        &pg.url(),
        &[r#"UPDATE "LiteLLM_VerificationToken" SET blocked = true"#],
    )
    .await;
    wait_for(one_poll, "the blocked key gone", || {
        read(&out).filter(|t| !t.contains(&key))
    })
    .await;
    sql(&pg.url(), &[&upsert("[]")]).await;
    wait_for(one_poll, "the deleted endpoint", || {
        read(&out).filter(|t| t.contains("routes: []"))
    })
    .await;
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
