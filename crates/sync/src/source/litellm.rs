//! LiteLLM's schema, read-only: the `"LiteLLM_Config"` row `general_settings`, its JSON
//! `param_value` → `pass_through_endpoints`, and the virtual-key hashes in
//! `"LiteLLM_VerificationToken"` (`token` is the sha256 hex of the key).
//!
//! Entries are read tolerantly ([`tolerate`]): a field passthru does not implement is dropped,
//! silently when it holds null or LiteLLM's default and with a report otherwise, so a LiteLLM
//! upgrade that adds a field never makes a route vanish; a route that asks for `guardrails` is
//! not served at all. Hand-written routes.yaml files stay strict (a typo must not pass).

use std::path::Path;
use std::time::SystemTime;

use passthru_routes::{Cors, MethodSet, StableId};
use serde_json::Value;
use sqlx::PgPool;

use super::cells::{required, Cells};
use super::litellm_access::{add_keys, AccessRows, DeprecatedRow, TeamRow, TokenRow};
use super::{a_json_type, parse_utc, short_hash, Read, UnusableRoutes};
use crate::config::DatabaseUrl;
use crate::error::SyncError;
use crate::snapshot::{SkipKind, Snapshot};

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

/// Stage 1 of the marker, one tiny query whatever the number of rows: the write counters
/// (inserted + updated + deleted tuples) of the tables the sidecar reads, from the statistics
/// functions behind `pg_stat_user_tables` (callable by any role; called by oid, so no catalog is
/// scanned), and the md5 of the settings row, which does not wait for the statistics to be
/// flushed.
const QUICK: &str = "SELECT coalesce((SELECT string_agg(r::text || ':' || \
     (pg_stat_get_tuples_inserted(r) + pg_stat_get_tuples_updated(r) \
     + pg_stat_get_tuples_deleted(r)), ',' ORDER BY r) \
     FROM unnest(ARRAY[to_regclass('\"LiteLLM_Config\"'), \
     to_regclass('\"LiteLLM_VerificationToken\"'), to_regclass('\"LiteLLM_TeamTable\"'), \
     to_regclass('\"LiteLLM_UserTable\"'), \
     to_regclass('\"LiteLLM_DeprecatedVerificationToken\"')]) AS r WHERE r IS NOT NULL), '') \
     || ' ' || coalesce((SELECT md5(param_value::text) FROM \"LiteLLM_Config\" \
     WHERE param_name = 'general_settings'), '-')";

/// Stage 2 of the marker: a fingerprint of exactly the columns that decide routing and access,
/// computed by the server (one short row back). Spend, `last_active`, `updated_at` and budgets,
/// which LiteLLM's spend writer updates under traffic, are not in it. Per table, the row count and
/// the sum (as numeric, no overflow) of each row's 64-bit `hashtextextended`: order-independent,
/// so no sort, ≈ 4× cheaper than an md5 over the ordered rows at 100,000 keys. Times are epoch
/// seconds, so the text does not depend on the session's time zone.
fn fingerprint_query(has_deprecated: bool) -> String {
    let sum = |row: &str, from: &str| {
        format!(
            "(SELECT count(*) || ':' || coalesce(sum(hashtextextended(ROW({row})::text, 0)), 0) \
             FROM {from})"
        )
    };
    let deprecated = if has_deprecated {
        sum(
            "token, active_token_id, extract(epoch FROM revoke_at)",
            "\"LiteLLM_DeprecatedVerificationToken\"",
        )
    } else {
        "'none'".to_owned()
    };
    format!(
        "SELECT md5(concat_ws(' ', \
         (SELECT md5(param_value::text) FROM \"LiteLLM_Config\" \
          WHERE param_name = 'general_settings'), {tokens}, {teams}, {admins}, {deprecated}))",
        tokens = sum(
            "token, metadata, team_id, user_id, blocked, extract(epoch FROM expires), \
             allowed_routes",
            "\"LiteLLM_VerificationToken\""
        ),
        teams = sum("team_id, metadata, blocked", "\"LiteLLM_TeamTable\""),
        admins = sum(
            "user_id",
            "\"LiteLLM_UserTable\" WHERE user_role = 'proxy_admin'"
        ),
    )
}

