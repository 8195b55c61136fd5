//! passthru's native schema: `passthru_routes` (one row per route, NULL = default, NULL `id` =
//! derived id), `passthru_keys` (hashes only) and `passthru_revision` (the change marker,
//! bumped by triggers; on PostgreSQL the trigger also sends NOTIFY on [`NOTIFY_CHANNEL`]).

use std::time::SystemTime;

use serde_json::{Map, Value};

use super::{key_from_row, short_hash, Read};
use crate::config::DatabaseUrl;
use crate::database::Database;
use crate::error::SyncError;
use crate::snapshot::Snapshot;

pub const NOTIFY_CHANNEL: &str = "passthru_sync";

/// One `passthru_routes` row as the driver returns it; JSON columns as text.
type RouteRow = (
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<bool>,
    Option<String>,
    Option<String>,
    Option<bool>,
    Option<String>,
    Option<f64>,
    Option<bool>,
);

const PG_ROUTES: &str = "SELECT row_id, id, path, target, include_subpath, methods::text, headers::text, \
     forward_headers, default_query_params::text, timeout, auth FROM passthru_routes ORDER BY row_id";
const SQLITE_ROUTES: &str = "SELECT row_id, id, path, target, include_subpath, methods, headers, \
     forward_headers, default_query_params, timeout, auth FROM passthru_routes ORDER BY row_id";
const PG_KEYS: &str =
    "SELECT sha256, to_char(expires AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
     FROM passthru_keys WHERE NOT blocked ORDER BY sha256";
const SQLITE_KEYS: &str =
    "SELECT sha256, expires FROM passthru_keys WHERE NOT blocked ORDER BY sha256";
const REVISION: &str = "SELECT revision FROM passthru_revision";

pub async fn revision(db: &Database) -> Result<i64, SyncError> {
    let result = match db {
        Database::Postgres { pool, .. } => sqlx::query_scalar(REVISION).fetch_one(pool).await,
        Database::Sqlite { pool, .. } => sqlx::query_scalar(REVISION).fetch_one(pool).await,
    };
    result
        .map_err(|e| SyncError::query(db.url(), "reading the change marker (passthru_revision)", e))
}

/// Every route row, every usable key and the revision they belong to, in one transaction.
pub async fn read(db: &Database, now: SystemTime) -> Result<Read, SyncError> {
    let (revision, rows, keys) = read_raw(db).await?;
    let mut snapshot = Snapshot::default();
    for row in rows {
        let (name, value) = row_to_json(&row);
        match value {
            Ok(value) => {
                snapshot.add_route_json(name, &value);
            }
            Err(reason) => snapshot.skip(name, reason),
        }
    }
    for (sha256, expires) in keys {
        match key_from_row(&sha256, expires.as_deref(), now) {
            Ok(Some(key)) => snapshot.add_key(key),
            Ok(None) => {}
            Err(why) => snapshot.skip(format!("passthru_keys sha256 {}", short_hash(&sha256)), why),
        }
    }
    Ok(Read {
        marker: Some(revision),
        snapshot,
    })
}

type RawRead = (i64, Vec<RouteRow>, Vec<(String, Option<String>)>);

