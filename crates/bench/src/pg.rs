//! A persistent psql session for the benchmarks, so a commit's time is not a process start.
//! Clusters come from the test harness (`passthru_tests::postgres::PgCluster`).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use passthru_tests::postgres::pg_bin_dir;

/// One psql process kept open; `exec` returns once the statements have run (committed, in
/// autocommit mode) and yields their output lines.
pub struct Psql {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    marker: u64,
}

impl Psql {
    pub fn connect(url: &str) -> Psql {
        let mut child = Command::new(pg_bin_dir().join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run psql");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Psql {
            child,
            stdin,
            stdout,
            marker: 0,
        }
    }

    pub fn exec(&mut self, sql: &str) -> Vec<String> {
        self.marker += 1;
        let marker = format!("__bench_done_{}", self.marker);
        writeln!(self.stdin, "{sql}\n\\echo {marker}").unwrap();
        self.stdin.flush().unwrap();
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            assert!(
                self.stdout.read_line(&mut line).unwrap() > 0,
                "psql exited while running: {sql}"
            );
            let line = line.trim_end().to_owned();
            if line == marker {
                return lines;
            }
            lines.push(line);
        }
    }

    /// The first output line as a number.
    pub fn number(&mut self, sql: &str) -> f64 {
        let lines = self.exec(sql);
        lines
            .iter()
            .find_map(|l| l.trim().parse().ok())
            .unwrap_or_else(|| panic!("{sql} returned {lines:?}"))
    }
}

impl Drop for Psql {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
