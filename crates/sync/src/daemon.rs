//! The poll loop: read the source, render canonically, write atomically only when the bytes
//! differ. A failed read never touches the file; the loop backs off and recovers by itself.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use passthru_routes::{write_atomically, RoutesFile, WriteOutcome};
use sqlx::postgres::PgListener;

use crate::database::Database;
use crate::error::SyncError;
use crate::signals::Wakeups;
use crate::snapshot::{SkipKind, SkippedRow};
use crate::source::{Marker, Source};
use passthru_systemd::{watchdog_interval, Notifier};

/// What one pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassOutcome {
    /// The change marker had not moved since the last written table: one tiny query, no render.
    NothingNew,
    /// Rendered, and the file already held exactly those bytes: nothing written.
    Unchanged,
    /// New bytes were renamed into place.
    Written,
}

/// Reads one source and keeps one file in step with it.
pub struct Syncer {
    source: Source,
    output: PathBuf,
    /// The marker of the last table that is known to be in the file (LiteLLM: with the write
    /// counters of the last poll, so that one spend update is fingerprinted once).
    synced_marker: Option<Marker>,
    /// When the last full read happened, for the source's backstop ([`Source::full_read_every`]).
    last_full_read: Option<std::time::Instant>,
    /// The skip reports of the last pass, so that an unchanged bad row is not re-logged at WARN
    /// on every poll.
    last_skipped: Vec<SkippedRow>,
    /// The table last known to be in the file, to log what a write changed.
    in_file: Option<RoutesFile>,
    /// The last pass failed.
    failing: bool,
    /// (device, inode, length, mtime) of the file as this daemon last left it: a timer poll
    /// that finds nothing new in the database still restores a file someone removed or edited.
    file_stamp: Option<FileStamp>,
    /// The longest a pass may wait for the database.
    query_timeout: Duration,
    pub stats: Stats,
}

#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub passes: u64,
    pub writes: u64,
    pub failures: u64,
    /// Rows skipped in the last rendered table.
    pub skipped_rows: usize,
    /// Skip reports logged since start.
    pub skips_reported: u64,
    pub routes: usize,
    pub keys: usize,
}

impl Syncer {
    pub fn new(source: Source, output: PathBuf) -> Syncer {
        Syncer {
            source,
            output,
            synced_marker: None,
            last_full_read: None,
            last_skipped: Vec::new(),
            in_file: None,
            failing: false,
            file_stamp: None,
            query_timeout: Duration::from_secs(30),
            stats: Stats::default(),
        }
    }

