//! A real `passthru-sync`: as a [`Daemon`], as a command run to completion, and the databases
//! and routes files it works on (SQL on SQLite and PostgreSQL, the file parsed back).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use sqlx::migrate::Migrator;
use sqlx::{ConnectOptions, Connection};

use crate::binary;
use crate::postgres::PgCluster;
use crate::process::{output_with_stdin, Daemon};
use crate::proxy::Proxy;
use crate::wait::wait_until;

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

/// `passthru-sync --schema litellm once` on the LiteLLM database at `url`, writing `output`;
/// returns its exit code and stderr.
pub fn litellm_once(url: &str, output: &Path) -> (i32, String) {
    sync_command(&[
        "--database-url",
        url,
        "--schema",
        "litellm",
        "--output",
        output.to_str().unwrap(),
        "once",
    ])
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

/// Starts `passthru-sync run` on the database at `database_url` writing `output`, with `args`
/// (schema, interval…), and waits up to `timeout` until it has written the file and logged so
/// (it logs after the rename, so the file alone could come first).
pub fn start_sync_until_written(
    output: &Path,
    database_url: &str,
    args: &[&str],
    timeout: Duration,
) -> Daemon {
    let mut all = vec!["--database-url", database_url];
    all.extend_from_slice(args);
    let sync = start_sync(output, &all);
    wait_until(timeout, "the routes file written and logged", || {
        sync.log().contains("wrote routes file")
    });
    sync
}

/// passthru-sync on the database at `database_url` with `args`, and, once it has written
/// `output` (waiting up to `timeout`), a proxy serving that file.
pub fn sync_and_proxy(
    output: &Path,
    database_url: &str,
    args: &[&str],
    timeout: Duration,
) -> (Daemon, Proxy) {
    let sync = start_sync_until_written(output, database_url, args, timeout);
    (sync, Proxy::start(output, &[]))
}

/// The binary under test; `$PASSTHRU_SYNC_BIN` overrides it (e.g. a release build for the
/// latency figure).
pub fn sync_binary() -> PathBuf {
    std::env::var_os("PASSTHRU_SYNC_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| binary("passthru-sync"))
}

/// `passthru-sync` with a clean environment for its own variables.
pub fn command(url: &str, output: &Path) -> Command {
    let mut c = Command::new(sync_binary());
    crate::dies_with_its_test(&mut c);
    for (k, _) in std::env::vars() {
        if k.starts_with("PASSTHRU_") || k == "NOTIFY_SOCKET" || k == "CREDENTIALS_DIRECTORY" {
            c.env_remove(k);
        }
    }
    c.env("PASSTHRU_DATABASE_URL", url)
        .env("PASSTHRU_ROUTES_FILE", output)
        .env("PASSTHRU_LOG", "info")
        .stdin(Stdio::null());
    c
}

/// Runs a subcommand to completion; returns (exit code, stdout, stderr).
pub fn run(url: &str, output: &Path, args: &[&str]) -> (i32, String, String) {
    let out = command(url, output)
        .args(args)
        .output()
        .expect("run passthru-sync");
    code_and_text(out)
}

/// [`run`] with `input` on the subcommand's stdin (a key for `--key-stdin`).
pub fn run_with_stdin(
    url: &str,
    output: &Path,
    args: &[&str],
    input: &[u8],
) -> (i32, String, String) {
    let mut command = command(url, output);
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    code_and_text(output_with_stdin(&mut command, input).expect("run passthru-sync"))
}

/// (exit code, stdout, stderr) of a finished process; -1 when a signal ended it.
fn code_and_text(out: Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn read(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok()
}

pub fn mtime(path: &Path) -> SystemTime {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .expect("mtime")
}

/// A migrated native SQLite database in `dir`; returns its URL.
pub fn native_sqlite(dir: &Path) -> String {
    let url = format!("sqlite://{}", dir.join("routes.db").display());
    let (code, _, err) = run(&url, &dir.join("unused.yaml"), &["migrate"]);
    assert_eq!(code, 0, "migrate failed: {err}");
    url
}

/// A throwaway cluster with database `name` migrated to the native schema by `passthru-sync
/// migrate`; returns the cluster and the database's URL.
pub fn native_postgres(name: &str) -> (PgCluster, String) {
    let pg = PgCluster::start();
    let url = pg.create_database(name);
    let (code, err) = sync_command(&["--database-url", &url, "migrate"]);
    assert_eq!(code, 0, "{err}");
    (pg, url)
}

/// A throwaway cluster with database `name` holding LiteLLM's tables as the sidecar example
/// creates them (`examples/litellm/litellm-tables.sql`); returns the cluster and the
/// database's URL.
pub fn litellm_postgres(name: &str) -> (PgCluster, String) {
    let pg = PgCluster::start();
    let url = pg.create_database(name);
    let ddl =
        fs::read_to_string(crate::repo_root().join("examples/litellm/litellm-tables.sql")).unwrap();
    pg.psql(name, &ddl);
    (pg, url)
}

/// LiteLLM's master key `key` in a file in `dir`, for `--litellm-master-key-file`.
fn litellm_master_key_file(dir: &Path, key: &str) -> PathBuf {
    let file = dir.join("litellm-master-key");
    fs::write(&file, format!("{key}\n")).unwrap();
    file
}

/// passthru-sync reading LiteLLM's tables at `url` every `interval`, with LiteLLM's master key
/// `master_key` (from a file beside `output`) and `extra` flags, once it has written `output`
/// (waiting up to `timeout`).
pub fn start_litellm_sync(
    output: &Path,
    url: &str,
    interval: &str,
    master_key: &str,
    extra: &[&str],
    timeout: Duration,
) -> Daemon {
    let master = litellm_master_key_file(output.parent().unwrap(), master_key);
    let mut args = vec![
        "--schema",
        "litellm",
        "--interval",
        interval,
        "--litellm-master-key-file",
        master.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    start_sync_until_written(output, url, &args, timeout)
}

/// Runs SQL statements on one connection.
pub async fn sql(url: &str, statements: &[&str]) {
    if url.starts_with("sqlite:") {
        let c = sqlx::SqliteConnection::connect(url)
            .await
            .expect("connect sqlite");
        execute_each(c, statements).await;
    } else {
        let c = sqlx::PgConnection::connect(url)
            .await
            .expect("connect postgres");
        execute_each(c, statements).await;
    }
}

/// Runs each of `statements` (each may hold several) on `connection`, then closes it.
async fn execute_each<C>(mut connection: C, statements: &[&str])
where
    C: Connection,
    for<'c> &'c mut C: sqlx::Executor<'c, Database = C::Database>,
{
    for s in statements {
        sqlx::raw_sql(s)
            .execute(&mut connection)
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    connection.close().await.ok();
}

/// The routes file, parsed with the proxy's loader; panics when it is not a valid file.
pub fn parsed(path: &Path) -> passthru_routes::RoutesFile {
    let bytes = fs::read(path).expect("read the routes file");
    passthru_routes::RoutesFile::parse(&bytes).unwrap_or_else(|p| {
        panic!(
            "invalid routes file: {p}\n{}",
            String::from_utf8_lossy(&bytes)
        )
    })
}

pub fn ids(path: &Path) -> Vec<String> {
    parsed(path)
        .routes()
        .iter()
        .map(|r| r.id.to_string())
        .collect()
}

/// LiteLLM's two tables as its Prisma migrations create them; the same file the LiteLLM sidecar
/// example ships, so the example is what these tests run.
pub fn litellm_ddl() -> Vec<String> {
    let path = crate::repo_root().join("examples/litellm/litellm-tables.sql");
    let text = fs::read_to_string(path).expect("examples/litellm/litellm-tables.sql");
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    code.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A migrator of only the `backend` (`sqlite` or `postgres`) migrations named, copied into
/// `dir`, so that it stops where an older release did.
async fn older_migrator(dir: &Path, backend: &str, migrations: &[&str]) -> Migrator {
    let only = dir.join(format!("older-migrations-{backend}"));
    std::fs::create_dir_all(&only).unwrap();
    for name in migrations {
        std::fs::copy(
            crate::repo_root()
                .join("crates/sync/migrations")
                .join(backend)
                .join(name),
            only.join(name),
        )
        .unwrap();
    }
    Migrator::new(only.as_path()).await.unwrap()
}

/// A SQLite database in `dir` at the migrations named (in order), as an older release left it.
pub async fn sqlite_at(dir: &Path, migrations: &[&str]) -> String {
    let migrator = older_migrator(dir, "sqlite", migrations).await;
    let url = format!("sqlite://{}", dir.join("routes.db").display());
    let mut conn = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&url)
        .unwrap()
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    migrator.run(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    url
}

/// The PostgreSQL database at `url` brought to the migrations named (in order), as an older
/// release left it; `dir` holds the copies of the migrations.
pub async fn postgres_at(url: &str, dir: &Path, migrations: &[&str]) {
    let migrator = older_migrator(dir, "postgres", migrations).await;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    migrator.run(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

/// Runs each statement on the SQLite database at `url` and checks that it is refused with an
/// error naming `message`.
pub async fn assert_sqlite_refuses(url: &str, refused: &[(&str, &str)]) {
    let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
    for (statement, message) in refused {
        let e = sqlx::query(statement)
            .execute(&mut conn)
            .await
            .expect_err(statement);
        assert!(e.to_string().contains(message), "{statement}: {e}");
    }
    conn.close().await.unwrap();
}
