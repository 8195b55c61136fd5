//! One route entry: each field read and checked, every problem located at
//! `routes[i] (id, path) field`.

use std::borrow::Cow;
use std::time::Duration;

use serde_yaml::{Mapping, Value};

use crate::fields::{RouteField, ROUTE_FIELDS};
use crate::id::StableId;
use crate::id::MAX_ID_CHARS;
use crate::method::{Method, MethodSet};
use crate::model::{ForwardedHeaders, Route, DEFAULT_TIMEOUT, MAX_TIMEOUT_SECS, MIN_TIMEOUT_SECS};
use crate::path::check_route_path;
use crate::problem::{Location, Problem, ProblemKind};
use crate::redact::redact_target;
use crate::target::Target;

use super::route_maps::{parse_headers, parse_query_params};
use super::yaml::{check_field_name, scalar_text, show, type_name};
use super::{key_header_name, parse_cors};

/// LiteLLM fields passthru knowingly does not implement: an error in a file (the operator should
/// know the setting has no effect); a database source drops them before validation.
pub const LITELLM_ONLY_FIELDS: &[&str] = &[
    "cost_per_request",
    "guardrails",
    "is_from_config",
    "merge_query_params",
];
/// In `headers`, LiteLLM's name for "the client's key arrives in this header" (at the route's
/// exact path): an instruction to the proxy, never sent upstream.
pub const KEY_HEADER_FIELD: &str = "litellm_user_api_key";

/// Collects the problems of one route, each at `routes[index] (id, path) field`.
pub(super) struct RouteProblems<'f> {
    index: usize,
    /// Borrowed from the entry: copied only into a problem's location.
    id: Option<Cow<'f, str>>,
    path: Option<&'f str>,
    problems: Vec<Problem>,
}

impl RouteProblems<'_> {
    fn at(&self, field: &str) -> Location {
        Location::Route {
            index: self.index,
            id: self.id.as_deref().map(str::to_owned),
            path: self.path.map(str::to_owned),
            field: Some(field.to_owned()),
        }
    }

    pub(super) fn push(&mut self, kind: ProblemKind, field: &str, message: impl Into<String>) {
        let location = self.at(field);
        self.problems.push(Problem::new(kind, location, message));
    }

    pub(super) fn wrong_type(&mut self, field: &str, expected: &str, found: &Value) {
        self.push(
            ProblemKind::WrongType,
            field,
            format!("must be {expected}, found {}", type_name(found)),
        );
    }
}

/// One route entry's values by field, gathered in one pass over its keys: no map to build and
/// hash into, which was a third of reading a large table. Keys that are not route fields are
/// kept, in order, for the unknown-field check. The streaming reader's values are its own; a
/// mapping's are borrowed.
#[derive(Default)]
pub(super) struct RouteFields<'v> {
    values: [Option<Cow<'v, Value>>; ROUTE_FIELDS.len()],
    others: Vec<Cow<'v, Value>>,
}

impl<'v> RouteFields<'v> {
    fn from_mapping(map: &'v Mapping) -> RouteFields<'v> {
        let mut fields = RouteFields::default();
        for (key, value) in map {
            // A mapping holds no key twice.
            fields.put(Cow::Borrowed(key), Cow::Borrowed(value));
        }
        fields
    }

    /// Adds one key and its value; false when the entry already has that key.
    pub(super) fn put(&mut self, key: Cow<'v, Value>, value: Cow<'v, Value>) -> bool {
        match key.as_str().and_then(slot) {
            Some(slot) => self.put_field(slot, value),
            None if self.others.contains(&key) => false,
            None => {
                self.others.push(key);
                true
            }
        }
    }

    /// Adds the value of the route field `ROUTE_FIELDS[slot]`; false when the entry has it.
    pub(super) fn put_field(&mut self, slot: usize, value: Cow<'v, Value>) -> bool {
        if self.values[slot].is_some() {
            return false;
        }
        self.values[slot] = Some(value);
        true
    }

    pub(super) fn get(&self, name: &str) -> Option<&Value> {
        self.values[slot(name).expect("a route field")].as_deref()
    }
}

/// The place of the route field `name` in [`ROUTE_FIELDS`]. Compared byte by byte: names are
/// short, and a call to `memcmp` for each candidate of the same length cost more than the loop.
pub(super) fn slot(name: &str) -> Option<usize> {
    ROUTE_FIELDS.iter().position(|field| {
        field.len() == name.len() && field.bytes().zip(name.bytes()).all(|(a, b)| a == b)
    })
}

impl Route {
    /// Validates one route given as a YAML (or converted JSON) value; `index` is its place in the
    /// source, used in problem locations. An absent or null `id` is derived from path and methods.
    pub fn from_value(index: usize, value: &Value) -> Result<Route, Vec<Problem>> {
        let Value::Mapping(map) = value else {
            return Err(vec![Problem::new(
                ProblemKind::WrongType,
                Location::Route {
                    index,
                    id: None,
                    path: None,
                    field: None,
                },
                format!(
                    "each route must be a mapping with `path` and `target`, found {}",
                    type_name(value)
                ),
            )]);
        };
        Route::from_fields(index, &RouteFields::from_mapping(map))
    }

