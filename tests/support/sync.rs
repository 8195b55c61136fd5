//! A real `passthru-sync` process, killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::binary;

/// Runs `passthru-sync` with `args` (a subcommand and flags) to completion; returns its exit
/// code and stderr.
pub fn sync_command(args: &[&str]) -> (i32, String) {
    let out = Command::new(binary("passthru-sync"))
        .args(args)
        .output()
        .expect("run passthru-sync");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub struct Sync {
    child: Child,
    log: PathBuf,
    _log_dir: tempfile::TempDir,
}

impl Sync {
    /// Starts `passthru-sync run` writing `output`, with `args` (database, schema, interval…).
    pub fn start(output: &Path, args: &[&str]) -> Sync {
        let log_dir = tempfile::tempdir().unwrap();
        let log = log_dir.path().join("sync.log");
        let child = crate::dies_with_its_test(&mut Command::new(binary("passthru-sync")))
            .arg("run")
            .arg("--output")
            .arg(output)
            .args(args)
            .env("PASSTHRU_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start passthru-sync");
        Sync {
            child,
            log,
            _log_dir: log_dir,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many log lines contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.log().lines().filter(|l| l.contains(needle)).count()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "passthru-sync did not exit"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Sync {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