/// LiteLLM's change marker. LiteLLM keeps no revision that key or team changes move
/// (`"LiteLLM_Config".reload_revision` follows its manual reload schedule only), and the sidecar
/// is read-only (no trigger, no NOTIFY), so it is built from what 1.110.2 offers: `quick`
/// (stage 1) moves on any write to the tables; `fingerprint` (stage 2) only when what decides
/// access does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    /// Write counters of the tables and the settings row's md5.
    pub quick: String,
    /// md5 over the rows that decide access and routing.
    pub fingerprint: String,
    /// A hash of `--litellm-config`'s bytes (`None`: no file, or unreadable).
    pub config: Option<u64>,
}

impl Marker {
    /// The same routing and access: nothing to read.
    pub fn same_table(&self, other: &Marker) -> bool {
        self.fingerprint == other.fingerprint && self.config == other.config
    }
}

fn config_hash(path: Option<&Path>) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let bytes = std::fs::read(path?).ok()?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    Some(h.finish())
}

async fn quick(conn: &mut sqlx::PgConnection, url: &DatabaseUrl) -> Result<String, SyncError> {
    sqlx::query_scalar(QUICK)
        .fetch_one(conn)
        .await
        .map_err(|e| SyncError::query(url, "reading the write counters (pg_stat_get_tuples_*)", e))
}

async fn fingerprint(
    conn: &mut sqlx::PgConnection,
    url: &DatabaseUrl,
) -> Result<(bool, String), SyncError> {
    let q = |doing| move |e| SyncError::query(url, doing, e);
    let has_deprecated: bool = sqlx::query_scalar(HAS_DEPRECATED)
        .fetch_one(&mut *conn)
        .await
        .map_err(q("looking for \"LiteLLM_DeprecatedVerificationToken\""))?;
    let fingerprint: String = sqlx::query_scalar(&fingerprint_query(has_deprecated))
        .fetch_one(&mut *conn)
        .await
        .map_err(q("fingerprinting the rows that decide access"))?;
    Ok((has_deprecated, fingerprint))
}

/// The marker now. While the write counters, the settings row and the config file are as in
/// `previous`, that is all it costs (one tiny query), and `previous` comes back as it was.
pub async fn marker(
    pool: &PgPool,
    url: &DatabaseUrl,
    previous: Option<&Marker>,
    config_file: Option<&Path>,
) -> Result<Marker, SyncError> {
    // One connection for both stages: a connection handed back to the pool is returned
    // asynchronously, and taking another at once would open a second one.
    let mut conn = pool
        .acquire()
        .await
        .map_err(|e| SyncError::query(url, "connecting", e))?;
    let quick = quick(&mut conn, url).await?;
    let config = config_hash(config_file);
    if let Some(previous) = previous.filter(|p| p.quick == quick && p.config == config) {
        return Ok(previous.clone());
    }
    tracing::debug!("poll: write counters moved; fingerprinting what decides access");
    let mut tx = sqlx::Connection::begin(&mut *conn)
        .await
        .map_err(|e| SyncError::query(url, "starting a read transaction", e))?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await
        .map_err(|e| SyncError::query(url, "starting a read transaction", e))?;
    let (_, fingerprint) = fingerprint(&mut tx, url).await?;
    tx.commit()
        .await
        .map_err(|e| SyncError::query(url, "ending the read transaction", e))?;
    Ok(Marker {
        quick,
        fingerprint,
        config,
    })
}