    /// [`Route::from_value`] of an entry whose keys the caller has already gathered.
    pub(super) fn from_fields(index: usize, fields: &RouteFields) -> Result<Route, Vec<Problem>> {
        let mut rp = RouteProblems {
            index,
            id: None,
            path: None,
            problems: Vec::new(),
        };
        rp.path = fields.get("path").and_then(Value::as_str);
        let methods = parse_methods(fields, &mut rp);
        // Read leniently here, for the derived id only; `parse_flag` below reports a bad value.
        let subpath = fields.get("include_subpath") == Some(&Value::Bool(true));
        let explicit_id = fields.get("id").filter(|v| !v.is_null());
        rp.id = match explicit_id {
            Some(v) => scalar_text(v),
            None => match (rp.path, methods) {
                (Some(path), Some(methods)) if check_route_path(path).is_ok() => Some(Cow::Owned(
                    StableId::derive(path, methods, subpath).to_string(),
                )),
                _ => None,
            },
        };
        for key in &fields.others {
            let at = |f: &str| rp.at(f);
            let mut found = Vec::new();
            check_field_name(key, ROUTE_FIELDS, LITELLM_ONLY_FIELDS, &mut found, at);
            rp.problems.append(&mut found);
        }

        let id = explicit_id.and_then(|v| parse_id(v, &mut rp));
        let path = parse_path(fields, &mut rp);
        let target = parse_target(fields, &mut rp);
        let include_subpath = parse_flag(fields, "include_subpath", &mut rp);
        let forward_headers = parse_flag(fields, "forward_headers", &mut rp);
        let forwarded_headers = parse_forwarded_headers(fields, &mut rp);
        let auth = parse_flag(fields, "auth", &mut rp);
        let mut headers = parse_headers(fields, &mut rp);
        let key_header = headers.remove(KEY_HEADER_FIELD).and_then(|name| {
            key_header_name(name.as_str())
                .map_err(|why| {
                    rp.push(
                        ProblemKind::BadHeader,
                        &format!("headers.{KEY_HEADER_FIELD}"),
                        why,
                    )
                })
                .ok()
        });
        let langfuse_auth = parse_custom_auth_parser(fields, &mut rp);
        let cors = parse_cors(fields.get("cors"), |field, why| {
            rp.push(ProblemKind::BadCors, field, why)
        });
        let default_query_params = parse_query_params(fields, &mut rp);
        let timeout = parse_timeout(fields, &mut rp);

        if !rp.problems.is_empty() {
            return Err(rp.problems);
        }
        let (Some(path), Some(target), Some(methods)) = (path, target, methods) else {
            unreachable!("a missing field is always reported")
        };
        Ok(Route {
            id: id.unwrap_or_else(|| StableId::derive(&path, methods, include_subpath)),
            path,
            target,
            include_subpath,
            methods,
            headers,
            forward_headers,
            forwarded_headers,
            default_query_params,
            timeout,
            auth,
            key_header,
            langfuse_auth,
            cors: cors.map(Box::new),
        })
    }
}

/// An explicit id: kept as written when usable.
fn parse_id(value: &Value, rp: &mut RouteProblems) -> Option<StableId> {
    match scalar_text(value) {
        Some(id) if is_valid_id(&id) => Some(StableId::explicit(id.into_owned())),
        Some(id) => {
            rp.push(
                ProblemKind::BadId,
                "id",
                format!("{id:?} is not a usable id: 1 to {MAX_ID_CHARS} characters, no spaces or control characters; or leave it out to derive one"),
            );
            None
        }
        None => {
            rp.wrong_type("id", "a string", value);
            None
        }
    }
}

fn parse_path(fields: &RouteFields, rp: &mut RouteProblems) -> Option<String> {
    match fields.get("path") {
        None | Some(Value::Null) => {
            rp.push(
                ProblemKind::MissingField,
                "path",
                "missing; every route needs a request path such as /my-service",
            );
            None
        }
        Some(Value::String(p)) => match check_route_path(p) {
            Ok(()) => Some(p.clone()),
            Err(why) => {
                rp.push(ProblemKind::BadPath, "path", format!("{p:?} {why}"));
                None
            }
        },
        Some(other) => {
            rp.wrong_type("path", "a string", other);
            None
        }
    }
}

fn parse_target(fields: &RouteFields, rp: &mut RouteProblems) -> Option<Target> {
    match fields.get("target") {
        None | Some(Value::Null) => {
            rp.push(
                ProblemKind::MissingField,
                "target",
                "missing; every route needs an upstream URL such as https://api.example.com",
            );
            None
        }
        Some(Value::String(t)) => match Target::parse(t) {
            Ok(target) => Some(target),
            Err(why) => {
                rp.push(
                    ProblemKind::BadTarget,
                    "target",
                    format!("{:?} {why}", redact_target(t)),
                );
                None
            }
        },
        Some(other) => {
            rp.wrong_type("target", "a string", other);
            None
        }
    }
}

/// `custom_auth_parser`: true for LiteLLM's `langfuse`, the only parser passthru implements.
fn parse_custom_auth_parser(fields: &RouteFields, rp: &mut RouteProblems) -> bool {
    match fields.get("custom_auth_parser") {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) if s == "langfuse" => true,
        Some(other) => {
            rp.push(
                ProblemKind::UnsupportedField,
                "custom_auth_parser",
                format!(
                    "{} is not a parser passthru implements; the only one is `langfuse` (LiteLLM's)",
                    show(other)
                ),
            );
            false
        }
    }
}

