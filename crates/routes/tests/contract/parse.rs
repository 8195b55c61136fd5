//! What a valid file means: defaults, spellings the model accepts, and how it normalises them.

use std::time::{Duration, UNIX_EPOCH};

use passthru_routes::{Method, MethodSet, ProblemKind, Route, RoutesFile, Value, DEFAULT_TIMEOUT};

use crate::{data, parse, problems};

#[test]
fn an_empty_table_is_valid() {
    let file = parse("version: 1\nroutes: []\n");
    assert!(file.routes().is_empty());
    assert!(file.keys().is_empty());
}

#[test]
fn an_empty_file_is_an_error_distinct_from_an_empty_table() {
    assert_eq!(problems("").iter().next().unwrap().kind, ProblemKind::Empty);
    assert_eq!(
        problems("\n \n").iter().next().unwrap().kind,
        ProblemKind::Empty
    );
}

#[test]
fn absent_fields_take_litellm_defaults() {
    let file = parse("version: 1\nroutes:\n- path: /a\n  target: http://x\n");
    let r = &file.routes()[0];
    assert!(!r.include_subpath);
    assert!(r.methods.is_any());
    assert!(r.headers.is_empty());
    assert!(!r.forward_headers);
    assert!(r.default_query_params.is_empty());
    assert_eq!(r.timeout, DEFAULT_TIMEOUT);
    assert!(r.auth, "auth defaults to true, as in LiteLLM");
}

#[test]
fn null_fields_mean_their_default_as_litellm_writes_them() {
    let file = parse(
        "version: 1\nroutes:\n- {id: null, path: /a, target: 'http://x', methods: null, timeout: null, headers: null, auth: null}\n",
    );
    let r = &file.routes()[0];
    assert_eq!(r.id.as_str(), "auto-14f168a8aae4f092");
    assert_eq!(r.timeout, DEFAULT_TIMEOUT);
    assert!(r.auth);
}

#[test]
fn an_absent_id_is_derived_from_path_and_methods() {
    let file = parse("version: 1\nroutes:\n- path: /my-service\n  target: http://backend:8080\n");
    assert_eq!(file.routes()[0].id.as_str(), "auto-64ec647a7877a6c4");
}

#[test]
fn an_explicit_id_is_kept_untouched() {
    let file = parse(
        "version: 1\nroutes:\n- id: ca49833f-5d4d-43d0-a079-683f6d390ced\n  path: /bria\n  target: http://x\n",
    );
    assert_eq!(
        file.routes()[0].id.as_str(),
        "ca49833f-5d4d-43d0-a079-683f6d390ced"
    );
}

#[test]
fn methods_are_case_insensitive_and_deduplicated() {
    let file = parse(
        "version: 1\nroutes:\n- path: /a\n  target: http://x\n  methods: [post, GET, Post]\n",
    );
    let expected: MethodSet = [Method::Get, Method::Post].into_iter().collect();
    assert_eq!(file.routes()[0].methods, expected);
}

#[test]
fn header_names_are_lower_cased_and_values_kept() {
    let file = parse(
        "version: 1\nroutes:\n- path: /a\n  target: http://x\n  headers:\n    Authorization: Bearer os.environ/COHERE_API_KEY\n    X-Count: 5\n",
    );
    let headers = &file.routes()[0].headers;
    let auth = &headers["authorization"];
    assert_eq!(auth.as_str(), "Bearer os.environ/COHERE_API_KEY");
    assert_eq!(auth.env_var(), Some("COHERE_API_KEY"));
    assert_eq!(headers["x-count"].as_str(), "5");
}

#[test]
fn an_environment_reference_resolves_in_place() {
    let file = parse(
        "version: 1\nroutes:\n- path: /a\n  target: http://x\n  headers:\n    authorization: Bearer os.environ/KEY\n",
    );
    let template = &file.routes()[0].headers["authorization"];
    let resolved = template.resolve(|name| (name == "KEY").then(|| "s3cret".to_owned()));
    assert_eq!(resolved.unwrap(), "Bearer s3cret");
    assert_eq!(template.resolve(|_| None).unwrap_err(), "KEY");
}

