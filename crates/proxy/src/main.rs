use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use passthru_proxy::access_log::{self, Destination};
use passthru_proxy::client::TrustedProxies;
use passthru_proxy::commands;
use passthru_proxy::http_proxy::ProxyOptions;
use passthru_proxy::run::{self, RunConfig};
use passthru_routes::ForwardedHeaders;
use pingora::prelude::Opt;

/// See `passthru_proxy::allocator`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// passthru-proxy: a reverse proxy for pass-through routes kept in a routes.yaml file.
///
/// Without a subcommand it runs the proxy (`run`). It follows the routes file as it changes
/// (editors, renames, symlink swaps, passthru-sync), keeps the last good table when a new one is
/// bad, and rebuilds on SIGHUP. `check` and `fmt` are the DB-less operator's tools and use the
/// same loader.
#[derive(Parser)]
#[command(version, about, long_about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy (the default).
    Run(Box<RunArgs>),
    /// Validate a routes file the way the proxy loads it, like `nginx -t`.
    ///
    /// Prints every problem with its location and exits 1 if there is any; otherwise prints the
    /// routes (id, methods, path, match kind, auth, target) and exits 0.
    Check {
        /// The routes file, e.g. /var/lib/passthru/routes.yaml
        file: PathBuf,
        /// Also print what loading FILE would add, remove and change on the proxy whose admin
        /// listener is here (e.g. http://127.0.0.1:9901), and whether it already serves it.
        #[arg(long, value_name = "http://ADMIN")]
        against: Option<String>,
    },
    /// Rewrite a routes file in canonical form with every id stamped, atomically.
    ///
    /// Canonical form sorts routes and maps and writes every field out; comments are not kept,
    /// except a first-line `# yaml-language-server:` modeline.
    /// The file is replaced by rename (mode 0640) and left untouched when already canonical.
    Fmt {
        /// Do not write: exit 1 when the file is not in canonical form.
        #[arg(long)]
        check: bool,
        /// The routes file to format.
        file: PathBuf,
    },
    /// Print the JSON Schema of routes.yaml, for editors (yaml-language-server).
    Schema,
    /// Show what the proxy would do with one request: the normalised path, every route that
    /// covers it and why it did or did not win, and the exact upstream request (configured
    /// secrets shown as their os.environ/ references).
    Explain {
        /// The routes file.
        file: PathBuf,
        /// The request line, e.g. 'GET /cohere/v1/chat?x=1'.
        request: String,
        /// A request header, e.g. -H 'Authorization: Bearer sk-...' (repeatable).
        #[arg(short = 'H', long = "header")]
        headers: Vec<String>,
    },
    /// Run route tests: each case's request goes through the proxy's own routing and auth code
    /// and is checked against what it expects (status, route, upstream URL, headers). Prints a
    /// diff for each failure and exits 1 if any failed.
    Test {
        /// The routes file.
        file: PathBuf,
        /// The cases file (YAML; schema: examples/route-tests.schema.json).
        cases: PathBuf,
    },
}

