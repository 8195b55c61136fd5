//! The command line: global options (database, schema, output, timing, LiteLLM inputs) and the
//! subcommands. What each command does is in [`commands`].

pub mod commands;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::config::Schema;

pub use commands::{execute, EXIT_UNCHANGED};

#[derive(Parser)]
#[command(
    name = "passthru-sync",
    version,
    about = "Keeps a canonical routes.yaml in step with a database of pass-through routes"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// Database URL: postgres://user@host/db or sqlite:///path.db. Prefer --database-url-file or
    /// the environment so the password never appears in argv.
    #[arg(
        long,
        env = "PASSTHRU_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// File whose first line is the database URL (systemd: LoadCredential=database-url:...;
    /// $CREDENTIALS_DIRECTORY/database-url is read automatically).
    #[arg(long, env = "PASSTHRU_DATABASE_URL_FILE", global = true)]
    pub database_url_file: Option<PathBuf>,

    /// The embedded database used when no URL is given; created and migrated on first use.
    #[arg(
        long,
        env = "PASSTHRU_SQLITE_PATH",
        global = true,
        default_value = "/var/lib/passthru/sync.db"
    )]
    pub sqlite_path: PathBuf,

    /// Which tables hold the routes.
    #[arg(
        long,
        env = "PASSTHRU_SCHEMA",
        global = true,
        value_enum,
        default_value = "native"
    )]
    pub schema: Schema,

    /// The routes file to write.
    #[arg(
        long,
        short = 'o',
        env = "PASSTHRU_ROUTES_FILE",
        global = true,
        default_value = "/var/lib/passthru/routes.yaml"
    )]
    pub output: PathBuf,

    /// Time between polls (jittered ±10 %), e.g. 10s, 500ms, 1m.
    #[arg(long, env = "PASSTHRU_SYNC_INTERVAL", global = true, default_value = "10s", value_parser = duration)]
    pub interval: Duration,

    /// Longest wait between attempts while the database fails (never less than --interval).
    #[arg(long, env = "PASSTHRU_SYNC_MAX_BACKOFF", global = true, default_value = "60s", value_parser = duration)]
    pub max_backoff: Duration,

    /// How long to wait for a database connection.
    #[arg(long, env = "PASSTHRU_SYNC_CONNECT_TIMEOUT", global = true, default_value = "5s", value_parser = duration)]
    pub connect_timeout: Duration,

    /// The longest one pass may wait for the database before it counts as failed.
    #[arg(long, env = "PASSTHRU_SYNC_QUERY_TIMEOUT", global = true, default_value = "30s", value_parser = duration)]
    pub query_timeout: Duration,

    /// Do not LISTEN for commits on PostgreSQL; rely on polling alone.
    #[arg(long, env = "PASSTHRU_SYNC_NO_LISTEN", global = true)]
    pub no_listen: bool,

    /// LiteLLM schema: a file holding LiteLLM's master key (its first line), accepted as an
    /// admin key on every route. Default: the systemd credential `litellm-master-key` when
    /// present, else `general_settings.master_key`. Only its sha256 is written to the file.
    #[arg(long, env = "PASSTHRU_LITELLM_MASTER_KEY_FILE", global = true)]
    pub litellm_master_key_file: Option<PathBuf>,

    /// LiteLLM schema: LiteLLM's config.yaml. Its `general_settings.pass_through_endpoints` are
    /// served beside the database's (a database endpoint wins on the same path), and its
    /// pass_through_request_timeout, litellm_key_header_name and master_key win over the
    /// database's, as in LiteLLM. Re-read on every poll.
    #[arg(long, env = "PASSTHRU_LITELLM_CONFIG", global = true)]
    pub litellm_config: Option<PathBuf>,

    /// LiteLLM schema: read every table at least this often, whatever the change marker (write
    /// counters, then a fingerprint of what decides access) says; a backstop, since PostgreSQL
    /// flushes table statistics asynchronously. 0s reads everything on every poll.
    #[arg(long, env = "PASSTHRU_LITELLM_FULL_READ_EVERY", global = true, default_value = "5m", value_parser = duration_or_zero)]
    pub litellm_full_read_every: Duration,
}

