//! passthru's native schema: `passthru_routes` (one row per route, NULL = default, NULL `id` =
//! derived id), `passthru_keys` (hashes only) and `passthru_revision` (the change marker,
//! bumped by triggers; on PostgreSQL the trigger also sends NOTIFY on [`NOTIFY_CHANNEL`]).
//!
//! Every row is decoded column by column ([`Cells`]): a value of the wrong type makes its row a
//! skipped, named row, never a failed read, so one bad row cannot hold back a revocation.

use std::collections::HashMap;
use std::time::SystemTime;

use passthru_routes::{check_grant_list, Grants, GrantsInterner, KeyHash};
use serde_json::{Map, Value};

use super::cells::{required, Cell, Cells};
use super::{begin_read, json_type, key_from_row, short_hash, Read};
use crate::database::Database;
use crate::error::SyncError;
use crate::snapshot::Snapshot;

pub const NOTIFY_CHANNEL: &str = "passthru_sync";

/// Runs `$body` with `$pool` bound to the pool `$db` holds and `$pg` to whether it is
/// PostgreSQL: one text for both drivers, type-checked once per driver. The body must turn
/// driver rows into driver-independent values before it ends.
macro_rules! on_pool {
    ($db:expr, |$pool:ident, $pg:ident| $body:expr) => {
        match $db {
            Database::Postgres { pool: $pool, .. } => {
                let $pg = true;
                $body
            }
            Database::Sqlite { pool: $pool, .. } => {
                let $pg = false;
                $body
            }
        }
    };
}

/// The SQL for `pg` (PostgreSQL) or SQLite.
fn dialect(pg: bool, postgres: &'static str, sqlite: &'static str) -> &'static str {
    if pg {
        postgres
    } else {
        sqlite
    }
}

const PG_ROUTES: &str = "SELECT row_id, id, path, target, include_subpath, methods::text AS methods, \
     headers::text AS headers, forward_headers, default_query_params::text AS default_query_params, \
     timeout, auth FROM passthru_routes ORDER BY row_id";
const SQLITE_ROUTES: &str = "SELECT row_id, id, path, target, include_subpath, methods, headers, \
     forward_headers, default_query_params, timeout, auth FROM passthru_routes ORDER BY row_id";
/// Every key row, blocked or not: whether a key is blocked is decided in Rust ([`KeyRow::blocked`]),
/// because SQL's `NOT blocked` reads SQLite text such as `'true'` as false. `-infinity` (already
/// expired) is given as the epoch: `to_char` turns it, like `infinity`, into NULL ("never").
const PG_KEYS: &str = "SELECT NULL::int8 AS rowid, sha256, \
     CASE WHEN expires = '-infinity' THEN '1970-01-01T00:00:00Z' \
     ELSE to_char(expires AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') END AS expires, \
     blocked, note, admin, allow::text AS allow, deny::text AS deny, \"only\"::text AS \"only\" \
     FROM passthru_keys ORDER BY sha256";
const SQLITE_KEYS: &str =
    "SELECT rowid, sha256, expires, blocked, note, admin, allow, deny, \"only\" \
     FROM passthru_keys ORDER BY sha256";
const REVISION: &str = "SELECT revision FROM passthru_revision";

/// The change marker. `None` when it cannot be read as an integer (or its row is gone): the
/// daemon then reads every row at every poll, as for a schema without a marker, so changes still
/// reach the file; [`read`] reports why.
pub async fn revision(db: &Database) -> Result<Option<i64>, SyncError> {
    let row = on_pool!(db, |pool, _pg| sqlx::query(REVISION)
        .fetch_optional(pool)
        .await
        .map(|row| row.map(|row| row.integer("revision"))));
    let row = row.map_err(|e| {
        SyncError::query(db.url(), "reading the change marker (passthru_revision)", e)
    })?;
    Ok(marker(row).ok())
}

fn marker(row: Option<Cell<i64>>) -> Result<i64, String> {
    let fix = "every poll reads every row until it is fixed";
    match row {
        None => Err(format!(
            "the table has no row; {fix}: INSERT INTO passthru_revision (singleton, revision) \
             VALUES (TRUE, 0) on PostgreSQL, (1, 0) on SQLite"
        )),
        Some(cell) => required(cell, "revision")
            .map_err(|why| format!("{why}; {fix}: UPDATE passthru_revision SET revision = 0")),
    }
}

