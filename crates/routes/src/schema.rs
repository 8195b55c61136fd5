//! A JSON Schema for routes.yaml, so editors validate and complete while an operator hand-edits.
//! Built from the same field lists and limits the loader enforces; the loader stays the authority
//! (the schema cannot express every rule, e.g. conflicts between routes).

use serde_json::{json, Map, Value};

use crate::cors::{CORS_FIELDS, DEFAULT_CORS_MAX_AGE, MAX_CORS_MAX_AGE};
use crate::fields::{FieldKind, RouteField, ROUTE_FIELDS};
use crate::grants::{MAX_GRANT_ENTRIES, MAX_GRANT_ENTRY_BYTES};
use crate::header::{MAX_HEADERS_PER_ROUTE, MAX_HEADER_VALUE_BYTES};
use crate::id::MAX_ID_CHARS;
use crate::method::Method;
use crate::parse::{KEY_FIELDS, RESERVED_HEADERS, TOP_FIELDS};

/// A route field's schema: what its kind allows, described by its help.
fn route_property(name: &str) -> Value {
    let field = RouteField::named(name).expect("a route field");
    let help = field.help;
    match field.kind {
        FieldKind::Id => json!({
            "description": help,
            "type": ["string", "null"], "minLength": 1, "maxLength": MAX_ID_CHARS, "pattern": "^\\S+$"
        }),
        FieldKind::Text { pattern } => json!({
            "description": help,
            "type": "string", "pattern": pattern
        }),
        FieldKind::Flag { default } => json!({
            "description": help,
            "type": ["boolean", "null"], "default": default
        }),
        FieldKind::OneOf(words) => {
            let mut choices: Vec<Value> = words.iter().map(|&w| w.into()).collect();
            choices.push(Value::Null);
            json!({ "description": help, "enum": choices })
        }
        FieldKind::Seconds { default, min, max } => json!({
            "description": help,
            "type": ["number", "null"], "minimum": min, "maximum": max, "default": default.as_secs()
        }),
        FieldKind::Methods => json!({
            "description": help,
            "type": ["array", "null"],
            "items": { "type": "string", "enum": Method::ALL.iter().flat_map(|m| [m.as_str().to_owned(), m.as_str().to_ascii_lowercase()]).collect::<Vec<_>>() }
        }),
        FieldKind::Headers => json!({
            "description": help,
            "type": ["object", "null"],
            "maxProperties": MAX_HEADERS_PER_ROUTE,
            "propertyNames": {
                "pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
                // Header names are case-insensitive: `Host` is as reserved as `host`.
                "not": { "pattern": any_case(RESERVED_HEADERS) }
            },
            "additionalProperties": { "type": ["string", "number", "boolean"], "pattern": "^[^\\r\\n]*$", "maxLength": MAX_HEADER_VALUE_BYTES }
        }),
        FieldKind::QueryParams => json!({
            "description": help,
            "type": ["object", "null"],
            "additionalProperties": { "type": ["string", "number", "boolean"] }
        }),
        // The policy's own definition describes it; a reference stands alone.
        FieldKind::Cors => json!({ "$ref": "#/$defs/cors" }),
    }
}

fn key_property(field: &str) -> Value {
    match field {
        "sha256" => json!({
            "description": "sha256 of the API key as 64 hex digits.",
            "type": "string", "pattern": "^[0-9a-fA-F]{64}$"
        }),
        "expires" => json!({
            "description": "UTC timestamp from which the key is refused.",
            "type": ["string", "null"], "format": "date-time"
        }),
        "admin" => json!({
            "description": "true: every auth: true route, whatever allow and deny say (LiteLLM's master key and proxy_admin users).",
            "type": ["boolean", "null"]
        }),
        "allow" => grant_list(
            "Absent: every auth: true route. Otherwise only routes whose request path is an entry or lies below one at a '/' (LiteLLM's allowed_passthrough_routes); [] allows none.",
        ),
        "deny" => grant_list(
            "Checked before allow: an entry refuses its path and everything below it; a trailing '*' refuses every path starting with what precedes it; '/' refuses all (LiteLLM's denied_passthrough_routes).",
        ),
        "only" => grant_list(
            "Absent: no limit. Otherwise, admin or not, only paths an entry matches: the path, below it at a '/', or with a trailing '*' any path starting with what precedes it (LiteLLM's allowed_routes column).",
        ),
        other => unreachable!("the schema describes every key field; add {other}"),
    }
}

