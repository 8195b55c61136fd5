//! The two release binaries (and pingora alone, as a floor) as [`Daemon`]s of the shared test
//! support, with the operator's default flags unless a scenario says otherwise. Killed when
//! dropped.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use passthru_tests::process::Daemon;
use passthru_tests::proxy::Proxy;
use passthru_tests::sync::sync_run;
use passthru_tests::wait::poll;
use passthru_tests::{binary, free_port};

use crate::client::Client;

/// `passthru-proxy run --routes FILE` on free loopback ports plus `extra`, with the operator's
/// defaults (no test re-check or grace period) and warn logging; waits until ready.
pub fn start_proxy(routes: &Path, extra: &[&str]) -> Proxy {
    let mut proxy = Proxy::options(routes)
        .operator_defaults()
        .log_level("warn")
        .args(extra)
        .start_within(Duration::from_secs(120))
        .start();
    proxy.wait_ready(Duration::from_secs(120));
    proxy
}

/// `passthru-sync run --output FILE` plus `args`, logging at `level` to `log`.
pub fn start_sync(output: &Path, args: &[&str], level: &str, log: &Path) -> Daemon {
    let mut command = sync_run(output, args);
    command.env("PASSTHRU_LOG", level);
    Daemon::spawn_logging_to("passthru-sync", &mut command, log)
}

/// pingora alone (`crates/proxy/examples/bare_pingora.rs`): every request to one fixed upstream,
/// nothing else. The floor under passthru-proxy's per-request cost.
pub struct BarePingora {
    process: Daemon,
    pub addr: SocketAddr,
}

impl BarePingora {
    pub fn start(upstream: SocketAddr, threads: &str) -> BarePingora {
        let addr = free_port();
        let mut command = Command::new(binary("examples/bare_pingora"));
        command.args([&addr.to_string(), &upstream.to_string(), threads]);
        let mut process = Daemon::spawn("bare_pingora", &mut command);
        let mut client = Client::new(addr);
        let answered = poll(Duration::from_secs(30), Duration::from_millis(10), || {
            process.assert_running();
            matches!(client.get("/"), Ok(200)).then_some(())
        });
        assert!(answered.is_some(), "bare_pingora did not answer");
        BarePingora { process, addr }
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }
}

/// Waits until `path` exists and contains `needle`.
pub fn wait_for_file(path: &Path, needle: &str, timeout: Duration) -> bool {
    poll(timeout, Duration::from_millis(5), || {
        std::fs::read_to_string(path)
            .is_ok_and(|t| t.contains(needle))
            .then_some(())
    })
    .is_some()
}
