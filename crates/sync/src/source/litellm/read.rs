//! One full read of LiteLLM's tables: the settings row, the keys, the teams, the admins and the
//! rotated keys in one REPEATABLE READ snapshot, each row decoded on its own.

use std::path::Path;
use std::time::SystemTime;

use serde_json::Value;
use sqlx::PgPool;

use super::marker::{config_hash, fingerprint, quick, Marker};
use super::queries::{ADMIN_USERS, DEPRECATED, HAS_DEPRECATED, SETTINGS, TEAMS, TOKENS};
use super::settings::Settings;
use super::snapshot::snapshot_of;
use crate::config::DatabaseUrl;
use crate::error::SyncError;
use crate::snapshot::ValidatedRoutes;
use crate::source::cells::{required, Cells};
use crate::source::litellm_access::{AccessRows, DeprecatedRow, TeamRow, TokenRow};
use crate::source::{begin_read, parse_utc, short_hash, Read, UnusableRoutes};

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
    previous: ValidatedRoutes,
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
    let mut tx = begin_read(&mut *conn, url).await?;
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
    let mut snapshot = snapshot_of(settings, &access, now, previous);
    for (row, why) in bad_rows {
        snapshot.skip(row, why);
    }
    Ok(Read {
        marker: quick.zip(fingerprint).map(|(quick, fingerprint)| {
            crate::source::Marker::Litellm(Marker {
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
