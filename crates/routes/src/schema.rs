//! A JSON Schema for routes.yaml, so editors validate and complete while an operator hand-edits.
//! Built from the same field lists and limits the loader enforces; the loader stays the authority
//! (the schema cannot express every rule, e.g. conflicts between routes).

use serde_json::{json, Map, Value};

use crate::cors::{CORS_FIELDS, DEFAULT_CORS_MAX_AGE, MAX_CORS_MAX_AGE};
use crate::grants::{MAX_GRANT_ENTRIES, MAX_GRANT_ENTRY_BYTES};
use crate::header::{MAX_HEADERS_PER_ROUTE, MAX_HEADER_VALUE_BYTES};
use crate::method::Method;
use crate::parse::{KEY_FIELDS, MAX_TIMEOUT_SECS, RESERVED_HEADERS, ROUTE_FIELDS, TOP_FIELDS};

fn route_property(field: &str) -> Value {
    match field {
        "id" => json!({
            "description": "Kept as written. Absent or null: derived as auto- + sha256(path, methods)[:16].",
            "type": ["string", "null"], "minLength": 1, "maxLength": 200, "pattern": "^\\S+$"
        }),
        "path" => json!({
            "description": "Request-path prefix in normal form: starts with '/', no '.'/'..' segments, no '//', no trailing '/' except the root.",
            "type": "string", "pattern": "^/([^/{}\\s?#\\\\]+(/[^/{}\\s?#\\\\]+)*)?$"
        }),
        "target" => json!({
            "description": "Absolute http(s) URL with a host; may carry a base path and a query.",
            "type": "string", "pattern": "^[hH][tT][tT][pP][sS]?://[^/@#\\s]+[^#\\s]*$"
        }),
        "include_subpath" => json!({
            "description": "false: the path exactly; true: the path and everything below it.",
            "type": ["boolean", "null"], "default": false
        }),
        "methods" => json!({
            "description": "HTTP methods the route answers; absent or empty: all but TRACE and CONNECT.",
            "type": ["array", "null"],
            "items": { "type": "string", "enum": Method::ALL.iter().flat_map(|m| [m.as_str().to_owned(), m.as_str().to_ascii_lowercase()]).collect::<Vec<_>>() }
        }),
        "headers" => json!({
            "description": "Added to every upstream request; a value may end in os.environ/NAME. The one exception is litellm_user_api_key, LiteLLM's name for the header a client's key arrives in at the route's exact path: read for auth, never sent.",
            "type": ["object", "null"],
            "maxProperties": MAX_HEADERS_PER_ROUTE,
            "propertyNames": {
                "pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
                // Header names are case-insensitive: `Host` is as reserved as `host`.
                "not": { "pattern": any_case(RESERVED_HEADERS) }
            },
            "additionalProperties": { "type": ["string", "number", "boolean"], "pattern": "^[^\\r\\n]*$", "maxLength": MAX_HEADER_VALUE_BYTES }
        }),
        "forward_headers" => json!({
            "description": "true: also forward the client's end-to-end headers.",
            "type": ["boolean", "null"], "default": false
        }),
        "forwarded_headers" => json!({
            "description": "How the proxy tells the upstream the client's address: off (nothing added), xff (X-Forwarded-For/-Proto/-Host), forwarded (RFC 7239 Forwarded). Absent or null: the proxy's --forwarded-headers (off by default).",
            "enum": ["off", "xff", "forwarded", null]
        }),
        "default_query_params" => json!({
            "description": "Lowest-precedence query parameters: defaults < target URL query < client query.",
            "type": ["object", "null"],
            "additionalProperties": { "type": ["string", "number", "boolean"] }
        }),
        "timeout" => json!({
            "description": "Upstream timeout in seconds.",
            "type": ["number", "null"], "minimum": 0.001, "maximum": MAX_TIMEOUT_SECS, "default": 600
        }),
        "auth" => json!({
            "description": "true: callers must present an API key whose sha256 is under keys.",
            "type": ["boolean", "null"], "default": true
        }),
        "cors" => json!({ "$ref": "#/$defs/cors" }),
        "custom_auth_parser" => json!({
            "description": "langfuse: at the route's exact path the key is the user part of Authorization: Basic base64(key:secret), as in LiteLLM.",
            "enum": ["langfuse", null]
        }),
        other => unreachable!("the schema describes every route field; add {other}"),
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

/// The JSON Schema (draft 2020-12) of a routes.yaml file, pretty-printed with a final newline.
pub fn json_schema() -> String {
    let mut schema = object(TOP_FIELDS, top_property, &["version", "routes"]);
    let extra = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://passthru.dev/schemas/routes-v1.json",
        "title": "passthru routes.yaml (version 1)",
        "$defs": {
            "route": object(ROUTE_FIELDS, route_property, &["path", "target"]),
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
