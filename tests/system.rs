//! Both daemons together: a real PostgreSQL, passthru-sync writing routes.yaml, passthru-proxy
//! serving it, real upstreams.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use passthru_tests::http::{get, request, Behaviour, Upstream};
use passthru_tests::postgres::PgCluster;
use passthru_tests::process::Daemon;
use passthru_tests::proxy::Proxy;
use passthru_tests::repo_root;
use passthru_tests::sync::{
    litellm_once, litellm_postgres, native_postgres, start_sync_until_written, sync_command,
};
use passthru_tests::wait::wait_until;

const WAIT: Duration = Duration::from_secs(15);

/// A cluster with a migrated native-schema database, and a directory for routes.yaml.
struct Native {
    pg: PgCluster,
    url: String,
    dir: tempfile::TempDir,
    file: PathBuf,
}

fn native() -> Native {
    let (pg, url) = native_postgres("gateway");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.yaml");
    Native { pg, url, dir, file }
}

impl Native {
    fn sql(&self, sql: &str) {
        self.pg.psql("gateway", sql);
    }

    /// passthru-sync on the database with `args`, once it has written the routes file.
    fn sync(&self, args: &[&str]) -> Daemon {
        start_sync_until_written(&self.file, &self.url, args, WAIT)
    }
}

fn upstream_path(proxy: &Proxy, path: &str) -> Result<String, u16> {
    let resp = get(proxy.addr, path);
    match resp.status() {
        200 => Ok(resp.json()["target"].as_str().unwrap().to_owned()),
        status => Err(status),
    }
}

#[test]
fn a_row_inserted_updated_and_deleted_in_postgres_changes_what_the_proxy_serves() {
    let n = native();
    let up = Upstream::start(Behaviour::Echo);
    let _sync = n.sync(&["--interval", "60s"]);
    let proxy = Proxy::start(&n.file, &[]);
    assert_eq!(upstream_path(&proxy, "/svc/x"), Err(404));

    n.sql(&format!("INSERT INTO passthru_routes (path, target, include_subpath, auth) VALUES ('/svc', '{}/one', true, false)", up.url()));
    wait_until(WAIT, "the inserted route", || {
        upstream_path(&proxy, "/svc/x") == Ok("/one/x".into())
    });

    n.sql(&format!(
        "UPDATE passthru_routes SET target = '{}/two' WHERE path = '/svc'",
        up.url()
    ));
    wait_until(WAIT, "the updated route", || {
        upstream_path(&proxy, "/svc/x") == Ok("/two/x".into())
    });

    n.sql("DELETE FROM passthru_routes WHERE path = '/svc'");
    wait_until(WAIT, "the deleted route", || {
        upstream_path(&proxy, "/svc/x") == Err(404)
    });
}

/// The seed bug's scenario: 100 id-less rows, 300 sync cycles. The file is written once, the
/// proxy loads it once, ids never change, and the proxy's memory stays flat.
#[test]
fn a_hundred_id_less_rows_over_three_hundred_cycles_write_once_and_reload_once() {
    let n = native();
    let up = Upstream::start(Behaviour::Echo);
    let values: Vec<String> = (0..100)
        .map(|i| format!("('/svc-{i}', '{}/svc-{i}', true, false)", up.url()))
        .collect();
    n.sql(&format!(
        "INSERT INTO passthru_routes (path, target, include_subpath, auth) VALUES {}",
        values.join(",")
    ));
    let sync = n.sync(&["--interval", "10ms", "--no-listen"]);
    let proxy = Proxy::start(&n.file, &[]);
    assert_eq!(upstream_path(&proxy, "/svc-7/a"), Ok("/svc-7/a".into()));
    let bytes = std::fs::read(&n.file).unwrap();
    let meta = std::fs::metadata(&n.file).unwrap();
    // The baseline is taken once the resident set has settled: mimalloc sets up a thread's heap
    // on that thread's first allocation, a one-time cost of a few MiB that is not growth, and on
    // a loaded machine the first re-checks and requests may land on fresh threads. Settled: a
    // periodic re-check went by with the resident set moving less than 256 KiB.
    let rechecks = || {
        proxy
            .metric("passthru_reloads_total{result=\"unchanged\"}")
            .unwrap_or(0.0)
    };
    wait_until(Duration::from_secs(10), "a periodic re-check", || {
        rechecks() >= 1.0
    });
    let mut rss_before = proxy.rss_kib();
    wait_until(Duration::from_secs(60), "a settled resident set", || {
        let seen = rechecks();
        wait_until(Duration::from_secs(10), "the next re-check", || {
            rechecks() > seen
        });
        let rss = proxy.rss_kib();
        let settled = rss.abs_diff(rss_before) < 256;
        rss_before = rss;
        settled
    });

    let polls = || sync.count("poll: nothing new") + sync.count("poll: table unchanged");
    wait_until(Duration::from_secs(60), "300 sync cycles", || {
        polls() >= 300
    });

    assert_eq!(sync.count("wrote routes file"), 1, "the file was rewritten");
    assert_eq!(std::fs::read(&n.file).unwrap(), bytes, "the bytes changed");
    let after = std::fs::metadata(&n.file).unwrap();
    assert_eq!(
        (after.ino(), after.mtime(), after.mtime_nsec()),
        (meta.ino(), meta.mtime(), meta.mtime_nsec())
    );
    assert_eq!(proxy.generation(), 1, "the proxy reloaded");
    assert_eq!(
        proxy.metric("passthru_reloads_total{result=\"ok\"}"),
        Some(1.0)
    );
    let ids: Vec<&str> = std::str::from_utf8(&bytes)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("- id: "))
        .collect();
    assert_eq!(ids.len(), 100);
    assert!(ids.iter().all(|id| id.starts_with("auto-")));
    let rss_after = proxy.rss_kib();
    assert!(
        rss_after <= rss_before + 1024,
        "proxy RSS grew from {rss_before} to {rss_after} KiB"
    );
}

