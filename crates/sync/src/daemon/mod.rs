//! The daemon: one [`Syncer`] pass at a time, on a jittered timer, on SIGHUP and on NOTIFY,
//! backing off while the database fails. A failed pass never touches the file; the loop
//! recovers by itself.

mod listen;
mod pass;
mod skips;

use std::time::Duration;

use passthru_systemd::{watchdog_interval, Notifier};

use crate::database::Database;
use crate::signals::Wakeups;

pub use pass::{PassOutcome, Stats, Syncer};

/// Loop timing.
#[derive(Debug, Clone)]
pub struct LoopOptions {
    pub interval: Duration,
    /// The longest wait between attempts while the database fails.
    pub max_backoff: Duration,
    /// Use PostgreSQL LISTEN/NOTIFY when the schema announces commits.
    pub listen: bool,
}

/// Runs until SIGTERM/SIGINT (`wakeups.shutdown`); returns Ok then, whatever the database did.
pub async fn run(
    mut syncer: Syncer,
    options: LoopOptions,
    mut wakeups: Wakeups,
    notifier: Notifier,
) {
    let mut rng = Jitter::seeded();
    syncer.remove_stale_temp_files();
    if options.listen {
        if let (Some(channel), Database::Postgres { pool, .. }) =
            (syncer.source().notify_channel(), &syncer.source().database)
        {
            tokio::spawn(listen::listen(
                pool.clone(),
                channel,
                wakeups.changed.clone(),
            ));
        }
    }
    if let Some(every) = watchdog_interval() {
        let pinger = Notifier::from_env();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                pinger.watchdog();
            }
        });
    }
    let mut ready = false;
    let mut failures: u32 = 0;
    let mut force = true;
    loop {
        let result = tokio::select! {
            biased;
            _ = wakeups.shutdown.wait_for(|stop| *stop) => break,
            result = syncer.pass(force) => result,
        };
        match result {
            Ok(_) => {
                if failures > 0 {
                    tracing::info!(failures, "database reachable again; routes file in sync");
                }
                failures = 0;
                let status = syncer.status_line();
                if ready {
                    notifier.status(&status);
                } else {
                    ready = true;
                    notifier.ready(&status);
                }
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                let retry = backoff(options.interval, failures, options.max_backoff);
                tracing::error!(
                    error = %e,
                    failures,
                    retry_in = %humantime::format_duration(retry),
                    "pass failed; the routes file keeps the last good table"
                );
                notifier.status(&format!(
                    "pass failed ({failures} in a row), file unchanged: {e}"
                ));
            }
        }
        let wait = if failures == 0 {
            rng.around(options.interval)
        } else {
            backoff(options.interval, failures, options.max_backoff)
        };
        tokio::select! {
            biased;
            _ = wakeups.shutdown.wait_for(|stop| *stop) => break,
            _ = wakeups.poll_now.notified() => force = true,
            _ = wakeups.changed.notified() => {
                force = false;
                syncer.announce_change();
            }
            _ = tokio::time::sleep(wait) => force = false,
        }
    }
    notifier.stopping();
    tracing::info!(writes = syncer.stats.writes, "stopped");
    let db = syncer.source().database.clone();
    let _ = tokio::time::timeout(Duration::from_millis(500), db.close()).await;
}

/// After `failures` failed passes in a row: the interval doubled per failure, capped at
/// `max(max_backoff, interval)`.
pub fn backoff(interval: Duration, failures: u32, max_backoff: Duration) -> Duration {
    let cap = max_backoff.max(interval);
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    interval.saturating_mul(factor).min(cap)
}

/// ±10 % jitter on the poll interval, so that a fleet of sidecars started together does not
/// poll in lock-step.
struct Jitter(fastrand::Rng);

impl Jitter {
    /// fastrand seeds each generator from its own per-thread random state.
    fn seeded() -> Jitter {
        Jitter(fastrand::Rng::new())
    }

    fn around(&mut self, interval: Duration) -> Duration {
        interval.mul_f64(0.9 + 0.2 * self.0.f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_per_failure_up_to_the_cap() {
        let s = Duration::from_secs;
        assert_eq!(backoff(s(10), 1, s(60)), s(10));
        assert_eq!(backoff(s(10), 2, s(60)), s(20));
        assert_eq!(backoff(s(10), 3, s(60)), s(40));
        assert_eq!(backoff(s(10), 4, s(60)), s(60));
        assert_eq!(backoff(s(10), 400, s(60)), s(60));
    }

    #[test]
    fn backoff_never_waits_less_than_the_interval() {
        let s = Duration::from_secs;
        assert_eq!(backoff(s(120), 5, s(60)), s(120));
    }

    #[test]
    fn jitter_stays_within_ten_percent_and_varies() {
        let mut j = Jitter::seeded();
        let interval = Duration::from_secs(10);
        let waits: Vec<_> = (0..1000).map(|_| j.around(interval)).collect();
        assert!(waits
            .iter()
            .all(|w| *w >= Duration::from_secs(9) && *w <= Duration::from_secs(11)));
        assert!(waits.iter().any(|w| *w != waits[0]));
    }
}
