//! Assembles and runs the pingora server: proxy listeners, the reloader, the admin listener.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pingora::prelude::{background_service, Opt};
use pingora::server::configuration::ServerConf;
use pingora::server::{ExecutionPhase, RunArgs, Server};
use pingora::services::listening::Service;

use crate::admin::Admin;
use crate::http_proxy::{PassthruProxy, ProxyOptions};
use crate::reload::Reloader;
use crate::state::ProxyState;
use crate::tls::CertStore;
use passthru_systemd::Notifier;
use pingora::apps::HttpServerOptions;
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::{L4BufferSettings, ListenerConfig};

/// How the proxy runs; `main` fills it from flags and environment.
pub struct RunConfig {
    pub routes: PathBuf,
    pub listen: Vec<SocketAddr>,
    pub admin: SocketAddr,
    /// Longest SIGTERM waits for in-flight requests; it exits as soon as they are done.
    pub grace_period: Duration,
    pub recheck: Duration,
    pub full_recheck: Duration,
    pub debounce: Duration,
    pub threads: Option<usize>,
    /// Serve every route under this prefix (`/llmproxy`), in normal form without a trailing `/`.
    pub root_path: Option<String>,
    /// TLS listeners (ALPN h2 and http/1.1) and the certificate they present.
    pub tls_listen: Vec<SocketAddr>,
    pub tls_cert: Option<(PathBuf, PathBuf)>,
    /// HTTP/2 with prior knowledge (h2c) on the plain listeners.
    pub h2c: bool,
    pub options: ProxyOptions,
    pub pingora: Opt,
}

pub fn run(config: RunConfig) -> anyhow::Result<()> {
    // Fail with a clear message now rather than with a panic inside pingora's listener setup.
    if !config.pingora.upgrade {
        for addr in config
            .listen
            .iter()
            .chain(&config.tls_listen)
            .chain([&config.admin])
        {
            TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
        }
    }
    let certs = match (&config.tls_cert, config.tls_listen.is_empty()) {
        (Some((cert, key)), false) => Some(
            CertStore::open(cert, key).map_err(|why| anyhow::anyhow!("TLS certificate: {why}"))?,
        ),
        (None, false) => anyhow::bail!("--tls-listen needs --tls-cert and --tls-key"),
        (_, true) => None,
    };
    // SIGHUP's default action is to terminate; take it over before anything else starts.
    let hup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone())
        .context("cannot install the SIGHUP handler")?;

    let mut opt = config.pingora;
    let mut conf = match opt.conf.take() {
        Some(path) => ServerConf::from_yaml(
            &std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read pingora configuration {path}"))?,
        )
        .map_err(|e| anyhow::anyhow!("pingora configuration {path}: {e}"))?,
        // pingora's own default is one worker thread; a gateway host wants its cores.
        None => ServerConf {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            // pingora's fast timeouts share a clock thread that wakes every 10 ms for as long
            // as the process lives, once the first request has armed one: 100 wake-ups a
            // second on an idle proxy, most of its CPU at low request rates. Timeouts of a
            // second or more go to tokio's timer instead, which sleeps until a deadline is
            // due; the clock thread then starts only for sub-second timeouts. Saturated CPU
            // per request moved +2 % side by side, inside the noise (table 4 of
            // docs/benchmarks.md measures it; 4c the low-rate cost this is for).
            fast_timeout_to_tokio_threshold_seconds: Some(0),
            ..ServerConf::default()
        },
    };
    if opt.daemon || conf.daemon {
        anyhow::bail!(
            "daemon mode (--daemon, or `daemon: true` in the -c file) is not supported: the access \
             log's writer, the SIGTERM drain and the systemd readiness notice run on threads that \
             pingora's fork would leave behind. Run passthru-proxy in the foreground: under \
             systemd (the packaged unit) or a process supervisor"
        );
    }
    conf.grace_period_seconds = Some(config.grace_period.as_secs());
    conf.graceful_shutdown_timeout_seconds =
        Some(conf.graceful_shutdown_timeout_seconds.unwrap_or(2));
    if let Some(threads) = config.threads {
        conf.threads = threads;
    }
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();

    let shared = Arc::new(ProxyState::new());
    let reloader = background_service(
        "reloader",
        Reloader {
            path: config.routes.clone(),
            shared: shared.clone(),
            recheck: config.recheck,
            full_recheck: config.full_recheck,
            debounce: config.debounce,
            hup,
            systemd: Notifier::from_env(),
            certs: certs.clone(),
        },
    );
    let reloader = server.add_service(reloader);

    let mut proxy = pingora::proxy::http_proxy_service_with_name(
        &server.configuration,
        PassthruProxy {
            shared: shared.clone(),
            root_path: config.root_path.clone(),
            options: config.options,
        },
        "passthru",
    );
    for addr in &config.listen {
        proxy.add_listener(ListenerConfig::tcp(addr.to_string()).l4_buffer(plain_l4_buffer()));
    }
    if let Some(certs) = &certs {
        for addr in &config.tls_listen {
            // Paths are ignored once a resolver is set: the store answers every handshake.
            let mut tls = TlsSettings::intermediate("", "")
                .map_err(|e| anyhow::anyhow!("TLS settings: {e}"))?;
            tls.set_cert_resolver(certs.clone());
            tls.enable_h2();
            proxy.add_tls_with_settings(&addr.to_string(), None, tls);
        }
    }
    if config.h2c {
        let mut options = HttpServerOptions::default();
        options.h2c = true;
        if let Some(app) = proxy.app_logic_mut() {
            app.server_options = Some(options);
        }
    }
    let proxy = server.add_service(proxy);
    proxy.add_dependency(&reloader);

    let mut admin = Service::new(
        "admin".to_owned(),
        Admin {
            shared: shared.clone(),
        },
    );
    admin.add_tcp(&config.admin.to_string());
    server.add_service(admin);

    spawn_drain_watch(&server, shared.clone());
    spawn_ready_notice(config.listen.clone(), shared.clone());
    tracing::info!(
        routes = %config.routes.display(),
        listen = ?config.listen,
        tls_listen = ?config.tls_listen,
        admin = %config.admin,
        "passthru-proxy starting"
    );
    server.run(RunArgs::default());
    // pingora returns once its runtimes are down: after a fast shutdown (SIGINT) or a grace
    // period that ran out with requests still in flight. Lines of the last batch go out first.
    crate::access_log::flush();
    std::process::exit(0)
}

