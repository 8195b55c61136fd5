//! Each file under tests/data/invalid is refused with a specific problem at a specific place.

use passthru_routes::{ProblemKind, RoutesFile};

use crate::data;

/// Asserts that `invalid/{name}.yaml` is refused with a problem of `kind` located at `location`
/// (as the problem prints it), and returns the problem's message.
fn refused(name: &str, kind: ProblemKind, location: &str) -> String {
    let bytes = std::fs::read(data(&format!("invalid/{name}.yaml"))).unwrap();
    let problems = RoutesFile::parse(&bytes).expect_err("the file should be refused");
    problems
        .iter()
        .find(|p| p.kind == kind && p.location.to_string() == location)
        .unwrap_or_else(|| panic!("no {kind:?} at {location:?} in:\n{problems}"))
        .message
        .clone()
}

macro_rules! malformed {
    ($($name:ident: $kind:ident at $location:literal, says $says:literal;)*) => {$(
        #[test]
        fn $name() {
            let message = refused(stringify!($name), ProblemKind::$kind, $location);
            assert!(message.contains($says), "message {message:?} should say {:?}", $says);
        }
    )*};
}

malformed! {
    empty: Empty at "document", says "file is empty";
    whitespace_only: Empty at "document", says "file is empty";
    comments_only: Empty at "document", says "only comments";
    not_utf8: NotUtf8 at "line 5, column 1", says "not UTF-8";
    syntax_unclosed_flow: Syntax at "line 4, column 1", says "did not find expected ',' or ']'";
    syntax_bad_indent: Syntax at "line 4, column 4", says "expected '-' indicator";
    duplicate_yaml_key: Syntax at "line 5, column 5", says "duplicate entry with key \"path\"";
    alias_bomb: Syntax at "document", says "alias bomb";
    deep_flow_nesting: Syntax at "line 3, column 137", says "nest deeper than 128 levels";
    top_is_list: WrongType at "document", says "must be a mapping";
    missing_version: MissingField at "field `version`", says "write `version: 1`";
    wrong_version: BadVersion at "field `version`", says "must be 1, found 2";
    missing_routes: MissingField at "field `routes`", says "`routes: []`";
    routes_not_list: WrongType at "field `routes`", says "found a mapping";
    unknown_top_field: UnknownField at "field `route`", says "did you mean `routes`?";
    unknown_route_field: UnknownField at "routes[0] (id auto-14f168a8aae4f092, path /a) field `include_subpaths`", says "did you mean `include_subpath`?";
    litellm_only_field: UnsupportedField at "routes[0] (id auto-14f168a8aae4f092, path /a) field `cost_per_request`", says "does not implement";
    route_not_mapping: WrongType at "routes[0]", says "found a string";
    missing_path: MissingField at "routes[0] field `path`", says "needs a request path";
    missing_target: MissingField at "routes[0] (id auto-14f168a8aae4f092, path /a) field `target`", says "needs an upstream URL";
    relative_path: BadPath at "routes[0] (path api) field `path`", says "write \"/api\"";
    path_dot_segments: BadPath at "routes[0] (path /a/../b) field `path`", says "write \"/b\"";
    path_trailing_slash: BadPath at "routes[0] (path /a/) field `path`", says "must not end with '/'";
    path_encoded_slash: BadPath at "routes[0] (path /a%2Fb) field `path`", says "encoded '/'";
    path_parameter: BadPath at "routes[0] (path /jobs/{id}) field `path`", says "path parameters";
    target_relative: BadTarget at "routes[0] (id auto-14f168a8aae4f092, path /a) field `target`", says "not an absolute URL";
    target_ftp: BadTarget at "routes[0] (id auto-14f168a8aae4f092, path /a) field `target`", says "only http and https";
    target_no_host: BadTarget at "routes[0] (id auto-14f168a8aae4f092, path /a) field `target`", says "has no host";
    target_credentials: BadTarget at "routes[0] (id auto-14f168a8aae4f092, path /a) field `target`", says "must not carry credentials";
    target_port_99999: BadTarget at "routes[0] (id auto-14f168a8aae4f092, path /a) field `target`", says "has port 99999; a port is a number from 1 to 65535";
    target_port_0: BadTarget at "routes[0] (id auto-14f168a8aae4f092, path /a) field `target`", says "has port 0";
    target_port_65536: BadTarget at "routes[0] (id auto-14f168a8aae4f092, path /a) field `target`", says "has port 65536";
    target_python_adapter: BadTarget at "routes[0] (id auto-14f168a8aae4f092, path /a) field `target`", says "needs http:// or https://";
    header_crlf: BadHeader at "routes[0] (id auto-14f168a8aae4f092, path /a) field `headers.x-team`", says "CR or LF";
    header_bad_name: BadHeader at "routes[0] (id auto-14f168a8aae4f092, path /a) field `headers.bad header`", says "not a valid header name";
    header_reserved: BadHeader at "routes[0] (id auto-14f168a8aae4f092, path /a) field `headers.Host`", says "set by the proxy itself";
    header_case_duplicate: BadHeader at "routes[0] (id auto-14f168a8aae4f092, path /a) field `headers.x-key`", says "set twice";
    header_env_not_at_end: BadHeader at "routes[0] (id auto-14f168a8aae4f092, path /a) field `headers.authorization`", says "must end the value";
    headers_not_mapping: WrongType at "routes[0] (id auto-14f168a8aae4f092, path /a) field `headers`", says "found a list";
    unknown_method: BadMethod at "routes[0] (path /a) field `methods`", says "\"FETCH\" is not an HTTP method";
    methods_not_list: WrongType at "routes[0] (path /a) field `methods`", says "found a string";
    bool_as_string: WrongType at "routes[0] (id auto-14f168a8aae4f092, path /a) field `include_subpath`", says "true or false";
    timeout_negative: BadTimeout at "routes[0] (id auto-14f168a8aae4f092, path /a) field `timeout`", says "-5 is not";
    timeout_string: WrongType at "routes[0] (id auto-14f168a8aae4f092, path /a) field `timeout`", says "number of seconds";
    duplicate_explicit_id: DuplicateId at "routes[1] (id svc, path /b)", says "also used by routes[0]";
    duplicate_derived_id: DuplicateId at "routes[1] (id auto-14f168a8aae4f092, path /a)", says "also used by routes[0]";
    conflict_overlapping_methods: Conflict at "routes[1] (id two, path /a)", says "answers POST /a (exact) like routes[0] (id one)";
    conflict_all_methods: Conflict at "routes[1] (id two, path /a)", says "answers DELETE /a (subpath)";
    bad_id: BadId at "routes[0] (id my id, path /a) field `id`", says "not a usable id";
    key_hash_short: BadKeyHash at "keys[0] field `sha256`", says "found 6 characters";
    key_hash_not_hex: BadKeyHash at "keys[0] field `sha256`", says "non-hex";
    key_hash_duplicate: DuplicateKey at "keys[1] field `sha256`", says "same key hash as keys[0]";
    key_bad_expiry: BadExpiry at "keys[0] field `expires`", says "not a UTC timestamp";
    key_unknown_field: UnknownField at "keys[0] field `key`", says "known fields: sha256, expires";
    key_allow_not_list: WrongType at "keys[0] field `allow`", says "must be a list of request paths";
    key_deny_entry_not_string: WrongType at "keys[0] field `deny`", says "entry 1 must be a string";
    key_admin_not_bool: WrongType at "keys[0] field `admin`", says "true or false";
    key_allow_too_long: BadGrant at "keys[0] field `allow`", says "has 1001 entries; at most 1000";
    key_deny_control_character: BadGrant at "keys[0] field `deny`", says "entry 0 contains the control character 0x07";
    cors_credentials_with_any_origin: BadCors at "field `cors.allow_credentials`", says "cannot be true with `*` origins";
    cors_origin_with_path: BadCors at "routes[0] (id auto-14f168a8aae4f092, path /a) field `cors.allow_origins`", says "no path";
    query_param_not_mapping: WrongType at "routes[0] (id auto-14f168a8aae4f092, path /a) field `default_query_params`", says "found a string";
}

