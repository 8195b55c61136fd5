//! A real `passthru-sync` process, as a [`Daemon`].

use std::path::Path;
use std::process::Command;

use crate::binary;
use crate::process::Daemon;

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

/// `passthru-sync run --output OUTPUT ARGS…` at debug level, dying with the test; set another
/// `PASSTHRU_LOG` on it to change the level.
pub fn sync_run(output: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(binary("passthru-sync"));
    crate::dies_with_its_test(&mut command)
        .arg("run")
        .arg("--output")
        .arg(output)
        .args(args)
        .env("PASSTHRU_LOG", "debug");
    command
}

/// Starts `passthru-sync run` writing `output`, with `args` (database, schema, interval…).
pub fn start_sync(output: &Path, args: &[&str]) -> Daemon {
    Daemon::spawn("passthru-sync", &mut sync_run(output, args))
}