#[derive(Subcommand)]
pub enum Command {
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
pub enum RoutesCommand {
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
pub struct AddRoute {
    /// Request path prefix, e.g. /cohere.
    #[arg(long)]
    pub path: String,
    /// Upstream URL, e.g. https://api.cohere.com.
    #[arg(long)]
    pub target: String,
    /// Explicit id; without it the id is derived from path and methods.
    #[arg(long)]
    pub id: Option<String>,
    /// Also match everything below the path.
    #[arg(long)]
    pub include_subpath: bool,
    /// Allowed method (repeatable); none: every method except TRACE and CONNECT.
    #[arg(long = "method", value_name = "METHOD")]
    pub methods: Vec<String>,
    /// Header added upstream, NAME=VALUE (repeatable); VALUE may end in os.environ/VAR.
    #[arg(long = "header", value_name = "NAME=VALUE", value_parser = pair)]
    pub headers: Vec<(String, String)>,
    /// Forward the client's end-to-end headers too.
    #[arg(long)]
    pub forward_headers: bool,
    /// Default query parameter, NAME=VALUE (repeatable).
    #[arg(long = "query", value_name = "NAME=VALUE", value_parser = pair)]
    pub query: Vec<(String, String)>,
    /// Upstream timeout in seconds (default 600).
    #[arg(long)]
    pub timeout: Option<f64>,
    /// Require an API key (true, the default) or not (false).
    #[arg(long, value_name = "true|false")]
    pub auth: Option<bool>,
}

#[derive(Subcommand)]
pub enum KeysCommand {
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
pub struct KeyAccess {
    /// An admin key: every auth: true route, whatever --allow and --deny would say (--only still
    /// limits it).
    #[arg(long)]
    pub admin: bool,
    /// Allow this path and every path below it at a '/' (repeatable; no wildcard). With
    /// --allow, the key may use only what the entries allow.
    #[arg(long = "allow", value_name = "PATH", conflicts_with = "allow_none")]
    pub allow: Vec<String>,
    /// Allow no route at all (`allow: []`): a key that is known but refused (403) everywhere,
    /// e.g. to be granted routes later with SQL.
    #[arg(long)]
    pub allow_none: bool,
    /// Deny this path and every path below it (repeatable; checked before --allow; a trailing
    /// '*' matches any path starting with what precedes it; '/' denies every path).
    #[arg(long = "deny", value_name = "PATH")]
    pub deny: Vec<String>,
    /// Limit the key, admin or not, to this path, every path below it, or (with a trailing '*')
    /// every path starting with what precedes the '*' (repeatable).
    #[arg(long = "only", value_name = "PATH")]
    pub only: Vec<String>,
}

impl KeyAccess {
    /// The grants these flags give a new key.
    pub fn grants(self) -> passthru_routes::Grants {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_must_be_more_than_zero_and_the_backstop_may_be_zero() {
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(duration("0s").unwrap_err().contains("more than zero"));
        assert!(duration("soon").unwrap_err().contains("write e.g. 10s"));
        assert_eq!(duration_or_zero("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn a_pair_splits_at_the_first_equals_sign() {
        assert_eq!(pair("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(pair("ab").unwrap_err().contains("NAME=VALUE"));
    }

    #[test]
    fn no_access_flag_gives_an_unscoped_key_and_allow_none_an_empty_allow_list() {
        let parse = |args: &[&str]| {
            let mut argv = vec!["passthru-sync", "keys", "add", "--sha256", "x"];
            argv.extend_from_slice(args);
            match Cli::parse_from(argv).command {
                Some(Command::Keys(KeysCommand::Add { access, .. })) => access.grants(),
                _ => unreachable!("parsed as keys add"),
            }
        };
        assert_eq!(parse(&[]), passthru_routes::Grants::default());
        assert_eq!(parse(&["--allow-none"]).allow, Some(vec![]));
        let scoped = parse(&[
            "--allow", "/a", "--deny", "/a/b", "--only", "/a*", "--admin",
        ]);
        assert_eq!(scoped.allow, Some(vec!["/a".to_owned()]));
        assert_eq!(scoped.deny, ["/a/b"]);
        assert_eq!(scoped.only, Some(vec!["/a*".to_owned()]));
        assert!(scoped.admin);
    }

    #[test]
    fn no_subcommand_is_run() {
        assert!(Cli::parse_from(["passthru-sync"]).command.is_none());
    }
}
