//! `passthru_keys`: each row decoded column by column, blocked and grants decided here and
//! failing closed, and the usable keys added to the table.

use std::collections::HashMap;
use std::time::SystemTime;

use passthru_routes::{check_grant_list, Grants, GrantsInterner, KeyHash};
use serde_json::Value;

use super::{dialect, PG_KEYS, SQLITE_KEYS};
use crate::database::Database;
use crate::error::SyncError;
use crate::snapshot::Snapshot;
use crate::source::cells::{required, Cell, Cells};
use crate::source::{json_type, key_from_row, short_hash};

/// The usable keys of `rows`, each with its grants. A hash that any row blocks (or leaves
/// unclear) is refused in every row: SQLite and PostgreSQL compare text, so `ABC…` and `abc…` (or
/// ` abc…`) are two rows that both parse to one key, and the active one must not outlive the
/// blocked one. For the same reason, rows of one hash that grant different access all fail
/// closed: which row would win is an accident of collation, never the operator's choice.
pub(super) fn add_keys(snapshot: &mut Snapshot, rows: &[KeyRow], now: SystemTime) {
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

/// One `passthru_keys` row, each column decoded on its own.
pub(super) struct KeyRow {
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
    pub(super) fn decode(row: &impl Cells) -> KeyRow {
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
