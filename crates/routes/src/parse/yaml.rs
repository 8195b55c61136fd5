//! Reading YAML values: field-name checks with a hint, and values as messages quote them.

use std::borrow::Cow;

use serde_yaml::Value;

use crate::problem::{Location, Problem, ProblemKind};

pub(super) fn check_field_name(
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

pub(super) fn type_name(v: &Value) -> &'static str {
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

pub(super) fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => type_name(other).to_owned(),
    }
}

/// Strings, numbers and booleans as the text they stand for (YAML reads `x-count: 5` as a number).
pub(super) fn scalar_text(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Owned(b.to_string())),
        _ => None,
    }
}