/// Every route row, every usable key and the revision they belong to, in one transaction.
pub async fn read(db: &Database, now: SystemTime) -> Result<Read, SyncError> {
    let raw = read_raw(db).await?;
    let mut snapshot = Snapshot::default();
    let marker = match marker(raw.revision) {
        Ok(marker) => Some(marker),
        Err(why) => {
            snapshot.skip("passthru_revision".to_owned(), why);
            None
        }
    };
    for row in raw.routes {
        match row {
            Ok(row) => {
                let (name, value) = row.to_json();
                match value {
                    Ok(value) => {
                        snapshot.add_route_json(name, &value);
                    }
                    Err(reason) => snapshot.skip(name, reason),
                }
            }
            Err(refused) => snapshot.skip(refused.name, refused.reason),
        }
    }
    add_keys(&mut snapshot, &raw.keys, now);
    Ok(Read {
        marker: marker.map(super::Marker::Revision),
        snapshot,
        routes_unusable: None,
    })
}

/// The usable keys of `rows`, each with its grants. A hash that any row blocks (or leaves
/// unclear) is refused in every row: SQLite and PostgreSQL compare text, so `ABC…` and `abc…` (or
/// ` abc…`) are two rows that both parse to one key, and the active one must not outlive the
/// blocked one. For the same reason, rows of one hash that grant different access all fail
/// closed: which row would win is an accident of collation, never the operator's choice.
fn add_keys(snapshot: &mut Snapshot, rows: &[KeyRow], now: SystemTime) {
    let blocked: HashMap<[u8; 32], String> = rows
        .iter()
        .filter(|row| row.blocked() != Ok(false))
        .filter_map(|row| Some((row.hash()?, row.name())))
        .collect();
    let mut usable: Vec<(&KeyRow, KeyHash, Grants)> = Vec::new();
    for row in rows {
        match row.usable(now) {
            Ok(Some(key)) => match blocked.get(&key.sha256) {
                Some(other) => snapshot.skip(
                    row.name(),
                    format!("{other} holds the same hash and is blocked; the key is refused"),
                ),
                None => {
                    let grants = row.grants().unwrap_or_else(|why| {
                        snapshot.skip(row.name(), format!("{why}; {NO_GRANT}; {FIX_COLUMN}"));
                        no_grant()
                    });
                    usable.push((row, key, grants));
                }
            },
            Ok(None) => {}
            Err(why) => snapshot.skip(row.name(), why),
        }
    }
    // The rows of each hash, by name, and whether their grants differ.
    let mut by_hash: HashMap<[u8; 32], (usize, Vec<String>, bool)> = HashMap::new();
    for (i, (row, key, grants)) in usable.iter().enumerate() {
        let entry = by_hash
            .entry(key.sha256)
            .or_insert_with(|| (i, Vec::new(), false));
        entry.1.push(row.name());
        entry.2 |= usable[entry.0].2 != *grants;
    }
    let mut interner = GrantsInterner::default();
    for (row, key, grants) in usable {
        let grants = match by_hash.get(&key.sha256) {
            Some((_, names, true)) => {
                snapshot.skip(
                    row.name(),
                    format!(
                        "the rows {} hold this hash with different grants (admin, allow, deny, \
                         only); {NO_GRANT}; give them the same grants or delete all but one",
                        names.join(", ")
                    ),
                );
                no_grant()
            }
            _ => grants,
        };
        snapshot.add_key(key.with_grants(grants, &mut interner));
    }
}

/// What happens to a key whose grants cannot be read: it stays in the file (so it is known and
/// its holder gets a clear 403) with no grant at all, never unscoped.
const NO_GRANT: &str = "the key keeps no grant and is refused on every auth: true route";

const FIX_COLUMN: &str = "fix the column (NULL is the default)";

/// No grant at all: `allow: []`, not admin. What a key whose grants cannot be read gets.
fn no_grant() -> Grants {
    Grants {
        allow: Some(Vec::new()),
        ..Grants::default()
    }
}

/// One read: the marker row, the route rows and the key rows, each decoded on its own.
struct RawRead {
    revision: Option<Cell<i64>>,
    routes: Vec<Result<RouteRow, RefusedRow>>,
    keys: Vec<KeyRow>,
}

