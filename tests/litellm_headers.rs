//! Headers a LiteLLM pass-through client or operator relies on, through the real proxy: the
//! `x-pass-` prefix, the langfuse key pair, an upstream `User-Agent`, and `os.environ/` values
//! from systemd credentials.

use passthru_tests::http::{request, Behaviour, Message, Upstream};
use passthru_tests::proxy::{serve_file, Proxy};

fn serve(routes: &str, env: &[(&str, &str)]) -> (Proxy, tempfile::TempDir) {
    serve_file(&format!("version: 1\nroutes:\n{routes}"), &[], env)
}

fn received(up: &Upstream) -> Message {
    up.last()
}

#[test]
fn an_x_pass_header_arrives_under_its_own_name_on_a_route_that_forwards_no_headers() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(
        &format!("- {{path: /a, target: '{}', auth: false}}\n", up.url()),
        &[],
    );
    let resp = request(
        proxy.addr,
        "POST",
        "/a",
        &[("x-pass-anthropic-beta", "tools-2024")],
        b"{}",
    );
    assert_eq!(resp.status(), 200);
    let got = received(&up);
    assert_eq!(got.header("anthropic-beta"), Some("tools-2024"));
    assert!(!got.has_header("x-pass-anthropic-beta"));
}

#[test]
fn an_x_pass_header_never_replaces_a_credential_or_a_configured_header() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(
        &format!(
            "- {{path: /a, target: '{}', auth: false, headers: {{x-tenant: configured, authorization: Bearer route-secret}}}}\n",
            up.url()
        ),
        &[],
    );
    request(
        proxy.addr,
        "GET",
        "/a",
        &[
            ("x-pass-authorization", "Bearer client"),
            ("x-pass-x-tenant", "client"),
            ("x-pass-x-api-key", "client"),
        ],
        b"",
    );
    let got = received(&up);
    assert_eq!(got.header("authorization"), Some("Bearer route-secret"));
    assert_eq!(got.header("x-tenant"), Some("configured"));
    assert!(!got.has_header("x-api-key"));
}

#[test]
fn the_langfuse_key_pair_goes_upstream_as_basic_authorization() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(
        &format!(
            "- {{path: /lf, target: '{}', auth: false, headers: {{LANGFUSE_PUBLIC_KEY: pk-lf-1, LANGFUSE_SECRET_KEY: os.environ/LF_SECRET}}}}\n",
            up.url()
        ),
        &[("LF_SECRET", "sk-lf-2")],
    );
    assert_eq!(request(proxy.addr, "GET", "/lf", &[], b"").status(), 200);
    let got = received(&up);
    // base64("pk-lf-1:sk-lf-2")
    assert_eq!(
        got.header("authorization"),
        Some("Basic cGstbGYtMTpzay1sZi0y")
    );
    assert!(!got.has_header("langfuse_public_key"));
    assert!(!got.has_header("langfuse_secret_key"));
}

#[test]
fn an_upstream_request_carries_passthrus_user_agent_when_the_clients_is_not_forwarded() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(
        &format!(
            "- {{path: /a, target: '{0}', auth: false}}\n- {{path: /f, target: '{0}', auth: false, forward_headers: true}}\n",
            up.url()
        ),
        &[],
    );
    request(proxy.addr, "GET", "/a", &[("user-agent", "client/1")], b"");
    let ua = received(&up).header("user-agent").map(str::to_owned);
    assert!(
        ua.as_deref().is_some_and(|ua| ua.starts_with("passthru/")),
        "{ua:?}"
    );
    request(proxy.addr, "GET", "/f", &[("user-agent", "client/1")], b"");
    assert_eq!(received(&up).header("user-agent"), Some("client/1"));
}

#[test]
fn an_environment_reference_resolves_from_a_systemd_credential() {
    let up = Upstream::start(Behaviour::Echo);
    let creds = tempfile::tempdir().unwrap();
    std::fs::write(creds.path().join("PROVIDER_KEY"), "sk-from-credential\n").unwrap();
    let (proxy, _d) = serve(
        &format!(
            "- {{path: /a, target: '{}', auth: false, headers: {{authorization: Bearer os.environ/PROVIDER_KEY}}}}\n",
            up.url()
        ),
        &[("CREDENTIALS_DIRECTORY", creds.path().to_str().unwrap())],
    );
    assert_eq!(request(proxy.addr, "GET", "/a", &[], b"").status(), 200);
    assert_eq!(
        received(&up).header("authorization"),
        Some("Bearer sk-from-credential")
    );
}