#[test]
fn query_param_values_are_text() {
    let file = parse(
        "version: 1\nroutes:\n- path: /a\n  target: http://x\n  default_query_params: {limit: 10, debug: false, lang: en}\n",
    );
    let params = &file.routes()[0].default_query_params;
    assert_eq!(params["limit"], "10");
    assert_eq!(params["debug"], "false");
    assert_eq!(params["lang"], "en");
}

#[test]
fn fractional_timeouts_are_kept_to_the_millisecond() {
    let file = parse("version: 1\nroutes:\n- path: /a\n  target: http://x\n  timeout: 2.5\n");
    assert_eq!(file.routes()[0].timeout, Duration::from_millis(2500));
}

#[test]
fn target_parts_are_available_to_the_proxy() {
    let file = parse(
        "version: 1\nroutes:\n- path: /a\n  target: https://api.example.com:8443/v2/base?source=passthru\n",
    );
    let t = &file.routes()[0].target;
    assert!(t.is_https());
    assert_eq!(t.host(), "api.example.com");
    assert_eq!(t.port(), 8443);
    assert_eq!(t.authority(), "api.example.com:8443");
    assert_eq!(t.path(), "/v2/base");
    assert_eq!(t.query(), Some("source=passthru"));
}

#[test]
fn target_port_defaults_by_scheme() {
    let file = parse(
        "version: 1\nroutes:\n- {path: /a, target: 'https://a.example'}\n- {path: /b, target: 'http://b.example'}\n",
    );
    assert_eq!(file.routes()[0].target.port(), 443);
    assert_eq!(file.routes()[1].target.port(), 80);
}

#[test]
fn ipv6_targets_are_accepted() {
    let file = parse("version: 1\nroutes:\n- {path: /a, target: 'http://[::1]:9000/x'}\n");
    assert_eq!(file.routes()[0].target.host(), "[::1]");
}

#[test]
fn key_hashes_are_read_in_either_case_with_optional_expiry() {
    let file = parse(
        "version: 1\nroutes: []\nkeys:\n- sha256: 82DAE6D443609CFCB4E698AF21391E5132C679CE83B37086ADA791A0FB2A43EE\n  expires: 2027-01-31T00:00:00Z\n",
    );
    let key = &file.keys()[0];
    assert_eq!(
        key.hex(),
        "82dae6d443609cfcb4e698af21391e5132c679ce83b37086ada791a0fb2a43ee"
    );
    assert_eq!(
        key.expires,
        Some(UNIX_EPOCH + Duration::from_secs(1_801_353_600))
    );
}

#[test]
fn key_grants_are_read_and_equal_ones_shared() {
    let file = parse(
        "version: 1\nroutes: []\nkeys:\n- {sha256: 82dae6d443609cfcb4e698af21391e5132c679ce83b37086ada791a0fb2a43ee, allow: [/a], deny: ['/a/x*']}\n- {sha256: 5178e7b4d2cfd97ede764b3f930aeda4e71e12552631a9d5b95f4b604582cea4, allow: [/a], deny: ['/a/x*']}\n- {sha256: '0000000000000000000000000000000000000000000000000000000000000000', admin: true}\n- {sha256: '1111111111111111111111111111111111111111111111111111111111111111'}\n",
    );
    let keys = file.keys();
    let scoped: Vec<_> = keys.iter().filter(|k| k.grants().allow.is_some()).collect();
    assert_eq!(scoped.len(), 2);
    assert_eq!(scoped[0].grants().allow, Some(vec!["/a".to_owned()]));
    assert_eq!(scoped[0].grants().deny, vec!["/a/x*".to_owned()]);
    assert!(std::sync::Arc::ptr_eq(
        scoped[0].grants.as_ref().unwrap(),
        scoped[1].grants.as_ref().unwrap()
    ));
    assert!(keys.iter().any(|k| k.grants().admin));
    assert!(keys.iter().any(|k| k.grants.is_none()));
}