fn is_valid_id(id: &str) -> bool {
    (1..=MAX_ID_CHARS).contains(&id.chars().count())
        && !id.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// A true-or-false field; absent, null or wrong: the field's default.
fn parse_flag(fields: &RouteFields, field: &str, rp: &mut RouteProblems) -> bool {
    let default = RouteField::flag_default(field);
    match fields.get(field) {
        None | Some(Value::Null) => default,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            rp.wrong_type(field, "true or false", other);
            default
        }
    }
}

fn parse_forwarded_headers(
    fields: &RouteFields,
    rp: &mut RouteProblems,
) -> Option<ForwardedHeaders> {
    match fields.get("forwarded_headers") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if ForwardedHeaders::parse(s).is_some() => {
            ForwardedHeaders::parse(s)
        }
        Some(other) => {
            rp.wrong_type("forwarded_headers", "off, xff or forwarded", other);
            None
        }
    }
}

fn parse_methods(fields: &RouteFields, rp: &mut RouteProblems) -> Option<MethodSet> {
    let items = match fields.get("methods") {
        None | Some(Value::Null) => return Some(MethodSet::ANY),
        Some(Value::Sequence(items)) => items,
        Some(other) => {
            rp.wrong_type(
                "methods",
                "a list of HTTP methods such as [GET, POST]",
                other,
            );
            return None;
        }
    };
    let mut set = MethodSet::ANY;
    let mut ok = true;
    for item in items {
        match item.as_str().and_then(Method::parse) {
            Some(m) => set.insert(m),
            None => {
                ok = false;
                rp.push(
                    ProblemKind::BadMethod,
                    "methods",
                    format!(
                        "{} is not an HTTP method; use GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE or CONNECT",
                        show(item)
                    ),
                );
            }
        }
    }
    ok.then_some(set)
}

fn parse_timeout(fields: &RouteFields, rp: &mut RouteProblems) -> Duration {
    let secs = match fields.get("timeout") {
        None | Some(Value::Null) => return DEFAULT_TIMEOUT,
        Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
        Some(other) => {
            rp.wrong_type("timeout", "a number of seconds", other);
            return DEFAULT_TIMEOUT;
        }
    };
    if !(MIN_TIMEOUT_SECS..=MAX_TIMEOUT_SECS).contains(&secs) {
        rp.push(
            ProblemKind::BadTimeout,
            "timeout",
            format!("{secs} is not a number of seconds between {MIN_TIMEOUT_SECS} and {MAX_TIMEOUT_SECS}"),
        );
        return DEFAULT_TIMEOUT;
    }
    Duration::from_millis((secs * 1000.0).round() as u64)
}
