//! PostgreSQL LISTEN: the native schema's trigger sends NOTIFY at commit, so a change reaches
//! the file at once instead of at the next poll. Polling carries on beside it.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::Notify;

/// Holds a LISTEN connection and wakes the loop on every NOTIFY, and once after each
/// (re)connect since commits may have been missed meanwhile. Reconnects with a capped backoff.
pub(crate) async fn listen(pool: sqlx::PgPool, channel: &'static str, changed: Arc<Notify>) {
    let mut retry = Duration::from_millis(500);
    loop {
        let connected = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(channel).await?;
            Ok::<_, sqlx::Error>(listener)
        }
        .await;
        let mut listener = match connected {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(error = %e, "LISTEN connection failed; retrying");
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        tracing::debug!(channel, "listening for commits");
        retry = Duration::from_millis(500);
        changed.notify_one();
        loop {
            match listener.try_recv().await {
                Ok(Some(_)) => changed.notify_one(),
                Ok(None) => {
                    tracing::warn!("LISTEN connection lost; polling continues, reconnecting");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "LISTEN connection failed; polling continues, reconnecting");
                    break;
                }
            }
        }
    }
}
