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
use super::litellm_access::{add_keys, AccessRows, DeprecatedRow, TeamRow, TokenRow};
use super::{parse_utc, short_hash, Read, UnusableRoutes};
use crate::config::DatabaseUrl;
use crate::error::SyncError;
use crate::snapshot::Snapshot;

/// Entry fields LiteLLM writes that passthru ignores: [`passthru_routes::LITELLM_ONLY_FIELDS`].
pub const IGNORED_FIELDS: &[&str] = passthru_routes::LITELLM_ONLY_FIELDS;

const SETTINGS: &str =
    "SELECT param_value::text FROM \"LiteLLM_Config\" WHERE param_name = 'general_settings'";
/// `blocked` NULL counts as not blocked, as in LiteLLM. The session time zone is UTC, so this
/// works whether `expires` is `timestamp` (LiteLLM's Prisma schema, UTC) or `timestamptz`.
const TOKENS: &str = "SELECT token, metadata::text AS metadata, team_id, user_id, \
     to_char(expires, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS expires, \
     array_to_json(allowed_routes)::text AS allowed_routes \
     FROM \"LiteLLM_VerificationToken\" \
     WHERE blocked IS NOT TRUE AND (expires IS NULL OR expires > now()) ORDER BY token";
const TEAMS: &str = "SELECT team_id, metadata::text AS metadata, blocked \
     FROM \"LiteLLM_TeamTable\" ORDER BY team_id";
/// Only admins matter: every other role is an ordinary key for pass-through routes.
const ADMIN_USERS: &str =
    "SELECT user_id FROM \"LiteLLM_UserTable\" WHERE user_role = 'proxy_admin'";
/// Rotated keys in their grace period. The table is newer than some LiteLLM databases.
const HAS_DEPRECATED: &str =
    "SELECT to_regclass('\"LiteLLM_DeprecatedVerificationToken\"') IS NOT NULL";
const DEPRECATED: &str = "SELECT token, active_token_id, \
     to_char(revoke_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS revoke_at \
     FROM \"LiteLLM_DeprecatedVerificationToken\" WHERE revoke_at > now() ORDER BY token";

/// Reads the endpoints and everything that decides access in one REPEATABLE READ snapshot.
/// `master_key` (from `--litellm-master-key-file`) wins over `general_settings.master_key`.
pub async fn read(
    pool: &PgPool,
    url: &DatabaseUrl,
    now: SystemTime,
    master_key: Option<&str>,
) -> Result<Read, SyncError> {
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
    let teams = sqlx::query(TEAMS)
        .fetch_all(&mut *tx)
        .await
        .map_err(q("reading \"LiteLLM_TeamTable\""))?;
    let admin_users: Vec<String> = sqlx::query_scalar(ADMIN_USERS)
        .fetch_all(&mut *tx)
        .await
        .map_err(q("reading \"LiteLLM_UserTable\""))?;
    let has_deprecated: bool = sqlx::query_scalar(HAS_DEPRECATED)
        .fetch_one(&mut *tx)
        .await
        .map_err(q("looking for \"LiteLLM_DeprecatedVerificationToken\""))?;
    let deprecated = if has_deprecated {
        sqlx::query(DEPRECATED)
            .fetch_all(&mut *tx)
            .await
            .map_err(q("reading \"LiteLLM_DeprecatedVerificationToken\""))?
    } else {
        Vec::new()
    };
    tx.commit()
        .await
        .map_err(q("ending the read transaction"))?;

    // Unusable settings are no reason to stop reading keys: the daemon keeps the routes it has.
    let (mut settings, routes_unusable) = match Settings::parse(settings.flatten().as_deref()) {
        Ok(settings) => (settings, None),
        Err(error) => (
            Settings::default(),
            Some(UnusableRoutes {
                row: "\"LiteLLM_Config\" general_settings".to_owned(),
                error,
            }),
        ),
    };
    let mut bad_rows = Vec::new();
    let mut access = AccessRows {
        admin_users,
        master_key: master_key.map(str::to_owned).or(settings.master_key.take()),
        ..AccessRows::default()
    };
    // Column by column, so that a row LiteLLM's schema did not expect is one refused key, not a
    // failed pass.
    for row in &tokens {
        match token_row(row) {
            Ok(token) => access.tokens.push(token),
            Err(bad) => bad_rows.push(bad),
        }
    }
    for row in &teams {
        match team_row(row) {
            Ok(team) => access.teams.push(team),
            Err(bad) => bad_rows.push(bad),
        }
    }
    for row in &deprecated {
        match deprecated_row(row) {
            Ok(old) => access.deprecated.push(old),
            Err(bad) => bad_rows.push(bad),
        }
    }
    let mut snapshot = snapshot_of(settings, &access, now);
    for (row, why) in bad_rows {
        snapshot.skip(row, why);
    }
    Ok(Read {
        marker: None,
        snapshot,
        routes_unusable,
    })
}

type BadRow = (String, String);

fn json_cell(row: &sqlx::postgres::PgRow, column: &str) -> Result<Option<Value>, String> {
    row.text(column)?
        .map(|text| {
            serde_json::from_str(&text).map_err(|e| format!("column `{column}` is not JSON ({e})"))
        })
        .transpose()
}

