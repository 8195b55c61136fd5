//! `passthru-sync`: the database-to-file sidecar. Thin edge over the library: flags, logging,
//! exit codes.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use passthru_sync::admin::{self, NewRoute};
use passthru_sync::config::{resolve_url, Schema};
use passthru_sync::daemon::{self, LoopOptions};
use passthru_sync::signals::Wakeups;
use passthru_sync::source::{MasterKey, Source};
use passthru_sync::{Database, PassOutcome, Syncer};
use passthru_systemd::Notifier;

/// Exit code of `once` when the file already held the current table.
const EXIT_UNCHANGED: u8 = 3;

#[derive(Parser)]
#[command(
    name = "passthru-sync",
    version,
    about = "Keeps a canonical routes.yaml in step with a database of pass-through routes"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Args)]
#[command(next_help_heading = "Global options")]
struct Global {
    /// Database URL: postgres://user@host/db or sqlite:///path.db. Prefer --database-url-file or
    /// the environment so the password never appears in argv.
    #[arg(
        long,
        env = "PASSTHRU_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    database_url: Option<String>,

    /// File whose first line is the database URL (systemd: LoadCredential=database-url:...;
    /// $CREDENTIALS_DIRECTORY/database-url is read automatically).
    #[arg(long, env = "PASSTHRU_DATABASE_URL_FILE", global = true)]
    database_url_file: Option<PathBuf>,

    /// The embedded database used when no URL is given; created and migrated on first use.
    #[arg(
        long,
        env = "PASSTHRU_SQLITE_PATH",
        global = true,
        default_value = "/var/lib/passthru/sync.db"
    )]
    sqlite_path: PathBuf,

    /// Which tables hold the routes.
    #[arg(
        long,
        env = "PASSTHRU_SCHEMA",
        global = true,
        value_enum,
        default_value = "native"
    )]
    schema: Schema,

    /// The routes file to write.
    #[arg(
        long,
        short = 'o',
        env = "PASSTHRU_ROUTES_FILE",
        global = true,
        default_value = "/var/lib/passthru/routes.yaml"
    )]
    output: PathBuf,

    /// Time between polls (jittered ±10 %), e.g. 10s, 500ms, 1m.
    #[arg(long, env = "PASSTHRU_SYNC_INTERVAL", global = true, default_value = "10s", value_parser = duration)]
    interval: Duration,

    /// Longest wait between attempts while the database fails (never less than --interval).
    #[arg(long, env = "PASSTHRU_SYNC_MAX_BACKOFF", global = true, default_value = "60s", value_parser = duration)]
    max_backoff: Duration,

    /// How long to wait for a database connection.
    #[arg(long, env = "PASSTHRU_SYNC_CONNECT_TIMEOUT", global = true, default_value = "5s", value_parser = duration)]
    connect_timeout: Duration,

    /// The longest one pass may wait for the database before it counts as failed.
    #[arg(long, env = "PASSTHRU_SYNC_QUERY_TIMEOUT", global = true, default_value = "30s", value_parser = duration)]
    query_timeout: Duration,

    /// Do not LISTEN for commits on PostgreSQL; rely on polling alone.
    #[arg(long, env = "PASSTHRU_SYNC_NO_LISTEN", global = true)]
    no_listen: bool,

    /// LiteLLM schema: a file holding LiteLLM's master key (its first line), accepted as an
    /// admin key on every route. Default: the systemd credential `litellm-master-key` when
    /// present, else `general_settings.master_key`. Only its sha256 is written to the file.
    #[arg(long, env = "PASSTHRU_LITELLM_MASTER_KEY_FILE", global = true)]
    litellm_master_key_file: Option<PathBuf>,

    /// LiteLLM schema: LiteLLM's config.yaml. Its `general_settings.pass_through_endpoints` are
    /// served beside the database's (a database endpoint wins on the same path), and its
    /// pass_through_request_timeout, litellm_key_header_name and master_key win over the
    /// database's, as in LiteLLM. Re-read on every poll.
    #[arg(long, env = "PASSTHRU_LITELLM_CONFIG", global = true)]
    litellm_config: Option<PathBuf>,

    /// LiteLLM schema: read every table at least this often, whatever the change marker (write
    /// counters, then a fingerprint of what decides access) says; a backstop, since PostgreSQL
    /// flushes table statistics asynchronously. 0s reads everything on every poll.
    #[arg(long, env = "PASSTHRU_LITELLM_FULL_READ_EVERY", global = true, default_value = "5m", value_parser = duration_or_zero)]
    litellm_full_read_every: Duration,
}