/// The plain listeners' socket buffers: no read buffer, pingora's 1,460-byte write buffer.
///
/// pingora puts a 64 KiB read buffer (`DEFAULT_L4_READ_BUFFER_SIZE`, zero-filled on
/// allocation) in front of every accepted connection, for the whole life of the connection. On
/// plain HTTP/1 it saves nothing: pingora reads request heads into its own 4 KiB buffer and bodies
/// into its own 64 KiB one, a syscall per read either way. It costs memory per open connection
/// (an SSE stream holds one for minutes): little on a fresh proxy, whose allocator hands out
/// pages the kernel has zeroed, but once freed memory is reused the zero-fill touches all 64 KiB.
/// Measured with SSE streams (docs/stream-memory.md, now `passthru-bench streams`): 62, 117 and
/// 143 KiB of RSS per stream in three successive waves of 2,000 streams
/// with the buffer, 58, 58 and 58 KiB without. TLS listeners keep pingora's default: the TLS
/// layer reads in records, where the buffer does save syscalls.
pub fn plain_l4_buffer() -> L4BufferSettings {
    L4BufferSettings::default().read(0)
}

/// pingora sleeps the whole grace period after SIGTERM; exit as soon as no request is in flight.
fn spawn_drain_watch(server: &Server, shared: Arc<ProxyState>) {
    let mut phases = server.watch_execution_phase();
    std::thread::spawn(move || loop {
        match phases.blocking_recv() {
            Ok(ExecutionPhase::ShutdownGracePeriod) => {
                Notifier::from_env().stopping();
                loop {
                    let in_flight = shared.in_flight();
                    if in_flight == 0 {
                        tracing::info!("drained: no request in flight; exiting");
                        crate::access_log::flush();
                        std::process::exit(0);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(_) => return,
        }
    });
}

/// Tells systemd READY=1 once every proxy listener accepts connections.
fn spawn_ready_notice(listen: Vec<SocketAddr>, shared: Arc<ProxyState>) {
    std::thread::spawn(move || {
        for addr in &listen {
            let mut tries = 0;
            while std::net::TcpStream::connect_timeout(addr, Duration::from_millis(200)).is_err() {
                tries += 1;
                if tries > 500 {
                    tracing::error!(%addr, "listener did not come up within 10 s");
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Notifier::from_env().ready(&shared.status_line());
    });
}
