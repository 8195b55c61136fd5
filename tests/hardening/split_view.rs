//! Split view: a request reaches only the route its normalised path matches.

use passthru_routes::RoutesFile;
use passthru_tests::http::{Behaviour, Upstream};

use super::{raw_get, start_proxy};

const SPLIT_TOKENS: &[&str] = &[
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
    "%00",
    ";",
    ";x",
    "%3B",
    "..;",
    ";..",
    "%252e%252e",
    "%2e%2e%2f",
    "..%2f",
    "%%32%65",
    "%20",
    "%09",
    "#",
    "?",
    "%3f",
    "%23",
    "/./",
    "/../",
    "%c0%ae",
    "%e2%80%a8",
];

/// The split-view corpus (DESIGN.md §4: the path matched is the path forwarded) against an exact
/// route, a subpath route and the root route at once: each request reaches exactly the upstream
/// its normalised path matches, with exactly that path, or is refused without reaching any
/// upstream.
#[test]
fn the_split_view_corpus_never_reaches_a_route_its_normalised_path_does_not_match() {
    let exact = Upstream::start(Behaviour::Echo);
    let sub = Upstream::start(Behaviour::Echo);
    let root = Upstream::start(Behaviour::Echo);
    let yaml = format!(
        "version: 1\nroutes:\n\
         - {{id: exact, path: /admin/panel, target: '{}/E', auth: false}}\n\
         - {{id: sub, path: /api, target: '{}/S', include_subpath: true, auth: false}}\n\
         - {{id: root, path: /, target: '{}/R', include_subpath: true, auth: false}}\n",
        exact.url(),
        sub.url(),
        root.url()
    );
    let table = passthru_routes::RouteTable::new(RoutesFile::parse(yaml.as_bytes()).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(dir.path(), &yaml);
    let ups = [
        ("exact", &exact, "/E"),
        ("sub", &sub, "/S"),
        ("root", &root, "/R"),
    ];

    let mut targets = Vec::new();
    for base in ["/admin/panel", "/api/v1/x", "/apiary", "/admin/panel/x"] {
        for token in SPLIT_TOKENS {
            for at in 1..=base.len() {
                targets.push(format!("{}{token}{}", &base[..at], &base[at..]));
            }
        }
    }
    targets.sort();
    targets.dedup();
    let (mut refused, mut routed) = (0, 0);
    for raw in &targets {
        let before: Vec<usize> = ups.iter().map(|(_, u, _)| u.count()).collect();
        let resp = raw_get(&proxy, raw, "");
        // A '?' or '#' ends the path on the wire: what the proxy routes is the part before it.
        let path = raw.split(['?', '#']).next().unwrap();
        let expected = passthru_routes::normalize_request_path(path)
            .ok()
            .map(|n| n.into_owned());
        let after: Vec<usize> = ups.iter().map(|(_, u, _)| u.count()).collect();
        let hits: usize = after.iter().zip(&before).map(|(a, b)| a - b).sum();
        match expected
            .as_deref()
            .map(|n| (n, table.lookup(n, passthru_routes::Method::Get)))
        {
            Some((normal, passthru_routes::Lookup::Found(m))) => {
                assert_eq!(
                    resp.status(),
                    200,
                    "{raw} -> {normal}: {}",
                    resp.body_text()
                );
                assert_eq!(hits, 1, "{raw} reached {hits} upstreams");
                let (_, up, base) = ups
                    .iter()
                    .find(|(id, _, _)| *id == m.route.id.as_str())
                    .unwrap();
                let got = up.last();
                let got_path = got.target().split('?').next().unwrap().to_owned();
                assert_eq!(
                    got_path,
                    format!("{base}{}", m.subpath),
                    "{raw} -> {normal}"
                );
                routed += 1;
            }
            _ => {
                assert!(
                    matches!(resp.status(), 400 | 404),
                    "{raw}: {} {}",
                    resp.status(),
                    resp.body_text()
                );
                assert_eq!(hits, 0, "{raw} reached an upstream");
                refused += 1;
            }
        }
    }
    eprintln!(
        "split view: {} requests, {routed} routed to their normalised match, {refused} refused",
        targets.len()
    );
    assert!(
        targets.len() > 1000 && refused > 100 && routed > 500,
        "{} {refused} {routed}",
        targets.len()
    );
}