    /// Removes temp files that a killed writer left next to the output
    /// (`.routes.yaml.tmp-PID-N` whose PID is no longer running, or is this process: call this
    /// before the first pass, when this process has no write in flight; in a container the
    /// daemon is PID 1 on every start). Returns how many.
    pub fn remove_stale_temp_files(&self) -> usize {
        let (Some(dir), Some(name)) = (self.output.parent(), self.output.file_name()) else {
            return 0;
        };
        let dir = if dir.as_os_str().is_empty() {
            std::path::Path::new(".")
        } else {
            dir
        };
        let prefix = format!(".{}.tmp-", name.to_string_lossy());
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = file_name.strip_prefix(&prefix) else {
                continue;
            };
            let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
                continue;
            };
            let alive =
                pid != std::process::id() && std::path::Path::new(&format!("/proc/{pid}")).exists();
            if !alive && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        if removed > 0 {
            tracing::info!(removed, "removed temp files left by an interrupted writer");
        }
        removed
    }

    /// The longest a pass may wait for the database (default 30 s).
    pub fn with_query_timeout(mut self, limit: Duration) -> Syncer {
        self.query_timeout = limit;
        self
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    /// One pass. `force` ignores the change marker (SIGHUP, `once`): the table is read and
    /// rendered, and still written only when the bytes differ.
    pub async fn pass(&mut self, force: bool) -> Result<PassOutcome, SyncError> {
        self.stats.passes += 1;
        // While the database is failing, one direct connection attempt says at once whether it
        // is back, and why not, instead of waiting out the pool's connect timeout.
        if self.failing {
            if let Some(source) = self.source.database.connect_error().await {
                self.stats.failures += 1;
                return Err(SyncError::Connect {
                    url: self.source.database.url().redacted(),
                    source,
                });
            }
        }
        let mut result = self.pass_inner(force).await;
        self.failing = result.is_err();
        if let Err(e) = &result {
            self.stats.failures += 1;
            if matches!(
                e,
                SyncError::Query {
                    source: sqlx::Error::PoolTimedOut,
                    ..
                }
            ) {
                if let Some(source) = self.source.database.connect_error().await {
                    result = Err(SyncError::Connect {
                        url: self.source.database.url().redacted(),
                        source,
                    });
                }
            }
        }
        result
    }

    async fn pass_inner(&mut self, force: bool) -> Result<PassOutcome, SyncError> {
        let limit = self.query_timeout;
        let timed_out = || SyncError::Timeout {
            url: self.source.database.url().redacted(),
            seconds: limit.as_secs(),
        };
        let every = self.source.full_read_every();
        let backstop_due = match (every, self.last_full_read) {
            (Some(every), Some(last)) => last.elapsed() >= every,
            _ => false,
        };
        if backstop_due && !force && every.is_some_and(|e| !e.is_zero()) {
            tracing::debug!("poll: full read (backstop)");
        }
        if !force && !backstop_due && self.synced_marker.is_some() {
            let marker =
                tokio::time::timeout(limit, self.source.marker(self.synced_marker.as_ref()))
                    .await
                    .map_err(|_| timed_out())??;
            let same = match (&marker, &self.synced_marker) {
                (Some(now), Some(synced)) => now.same_table(synced),
                _ => false,
            };
            if same {
                if self.file_stamp.is_some() && FileStamp::of(&self.output) == self.file_stamp {
                    tracing::debug!(
                        revision = marker.as_ref().and_then(Marker::revision),
                        fingerprint = marker.as_ref().and_then(Marker::fingerprint),
                        "poll: nothing new"
                    );
                    // The same table; LiteLLM's write counters may have moved.
                    self.synced_marker = marker;
                    return Ok(PassOutcome::NothingNew);
                }
                tracing::warn!(
                    path = %self.output.display(),
                    "the routes file was removed or changed by someone else; rewriting it"
                );
                self.in_file = None;
            }
        }
        let read = tokio::time::timeout(limit, self.source.read(SystemTime::now()))
            .await
            .map_err(|_| timed_out())??;
        self.last_full_read = Some(std::time::Instant::now());
        if self.in_file.is_none() {
            self.in_file = std::fs::read(&self.output)
                .ok()
                .and_then(|b| RoutesFile::parse(&b).ok());
        }
        let mut snapshot = read.snapshot;
        if let Some(unusable) = read.routes_unusable {
            // Keep the routes in the file and write the keys just read, so that a revocation
            // still reaches the proxy. With no file to keep, the pass fails as before.
            let Some(current) = &self.in_file else {
                return Err(unusable.error);
            };
            snapshot.keep_routes(current.routes(), "the routes file");
            snapshot.skip(
                unusable.row,
                format!(
                    "{}; the routes already in the file are kept, and the keys are updated",
                    unusable.error
                ),
            );
        }
        let (file, skipped) = snapshot.into_file();
        self.report_skips(skipped);
        let bytes = file.render();
        // No await after this point: a shutdown never interrupts the write.
        let outcome = write_atomically(&self.output, bytes.as_bytes())?;
        let revision = read.marker.as_ref().and_then(Marker::revision);
        let fingerprint = read.marker.as_ref().and_then(Marker::fingerprint);
        self.synced_marker = read.marker;
        // Stamp what is there, and keep the stamp only if it is our bytes: someone writing
        // between our rename and this stat must not have their edit taken for ours.
        self.file_stamp = FileStamp::of(&self.output)
            .filter(|_| std::fs::read(&self.output).is_ok_and(|b| b == bytes.as_bytes()));
        self.stats.routes = file.routes().len();
        self.stats.keys = file.keys().len();
        Ok(match outcome {
            WriteOutcome::Written => {
                self.stats.writes += 1;
                let change = TableChange::between(self.in_file.as_ref(), &file);
                tracing::info!(
                    path = %self.output.display(),
                    routes = file.routes().len(),
                    keys = file.keys().len(),
                    skipped = self.stats.skipped_rows,
                    revision,
                    fingerprint,
                    added = %change.added,
                    removed = %change.removed,
                    changed = %change.changed,
                    keys_changed = change.keys_changed,
                    "wrote routes file"
                );
                self.in_file = Some(file);
                PassOutcome::Written
            }
            WriteOutcome::Unchanged => {
                tracing::debug!(
                    revision,
                    fingerprint,
                    "poll: table unchanged, file not touched"
                );
                PassOutcome::Unchanged
            }
        })
    }

    /// Logs each skipped row at WARN when it is new or its reason changed, and at DEBUG while
    /// it stays as it was: a bad row is reported once per change, not once per poll (every
    /// full read renders every row again: SIGHUP, LiteLLM's backstop, a marker that cannot be read).
    fn report_skips(&mut self, skipped: Vec<SkippedRow>) {
        let before: std::collections::HashSet<&SkippedRow> = self.last_skipped.iter().collect();
        let mut new = 0;
        for skip in &skipped {
            let (row, reason) = (&skip.row, &skip.reason);
            if before.contains(skip) {
                match skip.kind {
                    SkipKind::FieldIgnored => {
                        tracing::debug!(%row, %reason, "field ignored (unchanged)")
                    }
                    _ => tracing::debug!(%row, %reason, "skipped row (unchanged)"),
                }
                continue;
            }
            self.stats.skips_reported += 1;
            match skip.kind {
                SkipKind::Skipped => {
                    new += 1;
                    tracing::warn!(%row, %reason, "skipped row")
                }
                SkipKind::Unenforceable => {
                    new += 1;
                    tracing::error!(%row, %reason, "skipped row: passthru cannot enforce it")
                }
                SkipKind::FieldIgnored => {
                    tracing::warn!(%row, %reason, "field ignored; the route is served")
                }
            }
        }
        let left_out = skipped
            .iter()
            .filter(|s| s.kind != SkipKind::FieldIgnored)
            .count();
        if new > 0 {
            tracing::warn!(
                count = left_out,
                new,
                "skipped {left_out} row(s); the other rows are written"
            );
        }
        self.stats.skipped_rows = left_out;
        self.last_skipped = skipped;
    }

    fn status_line(&self) -> String {
        format!(
            "{} routes, {} keys, {} skipped rows, {} writes",
            self.stats.routes, self.stats.keys, self.stats.skipped_rows, self.stats.writes
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: Option<SystemTime>,
}

impl FileStamp {
    fn of(path: &std::path::Path) -> Option<FileStamp> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: m.modified().ok(),
        })
    }
}

