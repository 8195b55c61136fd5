//! The top level of a routes file: `version`, `routes`, `keys` and the file-wide settings.

use serde_yaml::Value;

use crate::grants::GrantsInterner;
use crate::model::Route;
use crate::problem::{Location, Problem, ProblemKind, Problems};
use crate::routes_file::RoutesFile;

use super::key_entry::key_from_value;
use super::yaml::{check_field_name, show, type_name};
use super::{key_header_name, one, parse_cors};

pub(crate) const TOP_FIELDS: &[&str] = &[
    "version",
    "routes",
    "keys",
    "litellm_key_header_name",
    "key_prefix",
    "cors",
];

pub(super) fn parse_document(doc: &Value) -> Result<RoutesFile, Problems> {
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
        Some(Value::String(name)) => match key_header_name(name) {
            Ok(name) => Some(name),
            Err(why) => {
                problems.push(Problem::new(
                    ProblemKind::BadHeader,
                    top("litellm_key_header_name"),
                    why,
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
    let cors = parse_cors(map.get("cors"), |field, why| {
        problems.push(Problem::new(ProblemKind::BadCors, top(field), why))
    });
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
