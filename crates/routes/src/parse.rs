//! Reading a routes file: every problem at once, each located, or a validated [`RoutesFile`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde_yaml::{Mapping, Value};

use crate::cors::Cors;
use crate::grants::{check_list as check_grant_list, Grants, GrantsInterner};
use crate::id::StableId;
use crate::method::{Method, MethodSet};
use crate::model::{
    ForwardedHeaders, HeaderTemplate, KeyHash, Route, RoutesFile, Target, DEFAULT_TIMEOUT,
    MAX_HEADERS_PER_ROUTE,
};
use crate::path::check_route_path;
use crate::positions::locate;
use crate::problem::{Location, Problem, ProblemKind, Problems};
use crate::redact::redact_target;

pub(crate) const TOP_FIELDS: &[&str] = &[
    "version",
    "routes",
    "keys",
    "litellm_key_header_name",
    "key_prefix",
    "cors",
];
/// The fields a route may carry, in canonical order.
pub const ROUTE_FIELDS: &[&str] = &[
    "id",
    "path",
    "target",
    "include_subpath",
    "methods",
    "headers",
    "forward_headers",
    "forwarded_headers",
    "default_query_params",
    "timeout",
    "auth",
    "custom_auth_parser",
    "cors",
];
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
pub(crate) const KEY_FIELDS: &[&str] = &["sha256", "expires", "admin", "allow", "deny", "only"];
/// Configured headers the proxy owns: framing, connection management and routing.
pub(crate) const RESERVED_HEADERS: &[&str] = &[
    "connection",
    "content-length",
    "host",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];
pub(crate) const MAX_TIMEOUT_SECS: f64 = 86_400.0;

impl RoutesFile {
    /// Parses and validates a routes file. Any problem rejects the whole file; all of them are
    /// reported. A file with no content is an error, distinct from `routes: []`.
    pub fn parse(bytes: &[u8]) -> Result<RoutesFile, Problems> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(one(
                ProblemKind::Empty,
                Location::Document { field: None },
                "the file is empty; an empty table is written `version: 1` and `routes: []`",
            ));
        }
        if let Err(e) = std::str::from_utf8(bytes) {
            let (line, column) = line_column(bytes, e.valid_up_to());
            return Err(one(
                ProblemKind::NotUtf8,
                Location::Text { line, column },
                "the file is not UTF-8 text",
            ));
        }
        if let Some((line, column)) = crate::nesting::too_deep(bytes) {
            return Err(one(
                ProblemKind::Syntax,
                Location::Text { line, column },
                format!(
                    "flow collections ([ and {{) nest deeper than {} levels; write the table out plainly",
                    crate::nesting::MAX_FLOW_DEPTH
                ),
            ));
        }
        let doc: Value = serde_yaml::from_slice(bytes).map_err(|e| {
            let location = match e.location() {
                Some(l) => Location::Text {
                    line: l.line(),
                    column: l.column(),
                },
                None => Location::Document { field: None },
            };
            let mut message = strip_location(&e.to_string());
            if message.contains("repetition limit") || message.contains("recursion limit") {
                message.push_str(
                    ": aliases or nesting expand too far (an alias bomb?); write the table out plainly",
                );
            }
            let mut problems = one(ProblemKind::Syntax, location, message);
            locate(std::str::from_utf8(bytes).unwrap_or_default(), &mut problems);
            problems
        })?;
        parse_document(&doc).map_err(|mut problems| {
            locate(
                std::str::from_utf8(bytes).unwrap_or_default(),
                &mut problems,
            );
            problems
        })
    }
}

fn one(kind: ProblemKind, location: Location, message: impl Into<String>) -> Problems {
    Problems(vec![Problem::new(kind, location, message)])
}

fn line_column(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = offset
        - before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1)
        + 1;
    (line, column)
}

/// serde_yaml appends " at line L column C"; the location is reported on its own.
fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

