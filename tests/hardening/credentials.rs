//! Which client credentials reach an upstream.

use passthru_tests::http::{Behaviour, Upstream};

use super::{raw_get, start_proxy};

const CREDENTIALS: &[(&str, &str)] = &[
    ("authorization", "Bearer client-secret-1"),
    ("cookie", "session=client-secret-2"),
    ("x-api-key", "client-secret-3"),
    ("api-key", "client-secret-4"),
    ("x-litellm-api-key", "client-secret-5"),
    ("proxy-authorization", "Basic client-secret-6"),
];

/// A client's credentials reach an upstream only on a route with `forward_headers: true`; on an
/// `auth: true` route the key that passthru checked is removed.
#[test]
fn credential_headers_reach_an_upstream_only_when_the_route_forwards_headers() {
    let up = Upstream::start(Behaviour::Echo);
    let dir = tempfile::tempdir().unwrap();
    // The sha256 of "client-secret-5": the client's LiteLLM key, in x-litellm-api-key, which
    // LiteLLM (and so passthru) reads before Authorization.
    let key = passthru_tests::sha256_hex("client-secret-5");
    let u = up.url();
    let yaml = format!(
        "version: 1\nroutes:\n\
         - {{path: /plain, target: '{u}', auth: false}}\n\
         - {{path: /forward, target: '{u}', forward_headers: true, auth: false}}\n\
         - {{path: /auth, target: '{u}', auth: true}}\n\
         - {{path: /auth-forward, target: '{u}', forward_headers: true, auth: true}}\n\
         keys:\n- sha256: {key}\n"
    );
    let proxy = start_proxy(dir.path(), &yaml);
    let extra: String = CREDENTIALS
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    for (path, forwarded) in [
        ("/plain", &[][..]),
        ("/auth", &[][..]),
        // proxy-authorization is hop-by-hop: never forwarded.
        (
            "/forward",
            &[
                "authorization",
                "cookie",
                "x-api-key",
                "api-key",
                "x-litellm-api-key",
            ][..],
        ),
        // The header that carried the checked key is removed; the client's other credentials
        // (a provider key in Authorization beside its LiteLLM key) go on purpose.
        (
            "/auth-forward",
            &["authorization", "cookie", "x-api-key", "api-key"][..],
        ),
    ] {
        let resp = raw_get(&proxy, path, &extra);
        assert_eq!(resp.status(), 200, "{path}: {}", resp.body_text());
        let got = up.last();
        for (name, value) in CREDENTIALS {
            let present = got
                .headers
                .iter()
                .any(|(_, v)| v.contains(&value[value.len() - 15..]));
            assert_eq!(
                present,
                forwarded.contains(name),
                "{path}: {name} forwarded = {present}; upstream saw {:?}",
                got.headers
            );
        }
    }
}
