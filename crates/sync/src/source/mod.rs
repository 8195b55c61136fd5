//! Where routes come from: passthru's native tables, or LiteLLM's (read-only).

mod cells;
pub mod litellm;
pub mod litellm_access;
pub mod native;

use std::time::{Duration, SystemTime};

use passthru_routes::KeyHash;

use crate::config::Schema;
use crate::database::Database;
use crate::error::SyncError;
use crate::snapshot::{Snapshot, ValidatedRoutes};

/// A database and the schema to read in it.
#[derive(Clone, Debug)]
pub struct Source {
    pub database: Database,
    pub schema: Schema,
    /// LiteLLM's master key, when given to the sidecar (`--litellm-master-key-file`).
    pub litellm_master_key: Option<MasterKey>,
    /// LiteLLM's config.yaml, read on every pass beside the database (`--litellm-config`).
    pub litellm_config: Option<std::path::PathBuf>,
    /// LiteLLM schema: the longest time between two full reads, whatever the change marker says
    /// (`--litellm-full-read-every`); zero reads everything on every poll.
    pub litellm_full_read_every: Duration,
}

/// The default of `--litellm-full-read-every`: a backstop, so that correctness never rests on
/// PostgreSQL's asynchronously flushed table statistics alone.
pub const LITELLM_FULL_READ_EVERY: Duration = Duration::from_secs(300);

/// The cheap change marker of a source, and what the last full read was consistent with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Marker {
    /// The native schema's `passthru_revision`.
    Revision(i64),
    /// LiteLLM's tables: write counters, then a fingerprint of what decides access.
    Litellm(litellm::Marker),
}

impl Marker {
    /// Both markers stand for the same table: nothing to read. For LiteLLM the write counters
    /// may differ (spend updates move them) as long as the fingerprint does not.
    pub fn same_table(&self, other: &Marker) -> bool {
        match (self, other) {
            (Marker::Revision(a), Marker::Revision(b)) => a == b,
            (Marker::Litellm(a), Marker::Litellm(b)) => a.same_table(b),
            _ => false,
        }
    }

    /// The native schema's revision, for the log.
    pub fn revision(&self) -> Option<i64> {
        match self {
            Marker::Revision(r) => Some(*r),
            Marker::Litellm(_) => None,
        }
    }

    /// The LiteLLM fingerprint's first characters, for the log.
    pub fn fingerprint(&self) -> Option<String> {
        match self {
            Marker::Revision(_) => None,
            Marker::Litellm(m) => Some(short_hash(&m.fingerprint)),
        }
    }
}

/// A master key that never prints.
#[derive(Clone)]
pub struct MasterKey(pub String);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

/// What one full read returned: the change marker it is consistent with and the rows.
pub struct Read {
    pub marker: Option<Marker>,
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
            litellm_full_read_every: LITELLM_FULL_READ_EVERY,
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

    /// This source with the LiteLLM backstop: a full read at least this often (zero: always).
    pub fn with_litellm_full_read_every(mut self, every: Duration) -> Source {
        self.litellm_full_read_every = every;
        self
    }

    /// The longest time between two full reads, whatever the marker says: `None` when the
    /// marker alone is trusted (the native schema's revision is transactional).
    pub fn full_read_every(&self) -> Option<Duration> {
        match self.schema {
            Schema::Native => None,
            Schema::Litellm => Some(self.litellm_full_read_every),
        }
    }

    /// The cheap change marker. Native: one tiny query. LiteLLM: one tiny query (write counters
    /// and the settings row's md5) while nothing was written since `previous`, which is then
    /// returned as it was; one server-side aggregate over the rows that decide access when
    /// something was. `None` when the schema's marker cannot be read (every poll reads).
    pub async fn marker(&self, previous: Option<&Marker>) -> Result<Option<Marker>, SyncError> {
        match (&self.database, self.schema) {
            (_, Schema::Native) => Ok(native::revision(&self.database)
                .await?
                .map(Marker::Revision)),
            (Database::Postgres { pool, url }, Schema::Litellm) => {
                let previous = match previous {
                    Some(Marker::Litellm(m)) => Some(m),
                    _ => None,
                };
                let config = self.litellm_config.as_deref();
                Ok(Some(Marker::Litellm(
                    litellm::marker(pool, url, previous, config).await?,
                )))
            }
            (Database::Sqlite { url, .. }, Schema::Litellm) => {
                Err(SyncError::LiteLlmNeedsPostgres {
                    url: url.redacted(),
                })
            }
        }
    }

    /// Reads every route and key in one consistent snapshot; rows that `previous` validated are
    /// not validated again.
    pub async fn read(
        &self,
        now: SystemTime,
        previous: ValidatedRoutes,
    ) -> Result<Read, SyncError> {
        match self.schema {
            Schema::Native => native::read(&self.database, now, previous).await,
            Schema::Litellm => match &self.database {
                Database::Postgres { pool, url } => {
                    let master = self.litellm_master_key.as_ref().map(|k| k.0.as_str());
                    let config = self.litellm_config.as_deref();
                    let with_marker = !self.litellm_full_read_every.is_zero();
                    litellm::read(pool, url, now, master, config, with_marker, previous).await
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

/// Begins the transaction a read runs in. On PostgreSQL it is REPEATABLE READ and READ ONLY,
/// so that every query of the read sees one snapshot and none can write; a SQLite transaction
/// is serializable already.
pub(crate) async fn begin_read<'c, DB>(
    conn: impl sqlx::Acquire<'c, Database = DB>,
    url: &crate::DatabaseUrl,
) -> Result<sqlx::Transaction<'c, DB>, SyncError>
where
    DB: sqlx::Database,
    for<'e> &'e mut DB::Connection: sqlx::Executor<'e, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
{
    let failed = |e| SyncError::query(url, "starting a read transaction", e);
    let mut tx = conn.begin().await.map_err(failed)?;
    if DB::NAME == <sqlx::Postgres as sqlx::Database>::NAME {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
    }
    Ok(tx)
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
