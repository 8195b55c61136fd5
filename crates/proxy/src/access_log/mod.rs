//! The access log: one JSON line per request. The worker that served a request fills in an
//! [`AccessLine`] (owned values, no formatting) and appends it to a shared queue; a writer thread,
//! woken by the first line of a batch, lets the batch gather until it holds [`BATCH_LINES`] or
//! [`FLUSH_WINDOW`] has passed, then serialises its lines with sonic-rs (serde) and writes them
//! with one `write`. So a slow disk never blocks a worker, a busy proxy makes one system call
//! per many lines, a proxy at a low rate wakes the writer at most twice a second instead of once
//! per request (a wake-up on a cold core costs more than the line; below two requests a second it
//! is two wake-ups a line instead of one), and the serialiser runs in batches, its code and the
//! timestamp cache warm, instead of between two requests' proxy code.
//! To stderr (the journal under systemd) or to a file that SIGUSR1 reopens, for logrotate. The
//! diagnostic log (tracing, `PASSTHRU_LOG`) is separate: its levels never silence this one.

mod line;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use line::AccessLine;
use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, FilterExt, FilterFn, LevelFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// How long a batch may gather after its first line: a line is written at most this long (plus
/// the write) after its request ended, or at exit (`flush`). At 50 requests a second the writer
/// wakes twice per 50 lines instead of once per line.
const FLUSH_WINDOW: Duration = Duration::from_secs(1);

/// A batch this long is written without waiting for the rest of [`FLUSH_WINDOW`]: a saturated
/// proxy writes every few milliseconds. (A writer that fell behind takes all that is queued, up
/// to [`PENDING_LIMIT`], in one batch.)
const BATCH_LINES: usize = 256;

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
    dropped: AtomicU64,
    /// [`FLUSH_WINDOW`]; tests choose their own.
    window: Duration,
}

#[derive(Default)]
struct Queue {
    lines: Vec<AccessLine>,
    /// What `lines` hold in memory ([`AccessLine::footprint`]).
    bytes: usize,
    writer: WriterState,
    /// The process is exiting: write what is queued and stop.
    closing: bool,
}

/// What the writer thread is doing, so that a worker wakes it (a system call) only when it is
/// waiting for exactly this: once per batch.
#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
enum WriterState {
    /// Serialising or writing, or already woken: no wake-up needed.
    #[default]
    Busy,
    /// Waiting on [`Pending::ready`] for a batch's first line.
    Asleep,
    /// Waiting on [`Pending::ready`] for [`BATCH_LINES`] lines or the end of [`FLUSH_WINDOW`].
    Gathering,
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
    fn new(window: Duration) -> Pending {
        Pending {
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
            dropped: AtomicU64::new(0),
            window,
        }
    }

