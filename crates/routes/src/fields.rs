//! The fields of a route, described once: the name routes.yaml gives each, the kind of value it
//! holds (and so its default), what it means and how the canonical file writes it. The
//! unknown-field check, canonical rendering and the JSON Schema derive from this table, and
//! passthru-sync derives its native schema's column list from it; the parser
//! (`parse/route_entry.rs`) gives each field its meaning.
//!
//! Adding a field: an entry here, the member of [`Route`] and its check in the parser, and (for
//! a field the native schema stores) a migration in passthru-sync.

use std::time::Duration;

use serde_yaml::Value;

use crate::model::{Route, DEFAULT_TIMEOUT, MAX_TIMEOUT_SECS, MIN_TIMEOUT_SECS};
use crate::parse::KEY_HEADER_FIELD;
use crate::render::{cors_value, seconds_value, string_map};

/// One field of a route entry.
#[derive(Debug)]
pub struct RouteField {
    /// The key in routes.yaml (and the column name in passthru-sync's native schema).
    pub name: &'static str,
    pub kind: FieldKind,
    /// What the field means: the JSON Schema's description.
    pub help: &'static str,
    /// The field's value as the canonical file writes it; `None`: left out.
    pub(crate) render: fn(&Route) -> Option<Value>,
}

/// What a field holds: enough for the JSON Schema and for a database column to describe it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldKind {
    /// A string kept as written; absent or null: derived from the path and methods.
    Id,
    /// A required string, roughly `pattern` (the loader's checks are stricter).
    Text { pattern: &'static str },
    /// true or false; absent or null: `default`.
    Flag { default: bool },
    /// One of `words`; absent or null: not set.
    OneOf(&'static [&'static str]),
    /// A number of seconds from `min` to `max`; absent or null: `default`.
    Seconds {
        default: Duration,
        min: f64,
        max: f64,
    },
    /// A list of HTTP methods.
    Methods,
    /// A mapping of header names to values.
    Headers,
    /// A mapping of query parameter names to values.
    QueryParams,
    /// A CORS policy (the mapping the file's top-level `cors` takes too).
    Cors,
}

/// The JSON type of a field's value: what a database column holding the field must store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    String,
    Boolean,
    Number,
    /// A list or a mapping (JSON text in a database column).
    Structure,
}

impl FieldKind {
    pub fn value_type(self) -> ValueType {
        match self {
            FieldKind::Id | FieldKind::Text { .. } | FieldKind::OneOf(_) => ValueType::String,
            FieldKind::Flag { .. } => ValueType::Boolean,
            FieldKind::Seconds { .. } => ValueType::Number,
            FieldKind::Methods | FieldKind::Headers | FieldKind::QueryParams | FieldKind::Cors => {
                ValueType::Structure
            }
        }
    }

    /// A route without the field is refused.
    pub fn is_required(self) -> bool {
        matches!(self, FieldKind::Text { .. })
    }
}

