//! Follows routes.yaml (DESIGN.md §6): watch the directory, debounce (except for a rename into
//! place, loaded at once), re-read, compare a content hash, rebuild from scratch and swap whole. A
//! bad or missing file keeps the last good table.

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use notify::{RecursiveMode, Watcher};
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use pingora::services::ServiceReadyNotifier;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::routes_file::{parse_routes, read_routes_file};
use crate::serving_table::ServingTable;
use crate::state::ProxyState;
use crate::tls::CertStore;
use crate::watch_event::{classify, WatchEvent};
use passthru_routes::{parent_dir, FileStamp, IdList, RouteTable, RoutesFile, TableDiff};
use passthru_systemd::Notifier;

pub struct Reloader {
    pub path: PathBuf,
    pub shared: Arc<ProxyState>,
    /// The backstop: `stat` the file this often even when no event arrived, and re-read it
    /// when the stat changed.
    pub recheck: Duration,
    /// The backstop's backstop: re-read the file at a re-check tick at least this often even
    /// when its stat did not change (a filesystem whose timestamps cannot tell two writes of
    /// the same size apart).
    pub full_recheck: Duration,
    /// Trailing-edge quiet time after the last event before re-reading.
    pub debounce: Duration,
    /// Set by the SIGHUP handler installed at startup (before this service runs).
    pub hup: Arc<AtomicBool>,
    pub systemd: Notifier,
    /// The TLS listeners' certificate: re-read on SIGHUP and when its files change.
    pub certs: Option<Arc<CertStore>>,
}

/// What the reloader remembers between attempts.
#[derive(Default)]
struct ReloadState {
    generation: u64,
    /// Hash of the bytes last looked at, good or bad, so an unchanged bad file is not re-parsed
    /// and re-logged on every backstop tick.
    last_seen: Option<[u8; 32]>,
    /// The last error logged, so a persisting problem is logged once, not every tick.
    last_error: Option<String>,
    /// The file's stamp when it was last read.
    last_stamp: Option<FileStamp>,
    /// The stamp of the file version last refused (unreadable, too large, invalid): not read
    /// again until its stat changes, so a refused 70 MB file costs one read, not one per event.
    refused_stamp: Option<FileStamp>,
    /// The inode some process has written to and not closed yet (inotify `IN_MODIFY` without
    /// `IN_CLOSE_WRITE`): a file being rewritten in place is not loaded until its writer is done,
    /// because a prefix of a valid file is often valid and can mean more access (a key without
    /// its `expires`, a route without its `methods`).
    writer_open: Option<u64>,
    /// A SIGHUP that arrived while a writer had the file open; honoured once it is closed.
    force_pending: bool,
    /// Without a working watcher, a changed stamp is loaded only once a re-check tick finds it
    /// unchanged, since no close event can tell that the writer is done.
    unsettled_stamp: Option<FileStamp>,
}

/// What a burst of watcher events said, beyond what [`ReloadState`] keeps.
#[derive(Default)]
struct Batch {
    /// A writer closed the routes file.
    closed: bool,
    /// A file was renamed onto the routes file's name.
    moved_in: bool,
}

impl Batch {
    fn note(&mut self, event: WatchEvent, state: &mut ReloadState, path: &Path) {
        match event {
            WatchEvent::Written => state.writer_open = FileStamp::of(path).map(|s| s.ino),
            WatchEvent::Closed => {
                state.writer_open = None;
                self.closed = true;
            }
            WatchEvent::MovedIn => self.moved_in = true,
            WatchEvent::Rescan => state.writer_open = None,
            WatchEvent::Other => {}
        }
    }
}

/// The longest a burst of events can delay a reload.
const MAX_DEBOUNCE: Duration = Duration::from_millis(250);

