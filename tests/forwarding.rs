//! Forwarding rules (DESIGN.md §5), each against a real upstream that records what it received.

use std::time::{Duration, Instant};

use passthru_tests::http::{get, request, send_raw, stream_chunks, Behaviour, Message, Upstream};
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
fn a_subpath_match_appends_the_rest_of_the_path_to_the_target_base_path() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&format!(
        "- {{path: /svc, target: '{}/base/v2', include_subpath: true, auth: false}}\n",
        up.url()
    ));
    let resp = get(proxy.addr, "/svc/chat/completions");
    assert_eq!(resp.status(), 200);
    assert_eq!(up.last().target(), "/base/v2/chat/completions");
}

#[test]
fn an_exact_match_forwards_to_the_target_path_itself() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&format!(
        "- {{path: /health, target: '{}/healthz', auth: false}}\n",
        up.url()
    ));
    get(proxy.addr, "/health");
    assert_eq!(up.last().target(), "/healthz");
}

#[test]
fn the_upstream_receives_the_normalised_path_that_matched() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&format!(
        "- {{path: /svc, target: '{}', include_subpath: true, auth: false}}\n",
        up.url()
    ));
    assert_eq!(get(proxy.addr, "/svc//a/./b/../%63").status(), 200);
    assert_eq!(up.last().target(), "/a/c");
}

#[test]
fn query_precedence_is_defaults_then_target_then_client_keeping_repeated_client_keys() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&format!(
        "- path: /q\n  target: '{}/x?source=target&shared=target'\n  include_subpath: true\n  auth: false\n  default_query_params: {{shared: default, only-default: 'a b', source: default}}\n",
        up.url()
    ));
    get(proxy.addr, "/q?tag=1&tag=2&source=client");
    let target = up.last().target().to_owned();
    let (path, query) = target.split_once('?').unwrap();
    assert_eq!(path, "/x");
    let mut pairs: Vec<&str> = query.split('&').collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [
            "only-default=a%20b",
            "shared=target",
            "source=client",
            "tag=1",
            "tag=2"
        ]
    );
}

#[test]
fn host_is_the_targets_authority() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&format!(
        "- {{path: /h, target: '{}', auth: false}}\n",
        up.url()
    ));
    get(proxy.addr, "/h");
    assert_eq!(up.last().header("host"), Some(up.addr.to_string().as_str()));
}

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

#[test]
fn request_and_response_body_bytes_pass_unchanged() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&format!(
        "- {{path: /b, target: '{}', auth: false}}\n",
        up.url()
    ));
    let body: Vec<u8> = (0..=255u8)
        .cycle()
        .take(70_000)
        .filter(|b| b.is_ascii_alphanumeric())
        .collect();
    let resp = request(
        proxy.addr,
        "PUT",
        "/b",
        &[
            ("content-type", "application/octet-stream"),
            ("content-encoding", "identity"),
        ],
        &body,
    );
    assert_eq!(resp.status(), 200);
    assert_eq!(up.last().body, body);
    assert_eq!(
        resp.json()["body"].as_str().unwrap().as_bytes(),
        body.as_slice()
    );
}

#[test]
fn a_chunked_request_body_streams_through() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&format!(
        "- {{path: /b, target: '{}', auth: false}}\n",
        up.url()
    ));
    let raw = "POST /b HTTP/1.1\r\nhost: x\r\nconnection: close\r\ntransfer-encoding: chunked\r\ncontent-type: text/plain\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    assert_eq!(send_raw(proxy.addr, raw.as_bytes()).status(), 200);
    assert_eq!(up.last().body, b"hello world");
}

#[test]
fn server_sent_events_arrive_one_by_one() {
    let up = Upstream::start(Behaviour::Events {
        count: 5,
        every: Duration::from_millis(200),
    });
    let (proxy, _d) = serve(&format!(
        "- {{path: /sse, target: '{}', auth: false}}\n",
        up.url()
    ));
    let started = Instant::now();
    let (head, chunks) = stream_chunks(proxy.addr, "/sse");
    assert_eq!(head.status(), 200);
    let text: String = chunks.iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(text.matches("data: event").count(), 5, "{text}");
    let first = chunks.first().unwrap().0 - started;
    let last = chunks.last().unwrap().0 - started;
    assert!(
        first < Duration::from_millis(500),
        "first event after {first:?}: buffered?"
    );
    assert!(
        last - first >= Duration::from_millis(600),
        "events arrived together: {first:?} .. {last:?}"
    );
}

