//! The two release binaries (and pingora alone, as a floor) as child processes, with the operator's default flags unless a
//! scenario says otherwise. Killed when dropped.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use passthru_tests::binary;
use passthru_tests::free_port;

use crate::net::Client;

pub struct ProxyProc {
    child: Child,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    _log: tempfile::NamedTempFile,
}

impl ProxyProc {
    /// `passthru-proxy run --routes FILE` on free loopback ports plus `extra`; waits until ready.
    pub fn start(routes: &Path, extra: &[&str]) -> ProxyProc {
        let addr = free_port();
        let admin = free_port();
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new(binary("passthru-proxy"))
            .arg("--routes")
            .arg(routes)
            .args(["--listen", &addr.to_string(), "--admin", &admin.to_string()])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap())
            .spawn()
            .expect("start passthru-proxy (cargo build --release --bins)");
        let mut proxy = ProxyProc {
            child,
            addr,
            admin,
            _log: log,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut client = Client::new(admin);
        while !matches!(client.get("/readyz"), Ok(200)) {
            if let Ok(Some(status)) = proxy.child.try_wait() {
                panic!("passthru-proxy exited with {status}");
            }
            assert!(
                Instant::now() < deadline,
                "passthru-proxy did not get ready"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        proxy
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn rss_kib(&self) -> u64 {
        crate::procfs::rss_kib(self.pid()).unwrap_or(0)
    }
}

impl Drop for ProxyProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// pingora alone (`crates/proxy/examples/bare_pingora.rs`): every request to one fixed upstream,
/// nothing else. The floor under passthru-proxy's per-request cost.
pub struct BarePingora {
    child: Child,
    pub addr: SocketAddr,
}

impl BarePingora {
    pub fn start(upstream: SocketAddr, threads: &str) -> BarePingora {
        let addr = free_port();
        let program = binary("examples/bare_pingora");
        let child = Command::new(program)
            .args([&addr.to_string(), &upstream.to_string(), threads])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start bare_pingora (cargo build --release --example bare_pingora)");
        let bare = BarePingora { child, addr };
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut client = Client::new(addr);
        while !matches!(client.get("/"), Ok(200)) {
            assert!(Instant::now() < deadline, "bare_pingora did not answer");
            std::thread::sleep(Duration::from_millis(10));
        }
        bare
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for BarePingora {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A metric from a Prometheus text body (the first sample whose line starts with `prefix`).
pub fn metric(body: &str, prefix: &str) -> Option<f64> {
    body.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

pub struct SyncProc {
    child: Child,
}

impl SyncProc {
    /// `passthru-sync run --output FILE` plus `args`, logging at `level` to `log`.
    pub fn start(output: &Path, args: &[&str], level: &str, log: &Path) -> SyncProc {
        let child = Command::new(binary("passthru-sync"))
            .arg("run")
            .arg("--output")
            .arg(output)
            .args(args)
            .env("PASSTHRU_LOG", level)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("start passthru-sync (cargo build --release --bins)");
        SyncProc { child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for SyncProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `path` exists and contains `needle`.
pub fn wait_for_file(path: &Path, needle: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if std::fs::read_to_string(path).is_ok_and(|t| t.contains(needle)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[cfg(test)]
mod tests {
    #[test]
    fn metrics_are_read_from_prometheus_text() {
        let body = "# HELP x\npassthru_table_generation 42\npassthru_routes 7\n";
        assert_eq!(super::metric(body, "passthru_table_generation"), Some(42.0));
        assert_eq!(super::metric(body, "nope"), None);
    }
}
