//! The split-view corpus (DESIGN.md §4): `..`, `%2e%2e`, `%2F`, `//`, `\`, `%00`, `;` inserted at
//! every position of request paths. A request only ever reaches the route its normalised path
//! matches, the upstream receives exactly that path, and what cannot be routed safely gets 400.

use passthru_routes::{normalize_request_path, Lookup, Method, RouteTable, RoutesFile};
use passthru_tests::http::{send_raw, Behaviour, Upstream};
use passthru_tests::proxy::Proxy;

const TOKENS: &[&str] = &[
    "..",
    "%2e%2e",
    "%2E%2E",
    ".%2e",
    "%2e.",
    ".",
    "%2e",
    "%2F",
    "%2f",
    "//",
    "\\",
    "%5c",
    "%5C",
    "%00",
    ";",
    ";x",
    "%3B",
    "%3b",
    "..;",
    ";..",
    "%252e%252e",
    "%2e%2e%2f",
    "..%2f",
    "%%32%65",
];

const BASES: &[&str] = &["/public/x", "/admin/y", "/public"];

/// Every base path with every token inserted at every byte position.
fn corpus() -> Vec<String> {
    let mut targets = Vec::new();
    for base in BASES {
        for token in TOKENS {
            for at in 0..=base.len() {
                let raw = format!("{}{token}{}", &base[..at], &base[at..]);
                let raw = if raw.starts_with('/') {
                    raw
                } else {
                    format!("/{raw}")
                };
                targets.push(raw);
            }
        }
    }
    targets.sort();
    targets.dedup();
    targets
}

#[test]
fn no_request_reaches_a_route_its_normalised_path_does_not_match() {
    let public = Upstream::start(Behaviour::Echo);
    let admin = Upstream::start(Behaviour::Echo);
    let yaml = format!(
        "version: 1\nroutes:\n- {{id: public, path: /public, target: '{}/pub', include_subpath: true, auth: false}}\n- {{id: admin, path: /admin, target: '{}/adm', include_subpath: true, auth: false}}\n",
        public.url(),
        admin.url()
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.yaml");
    std::fs::write(&file, &yaml).unwrap();
    let table = RouteTable::new(RoutesFile::parse(yaml.as_bytes()).unwrap());
    let proxy = Proxy::start(&file, &[]);

    let targets = corpus();
    assert!(targets.len() > 400, "corpus has {} targets", targets.len());
    let (mut refused, mut routed) = (0, 0);
    for raw in &targets {
        let before = (public.count(), admin.count());
        let resp = send_raw(
            proxy.addr,
            format!("GET {raw} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes(),
        );
        let after = (public.count(), admin.count());
        match normalize_request_path(raw) {
            Err(why) => {
                assert_eq!(
                    resp.status(),
                    400,
                    "{raw} ({why}) was not refused: {}",
                    resp.body_text()
                );
                assert_eq!(before, after, "{raw} reached an upstream");
                refused += 1;
            }
            Ok(normal) => match table.lookup(&normal, Method::Get) {
                Lookup::Found(m) => {
                    assert_eq!(
                        resp.status(),
                        200,
                        "{raw} -> {normal}: {}",
                        resp.body_text()
                    );
                    let (up, base) = if m.route.id.as_str() == "public" {
                        (&public, "/pub")
                    } else {
                        (&admin, "/adm")
                    };
                    let other = if m.route.id.as_str() == "public" {
                        &admin
                    } else {
                        &public
                    };
                    assert_eq!(
                        up.last().target(),
                        format!("{base}{}", m.subpath),
                        "{raw} -> {normal}"
                    );
                    assert_eq!(
                        other.count(),
                        if up.addr == public.addr {
                            after.1
                        } else {
                            after.0
                        }
                    );
                    assert_eq!(
                        after.0 + after.1,
                        before.0 + before.1 + 1,
                        "{raw} reached one upstream once"
                    );
                    routed += 1;
                }
                _ => {
                    assert_eq!(resp.status(), 404, "{raw} -> {normal}");
                    assert_eq!(before, after, "{raw} reached an upstream");
                }
            },
        }
    }
    assert!(
        refused > 100 && routed > 50,
        "refused {refused}, routed {routed}"
    );
}

#[test]
fn encoded_slashes_and_backslashes_are_refused_with_400() {
    let up = Upstream::start(Behaviour::Echo);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.yaml");
    std::fs::write(&file, format!("version: 1\nroutes:\n- {{path: /, target: '{}', include_subpath: true, auth: false}}\n", up.url())).unwrap();
    let proxy = Proxy::start(&file, &[]);
    for raw in [
        "/a%2Fb",
        "/a%2fb",
        "/a%5Cb",
        "/a%00",
        "/..",
        "/a/../../b",
        "/%2e%2e/x",
        "/a%zz",
    ] {
        let resp = send_raw(
            proxy.addr,
            format!("GET {raw} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes(),
        );
        assert_eq!(resp.status(), 400, "{raw}");
    }
    assert_eq!(up.count(), 0);
}