impl Reloader {
    /// One reload attempt. `force` rebuilds even when the bytes are unchanged (SIGHUP: it
    /// re-resolves `os.environ/` values).
    fn reload(&self, state: &mut ReloadState, force: bool, trigger: &str) {
        let started = Instant::now();
        let metrics = &self.shared.metrics;
        let stamp = FileStamp::of(&self.path);
        if state.writer_open.is_some() && state.writer_open == stamp.map(|s| s.ino) {
            state.force_pending |= force;
            metrics.reloads.with_label_values(&["waiting"]).inc();
            tracing::info!(
                file = %self.path.display(),
                trigger,
                "routes file is open for writing: loading it once the writer closes it"
            );
            return;
        }
        let force = force || std::mem::take(&mut state.force_pending);
        if !force && stamp.is_some() && stamp == state.refused_stamp {
            metrics.reloads.with_label_values(&["unchanged"]).inc();
            return;
        }
        state.last_stamp = stamp;
        let bytes = match read_routes_file(&self.path) {
            Ok(bytes) => bytes,
            Err(e) => return self.refuse(state, stamp, e.to_string(), trigger),
        };
        if FileStamp::of(&self.path) != stamp {
            // Written while it was read: the next event or tick reads it again.
            state.last_stamp = None;
            metrics.reloads.with_label_values(&["waiting"]).inc();
            return;
        }
        let hash: [u8; 32] = Sha256::digest(&bytes).into();
        let current = self.shared.table.load_full();
        let serving_hash = current.as_ref().map(|t| t.content_hash);
        if !force && (state.last_seen == Some(hash) || serving_hash == Some(hash)) {
            let back_to_serving = serving_hash == Some(hash)
                && (state.last_seen != Some(hash) || state.last_error.is_some());
            if back_to_serving {
                // Back to the bytes being served after a bad version: nothing to rebuild.
                tracing::info!(file = %self.path.display(), "routes file is back to the table being served");
                state.last_seen = Some(hash);
                state.last_error = None;
                state.refused_stamp = None;
            } else if state.last_error.is_some() {
                // The same refused bytes under a new stamp (touched, copied back).
                state.refused_stamp = stamp;
            }
            metrics.reloads.with_label_values(&["unchanged"]).inc();
            return;
        }
        state.last_seen = Some(hash);
        let file = match parse_routes(&self.path, &bytes) {
            Ok(file) => file,
            Err(e) => return self.refuse(state, stamp, e.to_string(), trigger),
        };
        // The bytes are not needed to build the table: freed before it is built, not after.
        drop(bytes);
        state.last_error = None;
        state.refused_stamp = None;
        state.generation += 1;
        let (serving, diff) = swap_in(&self.shared, current, file, state.generation, hash);
        for (route, why) in serving.broken_routes() {
            tracing::error!(route = %route.id, path = %route.path, "route answers 503: {why}");
        }
        let routes = serving.table.routes().len();
        let elapsed = started.elapsed();
        metrics.reloads.with_label_values(&["ok"]).inc();
        metrics.reload_seconds.observe(elapsed.as_secs_f64());
        metrics.routes.set(routes as i64);
        metrics.generation.set(state.generation as i64);
        tracing::info!(
            file = %self.path.display(),
            trigger,
            generation = state.generation,
            routes,
            added = %IdList(&diff.added),
            removed = %IdList(&diff.removed),
            changed = %IdList(&diff.changed),
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            "routes loaded"
        );
        self.systemd.status(&self.shared.status_line());
    }

    /// After a rename onto the routes file's name: the file is now another inode than the one
    /// last read, and nobody is writing to it, so it was written whole before the rename and
    /// can be read without waiting for the directory to go quiet.
    fn replaced(&self, state: &ReloadState) -> bool {
        let Some(now) = FileStamp::of(&self.path) else {
            return false;
        };
        let last = state.last_stamp.map(|s| (s.dev, s.ino));
        last != Some((now.dev, now.ino)) && state.writer_open != Some(now.ino)
    }

    /// Keeps the table being served. Each refused version of the file (a new stamp) is logged
    /// and counted once; a missing file (no stamp) is logged again only when the reason changes.
    fn refuse(
        &self,
        state: &mut ReloadState,
        stamp: Option<FileStamp>,
        message: String,
        trigger: &str,
    ) {
        let new_version = stamp.is_some() && stamp != state.refused_stamp;
        if new_version || state.last_error.as_deref() != Some(&message) {
            self.shared
                .metrics
                .reloads
                .with_label_values(&["error"])
                .inc();
            self.log_kept(&message, trigger);
            state.last_error = Some(message);
        }
        state.refused_stamp = stamp;
    }