fn parse_document(doc: &Value) -> Result<RoutesFile, Problems> {
    let top = |field: &str| Location::Document {
        field: Some(field.into()),
    };
    let map = match doc {
        Value::Null => return Err(one(
            ProblemKind::Empty,
            Location::Document { field: None },
            "the file holds only comments; an empty table is written `version: 1` and `routes: []`",
        )),
        Value::Mapping(map) => map,
        other => {
            return Err(one(
                ProblemKind::WrongType,
                Location::Document { field: None },
                format!(
                    "the document must be a mapping with `version` and `routes`, found {}",
                    type_name(other)
                ),
            ))
        }
    };
    let mut problems = Vec::new();
    for key in map.keys() {
        check_field_name(key, TOP_FIELDS, &[], &mut problems, |f| top(f));
    }
    match map.get("version") {
        None => problems.push(Problem::new(
            ProblemKind::MissingField,
            top("version"),
            "missing; write `version: 1`",
        )),
        Some(v) if v.as_u64() == Some(1) => {}
        Some(v) => problems.push(Problem::new(
            ProblemKind::BadVersion,
            top("version"),
            format!(
                "must be 1, found {}; this passthru reads version 1 files",
                show(v)
            ),
        )),
    }
    let mut routes = Vec::new();
    let mut route_indices = Vec::new();
    match map.get("routes") {
        None => problems.push(Problem::new(
            ProblemKind::MissingField,
            top("routes"),
            "missing; an empty table is written `routes: []`",
        )),
        Some(Value::Sequence(items)) => {
            for (index, item) in items.iter().enumerate() {
                match Route::from_value(index, item) {
                    Ok(route) => {
                        routes.push(route);
                        route_indices.push(index);
                    }
                    Err(mut p) => problems.append(&mut p),
                }
            }
        }
        Some(other) => problems.push(Problem::new(
            ProblemKind::WrongType,
            top("routes"),
            format!("must be a list of routes, found {}", type_name(other)),
        )),
    }
    let mut keys = Vec::new();
    let mut key_indices = Vec::new();
    let mut interner = GrantsInterner::default();
    match map.get("keys") {
        None | Some(Value::Null) => {}
        Some(Value::Sequence(items)) => {
            for (index, item) in items.iter().enumerate() {
                match key_from_value(index, item, &mut interner) {
                    Ok(key) => {
                        keys.push(key);
                        key_indices.push(index);
                    }
                    Err(mut p) => problems.append(&mut p),
                }
            }
        }
        Some(other) => problems.push(Problem::new(
            ProblemKind::WrongType,
            top("keys"),
            format!("must be a list of key hashes, found {}", type_name(other)),
        )),
    }
    let key_header_name = match map.get("litellm_key_header_name") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => match http::HeaderName::from_bytes(name.as_bytes()) {
            Ok(h) => Some(h.as_str().to_owned()),
            Err(_) => {
                problems.push(Problem::new(
                    ProblemKind::BadHeader,
                    top("litellm_key_header_name"),
                    format!("{name:?} is not a valid header name"),
                ));
                None
            }
        },
        Some(other) => {
            problems.push(Problem::new(
                ProblemKind::WrongType,
                top("litellm_key_header_name"),
                format!("must be a header name, found {}", type_name(other)),
            ));
            None
        }
    };
    let key_prefix = match map.get("key_prefix") {
        None | Some(Value::Null) => None,
        Some(Value::String(prefix)) if !prefix.is_empty() && !prefix.contains(char::is_control) => {
            Some(prefix.clone())
        }
        Some(other) => {
            problems.push(Problem::new(
                ProblemKind::WrongType,
                top("key_prefix"),
                format!(
                    "must be a non-empty string such as sk-, found {}",
                    show(other)
                ),
            ));
            None
        }
    };
    let cors = match map.get("cors") {
        None | Some(Value::Null) => None,
        Some(value) => match Cors::from_value(value) {
            Ok(cors) => Some(cors),
            Err(found) => {
                for (field, why) in found {
                    let field = if field.is_empty() {
                        "cors".to_owned()
                    } else {
                        format!("cors.{field}")
                    };
                    problems.push(Problem::new(ProblemKind::BadCors, top(&field), why));
                }
                None
            }
        },
    };
    match RoutesFile::new_located(routes, keys, &|i| route_indices[i], &|i| key_indices[i]) {
        Ok(file) if problems.is_empty() => Ok(file
            .with_key_header_name(key_header_name)
            .with_key_prefix(key_prefix)
            .with_cors(cors)),
        Ok(_) => Err(Problems(problems)),
        Err(Problems(mut clashes)) => {
            problems.append(&mut clashes);
            Err(Problems(problems))
        }
    }
}