#[derive(Subcommand)]
enum Command {
    /// Poll and write until SIGTERM (the default).
    Run,
    /// One pass: exit 0 when the file was written, 3 when it already held the table, 1 on failure.
    Once,
    /// Create or upgrade the native schema (tables, triggers) in the database.
    Migrate,
    /// Manage routes in the native schema.
    #[command(subcommand)]
    Routes(RoutesCommand),
    /// Manage API-key hashes in the native schema.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Subcommand)]
enum RoutesCommand {
    /// Add a route (validated as the daemon validates it; refused if it clashes).
    Add(AddRoute),
    /// List the routes with their ids, and any row the daemon skips.
    List {
        /// Print the table exactly as the routes file would hold it.
        #[arg(long)]
        yaml: bool,
    },
    /// Remove the route(s) with this id (explicit or derived `auto-…`), or one row by --row-id
    /// (for a bad row that has no usable id; `routes list` shows row ids).
    Rm {
        #[arg(required_unless_present = "row_id", conflicts_with = "row_id")]
        id: Option<String>,
        #[arg(long)]
        row_id: Option<i64>,
    },
}

#[derive(Args)]
struct AddRoute {
    /// Request path prefix, e.g. /cohere.
    #[arg(long)]
    path: String,
    /// Upstream URL, e.g. https://api.cohere.com.
    #[arg(long)]
    target: String,
    /// Explicit id; without it the id is derived from path and methods.
    #[arg(long)]
    id: Option<String>,
    /// Also match everything below the path.
    #[arg(long)]
    include_subpath: bool,
    /// Allowed method (repeatable); none: every method except TRACE and CONNECT.
    #[arg(long = "method", value_name = "METHOD")]
    methods: Vec<String>,
    /// Header added upstream, NAME=VALUE (repeatable); VALUE may end in os.environ/VAR.
    #[arg(long = "header", value_name = "NAME=VALUE", value_parser = pair)]
    headers: Vec<(String, String)>,
    /// Forward the client's end-to-end headers too.
    #[arg(long)]
    forward_headers: bool,
    /// Default query parameter, NAME=VALUE (repeatable).
    #[arg(long = "query", value_name = "NAME=VALUE", value_parser = pair)]
    query: Vec<(String, String)>,
    /// Upstream timeout in seconds (default 600).
    #[arg(long)]
    timeout: Option<f64>,
    /// Require an API key (true, the default) or not (false).
    #[arg(long, value_name = "true|false")]
    auth: Option<bool>,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Add a key hash. Give the hash, or pipe the raw key on stdin with --key-stdin (never argv).
    Add {
        #[arg(
            long,
            required_unless_present = "key_stdin",
            conflicts_with = "key_stdin"
        )]
        sha256: Option<String>,
        /// Read the raw key from stdin and store its sha256.
        #[arg(long)]
        key_stdin: bool,
        /// RFC 3339 UTC expiry, e.g. 2027-01-31T00:00:00Z.
        #[arg(long)]
        expires: Option<String>,
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        access: KeyAccess,
    },
    /// List key hashes with their access (ACCESS `all`: every auth: true route).
    List,
    /// Remove a key hash.
    Rm { sha256: String },
}