async fn read_raw(db: &Database) -> Result<RawRead, SyncError> {
    let url = db.url();
    let q = |doing| move |e| SyncError::query(url, doing, e);
    on_pool!(db, |pool, pg| {
        let mut tx = begin_read(pool, url).await?;
        let revision = sqlx::query(REVISION)
            .fetch_optional(&mut *tx)
            .await
            .map_err(q("reading passthru_revision"))?;
        let routes = sqlx::query(dialect(pg, PG_ROUTES, SQLITE_ROUTES))
            .fetch_all(&mut *tx)
            .await
            .map_err(q("reading passthru_routes"))?;
        let keys = sqlx::query(dialect(pg, PG_KEYS, SQLITE_KEYS))
            .fetch_all(&mut *tx)
            .await
            .map_err(q("reading passthru_keys"))?;
        tx.commit()
            .await
            .map_err(q("ending the read transaction"))?;
        Ok(RawRead {
            revision: revision.map(|row| row.integer("revision")),
            routes: routes.iter().map(RouteRow::decode).collect(),
            keys: keys.iter().map(KeyRow::decode).collect(),
        })
    })
}

/// Route rows as JSON objects with their `row_id`, for the `routes` subcommands.
pub async fn route_rows(db: &Database) -> Result<Vec<(i64, Result<Value, String>)>, SyncError> {
    let raw = read_raw(db).await?;
    Ok(raw
        .routes
        .into_iter()
        .map(|row| match row {
            Ok(row) => (row.row_id, row.to_json().1),
            Err(refused) => (refused.row_id, Err(refused.reason)),
        })
        .collect())
}

/// A route row with a column of the wrong type.
struct RefusedRow {
    row_id: i64,
    name: String,
    reason: String,
}

/// One `passthru_routes` row; JSON columns as text.
#[derive(Debug)]
struct RouteRow {
    row_id: i64,
    id: Option<String>,
    path: Option<String>,
    target: Option<String>,
    include_subpath: Option<bool>,
    methods: Option<String>,
    headers: Option<String>,
    forward_headers: Option<bool>,
    default_query_params: Option<String>,
    timeout: Option<f64>,
    auth: Option<bool>,
}

impl RouteRow {
    /// Each column on its own. A row with any column of the wrong type is refused, the reason
    /// naming every such column.
    fn decode(row: &impl Cells) -> Result<RouteRow, RefusedRow> {
        let mut problems = Vec::new();
        let p = &mut problems;
        let decoded = RouteRow {
            // The primary key: an integer on both databases, whatever else the row holds.
            row_id: usable(row.integer("row_id"), p).unwrap_or(-1),
            id: usable(row.text("id"), p),
            path: usable(row.text("path"), p),
            target: usable(row.text("target"), p),
            include_subpath: usable(row.boolean("include_subpath"), p),
            methods: usable(row.text("methods"), p),
            headers: usable(row.text("headers"), p),
            forward_headers: usable(row.boolean("forward_headers"), p),
            default_query_params: usable(row.text("default_query_params"), p),
            timeout: usable(row.number("timeout"), p),
            auth: usable(row.boolean("auth"), p),
        };
        if problems.is_empty() {
            return Ok(decoded);
        }
        Err(RefusedRow {
            row_id: decoded.row_id,
            name: decoded.name(),
            reason: problems.join("; "),
        })
    }

    /// `passthru_routes row_id 7`, with the id or else the path when the row has one.
    fn name(&self) -> String {
        let name = format!("passthru_routes row_id {}", self.row_id);
        match (&self.id, &self.path) {
            (Some(id), _) => format!("{name} (id {id})"),
            (None, Some(p)) => format!("{name} (path {p})"),
            _ => name,
        }
    }

