//! A route's mappings: the headers it adds upstream and its default query parameters.

use std::collections::BTreeMap;

use serde_yaml::Value;

use crate::header::{HeaderTemplate, MAX_HEADERS_PER_ROUTE};
use crate::problem::ProblemKind;

use super::route_entry::{RouteFields, RouteProblems};
use super::yaml::{scalar_text, show};

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

pub(super) fn parse_headers(
    fields: &RouteFields,
    rp: &mut RouteProblems,
) -> BTreeMap<String, HeaderTemplate> {
    let mut out = BTreeMap::new();
    let entries = match fields.get("headers") {
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
    for (name, value) in entries.iter() {
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

pub(super) fn parse_query_params(
    fields: &RouteFields,
    rp: &mut RouteProblems,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let entries = match fields.get("default_query_params") {
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
    for (name, value) in entries.iter() {
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
        out.insert(name.into_owned(), value.into_owned());
    }
    out
}
