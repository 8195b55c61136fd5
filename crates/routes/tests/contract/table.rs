//! Lookup: segment-aware, longest match that allows the method, exact before subpath.

use std::time::{Duration, UNIX_EPOCH};

use passthru_routes::{
    GrantRefusal, KeyStatus, Lookup, Method, MethodSet, RequestPaths, RouteTable,
};

use crate::parse;

fn table(yaml: &str) -> RouteTable {
    RouteTable::new(parse(yaml))
}

/// (route id, subpath) for a found route, or a short word for the other answers.
fn answer(t: &RouteTable, path: &str, method: Method) -> String {
    match t.lookup(path, method) {
        Lookup::Found(m) => format!("{} {}", m.route.id, m.subpath),
        Lookup::MethodNotAllowed { allowed } => format!("405 {}", allowed.to_allow_header()),
        Lookup::NotFound => "404".to_owned(),
    }
}

const API: &str = "version: 1
routes:
- {id: api, path: /api, target: 'http://a', include_subpath: true}
- {id: api-v1, path: /api/v1, target: 'http://b', include_subpath: true, methods: [POST]}
- {id: api-v1-exact, path: /api/v1, target: 'http://c', methods: [POST]}
- {id: health, path: /health, target: 'http://d', methods: [GET, HEAD]}
";

#[test]
fn a_subpath_route_matches_its_path_and_below() {
    let t = table(API);
    assert_eq!(answer(&t, "/api", Method::Get), "api ");
    assert_eq!(answer(&t, "/api/", Method::Get), "api /");
    assert_eq!(answer(&t, "/api/x/y", Method::Get), "api /x/y");
}

#[test]
fn matching_is_segment_aware() {
    let t = table(API);
    assert_eq!(answer(&t, "/apiary", Method::Get), "404");
    assert_eq!(answer(&t, "/healthz", Method::Get), "404");
}

#[test]
fn an_exact_route_matches_only_its_path() {
    let t = table(API);
    assert_eq!(answer(&t, "/health", Method::Get), "health ");
    assert_eq!(answer(&t, "/health/", Method::Get), "404");
    assert_eq!(answer(&t, "/health/x", Method::Get), "404");
}

#[test]
fn the_longest_match_wins() {
    let t = table(API);
    assert_eq!(answer(&t, "/api/v1/chat", Method::Post), "api-v1 /chat");
}

#[test]
fn exact_beats_subpath_at_equal_length() {
    let t = table(API);
    assert_eq!(answer(&t, "/api/v1", Method::Post), "api-v1-exact ");
}

#[test]
fn a_shorter_route_that_allows_the_method_beats_a_longer_one_that_does_not() {
    let t = table(API);
    assert_eq!(answer(&t, "/api/v1/chat", Method::Get), "api /v1/chat");
}

#[test]
fn a_path_whose_routes_refuse_the_method_is_405_with_the_allowed_methods() {
    let t = table(API);
    assert_eq!(answer(&t, "/health", Method::Post), "405 GET, HEAD");
}

#[test]
fn nothing_matching_is_404() {
    let t = table(API);
    assert_eq!(answer(&t, "/", Method::Get), "404");
    assert_eq!(answer(&t, "/other", Method::Get), "404");
}

#[test]
fn the_root_subpath_route_matches_everything_with_the_whole_path_left() {
    let t = table(
        "version: 1\nroutes:\n- {id: all, path: /, target: 'http://a', include_subpath: true}\n",
    );
    assert_eq!(answer(&t, "/", Method::Get), "all /");
    assert_eq!(answer(&t, "/x/y", Method::Get), "all /x/y");
}

#[test]
fn the_root_exact_route_matches_only_the_root() {
    let t = table("version: 1\nroutes:\n- {id: root, path: /, target: 'http://a'}\n");
    assert_eq!(answer(&t, "/", Method::Get), "root ");
    assert_eq!(answer(&t, "/x", Method::Get), "404");
}

#[test]
fn routes_with_disjoint_methods_on_one_path_split_by_method() {
    let t = table(
        "version: 1\nroutes:\n- {id: read, path: /a, target: 'http://r', methods: [GET]}\n- {id: write, path: /a, target: 'http://w', methods: [POST, PUT]}\n",
    );
    assert_eq!(answer(&t, "/a", Method::Get), "read ");
    assert_eq!(answer(&t, "/a", Method::Put), "write ");
    assert_eq!(answer(&t, "/a", Method::Delete), "405 GET, POST, PUT");
}

#[test]
fn a_match_reports_the_route_index_in_canonical_order() {
    let t = table(API);
    let Lookup::Found(m) = t.lookup("/health", Method::Get) else {
        panic!("not found")
    };
    assert_eq!(t.routes()[m.index].id.as_str(), "health");
}

#[test]
fn an_empty_table_answers_404() {
    let t = table("version: 1\nroutes: []\n");
    assert_eq!(t.lookup("/a", Method::Get), Lookup::NotFound);
    assert!(MethodSet::ANY.allows(Method::Get));
}

const KEYS: &str = "version: 1
routes: []
keys:
- sha256: 82dae6d443609cfcb4e698af21391e5132c679ce83b37086ada791a0fb2a43ee
- sha256: 5178e7b4d2cfd97ede764b3f930aeda4e71e12552631a9d5b95f4b604582cea4
  expires: 2027-01-31T00:00:00Z
";

#[test]
fn a_presented_key_is_checked_by_its_sha256() {
    let t = table(KEYS);
    let now = UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    assert!(matches!(t.key_status(b"sk-demo-key", now), KeyStatus::Valid(g) if g.is_unscoped()));
    assert_eq!(t.key_status(b"sk-other", now), KeyStatus::Unknown);
}

#[test]
fn a_key_is_refused_from_its_expiry_on() {
    let t = table(KEYS);
    let expiry = UNIX_EPOCH + Duration::from_secs(1_801_353_600);
    assert!(matches!(
        t.key_status(b"sk-expired-key", expiry - Duration::from_secs(1)),
        KeyStatus::Valid(_)
    ));
    assert_eq!(t.key_status(b"sk-expired-key", expiry), KeyStatus::Expired);
}

#[test]
fn a_valid_key_comes_with_its_grants() {
    let t = table(
        "version: 1
routes: []
keys:
- sha256: 82dae6d443609cfcb4e698af21391e5132c679ce83b37086ada791a0fb2a43ee
  allow: [/cohere]
  deny: [/cohere/admin]
",
    );
    let now = UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    let KeyStatus::Valid(grants) = t.key_status(b"sk-demo-key", now) else {
        panic!("the key is valid");
    };
    assert_eq!(
        grants.decide(&RequestPaths::plain("/cohere/v1/chat")),
        Ok(())
    );
    assert_eq!(
        grants.decide(&RequestPaths::plain("/cohere/admin/x")),
        Err(GrantRefusal::Denied("/cohere/admin"))
    );
    assert_eq!(
        grants.decide(&RequestPaths::plain("/openai")),
        Err(GrantRefusal::NotAllowed)
    );
}