    /// Re-reads the TLS certificate when `force` (SIGHUP) or when its files changed; a pair that
    /// does not load keeps the previous certificate serving.
    fn reload_certs(&self, force: bool) {
        let Some(certs) = &self.certs else {
            return;
        };
        match certs.reload(force) {
            Ok(true) => tracing::info!("TLS certificate reloaded; new connections present it"),
            Ok(false) => {}
            Err(why) => tracing::error!(
                "{why}\nkeeping the previous TLS certificate; fix the files and send SIGHUP"
            ),
        }
    }

    fn log_kept(&self, message: &str, trigger: &str) {
        match self.shared.table.load().as_ref() {
            Some(t) => tracing::error!(
                trigger,
                "{message}\nkeeping the last good table (generation {}, {} routes)",
                t.generation,
                t.table.routes().len()
            ),
            None => tracing::error!(
                trigger,
                "{message}\nno table loaded yet: answering 404 and not ready until the file loads"
            ),
        }
    }

    /// Watches the file's directory (editors rename, Kubernetes swaps a `..data` symlink, git
    /// deletes and recreates). Returns the watcher and the directory's inode, to notice when the
    /// directory itself is replaced.
    fn watch(
        &self,
        events: &mpsc::UnboundedSender<WatchEvent>,
    ) -> Option<(notify::RecommendedWatcher, u64)> {
        let dir = parent_dir(&self.path);
        let inode = std::fs::metadata(dir).ok()?.ino();
        let tx = events.clone();
        let path = self.path.clone();
        let mut names = watched_names(&path);
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if let Some(event) = classify(event, &names) {
                    // A rename or create may have re-pointed a symlink: the names that writes
                    // to the routes file show up under may have changed.
                    if matches!(
                        event,
                        WatchEvent::MovedIn | WatchEvent::Other | WatchEvent::Rescan
                    ) {
                        names = watched_names(&path);
                    }
                    let _ = tx.send(event);
                }
            })
            .map_err(|e| {
                tracing::warn!(
                    "cannot create a file watcher: {e}; relying on the periodic re-check"
                )
            })
            .ok()?;
        if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
            tracing::warn!(dir = %dir.display(), "cannot watch directory: {e}; relying on the periodic re-check");
            return None;
        }
        Some((watcher, inode))
    }
}

/// Builds the table for `file` from scratch, swaps it in whole in place of `current` (what was
/// served when the file was read) and drops the request series of routes it no longer has. The
/// old table is freed here, or when the last request holding it finishes.
pub fn swap_in(
    shared: &ProxyState,
    current: Option<Arc<ServingTable>>,
    file: RoutesFile,
    generation: u64,
    content_hash: [u8; 32],
) -> (Arc<ServingTable>, TableDiff) {
    let (table, diff) = RouteTable::replacing(current.as_deref().map(|t| t.table.file()), file);
    let serving = Arc::new(ServingTable::build(
        table,
        generation,
        content_hash,
        passthru_systemd::env_or_credential,
    ));
    shared.table.store(Some(serving.clone()));
    drop(current);
    shared
        .metrics
        .forget_routes_not_in(|id| serving.serves_route(id));
    shared.metrics.serving_table(&serving.content_hash_hex());
    (serving, diff)
}

/// The names under which writes to the routes file show up in its directory: its own, and its
/// symlink target's when that lives in the same directory.
fn watched_names(path: &Path) -> Vec<OsString> {
    let mut names: Vec<OsString> = path.file_name().map(OsString::from).into_iter().collect();
    if let Ok(real) = std::fs::canonicalize(path) {
        let same_dir =
            std::fs::canonicalize(parent_dir(path)).ok() == real.parent().map(Path::to_path_buf);
        if let (true, Some(name)) = (same_dir, real.file_name()) {
            names.push(name.to_owned());
        }
    }
    names
}

