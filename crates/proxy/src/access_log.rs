//! The access log: one JSON line per request, written by tracing's JSON formatter on its own
//! target ([`TARGET`]) and layer, through a non-blocking writer thread, so a slow disk never
//! blocks a worker and `RUST_LOG` / `PASSTHRU_LOG` levels never silence it. To stderr (the
//! journal under systemd) or to a file that SIGUSR1 reopens, for logrotate.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};

use tracing::Level;
use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::filter::{filter_fn, EnvFilter, FilterExt, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// The tracing target of access log events; only the access log layer writes them.
pub const TARGET: &str = "passthru::access";

/// Lines queued for the writer thread before new ones are dropped (and counted).
const QUEUE_LINES: usize = 64 * 1024;

/// Bytes gathered before a write while the queue is not empty.
const WRITE_BUFFER: usize = 64 * 1024;

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

struct Writer {
    _guard: Mutex<Option<WorkerGuard>>,
    errors: ErrorCounter,
}

static WRITER: OnceLock<Writer> = OnceLock::new();

/// Installs the process's tracing subscriber: the diagnostic log (human-readable, stderr,
/// filtered by `filter`) and, unless `access` is off, the access log layer.
pub fn install(filter: EnvFilter, access: &Destination) -> anyhow::Result<()> {
    let diagnostic = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(filter.and(filter_fn(|meta| {
            meta.target() != TARGET && !(is_pingora(meta.target()) && *meta.level() > Level::INFO)
        })));
    let writer: Box<dyn Write + Send> = match access {
        Destination::Off => {
            // SIGUSR1 is the documented reopen signal; never let it terminate the proxy.
            ignore_usr1()?;
            tracing_subscriber::registry().with(diagnostic).init();
            return Ok(());
        }
        Destination::Stderr => {
            ignore_usr1()?;
            Box::new(std::io::stderr())
        }
        Destination::File(path) => Box::new(ReopenedFile::open(path)?),
    };
    // The writer thread drains its queue and then flushes, so under load many lines go out in
    // one write and an idle log is never behind. Rust's stderr lock is held for a whole
    // write_all, so a batch never interleaves with a diagnostic line.
    let writer = std::io::BufWriter::with_capacity(WRITE_BUFFER, writer);
    let (non_blocking, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(QUEUE_LINES)
        .lossy(true)
        .thread_name("access-log")
        .finish(writer);
    let _ = WRITER.set(Writer {
        errors: non_blocking.error_counter(),
        _guard: Mutex::new(Some(guard)),
    });
    let access_layer = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_level(false)
        .with_ansi(false)
        .with_writer(non_blocking)
        .with_filter(Targets::new().with_target(TARGET, Level::INFO));
    tracing_subscriber::registry()
        .with(diagnostic)
        .with(access_layer)
        .init();
    Ok(())
}

/// pingora's debug and trace lines dump whole request and response headers and bodies
/// (configured upstream credentials, client keys): never logged, whatever `RUST_LOG` says.
fn is_pingora(target: &str) -> bool {
    target.starts_with("pingora")
}

/// Lines dropped because the writer thread fell behind by more than the queue.
pub fn dropped_lines() -> u64 {
    WRITER.get().map_or(0, |w| w.errors.dropped_lines() as u64)
}

/// Writes out every queued line; call before the process exits.
pub fn flush() {
    if let Some(w) = WRITER.get() {
        drop(w._guard.lock().unwrap().take());
    }
}

fn ignore_usr1() -> anyhow::Result<()> {
    let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
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
