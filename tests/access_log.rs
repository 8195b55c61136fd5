//! The access log (README "Access log"): one JSON line per request with every field, never a
//! key, a configured header value or the query; to stderr by default, to a file that SIGUSR1
//! reopens, or off.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use passthru_tests::access_log::{
    json_lines, line_for, lines, serve_logging_to_file, wait_for_lines,
};
use passthru_tests::free_port;
use passthru_tests::http::{request, stream_chunks, Behaviour, Upstream};
use passthru_tests::proxy::{routes_file, Proxy};
use passthru_tests::sha256_hex;
use passthru_tests::wait::wait_until;

const KEY: &str = "sk-access-log-key-1";
const SCOPED_KEY: &str = "sk-access-log-scoped-2";
const CONFIGURED: &str = "configured-upstream-credential-3";
const QUERY_SECRET: &str = "sk-in-the-query-4";

/// A proxy serving `routes` (the YAML list under `routes:`) and both test keys, logging to a
/// file in its directory.
fn serve(routes: &str, extra: &[&str]) -> (Proxy, PathBuf, tempfile::TempDir) {
    serve_logging_to_file(
        &format!(
            "version: 1\nroutes:\n{routes}keys:\n- sha256: {}\n- {{sha256: {}, allow: [/sse]}}\n",
            sha256_hex(KEY),
            sha256_hex(SCOPED_KEY)
        ),
        extra,
    )
}

/// routes.yaml with the one open route `/a` to `up`, in a new directory.
fn open_route_to(up: &Upstream) -> (PathBuf, tempfile::TempDir) {
    routes_file(&format!(
        "version: 1\nroutes:\n- {{path: /a, target: '{}', auth: false}}\n",
        up.url()
    ))
}

/// Waits until the proxy's stderr holds the access log line of request `id`.
fn wait_for_stderr_line(proxy: &Proxy, id: &str) {
    wait_until(
        Duration::from_secs(10),
        "the access log line on stderr",
        || {
            json_lines(&proxy.log())
                .iter()
                .any(|l| l["request_id"] == id)
        },
    );
}

fn get_with_id(proxy: &Proxy, target: &str, id: &str) -> u16 {
    request(proxy.addr, "GET", target, &[("x-request-id", id)], b"").status()
}

/// A WebSocket upgrade through the proxy that echoes `payload`, then closes.
fn websocket_round_trip(proxy: &Proxy, id: &str, payload: &[u8]) {
    let mut ws = TcpStream::connect(proxy.addr).unwrap();
    ws.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(ws, "GET /ws HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\nx-request-id: {id}\r\n\r\n").unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        ws.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    ws.write_all(payload).unwrap();
    let mut echoed = vec![0; payload.len()];
    ws.read_exact(&mut echoed).unwrap();
    assert_eq!(echoed, payload);
}

fn assert_no_secret(text: &str) {
    for secret in [KEY, SCOPED_KEY, CONFIGURED, QUERY_SECRET, "key=", "alt=sse"] {
        assert!(
            !text.contains(secret),
            "{secret:?} in the access log:\n{text}"
        );
    }
}