async fn read_raw(db: &Database) -> Result<RawRead, SyncError> {
    let url = db.url();
    let q = |doing| move |e| SyncError::query(url, doing, e);
    match db {
        Database::Postgres { pool, .. } => {
            let mut tx = pool
                .begin()
                .await
                .map_err(q("starting a read transaction"))?;
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await
                .map_err(q("starting a read transaction"))?;
            let revision = sqlx::query_scalar(REVISION)
                .fetch_one(&mut *tx)
                .await
                .map_err(q("reading passthru_revision"))?;
            let rows = sqlx::query_as(PG_ROUTES)
                .fetch_all(&mut *tx)
                .await
                .map_err(q("reading passthru_routes"))?;
            let keys = sqlx::query_as(PG_KEYS)
                .fetch_all(&mut *tx)
                .await
                .map_err(q("reading passthru_keys"))?;
            tx.commit()
                .await
                .map_err(q("ending the read transaction"))?;
            Ok((revision, rows, keys))
        }
        Database::Sqlite { pool, .. } => {
            let mut tx = pool
                .begin()
                .await
                .map_err(q("starting a read transaction"))?;
            let revision = sqlx::query_scalar(REVISION)
                .fetch_one(&mut *tx)
                .await
                .map_err(q("reading passthru_revision"))?;
            let rows = sqlx::query_as(SQLITE_ROUTES)
                .fetch_all(&mut *tx)
                .await
                .map_err(q("reading passthru_routes"))?;
            let keys = sqlx::query_as(SQLITE_KEYS)
                .fetch_all(&mut *tx)
                .await
                .map_err(q("reading passthru_keys"))?;
            tx.commit()
                .await
                .map_err(q("ending the read transaction"))?;
            Ok((revision, rows, keys))
        }
    }
}

/// Route rows as JSON objects with their `row_id`, for the `routes` subcommands.
pub async fn route_rows(db: &Database) -> Result<Vec<(i64, Result<Value, String>)>, SyncError> {
    let (_, rows, _) = read_raw(db).await?;
    Ok(rows.iter().map(|row| (row.0, row_to_json(row).1)).collect())
}

/// The row as the JSON object a routes.yaml entry would be; NULL columns are left out (default).
fn row_to_json(row: &RouteRow) -> (String, Result<Value, String>) {
    let (
        row_id,
        id,
        path,
        target,
        include_subpath,
        methods,
        headers,
        forward_headers,
        query,
        timeout,
        auth,
    ) = row;
    let name = format!("passthru_routes row_id {row_id}");
    let mut map = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            map.insert(k.to_owned(), v);
        }
    };
    put("id", id.clone().map(Value::String));
    put("path", path.clone().map(Value::String));
    put("target", target.clone().map(Value::String));
    put("include_subpath", include_subpath.map(Value::Bool));
    put("forward_headers", forward_headers.map(Value::Bool));
    put("auth", auth.map(Value::Bool));
    if let Some(t) = timeout {
        match serde_json::Number::from_f64(*t) {
            Some(n) => put("timeout", Some(Value::Number(n))),
            None => {
                return (
                    name,
                    Err(format!("column `timeout` is {t}, not a number of seconds")),
                )
            }
        }
    }
    for (column, text) in [
        ("methods", methods),
        ("headers", headers),
        ("default_query_params", query),
    ] {
        if let Some(text) = text {
            match serde_json::from_str::<Value>(text) {
                Ok(Value::Null) => {}
                Ok(v) => put(column, Some(v)),
                Err(e) => {
                    let name = match (id, path) {
                        (Some(id), _) => format!("{name} (id {id})"),
                        (None, Some(p)) => format!("{name} (path {p})"),
                        _ => name,
                    };
                    return (name, Err(format!("column `{column}` is not JSON ({e})")));
                }
            }
        }
    }
    (name, Ok(Value::Object(map)))
}

/// Inserts a route row; `route` holds the routes.yaml fields (already validated).
pub async fn insert_route(db: &Database, route: &Map<String, Value>) -> Result<i64, SyncError> {
    let text = |k: &str| route.get(k).and_then(Value::as_str).map(str::to_owned);
    let boolean = |k: &str| route.get(k).and_then(Value::as_bool);
    let json = |k: &str| route.get(k).map(Value::to_string);
    let timeout = route.get("timeout").and_then(Value::as_f64);
    let url: &DatabaseUrl = db.url();
    let result = match db {
        Database::Postgres { pool, .. } => {
            sqlx::query_scalar(
                "INSERT INTO passthru_routes (id, path, target, include_subpath, methods, headers, \
                 forward_headers, default_query_params, timeout, auth) \
                 VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8::jsonb, $9, $10) RETURNING row_id",
            )
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
        }
        Database::Sqlite { pool, .. } => {
            sqlx::query_scalar(
                "INSERT INTO passthru_routes (id, path, target, include_subpath, methods, headers, \
                 forward_headers, default_query_params, timeout, auth) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING row_id",
            )
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
        }
    };
    result.map_err(|e| SyncError::query(url, "inserting into passthru_routes", e))
}

