//! The shipped JSON Schema, run through a real validator (the `jsonschema` crate, draft
//! 2020-12): it accepts every valid file the project ships or tests with, and refuses the
//! invalid files whose fault a schema can express (names, types, shapes, patterns).

use std::path::{Path, PathBuf};

use crate::data;

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(data("../../../../examples/routes.schema.json")).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).expect("the shipped schema is a valid JSON Schema")
}

fn document(path: &Path) -> serde_json::Value {
    serde_yaml::from_slice(&std::fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn valid_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data("valid"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.push(data("../../../../examples/routes.yaml"));
    files
}

#[test]
fn the_schema_accepts_every_valid_file() {
    let v = validator();
    let files = valid_files();
    assert!(files.len() >= 5, "{files:?}");
    for file in files {
        let doc = document(&file);
        let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", file.display());
    }
}

#[test]
fn the_schema_accepts_the_canonical_rendering_of_every_valid_file() {
    let v = validator();
    for file in valid_files() {
        let parsed = passthru_routes::RoutesFile::parse(&std::fs::read(&file).unwrap()).unwrap();
        let doc: serde_json::Value = serde_yaml::from_str(&parsed.render()).unwrap();
        assert!(v.is_valid(&doc), "canonical {}", file.display());
    }
}

/// Invalid files whose fault is a name, a type, a shape or a pattern the schema states.
const EXPRESSIBLE: &[&str] = &[
    "top_is_list",
    "missing_version",
    "wrong_version",
    "missing_routes",
    "routes_not_list",
    "unknown_top_field",
    "unknown_route_field",
    "litellm_only_field",
    "route_not_mapping",
    "missing_path",
    "missing_target",
    "headers_not_mapping",
    "header_bad_name",
    "header_reserved",
    "header_crlf",
    "methods_not_list",
    "unknown_method",
    "bool_as_string",
    "timeout_string",
    "timeout_negative",
    "query_param_not_mapping",
    "key_hash_short",
    "key_hash_not_hex",
    "key_unknown_field",
    "key_admin_not_bool",
    "key_allow_not_list",
    "key_deny_entry_not_string",
    "key_allow_too_long",
];

#[test]
fn the_schema_refuses_every_invalid_file_whose_fault_it_can_express() {
    let v = validator();
    for name in EXPRESSIBLE {
        let doc = document(&data(&format!("invalid/{name}.yaml")));
        assert!(!v.is_valid(&doc), "{name} passed the schema");
    }
}

#[test]
fn the_route_tests_schema_accepts_the_example_cases() {
    let text =
        std::fs::read_to_string(data("../../../../examples/route-tests.schema.json")).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    let v = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let cases = document(&data("../../../../examples/route-tests.yaml"));
    let errors: Vec<String> = v.iter_errors(&cases).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let bad = serde_json::json!({"cases": [{"name": "x", "request": "GET /", "expect": {"stauts": 200}}]});
    assert!(!v.is_valid(&bad), "a misspelt expectation passed");
}
