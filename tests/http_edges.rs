//! HTTP/1.1 edges found by an outside probe (issue 11, items 7–13): method case, control bytes in
//! the path, Content-Length lists, underscore header names, TRACE and CONNECT, Expect and
//! pipelining, and upgrades. Each test is one property, through the real proxy.

use std::process::Command;
use std::time::Duration;

use passthru_tests::free_port;
use passthru_tests::http::headers_named;
use passthru_tests::http::{request, send_raw, Behaviour, Conn, Upstream};
use passthru_tests::proxy::Proxy;
use passthru_tests::wait::wait_until;

/// A proxy serving `routes` (the YAML list under `routes:`).
fn serve(routes: &str) -> (Proxy, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.yaml");
    std::fs::write(&file, format!("version: 1\nroutes:\n{routes}")).unwrap();
    let proxy = Proxy::start(&file, &[]);
    assert_eq!(proxy.ready_status(), 200, "{}", proxy.log());
    (proxy, dir)
}

/// One open route to `up` at `path` (and below), plus `extra` route fields.
fn open_route(path: &str, up: &Upstream, extra: &str) -> String {
    format!(
        "- {{path: {path}, target: '{}', include_subpath: true, auth: false{extra}}}\n",
        up.url()
    )
}

// Item 7: methods are case-sensitive (RFC 9110 §9.1).

#[test]
fn a_lower_case_method_is_refused_with_501_and_never_forwarded() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&open_route("/x", &up, ", methods: [GET]"));
    for method in ["get", "Get", "post"] {
        let resp = request(proxy.addr, method, "/x", &[], b"");
        assert_eq!(resp.status(), 501, "{method}: {}", resp.body_text());
        assert!(resp.body_text().contains("case-sensitive"), "{method}");
    }
    assert_eq!(request(proxy.addr, "GET", "/x", &[], b"").status(), 200);
    assert_eq!(up.count(), 1);
    assert_eq!(up.last().method(), "GET");
}

// Item 8: control bytes in the path get 400, raw or percent-encoded.

#[test]
fn raw_and_encoded_control_bytes_in_the_path_are_refused_with_400() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&open_route("/", &up, ""));
    for target in [
        "/a\tb", "/a\x7fb", "/a\x01", "/a%09b", "/a%7F", "/a%1b", "/\u{e9}",
    ] {
        let resp = send_raw(
            proxy.addr,
            format!("GET {target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes(),
        );
        assert_eq!(resp.status(), 400, "{target:?}: {}", resp.body_text());
    }
    assert_eq!(up.count(), 0);
}

/// Not fixable from the proxy: pingora percent-encodes a raw space in the request target before
/// any filter runs (`escape_illegal_request_line`), so the proxy cannot tell it from a `%20`
/// that a client may send legitimately. Router and upstream still see the same path.
#[test]
fn a_raw_space_in_the_path_is_routed_as_pingora_re_encodes_it() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&open_route("/", &up, ""));
    let resp = send_raw(
        proxy.addr,
        b"GET /a b HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    assert_eq!(resp.status(), 200, "{}", resp.body_text());
    assert_eq!(up.last().target(), "/a%20b");
}

// Item 9: one Content-Length value goes upstream (RFC 9110 §8.6).

#[test]
fn a_content_length_list_of_equal_values_is_forwarded_as_one_value() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&open_route("/", &up, ""));
    let cases: [&[u8]; 3] = [
        b"POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 4, 4\r\nconnection: close\r\n\r\nabcd",
        b"POST /b HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\ncontent-length: 4\r\nconnection: close\r\n\r\nabcd",
        b"POST /c HTTP/1.1\r\nhost: x\r\ncontent-length: 004\r\nconnection: close\r\n\r\nabcd",
    ];
    for raw in cases {
        let resp = send_raw(proxy.addr, raw);
        assert_eq!(resp.status(), 200, "{}", resp.body_text());
        let got = up.last();
        assert_eq!(
            headers_named(&got, "content-length"),
            ["4"],
            "{}",
            got.start
        );
        assert_eq!(got.body, b"abcd");
    }
}

// Item 10: client header names with '_' never go upstream.

#[test]
fn header_names_with_underscores_are_dropped_before_forwarding() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&open_route(
        "/t",
        &up,
        ", forward_headers: true, headers: {x-tenant: configured}",
    ));
    let resp = request(
        proxy.addr,
        "GET",
        "/t",
        &[("X_Tenant", "evil"), ("x_other", "1"), ("x-kept", "yes")],
        b"",
    );
    assert_eq!(resp.status(), 200);
    let got = up.last();
    assert_eq!(headers_named(&got, "x-tenant"), ["configured"]);
    assert!(!got.headers.iter().any(|(n, _)| n.contains('_')), "{got:?}");
    assert_eq!(got.header("x-kept"), Some("yes"));
}