pub async fn delete_route_rows(db: &Database, row_ids: &[i64]) -> Result<u64, SyncError> {
    let mut deleted = 0;
    for row_id in row_ids {
        let result = match db {
            Database::Postgres { pool, .. } => {
                sqlx::query("DELETE FROM passthru_routes WHERE row_id = $1")
                    .bind(row_id)
                    .execute(pool)
                    .await
                    .map(|r| r.rows_affected())
            }
            Database::Sqlite { pool, .. } => {
                sqlx::query("DELETE FROM passthru_routes WHERE row_id = ?")
                    .bind(row_id)
                    .execute(pool)
                    .await
                    .map(|r| r.rows_affected())
            }
        };
        deleted +=
            result.map_err(|e| SyncError::query(db.url(), "deleting from passthru_routes", e))?;
    }
    Ok(deleted)
}

/// A `passthru_keys` row for `keys list`.
pub struct KeyRow {
    pub sha256: String,
    pub expires: Option<String>,
    pub blocked: bool,
    pub note: Option<String>,
}

pub async fn key_rows(db: &Database) -> Result<Vec<KeyRow>, SyncError> {
    type Row = (String, Option<String>, bool, Option<String>);
    let result: Result<Vec<Row>, _> = match db {
        Database::Postgres { pool, .. } => sqlx::query_as(
            "SELECT sha256, to_char(expires AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
             blocked, note FROM passthru_keys ORDER BY sha256",
        )
        .fetch_all(pool)
        .await,
        Database::Sqlite { pool, .. } => sqlx::query_as(
            "SELECT sha256, expires, blocked, note FROM passthru_keys ORDER BY sha256",
        )
        .fetch_all(pool)
        .await,
    };
    let rows = result.map_err(|e| SyncError::query(db.url(), "reading passthru_keys", e))?;
    Ok(rows
        .into_iter()
        .map(|(sha256, expires, blocked, note)| KeyRow {
            sha256,
            expires,
            blocked,
            note,
        })
        .collect())
}

pub async fn insert_key(
    db: &Database,
    sha256: &str,
    expires: Option<&str>,
    note: Option<&str>,
) -> Result<(), SyncError> {
    let result = match db {
        Database::Postgres { pool, .. } => sqlx::query(
            "INSERT INTO passthru_keys (sha256, expires, note) VALUES ($1, $2::timestamptz, $3)",
        )
        .bind(sha256)
        .bind(expires)
        .bind(note)
        .execute(pool)
        .await
        .map(|_| ()),
        Database::Sqlite { pool, .. } => {
            sqlx::query("INSERT INTO passthru_keys (sha256, expires, note) VALUES (?, ?, ?)")
                .bind(sha256)
                .bind(expires)
                .bind(note)
                .execute(pool)
                .await
                .map(|_| ())
        }
    };
    result.map_err(|e| SyncError::query(db.url(), "inserting into passthru_keys", e))
}

pub async fn delete_key(db: &Database, sha256: &str) -> Result<u64, SyncError> {
    let result = match db {
        Database::Postgres { pool, .. } => {
            sqlx::query("DELETE FROM passthru_keys WHERE sha256 = $1")
                .bind(sha256)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        }
        Database::Sqlite { pool, .. } => sqlx::query("DELETE FROM passthru_keys WHERE sha256 = ?")
            .bind(sha256)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()),
    };
    result.map_err(|e| SyncError::query(db.url(), "deleting from passthru_keys", e))
}