/// Reads the endpoints and everything that decides access in one REPEATABLE READ snapshot.
/// `master_key` (from `--litellm-master-key-file`) wins over `general_settings.master_key`.
/// With `with_marker`, also the [`Marker`] the rows are consistent with; without, the read is
/// exactly what it was before the marker (`--litellm-full-read-every 0s`).
pub async fn read(
    pool: &PgPool,
    url: &DatabaseUrl,
    now: SystemTime,
    master_key: Option<&str>,
    config_file: Option<&Path>,
    with_marker: bool,
) -> Result<Read, SyncError> {
    let q = |doing| move |e| SyncError::query(url, doing, e);
    // Before the snapshot: a write these counters miss moves them after, and the next poll
    // fingerprints again.
    let mut conn = pool.acquire().await.map_err(q("connecting"))?;
    let quick = if with_marker {
        Some(quick(&mut conn, url).await?)
    } else {
        None
    };
    let config = config_hash(config_file);
    let mut tx = sqlx::Connection::begin(&mut *conn)
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
    let (has_deprecated, fingerprint) = match quick {
        Some(_) => {
            let (has, fingerprint) = fingerprint(&mut tx, url).await?;
            (has, Some(fingerprint))
        }
        None => {
            let has: bool = sqlx::query_scalar(HAS_DEPRECATED)
                .fetch_one(&mut *tx)
                .await
                .map_err(q("looking for \"LiteLLM_DeprecatedVerificationToken\""))?;
            (has, None)
        }
    };
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
    let unusable = |row: String, error| (Settings::default(), Some(UnusableRoutes { row, error }));
    let db_row = "\"LiteLLM_Config\" general_settings".to_owned();
    let (mut settings, routes_unusable) = match (
        Settings::parse(settings.flatten().as_deref()),
        config_file.map(Settings::from_config_file).transpose(),
    ) {
        (Ok(db), Ok(None)) => (db, None),
        (Ok(db), Ok(Some(file))) => (db.beside_config_file(file), None),
        (Err(error), _) => unusable(db_row, error),
        (Ok(_), Err(error)) => unusable(
            format!(
                "general_settings of {}",
                config_file.unwrap_or(Path::new("")).display()
            ),
            error,
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
        marker: quick.zip(fingerprint).map(|(quick, fingerprint)| {
            super::Marker::Litellm(Marker {
                quick,
                fingerprint,
                config,
            })
        }),
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

/// The routes and keys of one read of LiteLLM's tables: the endpoints as LiteLLM serves them,
/// and every key LiteLLM would accept with what it may use ([`litellm_access`]).
pub fn snapshot_of(settings: Settings, access: &AccessRows, now: SystemTime) -> Snapshot {
    let mut snapshot = Snapshot::default();
    for (i, entry) in settings.endpoints.into_iter().enumerate() {
        let row = format!("pass_through_endpoints[{i}]");
        // Reports about a row that is still served name its path too.
        let named = match entry.get("path").and_then(Value::as_str) {
            Some(path) => format!("{row} (path {path})"),
            None => row.clone(),
        };
        let Tolerated {
            entry,
            ignored,
            unenforceable,
        } = tolerate(entry);
        if let Some(why) = unenforceable {
            snapshot.report(named, why, SkipKind::Unenforceable);
            continue;
        }
        for why in ignored {
            snapshot.report(named.clone(), why, SkipKind::FieldIgnored);
        }
        let entry = with_default_timeout(entry, settings.default_timeout.as_ref());
        add_endpoint(&mut snapshot, row, entry);
    }
    add_keys(access, now, &mut snapshot);
    // LiteLLM refuses any key but its master key that does not start with `sk-`.
    snapshot.set_key_prefix("sk-");
    let cors = litellm_cors(
        std::env::var("LITELLM_CORS_ORIGINS").ok().as_deref(),
        std::env::var("LITELLM_CORS_ALLOW_CREDENTIALS")
            .ok()
            .as_deref(),
        &mut snapshot,
    );
    if let Some(cors) = cors {
        snapshot.set_cors(cors);
    }
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

/// LiteLLM's CORS policy (`proxy_server.py` `_get_cors_config`), from the same variables in the
/// sidecar's environment: any origin unless `LITELLM_CORS_ORIGINS` lists some, any method and
/// header, credentials only for listed origins unless `LITELLM_CORS_ALLOW_CREDENTIALS` says.
/// passthru never allows credentials with any origin (LiteLLM warns against it): that
/// combination is written without credentials, with a report.
fn litellm_cors(
    origins: Option<&str>,
    credentials: Option<&str>,
    snapshot: &mut Snapshot,
) -> Option<Cors> {
    let origins: Vec<String> = match origins.map(str::trim).filter(|o| !o.is_empty()) {
        None => vec!["*".into()],
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    let any = origins.iter().any(|o| o == "*");
    let mut allow_credentials = match credentials {
        Some(v) => v.trim().eq_ignore_ascii_case("true"),
        None => !any,
    };
    let row = "LITELLM_CORS_ALLOW_CREDENTIALS".to_owned();
    if allow_credentials && any {
        allow_credentials = false;
        snapshot.report(
            row.clone(),
            "credentials with any origin would let every site make credentialed requests; \
             written without credentials (list the origins in LITELLM_CORS_ORIGINS)"
                .into(),
            SkipKind::FieldIgnored,
        );
    }
    let policy = serde_json::json!({
        "allow_origins": origins,
        "allow_methods": ["*"],
        "allow_headers": ["*"],
        "allow_credentials": allow_credentials,
    });
    let value = serde_yaml::to_value(&policy).expect("JSON converts to YAML");
    match Cors::from_value(&value) {
        Ok(cors) => Some(cors),
        Err(problems) => {
            let why = problems
                .into_iter()
                .map(|(field, why)| format!("{field} {why}"))
                .collect::<Vec<_>>()
                .join("; ");
            snapshot.report(
                "LITELLM_CORS_ORIGINS".into(),
                format!("{why}; no CORS headers are sent"),
                SkipKind::FieldIgnored,
            );
            None
        }
    }
}

/// One endpoint. LiteLLM opens an `auth: false` endpoint only at its exact path; below it a
/// request needs a key with a grant (ACCESS_MODEL.md §6). So a subpath endpoint with
/// `auth: false` becomes two routes, as if it were two rows: the exact path without a key, and
/// everything below it with one (an explicit id gets `-subpath` on the second).
fn add_endpoint(snapshot: &mut Snapshot, row: String, entry: Value) {
    let open_subpaths = entry.get("auth") == Some(&Value::Bool(false))
        && entry.get("include_subpath") == Some(&Value::Bool(true));
    if !open_subpaths {
        let mut entry = entry;
        with_litellm_methods(&mut entry);
        snapshot.add_route_json(row, &entry);
        return;
    }
    let mut exact = entry.clone();
    exact["include_subpath"] = Value::Bool(false);
    with_litellm_methods(&mut exact);
    snapshot.add_route_json(row.clone(), &exact);
    let mut below = entry;
    below["auth"] = Value::Bool(true);
    if let Some(id) = below.get("id").and_then(Value::as_str) {
        below["id"] = Value::String(format!("{id}-subpath"));
    }
    with_litellm_methods(&mut below);
    snapshot.add_route_json(format!("{row} (below its path)"), &below);
}

/// The methods LiteLLM registers for an endpoint that lists none (HEAD, OPTIONS and the rest
/// get 405 there).
pub const LITELLM_DEFAULT_METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

/// An endpoint without `methods` serves LiteLLM's five. Its id stays the one derived from the
/// row as stored (no methods), so adopting this changes no id.
fn with_litellm_methods(entry: &mut Value) {
    let Value::Object(map) = entry else {
        return;
    };
    let listed = match map.get("methods") {
        None | Some(Value::Null) => false,
        Some(Value::Array(list)) => !list.is_empty(),
        Some(_) => true,
    };
    if listed {
        return;
    }
    if map.get("id").map_or(true, Value::is_null) {
        let Some(path) = map.get("path").and_then(Value::as_str) else {
            return;
        };
        let subpath = map.get("include_subpath") == Some(&Value::Bool(true));
        let id = StableId::derive(path, MethodSet::default(), subpath);
        map.insert("id".into(), Value::String(id.to_string()));
    }
    map.insert(
        "methods".into(),
        Value::Array(
            LITELLM_DEFAULT_METHODS
                .iter()
                .map(|m| (*m).into())
                .collect(),
        ),
    );
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
            a_json_type(&other)
        ))),
    }
}

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