#[derive(Args)]
struct RunArgs {
    /// The routes file to serve and follow.
    #[arg(
        long,
        env = "PASSTHRU_ROUTES_FILE",
        default_value = "/var/lib/passthru/routes.yaml"
    )]
    routes: PathBuf,
    /// Address to serve proxied traffic on; repeat for several.
    #[arg(
        long,
        env = "PASSTHRU_LISTEN",
        value_delimiter = ',',
        default_value = "0.0.0.0:8080"
    )]
    listen: Vec<SocketAddr>,
    /// Address of the admin listener (/healthz, /readyz, /metrics).
    #[arg(long, env = "PASSTHRU_ADMIN", default_value = "127.0.0.1:9901")]
    admin: SocketAddr,
    /// Longest time SIGTERM waits for in-flight requests (seconds); keep it below systemd's
    /// TimeoutStopSec. The proxy exits as soon as nothing is in flight.
    #[arg(long, env = "PASSTHRU_GRACE_PERIOD", default_value_t = 25)]
    grace_period: u64,
    /// Check the routes file's stat this often even without a file event, and re-read it when
    /// the stat changed (seconds).
    #[arg(long, env = "PASSTHRU_RECHECK", default_value_t = 5.0)]
    recheck: f64,
    /// Re-read the routes file at least this often even when its stat did not change
    /// (seconds; checked at the --recheck ticks).
    #[arg(long, env = "PASSTHRU_FULL_RECHECK", default_value_t = 60.0)]
    full_recheck: f64,
    /// Quiet time after the last file event before re-reading (milliseconds).
    #[arg(long, env = "PASSTHRU_DEBOUNCE_MS", default_value_t = 20)]
    debounce_ms: u64,
    /// Worker threads for the proxy (default: the number of CPUs, or `threads` of the -c file).
    #[arg(long, env = "PASSTHRU_THREADS")]
    threads: Option<usize>,
    /// Also serve HTTPS here (repeatable; ALPN h2 and http/1.1). Needs --tls-cert and --tls-key.
    #[arg(long, env = "PASSTHRU_TLS_LISTEN", value_delimiter = ',')]
    tls_listen: Vec<SocketAddr>,
    /// The TLS listeners' certificate chain (PEM). Re-read on SIGHUP and when it changes;
    /// one that does not load at a reload keeps the previous one serving.
    #[arg(long, env = "PASSTHRU_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "PASSTHRU_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Accept HTTP/2 with prior knowledge (h2c) on the plain --listen addresses; HTTP/1.1
    /// clients are served as before.
    #[arg(long, env = "PASSTHRU_H2C")]
    h2c: bool,
    /// Serve every route under this path prefix, as LiteLLM does behind SERVER_ROOT_PATH
    /// (`/llmproxy`: a route `/cohere` answers at `/llmproxy/cohere`; other paths get 404).
    #[arg(long, env = "PASSTHRU_ROOT_PATH")]
    root_path: Option<String>,
    /// Access log, one JSON line per request: `off`, `stderr` (the journal under systemd) or a
    /// file path (appended to; SIGUSR1 reopens it, for logrotate).
    #[arg(
        long,
        env = "PASSTHRU_ACCESS_LOG",
        default_value = "stderr",
        value_name = "off|stderr|FILE"
    )]
    access_log: Destination,
    /// Also log the names (never the values) of the client's query parameters.
    #[arg(long, env = "PASSTHRU_ACCESS_LOG_QUERY_NAMES")]
    access_log_query_names: bool,
    /// What the upstream is told about the client, for routes that set no `forwarded_headers`:
    /// `off`, `xff` (X-Forwarded-For/-Proto/-Host) or `forwarded` (RFC 7239).
    #[arg(long, env = "PASSTHRU_FORWARDED_HEADERS", default_value = "off", value_parser = parse_forwarded, value_name = "off|xff|forwarded")]
    forwarded_headers: ForwardedHeaders,
    /// Proxies (CIDRs or addresses, comma-separated) whose X-Forwarded-For / Forwarded is
    /// extended; from any other peer such headers are replaced, never passed on.
    #[arg(long, env = "PASSTHRU_TRUSTED_PROXIES", default_value = "", value_parser = TrustedProxies::parse, value_name = "CIDR,...")]
    trusted_proxies: TrustedProxies,
    #[command(flatten)]
    pingora: Opt,
}

fn main() -> ExitCode {
    passthru_proxy::allocator::tune();
    let cli = Cli::parse();
    // Unlocked handles: `run` logs to stderr from other threads.
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let result = match cli.command {
        None => serve(cli.run),
        Some(Command::Run(args)) => serve(*args),
        Some(Command::Check { file, against }) => {
            commands::check::check(&file, against.as_deref(), &mut out, &mut err)
        }
        Some(Command::Fmt { check, file }) => commands::fmt::fmt(&file, check, &mut out, &mut err),
        Some(Command::Explain {
            file,
            request,
            headers,
        }) => commands::explain::explain(&file, &request, &headers, &mut out, &mut err),
        Some(Command::Test { file, cases }) => {
            commands::route_tests::route_tests(&file, &cases, &mut out, &mut err)
        }
        Some(Command::Schema) => {
            print!("{}", passthru_routes::json_schema());
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn parse_forwarded(s: &str) -> Result<ForwardedHeaders, String> {
    ForwardedHeaders::parse(s).ok_or_else(|| format!("{s:?}: give off, xff or forwarded"))
}

fn serve(args: RunArgs) -> anyhow::Result<ExitCode> {
    // PASSTHRU_LOG, as for passthru-sync; RUST_LOG still works.
    let filter = tracing_subscriber::EnvFilter::try_from_env("PASSTHRU_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| "info".into());
    access_log::install(filter, &args.access_log)?;
    for (flag, value) in [
        ("--recheck", args.recheck),
        ("--full-recheck", args.full_recheck),
    ] {
        if !(value.is_finite() && value > 0.0) {
            anyhow::bail!("{flag} must be a positive number of seconds");
        }
    }
    let root_path = args
        .root_path
        .filter(|r| r != "/" && !r.is_empty())
        .map(|root| {
            let normal = passthru_routes::normalize_request_path(&root).ok();
            if normal.as_deref() != Some(root.as_str()) || root.ends_with('/') {
                anyhow::bail!(
                    "--root-path {root:?} must be a path in normal form without a trailing '/', like /llmproxy"
                );
            }
            Ok(root)
        })
        .transpose()?;
    run::run(RunConfig {
        routes: args.routes,
        listen: args.listen,
        admin: args.admin,
        grace_period: Duration::from_secs(args.grace_period),
        recheck: Duration::from_secs_f64(args.recheck),
        full_recheck: Duration::from_secs_f64(args.full_recheck),
        debounce: Duration::from_millis(args.debounce_ms),
        threads: args.threads,
        root_path,
        tls_listen: args.tls_listen,
        tls_cert: args.tls_cert.zip(args.tls_key),
        h2c: args.h2c,
        options: ProxyOptions {
            forwarded_headers: args.forwarded_headers,
            trusted_proxies: args.trusted_proxies,
            access_log: args.access_log != Destination::Off,
            access_log_query_names: args.access_log_query_names,
        },
        pingora: args.pingora,
    })?;
    Ok(ExitCode::SUCCESS)
}
