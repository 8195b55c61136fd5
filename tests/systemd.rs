//! The systemd units verify and rate low exposure, and both daemons speak sd_notify.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use passthru_tests::proxy::Proxy;
use passthru_tests::{binary, repo_root};

const UNITS: &[&str] = &["passthru-proxy.service", "passthru-sync.service"];

/// A root directory with the units, the binaries where the units expect them, /bin/kill and the
/// system's own targets, so `systemd-analyze --root` can check everything offline.
fn unit_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let r = |p: &str| root.path().join(p.trim_start_matches('/'));
    for dir in ["usr/bin", "bin", "etc/systemd/system", "usr/lib/systemd"] {
        std::fs::create_dir_all(r(dir)).unwrap();
    }
    for name in ["passthru-proxy", "passthru-sync"] {
        std::fs::copy(binary(name), r(&format!("usr/bin/{name}"))).unwrap();
    }
    std::fs::copy("/bin/kill", r("bin/kill")).unwrap();
    let status = Command::new("cp")
        .args(["-r", "/usr/lib/systemd/system"])
        .arg(r("usr/lib/systemd/"))
        .status()
        .unwrap();
    assert!(status.success());
    for unit in UNITS {
        std::fs::copy(
            repo_root().join("systemd").join(unit),
            r(&format!("etc/systemd/system/{unit}")),
        )
        .unwrap();
    }
    root
}

fn analyze(root: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("systemd-analyze")
        .arg(format!("--root={}", root.display()))
        .args(args)
        .output()
        .expect("systemd-analyze is installed (.ci/setup installs systemd)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_units_pass_systemd_analyze_verify() {
    let root = unit_root();
    let paths: Vec<String> = UNITS
        .iter()
        .map(|u| format!("/etc/systemd/system/{u}"))
        .collect();
    let mut args = vec!["verify", "--man=no"];
    args.extend(paths.iter().map(String::as_str));
    let (ok, output) = analyze(root.path(), &args);
    assert!(
        ok && output.trim().is_empty(),
        "systemd-analyze verify:\n{output}"
    );
}

#[test]
fn each_unit_rates_at_most_2_0_exposure() {
    let root = unit_root();
    for unit in UNITS {
        let (_, output) = analyze(root.path(), &["security", "--offline=true", unit]);
        let level: f64 = output
            .lines()
            .find_map(|l| l.split("Overall exposure level for ").nth(1))
            .and_then(|l| l.split(": ").nth(1))
            .and_then(|l| l.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no rating in:\n{output}"));
        assert!(level <= 2.0, "{unit} rates {level}:\n{output}");
    }
}

#[test]
fn sysusers_and_tmpfiles_create_the_user_and_directories() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("etc")).unwrap();
    let run = |tool: &str, args: &[&str], file: &str| {
        let status = Command::new(tool)
            .arg(format!("--root={}", root.path().display()))
            .args(args)
            .arg(repo_root().join("systemd").join(file))
            .status()
            .unwrap();
        assert!(status.success(), "{tool} {file}");
    };
    run("systemd-sysusers", &[], "passthru.sysusers");
    run("systemd-tmpfiles", &["--create"], "passthru.tmpfiles");
    let passwd = std::fs::read_to_string(root.path().join("etc/passwd")).unwrap();
    assert!(
        passwd.lines().any(|l| l.starts_with("passthru:")),
        "{passwd}"
    );
    assert!(root.path().join("var/lib/passthru").is_dir());
}

/// A NOTIFY_SOCKET this test owns, collecting every datagram a daemon sends.
struct NotifySocket {
    socket: UnixDatagram,
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl NotifySocket {
    fn new() -> NotifySocket {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        NotifySocket {
            socket,
            path,
            _dir: dir,
        }
    }

    /// Reads messages until each of `wanted` (a line prefix) has arrived, or panics after 15 s.
    fn expect(&self, wanted: &[&str]) -> Vec<String> {
        let deadline = Instant::now() + passthru_tests::wait::patient(Duration::from_secs(15));
        let mut lines = Vec::new();
        let mut buf = [0u8; 4096];
        while !wanted
            .iter()
            .all(|w| lines.iter().any(|l: &String| l.starts_with(w)))
        {
            assert!(
                Instant::now() < deadline,
                "missing one of {wanted:?}; got {lines:?}"
            );
            if let Ok(n) = self.socket.recv(&mut buf) {
                lines.extend(
                    String::from_utf8_lossy(&buf[..n])
                        .lines()
                        .map(str::to_owned),
                );
            }
        }
        lines
    }
}

#[test]
fn the_proxy_sends_ready_status_and_watchdog() {
    let notify = NotifySocket::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.yaml");
    std::fs::write(&file, "version: 1\nroutes: []\n").unwrap();
    let socket = notify.path.to_str().unwrap().to_owned();
    let _proxy = Proxy::options(&file)
        .env(&[("NOTIFY_SOCKET", &socket), ("WATCHDOG_USEC", "200000")])
        .start();
    notify.expect(&["READY=1", "STATUS=serving 0 routes", "WATCHDOG=1"]);
}

#[test]
fn the_sync_daemon_sends_ready_status_and_watchdog() {
    let notify = NotifySocket::new();
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(binary("passthru-sync"))
        .arg("run")
        .arg("--sqlite-path")
        .arg(dir.path().join("sync.db"))
        .arg("--output")
        .arg(dir.path().join("routes.yaml"))
        .args(["--interval", "200ms"])
        .env("NOTIFY_SOCKET", &notify.path)
        .env("WATCHDOG_USEC", "200000")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lines = notify.expect(&["READY=1", "STATUS=", "WATCHDOG=1"]);
    let _ = child.kill();
    let _ = child.wait();
    assert!(lines.iter().any(|l| l.starts_with("STATUS=")), "{lines:?}");
}