// Item 11: a route without `methods` serves neither TRACE nor CONNECT.

#[test]
fn trace_and_connect_are_refused_on_a_route_without_methods() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&open_route(
        "/echo",
        &up,
        ", headers: {authorization: Bearer upstream-secret}",
    ));
    let trace = request(proxy.addr, "TRACE", "/echo", &[], b"");
    assert_eq!(trace.status(), 405, "{}", trace.body_text());
    assert_eq!(
        trace.header("allow"),
        Some("DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT")
    );
    assert!(!trace.body_text().contains("upstream-secret"));
    // pingora itself refuses CONNECT (405, before any route is looked up).
    let connect = request(proxy.addr, "CONNECT", "/echo", &[], b"");
    assert_eq!(connect.status(), 405, "{connect:?}");
    assert_eq!(up.count(), 0);
}

#[test]
fn a_route_that_lists_trace_serves_it() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&open_route("/diag", &up, ", methods: [TRACE]"));
    let resp = request(proxy.addr, "TRACE", "/diag", &[], b"");
    assert_eq!(resp.status(), 200, "{}", resp.body_text());
    assert_eq!(up.last().method(), "TRACE");
}

// Item 12: Expect: 100-continue, and pipelining (RFC 9112 §9.3.2).

#[test]
fn expect_100_continue_gets_100_before_the_body_and_the_upstream_gets_the_body() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&open_route("/up", &up, ", forward_headers: true"));
    let mut conn = Conn::open(proxy.addr);
    conn.send(b"POST /up HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 5\r\n\r\n");
    let interim = conn.response();
    assert_eq!(interim.status(), 100, "{interim:?}");
    conn.send(b"hello");
    let resp = conn.response();
    assert_eq!(resp.status(), 200, "{}", resp.body_text());
    let got = up.last();
    assert_eq!(got.body, b"hello");
    assert!(!got.has_header("expect"), "the proxy answered it: {got:?}");
    // The connection stays usable: the 100 did not turn keep-alive off.
    assert_eq!(resp.header("connection"), Some("keep-alive"));
    conn.send(b"GET /up/again HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    assert_eq!(conn.response().status(), 200);
    assert_eq!(up.last().target(), "/again");
}

#[test]
fn curl_with_expect_100_continue_and_a_large_body_completes() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, dir) = serve(&open_route("/up", &up, ""));
    let body = dir.path().join("body.bin");
    std::fs::write(&body, vec![b'x'; 2 << 20]).unwrap();
    // Without a 100 Continue curl waits --expect100-timeout (60 s) before sending the body, so
    // it would hit --max-time (30 s) and fail.
    let out = Command::new("curl")
        .args(["-sS", "--expect100-timeout", "60", "--max-time", "30"])
        .args(["-o", "/dev/null", "-w", "%{http_code}"])
        .args(["-H", "Expect: 100-continue", "--data-binary"])
        .arg(format!("@{}", body.display()))
        .arg(format!("http://{}/up", proxy.addr))
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
    assert_eq!(up.last().body.len(), 2 << 20);
}

#[test]
fn an_upstream_failure_after_100_continue_still_gets_a_502() {
    let closed = free_port();
    let (proxy, _d) = serve(&format!(
        "- {{path: /down, target: 'http://{closed}', auth: false}}\n"
    ));
    let mut conn = Conn::open(proxy.addr);
    conn.send(
        b"POST /down HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 5\r\n\r\n",
    );
    assert_eq!(conn.response().status(), 100);
    conn.send(b"hello");
    let resp = conn.response();
    assert_eq!(resp.status(), 502, "{resp:?}");
    assert_eq!(resp.json()["error"]["status"], 502);
}

#[test]
fn a_refused_request_with_expect_gets_its_final_status_without_100() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&format!(
        "- {{path: /k, target: '{}', auth: true}}\n",
        up.url()
    ));
    let mut conn = Conn::open(proxy.addr);
    conn.send(
        b"POST /k HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 100000\r\n\r\n",
    );
    let resp = conn.response();
    assert_eq!(resp.status(), 401, "{resp:?}");
    // The body it never asked for is not awaited: the connection closes.
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(conn.closed());
    assert_eq!(up.count(), 0);
}

