//! Where routes come from: passthru's native tables, or LiteLLM's (read-only).

mod cells;
pub mod litellm;
pub mod litellm_access;
pub mod native;

use std::time::SystemTime;

use passthru_routes::KeyHash;

use crate::config::Schema;
use crate::database::Database;
use crate::error::SyncError;
use crate::snapshot::Snapshot;

/// A database and the schema to read in it.
#[derive(Clone, Debug)]
pub struct Source {
    pub database: Database,
    pub schema: Schema,
    /// LiteLLM's master key, when given to the sidecar (`--litellm-master-key-file`).
    pub litellm_master_key: Option<MasterKey>,
    /// LiteLLM's config.yaml, read on every pass beside the database (`--litellm-config`).
    pub litellm_config: Option<std::path::PathBuf>,
}

/// A master key that never prints.
#[derive(Clone)]
pub struct MasterKey(pub String);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

/// What one full read returned: the change marker it is consistent with (native schema only)
/// and the rows.
pub struct Read {
    pub marker: Option<i64>,
    pub snapshot: Snapshot,
    /// Set when the routes could not be read but the keys could (LiteLLM's `general_settings`
    /// is one value for every route). The daemon then keeps the routes already in the file and
    /// writes the keys it read, so that one bad value never holds back a revocation.
    pub routes_unusable: Option<UnusableRoutes>,
}

/// Where the routes are and why they could not be read.
pub struct UnusableRoutes {
    /// The row, for the report: `"LiteLLM_Config" general_settings`.
    pub row: String,
    pub error: SyncError,
}

impl Source {
    pub fn new(database: Database, schema: Schema) -> Result<Source, SyncError> {
        if schema == Schema::Litellm && database.url().is_sqlite() {
            return Err(SyncError::LiteLlmNeedsPostgres {
                url: database.url().redacted(),
            });
        }
        Ok(Source {
            database,
            schema,
            litellm_master_key: None,
            litellm_config: None,
        })
    }

    /// This source with LiteLLM's config.yaml, whose endpoints and settings LiteLLM serves
    /// beside its database's.
    pub fn with_litellm_config(mut self, path: Option<std::path::PathBuf>) -> Source {
        self.litellm_config = path;
        self
    }

    /// This source with LiteLLM's master key (it wins over `general_settings.master_key`).
    pub fn with_litellm_master_key(mut self, key: Option<MasterKey>) -> Source {
        self.litellm_master_key = key;
        self
    }

    /// The cheap change marker: one tiny query. `None` when the schema has none (LiteLLM), in
    /// which case every poll reads everything and only the byte comparison avoids a write.
    pub async fn marker(&self) -> Result<Option<i64>, SyncError> {
        match self.schema {
            Schema::Native => native::revision(&self.database).await,
            Schema::Litellm => Ok(None),
        }
    }

    /// Reads every route and key in one consistent snapshot.
    pub async fn read(&self, now: SystemTime) -> Result<Read, SyncError> {
        match self.schema {
            Schema::Native => native::read(&self.database, now).await,
            Schema::Litellm => match &self.database {
                Database::Postgres { pool, url } => {
                    let master = self.litellm_master_key.as_ref().map(|k| k.0.as_str());
                    let config = self.litellm_config.as_deref();
                    litellm::read(pool, url, now, master, config).await
                }
                Database::Sqlite { url, .. } => Err(SyncError::LiteLlmNeedsPostgres {
                    url: url.redacted(),
                }),
            },
        }
    }

    /// PostgreSQL LISTEN channel that announces commits, when the schema has one.
    pub fn notify_channel(&self) -> Option<&'static str> {
        match (&self.database, self.schema) {
            (Database::Postgres { .. }, Schema::Native) => Some(native::NOTIFY_CHANNEL),
            _ => None,
        }
    }
}

/// A key hash row as text, checked: `Ok(None)` for a key that has expired (left out, not an error).
pub(crate) fn key_from_row(
    sha256: &str,
    expires: Option<&str>,
    now: SystemTime,
) -> Result<Option<KeyHash>, String> {
    let sha256 = KeyHash::parse_hex(sha256.trim())?;
    let expires = expires.map(parse_utc).transpose()?;
    let key = KeyHash::new(sha256, expires);
    if key.expires.is_some_and(|t| t <= now) {
        return Ok(None);
    }
    Ok(Some(key))
}

/// An RFC 3339 UTC time as the queries format it.
pub(crate) fn parse_utc(text: &str) -> Result<SystemTime, String> {
    humantime::parse_rfc3339_weak(text.trim())
        .map_err(|e| format!("expiry {text:?} is not an RFC 3339 UTC time ({e})"))
}

/// The JSON type of a value as a noun (`object`, `list`, `null`), for reports.
pub(crate) fn json_type(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// [`json_type`] with its article: `an object`, `a list`, `null`.
pub(crate) fn a_json_type(value: &serde_json::Value) -> String {
    match json_type(value) {
        "null" => "null".to_owned(),
        noun if noun.starts_with('o') => format!("an {noun}"),
        noun => format!("a {noun}"),
    }
}

/// The first characters of a hash, enough to find the row, for reports.
pub(crate) fn short_hash(hex: &str) -> String {
    hex.chars().take(12).collect()
}