#[test]
fn a_mixed_run_logs_one_line_per_request_with_every_field_and_no_secret() {
    let echo = Upstream::start(Behaviour::Echo);
    let slow = Upstream::start(Behaviour::Slow(Duration::from_secs(2)));
    let sse = Upstream::start(Behaviour::Events {
        count: 3,
        every: Duration::from_millis(30),
    });
    let ws = Upstream::start(Behaviour::Upgrade);
    let down = free_port();
    let (proxy, log, _d) = serve(
        &format!(
            "- {{id: echo, path: /echo, target: '{}', include_subpath: true, methods: [GET, POST], headers: {{x-upstream-key: {CONFIGURED}}}}}\n\
             - {{id: slow, path: /slow, target: '{}', timeout: 0.3, auth: false}}\n\
             - {{id: sse, path: /sse, target: '{}', auth: false}}\n\
             - {{id: ws, path: /ws, target: '{}', auth: false}}\n\
             - {{id: down, path: /down, target: 'http://{down}', auth: false}}\n",
            echo.url(),
            slow.url(),
            sse.url(),
            ws.url()
        ),
        &[],
    );
    let bearer = format!("Bearer {KEY}");
    let ok = request(
        proxy.addr,
        "POST",
        &format!("/echo/chat?key={QUERY_SECRET}&alt=sse"),
        &[("authorization", &bearer), ("x-request-id", "t-200")],
        b"hello",
    );
    assert_eq!(ok.status(), 200);
    assert_eq!(get_with_id(&proxy, "/echo", "t-401"), 401);
    let scoped = format!("Bearer {SCOPED_KEY}");
    let forbidden = request(
        proxy.addr,
        "GET",
        "/echo",
        &[("authorization", &scoped), ("x-request-id", "t-403")],
        b"",
    );
    assert_eq!(forbidden.status(), 403);
    assert_eq!(
        get_with_id(&proxy, &format!("/nowhere?key={QUERY_SECRET}"), "t-404"),
        404
    );
    let not_allowed = request(
        proxy.addr,
        "DELETE",
        "/echo",
        &[("x-litellm-api-key", KEY), ("x-request-id", "t-405")],
        b"",
    );
    assert_eq!(not_allowed.status(), 405);
    assert_eq!(get_with_id(&proxy, "/down", "t-502"), 502);
    assert_eq!(get_with_id(&proxy, "/slow", "t-504"), 504);
    let (head, chunks) = stream_chunks(proxy.addr, "/sse");
    assert_eq!(head.status(), 200);
    let sse_bytes: usize = chunks.iter().map(|(_, c)| c.len()).sum();
    websocket_round_trip(&proxy, "t-101", b"ping through the tunnel");

    let all = wait_for_lines(&log, 9);
    assert_eq!(all.len(), 9, "{all:#?}");
    assert_no_secret(&std::fs::read_to_string(&log).unwrap());

    for line in &all {
        for field in [
            "timestamp",
            "request_id",
            "client",
            "client_ip",
            "method",
            "path",
            "status",
            "bytes_received",
            "bytes_sent",
            "duration_ms",
        ] {
            assert!(!line[field].is_null(), "no {field} in {line}");
        }
        let ts = line["timestamp"].as_str().unwrap();
        assert!(
            ts.len() >= 20 && ts.contains('T') && ts.ends_with('Z'),
            "{ts}"
        );
        assert!(
            line["client"].as_str().unwrap().starts_with("127.0.0.1:"),
            "{line}"
        );
        assert!(line["duration_ms"].as_f64().unwrap() >= 0.0);
    }

    let expect = |id: &str, status: u64, route: Option<&str>, error: Option<&str>| {
        let line = line_for(&all, id).clone();
        assert_eq!(line["status"], status, "{line}");
        assert_eq!(line["route"].as_str(), route, "{line}");
        assert_eq!(line["error"].as_str(), error, "{line}");
        line
    };
    let ok = expect("t-200", 200, Some("echo"), None);
    assert_eq!(ok["method"], "POST");
    assert_eq!(ok["path"], "/echo/chat");
    assert_eq!(ok["upstream"], echo.addr.to_string());
    assert_eq!(ok["upstream_status"], 200);
    assert_eq!(ok["bytes_received"], 5);
    assert!(ok["bytes_sent"].as_u64().unwrap() > 0);
    assert!(ok["ttfb_ms"].as_f64().unwrap() <= ok["duration_ms"].as_f64().unwrap());
    assert!(ok.get("query_names").is_none(), "{ok}");

    for (id, status, route, error) in [
        ("t-401", 401, Some("echo"), "unauthorized"),
        ("t-403", 403, Some("echo"), "forbidden"),
        ("t-404", 404, None, "no_route"),
        ("t-405", 405, None, "method_not_allowed"),
    ] {
        let line = expect(id, status, route, Some(error));
        assert!(line.get("upstream").is_none(), "{line}");
        assert!(line["bytes_sent"].as_u64().unwrap() > 0, "{line}");
    }
    assert_eq!(line_for(&all, "t-404")["path"], "/nowhere");

    let bad_gateway = expect("t-502", 502, Some("down"), Some("upstream_error"));
    assert_eq!(bad_gateway["upstream"], down.to_string());
    assert!(bad_gateway.get("upstream_status").is_none());
    assert!(bad_gateway["cause"].as_str().is_some(), "{bad_gateway}");

    let timeout = expect("t-504", 504, Some("slow"), Some("upstream_timeout"));
    assert_eq!(timeout["upstream"], slow.addr.to_string());

    let sse_line = all.iter().find(|l| l["route"] == "sse").unwrap();
    assert_eq!(sse_line["status"], 200);
    assert_eq!(sse_line["upstream_status"], 200);
    assert_eq!(sse_line["bytes_sent"], sse_bytes as u64, "{sse_line}");
    assert!(sse_line["first_chunk_ms"].as_f64().unwrap() >= sse_line["ttfb_ms"].as_f64().unwrap());
    assert!(sse_line.get("error").is_none());

    let ws_line = expect("t-101", 101, Some("ws"), None);
    assert_eq!(ws_line["upgraded"], true);
    assert_eq!(ws_line["upstream_status"], 101);
}

#[test]
fn the_access_log_goes_to_stderr_by_default_beside_the_diagnostic_log() {
    let up = Upstream::start(Behaviour::Echo);
    let (file, _dir) = open_route_to(&up);
    let proxy = Proxy::start(&file, &[]);
    assert_eq!(get_with_id(&proxy, "/a", "on-stderr"), 200);
    wait_for_stderr_line(&proxy, "on-stderr");
    assert!(
        proxy.log().contains("routes loaded"),
        "the diagnostic log is still there"
    );
}

