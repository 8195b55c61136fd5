//! Operating the proxy: admin endpoints, metrics, shutdown.

use std::time::{Duration, Instant};

use passthru_tests::http::{get, request, Behaviour, Upstream};
use passthru_tests::proxy::Proxy;
use passthru_tests::wait::{patient, wait_until};

fn proxy_for(up: &Upstream) -> (Proxy, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.yaml");
    std::fs::write(
        &file,
        format!("version: 1\nroutes:\n- {{id: echo, path: /e, target: '{}', include_subpath: true, auth: false}}\n", up.url()),
    )
    .unwrap();
    (Proxy::start(&file, &[]), dir)
}

#[test]
fn healthz_answers_while_the_process_runs() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = Proxy::start(&dir.path().join("missing.yaml"), &[]);
    let resp = get(proxy.admin, "/healthz");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json()["status"], "ok");
}

#[test]
fn readyz_reports_the_table_being_served() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = proxy_for(&up);
    let resp = get(proxy.admin, "/readyz");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json()["routes"], 1);
    assert_eq!(resp.json()["generation"], 1);
}

#[test]
fn metrics_count_routes_reloads_requests_and_upstream_latency() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = proxy_for(&up);
    assert_eq!(get(proxy.addr, "/e/x").status(), 200);
    assert_eq!(get(proxy.addr, "/nothing").status(), 404);
    // Each request is counted after its response is written, on the worker that served it, so
    // the 200 can be counted after the 404 (seen on a loaded machine): wait for both.
    wait_until(
        Duration::from_secs(5),
        "both requests to be counted",
        || {
            let metrics = get(proxy.admin, "/metrics").body_text();
            metrics.contains("route=\"echo\",status=\"2xx\"") && metrics.contains("status=\"4xx\"")
        },
    );
    let metrics = get(proxy.admin, "/metrics").body_text();
    for line in [
        "passthru_routes 1",
        "passthru_table_generation 1",
        "passthru_reloads_total{result=\"ok\"} 1",
        "passthru_reload_duration_seconds_count 1",
        "passthru_requests_total{route=\"echo\",status=\"2xx\"} 1",
        "passthru_requests_total{route=\"none\",status=\"4xx\"} 1",
        "passthru_upstream_latency_seconds_count{route=\"echo\"} 1",
    ] {
        assert!(metrics.contains(line), "missing {line:?} in:\n{metrics}");
    }
}

#[test]
fn request_series_of_a_removed_route_leave_metrics() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, dir) = proxy_for(&up);
    assert_eq!(get(proxy.addr, "/e/x").status(), 200);
    wait_until(Duration::from_secs(5), "the request to be counted", || {
        get(proxy.admin, "/metrics")
            .body_text()
            .contains("route=\"echo\"")
    });
    let file = dir.path().join("routes.yaml");
    let next = format!(
        "version: 1\nroutes:\n- {{id: other, path: /o, target: '{}', auth: false}}\n",
        up.url()
    );
    std::fs::write(dir.path().join("next.yaml"), next).unwrap();
    std::fs::rename(dir.path().join("next.yaml"), &file).unwrap();
    wait_until(Duration::from_secs(5), "the new table", || {
        proxy.generation() == 2
    });
    let metrics = get(proxy.admin, "/metrics").body_text();
    assert!(!metrics.contains("route=\"echo\""), "{metrics}");
}

#[test]
fn sigterm_lets_a_request_in_flight_finish_then_exits_0() {
    let up = Upstream::start(Behaviour::Slow(Duration::from_millis(1500)));
    let (mut proxy, _d) = proxy_for(&up);
    let addr = proxy.addr;
    let in_flight = std::thread::spawn(move || request(addr, "GET", "/e/slow", &[], b"").status());
    wait_until(
        Duration::from_secs(5),
        "the request to reach the upstream",
        || up.count() == 1,
    );
    let signalled = Instant::now();
    proxy.signal("TERM");
    assert_eq!(
        in_flight.join().unwrap(),
        200,
        "the in-flight request was cut off"
    );
    assert_eq!(proxy.wait_exit(Duration::from_secs(5)), Some(0));
    assert!(
        signalled.elapsed() < patient(Duration::from_secs(4)),
        "took {:?}",
        signalled.elapsed()
    );
}

#[test]
fn sigterm_with_nothing_in_flight_exits_0_promptly() {
    let up = Upstream::start(Behaviour::Echo);
    let (mut proxy, _d) = proxy_for(&up);
    let signalled = Instant::now();
    proxy.signal("TERM");
    assert_eq!(proxy.wait_exit(Duration::from_secs(5)), Some(0));
    assert!(
        signalled.elapsed() < patient(Duration::from_secs(2)),
        "took {:?}",
        signalled.elapsed()
    );
}

#[test]
fn pingoras_own_server_options_stay_reachable() {
    let out = std::process::Command::new(passthru_tests::binary("passthru-proxy"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--routes",
        "--listen",
        "--admin",
        "--grace-period",
        "--conf",
        "--daemon",
        "--upgrade",
        "--test",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help:\n{help}");
    }
}

/// In pingora's daemon mode the fork would leave the access log's writer, the SIGTERM drain and
/// the readiness notice behind: refused before anything starts, from the flag or the -c file.
#[test]
fn daemon_mode_is_refused_with_what_to_do_instead() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("pingora.yaml");
    std::fs::write(&conf, "---\nversion: 1\ndaemon: true\n").unwrap();
    for args in [
        vec!["--daemon".to_owned()],
        vec!["-c".to_owned(), conf.to_str().unwrap().to_owned()],
    ] {
        let out = std::process::Command::new(passthru_tests::binary("passthru-proxy"))
            .args(&args)
            .arg("--routes")
            .arg(dir.path().join("routes.yaml"))
            .args(["--listen", &passthru_tests::free_port().to_string()])
            .args(["--admin", &passthru_tests::free_port().to_string()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("daemon mode") && stderr.contains("foreground"),
            "{args:?}: {stderr}"
        );
    }
}
