//! The streams scenario's side of every connection: the client runtime, the SSE upstream on
//! it, and the open-file limit both need, shared by every proxy measured.

use std::time::Duration;

use passthru_tests::wait::poll;

use super::sse::Upstream;
use crate::report::dur;

/// Descriptors a process needs besides its streams': logs, listeners, epoll, pipes (13 for the
/// harness, 28 for passthru-proxy, 10 for an nginx worker when measured), with slack.
pub const SPARE_FILES: usize = 128;

/// The client runtime, the SSE upstream on it, and how many streams fit in the open-file
/// limit: shared by every proxy of the scenario.
pub struct Harness {
    pub(super) rt: tokio::runtime::Runtime,
    pub upstream: Upstream,
    /// The open-file limit of this process and so of every proxy it starts.
    pub open_files: u64,
    /// Why the limit could not be raised as far as the streams need, if it could not.
    pub limited_by: Option<String>,
    /// Streams a wave may open: the harness holds two descriptors per stream (client and
    /// upstream side), and so does a proxy.
    pub max_streams: usize,
}

impl Harness {
    /// Raises the open-file limit for `most` streams (children inherit it), starts the runtime
    /// and the upstream.
    pub fn start(most: usize) -> Harness {
        let (open_files, limited_by) = raise_open_files((2 * most + SPARE_FILES) as u64);
        // One worker: the harness has CPU 0 to itself (with the upstream), more threads on
        // it would only take turns.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("start the streams runtime");
        let upstream = Upstream::start(&rt);
        Harness {
            rt,
            upstream,
            open_files,
            limited_by,
            max_streams: (open_files as usize).saturating_sub(SPARE_FILES) / 2,
        }
    }

    /// Waits until the upstream writes to no stream: every proxy has seen the last wave's
    /// clients leave and closed its side.
    pub(super) fn wait_idle(&self, patience: Duration) {
        let idle = poll(patience, Duration::from_millis(20), || {
            (self.upstream.streaming() == 0).then_some(())
        });
        if idle.is_none() {
            eprintln!(
                "  {} upstream streams still open after {}",
                self.upstream.streaming(),
                dur(patience)
            );
        }
    }
}

/// Raises RLIMIT_NOFILE (soft and hard) to `want` where it can: a process with
/// CAP_SYS_RESOURCE (root, outside a container that drops it) may lift the hard limit up to
/// fs.nr_open, anyone the soft one up to the hard one. The soft limit then in force, and why it
/// is short of `want` if it is.
fn raise_open_files(want: u64) -> (u64, Option<String>) {
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(want);
    let want = want.min(nr_open);
    let mut now = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read or write only the struct passed to them.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut now) };
    if now.rlim_cur >= want {
        return (now.rlim_cur, None);
    }
    let raised = libc::rlimit {
        rlim_cur: want,
        rlim_max: now.rlim_max.max(want),
    };
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        return (want, None);
    }
    let refused = std::io::Error::last_os_error().to_string();
    let why = format!(
        "raising it to {want} was refused: {}; the hard limit needs CAP_SYS_RESOURCE to rise",
        refused.split(" (os error").next().unwrap_or(&refused)
    );
    let soft = libc::rlimit {
        rlim_cur: now.rlim_max,
        rlim_max: now.rlim_max,
    };
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &soft) } == 0 {
        return (now.rlim_max, Some(why));
    }
    (now.rlim_cur, Some(why))
}