#[async_trait]
impl BackgroundService for Reloader {
    async fn start_with_ready_notifier(
        &self,
        mut shutdown: ShutdownWatch,
        ready: ServiceReadyNotifier,
    ) {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut watch = self.watch(&tx);
        let mut state = ReloadState::default();
        self.hup.store(false, Ordering::SeqCst);
        self.reload(&mut state, false, "start");
        // The proxy starts serving only after the first attempt, so it never 404s a request
        // that a readable file would have routed.
        ready.notify_ready();

        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(
                    "cannot listen for SIGHUP: {e}; relying on the flag re-checked every tick"
                );
                None
            }
        };
        // Pinged from this loop, so a wedged reloader stops the pings and systemd restarts us.
        let mut watchdog = passthru_systemd::watchdog_interval().map(tokio::time::interval);
        let mut tick = tokio::time::interval(self.recheck);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut last_full_read = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                    self.hup.store(false, Ordering::SeqCst);
                    tracing::info!("SIGHUP: rebuilding the table");
                    self.reload(&mut state, true, "sighup");
                    self.reload_certs(true);
                }
                Some(first) = rx.recv() => {
                    let mut batch = Batch::default();
                    batch.note(first, &mut state, &self.path);
                    // Events already queued are taken first, so that a write seen before a
                    // rename still counts.
                    while let Ok(event) = rx.try_recv() {
                        batch.note(event, &mut state, &self.path);
                    }
                    // A rename into place publishes a whole file: no need to wait for quiet.
                    let mut renamed = batch.moved_in && self.replaced(&state);
                    let deadline = tokio::time::Instant::now() + MAX_DEBOUNCE;
                    while !renamed {
                        let quiet = tokio::time::sleep(self.debounce);
                        tokio::select! {
                            more = rx.recv() => match more {
                                Some(event) => {
                                    batch.note(event, &mut state, &self.path);
                                    renamed = event == WatchEvent::MovedIn && self.replaced(&state);
                                    if tokio::time::Instant::now() >= deadline { break }
                                }
                                None => break,
                            },
                            _ = quiet => break,
                        }
                    }
                    // In a busy directory most events concern other files; with a large table
                    // a read and hash per event would keep a core busy.
                    if batch.closed || state.last_stamp.is_none() || FileStamp::of(&self.path) != state.last_stamp {
                        self.reload(&mut state, false, if renamed { "rename" } else { "watch" });
                    }
                }
                _ = async { match watchdog.as_mut() { Some(w) => w.tick().await, None => std::future::pending().await } } => {
                    self.systemd.watchdog();
                }
                _ = tick.tick() => {
                    let forced = self.hup.swap(false, Ordering::SeqCst);
                    let dir_inode = std::fs::metadata(parent_dir(&self.path)).ok().map(|m| m.ino());
                    if watch.as_ref().map(|(_, ino)| *ino) != dir_inode {
                        // The directory was replaced or the watcher never started: re-arm.
                        watch = self.watch(&tx);
                    }
                    self.reload_certs(forced);
                    let stamp = FileStamp::of(&self.path);
                    if watch.is_none() && !forced && stamp != state.last_stamp && stamp != state.unsettled_stamp {
                        // No close events to wait for: load a change once it has held still
                        // for a whole tick.
                        state.unsettled_stamp = stamp;
                        continue;
                    }
                    // An unchanged stat costs no read and no hash, whatever the file's size;
                    // the full read runs at least every `full_recheck`.
                    let full_due = last_full_read.elapsed() >= self.full_recheck;
                    if !forced && !full_due && !state.force_pending && stamp == state.last_stamp {
                        // Counted as a reload attempt that found nothing new, as a read would be.
                        self.shared.metrics.reloads.with_label_values(&["unchanged"]).inc();
                        continue;
                    }
                    last_full_read = tokio::time::Instant::now();
                    self.reload(&mut state, forced, if forced { "sighup" } else { "recheck" });
                }
            }
        }
        drop(watch);
    }
}
