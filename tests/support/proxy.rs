//! A real `passthru-proxy run` process on loopback ports, killed when dropped.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::binary;
use crate::http::get;

/// A port nobody listens on right now.
pub fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Polls `condition` every 10 ms until it holds; panics with `what` after `timeout`.
pub fn eventually(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A proxy serving `routes_yaml` (a whole routes.yaml) from a new directory, once it reports
/// ready; the directory lives as long as the returned guard.
pub fn serve_file(
    routes_yaml: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Proxy, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.yaml");
    std::fs::write(&file, routes_yaml).unwrap();
    let proxy = Proxy::start_with_env(&file, args, env);
    assert_eq!(proxy.ready_status(), 200, "{}", proxy.log());
    (proxy, dir)
}

pub struct Proxy {
    child: Child,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    log: PathBuf,
    _log_dir: tempfile::TempDir,
}

impl Proxy {
    /// Starts the proxy on `routes` and waits until its admin listener answers.
    pub fn start(routes: &Path, extra: &[&str]) -> Proxy {
        Proxy::start_with_env(routes, extra, &[])
    }

    pub fn start_with_env(routes: &Path, extra: &[&str], env: &[(&str, &str)]) -> Proxy {
        Proxy::spawn(Command::new(binary("passthru-proxy")), routes, extra, env)
    }

    /// Like [`Proxy::start`], but when the tests run as root the proxy runs as `nobody`
    /// (setpriv), so that file modes are enforced on it as on the `passthru` user in production.
    pub fn start_unprivileged(routes: &Path, extra: &[&str]) -> Proxy {
        if !running_as_root() {
            return Proxy::start(routes, extra);
        }
        let mut setpriv = Command::new("setpriv");
        setpriv
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(binary("passthru-proxy"));
        Proxy::spawn(setpriv, routes, extra, &[])
    }

    /// Starts `command` (the proxy binary, or a wrapper whose last argument it is) and waits
    /// until both listeners accept connections.
    fn spawn(mut command: Command, routes: &Path, extra: &[&str], env: &[(&str, &str)]) -> Proxy {
        let addr = free_port();
        let admin = free_port();
        let log_dir = tempfile::tempdir().unwrap();
        let log = log_dir.path().join("proxy.log");
        let child = crate::dies_with_its_test(&mut command)
            .arg("--routes")
            .arg(routes)
            .args(["--listen", &addr.to_string(), "--admin", &admin.to_string()])
            .args(["--grace-period", "5", "--recheck", "1"])
            .args(extra)
            // info unless the test sets RUST_LOG itself; a PASSTHRU_LOG of the caller would win.
            .env_remove("PASSTHRU_LOG")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start passthru-proxy");
        let mut proxy = Proxy {
            child,
            addr,
            admin,
            log,
            _log_dir: log_dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(addr).is_err()
            || std::net::TcpStream::connect(admin).is_err()
        {
            if let Ok(Some(status)) = proxy.child.try_wait() {
                panic!("passthru-proxy exited with {status}:\n{}", proxy.log());
            }
            assert!(
                Instant::now() < deadline,
                "passthru-proxy did not start:\n{}",
                proxy.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        proxy
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Everything the proxy logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed");
    }

    /// The `/readyz` status code.
    pub fn ready_status(&self) -> u16 {
        get(self.admin, "/readyz").status()
    }

    /// A metric's value from `/metrics` (the first sample whose line starts with `prefix`).
    pub fn metric(&self, prefix: &str) -> Option<f64> {
        get(self.admin, "/metrics")
            .body_text()
            .lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    /// The table generation being served.
    pub fn generation(&self) -> u64 {
        self.metric("passthru_table_generation").unwrap_or(0.0) as u64
    }

    /// Waits for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "passthru-proxy did not exit:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Resident set size in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// True when this process runs as root, which bypasses file modes.
pub fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1))
        == Some("0")
}