    /// Tells the writer to write what is queued and stop.
    fn close(&self) {
        self.queue.lock().unwrap().closing = true;
        self.ready.notify_one();
    }

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
        let wake = match queue.writer {
            WriterState::Asleep => true,
            WriterState::Gathering => queue.lines.len() >= BATCH_LINES,
            WriterState::Busy => false,
        };
        if wake {
            queue.writer = WriterState::Busy;
        }
        drop(queue);
        if wake {
            self.ready.notify_one();
        }
    }

    /// The next batch, once it is due: asleep until a first line comes, then gathering until
    /// the batch holds [`BATCH_LINES`], [`FLUSH_WINDOW`] has passed or the proxy is closing.
    /// Empty only when closing with nothing left.
    fn next_batch(&self, batch: &mut Vec<AccessLine>) {
        let mut queue = self.queue.lock().unwrap();
        while queue.lines.is_empty() && !queue.closing {
            queue.writer = WriterState::Asleep;
            queue = self.ready.wait(queue).unwrap();
        }
        let due = Instant::now() + self.window;
        while queue.lines.len() < BATCH_LINES && !queue.closing {
            let left = due.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            queue.writer = WriterState::Gathering;
            queue = self.ready.wait_timeout(queue, left).unwrap().0;
        }
        queue.writer = WriterState::Busy;
        std::mem::swap(&mut queue.lines, batch);
        queue.bytes = 0;
    }

    /// The writer thread: take each batch when it is due, serialise it, write it with one
    /// call; drains before exiting.
    fn drain_into(&self, mut out: Box<dyn Write + Send>) {
        let mut lines = Vec::with_capacity(BATCH_LINES);
        let mut text = Vec::with_capacity(256 * 1024);
        loop {
            self.next_batch(&mut lines);
            if lines.is_empty() {
                return;
            }
            for line in lines.drain(..) {
                serialize_into(&mut text, &line);
            }
            // Rust's stderr lock is held for a whole write_all, so a batch never interleaves
            // with a diagnostic line. A failed write loses the batch; the next one tries again.
            let _ = out.write_all(&text).and_then(|()| out.flush());
            text.clear();
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
    let pending = Arc::new(Pending::new(FLUSH_WINDOW));
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
        w.pending.close();
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
/// goes to a new file of the same name, and no line is lost (batches written before the signal
/// are in the renamed file; lines still gathering go to the new one).
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

    /// Records each `write_all` the writer makes, as the lines' request ids.
    #[derive(Clone, Default)]
    struct Writes(Arc<Mutex<Vec<Vec<String>>>>);

    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.write_all(buf).map(|()| buf.len())
        }

        fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
            let ids = std::str::from_utf8(buf)
                .unwrap()
                .lines()
                .map(|l| {
                    let line: serde_json::Value = serde_json::from_str(l).unwrap();
                    line["request_id"].as_str().unwrap().to_owned()
                })
                .collect();
            self.0.lock().unwrap().push(ids);
            Ok(())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn line(id: &str) -> AccessLine {
        AccessLine {
            request_id: id.into(),
            ..line_with_path("/".into())
        }
    }

    fn writer_state(pending: &Pending) -> WriterState {
        pending.queue.lock().unwrap().writer
    }

    /// A writer thread over `pending`, writing into the returned record.
    fn start_writer(pending: &Arc<Pending>) -> (JoinHandle<()>, Writes) {
        let writes = Writes::default();
        let (p, w) = (pending.clone(), writes.clone());
        (
            std::thread::spawn(move || p.drain_into(Box::new(w))),
            writes,
        )
    }

    /// Waits until `fact` holds; fails after 10 s rather than hang.
    fn wait_for(what: &str, fact: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !fact() {
            assert!(Instant::now() < deadline, "still waiting for {what}");
            std::thread::yield_now();
        }
    }

    fn wait_for_state(pending: &Pending, state: WriterState) {
        wait_for(&format!("the writer {state:?}"), || {
            writer_state(pending) == state
        });
    }

    #[test]
    fn lines_that_come_within_the_window_go_out_in_one_write() {
        let pending = Arc::new(Pending::new(Duration::from_secs(3600)));
        let (writer, writes) = start_writer(&pending);
        wait_for_state(&pending, WriterState::Asleep);
        pending.push(line("a"));
        wait_for_state(&pending, WriterState::Gathering);
        pending.push(line("b"));
        pending.push(line("c"));
        assert!(
            writes.0.lock().unwrap().is_empty(),
            "nothing written before the window ends"
        );
        pending.close();
        writer.join().unwrap();
        assert_eq!(*writes.0.lock().unwrap(), [["a", "b", "c"]]);
    }

    #[test]
    fn a_full_batch_is_written_without_waiting_for_the_window() {
        let pending = Arc::new(Pending::new(Duration::from_secs(3600)));
        let (writer, writes) = start_writer(&pending);
        wait_for_state(&pending, WriterState::Asleep);
        for i in 0..BATCH_LINES {
            pending.push(line(&i.to_string()));
        }
        wait_for("a write", || !writes.0.lock().unwrap().is_empty());
        assert_eq!(writes.0.lock().unwrap()[0].len(), BATCH_LINES);
        pending.close();
        writer.join().unwrap();
    }

    #[test]
    fn a_worker_wakes_the_writer_for_a_first_line_and_for_a_full_batch_only() {
        let pending = Pending::new(FLUSH_WINDOW);
        pending.queue.lock().unwrap().writer = WriterState::Asleep;
        pending.push(line("first"));
        assert_eq!(writer_state(&pending), WriterState::Busy, "woken");
        pending.queue.lock().unwrap().writer = WriterState::Gathering;
        for i in 1..BATCH_LINES - 1 {
            pending.push(line(&i.to_string()));
            assert_eq!(writer_state(&pending), WriterState::Gathering, "line {i}");
        }
        pending.push(line("last"));
        assert_eq!(
            writer_state(&pending),
            WriterState::Busy,
            "woken for a full batch"
        );
    }

    #[test]
    fn closing_writes_what_is_queued_at_once() {
        let pending = Arc::new(Pending::new(Duration::from_secs(3600)));
        let (writer, writes) = start_writer(&pending);
        pending.push(line("queued"));
        pending.close();
        writer.join().unwrap();
        assert_eq!(*writes.0.lock().unwrap(), [["queued"]]);
    }

    #[test]
    fn a_writer_that_falls_behind_holds_at_most_the_limit_in_bytes_however_long_the_paths() {
        let pending = Pending::new(FLUSH_WINDOW);
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