#[test]
fn the_litellm_schema_serves_an_auth_route_with_a_real_key() {
    let (pg, url) = litellm_postgres("litellm");
    let up = Upstream::start(Behaviour::Echo);
    let settings = format!(
        r#"{{"store_model_in_db": true, "pass_through_endpoints": [
            {{"id": "7c1f4e36-0d4b-4f4e-9d7e-5b8f0c2a1e11", "path": "/paid", "target": "{0}/v1", "headers": {{"authorization": "Bearer os.environ/PASSTHRU_E2E_UPSTREAM_KEY"}},
              "default_query_params": {{}}, "include_subpath": true, "cost_per_request": 0.5, "timeout": null, "auth": true, "guardrails": null, "methods": null}},
            {{"path": "/free", "target": "{0}/free", "auth": false}}]}}"#,
        up.url()
    );
    pg.psql("litellm", &format!("INSERT INTO \"LiteLLM_Config\" (param_name, param_value) VALUES ('general_settings', '{settings}'::jsonb)"));
    pg.psql(
        "litellm",
        "INSERT INTO \"LiteLLM_VerificationToken\" (token, blocked, expires, metadata) VALUES
           (encode(sha256('sk-live'), 'hex'), false, now() + interval '1 day', '{\"allowed_passthrough_routes\": [\"/paid\"]}'),
           (encode(sha256('sk-blocked'), 'hex'), true, NULL, '{\"allowed_passthrough_routes\": [\"/paid\"]}'),
           (encode(sha256('sk-expired'), 'hex'), NULL, now() - interval '1 day', '{\"allowed_passthrough_routes\": [\"/paid\"]}')",
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.yaml");
    let _sync = start_sync_until_written(
        &file,
        &url,
        &["--schema", "litellm", "--interval", "200ms"],
        WAIT,
    );
    let proxy = Proxy::options(&file)
        .env(&[("PASSTHRU_E2E_UPSTREAM_KEY", "upstream-secret")])
        .start();

    let with_key = |key: &str| {
        request(
            proxy.addr,
            "POST",
            "/paid/chat",
            &[("authorization", &format!("Bearer {key}"))],
            b"{}",
        )
    };
    let ok = with_key("sk-live");
    assert_eq!(ok.status(), 200, "{}", ok.body_text());
    let got = up.last();
    assert_eq!(got.target(), "/v1/chat");
    assert_eq!(
        got.header("authorization"),
        Some("Bearer upstream-secret"),
        "the configured header replaces the client's key"
    );
    for refused in ["sk-blocked", "sk-expired", "sk-unknown"] {
        assert_eq!(with_key(refused).status(), 401, "{refused}");
    }
    assert_eq!(get(proxy.addr, "/paid/chat").status(), 401);
    assert_eq!(get(proxy.addr, "/free").status(), 200);
    assert_eq!(up.count(), 2);
}