    /// The row as the JSON object a routes.yaml entry would be; NULL columns are left out
    /// (default). The name is the bare `passthru_routes row_id N` when the row is handed on
    /// (validation adds the id and path), and [`RouteRow::name`] when it is refused here.
    fn to_json(&self) -> (String, Result<Value, String>) {
        let name = format!("passthru_routes row_id {}", self.row_id);
        let mut map = Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                map.insert(k.to_owned(), v);
            }
        };
        put("id", self.id.clone().map(Value::String));
        put("path", self.path.clone().map(Value::String));
        put("target", self.target.clone().map(Value::String));
        put("include_subpath", self.include_subpath.map(Value::Bool));
        put("forward_headers", self.forward_headers.map(Value::Bool));
        put("auth", self.auth.map(Value::Bool));
        if let Some(t) = self.timeout {
            match serde_json::Number::from_f64(t) {
                Some(n) => put("timeout", Some(Value::Number(n))),
                None => {
                    return (
                        self.name(),
                        Err(format!("column `timeout` is {t}, not a number of seconds")),
                    )
                }
            }
        }
        for (column, text) in [
            ("methods", &self.methods),
            ("headers", &self.headers),
            ("default_query_params", &self.default_query_params),
        ] {
            if let Some(text) = text {
                match serde_json::from_str::<Value>(text) {
                    Ok(Value::Null) => {}
                    Ok(v) => put(column, Some(v)),
                    Err(e) => {
                        return (
                            self.name(),
                            Err(format!("column `{column}` is not JSON ({e})")),
                        )
                    }
                }
            }
        }
        (name, Ok(Value::Object(map)))
    }
}

/// The value of a cell, or `None` with the problem noted.
fn usable<T>(cell: Cell<T>, problems: &mut Vec<String>) -> Option<T> {
    cell.unwrap_or_else(|why| {
        problems.push(why);
        None
    })
}

/// One `passthru_keys` row, each column decoded on its own.
struct KeyRow {
    /// SQLite's rowid, which names a row whose hash cannot be read; NULL on PostgreSQL, where
    /// `sha256` is a non-NULL text primary key.
    rowid: Option<i64>,
    sha256: Cell<String>,
    expires: Cell<String>,
    blocked: Cell<bool>,
    note: Cell<String>,
    admin: Cell<bool>,
    /// The JSON lists as text.
    allow: Cell<String>,
    deny: Cell<String>,
    only: Cell<String>,
}

impl KeyRow {
    fn decode(row: &impl Cells) -> KeyRow {
        KeyRow {
            rowid: row.integer("rowid").ok().flatten(),
            sha256: row.text("sha256"),
            expires: row.text("expires"),
            blocked: row.boolean("blocked"),
            note: row.text("note"),
            admin: row.boolean("admin"),
            allow: row.text("allow"),
            deny: row.text("deny"),
            only: row.text("only"),
        }
    }

    /// The routes the key may use, decided here and failing closed: `Err(why)` (naming every
    /// column that cannot be read) when `admin` is not a clear boolean (PostgreSQL `true` or
    /// `false`, SQLite the integer 0 or 1; NULL is not one either) or a list column is not NULL,
    /// JSON `null`, or a JSON list of strings within [`check_grant_list`]'s limits. The caller
    /// then gives the key no grant at all: a malformed `admin` never makes an admin, and a
    /// malformed list is never read as "every route".
    fn grants(&self) -> Result<Grants, String> {
        let mut problems = Vec::new();
        let admin = match &self.admin {
            Ok(Some(admin)) => *admin,
            Ok(None) => {
                problems.push("column `admin` is NULL, expected a boolean".to_owned());
                false
            }
            Err(why) => {
                problems.push(why.clone());
                false
            }
        };
        let mut list = |cell: &Cell<String>, column: &str| match grant_list(cell, column) {
            Ok(list) => list,
            Err(why) => {
                problems.push(why);
                None
            }
        };
        let grants = Grants {
            admin,
            allow: list(&self.allow, "allow"),
            deny: list(&self.deny, "deny").unwrap_or_default(),
            only: list(&self.only, "only"),
        };
        if problems.is_empty() {
            Ok(grants)
        } else {
            Err(problems.join("; "))
        }
    }

    /// `passthru_keys sha256 0123456789ab` (the first 12 digits), or `passthru_keys rowid 7`
    /// when the hash cannot be read.
    fn name(&self) -> String {
        match (&self.sha256, self.rowid) {
            (Ok(Some(hex)), _) => format!("passthru_keys sha256 {}", short_hash(hex)),
            (_, Some(rowid)) => format!("passthru_keys rowid {rowid}"),
            _ => "passthru_keys row".to_owned(),
        }
    }