impl RouteField {
    /// Every route field, in canonical order.
    pub const ALL: &'static [RouteField] = &[
        RouteField {
            name: "id",
            kind: FieldKind::Id,
            help: "Kept as written. Absent or null: derived as auto- + sha256(path, methods)[:16].",
            render: |r| Some(r.id.as_str().into()),
        },
        RouteField {
            name: "path",
            kind: FieldKind::Text {
                pattern: "^/([^/{}\\s?#\\\\]+(/[^/{}\\s?#\\\\]+)*)?$",
            },
            help: "Request-path prefix in normal form: starts with '/', no '.'/'..' segments, no '//', no trailing '/' except the root.",
            render: |r| Some(r.path.as_str().into()),
        },
        RouteField {
            name: "target",
            kind: FieldKind::Text {
                pattern: "^[hH][tT][tT][pP][sS]?://[^/@#\\s]+[^#\\s]*$",
            },
            help: "Absolute http(s) URL with a host; may carry a base path and a query.",
            render: |r| Some(r.target.as_str().into()),
        },
        RouteField {
            name: "include_subpath",
            kind: FieldKind::Flag { default: false },
            help: "false: the path exactly; true: the path and everything below it.",
            render: |r| Some(r.include_subpath.into()),
        },
        RouteField {
            name: "methods",
            kind: FieldKind::Methods,
            help: "HTTP methods the route answers; absent or empty: all but TRACE and CONNECT.",
            render: |r| Some(r.methods.iter().map(|m| m.as_str()).collect()),
        },
        RouteField {
            name: "headers",
            kind: FieldKind::Headers,
            help: "Added to every upstream request; a value may end in os.environ/NAME. The one exception is litellm_user_api_key, LiteLLM's name for the header a client's key arrives in at the route's exact path: read for auth, never sent.",
            render: |r| {
                let configured = r.headers.iter().map(|(k, v)| (k.as_str(), v.as_str()));
                let key_header = r.key_header.as_deref().map(|h| (KEY_HEADER_FIELD, h));
                Some(string_map(configured.chain(key_header)))
            },
        },
        RouteField {
            name: "forward_headers",
            kind: FieldKind::Flag { default: false },
            help: "true: also forward the client's end-to-end headers.",
            render: |r| Some(r.forward_headers.into()),
        },
        RouteField {
            name: "forwarded_headers",
            kind: FieldKind::OneOf(&["off", "xff", "forwarded"]),
            help: "How the proxy tells the upstream the client's address: off (nothing added), xff (X-Forwarded-For/-Proto/-Host), forwarded (RFC 7239 Forwarded). Absent or null: the proxy's --forwarded-headers (off by default).",
            // Written only when set: files without it keep their canonical bytes.
            render: |r| r.forwarded_headers.map(|m| m.as_str().into()),
        },
        RouteField {
            name: "default_query_params",
            kind: FieldKind::QueryParams,
            help: "Lowest-precedence query parameters: defaults < target URL query < client query.",
            render: |r| {
                let params = r.default_query_params.iter();
                Some(string_map(params.map(|(k, v)| (k.as_str(), v.as_str()))))
            },
        },
        RouteField {
            name: "timeout",
            kind: FieldKind::Seconds {
                default: DEFAULT_TIMEOUT,
                min: MIN_TIMEOUT_SECS,
                max: MAX_TIMEOUT_SECS,
            },
            help: "Upstream timeout in seconds.",
            render: |r| Some(seconds_value(r.timeout)),
        },
        RouteField {
            name: "auth",
            kind: FieldKind::Flag { default: true },
            help: "true: callers must present an API key whose sha256 is under keys.",
            render: |r| Some(r.auth.into()),
        },
        RouteField {
            name: "custom_auth_parser",
            kind: FieldKind::OneOf(&["langfuse"]),
            help: "langfuse: at the route's exact path the key is the user part of Authorization: Basic base64(key:secret), as in LiteLLM.",
            render: |r| r.langfuse_auth.then(|| "langfuse".into()),
        },
        RouteField {
            name: "cors",
            kind: FieldKind::Cors,
            help: "This route's CORS policy, instead of the file's.",
            render: |r| r.cors.as_deref().map(cors_value),
        },
    ];

    /// The field called `name`.
    pub fn named(name: &str) -> Option<&'static RouteField> {
        RouteField::ALL.iter().find(|f| f.name == name)
    }

    /// The default of a true-or-false field.
    pub(crate) fn flag_default(name: &str) -> bool {
        match RouteField::named(name).map(|f| f.kind) {
            Some(FieldKind::Flag { default }) => default,
            _ => unreachable!("{name} is not a true-or-false route field"),
        }
    }
}

/// The names of the fields a route may carry, in canonical order.
pub const ROUTE_FIELDS: &[&str] = &field_names();

const fn field_names() -> [&'static str; RouteField::ALL.len()] {
    let mut names = [""; RouteField::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = RouteField::ALL[i].name;
        i += 1;
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ForwardedHeaders;
    use crate::problem::{Location, Problem};

    fn route_with(fields: &[(&str, &str)]) -> Result<Route, Vec<Problem>> {
        let mut map: serde_yaml::Mapping =
            serde_yaml::from_str("{path: /a, target: 'http://u'}").unwrap();
        for (name, yaml) in fields {
            map.insert((*name).into(), serde_yaml::from_str(yaml).unwrap());
        }
        Route::from_value(0, &Value::Mapping(map))
    }

    /// A field in the table that the parser does not read would be accepted and then ignored.
    #[test]
    fn the_parser_reads_every_field_in_the_table() {
        for field in RouteField::ALL {
            let wrong = match field.kind.value_type() {
                ValueType::Structure => "7",
                _ => "{x: 1}",
            };
            let problems = route_with(&[(field.name, wrong)]).expect_err(field.name);
            let at_field = |p: &Problem| match &p.location {
                Location::Route { field: Some(f), .. } => f == field.name,
                _ => false,
            };
            assert!(
                problems.iter().any(at_field),
                "{}: {problems:?}",
                field.name
            );
        }
    }

    #[test]
    fn each_field_renders_the_type_its_kind_says() {
        let full = route_with(&[
            ("id", "x"),
            ("include_subpath", "true"),
            ("methods", "[GET]"),
            ("headers", "{a: b}"),
            ("forward_headers", "true"),
            ("forwarded_headers", "xff"),
            ("default_query_params", "{q: v}"),
            ("timeout", "1.5"),
            ("auth", "false"),
            ("custom_auth_parser", "langfuse"),
            ("cors", "{allow_origins: ['*']}"),
        ])
        .unwrap();
        for field in RouteField::ALL {
            let value = (field.render)(&full).expect(field.name);
            let found = match value {
                Value::String(_) => ValueType::String,
                Value::Bool(_) => ValueType::Boolean,
                Value::Number(_) => ValueType::Number,
                _ => ValueType::Structure,
            };
            assert_eq!(found, field.kind.value_type(), "{}", field.name);
        }
    }

    #[test]
    fn the_forwarded_headers_words_are_the_models() {
        let Some(FieldKind::OneOf(words)) = RouteField::named("forwarded_headers").map(|f| f.kind)
        else {
            panic!("forwarded_headers is one of a few words");
        };
        let modes = ForwardedHeaders::ALL.map(ForwardedHeaders::as_str);
        assert_eq!(words, modes);
    }
}