fn check_field_name(
    key: &Value,
    known: &[&str],
    unsupported: &[&str],
    problems: &mut Vec<Problem>,
    at: impl Fn(&str) -> Location,
) {
    let Some(name) = key.as_str() else {
        problems.push(Problem::new(
            ProblemKind::WrongType,
            at(&show(key)),
            "field names must be strings",
        ));
        return;
    };
    if known.contains(&name) {
        return;
    }
    if unsupported.contains(&name) {
        problems.push(Problem::new(
            ProblemKind::UnsupportedField,
            at(name),
            "is a LiteLLM setting passthru does not implement; remove it",
        ));
        return;
    }
    let hint = known
        .iter()
        .map(|k| (edit_distance(name, k), k))
        // A short name is "close" to too many others (`key` is two edits from `deny`).
        .filter(|(d, _)| *d <= 2 && *d * 3 <= name.len())
        .min()
        .map(|(_, k)| format!("; did you mean `{k}`?"))
        .unwrap_or_else(|| format!("; known fields: {}", known.join(", ")));
    problems.push(Problem::new(
        ProblemKind::UnknownField,
        at(name),
        format!("unknown field{hint}"),
    ));
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => type_name(other).to_owned(),
    }
}

/// Strings, numbers and booleans as the text they stand for (YAML reads `x-count: 5` as a number).
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Collects the problems of one route, each at `routes[index] (id, path) field`.
struct RouteProblems {
    index: usize,
    id: Option<String>,
    path: Option<String>,
    problems: Vec<Problem>,
}

impl RouteProblems {
    fn at(&self, field: &str) -> Location {
        Location::Route {
            index: self.index,
            id: self.id.clone(),
            path: self.path.clone(),
            field: Some(field.to_owned()),
        }
    }

    fn push(&mut self, kind: ProblemKind, field: &str, message: impl Into<String>) {
        let location = self.at(field);
        self.problems.push(Problem::new(kind, location, message));
    }

    fn wrong_type(&mut self, field: &str, expected: &str, found: &Value) {
        self.push(
            ProblemKind::WrongType,
            field,
            format!("must be {expected}, found {}", type_name(found)),
        );
    }
}

impl Route {
    /// Validates one route given as a YAML (or converted JSON) value; `index` is its place in the
    /// source, used in problem locations. An absent or null `id` is derived from path and methods.
    pub fn from_value(index: usize, value: &Value) -> Result<Route, Vec<Problem>> {
        let mut rp = RouteProblems {
            index,
            id: None,
            path: None,
            problems: Vec::new(),
        };
        let Value::Mapping(map) = value else {
            rp.problems.push(Problem::new(
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
            ));
            return Err(rp.problems);
        };
        rp.path = map.get("path").and_then(Value::as_str).map(str::to_owned);
        let methods = parse_methods(map, &mut rp);
        // Read leniently here, for the derived id only; `parse_bool` below reports a bad value.
        let subpath = map.get("include_subpath") == Some(&Value::Bool(true));
        let explicit_id = map.get("id").filter(|v| !v.is_null());
        rp.id = match explicit_id {
            Some(v) => scalar_text(v),
            None => match (&rp.path, methods) {
                (Some(path), Some(methods)) if check_route_path(path).is_ok() => {
                    Some(StableId::derive(path, methods, subpath).to_string())
                }
                _ => None,
            },
        };
        for key in map.keys() {
            let at = |f: &str| rp.at(f);
            let mut found = Vec::new();
            check_field_name(key, ROUTE_FIELDS, LITELLM_ONLY_FIELDS, &mut found, at);
            rp.problems.append(&mut found);
        }

        let id = explicit_id.and_then(|v| match scalar_text(v) {
        Some(id) if is_valid_id(&id) => Some(StableId::explicit(id)),
        Some(id) => {
            rp.push(
                ProblemKind::BadId,
                "id",
                format!("{id:?} is not a usable id: 1 to 200 characters, no spaces or control characters; or leave it out to derive one"),
            );
            None
        }
        None => {
            rp.wrong_type("id", "a string", v);
            None
        }
    });
        let path = match map.get("path") {
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
        };
        let target = match map.get("target") {
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
        };
        let include_subpath = parse_bool(map, "include_subpath", false, &mut rp);
        let forward_headers = parse_bool(map, "forward_headers", false, &mut rp);
        let forwarded_headers = parse_forwarded_headers(map, &mut rp);
        let auth = parse_bool(map, "auth", true, &mut rp);
        let mut headers = parse_headers(map, &mut rp);
        let key_header = headers.remove(KEY_HEADER_FIELD).and_then(|name| {
            parse_key_header(
                name.as_str(),
                &format!("headers.{KEY_HEADER_FIELD}"),
                &mut rp,
            )
        });
        let langfuse_auth = match map.get("custom_auth_parser") {
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
        };
        let cors = match map.get("cors") {
            None | Some(Value::Null) => None,
            Some(value) => match Cors::from_value(value) {
                Ok(cors) => Some(cors),
                Err(problems) => {
                    for (field, why) in problems {
                        let field = if field.is_empty() {
                            "cors".to_owned()
                        } else {
                            format!("cors.{field}")
                        };
                        rp.push(ProblemKind::BadCors, &field, why);
                    }
                    None
                }
            },
        };
        let default_query_params = parse_query_params(map, &mut rp);
        let timeout = parse_timeout(map, &mut rp);

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
            cors,
        })
    }
}

