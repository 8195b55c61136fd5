//! passthru's native schema: `passthru_routes` (one row per route, NULL = default, NULL `id` =
//! derived id), `passthru_keys` (hashes only) and `passthru_revision` (the change marker,
//! bumped by triggers; on PostgreSQL the trigger also sends NOTIFY on [`NOTIFY_CHANNEL`]).
//!
//! Every row is decoded column by column ([`Cells`]): a value of the wrong type makes its row a
//! skipped, named row, never a failed read, so one bad row cannot hold back a revocation.

use std::time::SystemTime;

use serde_json::Value;

use super::cells::{required, Cell, Cells};
use super::{begin_read, Read};
use crate::database::Database;
use crate::error::SyncError;
use crate::snapshot::{Snapshot, ValidatedRoutes};

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

// Below the macro: a `macro_rules!` is in scope only after its definition.
mod keys;
pub mod route_columns;
mod route_row;
mod write;

pub use keys::{key_rows, ListedKey};
pub use write::{delete_key, delete_route_rows, insert_key, insert_route};

use keys::{add_keys, KeyRow};
use route_row::{RefusedRow, RouteRow};

/// The SQL for `pg` (PostgreSQL) or SQLite.
fn dialect(pg: bool, postgres: &'static str, sqlite: &'static str) -> &'static str {
    if pg {
        postgres
    } else {
        sqlite
    }
}

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
/// Rows that `previous` validated are not validated again.
pub async fn read(
    db: &Database,
    now: SystemTime,
    previous: ValidatedRoutes,
) -> Result<Read, SyncError> {
    let raw = read_raw(db).await?;
    let mut snapshot = Snapshot::reusing(previous);
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
        let routes = sqlx::query(&route_columns::select(pg))
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