#[test]
fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&open_route("/p", &up, ""));
    let mut conn = Conn::open(proxy.addr);
    // A refusal (404) in the middle does not drop what follows it.
    conn.send(
        b"POST /p/1 HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\none\
          GET /p/2 HTTP/1.1\r\nhost: x\r\n\r\n\
          GET /nowhere HTTP/1.1\r\nhost: x\r\n\r\n\
          GET /p/3 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    for n in 1..=2 {
        let resp = conn.response();
        assert_eq!(resp.status(), 200, "response {n}: {resp:?}");
        assert_eq!(resp.json()["target"], format!("/{n}"));
    }
    assert_eq!(conn.response().status(), 404);
    let last = conn.response();
    assert_eq!(last.status(), 200, "{last:?}");
    assert_eq!(last.json()["target"], "/3");
    assert_eq!(up.received()[0].body, b"one");
    assert!(conn.closed());
}

// Item 13: only a WebSocket upgrade with both headers tunnels, and only to its own route.

fn upgrade_routes(ws: &Upstream, other: &Upstream) -> String {
    format!(
        "{}{}",
        open_route("/ws", ws, ""),
        open_route("/other", other, "")
    )
}

#[test]
fn upgrade_without_connection_upgrade_is_not_tunnelled() {
    // This upstream answers 101 to anything: the proxy must not switch on its word alone.
    let ws = Upstream::start(Behaviour::Upgrade);
    let other = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&upgrade_routes(&ws, &other));
    let mut conn = Conn::open(proxy.addr);
    conn.send(b"GET /ws HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\n\r\n");
    let resp = conn.response();
    assert_eq!(resp.status(), 502, "{resp:?}");
    assert!(!ws.last().has_header("upgrade"), "{:?}", ws.last());
    assert!(conn.closed());
}

#[test]
fn an_h2c_upgrade_is_not_tunnelled() {
    let ws = Upstream::start(Behaviour::Upgrade);
    let other = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&upgrade_routes(&ws, &other));
    let mut conn = Conn::open(proxy.addr);
    conn.send(b"GET /ws HTTP/1.1\r\nhost: x\r\nconnection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\nhttp2-settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n");
    let resp = conn.response();
    assert_eq!(resp.status(), 502, "{resp:?}");
    assert!(!ws.last().has_header("upgrade"), "{:?}", ws.last());
}

const WS_UPGRADE: &[u8] = b"GET /ws HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n";

/// Opens a tunnel through `proxy` with a request for /other pipelined behind the upgrade (when
/// `pipeline`) and checks that the tunnel echoes it, and one more sent after the switch, back.
fn tunnel_round_trip(proxy: &Proxy, pipeline: bool) {
    let mut conn = Conn::open(proxy.addr);
    let other = b"GET /other HTTP/1.1\r\nhost: x\r\n\r\n";
    let mut bytes = WS_UPGRADE.to_vec();
    if pipeline {
        // A request pipelined behind the upgrade is tunnel payload, not a request to route.
        bytes.extend_from_slice(other);
    }
    conn.send(&bytes);
    assert_eq!(conn.response().status(), 101);
    if pipeline {
        assert_eq!(conn.read_exact(other.len()), other);
    }
    // So is one sent after the switch.
    conn.send(other);
    assert_eq!(conn.read_exact(other.len()), other);
}

#[test]
fn after_a_101_the_tunnel_reaches_only_the_matched_upstream() {
    // The 101 comes late so that this test is about where the bytes go, not the pingora race of
    // the next test: a 101 read before pingora has relayed the end of the (empty) upgrade request
    // body ends the tunnel after the 101 is written (docs/SECURITY.md, item 13).
    let ws = Upstream::start(Behaviour::SlowUpgrade(Duration::from_millis(200)));
    let other = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&upgrade_routes(&ws, &other));
    tunnel_round_trip(&proxy, true);
    wait_until(
        Duration::from_secs(5),
        "the upgrade to reach its upstream",
        || ws.count() == 1,
    );
    assert_eq!(other.count(), 0);
}

#[test]
#[ignore = "fails on pingora 0.9.1, every run: a 101 read before the end of the empty request \
            body is relayed ends the tunnel (docs/SECURITY.md, item 13); passes with the \
            pingora-proxy patch given there"]
fn a_101_already_waiting_when_the_proxy_starts_relaying_still_opens_the_tunnel() {
    // The order a loaded machine produces only now and then, every time: the upstream's 101 is on
    // the proxy's socket before the proxy has relayed the (empty) request body.
    let ws = Upstream::start(Behaviour::EagerUpgrade);
    let other = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&upgrade_routes(&ws, &other));
    const ROUNDS: usize = 20;
    for round in 0..ROUNDS {
        tunnel_round_trip(&proxy, round % 2 == 0);
    }
    wait_until(
        Duration::from_secs(5),
        "every upgrade to reach its upstream",
        || ws.count() == ROUNDS,
    );
    assert_eq!(other.count(), 0);
}
