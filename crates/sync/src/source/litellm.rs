//! LiteLLM's schema, read-only: the `"LiteLLM_Config"` row `general_settings`, its JSON
//! `param_value` → `pass_through_endpoints`, and the virtual-key hashes in
//! `"LiteLLM_VerificationToken"` (`token` is the sha256 hex of the key).
//!
//! LiteLLM fields passthru does not implement ([`IGNORED_FIELDS`]) are removed before validation,
//! knowingly; any other unknown field makes the entry a skipped row, so that a setting passthru
//! does not understand never silently changes meaning.

use std::time::SystemTime;

use serde_json::Value;
use sqlx::PgPool;

use super::cells::{required, Cells};
use super::{key_from_row, short_hash, Read, UnusableRoutes};
use crate::config::DatabaseUrl;
use crate::error::SyncError;
use crate::snapshot::Snapshot;

/// Entry fields LiteLLM writes that passthru ignores: [`passthru_routes::LITELLM_ONLY_FIELDS`].
pub const IGNORED_FIELDS: &[&str] = passthru_routes::LITELLM_ONLY_FIELDS;

/// `headers.litellm_user_api_key` names the client header that carries the LiteLLM key; it is an
/// instruction to LiteLLM, not a header to send upstream, so it is removed.
pub const IGNORED_HEADER: &str = "litellm_user_api_key";

const SETTINGS: &str =
    "SELECT param_value::text FROM \"LiteLLM_Config\" WHERE param_name = 'general_settings'";
/// `blocked` NULL counts as not blocked, as in LiteLLM. The session time zone is UTC, so this
/// works whether `expires` is `timestamp` (LiteLLM's Prisma schema, UTC) or `timestamptz`.
const TOKENS: &str = "SELECT token, to_char(expires, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS expires \
     FROM \"LiteLLM_VerificationToken\" \
     WHERE blocked IS NOT TRUE AND (expires IS NULL OR expires > now()) ORDER BY token";

pub async fn read(pool: &PgPool, url: &DatabaseUrl, now: SystemTime) -> Result<Read, SyncError> {
    let q = |doing| move |e| SyncError::query(url, doing, e);
    let mut tx = pool
        .begin()
        .await
        .map_err(q("starting a read transaction"))?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await
        .map_err(q("starting a read transaction"))?;
    sqlx::query("SET LOCAL TIME ZONE 'UTC'")
        .execute(&mut *tx)
        .await
        .map_err(q("starting a read transaction"))?;
    let settings: Option<Option<String>> = sqlx::query_scalar(SETTINGS)
        .fetch_optional(&mut *tx)
        .await
        .map_err(q("reading \"LiteLLM_Config\" general_settings"))?;
    let tokens = sqlx::query(TOKENS)
        .fetch_all(&mut *tx)
        .await
        .map_err(q("reading \"LiteLLM_VerificationToken\""))?;
    tx.commit()
        .await
        .map_err(q("ending the read transaction"))?;

    let mut snapshot = Snapshot::default();
    // Unusable settings are no reason to stop reading keys: the daemon keeps the routes it has.
    let (settings, routes_unusable) = match Settings::parse(settings.flatten().as_deref()) {
        Ok(settings) => (settings, None),
        Err(error) => (
            Settings::default(),
            Some(UnusableRoutes {
                row: "\"LiteLLM_Config\" general_settings".to_owned(),
                error,
            }),
        ),
    };
    for (i, entry) in settings.endpoints.into_iter().enumerate() {
        let row = format!("pass_through_endpoints[{i}]");
        let entry = with_default_timeout(
            without_ignored_fields(entry),
            settings.default_timeout.as_ref(),
        );
        snapshot.add_route_json(row, &entry);
    }
    // Column by column, so that a row LiteLLM's schema did not expect is one refused key, not a
    // failed pass.
    for row in &tokens {
        let token = required(row.text("token"), "token");
        let name = match &token {
            Ok(token) => format!("\"LiteLLM_VerificationToken\" token {}", short_hash(token)),
            Err(_) => "\"LiteLLM_VerificationToken\" row".to_owned(),
        };
        let key = token.and_then(|token| {
            let expires = row.text("expires")?;
            key_from_row(&token, expires.as_deref(), now)
        });
        match key {
            Ok(Some(key)) => snapshot.add_key(key),
            Ok(None) => {}
            Err(why) => snapshot.skip(name, why),
        }
    }
    Ok(Read {
        marker: None,
        snapshot,
        routes_unusable,
    })
}

/// What passthru reads from `general_settings`.
#[derive(Debug, Default)]
pub struct Settings {
    pub endpoints: Vec<Value>,
    /// `pass_through_request_timeout`: LiteLLM's timeout for endpoints that set none.
    pub default_timeout: Option<Value>,
}