#[test]
fn sighup_makes_the_sync_daemon_poll_and_the_proxy_rebuild() {
    let n = native();
    let up = Upstream::start(Behaviour::Echo);
    // Without NOTIFY and at a 60 s interval, only SIGHUP brings the change in.
    let sync = n.sync(&["--interval", "60s", "--no-listen"]);
    let proxy = Proxy::start(&n.file, &[]);
    n.sql(&format!(
        "INSERT INTO passthru_routes (path, target, auth) VALUES ('/hup', '{}', false)",
        up.url()
    ));
    // Time for a wrong move: a poll it should not make.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(get(proxy.addr, "/hup").status(), 404);
    sync.signal("HUP");
    wait_until(WAIT, "the route after SIGHUP to passthru-sync", || {
        get(proxy.addr, "/hup").status() == 200
    });
    let generation = proxy.generation();
    proxy.signal("HUP");
    wait_until(WAIT, "a rebuild after SIGHUP to passthru-proxy", || {
        proxy.generation() > generation
    });
}

#[test]
fn a_database_outage_while_serving_fails_no_request_to_existing_routes() {
    let n = native();
    let up = Upstream::start(Behaviour::Echo);
    n.sql(&format!("INSERT INTO passthru_routes (path, target, include_subpath, auth) VALUES ('/up', '{}', true, false)", up.url()));
    // Backoff capped at 1 s, so recovery is seen soon after the restart.
    let mut sync = n.sync(&["--interval", "100ms", "--max-backoff", "1s"]);
    let proxy = Arc::new(Proxy::start(&n.file, &[]));
    let done = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let client = {
        let (proxy, done, served) = (proxy.clone(), done.clone(), served.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                let status = get(proxy.addr, "/up/x").status();
                assert_eq!(status, 200, "a request failed during the outage");
                served.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let before = served.load(Ordering::SeqCst);
    n.pg.stop();
    wait_until(WAIT, "the daemon to report the outage", || {
        sync.log().contains("cannot connect")
    });
    assert!(sync.is_running(), "passthru-sync exited during the outage");
    n.pg.restart();
    // The same daemon, not restarted, carries the next change.
    n.sql(&format!(
        "INSERT INTO passthru_routes (path, target, auth) VALUES ('/after', '{}', false)",
        up.url()
    ));
    wait_until(WAIT, "a change after the restart", || {
        std::fs::read_to_string(&n.file).is_ok_and(|t| t.contains("path: /after"))
    });
    done.store(true, Ordering::SeqCst);
    client.join().expect("no request failed");
    assert!(
        served.load(Ordering::SeqCst) > before + 20,
        "too few requests during the outage"
    );
    sync.signal("TERM");
    assert_eq!(sync.wait_exit(Duration::from_secs(5)), Some(0));
}

#[test]
fn the_native_schema_example_sql_runs_and_syncs() {
    let n = native();
    let sql = std::fs::read_to_string(repo_root().join("examples/native-schema.sql")).unwrap();
    n.sql(&sql);
    let (code, err) = sync_command(&[
        "--database-url",
        &n.url,
        "--output",
        n.file.to_str().unwrap(),
        "once",
    ]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&n.file).unwrap();
    assert!(
        text.contains("path: /cohere") && text.contains("path: /search"),
        "{text}"
    );
    assert!(!text.contains("bria-generate"), "{text}");
    // The scoped key, with its deny list as the UPDATE left it, and the admin key limited by only.
    use sha2::Digest;
    let file = passthru_routes::RoutesFile::parse(text.as_bytes()).unwrap();
    let grants = |key: &str| {
        let hex: String = sha2::Sha256::digest(key.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let entry = file.keys().iter().find(|k| k.hex() == hex);
        entry
            .unwrap_or_else(|| panic!("{key} is not in\n{text}"))
            .grants()
            .clone()
    };
    let strings = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        grants("sk-team-key"),
        passthru_routes::Grants {
            allow: Some(strings(&["/cohere"])),
            deny: strings(&["/cohere/v1/admin", "/cohere/v1/finetune"]),
            ..Default::default()
        }
    );
    assert_eq!(
        grants("sk-ops-key"),
        passthru_routes::Grants {
            admin: true,
            only: Some(strings(&["/bria"])),
            ..Default::default()
        }
    );
    let _ = &n.dir;
}

#[test]
fn the_litellm_example_sql_runs_and_syncs() {
    let (pg, url) = litellm_postgres("litellm");
    let sql =
        std::fs::read_to_string(repo_root().join("examples/litellm/sample-endpoints.sql")).unwrap();
    pg.psql("litellm", &sql);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    let (code, err) = litellm_once(&url, &out);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains("id: ca49833f-5d4d-43d0-a079-683f6d390ced") && text.contains("path: /cohere"),
        "{text}"
    );
    assert_eq!(text.matches("- sha256: ").count(), 1, "{text}");
}