#[test]
fn an_empty_allow_list_is_kept_apart_from_no_allow_list() {
    let file = parse(
        "version: 1\nroutes: []\nkeys:\n- {sha256: 82dae6d443609cfcb4e698af21391e5132c679ce83b37086ada791a0fb2a43ee, allow: []}\n",
    );
    assert_eq!(file.keys()[0].grants().allow, Some(vec![]));
    let again = parse(&file.render());
    assert_eq!(again, file);
}

#[test]
fn the_same_path_with_disjoint_methods_is_two_routes() {
    let file = parse(
        "version: 1\nroutes:\n- {path: /a, target: 'http://x', methods: [GET]}\n- {path: /a, target: 'http://y', methods: [POST]}\n",
    );
    assert_eq!(file.routes().len(), 2);
    assert_ne!(file.routes()[0].id, file.routes()[1].id);
}

#[test]
fn an_exact_and_a_subpath_route_on_one_path_do_not_conflict() {
    let file = parse(
        "version: 1\nroutes:\n- {path: /a, target: 'http://x'}\n- {path: /a, target: 'http://y', include_subpath: true, id: sub}\n",
    );
    assert_eq!(file.routes().len(), 2);
}

#[test]
fn a_litellm_endpoint_as_its_database_stores_it_is_one_route_once_litellm_fields_are_dropped() {
    let json = r#"{"id": "ca49833f-5d4d-43d0-a079-683f6d390ced", "path": "/bria",
        "target": "https://engine.prod.bria-api.com", "headers": {"api_token": "os.environ/BRIA_KEY"},
        "default_query_params": {}, "include_subpath": true, "timeout": null, "auth": true, "methods": null}"#;
    let value: Value = serde_yaml::from_str(json).unwrap();
    let route = Route::from_value(0, &value).unwrap();
    assert_eq!(route.path, "/bria");
    assert!(route.include_subpath);
    assert_eq!(route.headers["api_token"].env_var(), Some("BRIA_KEY"));
}

#[test]
fn problems_in_a_route_value_are_located_at_its_index() {
    let value: Value = serde_yaml::from_str("{path: relative, target: 'http://x'}").unwrap();
    let problems = Route::from_value(7, &value).unwrap_err();
    assert_eq!(
        problems[0].location.to_string(),
        "routes[7] (path relative) field `path`"
    );
}

#[test]
fn clashing_rows_are_skipped_after_the_first_when_asked() {
    let a = Route::from_value(
        0,
        &serde_yaml::from_str("{path: /a, target: 'http://x'}").unwrap(),
    )
    .unwrap();
    let b = Route::from_value(
        1,
        &serde_yaml::from_str("{path: /a, target: 'http://y'}").unwrap(),
    )
    .unwrap();
    let (file, skipped) = RoutesFile::new_skipping_clashes(vec![a.clone(), b], vec![]);
    assert_eq!(file.routes(), &[a]);
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].kind, ProblemKind::DuplicateId);
}

#[test]
fn every_file_in_the_valid_corpus_loads() {
    for entry in std::fs::read_dir(data("valid")).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        if let Err(p) = RoutesFile::parse(&bytes) {
            panic!("{}: {p}", path.display());
        }
    }
}

#[test]
fn a_header_value_over_16_kib_is_refused() {
    let yaml = format!(
        "version: 1\nroutes:\n- path: /a\n  target: http://x\n  headers: {{x-big: '{}'}}\n",
        "b".repeat(passthru_routes::MAX_HEADER_VALUE_BYTES + 1)
    );
    let p = problems(&yaml);
    let first = p.iter().next().unwrap();
    assert_eq!(first.kind, ProblemKind::BadHeader);
    assert_eq!(
        first.location.to_string(),
        "routes[0] (id auto-14f168a8aae4f092, path /a) field `headers.x-big`"
    );
}

#[test]
fn more_than_64_headers_on_a_route_are_refused() {
    let headers: Vec<String> = (0..65).map(|i| format!("x-h{i}: v")).collect();
    let yaml = format!(
        "version: 1\nroutes:\n- path: /a\n  target: http://x\n  headers: {{{}}}\n",
        headers.join(", ")
    );
    let p = problems(&yaml);
    assert!(
        p.iter()
            .any(|p| p.kind == ProblemKind::BadHeader && p.message.contains("at most 64")),
        "{p}"
    );
}