/// Regression (outside probe): a refused target was quoted in full, password included.
#[test]
fn a_refused_target_is_quoted_without_its_credentials() {
    let message = refused(
        "target_credentials",
        ProblemKind::BadTarget,
        "routes[0] (id auto-14f168a8aae4f092, path /a) field `target`",
    );
    let bytes = std::fs::read(data("invalid/target_credentials.yaml")).unwrap();
    let password = String::from_utf8(bytes).unwrap();
    let password = password
        .split("://")
        .nth(1)
        .and_then(|s| s.split('@').next())
        .and_then(|s| s.split(':').nth(1))
        .unwrap()
        .to_owned();
    assert!(!message.contains(&password), "{message}");
    assert!(message.contains("***@"), "{message}");
}

/// Regression (found by the hostile-rows work): a secret pasted after `os.environ/` instead of
/// a variable name was quoted in the refusal, so it reached the logs of both daemons.
#[test]
fn a_secret_pasted_after_os_environ_is_not_quoted() {
    let problems = RoutesFile::parse(
        b"version: 1\nroutes:\n- {path: /a, target: 'http://x', headers: {authorization: 'Bearer os.environ/sk-live-S3CRET-value'}}\n",
    )
    .unwrap_err();
    let text = problems.to_string();
    assert!(text.contains("must end the value"), "{text}");
    assert!(!text.contains("S3CRET"), "{text}");
}

#[test]
fn every_problem_in_a_file_is_reported_at_once() {
    let bytes = std::fs::read(data("invalid/many_problems.yaml")).unwrap();
    let problems = RoutesFile::parse(&bytes).unwrap_err();
    let kinds: Vec<ProblemKind> = problems.iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds,
        [
            ProblemKind::BadMethod,
            ProblemKind::BadPath,
            ProblemKind::BadTarget,
            ProblemKind::BadTimeout
        ]
    );
    assert!(problems
        .iter()
        .any(|p| p.location.to_string().starts_with("routes[1]")));
}

#[test]
fn every_file_in_the_invalid_corpus_is_refused() {
    let dir = std::fs::read_dir(data("invalid")).unwrap();
    let mut count = 0;
    for entry in dir {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            RoutesFile::parse(&bytes).is_err(),
            "{} was accepted",
            path.display()
        );
        count += 1;
    }
    assert!(count >= 25, "the corpus has {count} files");
}

/// Regression (found by the hardening corpus): libyaml scans deeply nested flow collections in
/// time quadratic in the depth; 100,000 levels took over 90 s. They are refused before parsing.
#[test]
fn a_million_nested_flow_collections_are_refused_in_linear_time() {
    for open in ["[", "{a: "] {
        let close = if open == "[" { "]" } else { "}" };
        let text = format!(
            "version: 1\nroutes: {}{}\n",
            open.repeat(1_000_000),
            close.repeat(1_000_000)
        );
        let started = std::time::Instant::now();
        let problems = RoutesFile::parse(text.as_bytes()).expect_err("refused");
        assert!(
            problems.to_string().contains("nest deeper than"),
            "{problems}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
    }
}
