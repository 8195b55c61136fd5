//! The JSON Schema shipped for editors stays in step with the model.

use passthru_routes::json_schema;

use crate::{data, parse};

fn schema() -> serde_json::Value {
    serde_json::from_str(&json_schema()).unwrap()
}

fn keys(v: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[test]
fn the_shipped_schema_is_the_generated_one() {
    let shipped = std::fs::read_to_string(data("../../../../examples/routes.schema.json")).unwrap();
    assert!(
        shipped == json_schema(),
        "examples/routes.schema.json is stale: run `passthru-proxy schema > examples/routes.schema.json`"
    );
}

#[test]
fn the_schema_describes_every_field_a_canonical_route_carries() {
    let canonical = parse("version: 1\nlitellm_key_header_name: x-my-key\nkey_prefix: sk-\ncors: {allow_origins: ['*']}\nroutes:\n- {path: /a, target: 'http://x', custom_auth_parser: langfuse, cors: {allow_origins: ['*']}, forwarded_headers: xff}\nkeys:\n- {sha256: 82dae6d443609cfcb4e698af21391e5132c679ce83b37086ada791a0fb2a43ee, expires: '2027-01-31T00:00:00Z', admin: true, allow: [/a], deny: [/b], only: ['/a*']}\n").render();
    let doc: serde_yaml::Value = serde_yaml::from_str(&canonical).unwrap();
    let doc: serde_json::Value = serde_json::to_value(&doc).unwrap();
    let s = schema();
    assert_eq!(keys(&doc), keys(&s["properties"]));
    assert_eq!(
        keys(&doc["routes"][0]),
        keys(&s["$defs"]["route"]["properties"])
    );
    assert_eq!(
        keys(&doc["keys"][0]),
        keys(&s["$defs"]["key"]["properties"])
    );
}

#[test]
fn the_schema_refuses_unknown_fields_like_the_loader() {
    let s = schema();
    assert_eq!(s["additionalProperties"], false);
    assert_eq!(s["$defs"]["route"]["additionalProperties"], false);
    assert_eq!(s["$defs"]["key"]["additionalProperties"], false);
}

#[test]
fn the_example_names_the_schema_for_editors() {
    let example = std::fs::read_to_string(data("../../../../examples/routes.yaml")).unwrap();
    assert!(example.starts_with("# yaml-language-server: $schema=./routes.schema.json\n"));
}
