//! Forwarding rules (DESIGN.md §5), each against a real upstream that records what it received.

mod auth;
mod bodies;
mod environment;
mod headers;
mod paths;
mod tls_upstream;
mod upstream_failures;

use passthru_tests::http::{request, Behaviour, Upstream};
use passthru_tests::proxy::{serve_file, Proxy};

/// A proxy serving `routes` (the YAML list under `routes:`), plus `keys` when given.
fn serve(routes: &str) -> (Proxy, tempfile::TempDir) {
    serve_with_env(routes, &[])
}

fn serve_with_env(routes: &str, env: &[(&str, &str)]) -> (Proxy, tempfile::TempDir) {
    serve_file(&format!("version: 1\nroutes:\n{routes}"), &[], env)
}

fn header<'a>(m: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    m["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0] == name)
        .and_then(|h| h[1].as_str())
}

#[test]
fn echo_describes_what_the_upstream_saw() {
    // Guards the recorder the other tests rely on.
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&format!(
        "- {{path: /r, target: '{}/echo', auth: false, forward_headers: true}}\n",
        up.url()
    ));
    let resp = request(proxy.addr, "POST", "/r?x=1", &[("x-a", "b")], b"abc");
    let seen = resp.json();
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["target"], "/echo?x=1");
    assert_eq!(header(&seen, "x-a"), Some("b"));
    assert_eq!(seen["body"], "abc");
}