fn cors_property(field: &str) -> Value {
    let strings = |description: &str| json!({ "description": description, "type": ["array", "null"], "items": { "type": "string" } });
    match field {
        "allow_origins" => {
            strings("`*`, or origins as browsers send them: https://app.example.com")
        }
        "allow_methods" => {
            strings("`*` (default: every method the route serves), or method names.")
        }
        "allow_headers" => strings("`*` (whatever the browser asks for), or request header names."),
        "allow_credentials" => json!({
            "description": "Cookies and credentials may be sent; never with `*` origins.",
            "type": ["boolean", "null"], "default": false
        }),
        "expose_headers" => strings("Response headers a page may read."),
        "max_age" => json!({
            "description": "Seconds a browser may cache a preflight answer.",
            "type": ["integer", "null"], "minimum": 0, "maximum": MAX_CORS_MAX_AGE,
            "default": DEFAULT_CORS_MAX_AGE
        }),
        other => unreachable!("the schema describes every cors field; add {other}"),
    }
}

/// An ECMA-262 pattern matching exactly one of `words`, in any letter case.
fn any_case(words: &[&str]) -> String {
    let alternatives: Vec<String> = words
        .iter()
        .map(|w| {
            w.chars()
                .map(|c| {
                    // Header names hold letters, digits and '-' (a literal outside classes).
                    if c.is_ascii_alphabetic() {
                        format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase())
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        })
        .collect();
    format!("^(?:{})$", alternatives.join("|"))
}

fn grant_list(description: &str) -> Value {
    json!({
        "description": description,
        "type": ["array", "null"],
        "maxItems": MAX_GRANT_ENTRIES,
        "items": { "type": "string", "maxLength": MAX_GRANT_ENTRY_BYTES }
    })
}

fn top_property(field: &str) -> Value {
    match field {
        "version" => json!({ "const": 1 }),
        "routes" => json!({ "type": "array", "items": { "$ref": "#/$defs/route" } }),
        "keys" => json!({ "type": ["array", "null"], "items": { "$ref": "#/$defs/key" } }),
        "cors" => json!({ "$ref": "#/$defs/cors" }),
        "key_prefix" => json!({
            "description": "Keys that do not start with this are refused unless their entry is admin (LiteLLM accepts only sk- virtual keys, and its master key).",
            "type": ["string", "null"], "minLength": 1
        }),
        "litellm_key_header_name" => json!({
            "description": "LiteLLM's general_settings.litellm_key_header_name: when a request carries this header, its `Bearer <key>` value is the key, ahead of every other key header.",
            "type": ["string", "null"]
        }),
        other => unreachable!("the schema describes every top-level field; add {other}"),
    }
}

fn object(fields: &[&str], describe: fn(&str) -> Value, required: &[&str]) -> Value {
    let properties: Map<String, Value> = fields
        .iter()
        .map(|f| (f.to_string(), describe(f)))
        .collect();
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false
    })
}

fn required_route_fields() -> Vec<&'static str> {
    let required = RouteField::ALL.iter().filter(|f| f.kind.is_required());
    required.map(|f| f.name).collect()
}

/// The JSON Schema (draft 2020-12) of a routes.yaml file, pretty-printed with a final newline.
pub fn json_schema() -> String {
    let mut schema = object(TOP_FIELDS, top_property, &["version", "routes"]);
    let extra = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://passthru.dev/schemas/routes-v1.json",
        "title": "passthru routes.yaml (version 1)",
        "$defs": {
            "route": object(ROUTE_FIELDS, route_property, &required_route_fields()),
            "key": object(KEY_FIELDS, key_property, &["sha256"]),
            "cors": object(CORS_FIELDS, cors_property, &["allow_origins"]),
        }
    });
    let map = schema.as_object_mut().expect("an object");
    for (k, v) in extra.as_object().expect("an object") {
        map.insert(k.clone(), v.clone());
    }
    let mut text = serde_json::to_string_pretty(&schema).expect("JSON values serialise");
    text.push('\n');
    text
}
