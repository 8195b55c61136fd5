//! One pass: read the source, render canonically, write atomically only when the bytes differ,
//! and log what the write changed by route id.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use passthru_routes::{
    remove_stale_temp_files, write_atomically, FileStamp, IdList, RenderedFile, RoutesFile,
    TableDiff, WriteOutcome,
};

use super::skips::SkipReporter;
use crate::error::SyncError;
use crate::snapshot::{SkippedRow, ValidatedRoutes};
use crate::source::{Marker, Source};

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
    last_full_read: Option<Instant>,
    skips: SkipReporter,
    /// The table last known to be in the file, to log what a write changed and to render the
    /// next one re-rendering only the routes that changed.
    in_file: Option<RenderedFile>,
    /// The routes the last read validated, by row: an unchanged row is not validated again.
    validated: ValidatedRoutes,
    /// The last pass failed.
    failing: bool,
    /// The `stat` of the file as this daemon last left it: a timer poll
    /// that finds nothing new in the database still restores a file someone removed or edited.
    file_stamp: Option<FileStamp>,
    /// The longest a pass may wait for the database.
    query_timeout: Duration,
    /// The database announced a commit (NOTIFY): the next pass reads without asking for the
    /// marker first, one round trip less between a commit and the file.
    announced: bool,
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
            skips: SkipReporter::default(),
            in_file: None,
            validated: ValidatedRoutes::default(),
            failing: false,
            file_stamp: None,
            query_timeout: Duration::from_secs(30),
            announced: false,
            stats: Stats::default(),
        }
    }

    /// Removes temp files that a killed writer left next to the output
    /// ([`passthru_routes::remove_stale_temp_files`]): call this before the first pass, when this process has no
    /// write in flight. Returns how many.
    pub fn remove_stale_temp_files(&self) -> usize {
        let removed = remove_stale_temp_files(&self.output);
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

    /// The database announced a commit: the next pass skips the marker query and reads the
    /// table (still written only when the bytes differ).
    pub fn announce_change(&mut self) {
        self.announced = true;
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
        let announced = std::mem::take(&mut self.announced);
        if !force && !announced && !backstop_due && self.synced_marker.is_some() {
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
        let started = Instant::now();
        let read = tokio::time::timeout(
            limit,
            self.source
                .read(SystemTime::now(), std::mem::take(&mut self.validated)),
        )
        .await
        .map_err(|_| timed_out())??;
        self.last_full_read = Some(Instant::now());
        let read_ms = started.elapsed().as_secs_f64() * 1000.0;
        if self.in_file.is_none() {
            self.in_file = std::fs::read(&self.output)
                .ok()
                .and_then(|b| RoutesFile::parse(&b).ok())
                .map(|file| file.into_rendered(None));
        }
        let mut snapshot = read.snapshot;
        self.validated = snapshot.take_validated();
        if let Some(unusable) = read.routes_unusable {
            // Keep the routes in the file and write the keys just read, so that a revocation
            // still reaches the proxy. With no file to keep, the pass fails as before.
            let Some(current) = &self.in_file else {
                return Err(unusable.error);
            };
            snapshot.keep_routes(current.file().routes(), "the routes file");
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
        let file = file.into_rendered(self.in_file.as_ref());
        let bytes = file.text();
        let rendered = Instant::now();
        // No await after this point: a shutdown never interrupts the write.
        let outcome = write_atomically(&self.output, bytes.as_bytes())?;
        // Where a change's time goes (benchmark scenario 5): the queries, validating and
        // rendering, and the atomic write (fsyncs included).
        let render_ms = (rendered - started).as_secs_f64() * 1000.0 - read_ms;
        let write_ms = rendered.elapsed().as_secs_f64() * 1000.0;
        let revision = read.marker.as_ref().and_then(Marker::revision);
        let fingerprint = read.marker.as_ref().and_then(Marker::fingerprint);
        self.synced_marker = read.marker;
        // Stamp what is there, and keep the stamp only if it is our bytes: someone writing
        // between our rename and this stat must not have their edit taken for ours.
        self.file_stamp = FileStamp::of(&self.output)
            .filter(|_| std::fs::read(&self.output).is_ok_and(|b| b == bytes.as_bytes()));
        self.stats.routes = file.file().routes().len();
        self.stats.keys = file.file().keys().len();
        Ok(match outcome {
            WriteOutcome::Written => {
                self.stats.writes += 1;
                let change =
                    TableDiff::between(self.in_file.as_ref().map(RenderedFile::file), file.file());
                tracing::info!(
                    path = %self.output.display(),
                    routes = self.stats.routes,
                    keys = self.stats.keys,
                    skipped = self.stats.skipped_rows,
                    revision,
                    fingerprint,
                    added = %IdList(&change.added),
                    removed = %IdList(&change.removed),
                    changed = %IdList(&change.changed),
                    keys_changed = change.keys_changed,
                    read_ms,
                    render_ms,
                    write_ms,
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

    /// Logs the skipped rows (once per change, [`SkipReporter`]) and counts them.
    fn report_skips(&mut self, skipped: Vec<SkippedRow>) {
        let reported = self.skips.report(skipped);
        self.stats.skips_reported += reported.new_reports;
        self.stats.skipped_rows = reported.left_out;
    }

    /// What `systemctl status` shows after a good pass.
    pub(crate) fn status_line(&self) -> String {
        format!(
            "{} routes, {} keys, {} skipped rows, {} writes",
            self.stats.routes, self.stats.keys, self.stats.skipped_rows, self.stats.writes
        )
    }
}
