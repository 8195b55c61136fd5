//! One wrapper for every daemon the tests and the benchmarks start (passthru-proxy,
//! passthru-sync, helpers): its stderr in a log file, signals, waits, /proc figures, and a
//! SIGKILL when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::Duration;

use crate::wait::{patient, poll};

pub struct Daemon {
    child: Child,
    /// What it is, for panic messages.
    name: String,
    log: PathBuf,
    /// The log's directory when the daemon owns it.
    _log_dir: Option<tempfile::TempDir>,
}

impl Daemon {
    /// Spawns `command` with stdout discarded and stderr in a log file of its own.
    pub fn spawn(name: &str, command: &mut Command) -> Daemon {
        let log_dir = tempfile::tempdir().unwrap();
        let log = log_dir.path().join(format!("{name}.log"));
        let mut daemon = Daemon::spawn_logging_to(name, command, &log);
        daemon._log_dir = Some(log_dir);
        daemon
    }

    /// Spawns `command` with stdout discarded and stderr in `log` (created or truncated).
    pub fn spawn_logging_to(name: &str, command: &mut Command, log: &Path) -> Daemon {
        let file =
            std::fs::File::create(log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let child = command
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Daemon {
            child,
            name: name.to_owned(),
            log: log.to_owned(),
            _log_dir: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many log lines contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.log().lines().filter(|l| l.contains(needle)).count()
    }

    /// Sends a signal by name (`HUP`, `TERM`, `KILL`, `USR1`, `QUIT`, `INT`).
    pub fn signal(&self, signal: &str) {
        send_signal(self.pid(), signal);
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Its exit status once it exits; None if it is still running after `timeout` (stretched
    /// by the test patience).
    pub fn exit_status(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = &mut self.child;
        poll(timeout, Duration::from_millis(10), || {
            child.try_wait().unwrap()
        })
    }

    /// Its exit code once it exits (None when a signal ended it); panics with its log if it
    /// does not exit within `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        match self.exit_status(timeout) {
            Some(status) => status.code(),
            None => panic!(
                "{} did not exit within {:?}:\n{}",
                self.name,
                patient(timeout),
                self.log()
            ),
        }
    }

    /// Panics with its log if it has exited: for loops that wait on it to get ready.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("{} exited with {status}:\n{}", self.name, self.log());
        }
    }

    /// Resident set size in KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid()).unwrap_or_else(|| panic!("no VmRSS for {}", self.name))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// VmRSS of `pid` in KiB, from /proc; None once the process is gone.
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

/// VmHWM of `pid` in KiB: the most its resident set has been since it started or since
/// [`reset_peak_rss`].
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

/// Starts `pid`'s VmHWM again from its resident set now (`5` to /proc/PID/clear_refs).
pub fn reset_peak_rss(pid: u32) -> std::io::Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Bytes `pid` has read through read(2) and friends (`rchar` in /proc/PID/io), files and
/// sockets alike.
pub fn bytes_read(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("rchar:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

/// Sends the signal named `signal` (without `SIG`) to `pid`; panics if it cannot be sent.
pub fn send_signal(pid: u32, signal: &str) {
    if let Err(e) = try_signal(pid, signal) {
        panic!("kill -{signal} {pid}: {e}");
    }
}

/// Sends the signal named `signal` (`HUP`, `INT`, `QUIT`, `KILL`, `USR1`, `USR2`, `TERM`) to
/// `pid`.
pub fn try_signal(pid: u32, signal: &str) -> std::io::Result<()> {
    let number = match signal {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "TERM" => libc::SIGTERM,
        other => panic!("no signal named {other}"),
    };
    // SAFETY: kill(2) takes plain integers; no memory is shared.
    match unsafe { libc::kill(pid as libc::pid_t, number) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// True when this process runs as root, which bypasses file modes.
pub fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Runs `command` to completion with `input` on its stdin (a key for `--key-stdin`, SQL for a
/// shell); what it prints is captured where the caller piped it. Err when it cannot be started.
pub fn output_with_stdin(command: &mut Command, input: &[u8]) -> std::io::Result<Output> {
    use std::io::Write;
    let mut child = command.stdin(Stdio::piped()).spawn()?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input)
        .expect("write the command's stdin");
    child.wait_with_output()
}
