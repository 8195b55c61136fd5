//! The access log: one JSON line per request. The worker that served a request fills in an
//! [`AccessLine`] (owned values, no formatting) and appends it to a shared queue; a writer thread
//! takes the queue whole at most every 5 ms, serialises its lines with sonic-rs (serde) and
//! writes them with one `write`. So a slow disk never blocks a worker, a busy proxy makes one
//! system call per many lines, and the serialiser runs in batches, its code and the timestamp
//! cache warm, instead of between two requests' proxy code. To stderr (the journal under
//! systemd) or to a file that SIGUSR1 reopens, for logrotate. The diagnostic log (tracing,
//! `PASSTHRU_LOG`) is separate: its levels never silence this one.

mod line;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;

pub use line::AccessLine;
use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, FilterExt, FilterFn, LevelFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// How long the writer lets lines gather after a write: a line is on disk at most this long
/// (plus the write) after its request ended, and a saturated proxy makes at most one write per
/// window instead of one per line.
const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(5);

/// Bytes of lines (with their strings) waiting for the writer thread before new ones are dropped
/// (and counted): about 40 Ki lines, fewer when clients send long paths.
const PENDING_LIMIT: usize = 16 << 20;

/// Where the access log goes: `--access-log off|stderr|FILE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Off,
    Stderr,
    File(PathBuf),
}

impl FromStr for Destination {
    type Err = String;

    fn from_str(s: &str) -> Result<Destination, String> {
        Ok(match s {
            "off" => Destination::Off,
            "stderr" | "-" => Destination::Stderr,
            "" => return Err("give off, stderr or a file path".into()),
            path => Destination::File(PathBuf::from(path)),
        })
    }
}

/// Lines not yet written, and the writer thread's wake-up.
struct Pending {
    queue: Mutex<Queue>,
    ready: Condvar,
    closing: AtomicBool,
    dropped: AtomicU64,
}

#[derive(Default)]
struct Queue {
    lines: Vec<AccessLine>,
    /// What `lines` hold in memory ([`AccessLine::footprint`]).
    bytes: usize,
    /// The writer is waiting on [`Pending::ready`] for a line.
    writer_asleep: bool,
}

