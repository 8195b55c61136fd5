//! What each command does: `run` (the daemon), `once`, `migrate`, and the native schema's
//! `routes` and `keys` management. The binary only parses, sets up logging and the runtime,
//! and turns the result into an exit code.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use passthru_routes::parent_dir;
use passthru_systemd::Notifier;

use super::{AddRoute, Cli, Command, Global, KeysCommand, RoutesCommand};
use crate::admin::{self, NewRoute};
use crate::config::{resolve_url, Schema};
use crate::daemon::{self, LoopOptions, PassOutcome, Syncer};
use crate::database::Database;
use crate::error::SyncError;
use crate::signals::Wakeups;
use crate::source::{MasterKey, Source};

/// Exit code of `once` when the file already held the current table.
pub const EXIT_UNCHANGED: u8 = 3;

/// Runs the command `cli` names (`run` when none).
pub async fn execute(cli: Cli) -> Result<ExitCode, SyncError> {
    let g = &cli.global;
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            // First, so that a SIGHUP (systemd reload) or SIGTERM during start-up is handled, not
            // fatal by default disposition.
            let wakeups = Wakeups::from_signals().map_err(|error| SyncError::Signals { error })?;
            let db = open(g).await?;
            tracing::info!(
                database = %db.url(),
                schema = ?g.schema,
                output = %g.output.display(),
                interval = %humantime::format_duration(g.interval),
                "starting"
            );
            let syncer =
                Syncer::new(source(db, g)?, g.output.clone()).with_query_timeout(g.query_timeout);
            let options = LoopOptions {
                interval: g.interval,
                max_backoff: g.max_backoff,
                listen: !g.no_listen,
            };
            daemon::run(syncer, options, wakeups, Notifier::from_env()).await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Once => {
            let db = open(g).await?;
            let mut syncer = Syncer::new(source(db.clone(), g)?, g.output.clone())
                .with_query_timeout(g.query_timeout);
            syncer.remove_stale_temp_files();
            let outcome = syncer.pass(true).await;
            db.close().await;
            match outcome? {
                PassOutcome::Written => Ok(ExitCode::SUCCESS),
                PassOutcome::Unchanged | PassOutcome::NothingNew => {
                    tracing::info!(output = %g.output.display(), "routes file already up to date");
                    Ok(ExitCode::from(EXIT_UNCHANGED))
                }
            }
        }
        Command::Migrate => {
            native_only(g, "migrate")?;
            let db = open(g).await?;
            db.migrate().await?;
            tracing::info!(database = %db.url(), "native schema is up to date");
            db.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Routes(command) => {
            native_only(g, "routes")?;
            let db = open(g).await?;
            let result = routes_command(&db, command).await;
            db.close().await;
            result
        }
        Command::Keys(command) => {
            native_only(g, "keys")?;
            let db = open(g).await?;
            let result = keys_command(&db, command).await;
            db.close().await;
            result
        }
    }
}

/// The database the global options point at, created and migrated first when it is the
/// embedded SQLite default of the native schema.
async fn open(global: &Global) -> Result<Database, SyncError> {
    let url = resolve_url(
        global.database_url.as_deref(),
        global.database_url_file.as_deref(),
        &global.sqlite_path,
    )?;
    let db = Database::open(&url, global.connect_timeout)?;
    // The embedded default needs no operator step: a SQLite native database is created and
    // migrated on first use. PostgreSQL is migrated only by `passthru-sync migrate`.
    if url.is_sqlite() && global.schema == Schema::Native {
        if let Some(dir) = sqlite_dir(url.expose()) {
            std::fs::create_dir_all(dir).map_err(|error| SyncError::CreateDir {
                path: dir.to_path_buf(),
                error,
            })?;
        }
        db.migrate().await?;
    }
    Ok(db)
}

/// The directory of a sqlite:// file URL, to create it on first use; `None` for an in-memory
/// database.
fn sqlite_dir(url: &str) -> Option<&Path> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next()?;
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(parent_dir(Path::new(path)))
}

