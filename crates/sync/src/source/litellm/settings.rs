//! LiteLLM's `general_settings`, from its database row and its config.yaml: the endpoints and
//! the settings that apply to all of them.

use std::path::Path;

use serde_json::Value;

use crate::error::SyncError;
use crate::source::a_json_type;

/// What passthru reads from `general_settings`.
#[derive(Debug, Default)]
pub struct Settings {
    pub endpoints: Vec<Value>,
    /// `pass_through_request_timeout`: LiteLLM's timeout for endpoints that set none.
    pub default_timeout: Option<Value>,
    /// `litellm_key_header_name`: a header that carries the key ahead of every other.
    pub key_header_name: Option<String>,
    /// `master_key`, with an `os.environ/NAME` reference resolved from the sidecar's environment
    /// or `$CREDENTIALS_DIRECTORY/NAME`. Written to the table only as its sha256.
    pub master_key: Option<String>,
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
                        a_json_type(&other)
                    ),
                })
            }
        };
        let text = |name: &str| match settings.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        Ok(Settings {
            endpoints,
            default_timeout,
            key_header_name: text("litellm_key_header_name"),
            master_key: text("master_key").and_then(|k| resolve_secret(&k)),
        })
    }
}

impl Settings {
    /// The `general_settings` of LiteLLM's config.yaml (`--litellm-config`).
    pub fn from_config_file(path: &Path) -> Result<Settings, SyncError> {
        let bad = |why: String| SyncError::LiteLlmSettings {
            why: format!("{}: {why}", path.display()),
        };
        let text =
            std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it ({e})")))?;
        let config: Value =
            serde_yaml::from_str(&text).map_err(|e| bad(format!("is not YAML ({e})")))?;
        match config.get("general_settings") {
            None | Some(Value::Null) => Ok(Settings::default()),
            Some(general) => Settings::parse(Some(&general.to_string())),
        }
    }

    /// The settings LiteLLM serves from its database row and its config file together: the
    /// database's endpoints, then the file's whose `path` no database endpoint has
    /// (`proxy_server.py` `_pass_through_endpoints_beside_db`); a setting the file sets wins
    /// over the database's (the file owns it).
    pub fn beside_config_file(self, file: Settings) -> Settings {
        let db_paths: std::collections::HashSet<Option<&str>> = self
            .endpoints
            .iter()
            .map(|e| e.get("path").and_then(Value::as_str))
            .collect();
        let from_file: Vec<Value> = file
            .endpoints
            .iter()
            .filter(|e| !db_paths.contains(&e.get("path").and_then(Value::as_str)))
            .cloned()
            .collect();
        let mut endpoints = self.endpoints;
        endpoints.extend(from_file);
        Settings {
            endpoints,
            default_timeout: file.default_timeout.or(self.default_timeout),
            key_header_name: file.key_header_name.or(self.key_header_name),
            master_key: file.master_key.or(self.master_key),
        }
    }
}

/// A LiteLLM secret value: `os.environ/NAME` reads the variable, or the systemd credential
/// `$CREDENTIALS_DIRECTORY/NAME`; anything else is the value itself.
pub fn resolve_secret(value: &str) -> Option<String> {
    match value.strip_prefix("os.environ/") {
        Some(name) => passthru_systemd::env_or_credential(name).filter(|v| !v.is_empty()),
        None => Some(value.to_owned()),
    }
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
            a_json_type(&other)
        ))),
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
    fn config_file_endpoints_join_the_database_ones_unless_the_path_is_taken() {
        let db = Settings::parse(Some(
            r#"{"pass_through_request_timeout": 30, "pass_through_endpoints": [{"path": "/a", "target": "http://db"}]}"#,
        ))
        .unwrap();
        let file = Settings::parse(Some(
            r#"{"pass_through_request_timeout": 90, "litellm_key_header_name": "x-k", "pass_through_endpoints": [{"path": "/a", "target": "http://file"}, {"path": "/b", "target": "http://file"}]}"#,
        ))
        .unwrap();
        let merged = db.beside_config_file(file);
        let targets: Vec<(&str, &str)> = merged
            .endpoints
            .iter()
            .map(|e| (e["path"].as_str().unwrap(), e["target"].as_str().unwrap()))
            .collect();
        assert_eq!(targets, [("/a", "http://db"), ("/b", "http://file")]);
        assert_eq!(merged.default_timeout, Some(serde_json::json!(90)));
        assert_eq!(merged.key_header_name.as_deref(), Some("x-k"));
    }
}