/// What a write changed, by route id, for the log.
struct TableChange {
    added: IdList,
    removed: IdList,
    changed: IdList,
    keys_changed: bool,
}

impl TableChange {
    fn between(old: Option<&RoutesFile>, new: &RoutesFile) -> TableChange {
        use std::collections::BTreeMap;
        let index = |f: Option<&RoutesFile>| -> BTreeMap<String, passthru_routes::Route> {
            f.map(|f| {
                f.routes()
                    .iter()
                    .map(|r| (r.id.to_string(), r.clone()))
                    .collect()
            })
            .unwrap_or_default()
        };
        let (old_routes, new_routes) = (index(old), index(Some(new)));
        let mut change = TableChange {
            added: IdList::default(),
            removed: IdList::default(),
            changed: IdList::default(),
            keys_changed: old.map_or(&[][..], |o| o.keys()) != new.keys(),
        };
        for (id, route) in &new_routes {
            match old_routes.get(id) {
                None => change.added.0.push(id.clone()),
                Some(before) if before != route => change.changed.0.push(id.clone()),
                Some(_) => {}
            }
        }
        for id in old_routes.keys() {
            if !new_routes.contains_key(id) {
                change.removed.0.push(id.clone());
            }
        }
        change
    }
}

/// Ids for a log field: at most 20, then a count.
#[derive(Default)]
struct IdList(Vec<String>);

impl std::fmt::Display for IdList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const SHOWN: usize = 20;
        f.write_str("[")?;
        for (i, id) in self.0.iter().take(SHOWN).enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(id)?;
        }
        if self.0.len() > SHOWN {
            write!(f, ",+{} more", self.0.len() - SHOWN)?;
        }
        f.write_str("]")
    }
}

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
            tokio::spawn(listen(pool.clone(), channel, wakeups.changed.clone()));
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
            _ = wakeups.changed.notified() => force = false,
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
/// poll in lock-step. xorshift64*, seeded from the clock and the pid: no crate needed.
struct Jitter(u64);

impl Jitter {
    fn seeded() -> Jitter {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Jitter((nanos ^ (u64::from(std::process::id()) << 32)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn around(&mut self, interval: Duration) -> Duration {
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64; // [0, 1)
        interval.mul_f64(0.9 + 0.2 * unit)
    }
}

/// Holds a LISTEN connection and wakes the loop on every NOTIFY, and once after each
/// (re)connect since commits may have been missed meanwhile. Reconnects with a capped backoff.
async fn listen(
    pool: sqlx::PgPool,
    channel: &'static str,
    changed: std::sync::Arc<tokio::sync::Notify>,
) {
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
