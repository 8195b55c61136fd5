//! LiteLLM's change marker: what tells a poll, cheaply, that nothing deciding routing or access
//! was written since the last read.

use std::path::Path;

use sqlx::PgPool;

use super::queries::{fingerprint_query, HAS_DEPRECATED, QUICK};
use crate::config::DatabaseUrl;
use crate::error::SyncError;
use crate::source::begin_read;

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

pub(super) fn config_hash(path: Option<&Path>) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let bytes = std::fs::read(path?).ok()?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    Some(h.finish())
}

pub(super) async fn quick(
    conn: &mut sqlx::PgConnection,
    url: &DatabaseUrl,
) -> Result<String, SyncError> {
    sqlx::query_scalar(QUICK)
        .fetch_one(conn)
        .await
        .map_err(|e| SyncError::query(url, "reading the write counters (pg_stat_get_tuples_*)", e))
}

pub(super) async fn fingerprint(
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
    let mut tx = begin_read(&mut *conn, url).await?;
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
