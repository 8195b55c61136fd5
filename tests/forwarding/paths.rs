//! Which path and query reach the upstream, which host it is asked for, and what an unknown
//! path or method gets.

use passthru_tests::http::{get, request, Behaviour, Upstream};

use super::serve;

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
