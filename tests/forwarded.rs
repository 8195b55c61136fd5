//! What the upstream is told about the client (`--forwarded-headers`, a route's
//! `forwarded_headers`, `--trusted-proxies`): a trusted proxy's list is extended, anybody else's
//! replaced, and no client outside the trusted list can name another address upstream.

use passthru_tests::access_log::{line_for, wait_for_lines};
use passthru_tests::http::headers_named as all;
use passthru_tests::http::{request, Behaviour, Message, Upstream};
use passthru_tests::proxy::Proxy;

const SPOOF: &[(&str, &str)] = &[
    ("x-forwarded-for", "6.6.6.6"),
    ("x-forwarded-proto", "https"),
    ("x-forwarded-host", "spoofed.example"),
    ("x-real-ip", "6.6.6.6"),
    ("forwarded", "for=6.6.6.6;proto=https"),
];

fn serve(up: &Upstream, route_extra: &str, args: &[&str]) -> (Proxy, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.yaml");
    std::fs::write(
        &file,
        format!(
            "version: 1\nroutes:\n- {{path: /a, target: '{}', auth: false{route_extra}}}\n",
            up.url()
        ),
    )
    .unwrap();
    let proxy = Proxy::start(&file, args);
    assert_eq!(proxy.ready_status(), 200, "{}", proxy.log());
    (proxy, dir)
}

/// Sends `headers` to /a and returns what the upstream received.
fn forwarded(proxy: &Proxy, up: &Upstream, headers: &[(&str, &str)]) -> Message {
    assert_eq!(request(proxy.addr, "GET", "/a", headers, b"").status(), 200);
    up.last()
}

#[test]
fn a_client_outside_the_trusted_list_cannot_spoof_its_address_upstream() {
    for (route_extra, args) in [
        (
            ", forward_headers: true",
            &["--forwarded-headers", "xff"][..],
        ),
        (
            ", forward_headers: true",
            &["--forwarded-headers", "forwarded"][..],
        ),
        (", forward_headers: true", &[][..]),
        (
            ", forward_headers: true, forwarded_headers: xff",
            &["--trusted-proxies", "10.0.0.0/8,192.0.2.1"][..],
        ),
    ] {
        let up = Upstream::start(Behaviour::Echo);
        let (proxy, _d) = serve(&up, route_extra, args);
        let got = forwarded(&proxy, &up, SPOOF);
        let text = format!("{:?}", got.headers);
        assert!(!text.contains("6.6.6.6"), "{route_extra} {args:?}: {text}");
        assert!(
            !text.contains("spoofed.example"),
            "{route_extra} {args:?}: {text}"
        );
        assert!(all(&got, "x-real-ip").is_empty(), "{text}");
        assert_ne!(got.header("x-forwarded-proto"), Some("https"), "{text}");
    }
}

#[test]
fn an_untrusted_client_gets_a_replaced_x_forwarded_for_naming_its_own_address() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&up, "", &["--forwarded-headers", "xff"]);
    let got = forwarded(&proxy, &up, &[("x-forwarded-for", "6.6.6.6, 7.7.7.7")]);
    assert_eq!(all(&got, "x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(got.header("x-forwarded-proto"), Some("http"));
    assert_eq!(got.header("x-forwarded-host"), Some("passthru.test"));
    assert!(!got.has_header("forwarded"));
}

#[test]
fn a_trusted_proxy_has_its_x_forwarded_for_extended_and_its_proto_and_host_kept() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(
        &up,
        "",
        &[
            "--forwarded-headers",
            "xff",
            "--trusted-proxies",
            "127.0.0.0/8",
        ],
    );
    let got = forwarded(
        &proxy,
        &up,
        &[
            ("x-forwarded-for", "198.51.100.7"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "gateway.example"),
        ],
    );
    assert_eq!(all(&got, "x-forwarded-for"), ["198.51.100.7, 127.0.0.1"]);
    assert_eq!(got.header("x-forwarded-proto"), Some("https"));
    assert_eq!(got.header("x-forwarded-host"), Some("gateway.example"));
    let fresh = forwarded(&proxy, &up, &[]);
    assert_eq!(all(&fresh, "x-forwarded-for"), ["127.0.0.1"]);
}

#[test]
fn rfc_7239_forwarded_is_extended_for_a_trusted_proxy_and_replaced_otherwise() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&up, ", forwarded_headers: forwarded", &[]);
    let got = forwarded(&proxy, &up, &[("forwarded", "for=6.6.6.6")]);
    assert_eq!(
        all(&got, "forwarded"),
        ["for=127.0.0.1;proto=http;host=\"passthru.test\""]
    );
    assert!(!got.has_header("x-forwarded-for"));

    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(
        &up,
        ", forwarded_headers: forwarded",
        &["--trusted-proxies", "127.0.0.1"],
    );
    let got = forwarded(
        &proxy,
        &up,
        &[("forwarded", "for=198.51.100.7;proto=https")],
    );
    assert_eq!(
        all(&got, "forwarded"),
        ["for=198.51.100.7;proto=https, for=127.0.0.1;proto=http;host=\"passthru.test\""]
    );
}

#[test]
fn forwarded_headers_are_off_unless_the_operator_asks() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&up, "", &[]);
    let got = forwarded(&proxy, &up, &[]);
    for name in [
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "forwarded",
    ] {
        assert!(!got.has_header(name), "{name}: {:?}", got.headers);
    }
}

#[test]
fn a_route_setting_overrides_the_global_flag() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&up, ", forwarded_headers: xff", &[]);
    assert_eq!(
        forwarded(&proxy, &up, &[]).header("x-forwarded-for"),
        Some("127.0.0.1")
    );
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(
        &up,
        ", forwarded_headers: 'off'",
        &["--forwarded-headers", "xff"],
    );
    assert!(!forwarded(&proxy, &up, &[]).has_header("x-forwarded-for"));
}

#[test]
fn a_trusted_proxy_with_forward_headers_off_passes_its_own_list_on() {
    // The route forwards no client header, yet the list a trusted load balancer sent is
    // extended, not lost.
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(
        &up,
        ", forwarded_headers: xff",
        &["--trusted-proxies", "127.0.0.1"],
    );
    let got = forwarded(&proxy, &up, &[("x-forwarded-for", "203.0.113.5")]);
    assert_eq!(all(&got, "x-forwarded-for"), ["203.0.113.5, 127.0.0.1"]);
}

#[test]
fn the_access_log_names_the_client_behind_a_trusted_proxy_and_ignores_an_untrusted_claim() {
    let up = Upstream::start(Behaviour::Echo);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let (proxy, _d) = serve(
        &up,
        "",
        &[
            "--trusted-proxies",
            "127.0.0.1",
            "--access-log",
            log.to_str().unwrap(),
        ],
    );
    let headers = [
        ("x-forwarded-for", "6.6.6.6, 203.0.113.5"),
        ("x-request-id", "behind-lb"),
    ];
    assert_eq!(
        request(proxy.addr, "GET", "/a", &headers, b"").status(),
        200
    );
    let lines = wait_for_lines(&log, 1);
    assert_eq!(line_for(&lines, "behind-lb")["client_ip"], "203.0.113.5");

    let untrusted_log = dir.path().join("untrusted.log");
    let (proxy, _d) = serve(&up, "", &["--access-log", untrusted_log.to_str().unwrap()]);
    assert_eq!(
        request(proxy.addr, "GET", "/a", &headers, b"").status(),
        200
    );
    let lines = wait_for_lines(&untrusted_log, 1);
    assert_eq!(line_for(&lines, "behind-lb")["client_ip"], "127.0.0.1");
}