#[test]
fn rust_log_levels_never_silence_the_access_log() {
    let up = Upstream::start(Behaviour::Echo);
    let (file, _dir) = open_route_to(&up);
    let proxy = Proxy::options(&file).env(&[("RUST_LOG", "off")]).start();
    assert_eq!(get_with_id(&proxy, "/a", "rust-log-off"), 200);
    wait_for_stderr_line(&proxy, "rust-log-off");
    assert!(
        !proxy.log().contains("routes loaded"),
        "RUST_LOG=off silences the diagnostic log"
    );
}

#[test]
fn access_log_off_writes_no_line() {
    let up = Upstream::start(Behaviour::Echo);
    let (file, _dir) = open_route_to(&up);
    let proxy = Proxy::start(&file, &["--access-log", "off"]);
    assert_eq!(get_with_id(&proxy, "/a", "not-logged"), 200);
    // The request is counted once logging() ran; no line was written by then.
    wait_until(Duration::from_secs(10), "the request counted", || {
        proxy.metric("passthru_requests_total{route=").is_some()
    });
    assert!(json_lines(&proxy.log()).is_empty(), "{}", proxy.log());
    // SIGUSR1 never terminates the proxy, whatever the destination.
    proxy.signal("USR1");
    assert_eq!(get_with_id(&proxy, "/a", "after-usr1"), 200);
}

#[test]
fn query_parameter_names_are_logged_only_when_asked_and_never_their_values() {
    let up = Upstream::start(Behaviour::Echo);
    let routes = format!("- {{path: /a, target: '{}', auth: false}}\n", up.url());
    let target = format!("/a?key={QUERY_SECRET}&alt=sse&{QUERY_SECRET}");
    let (proxy, log, _d) = serve(&routes, &["--access-log-query-names"]);
    assert_eq!(get_with_id(&proxy, &target, "names"), 200);
    let lines = wait_for_lines(&log, 1);
    assert_eq!(line_for(&lines, "names")["query_names"], "key,alt");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(QUERY_SECRET), "{text}");
}

fn line_count(path: &Path) -> usize {
    lines(path).len()
}

#[test]
fn sigusr1_after_a_rename_starts_a_new_file_and_loses_no_line() {
    let up = Upstream::start(Behaviour::Echo);
    let routes = format!("- {{path: /a, target: '{}', auth: false}}\n", up.url());
    let (proxy, log, dir) = serve(&routes, &[]);
    for i in 0..5 {
        assert_eq!(get_with_id(&proxy, "/a", &format!("before-{i}")), 200);
    }
    wait_for_lines(&log, 5);
    let rotated = dir.path().join("access.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    // Until the signal the proxy still writes the renamed file.
    for i in 0..3 {
        assert_eq!(get_with_id(&proxy, "/a", &format!("renamed-{i}")), 200);
    }
    wait_for_lines(&rotated, 8);
    proxy.signal("USR1");
    wait_until(Duration::from_secs(10), "a new access log file", || {
        log.exists()
    });
    for i in 0..5 {
        assert_eq!(get_with_id(&proxy, "/a", &format!("after-{i}")), 200);
    }
    wait_until(Duration::from_secs(10), "all 13 lines", || {
        line_count(&rotated) + line_count(&log) == 13
    });
    let old = lines(&rotated);
    let new = lines(&log);
    assert!(old.len() >= 8, "{old:#?}");
    assert!(
        new.iter().any(|l| l["request_id"] == "after-4"),
        "the last request is in the new file: {new:#?}"
    );
    let mut ids: Vec<String> = old
        .iter()
        .chain(&new)
        .map(|l| l["request_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 13, "{ids:?}");
}

/// A request's line is still gathering with its batch (up to 1 s) when `signal` stops the proxy;
/// it is in the file once the proxy has exited.
fn the_last_line_is_written_when_the_proxy_stops_on(signal: &str) {
    let up = Upstream::start(Behaviour::Echo);
    let routes = format!("- {{path: /a, target: '{}', auth: false}}\n", up.url());
    let (mut proxy, log, _d) = serve(&routes, &[]);
    assert_eq!(get_with_id(&proxy, "/a", "last"), 200);
    proxy.signal(signal);
    assert_eq!(proxy.wait_exit(Duration::from_secs(10)), Some(0));
    line_for(&lines(&log), "last");
}

#[test]
fn the_last_line_is_written_when_sigterm_stops_the_proxy() {
    the_last_line_is_written_when_the_proxy_stops_on("TERM");
}

#[test]
fn the_last_line_is_written_when_sigint_stops_the_proxy() {
    the_last_line_is_written_when_the_proxy_stops_on("INT");
}
