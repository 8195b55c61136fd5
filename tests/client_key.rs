//! A client's API key is for passthru, never for the upstream: on an `auth: true` route with
//! `forward_headers: true`, a valid key sent in any place LiteLLM 1.110.2 reads one from
//! (`crates/proxy/src/key.rs`) is checked and then removed, whatever the header's case and however
//! often it is repeated, while the route's configured headers still arrive.

use passthru_tests::http::{request, Behaviour, Message, Upstream};
use passthru_tests::proxy::Proxy;
use passthru_tests::sha256_hex;

const KEY: &str = "sk-client-key-7f3a9c2e5b1d4086";

/// `name` in lower case, upper case and mixed case (`X-Api-Key`).
fn cases(name: &str) -> [String; 3] {
    let mixed = name
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or(String::new(), |c| {
                c.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect::<Vec<_>>()
        .join("-");
    [name.to_owned(), name.to_ascii_uppercase(), mixed]
}

/// Every byte the upstream got, as text: the request line, every header, the body.
fn everything(m: &Message) -> String {
    let mut text = m.start.clone();
    for (name, value) in &m.headers {
        text.push_str(&format!("\n{name}: {value}"));
    }
    text.push('\n');
    text.push_str(&m.body_text());
    text
}

#[test]
fn a_client_key_never_reaches_the_upstream_in_any_header_case_or_query() {
    let up = Upstream::start(Behaviour::Echo);
    let dir = tempfile::tempdir().unwrap();
    let routes = dir.path().join("routes.yaml");
    std::fs::write(
        &routes,
        format!(
            "version: 1\n\
             litellm_key_header_name: x-gateway-key\n\
             routes:\n\
             - path: /acme\n  target: {}/acme\n  include_subpath: true\n  forward_headers: true\n  auth: true\n  \
               headers:\n    x-route-header: route-value\n    litellm_user_api_key: x-route-key\n\
             keys:\n- sha256: {}\n",
            up.url(),
            sha256_hex(KEY)
        ),
    )
    .unwrap();
    let proxy = Proxy::start(&routes, &[]);
    let bearer = format!("Bearer {KEY}");
    // (header, value carrying the key, path: the route's own key header counts at its exact path).
    let sources: &[(&str, &str, &str)] = &[
        ("x-litellm-api-key", KEY, "/acme/v1/chat"),
        ("x-litellm-api-key", &bearer, "/acme/v1/chat"),
        ("authorization", &bearer, "/acme/v1/chat"),
        ("api-key", KEY, "/acme/v1/chat"),
        ("x-api-key", KEY, "/acme/v1/chat"),
        ("x-goog-api-key", KEY, "/acme/v1/chat"),
        ("ocp-apim-subscription-key", KEY, "/acme/v1/chat"),
        ("x-gateway-key", &bearer, "/acme/v1/chat"),
        ("x-route-key", KEY, "/acme"),
    ];
    let mut sent = 0;
    for &(name, value, path) in sources {
        for header in cases(name) {
            for copies in [1, 2] {
                let headers = vec![(header.as_str(), value); copies];
                let resp = request(proxy.addr, "POST", path, &headers, b"{}");
                assert_eq!(
                    resp.status(),
                    200,
                    "{header} x{copies}: {}",
                    resp.body_text()
                );
                sent += 1;
            }
        }
    }
    // All of them at once, each in another case.
    let every: Vec<(String, &str)> = sources
        .iter()
        .enumerate()
        .map(|(i, &(name, value, _))| (cases(name)[i % 3].clone(), value))
        .collect();
    let every: Vec<(&str, &str)> = every.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    assert_eq!(
        request(proxy.addr, "POST", "/acme", &every, b"{}").status(),
        200
    );
    // LiteLLM reads `?key=` on generateContent paths; repeated, and with an encoded name.
    for query in [
        format!("key={KEY}"),
        format!("alt=sse&key={KEY}&key={KEY}"),
        format!("%6Bey={KEY}&alt=sse"),
    ] {
        let target = format!("/acme/v1beta/models/gemini:generateContent?{query}");
        let resp = request(proxy.addr, "POST", &target, &[], b"{}");
        assert_eq!(resp.status(), 200, "{target}: {}", resp.body_text());
    }
    sent += 4;

    let received = up.received();
    assert_eq!(received.len(), sent, "every request reached the upstream");
    for m in &received {
        let text = everything(m);
        assert!(
            !text.contains(KEY),
            "the client's key reached the upstream:\n{text}"
        );
        assert_eq!(
            m.header("x-route-header"),
            Some("route-value"),
            "the configured header arrives:\n{text}"
        );
    }
}
