//! A throwaway PostgreSQL cluster for tests: `initdb` into a fresh temp directory, `pg_ctl start`
//! on a free loopback port, trust auth as user `postgres`. Nothing depends on a previous run.
//!
//! Each [`PgCluster`] is owned by one test and shut down when dropped (`pg_ctl stop -m
//! immediate`, then SIGKILL of the postmaster by pid if it is still there), also when the test
//! panics, so CI never keeps orphan postmasters.
//!
//! Binaries: `$PASSTHRU_TEST_PG_BIN`, else `/usr/lib/postgresql/15/bin`, else the newest
//! `/usr/lib/postgresql/*/bin`, else `pg_config --bindir`.
//! As root, `initdb` and the server run as the `postgres` user through `runuser`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::free_port;
use crate::process::{running_as_root, try_signal};
use crate::wait::poll;

pub struct PgCluster {
    max_connections: u32,
    root: PathBuf,
    data: PathBuf,
    log: PathBuf,
    bin: PathBuf,
    port: u16,
    run_as_postgres: bool,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl PgCluster {
    /// initdb + start. Panics with the server log when the cluster cannot start.
    pub fn start() -> PgCluster {
        PgCluster::start_with_max_connections(50)
    }

    /// [`PgCluster::start`] admitting `max_connections` clients (a fleet of daemons needs more).
    pub fn start_with_max_connections(max_connections: u32) -> PgCluster {
        sweep_orphans();
        let bin = pg_bin_dir();
        let run_as_postgres = running_as_root();
        let root = std::env::temp_dir().join(format!(
            "passthru-pg-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("create the cluster directory");
        if run_as_postgres {
            run(Command::new("chown").arg("postgres:postgres").arg(&root));
        }
        let data = root.join("data");
        let log = root.join("server.log");
        let mut cluster = PgCluster {
            max_connections,
            root,
            data,
            log,
            bin,
            port: 0,
            run_as_postgres,
        };
        let mut init = cluster.command("initdb");
        init.args([
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
        ]);
        run(&mut init);
        // A free port can be taken between probing and binding: try a few.
        for attempt in 0..5 {
            cluster.port = free_port().port();
            if cluster.try_start() {
                return cluster;
            }
            if attempt == 4 {
                panic!(
                    "PostgreSQL did not start; server log:\n{}",
                    std::fs::read_to_string(&cluster.log).unwrap_or_default()
                );
            }
        }
        unreachable!()
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    pub fn url_for(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (fast shutdown: connections are cut, as in an outage). The data stays.
    pub fn stop(&self) {
        let mut stop = self.command("pg_ctl");
        stop.args([
            "-D",
            self.data.to_str().unwrap(),
            "-m",
            "fast",
            "-w",
            "-t",
            "20",
            "stop",
        ]);
        run(&mut stop);
    }

    /// Starts the server again on the same port, after [`PgCluster::stop`].
    pub fn restart(&self) {
        assert!(
            self.try_start(),
            "PostgreSQL did not start again; server log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// Runs SQL with psql against `database`; panics with psql's stderr on failure.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.url_for(database))
            .args(["-c", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The server's log so far (with `log_statement = 'all'`, every statement it ran).
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Creates a database and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
        self.url_for(name)
    }

    fn try_start(&self) -> bool {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections={}",
            self.port,
            self.root.display(),
            self.max_connections
        );
        let mut start = self.command("pg_ctl");
        start.args([
            "-D",
            self.data.to_str().unwrap(),
            "-l",
            self.log.to_str().unwrap(),
            "-o",
            &options,
            "-w",
            "-t",
            "30",
            "start",
        ]);
        output(&mut start).status.success()
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.run_as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    /// The postmaster's pid while the cluster runs.
    pub fn postmaster_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.data.join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let pid = self.postmaster_pid();
        let mut stop = self.command("pg_ctl");
        stop.args([
            "-D",
            self.data.to_str().unwrap(),
            "-m",
            "immediate",
            "-w",
            "-t",
            "10",
            "stop",
        ]);
        let _ = output(&mut stop);
        if let Some(pid) = pid {
            let gone = || (!Path::new(&format!("/proc/{pid}")).exists()).then_some(());
            if poll(Duration::from_secs(5), Duration::from_millis(50), gone).is_none() {
                kill_quietly(pid);
            }
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Stops and removes clusters left by test processes that were killed before their guards ran
/// (SIGKILL, a CI timeout): directories `passthru-pg-PID-N` whose PID no longer runs.
fn sweep_orphans() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("passthru-pg-") else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let data = entry.path().join("data");
        if let Some(postmaster) = std::fs::read_to_string(data.join("postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<u32>().ok()))
        {
            kill_quietly(postmaster);
        }
        let _ = std::fs::remove_dir_all(entry.path());
    }
}

/// Where the PostgreSQL binaries are (see the module documentation).
pub fn pg_bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PASSTHRU_TEST_PG_BIN") {
        return PathBuf::from(dir);
    }
    // Debian/Ubuntu: /usr/lib/postgresql/VERSION/bin; prefer 15, else the newest installed.
    let debian = PathBuf::from("/usr/lib/postgresql/15/bin");
    if debian.join("initdb").exists() {
        return debian;
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    let out = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .expect("PostgreSQL binaries not found: set PASSTHRU_TEST_PG_BIN to the directory holding initdb and pg_ctl");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// SIGKILL to a postmaster that may already be gone (a race with its own exit is fine).
fn kill_quietly(pid: u32) {
    let _ = try_signal(pid, "KILL");
}

fn output(command: &mut Command) -> Output {
    command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

fn run(command: &mut Command) {
    let description = format!("{command:?}");
    let out = output(command);
    assert!(
        out.status.success(),
        "{description} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh, empty database for one test. With `$PASSTHRU_TEST_DATABASE_URL` (a URL to a server
/// where that user may create databases), a database of its own on that server, dropped when the
/// test ends; otherwise a throwaway [`PgCluster`] of its own. Tests that stop and start the
/// server use [`PgCluster`] directly.
pub enum PgTestDatabase {
    Cluster(PgCluster),
    External {
        admin_url: String,
        name: String,
        url: String,
    },
}

impl PgTestDatabase {
    pub fn new() -> PgTestDatabase {
        match std::env::var("PASSTHRU_TEST_DATABASE_URL") {
            Ok(admin_url) if !admin_url.is_empty() => {
                let name = format!(
                    "passthru_test_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::Relaxed)
                );
                psql_url(&admin_url, &format!("CREATE DATABASE \"{name}\""));
                let url = with_database(&admin_url, &name);
                PgTestDatabase::External {
                    admin_url,
                    name,
                    url,
                }
            }
            _ => PgTestDatabase::Cluster(PgCluster::start()),
        }
    }

    pub fn url(&self) -> String {
        match self {
            PgTestDatabase::Cluster(c) => c.url(),
            PgTestDatabase::External { url, .. } => url.clone(),
        }
    }
}

impl Drop for PgTestDatabase {
    fn drop(&mut self) {
        if let PgTestDatabase::External {
            admin_url, name, ..
        } = self
        {
            let _ = Command::new(pg_bin_dir().join("psql"))
                .args(["-X", "-q", "-d", admin_url.as_str(), "-c"])
                .arg(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .output();
        }
    }
}

fn psql_url(url: &str, sql: &str) {
    run(Command::new(pg_bin_dir().join("psql")).args([
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        url,
        "-c",
        sql,
    ]));
}

/// `url` with its database name replaced by `name` (query string kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    format!("{}/{name}{query}", &base[..host_end])
}

impl Default for PgTestDatabase {
    fn default() -> Self {
        Self::new()
    }
}