    /// Whether the key is blocked. Decided here, not in SQL, and failing closed: only a clear
    /// false (PostgreSQL `false`, SQLite the integer 0) is "not blocked"; a clear true is
    /// "blocked"; anything else (NULL, text such as `'true'` or `'false'`, `2`, `0.5`, a BLOB)
    /// is `Err(why)`, and such a key is refused as if blocked.
    fn blocked(&self) -> Result<bool, String> {
        let refused = "the key is refused as if blocked (set blocked to 0 or 1)";
        match &self.blocked {
            Ok(Some(blocked)) => Ok(*blocked),
            Ok(None) => Err(format!("column `blocked` is NULL; {refused}")),
            Err(why) => Err(format!("{why}; {refused}")),
        }
    }

    /// The hash, when it can be read at all.
    fn hash(&self) -> Option<[u8; 32]> {
        let hex = self.sha256.as_ref().ok()?.as_ref()?;
        KeyHash::parse_hex(hex.trim()).ok()
    }

    /// The key to accept, before its grants: `Ok(None)` for a key that is blocked or has
    /// expired, `Err(why)` for a row that cannot be served (refused, and reported).
    fn usable(&self, now: SystemTime) -> Result<Option<KeyHash>, String> {
        if self.blocked()? {
            return Ok(None);
        }
        let sha256 = required(self.sha256.clone(), "sha256")?;
        let expires = self.expires.clone()?;
        key_from_row(&sha256, expires.as_deref(), now)
    }
}

/// One of the list columns (`allow`, `deny`, `only`): `None` for SQL NULL or JSON `null` (the
/// field's default), else a JSON list of strings within [`check_grant_list`]'s limits. Errors
/// name the column and what it holds, never the entries.
fn grant_list(cell: &Cell<String>, column: &str) -> Result<Option<Vec<String>>, String> {
    let text = match cell {
        Ok(None) => return Ok(None),
        Ok(Some(text)) => text,
        Err(why) => return Err(why.clone()),
    };
    let expected = "expected a JSON list of paths such as [\"/cohere\"] or NULL";
    let items = match serde_json::from_str::<Value>(text) {
        Ok(Value::Null) => return Ok(None),
        Ok(Value::Array(items)) => items,
        Ok(other) => {
            return Err(format!(
                "column `{column}` holds a JSON {}, {expected}",
                json_type(&other)
            ))
        }
        Err(e) => return Err(format!("column `{column}` is not JSON ({e}), {expected}")),
    };
    let mut list = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        match item {
            Value::String(entry) => list.push(entry),
            other => {
                return Err(format!(
                    "column `{column}` entry {i} is a JSON {}, expected a string",
                    json_type(&other)
                ))
            }
        }
    }
    check_grant_list(&list).map_err(|why| format!("column `{column}` {why}"))?;
    Ok(Some(list))
}

/// A `passthru_keys` row for `keys list`.
pub struct ListedKey {
    /// The hash as stored, or the row's name when it cannot be read.
    pub sha256: String,
    pub expires: Option<String>,
    /// True unless the row clearly says false, as the daemon decides.
    pub blocked: bool,
    pub note: Option<String>,
    /// The routes the key may use, as the daemon decides them (no grant at all when a column
    /// cannot be read).
    pub grants: Grants,
    /// Why columns of this row cannot be read, each with the row's name.
    pub problems: Vec<String>,
}

pub async fn key_rows(db: &Database) -> Result<Vec<ListedKey>, SyncError> {
    let rows = on_pool!(db, |pool, pg| sqlx::query(dialect(
        pg,
        PG_KEYS,
        SQLITE_KEYS
    ))
    .fetch_all(pool)
    .await
    .map(|rows| rows.iter().map(KeyRow::decode).collect::<Vec<_>>()));
    let rows = rows.map_err(|e| SyncError::query(db.url(), "reading passthru_keys", e))?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let name = row.name();
            let mut problems = Vec::new();
            let mut p = |cell: Cell<String>| {
                cell.unwrap_or_else(|why| {
                    problems.push(format!("{name}: {why}"));
                    None
                })
            };
            let sha256 = p(row.sha256.clone()).unwrap_or_else(|| name.clone());
            let expires = p(row.expires.clone());
            let note = p(row.note.clone());
            let blocked = row.blocked().unwrap_or_else(|why| {
                problems.push(format!("{name}: {why}"));
                true
            });
            let grants = row.grants().unwrap_or_else(|why| {
                problems.push(format!("{name}: {why}; {NO_GRANT}; {FIX_COLUMN}"));
                no_grant()
            });
            ListedKey {
                sha256,
                expires,
                blocked,
                note,
                grants,
                problems,
            }
        })
        .collect())
}

