//! Which request and response headers cross the proxy.

use passthru_tests::http::{get, request, send_raw, Behaviour, Upstream};

use super::serve;

#[test]
fn without_forward_headers_only_body_headers_and_configured_headers_go_upstream() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&format!(
        "- {{path: /p, target: '{}', auth: false, headers: {{x-api-key: configured}}}}\n",
        up.url()
    ));
    request(
        proxy.addr,
        "POST",
        "/p",
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer client-secret"),
            ("cookie", "session=1"),
            ("x-client", "yes"),
        ],
        b"{\"a\":1}",
    );
    let got = up.last();
    let names: Vec<&str> = got.headers.iter().map(|(n, _)| n.as_str()).collect();
    let mut names = names;
    names.sort();
    // `user-agent` is passthru's own: an upstream request always carries one.
    // x-request-id is the proxy's own (README "request id"), never the client's headers.
    assert_eq!(
        names,
        [
            "content-length",
            "content-type",
            "host",
            "user-agent",
            "x-api-key",
            "x-request-id"
        ]
    );
    assert_eq!(got.header("x-api-key"), Some("configured"));
    assert!(got
        .header("user-agent")
        .is_some_and(|ua| ua.starts_with("passthru/")));
    assert_eq!(got.body, b"{\"a\":1}");
}

#[test]
fn with_forward_headers_client_headers_go_upstream_and_configured_headers_win() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&format!(
        "- {{path: /p, target: '{}', auth: false, forward_headers: true, headers: {{x-team: configured}}}}\n",
        up.url()
    ));
    request(
        proxy.addr,
        "GET",
        "/p",
        &[("x-client", "yes"), ("x-team", "client")],
        b"",
    );
    let got = up.last();
    assert_eq!(got.header("x-client"), Some("yes"));
    assert_eq!(got.header("x-team"), Some("configured"));
    assert_eq!(got.headers.iter().filter(|(n, _)| n == "x-team").count(), 1);
}

#[test]
fn hop_by_hop_request_headers_are_stripped_even_when_forwarding_headers() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&format!(
        "- {{path: /p, target: '{}', auth: false, forward_headers: true}}\n",
        up.url()
    ));
    let raw = "GET /p HTTP/1.1\r\nhost: x\r\nconnection: close, x-secret-hop\r\nx-secret-hop: 1\r\nkeep-alive: 5\r\nte: trailers\r\nproxy-authorization: Basic abc\r\nx-kept: 1\r\n\r\n";
    send_raw(proxy.addr, raw.as_bytes());
    let got = up.last();
    for hop in ["x-secret-hop", "keep-alive", "te", "proxy-authorization"] {
        assert!(
            !got.has_header(hop),
            "{hop} reached the upstream: {:?}",
            got.headers
        );
    }
    assert_eq!(got.header("x-kept"), Some("1"));
}

#[test]
fn hop_by_hop_response_headers_are_stripped() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&format!(
        "- {{path: /p, target: '{}', auth: false}}\n",
        up.url()
    ));
    let resp = get(proxy.addr, "/p");
    assert_eq!(resp.header("x-upstream"), Some("recorded"));
    assert!(!resp.has_header("x-hop"), "{:?}", resp.headers);
    assert!(!resp.has_header("keep-alive"), "{:?}", resp.headers);
}
