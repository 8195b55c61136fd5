//! The management commands' inserts and deletes (`routes add`, `keys add`, `... rm`); the
//! triggers bump the revision, so the daemon sees each at its next poll.

use passthru_routes::{Grants, ValueType};
use serde_json::{Map, Value};

use super::{dialect, route_columns};
use crate::database::Database;
use crate::error::SyncError;

/// Inserts a route row; `route` holds the routes.yaml fields (already validated).
pub async fn insert_route(db: &Database, route: &Map<String, Value>) -> Result<i64, SyncError> {
    let result = on_pool!(db, |pool, pg| {
        let sql = route_columns::insert(pg);
        let mut query = sqlx::query_scalar(&sql);
        for field in route_columns::stored() {
            let value = route.get(field.name);
            query = match field.kind.value_type() {
                ValueType::String => query.bind(value.and_then(Value::as_str).map(str::to_owned)),
                ValueType::Boolean => query.bind(value.and_then(Value::as_bool)),
                ValueType::Number => query.bind(value.and_then(Value::as_f64)),
                ValueType::Structure => query.bind(value.map(Value::to_string)),
            };
        }
        query.fetch_one(pool).await
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