/// Inserts a route row; `route` holds the routes.yaml fields (already validated).
pub async fn insert_route(db: &Database, route: &Map<String, Value>) -> Result<i64, SyncError> {
    let text = |k: &str| route.get(k).and_then(Value::as_str).map(str::to_owned);
    let boolean = |k: &str| route.get(k).and_then(Value::as_bool);
    let json = |k: &str| route.get(k).map(Value::to_string);
    let timeout = route.get("timeout").and_then(Value::as_f64);
    let result = on_pool!(db, |pool, pg| {
        sqlx::query_scalar(dialect(
            pg,
            "INSERT INTO passthru_routes (id, path, target, include_subpath, methods, headers, \
             forward_headers, default_query_params, timeout, auth) \
             VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8::jsonb, $9, $10) RETURNING row_id",
            "INSERT INTO passthru_routes (id, path, target, include_subpath, methods, headers, \
             forward_headers, default_query_params, timeout, auth) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING row_id",
        ))
        .bind(text("id"))
        .bind(text("path"))
        .bind(text("target"))
        .bind(boolean("include_subpath"))
        .bind(json("methods"))
        .bind(json("headers"))
        .bind(boolean("forward_headers"))
        .bind(json("default_query_params"))
        .bind(timeout)
        .bind(boolean("auth"))
        .fetch_one(pool)
        .await
    });
    result.map_err(|e| SyncError::query(db.url(), "inserting into passthru_routes", e))
}

pub async fn delete_route_rows(db: &Database, row_ids: &[i64]) -> Result<u64, SyncError> {
    let mut deleted = 0;
    for row_id in row_ids {
        let result = on_pool!(db, |pool, _pg| sqlx::query(
            "DELETE FROM passthru_routes WHERE row_id = $1"
        )
        .bind(row_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()));
        deleted +=
            result.map_err(|e| SyncError::query(db.url(), "deleting from passthru_routes", e))?;
    }
    Ok(deleted)
}

/// Inserts a key row; `grants` already checked. NULL is written for every default (`allow`
/// absent, `deny` empty, `only` absent), so the row reads like one written by hand.
pub async fn insert_key(
    db: &Database,
    sha256: &str,
    expires: Option<&str>,
    note: Option<&str>,
    grants: &Grants,
) -> Result<(), SyncError> {
    let json = |list: Option<&[String]>| list.map(|l| Value::from(l.to_vec()).to_string());
    let allow = json(grants.allow.as_deref());
    let deny = json(Some(grants.deny.as_slice()).filter(|d| !d.is_empty()));
    let only = json(grants.only.as_deref());
    let result = on_pool!(db, |pool, pg| sqlx::query(dialect(
        pg,
        "INSERT INTO passthru_keys (sha256, expires, note, admin, allow, deny, \"only\") \
         VALUES ($1, $2::timestamptz, $3, $4, $5::jsonb, $6::jsonb, $7::jsonb)",
        "INSERT INTO passthru_keys (sha256, expires, note, admin, allow, deny, \"only\") \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    ))
    .bind(sha256)
    .bind(expires)
    .bind(note)
    .bind(grants.admin)
    .bind(&allow)
    .bind(&deny)
    .bind(&only)
    .execute(pool)
    .await
    .map(|_| ()));
    result.map_err(|e| SyncError::query(db.url(), "inserting into passthru_keys", e))
}

pub async fn delete_key(db: &Database, sha256: &str) -> Result<u64, SyncError> {
    let result = on_pool!(db, |pool, _pg| sqlx::query(
        "DELETE FROM passthru_keys WHERE sha256 = $1"
    )
    .bind(sha256)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()));
    result.map_err(|e| SyncError::query(db.url(), "deleting from passthru_keys", e))
}