struct Writer {
    pending: Arc<Pending>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

static WRITER: OnceLock<Writer> = OnceLock::new();

impl AccessLine {
    /// Queues the line for the writer thread; a no-op unless [`install`] opened an access log.
    pub fn write(self) {
        if let Some(writer) = WRITER.get() {
            writer.pending.push(self);
        }
    }
}

impl Pending {
    fn push(&self, line: AccessLine) {
        let bytes = line.footprint();
        let mut queue = self.queue.lock().unwrap();
        if queue.bytes + bytes > PENDING_LIMIT {
            drop(queue);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        queue.bytes += bytes;
        queue.lines.push(line);
        // Only a writer asleep on an empty queue needs waking (a system call): a busy proxy
        // wakes it at most once per batch window, not once per line.
        let wake = std::mem::take(&mut queue.writer_asleep);
        drop(queue);
        if wake {
            self.ready.notify_one();
        }
    }

    /// The writer thread: take the queue whole, serialise it, write it with one call, let the
    /// next batch gather for [`BATCH_WINDOW`] while lines come faster than one per write,
    /// repeat; drains before exiting.
    fn drain_into(&self, mut out: Box<dyn Write + Send>) {
        let mut lines = Vec::with_capacity(1024);
        let mut text = Vec::with_capacity(256 * 1024);
        loop {
            {
                let mut queue = self.queue.lock().unwrap();
                while queue.lines.is_empty() && !self.closing.load(Ordering::Acquire) {
                    queue.writer_asleep = true;
                    queue = self.ready.wait(queue).unwrap();
                }
                queue.writer_asleep = false;
                if queue.lines.is_empty() {
                    return;
                }
                std::mem::swap(&mut queue.lines, &mut lines);
                queue.bytes = 0;
            }
            let several = lines.len() > 1;
            for line in lines.drain(..) {
                serialize_into(&mut text, &line);
            }
            // Rust's stderr lock is held for a whole write_all, so a batch never interleaves
            // with a diagnostic line. A failed write loses the batch; the next one tries again.
            let _ = out.write_all(&text).and_then(|()| out.flush());
            text.clear();
            // Gather only while lines come faster than one per write (this batch held several,
            // or more came in during the write): at a low rate the window would gather nothing
            // and cost one more wake-up per line, its own end.
            let arriving = several || !self.queue.lock().unwrap().lines.is_empty();
            if arriving && !self.closing.load(Ordering::Acquire) {
                std::thread::sleep(BATCH_WINDOW);
            }
        }
    }
}

/// Appends `line` and a newline to `text`; a line that cannot be serialised leaves nothing.
fn serialize_into(text: &mut Vec<u8>, line: &AccessLine) {
    let start = text.len();
    // sonic-rs escapes strings with SIMD; serde_json's byte-at-a-time escaper was a quarter of
    // a line's cost.
    match sonic_rs::to_writer(&mut *text, line) {
        Ok(()) => text.push(b'\n'),
        Err(_) => text.truncate(start),
    }
}

/// Installs the process's tracing subscriber (the diagnostic log: human-readable, stderr,
/// filtered by `filter`) and, unless `access` is off, starts the access log's writer thread.
pub fn install(filter: EnvFilter, access: &Destination) -> anyhow::Result<()> {
    // The hint lets `log` records (pingora logs through `log`, tens per request at debug and
    // trace) below the configured level stop at one comparison, before the tracing bridge.
    let max_level = filter.max_level_hint().unwrap_or(LevelFilter::TRACE);
    let diagnostic = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(
            filter.and(
                FilterFn::new(|meta| !(is_pingora(meta.target()) && *meta.level() > Level::INFO))
                    .with_max_level_hint(max_level),
            ),
        );
    tracing_subscriber::registry().with(diagnostic).init();
    let out: Box<dyn Write + Send> = match access {
        Destination::Off => {
            // SIGUSR1 is the documented reopen signal; never let it terminate the proxy.
            return ignore_usr1();
        }
        Destination::Stderr => {
            ignore_usr1()?;
            Box::new(std::io::stderr())
        }
        Destination::File(path) => Box::new(ReopenedFile::open(path)?),
    };
    let pending = Arc::new(Pending {
        queue: Mutex::new(Queue::default()),
        ready: Condvar::new(),
        closing: AtomicBool::new(false),
        dropped: AtomicU64::new(0),
    });
    let drained = pending.clone();
    let thread = std::thread::Builder::new()
        .name("access-log".into())
        .spawn(move || drained.drain_into(out))?;
    let _ = WRITER.set(Writer {
        pending,
        thread: Mutex::new(Some(thread)),
    });
    Ok(())
}

/// pingora's debug and trace lines dump whole request and response headers and bodies
/// (configured upstream credentials, client keys): never logged, whatever `RUST_LOG` says.
fn is_pingora(target: &str) -> bool {
    target.starts_with("pingora")
}

/// Lines dropped because the writer thread fell behind by more than [`PENDING_LIMIT`].
pub fn dropped_lines() -> u64 {
    WRITER
        .get()
        .map_or(0, |w| w.pending.dropped.load(Ordering::Relaxed))
}

/// Writes out every queued line; call before the process exits.
pub fn flush() {
    if let Some(w) = WRITER.get() {
        w.pending.closing.store(true, Ordering::Release);
        // Taking the lock orders the flag before the writer's next look at it.
        drop(w.pending.queue.lock().unwrap());
        w.pending.ready.notify_one();
        if let Some(thread) = w.thread.lock().unwrap().take() {
            let _ = thread.join();
        }
    }
}

fn ignore_usr1() -> anyhow::Result<()> {
    let flag = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGUSR1, flag)?;
    Ok(())
}

/// An append-mode file that SIGUSR1 reopens by path: after logrotate renames it, the next line
/// goes to a new file of the same name, and no line is lost (lines before the signal finish in
/// the renamed file).
struct ReopenedFile(Arc<Mutex<File>>);

impl ReopenedFile {
    fn open(path: &Path) -> anyhow::Result<ReopenedFile> {
        let file = open_append(path)
            .map_err(|e| anyhow::anyhow!("cannot open the access log {}: {e}", path.display()))?;
        let shared = Arc::new(Mutex::new(file));
        let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGUSR1])?;
        let (path, reopened) = (path.to_owned(), shared.clone());
        std::thread::Builder::new()
            .name("access-log-reopen".into())
            .spawn(move || {
                for _ in signals.forever() {
                    match open_append(&path) {
                        Ok(file) => {
                            let old = std::mem::replace(&mut *reopened.lock().unwrap(), file);
                            drop(old);
                            tracing::info!(file = %path.display(), "SIGUSR1: access log reopened");
                        }
                        Err(e) => tracing::error!(
                            file = %path.display(),
                            "SIGUSR1: cannot reopen the access log, still writing the old file: {e}"
                        ),
                    }
                }
            })?;
        Ok(ReopenedFile(shared))
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
}

impl Write for ReopenedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.0.lock().unwrap().write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_with_path(path: String) -> AccessLine {
        AccessLine {
            timestamp: std::time::SystemTime::now(),
            request_id: "r".into(),
            client: None,
            client_ip: None,
            method: http::Method::GET,
            path,
            query_names: None,
            route: None,
            status: 200,
            upstream: None,
            upstream_status: None,
            bytes_received: 0,
            bytes_sent: 0,
            duration_ms: 0.0,
            ttfb_ms: None,
            first_chunk_ms: None,
            upgraded: false,
            error: None,
            cause: None,
        }
    }

    #[test]
    fn a_writer_that_falls_behind_holds_at_most_the_limit_in_bytes_however_long_the_paths() {
        let pending = Pending {
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
            closing: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
        };
        let path = "/".repeat(PENDING_LIMIT / 8);
        for _ in 0..10 {
            pending.push(line_with_path(path.clone()));
        }
        let queue = pending.queue.lock().unwrap();
        assert_eq!(queue.lines.len(), 7, "8 such lines would pass the limit");
        assert!(queue.bytes <= PENDING_LIMIT);
        assert_eq!(pending.dropped.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn destinations_parse() {
        assert_eq!("off".parse(), Ok(Destination::Off));
        assert_eq!("stderr".parse(), Ok(Destination::Stderr));
        assert_eq!(
            "/var/log/passthru/access.log".parse(),
            Ok(Destination::File("/var/log/passthru/access.log".into()))
        );
        assert!("".parse::<Destination>().is_err());
    }
}
