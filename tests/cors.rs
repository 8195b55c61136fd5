//! Browser clients: CORS preflights answered by the proxy (no key, never forwarded), CORS headers
//! on every response to an allowed origin, and `--root-path`.

use passthru_tests::http::{request, Behaviour, Message, Upstream};
use passthru_tests::proxy::{serve_file, Proxy};

const KEY_HASH: &str = "82dae6d443609cfcb4e698af21391e5132c679ce83b37086ada791a0fb2a43ee"; // sk-demo-key

fn serve(file_text: &str, args: &[&str]) -> (Proxy, tempfile::TempDir) {
    serve_file(file_text, args, &[])
}

fn table(up: &Upstream, top: &str, route_extra: &str) -> String {
    format!(
        "version: 1\n{top}routes:\n- {{path: /a, target: '{}', include_subpath: true, auth: true{route_extra}}}\nkeys:\n- sha256: {KEY_HASH}\n",
        up.url()
    )
}

fn preflight(proxy: &Proxy, origin: &str, method: &str) -> Message {
    request(
        proxy.addr,
        "OPTIONS",
        "/a/v1/chat",
        &[
            ("origin", origin),
            ("access-control-request-method", method),
            (
                "access-control-request-headers",
                "content-type, authorization",
            ),
        ],
        b"",
    )
}

#[test]
fn a_preflight_is_answered_without_a_key_and_never_forwarded() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(
        &table(
            &up,
            "cors: {allow_origins: ['*'], allow_headers: ['*']}\n",
            "",
        ),
        &[],
    );
    let resp = preflight(&proxy, "https://app.example", "POST");
    assert_eq!(resp.status(), 200, "{}", resp.body_text());
    assert_eq!(resp.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        resp.header("access-control-allow-headers"),
        Some("content-type, authorization")
    );
    assert!(resp
        .header("access-control-allow-methods")
        .is_some_and(|m| m.contains("POST")));
    assert_eq!(up.count(), 0, "the preflight went upstream");
}

#[test]
fn a_preflight_from_an_origin_not_listed_gets_400_and_no_grant() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(
        &table(&up, "cors: {allow_origins: ['https://app.example']}\n", ""),
        &[],
    );
    let resp = preflight(&proxy, "https://evil.example", "POST");
    assert_eq!(resp.status(), 400);
    assert!(!resp.has_header("access-control-allow-origin"));
    assert_eq!(up.count(), 0);
}

#[test]
fn responses_to_an_allowed_origin_carry_cors_headers_refusals_included() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(
        &table(
            &up,
            "cors: {allow_origins: ['https://app.example'], allow_credentials: true, expose_headers: [x-request-id]}\n",
            "",
        ),
        &[],
    );
    let origin = ("origin", "https://app.example");
    let ok = request(
        proxy.addr,
        "GET",
        "/a/x",
        &[origin, ("authorization", "Bearer sk-demo-key")],
        b"",
    );
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(ok.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(
        ok.header("access-control-expose-headers"),
        Some("x-request-id")
    );
    let refused = request(proxy.addr, "GET", "/a/x", &[origin], b"");
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    let other = request(
        proxy.addr,
        "GET",
        "/a/x",
        &[
            ("origin", "https://evil.example"),
            ("authorization", "Bearer sk-demo-key"),
        ],
        b"",
    );
    assert!(!other.has_header("access-control-allow-origin"));
}

#[test]
fn a_routes_own_policy_replaces_the_tables() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(
        &table(
            &up,
            "cors: {allow_origins: ['*'], allow_headers: [authorization]}\n",
            ", cors: {allow_origins: ['https://only.example'], allow_headers: [authorization]}",
        ),
        &[],
    );
    assert_eq!(
        preflight(&proxy, "https://app.example", "POST").status(),
        400
    );
    assert_eq!(
        preflight(&proxy, "https://only.example", "POST").status(),
        200
    );
}

#[test]
fn without_a_policy_options_goes_upstream_as_before() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(
        &format!(
            "version: 1\nroutes:\n- {{path: /a, target: '{}', include_subpath: true, auth: false}}\n",
            up.url()
        ),
        &[],
    );
    let resp = preflight(&proxy, "https://app.example", "POST");
    assert_eq!(resp.status(), 200);
    assert_eq!(up.count(), 1);
    assert_eq!(up.last().method(), "OPTIONS");
}

#[test]
fn a_root_path_serves_every_route_under_it_and_nothing_else() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(
        &format!(
            "version: 1\nroutes:\n- {{path: /a, target: '{}/base', include_subpath: true, auth: false}}\n",
            up.url()
        ),
        &["--root-path", "/llmproxy"],
    );
    let resp = request(proxy.addr, "GET", "/llmproxy/a/v1?x=1", &[], b"");
    assert_eq!(resp.status(), 200);
    assert_eq!(up.last().target(), "/base/v1?x=1");
    assert_eq!(request(proxy.addr, "GET", "/a/v1", &[], b"").status(), 404);
    assert_eq!(
        request(proxy.addr, "GET", "/llmproxyx/a", &[], b"").status(),
        404
    );
}
