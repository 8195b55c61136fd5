//! LiteLLM's endpoint rows read tolerantly: a field passthru does not implement is dropped,
//! silently when it holds null or LiteLLM's default and with a report otherwise; `guardrails`
//! make the route unservable.

use serde_json::Value;

use crate::source::a_json_type;

/// An entry read tolerantly: LiteLLM writes every field of its model into each row, and later
/// releases add fields, so a field passthru does not implement must not make a route vanish.
#[derive(Debug, PartialEq)]
pub struct Tolerated {
    /// The entry with only the fields passthru implements.
    pub entry: Value,
    /// Fields dropped although they held something other than null or LiteLLM's default.
    pub ignored: Vec<String>,
    /// Why the route must not be served at all (a protection passthru cannot give).
    pub unenforceable: Option<String>,
}

/// LiteLLM fields that carry no behaviour passthru would have to give (`is_from_config` says
/// where the row came from).
const BOOKKEEPING_FIELDS: &[&str] = &["is_from_config"];

/// Reads a LiteLLM entry the way a newer LiteLLM may have written it.
pub fn tolerate(mut entry: Value) -> Tolerated {
    let mut ignored = Vec::new();
    let mut unenforceable = None;
    if let Value::Object(map) = &mut entry {
        let unknown: Vec<String> = map
            .keys()
            .filter(|k| !passthru_routes::ROUTE_FIELDS.contains(&k.as_str()))
            .cloned()
            .collect();
        for field in unknown {
            let value = map.remove(&field).unwrap_or(Value::Null);
            if is_litellm_default(&field, &value) || BOOKKEEPING_FIELDS.contains(&field.as_str()) {
                continue;
            }
            if field == "guardrails" {
                unenforceable = Some(
                    "sets `guardrails`, which passthru cannot enforce; the route is not served \
                     rather than served without them"
                        .to_owned(),
                );
                continue;
            }
            ignored.push(format!(
                "field `{field}` is {}, which passthru does not implement; the route is served \
                 without it",
                a_json_type(&value)
            ));
        }
    }
    Tolerated {
        entry,
        ignored,
        unenforceable,
    }
}

/// Null, an empty collection, or the value LiteLLM 1.110.2 writes when nothing is set.
fn is_litellm_default(field: &str, value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(n) => field == "cost_per_request" && n.as_f64() == Some(0.0),
        Value::Bool(b) => field == "merge_query_params" && !b,
        Value::String(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unimplemented_fields_at_their_default_are_dropped_silently() {
        let entry = serde_json::json!({
            "path": "/a", "cost_per_request": 0.0, "guardrails": null, "is_from_config": true,
            "merge_query_params": false, "another": null, "custom_auth_parser": "langfuse",
            "headers": {"litellm_user_api_key": "x-key", "a": "b"}
        });
        assert_eq!(
            tolerate(entry),
            Tolerated {
                entry: serde_json::json!({"path": "/a", "custom_auth_parser": "langfuse",
                    "headers": {"litellm_user_api_key": "x-key", "a": "b"}}),
                ignored: vec![],
                unenforceable: None,
            }
        );
    }

    #[test]
    fn a_field_from_a_future_litellm_is_dropped_with_a_report() {
        let t =
            tolerate(serde_json::json!({"path": "/a", "new_field": 1, "cost_per_request": 2.5}));
        assert_eq!(t.entry, serde_json::json!({"path": "/a"}));
        assert_eq!(t.ignored.len(), 2);
        assert!(t.ignored.iter().any(|w| w.contains("`new_field`")));
        assert!(t.unenforceable.is_none());
    }

    #[test]
    fn a_route_with_guardrails_is_not_served() {
        let t = tolerate(serde_json::json!({"path": "/a", "guardrails": {"pii": null}}));
        assert!(t.unenforceable.unwrap().contains("guardrails"));
    }
}
