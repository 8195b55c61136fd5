//! PostgreSQL for the benchmarks: a persistent psql session (so a commit's time is not a
//! process start), and, for the fleet, a cluster that admits more connections than the test
//! harness's `PgCluster` (which fixes `max_connections=50`).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

pub fn pg_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("PASSTHRU_TEST_PG_BIN") {
        return PathBuf::from(dir);
    }
    let debian = PathBuf::from("/usr/lib/postgresql/15/bin");
    if debian.join("psql").exists() {
        return debian;
    }
    PathBuf::from(
        String::from_utf8_lossy(
            &Command::new("pg_config")
                .arg("--bindir")
                .output()
                .expect("PostgreSQL binaries not found (set PASSTHRU_TEST_PG_BIN)")
                .stdout,
        )
        .trim(),
    )
}

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
        let mut child = Command::new(pg_bin().join("psql"))
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

/// A throwaway cluster with room for many clients; stopped and removed when dropped.
pub struct BigCluster {
    root: PathBuf,
    data: PathBuf,
    pub port: u16,
    as_postgres: bool,
}

impl BigCluster {
    pub fn start(max_connections: u32) -> BigCluster {
        let as_postgres = crate::net::is_root();
        let root = std::env::temp_dir().join(format!("passthru-bench-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        if as_postgres {
            run(Command::new("chown").arg("postgres:postgres").arg(&root));
        }
        let data = root.join("data");
        let port = passthru_tests::proxy::free_port().port();
        let cluster = BigCluster {
            root,
            data,
            port,
            as_postgres,
        };
        run(cluster.command("initdb").args([
            "-D",
            cluster.data.to_str().unwrap(),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        ]));
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -k {} -c max_connections={max_connections} -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            cluster.root.display()
        );
        run(cluster.command("pg_ctl").args([
            "-D",
            cluster.data.to_str().unwrap(),
            "-l",
            cluster.root.join("server.log").to_str().unwrap(),
            "-o",
            &options,
            "-w",
            "-t",
            "30",
            "start",
        ]));
        cluster
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    pub fn postmaster_pid(&self) -> u32 {
        std::fs::read_to_string(self.data.join("postmaster.pid"))
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    fn command(&self, program: &str) -> Command {
        let path = pg_bin().join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }
}

impl Drop for BigCluster {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(self.data.join("postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<u32>().ok()));
        let _ = self
            .command("pg_ctl")
            .args([
                "-D",
                self.data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "-t",
                "10",
                "stop",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(pid) = pid {
            let deadline = Instant::now() + Duration::from_secs(5);
            while std::path::Path::new(&format!("/proc/{pid}")).exists()
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            if std::path::Path::new(&format!("/proc/{pid}")).exists() {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn run(command: &mut Command) {
    let out = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
