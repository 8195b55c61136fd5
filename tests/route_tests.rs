//! `passthru-proxy test` and `explain`: the DB-less operator's dry runs, and proof that they
//! decide exactly as a live proxy does (one source of routing truth).

use std::process::{Command, Output};

use passthru_tests::http::{request, Behaviour, Upstream};
use passthru_tests::proxy::Proxy;
use passthru_tests::{binary, repo_root};

fn proxy_cli(args: &[&str]) -> Output {
    Command::new(binary("passthru-proxy"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_example_route_tests_pass_against_the_example_table() {
    let root = repo_root();
    let out = proxy_cli(&[
        "test",
        root.join("examples/routes.yaml").to_str().unwrap(),
        root.join("examples/route-tests.yaml").to_str().unwrap(),
    ]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.trim_end().ends_with("9 passed, 0 failed"), "{text}");
}

#[test]
fn a_failing_case_prints_what_differs_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases.yaml");
    std::fs::write(
        &cases,
        "cases:\n\
         - name: wrong status and upstream\n  request: GET /internal/health\n  expect: {status: 401, upstream: 'http://elsewhere/'}\n\
         - name: wrong header\n  request: POST /cohere/x\n  key: sk-demo-key\n  expect: {headers: {authorization: 'Bearer sk-demo-key'}}\n\
         - name: a method the route refuses\n  request: DELETE /internal/health\n  expect: {status: 200}\n\
         - name: a key the table does not hold\n  request: POST /cohere/x\n  key: sk-unknown\n  expect: {status: 200, route: auto-b6309a407b2a58c1}\n",
    )
    .unwrap();
    let routes = repo_root().join("examples/routes.yaml");
    let out = proxy_cli(&["test", routes.to_str().unwrap(), cases.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let expected = "FAIL  wrong status and upstream
      status: expected 401, got 200
      upstream: expected http://elsewhere/, got http://127.0.0.1:8080/healthz
FAIL  wrong header
      header authorization: expected \"Bearer sk-demo-key\", got \"Bearer <os.environ/COHERE_API_KEY>\"
FAIL  a method the route refuses
      status: expected 200, got 405 (method DELETE is not allowed on /internal/health)
FAIL  a key the table does not hold
      status: expected 200, got 401 (the API key is not valid)
0 passed, 4 failed
";
    assert_eq!(text, expected);
}

#[test]
fn explain_names_each_covering_route_and_the_upstream_request() {
    let routes = repo_root().join("examples/routes.yaml");
    let out = proxy_cli(&[
        "explain",
        routes.to_str().unwrap(),
        "POST /cohere/v1/chat?x=1",
        "-H",
        "Authorization: Bearer sk-demo-key",
    ]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("path: /cohere/v1/chat"), "{text}");
    assert!(text.contains("/cohere (subpath, *): yes"), "{text}");
    assert!(
        text.contains("upstream: POST https://api.cohere.com/v1/chat?x=1"),
        "{text}"
    );
    assert!(
        text.contains("authorization: Bearer <os.environ/COHERE_API_KEY>"),
        "{text}"
    );
    assert!(!text.contains("sk-demo-key"), "{text}");
}

/// The same cases, once through `passthru-proxy test` and once through a live proxy to a
/// recording upstream, give the same status, upstream path and headers.
#[test]
fn route_tests_and_a_live_proxy_decide_alike() {
    let up = Upstream::start(Behaviour::Echo);
    let dir = tempfile::tempdir().unwrap();
    let routes = dir.path().join("routes.yaml");
    let u = up.url();
    std::fs::write(
        &routes,
        format!(
            "version: 1\nroutes:\n\
             - {{id: api, path: /api, target: '{u}/v1', include_subpath: true, auth: true, headers: {{x-team: blue}}}}\n\
             - {{id: open, path: /open, target: '{u}/o?src=p', methods: [GET], auth: false}}\n\
             keys:\n\
             - {{sha256: 82dae6d443609cfcb4e698af21391e5132c679ce83b37086ada791a0fb2a43ee, allow: [/api/chat]}}\n"
        ),
    )
    .unwrap();
    // (request line, key, expected status, expected upstream path and query)
    let cases: &[(&str, Option<&str>, u16, Option<&str>)] = &[
        (
            "POST /api/chat/x?q=1",
            Some("sk-demo-key"),
            200,
            Some("/v1/chat/x?q=1"),
        ),
        ("POST /api/admin", Some("sk-demo-key"), 403, None),
        ("POST /api/chat", None, 401, None),
        ("POST /api/chat", Some("sk-other"), 401, None),
        ("GET /open?a=2", None, 200, Some("/o?src=p&a=2")),
        ("POST /open", None, 405, None),
        ("GET /nowhere", None, 404, None),
    ];
    let mut yaml = String::from("cases:\n");
    for (i, (line, key, status, path)) in cases.iter().enumerate() {
        yaml.push_str(&format!("- name: case {i}\n  request: {line}\n"));
        if let Some(key) = key {
            yaml.push_str(&format!("  key: {key}\n"));
        }
        yaml.push_str(&format!("  expect: {{status: {status}"));
        if let Some(path) = path {
            yaml.push_str(&format!(", upstream: '{u}{path}'"));
        }
        yaml.push_str("}\n");
    }
    let cases_file = dir.path().join("cases.yaml");
    std::fs::write(&cases_file, yaml).unwrap();
    let out = proxy_cli(&[
        "test",
        routes.to_str().unwrap(),
        cases_file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stdout(&out));

    let proxy = Proxy::start(&routes, &[]);
    for (line, key, status, path) in cases {
        let (method, target) = line.split_once(' ').unwrap();
        let auth = key.map(|k| format!("Bearer {k}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        let before = up.count();
        let resp = request(proxy.addr, method, target, &headers, b"");
        assert_eq!(resp.status(), *status, "{line}: {}", resp.body_text());
        match path {
            Some(path) => {
                let got = up.last();
                assert_eq!(got.target(), *path, "{line}");
                if target.starts_with("/api") {
                    assert_eq!(got.header("x-team"), Some("blue"));
                }
            }
            None => assert_eq!(up.count(), before, "{line} went upstream"),
        }
    }
}
