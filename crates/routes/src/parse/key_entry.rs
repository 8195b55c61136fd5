//! One entry of `keys`: a key hash, its expiry and its grants.

use serde_yaml::Value;

use crate::grants::{check_list as check_grant_list, Grants, GrantsInterner};
use crate::key::KeyHash;
use crate::problem::{Location, Problem, ProblemKind};

use super::yaml::{check_field_name, type_name};

pub(crate) const KEY_FIELDS: &[&str] = &["sha256", "expires", "admin", "allow", "deny", "only"];

pub(super) fn key_from_value(
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