/// A header name as a key source: valid, lower-cased.
fn parse_key_header(name: &str, field: &str, rp: &mut RouteProblems) -> Option<String> {
    match http::HeaderName::from_bytes(name.as_bytes()) {
        Ok(h) => Some(h.as_str().to_owned()),
        Err(_) => {
            rp.push(
                ProblemKind::BadHeader,
                field,
                format!("{name:?} is not a valid header name"),
            );
            None
        }
    }
}

fn is_valid_id(id: &str) -> bool {
    (1..=200).contains(&id.chars().count())
        && !id.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn parse_bool(map: &Mapping, field: &str, default: bool, rp: &mut RouteProblems) -> bool {
    match map.get(field) {
        None | Some(Value::Null) => default,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            rp.wrong_type(field, "true or false", other);
            default
        }
    }
}

fn parse_forwarded_headers(map: &Mapping, rp: &mut RouteProblems) -> Option<ForwardedHeaders> {
    match map.get("forwarded_headers") {
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

fn parse_methods(map: &Mapping, rp: &mut RouteProblems) -> Option<MethodSet> {
    let items = match map.get("methods") {
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

fn parse_headers(map: &Mapping, rp: &mut RouteProblems) -> BTreeMap<String, HeaderTemplate> {
    let mut out = BTreeMap::new();
    let entries = match map.get("headers") {
        None | Some(Value::Null) => return out,
        Some(Value::Mapping(entries)) if entries.len() > MAX_HEADERS_PER_ROUTE => {
            rp.push(
                ProblemKind::BadHeader,
                "headers",
                format!(
                    "sets {} headers; at most {MAX_HEADERS_PER_ROUTE}",
                    entries.len()
                ),
            );
            return out;
        }
        Some(Value::Mapping(entries)) => entries,
        Some(other) => {
            rp.wrong_type("headers", "a mapping of header name to value", other);
            return out;
        }
    };
    for (name, value) in entries {
        let Some(name) = name.as_str() else {
            rp.push(
                ProblemKind::BadHeader,
                "headers",
                format!("header name {} must be a string", show(name)),
            );
            continue;
        };
        let field = format!("headers.{name}");
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            rp.push(
                ProblemKind::BadHeader,
                &field,
                format!("{name:?} is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)"),
            );
            continue;
        }
        let lower = name.to_ascii_lowercase();
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            rp.push(
                ProblemKind::BadHeader,
                &field,
                "is set by the proxy itself (framing, connection or Host) and cannot be configured",
            );
            continue;
        }
        let Some(text) = scalar_text(value) else {
            rp.wrong_type(&field, "a string", value);
            continue;
        };
        match HeaderTemplate::parse(&text) {
            Ok(template) => {
                if out.insert(lower, template).is_some() {
                    rp.push(
                        ProblemKind::BadHeader,
                        &field,
                        "is set twice (header names are case-insensitive)",
                    );
                }
            }
            Err(why) => rp.push(ProblemKind::BadHeader, &field, format!("value {why}")),
        }
    }
    out
}

fn parse_query_params(map: &Mapping, rp: &mut RouteProblems) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let entries = match map.get("default_query_params") {
        None | Some(Value::Null) => return out,
        Some(Value::Mapping(entries)) => entries,
        Some(other) => {
            rp.wrong_type(
                "default_query_params",
                "a mapping of parameter name to value",
                other,
            );
            return out;
        }
    };
    for (name, value) in entries {
        let (Some(name), Some(value)) = (scalar_text(name), scalar_text(value)) else {
            rp.push(
                ProblemKind::BadQueryParam,
                "default_query_params",
                format!(
                    "{}: {} must be a name and a string value",
                    show(name),
                    show(value)
                ),
            );
            continue;
        };
        if name.is_empty() || name.chars().chain(value.chars()).any(char::is_control) {
            rp.push(
                ProblemKind::BadQueryParam,
                &format!("default_query_params.{name}"),
                "names must be non-empty, and names and values free of control characters",
            );
            continue;
        }
        out.insert(name, value);
    }
    out
}

fn parse_timeout(map: &Mapping, rp: &mut RouteProblems) -> Duration {
    let secs = match map.get("timeout") {
        None | Some(Value::Null) => return DEFAULT_TIMEOUT,
        Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
        Some(other) => {
            rp.wrong_type("timeout", "a number of seconds", other);
            return DEFAULT_TIMEOUT;
        }
    };
    if !(0.001..=MAX_TIMEOUT_SECS).contains(&secs) {
        rp.push(
            ProblemKind::BadTimeout,
            "timeout",
            format!("{secs} is not a number of seconds between 0.001 and {MAX_TIMEOUT_SECS}"),
        );
        return DEFAULT_TIMEOUT;
    }
    Duration::from_millis((secs * 1000.0).round() as u64)
}

fn key_from_value(
    index: usize,
    value: &Value,
    interner: &mut GrantsInterner,
) -> Result<KeyHash, Vec<Problem>> {
    let at = |field: Option<&str>| Location::Key {
        index,
        field: field.map(str::to_owned),
    };
    let Value::Mapping(map) = value else {
        return Err(vec![Problem::new(
            ProblemKind::WrongType,
            at(None),
            format!(
                "each key must be a mapping with `sha256` (and optionally `expires`, `admin`, `allow`, `deny`, `only`), found {}",
                type_name(value)
            ),
        )]);
    };
    let mut problems = Vec::new();
    for key in map.keys() {
        check_field_name(key, KEY_FIELDS, &[], &mut problems, |f| at(Some(f)));
    }
    let sha256 = match map.get("sha256") {
        None | Some(Value::Null) => {
            problems.push(Problem::new(
                ProblemKind::MissingField,
                at(Some("sha256")),
                "missing; the sha256 of the API key as 64 hex digits",
            ));
            None
        }
        Some(Value::String(hex)) => KeyHash::parse_hex(hex)
            .map_err(|why| {
                problems.push(Problem::new(
                    ProblemKind::BadKeyHash,
                    at(Some("sha256")),
                    why,
                ))
            })
            .ok(),
        Some(other) => {
            problems.push(Problem::new(
                ProblemKind::BadKeyHash,
                at(Some("sha256")),
                format!(
                    "must be a string of 64 hex digits, found {}",
                    type_name(other)
                ),
            ));
            None
        }
    };
    let expires = match map.get("expires") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => match humantime::parse_rfc3339_weak(text) {
            Ok(t) => Some(t),
            Err(e) => {
                problems.push(Problem::new(
                    ProblemKind::BadExpiry,
                    at(Some("expires")),
                    format!("{text:?} is not a UTC timestamp like 2027-01-31T00:00:00Z ({e})"),
                ));
                None
            }
        },
        Some(other) => {
            problems.push(Problem::new(
                ProblemKind::BadExpiry,
                at(Some("expires")),
                format!(
                    "must be a UTC timestamp like 2027-01-31T00:00:00Z, found {}",
                    type_name(other)
                ),
            ));
            None
        }
    };
    let admin = match map.get("admin") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            problems.push(Problem::new(
                ProblemKind::WrongType,
                at(Some("admin")),
                format!("must be true or false, found {}", type_name(other)),
            ));
            false
        }
    };
    let mut grant_list = |field: &str| -> Option<Vec<String>> {
        let items = match map.get(field)? {
            Value::Null => return None,
            Value::Sequence(items) => items,
            other => {
                problems.push(Problem::new(
                    ProblemKind::WrongType,
                    at(Some(field)),
                    format!(
                        "must be a list of request paths such as [/cohere], found {}",
                        type_name(other)
                    ),
                ));
                return None;
            }
        };
        let mut list = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) => list.push(s.clone()),
                other => problems.push(Problem::new(
                    ProblemKind::WrongType,
                    at(Some(field)),
                    format!("entry {i} must be a string, found {}", type_name(other)),
                )),
            }
        }
        if let Err(why) = check_grant_list(&list) {
            problems.push(Problem::new(ProblemKind::BadGrant, at(Some(field)), why));
        }
        Some(list)
    };
    let allow = grant_list("allow");
    let deny = grant_list("deny").unwrap_or_default();
    let only = grant_list("only");
    match sha256 {
        Some(sha256) if problems.is_empty() => {
            let grants = Grants {
                admin,
                allow,
                deny,
                only,
            };
            Ok(KeyHash::new(sha256, expires).with_grants(grants, interner))
        }
        _ => Err(problems),
    }
}