fn native_only(global: &Global, what: &'static str) -> Result<(), SyncError> {
    if global.schema != Schema::Native {
        return Err(SyncError::ReadOnlySchema { what });
    }
    Ok(())
}

/// The route row `routes add` inserts.
fn new_route(a: AddRoute) -> NewRoute {
    NewRoute {
        id: a.id,
        path: a.path,
        target: a.target,
        include_subpath: a.include_subpath.then_some(true),
        methods: a.methods,
        headers: a.headers.into_iter().collect::<BTreeMap<_, _>>(),
        forward_headers: a.forward_headers.then_some(true),
        default_query_params: a.query.into_iter().collect(),
        timeout: a.timeout,
        auth: a.auth,
    }
}

async fn routes_command(db: &Database, command: RoutesCommand) -> Result<ExitCode, SyncError> {
    match command {
        RoutesCommand::Add(a) => {
            let route = admin::add_route(db, &new_route(a)).await?;
            println!("{}", route.id);
            Ok(ExitCode::SUCCESS)
        }
        RoutesCommand::List { yaml } => {
            if yaml {
                let source = Source::new(db.clone(), Schema::Native)?;
                let read = source.read(SystemTime::now(), Default::default()).await?;
                print!("{}", read.snapshot.into_file().0.render());
                return Ok(ExitCode::SUCCESS);
            }
            let rows = admin::list_routes(db).await?;
            println!(
                "{:<24} {:<7} {:<28} {:<16} {:<5} TARGET",
                "ID", "ROW", "PATH", "METHODS", "AUTH"
            );
            for row in &rows {
                match &row.route {
                    Ok(r) => println!(
                        "{:<24} {:<7} {:<28} {:<16} {:<5} {}",
                        r.id.as_str(),
                        row.row_id,
                        format!("{}{}", r.path, if r.include_subpath { "/*" } else { "" }),
                        r.methods.to_string(),
                        r.auth,
                        r.target.as_str()
                    ),
                    Err(why) => eprintln!("row_id {} is skipped by the daemon: {why}", row.row_id),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        RoutesCommand::Rm { id, row_id } => {
            match (id, row_id) {
                (Some(id), _) => {
                    let n = admin::remove_route(db, &id).await?;
                    eprintln!("removed {n} row(s) with id {id}");
                }
                (None, Some(row_id)) => {
                    admin::remove_route_row(db, row_id).await?;
                    eprintln!("removed row_id {row_id}");
                }
                (None, None) => unreachable!("clap requires one"),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn keys_command(db: &Database, command: KeysCommand) -> Result<ExitCode, SyncError> {
    match command {
        KeysCommand::Add {
            sha256,
            key_stdin,
            expires,
            note,
            access,
        } => {
            let hex = if key_stdin {
                let mut raw = String::new();
                std::io::stdin()
                    .read_to_string(&mut raw)
                    .map_err(|error| SyncError::KeyStdin { error })?;
                admin::hash_key(key_from_stdin(&raw)?)
            } else {
                sha256.unwrap_or_default()
            };
            let grants = access.grants();
            admin::add_key(db, &hex, expires.as_deref(), note.as_deref(), &grants).await?;
            println!("{}", hex.to_ascii_lowercase());
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::List => {
            println!(
                "{:<64} {:<20} {:<7} {:<24} NOTE",
                "SHA256", "EXPIRES", "BLOCKED", "ACCESS"
            );
            for k in admin::list_keys(db).await? {
                println!(
                    "{:<64} {:<20} {:<7} {:<24} {}",
                    k.sha256,
                    k.expires.as_deref().unwrap_or("never"),
                    k.blocked,
                    admin::describe_access(&k.grants),
                    k.note.as_deref().unwrap_or("")
                );
                // A row that cannot be read is listed with the reason, never an exit 1: the
                // daemon serves the other rows.
                for problem in &k.problems {
                    eprintln!("{problem}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Rm { sha256 } => {
            let n = admin::remove_key(db, &sha256).await?;
            eprintln!("removed {n} key(s)");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The raw key piped to `keys add --key-stdin`: everything but the final line break.
fn key_from_stdin(raw: &str) -> Result<&str, SyncError> {
    let raw = raw.trim_end_matches(['\n', '\r']);
    if raw.is_empty() {
        return Err(SyncError::Invalid(
            "stdin held no key; pipe the key in, e.g. `printf %s \"$KEY\" | passthru-sync keys add --key-stdin`".into(),
        ));
    }
    Ok(raw)
}

/// The source the daemon reads, with LiteLLM's master key when one is given.
fn source(db: Database, g: &Global) -> Result<Source, SyncError> {
    let credential = std::env::var_os("CREDENTIALS_DIRECTORY")
        .map(|dir| PathBuf::from(dir).join("litellm-master-key"))
        .filter(|p| p.exists());
    let key = match g.litellm_master_key_file.clone().or(credential) {
        None => None,
        Some(path) => Some(master_key(&path)?),
    };
    Ok(Source::new(db, g.schema)?
        .with_litellm_master_key(key)
        .with_litellm_config(g.litellm_config.clone())
        .with_litellm_full_read_every(g.litellm_full_read_every))
}

/// LiteLLM's master key: the first non-empty line of `path`.
fn master_key(path: &Path) -> Result<MasterKey, SyncError> {
    let text = std::fs::read_to_string(path).map_err(|error| SyncError::MasterKeyFile {
        path: path.to_path_buf(),
        error,
    })?;
    let key = text.lines().map(str::trim).find(|l| !l.is_empty());
    let key = key.ok_or_else(|| SyncError::Invalid(format!("{} is empty", path.display())))?;
    Ok(MasterKey(key.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sqlite_directory_is_the_files_parent_and_none_in_memory() {
        assert_eq!(
            sqlite_dir("sqlite:///var/lib/passthru/sync.db"),
            Some(Path::new("/var/lib/passthru"))
        );
        assert_eq!(
            sqlite_dir("sqlite:data/sync.db?mode=rwc"),
            Some(Path::new("data"))
        );
        assert_eq!(sqlite_dir("sqlite:sync.db"), Some(Path::new(".")));
        assert_eq!(sqlite_dir("sqlite::memory:"), None);
        assert_eq!(sqlite_dir("postgres://h/db"), None);
    }

    #[test]
    fn a_piped_key_loses_its_line_break_and_must_not_be_empty() {
        assert_eq!(key_from_stdin("sk-1\r\n").unwrap(), "sk-1");
        assert_eq!(key_from_stdin("sk 1 \n").unwrap(), "sk 1 ");
        assert!(key_from_stdin("\n")
            .unwrap_err()
            .to_string()
            .contains("stdin held no key"));
    }

    #[test]
    fn the_master_key_is_the_first_non_empty_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master-key");
        std::fs::write(&path, "\n  sk-master  \nsecond\n").unwrap();
        assert_eq!(master_key(&path).unwrap().0, "sk-master");
        std::fs::write(&path, "\n \n").unwrap();
        assert!(master_key(&path)
            .unwrap_err()
            .to_string()
            .ends_with("is empty"));
        let missing = master_key(&dir.path().join("nope"))
            .unwrap_err()
            .to_string();
        assert!(
            missing.starts_with("cannot read the LiteLLM master key from"),
            "{missing}"
        );
    }

    #[test]
    fn management_commands_refuse_the_litellm_schema() {
        use clap::Parser;
        let cli = Cli::parse_from(["passthru-sync", "--schema", "litellm", "migrate"]);
        let err = native_only(&cli.global, "migrate").unwrap_err();
        assert!(matches!(err, SyncError::ReadOnlySchema { what: "migrate" }));
    }
}