#[test]
fn a_websocket_upgrade_passes_through_and_carries_bytes_both_ways() {
    use std::io::{Read, Write};
    let up = Upstream::start(Behaviour::Upgrade);
    let (proxy, _d) = serve(&format!(
        "- {{path: /ws, target: '{}', auth: false}}\n",
        up.url()
    ));
    let mut stream = std::net::TcpStream::connect(proxy.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"GET /ws HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n")
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    let got = up.last();
    assert_eq!(got.header("upgrade"), Some("websocket"));
    assert_eq!(
        got.header("sec-websocket-key"),
        Some("dGhlIHNhbXBsZSBub25jZQ==")
    );
    stream.write_all(b"ping-frame-bytes").unwrap();
    let mut echoed = [0u8; 16];
    stream.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"ping-frame-bytes");
}

#[test]
fn a_slow_upstream_answers_504_after_the_route_timeout() {
    let up = Upstream::start(Behaviour::Slow(Duration::from_secs(3)));
    let (proxy, _d) = serve(&format!(
        "- {{path: /slow, target: '{}', auth: false, timeout: 0.5}}\n",
        up.url()
    ));
    let started = Instant::now();
    let resp = get(proxy.addr, "/slow");
    assert_eq!(resp.status(), 504, "{}", resp.body_text());
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(resp.header("content-type"), Some("application/json"));
}

#[test]
fn an_unreachable_upstream_answers_502() {
    let closed = passthru_tests::free_port();
    let (proxy, _d) = serve(&format!(
        "- {{path: /down, target: 'http://{closed}', auth: false}}\n"
    ));
    let resp = get(proxy.addr, "/down");
    assert_eq!(resp.status(), 502, "{}", resp.body_text());
    assert!(resp.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("cannot reach"));
}

#[test]
fn an_unresolvable_host_answers_502_and_the_proxy_keeps_serving() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&format!(
        "- {{path: /nowhere, target: 'http://no-such-host.invalid', auth: false}}\n- {{path: /ok, target: '{}', auth: false}}\n",
        up.url()
    ));
    assert_eq!(get(proxy.addr, "/nowhere").status(), 502);
    assert_eq!(get(proxy.addr, "/ok").status(), 200);
}

#[test]
fn a_hostname_target_is_resolved() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&format!(
        "- {{path: /l, target: 'http://localhost:{}', auth: false}}\n",
        up.addr.port()
    ));
    assert_eq!(get(proxy.addr, "/l").status(), 200);
    assert_eq!(
        up.last().header("host"),
        Some(format!("localhost:{}", up.addr.port()).as_str())
    );
}

#[test]
fn unknown_paths_get_json_404_and_refused_methods_get_405_with_allow() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&format!(
        "- {{path: /ro, target: '{}', auth: false, methods: [GET, HEAD]}}\n",
        up.url()
    ));
    let missing = get(proxy.addr, "/nothing");
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.json()["error"]["status"], 404);
    let refused = request(proxy.addr, "DELETE", "/ro", &[], b"");
    assert_eq!(refused.status(), 405);
    assert_eq!(refused.header("allow"), Some("GET, HEAD"));
    assert_eq!(refused.json()["error"]["status"], 405);
    assert_eq!(up.count(), 0);
}

#[test]
fn environment_references_are_resolved_and_never_sent_literally() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve_with_env(
        &format!("- {{path: /e, target: '{}', auth: false, headers: {{authorization: 'Bearer os.environ/PASSTHRU_TEST_SECRET'}}}}\n", up.url()),
        &[("PASSTHRU_TEST_SECRET", "s3cret")],
    );
    get(proxy.addr, "/e");
    assert_eq!(up.last().header("authorization"), Some("Bearer s3cret"));
}

