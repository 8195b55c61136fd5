//! A real `passthru-proxy run` process on loopback ports, killed when dropped.

use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::http::get;
use crate::process::{running_as_root, Daemon};
use crate::wait::{patient, poll};
use crate::{binary, free_port};

/// `routes.yaml` holding `routes_yaml` in a new directory that lives as long as the returned
/// guard.
pub fn routes_file(routes_yaml: &str) -> (PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.yaml");
    std::fs::write(&file, routes_yaml).unwrap();
    (file, dir)
}

/// A proxy serving `routes_yaml` (a whole routes.yaml) from a new directory, once it reports
/// ready; the directory lives as long as the returned guard.
pub fn serve_file(
    routes_yaml: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Proxy, tempfile::TempDir) {
    let (file, dir) = routes_file(routes_yaml);
    let proxy = Proxy::options(&file).args(args).env(env).start();
    assert_eq!(proxy.ready_status(), 200, "{}", proxy.log());
    (proxy, dir)
}

/// How to start a proxy. The defaults suit the tests: a 5 s grace period, a re-check every
/// second (so a missed file event costs a second, not a minute), info logging, 20 s to start.
pub struct ProxyOptions {
    routes: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    log_level: String,
    grace_period: Option<String>,
    recheck: Option<String>,
    unprivileged: bool,
    start_within: Duration,
}

impl ProxyOptions {
    /// More command-line flags, after the ones the options set.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// Environment variables for the process (a `RUST_LOG` here wins over the log level).
    pub fn env(mut self, env: &[(&str, &str)]) -> Self {
        self.env
            .extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self
    }

    /// `RUST_LOG` for the process.
    pub fn log_level(mut self, level: &str) -> Self {
        self.log_level = level.to_owned();
        self
    }

    /// `--grace-period SECONDS`; None leaves the proxy's own default.
    pub fn grace_period(mut self, seconds: Option<&str>) -> Self {
        self.grace_period = seconds.map(str::to_owned);
        self
    }

    /// `--recheck SECONDS`; None leaves the proxy's own default.
    pub fn recheck(mut self, seconds: Option<&str>) -> Self {
        self.recheck = seconds.map(str::to_owned);
        self
    }

    /// The flags an operator gets: no test overrides of the grace period or the re-check.
    pub fn operator_defaults(self) -> Self {
        self.grace_period(None).recheck(None)
    }

    /// When the tests run as root, run the proxy as `nobody` (setpriv), so that file modes are
    /// enforced on it as on the `passthru` user in production.
    pub fn unprivileged(mut self) -> Self {
        self.unprivileged = true;
        self
    }

    /// How long it may take both listeners to accept connections.
    pub fn start_within(mut self, timeout: Duration) -> Self {
        self.start_within = timeout;
        self
    }

    /// Starts the proxy and waits until both listeners accept connections.
    pub fn start(self) -> Proxy {
        let mut command = if self.unprivileged && running_as_root() {
            let mut setpriv = Command::new("setpriv");
            setpriv
                .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(binary("passthru-proxy"));
            setpriv
        } else {
            Command::new(binary("passthru-proxy"))
        };
        let addr = free_port();
        let admin = free_port();
        crate::dies_with_its_test(&mut command)
            .arg("--routes")
            .arg(&self.routes)
            .args(["--listen", &addr.to_string(), "--admin", &admin.to_string()]);
        if let Some(seconds) = &self.grace_period {
            command.args(["--grace-period", seconds]);
        }
        if let Some(seconds) = &self.recheck {
            command.args(["--recheck", seconds]);
        }
        command
            .args(&self.args)
            // The level asked for; a PASSTHRU_LOG of the caller would win over it.
            .env_remove("PASSTHRU_LOG")
            .env("RUST_LOG", &self.log_level)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        let mut proxy = Proxy {
            process: Daemon::spawn("passthru-proxy", &mut command),
            addr,
            admin,
        };
        let listening = poll(self.start_within, Duration::from_millis(10), || {
            proxy.process.assert_running();
            (std::net::TcpStream::connect(addr).is_ok()
                && std::net::TcpStream::connect(admin).is_ok())
            .then_some(())
        });
        assert!(
            listening.is_some(),
            "passthru-proxy did not start within {:?}:\n{}",
            patient(self.start_within),
            proxy.log()
        );
        proxy
    }
}

/// A running proxy: its [`Daemon`] (log, signals, exit) plus its two listeners.
pub struct Proxy {
    process: Daemon,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
}

impl Deref for Proxy {
    type Target = Daemon;
    fn deref(&self) -> &Daemon {
        &self.process
    }
}

impl DerefMut for Proxy {
    fn deref_mut(&mut self) -> &mut Daemon {
        &mut self.process
    }
}

impl Proxy {
    /// Options for a proxy serving `routes`; `.start()` runs it.
    pub fn options(routes: &Path) -> ProxyOptions {
        ProxyOptions {
            routes: routes.to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            log_level: "info".into(),
            grace_period: Some("5".into()),
            recheck: Some("1".into()),
            unprivileged: false,
            start_within: Duration::from_secs(20),
        }
    }

    /// Starts the proxy on `routes` with the test defaults and `extra` flags, and waits until
    /// its listeners answer.
    pub fn start(routes: &Path, extra: &[&str]) -> Proxy {
        Proxy::options(routes).args(extra).start()
    }

    /// Waits until `/readyz` answers 200; panics with the log after `timeout`.
    pub fn wait_ready(&mut self, timeout: Duration) {
        let ready = poll(timeout, Duration::from_millis(10), || {
            self.process.assert_running();
            (self.ready_status() == 200).then_some(())
        });
        assert!(
            ready.is_some(),
            "passthru-proxy did not get ready:\n{}",
            self.log()
        );
    }

    /// The `/readyz` status code.
    pub fn ready_status(&self) -> u16 {
        get(self.admin, "/readyz").status()
    }

    /// A metric's value from `/metrics` (the first sample whose line starts with `prefix`).
    pub fn metric(&self, prefix: &str) -> Option<f64> {
        metric_in(&get(self.admin, "/metrics").body_text(), prefix)
    }

    /// The table generation being served.
    pub fn generation(&self) -> u64 {
        self.metric("passthru_table_generation").unwrap_or(0.0) as u64
    }
}

/// A metric from a Prometheus text body (the first sample whose line starts with `prefix`).
pub fn metric_in(body: &str, prefix: &str) -> Option<f64> {
    body.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn metrics_are_read_from_prometheus_text() {
        let body = "# HELP x\npassthru_table_generation 42\npassthru_routes 7\n";
        assert_eq!(
            super::metric_in(body, "passthru_table_generation"),
            Some(42.0)
        );
        assert_eq!(super::metric_in(body, "nope"), None);
    }
}