fn token_row(row: &sqlx::postgres::PgRow) -> Result<TokenRow, BadRow> {
    let token = required(row.text("token"), "token")
        .map_err(|why| ("\"LiteLLM_VerificationToken\" row".to_owned(), why))?;
    let name = format!("\"LiteLLM_VerificationToken\" token {}", short_hash(&token));
    let read = || -> Result<TokenRow, String> {
        let allowed_routes = match json_cell(row, "allowed_routes")? {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    other => Err(format!("allowed_routes holds {other}, not a route")),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(format!("allowed_routes is {other}, not a list")),
        };
        Ok(TokenRow {
            token: token.clone(),
            metadata: json_cell(row, "metadata")?,
            team_id: row.text("team_id")?,
            user_id: row.text("user_id")?,
            blocked: None,
            expires: row.text("expires")?.as_deref().map(parse_utc).transpose()?,
            allowed_routes,
        })
    };
    read().map_err(|why| (name, why))
}

fn team_row(row: &sqlx::postgres::PgRow) -> Result<TeamRow, BadRow> {
    let team_id = required(row.text("team_id"), "team_id")
        .map_err(|why| ("\"LiteLLM_TeamTable\" row".to_owned(), why))?;
    let name = format!("\"LiteLLM_TeamTable\" team_id {team_id:?}");
    let read = || -> Result<TeamRow, String> {
        Ok(TeamRow {
            team_id: team_id.clone(),
            metadata: json_cell(row, "metadata")?,
            blocked: row.boolean("blocked")?,
        })
    };
    // A team that cannot be read is refused, and so are its keys (as a missing team).
    read().map_err(|why| (name, why))
}

fn deprecated_row(row: &sqlx::postgres::PgRow) -> Result<DeprecatedRow, BadRow> {
    let token = required(row.text("token"), "token").unwrap_or_default();
    let name = format!(
        "\"LiteLLM_DeprecatedVerificationToken\" token {}",
        short_hash(&token)
    );
    let read = || -> Result<DeprecatedRow, String> {
        Ok(DeprecatedRow {
            token: token.clone(),
            active_token_id: required(row.text("active_token_id"), "active_token_id")?,
            revoke_at: parse_utc(&required(row.text("revoke_at"), "revoke_at")?)?,
        })
    };
    read().map_err(|why| (name, why))
}

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
                        json_type(&other)
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

/// A LiteLLM secret value: `os.environ/NAME` reads the variable, or the systemd credential
/// `$CREDENTIALS_DIRECTORY/NAME` (first line); anything else is the value itself.
pub fn resolve_secret(value: &str) -> Option<String> {
    let Some(name) = value.strip_prefix("os.environ/") else {
        return Some(value.to_owned());
    };
    if let Ok(v) = std::env::var(name) {
        return Some(v).filter(|v| !v.is_empty());
    }
    let dir = std::env::var_os("CREDENTIALS_DIRECTORY")?;
    let text = std::fs::read_to_string(std::path::Path::new(&dir).join(name)).ok()?;
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned)
}

/// The routes and keys of one read of LiteLLM's tables: the endpoints as LiteLLM serves them,
/// and every key LiteLLM would accept with what it may use ([`litellm_access`]).
pub fn snapshot_of(settings: Settings, access: &AccessRows, now: SystemTime) -> Snapshot {
    let mut snapshot = Snapshot::default();
    for (i, entry) in settings.endpoints.into_iter().enumerate() {
        let row = format!("pass_through_endpoints[{i}]");
        let entry = with_default_timeout(
            without_ignored_fields(entry),
            settings.default_timeout.as_ref(),
        );
        add_endpoint(&mut snapshot, row, entry);
    }
    add_keys(access, now, &mut snapshot);
    // LiteLLM refuses any key but its master key that does not start with `sk-`.
    snapshot.set_key_prefix("sk-");
    match settings.key_header_name {
        Some(name) if http::HeaderName::from_bytes(name.as_bytes()).is_ok() => {
            snapshot.set_key_header_name(name)
        }
        Some(name) => snapshot.skip(
            "\"LiteLLM_Config\" general_settings".into(),
            format!("litellm_key_header_name {name:?} is not a header name; keys sent in it are refused"),
        ),
        None => {}
    }
    snapshot
}

/// One endpoint. LiteLLM opens an `auth: false` endpoint only at its exact path; below it a
/// request needs a key with a grant (ACCESS_MODEL.md §6). So a subpath endpoint with
/// `auth: false` becomes two routes: the exact path without a key, and everything below it with
/// one, its id the exact route's plus `-subpath`.
fn add_endpoint(snapshot: &mut Snapshot, row: String, entry: Value) {
    let open_subpaths = entry.get("auth") == Some(&Value::Bool(false))
        && entry.get("include_subpath") == Some(&Value::Bool(true));
    if !open_subpaths {
        snapshot.add_route_json(row, &entry);
        return;
    }
    let mut exact = entry.clone();
    exact["include_subpath"] = Value::Bool(false);
    let Some(id) = snapshot.add_route_json(row.clone(), &exact) else {
        return;
    };
    let mut below = entry;
    below["auth"] = Value::Bool(true);
    below["id"] = Value::String(format!("{id}-subpath"));
    snapshot.add_route_json(format!("{row} (below its path)"), &below);
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
    fn ignored_fields_are_removed_and_the_key_sources_kept() {
        let entry = serde_json::json!({
            "path": "/a", "cost_per_request": 1.5, "guardrails": null, "is_from_config": false,
            "merge_query_params": true, "custom_auth_parser": "langfuse",
            "headers": {"litellm_user_api_key": "x-key", "a": "b"}
        });
        assert_eq!(
            without_ignored_fields(entry),
            serde_json::json!({"path": "/a", "custom_auth_parser": "langfuse",
                "headers": {"litellm_user_api_key": "x-key", "a": "b"}})
        );
    }
}