#[test]
fn a_route_whose_variable_is_missing_answers_503_while_others_serve() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&format!(
        "- {{id: broken, path: /e, target: '{0}', auth: false, headers: {{authorization: 'Bearer os.environ/PASSTHRU_TEST_UNSET'}}}}\n- {{path: /ok, target: '{0}', auth: false}}\n",
        up.url()
    ));
    let resp = get(proxy.addr, "/e");
    assert_eq!(resp.status(), 503);
    assert!(
        resp.body_text().contains("PASSTHRU_TEST_UNSET"),
        "{}",
        resp.body_text()
    );
    assert_eq!(get(proxy.addr, "/ok").status(), 200);
    assert_eq!(up.count(), 1, "the broken route never forwards");
    assert!(proxy.log().contains("os.environ/PASSTHRU_TEST_UNSET"));
}

// sha256("sk-demo-key") and sha256("sk-expired-key").
const KEYS: &str = "keys:\n- sha256: 82dae6d443609cfcb4e698af21391e5132c679ce83b37086ada791a0fb2a43ee\n- sha256: 5178e7b4d2cfd97ede764b3f930aeda4e71e12552631a9d5b95f4b604582cea4\n  expires: 2020-01-01T00:00:00Z\n";

fn auth_proxy(up: &Upstream, forward_headers: bool) -> (Proxy, tempfile::TempDir) {
    serve(&format!(
        "- {{path: /secure, target: '{}', auth: true, forward_headers: {forward_headers}, include_subpath: true}}\n{KEYS}",
        up.url()
    ))
}

/// `GET /secure` presenting `key` as a bearer token.
fn with_bearer(proxy: &Proxy, key: &str) -> Message {
    request(
        proxy.addr,
        "GET",
        "/secure",
        &[("authorization", &format!("Bearer {key}"))],
        b"",
    )
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

/// An `openssl s_server` with a certificate for `localhost` from a throwaway CA, answering `GET /`.
struct TlsUpstream {
    child: std::process::Child,
    port: u16,
    /// The CA that signed the server's certificate.
    ca: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl TlsUpstream {
    fn start() -> TlsUpstream {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        std::fs::write(
            path("leaf.ext"),
            "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        let openssl = |args: &[&str]| {
            let status = std::process::Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .stderr(std::process::Stdio::null())
                .status()
                .expect("openssl is installed (.ci/setup installs it)");
            assert!(status.success(), "openssl {args:?}");
        };
        // A CA the proxy is told to trust, and a leaf certificate for localhost signed by it.
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=passthru test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "key.pem",
            "-out",
            "leaf.csr",
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "leaf.ext",
            "-out",
            "cert.pem",
        ]);
        let (cert, key) = (path("cert.pem"), path("key.pem"));
        let port = passthru_tests::free_port().port();
        let child = std::process::Command::new("openssl")
            .args(["s_server", "-www", "-quiet", "-accept", &port.to_string()])
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        passthru_tests::wait::wait_until(Duration::from_secs(10), "s_server to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        TlsUpstream {
            child,
            port,
            ca: path("ca.pem"),
            _dir: dir,
        }
    }
}

impl Drop for TlsUpstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tls_route(host: &str, port: u16) -> String {
    format!("- {{path: /tls, target: 'https://{host}:{port}/', auth: false}}\n")
}

#[test]
fn an_https_upstream_is_reached_with_sni_and_a_verified_certificate() {
    let tls = TlsUpstream::start();
    let cert = tls.ca.to_str().unwrap().to_owned();
    let (proxy, _d) = serve_with_env(
        &tls_route("localhost", tls.port),
        &[("SSL_CERT_FILE", &cert)],
    );
    let resp = get(proxy.addr, "/tls");
    assert_eq!(resp.status(), 200, "{}\n{}", resp.body_text(), proxy.log());
}

#[test]
fn an_https_upstream_with_an_untrusted_certificate_answers_502() {
    let tls = TlsUpstream::start();
    let (proxy, _d) = serve(&tls_route("localhost", tls.port));
    assert_eq!(get(proxy.addr, "/tls").status(), 502);
}

#[test]
fn an_https_upstream_whose_certificate_names_another_host_answers_502() {
    let tls = TlsUpstream::start();
    let cert = tls.ca.to_str().unwrap().to_owned();
    let (proxy, _d) = serve_with_env(
        &tls_route("127.0.0.1", tls.port),
        &[("SSL_CERT_FILE", &cert)],
    );
    assert_eq!(get(proxy.addr, "/tls").status(), 502);
}