impl Settings {
    pub fn parse(param_value: Option<&str>) -> Result<Settings, SyncError> {
        let Some(mut settings) = settings_object(param_value)? else {
            return Ok(Settings::default());
        };
        let default_timeout = settings
            .get("pass_through_request_timeout")
            .filter(|v| v.is_number())
            .cloned();
        let endpoints = match settings.remove("pass_through_endpoints") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => list,
            Some(other) => {
                return Err(SyncError::LiteLlmSettings {
                    why: format!(
                        "pass_through_endpoints must be a list, found {}",
                        json_type(&other)
                    ),
                })
            }
        };
        Ok(Settings {
            endpoints,
            default_timeout,
        })
    }
}

/// An entry without its own `timeout` gets `pass_through_request_timeout`, as in LiteLLM.
fn with_default_timeout(mut entry: Value, default: Option<&Value>) -> Value {
    if let (Value::Object(map), Some(default)) = (&mut entry, default) {
        if map.get("timeout").map_or(true, Value::is_null) {
            map.insert("timeout".into(), default.clone());
        }
    }
    entry
}

/// The `pass_through_endpoints` list of a `general_settings` value. No row, a NULL value or no
/// such key: no endpoints.
pub fn endpoints(param_value: Option<&str>) -> Result<Vec<Value>, SyncError> {
    Settings::parse(param_value).map(|s| s.endpoints)
}

/// The `general_settings` object. LiteLLM writes the value through `json.dumps`, so a JSON
/// string holding the object is accepted too.
fn settings_object(
    param_value: Option<&str>,
) -> Result<Option<serde_json::Map<String, Value>>, SyncError> {
    let Some(text) = param_value else {
        return Ok(None);
    };
    let bad = |why: String| SyncError::LiteLlmSettings { why };
    let mut value: Value =
        serde_json::from_str(text).map_err(|e| bad(format!("param_value is not JSON ({e})")))?;
    if let Value::String(inner) = &value {
        value = serde_json::from_str(inner)
            .map_err(|e| bad(format!("param_value is a string that is not JSON ({e})")))?;
    }
    match value {
        Value::Null => Ok(None),
        Value::Object(settings) => Ok(Some(settings)),
        other => Err(bad(format!(
            "param_value must be a JSON object, found {}",
            json_type(&other)
        ))),
    }
}

/// The entry without the fields passthru knowingly ignores.
pub fn without_ignored_fields(mut entry: Value) -> Value {
    if let Value::Object(map) = &mut entry {
        for field in IGNORED_FIELDS {
            map.remove(*field);
        }
        if let Some(Value::Object(headers)) = map.get_mut("headers") {
            headers.remove(IGNORED_HEADER);
        }
    }
    entry
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_row_or_key_means_no_endpoints() {
        assert!(endpoints(None).unwrap().is_empty());
        assert!(endpoints(Some("null")).unwrap().is_empty());
        assert!(endpoints(Some(r#"{"store_model_in_db": true}"#))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_json_dumps_string_value_is_unwrapped() {
        let text =
            serde_json::to_string(r#"{"pass_through_endpoints": [{"path": "/a"}]}"#).unwrap();
        assert_eq!(endpoints(Some(&text)).unwrap().len(), 1);
    }

    #[test]
    fn a_non_list_endpoints_value_is_an_error_not_an_empty_table() {
        assert!(endpoints(Some(r#"{"pass_through_endpoints": {"path": "/a"}}"#)).is_err());
    }

    #[test]
    fn pass_through_request_timeout_is_the_default_for_entries_without_one() {
        let s = Settings::parse(Some(
            r#"{"pass_through_request_timeout": 120, "pass_through_endpoints": [{"path": "/a", "timeout": null}, {"path": "/b", "timeout": 5}]}"#,
        ))
        .unwrap();
        let t = |e: &Value| {
            with_default_timeout(e.clone(), s.default_timeout.as_ref())["timeout"].clone()
        };
        assert_eq!(t(&s.endpoints[0]), serde_json::json!(120));
        assert_eq!(t(&s.endpoints[1]), serde_json::json!(5));
    }

    #[test]
    fn ignored_fields_and_the_key_header_name_are_removed() {
        let entry = serde_json::json!({
            "path": "/a", "cost_per_request": 1.5, "guardrails": null, "is_from_config": false,
            "merge_query_params": true, "custom_auth_parser": "langfuse",
            "headers": {"litellm_user_api_key": "x-key", "a": "b"}
        });
        assert_eq!(
            without_ignored_fields(entry),
            serde_json::json!({"path": "/a", "headers": {"a": "b"}})
        );
    }
}
