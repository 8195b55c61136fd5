//! Canonical rendering: same logical table, same bytes; unchanged tables are never rewritten.

use passthru_routes::RoutesFile;

use crate::{data, parse};

const UNORDERED: &str = "version: 1
routes:
- path: /zeta
  target: http://z
  methods: [POST, GET]
  headers: {X-B: b, x-a: a}
- path: /alpha
  target: http://a
  default_query_params: {z: '1', a: '2'}
keys:
- sha256: 5178e7b4d2cfd97ede764b3f930aeda4e71e12552631a9d5b95f4b604582cea4
- sha256: 82dae6d443609cfcb4e698af21391e5132c679ce83b37086ada791a0fb2a43ee
";

const REORDERED: &str = "version: 1
keys:
- sha256: 82DAE6D443609CFCB4E698AF21391E5132C679CE83B37086ADA791A0FB2A43EE
- sha256: 5178e7b4d2cfd97ede764b3f930aeda4e71e12552631a9d5b95f4b604582cea4
routes:
- default_query_params: {a: '2', z: '1'}
  target: http://a
  path: /alpha
- path: /zeta
  headers: {x-a: a, x-b: b}
  methods: [get, post, GET]
  target: http://z
";

#[test]
fn the_same_table_renders_the_same_bytes_whatever_the_input_order() {
    assert_eq!(parse(UNORDERED).render(), parse(REORDERED).render());
}

#[test]
fn rendering_a_canonical_file_gives_back_its_bytes() {
    let canonical = parse(UNORDERED).render();
    assert_eq!(parse(&canonical).render(), canonical);
}

#[test]
fn every_route_is_rendered_with_its_id_stamped() {
    let canonical =
        parse("version: 1\nroutes:\n- path: /my-service\n  target: http://backend:8080\n").render();
    assert!(
        canonical.contains("- id: auto-64ec647a7877a6c4\n"),
        "{canonical}"
    );
}

#[test]
fn every_field_is_written_out_including_defaults() {
    let canonical = parse("version: 1\nroutes:\n- path: /a\n  target: http://x\n").render();
    assert_eq!(
        canonical,
        "version: 1
routes:
- id: auto-14f168a8aae4f092
  path: /a
  target: http://x
  include_subpath: false
  methods: []
  headers: {}
  forward_headers: false
  default_query_params: {}
  timeout: 600
  auth: true
"
    );
}

#[test]
fn an_empty_table_renders_as_an_explicit_empty_list() {
    assert_eq!(
        parse("version: 1\nroutes: []\n").render(),
        "version: 1\nroutes: []\n"
    );
}

#[test]
fn strings_that_yaml_would_read_as_other_types_stay_strings() {
    let yaml = "version: 1\nroutes:\n- path: /a\n  target: http://x\n  headers: {x-flag: 'true', x-n: '007'}\n  default_query_params: {q: 'null', r: '1e3'}\n";
    let canonical = parse(yaml).render();
    let again = parse(&canonical);
    assert_eq!(again.routes()[0].headers["x-flag"].as_str(), "true");
    assert_eq!(again.routes()[0].headers["x-n"].as_str(), "007");
    assert_eq!(again.routes()[0].default_query_params["q"], "null");
    assert_eq!(again.routes()[0].default_query_params["r"], "1e3");
}

#[test]
fn the_example_file_is_valid_and_formats_to_a_fixed_point() {
    let bytes = std::fs::read(data("../../../../examples/routes.yaml")).unwrap();
    let canonical = RoutesFile::parse(&bytes).unwrap().render();
    assert_eq!(parse(&canonical).render(), canonical);
}

/// The seed bug (LiteLLM #24833) in its purest form: id-less rows must never get new ids.
#[test]
fn a_hundred_id_less_routes_keep_their_bytes_and_ids_over_a_thousand_cycles() {
    let mut yaml = String::from("version: 1\nroutes:\n");
    for i in 0..100 {
        yaml.push_str(&format!(
            "- path: /svc-{i}\n  target: http://backend-{i}:8080\n  include_subpath: {}\n",
            i % 2 == 0
        ));
    }
    let first = parse(&yaml);
    let first_bytes = first.render();
    let ids: Vec<String> = first.routes().iter().map(|r| r.id.to_string()).collect();
    let mut bytes = first_bytes.clone();
    for cycle in 0..1000 {
        let file = parse(&bytes);
        let again = file.render();
        assert_eq!(again, first_bytes, "bytes changed in cycle {cycle}");
        let now: Vec<String> = file.routes().iter().map(|r| r.id.to_string()).collect();
        assert_eq!(now, ids, "ids changed in cycle {cycle}");
        bytes = again;
    }
    assert!(ids.iter().all(|id| id.starts_with("auto-")));
}

#[test]
fn forwarded_headers_is_rendered_only_when_a_route_sets_it() {
    let file = parse("version: 1\nroutes:\n- {path: /a, target: 'http://x', forwarded_headers: forwarded}\n- {path: /b, target: 'http://x'}\n");
    let routes = file.routes();
    assert_eq!(
        routes[0].forwarded_headers,
        Some(passthru_routes::ForwardedHeaders::Forwarded)
    );
    assert_eq!(routes[1].forwarded_headers, None);
    let text = file.render();
    assert_eq!(
        text.matches("forwarded_headers: forwarded").count(),
        1,
        "{text}"
    );
    assert_eq!(text.matches("forwarded_headers").count(), 1, "{text}");
    assert_eq!(parse(&text).render(), text);
}

#[test]
fn an_unknown_forwarded_headers_mode_is_refused() {
    let problems = crate::problems(
        "version: 1\nroutes:\n- {path: /a, target: 'http://x', forwarded_headers: true}\n",
    );
    assert!(
        problems.to_string().contains("forwarded_headers"),
        "{problems}"
    );
}