/// Which `auth: true` routes a new key may use. None of these flags: every one (unscoped).
#[derive(Args)]
#[command(next_help_heading = "Key access (none of these: every auth: true route)")]
struct KeyAccess {
    /// An admin key: every auth: true route, whatever --allow and --deny would say (--only still
    /// limits it).
    #[arg(long)]
    admin: bool,
    /// Allow this path and every path below it at a '/' (repeatable; no wildcard). With
    /// --allow, the key may use only what the entries allow.
    #[arg(long = "allow", value_name = "PATH", conflicts_with = "allow_none")]
    allow: Vec<String>,
    /// Allow no route at all (`allow: []`): a key that is known but refused (403) everywhere,
    /// e.g. to be granted routes later with SQL.
    #[arg(long)]
    allow_none: bool,
    /// Deny this path and every path below it (repeatable; checked before --allow; a trailing
    /// '*' matches any path starting with what precedes it; '/' denies every path).
    #[arg(long = "deny", value_name = "PATH")]
    deny: Vec<String>,
    /// Limit the key, admin or not, to this path, every path below it, or (with a trailing '*')
    /// every path starting with what precedes the '*' (repeatable).
    #[arg(long = "only", value_name = "PATH")]
    only: Vec<String>,
}

impl KeyAccess {
    fn grants(self) -> passthru_routes::Grants {
        passthru_routes::Grants {
            admin: self.admin,
            allow: if self.allow_none {
                Some(Vec::new())
            } else {
                Some(self.allow).filter(|a| !a.is_empty())
            },
            deny: self.deny,
            only: Some(self.only).filter(|o| !o.is_empty()),
        }
    }
}

fn duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e}; write e.g. 10s, 500ms, 1m"))?;
    if d.is_zero() {
        return Err("must be more than zero".into());
    }
    Ok(d)
}

fn duration_or_zero(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e}; write e.g. 0s, 30s, 5m"))
}

fn pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not NAME=VALUE"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PASSTHRU_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

async fn open(global: &Global) -> anyhow::Result<Database> {
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
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create the directory {}", dir.display()))?;
        }
        db.migrate().await?;
    }
    Ok(db)
}

/// The directory of a sqlite:// file URL, to create it on first use.
fn sqlite_dir(url: &str) -> Option<PathBuf> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next()?;
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    PathBuf::from(path)
        .parent()
        .map(PathBuf::from)
        .filter(|p| !p.as_os_str().is_empty())
}

fn native_only(global: &Global, what: &'static str) -> anyhow::Result<()> {
    if global.schema != Schema::Native {
        bail!(passthru_sync::SyncError::ReadOnlySchema { what });
    }
    Ok(())
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let g = &cli.global;
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            // First, so that a SIGHUP (systemd reload) or SIGTERM during start-up is handled, not
            // fatal by default disposition.
            let wakeups = Wakeups::from_signals().context("cannot install signal handlers")?;
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

async fn routes_command(db: &Database, command: RoutesCommand) -> anyhow::Result<ExitCode> {
    match command {
        RoutesCommand::Add(a) => {
            let new = NewRoute {
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
            };
            let route = admin::add_route(db, &new).await?;
            println!("{}", route.id);
            Ok(ExitCode::SUCCESS)
        }
        RoutesCommand::List { yaml } => {
            if yaml {
                let source = Source::new(db.clone(), Schema::Native)?;
                let read = source.read(std::time::SystemTime::now()).await?;
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

async fn keys_command(db: &Database, command: KeysCommand) -> anyhow::Result<ExitCode> {
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
                    .context("cannot read the key from stdin")?;
                let raw = raw.trim_end_matches(['\n', '\r']);
                if raw.is_empty() {
                    bail!("stdin held no key; pipe the key in, e.g. `printf %s \"$KEY\" | passthru-sync keys add --key-stdin`");
                }
                admin::hash_key(raw)
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

/// The source the daemon reads, with LiteLLM's master key when one is given.
fn source(db: Database, g: &Global) -> anyhow::Result<Source> {
    let credential = std::env::var_os("CREDENTIALS_DIRECTORY")
        .map(|dir| PathBuf::from(dir).join("litellm-master-key"))
        .filter(|p| p.exists());
    let key = match g.litellm_master_key_file.clone().or(credential) {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "cannot read the LiteLLM master key from {}; check the path and its mode",
                    path.display()
                )
            })?;
            let key = text.lines().map(str::trim).find(|l| !l.is_empty());
            let key = key.with_context(|| format!("{} is empty", path.display()))?;
            Some(MasterKey(key.to_owned()))
        }
    };
    Ok(Source::new(db, g.schema)?
        .with_litellm_master_key(key)
        .with_litellm_config(g.litellm_config.clone())
        .with_litellm_full_read_every(g.litellm_full_read_every))
}
