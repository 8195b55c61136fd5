//! Routes with `auth: true`: which keys pass, and that the key never reaches the upstream.

use passthru_tests::http::{get, get_with_bearer, request, Behaviour, Message, Upstream};
use passthru_tests::proxy::Proxy;

use super::serve;

const KEYS: &str = "keys:\n- sha256: 82dae6d443609cfcb4e698af21391e5132c679ce83b37086ada791a0fb2a43ee\n- sha256: 5178e7b4d2cfd97ede764b3f930aeda4e71e12552631a9d5b95f4b604582cea4\n  expires: 2020-01-01T00:00:00Z\n";

fn auth_proxy(up: &Upstream, forward_headers: bool) -> (Proxy, tempfile::TempDir) {
    serve(&format!(
        "- {{path: /secure, target: '{}', auth: true, forward_headers: {forward_headers}, include_subpath: true}}\n{KEYS}",
        up.url()
    ))
}

/// `GET /secure` presenting `key` as a bearer token.
fn with_bearer(proxy: &Proxy, key: &str) -> Message {
    get_with_bearer(proxy.addr, "/secure", key)
}

#[test]
fn an_auth_route_refuses_a_request_without_a_key() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = auth_proxy(&up, false);
    let resp = get(proxy.addr, "/secure");
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(up.count(), 0);
}

#[test]
fn an_auth_route_refuses_an_unknown_key() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = auth_proxy(&up, false);
    let resp = with_bearer(&proxy, "sk-wrong");
    assert_eq!(resp.status(), 401);
    assert_eq!(up.count(), 0);
}

#[test]
fn an_auth_route_refuses_an_expired_key() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = auth_proxy(&up, false);
    let resp = with_bearer(&proxy, "sk-expired-key");
    assert_eq!(resp.status(), 401);
    assert!(resp.body_text().contains("expired"));
    assert_eq!(up.count(), 0);
}

#[test]
fn an_auth_route_accepts_a_valid_key_in_each_supported_header() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = auth_proxy(&up, false);
    for (name, value) in [
        ("authorization", "Bearer sk-demo-key"),
        ("x-litellm-api-key", "sk-demo-key"),
        ("api-key", "sk-demo-key"),
    ] {
        let resp = request(proxy.addr, "GET", "/secure/x", &[(name, value)], b"");
        assert_eq!(resp.status(), 200, "{name}: {}", resp.body_text());
    }
    assert_eq!(up.count(), 3);
}

#[test]
fn the_credential_header_never_reaches_the_upstream_even_when_forwarding_headers() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = auth_proxy(&up, true);
    request(
        proxy.addr,
        "GET",
        "/secure",
        &[
            ("authorization", "Bearer sk-demo-key"),
            ("x-litellm-api-key", "sk-demo-key"),
            ("x-client", "1"),
        ],
        b"",
    );
    let got: Message = up.last();
    assert!(!got.has_header("authorization"), "{:?}", got.headers);
    assert!(!got.has_header("x-litellm-api-key"), "{:?}", got.headers);
    assert_eq!(got.header("x-client"), Some("1"));
}
