//! Scenario 4h: pingora's own knobs (worker threads, work stealing, the upstream keep-alive
//! pool) against passthru-proxy's defaults, so the defaults a user gets are chosen from data.
//! Every variant is the same binary and table, configured by a pingora `-c` file, saturated in
//! interleaved rounds with the proxy pinned to its own core, as in table 4.

use std::path::Path;

use crate::daemons::start_proxy;
use crate::nginx::Nginx;
use crate::report::{ratio, secs, thousands, Table};
use crate::route_tables::write_upstream_routes;
use crate::throughput::{saturate, Load, PROXY_CPU};

/// One variant: its name and the pingora settings it runs with.
struct Variant {
    name: &'static str,
    threads: usize,
    work_stealing: bool,
    pool: usize,
}

/// pingora's own defaults for the two knobs passthru-proxy leaves alone.
const POOL_DEFAULT: usize = 128;

const VARIANTS: [Variant; 6] = [
    Variant {
        name: "threads 1",
        threads: 1,
        work_stealing: true,
        pool: POOL_DEFAULT,
    },
    Variant {
        name: "threads 2 (the default here: one per CPU)",
        threads: 2,
        work_stealing: true,
        pool: POOL_DEFAULT,
    },
    Variant {
        name: "threads 4",
        threads: 4,
        work_stealing: true,
        pool: POOL_DEFAULT,
    },
    Variant {
        name: "threads 2, work stealing off",
        threads: 2,
        work_stealing: false,
        pool: POOL_DEFAULT,
    },
    Variant {
        name: "threads 2, keep-alive pool 8",
        threads: 2,
        work_stealing: true,
        pool: 8,
    },
    Variant {
        name: "threads 2, keep-alive pool 1024",
        threads: 2,
        work_stealing: true,
        pool: 1024,
    },
];

/// The pingora configuration of `v`, with the one setting passthru-proxy makes when it has no
/// `-c` file (timeouts on tokio's timer), so only the knob under test differs.
fn pingora_conf(index: usize, v: &Variant, dir: &Path) -> std::path::PathBuf {
    let file = dir.join(format!("pingora-{index}.yaml"));
    std::fs::write(
        &file,
        format!(
            "---\nversion: 1\nthreads: {}\nwork_stealing: {}\nupstream_keepalive_pool_size: {}\n\
             fast_timeout_to_tokio_threshold_seconds: 0\n",
            v.threads, v.work_stealing, v.pool
        ),
    )
    .unwrap();
    file
}

pub fn run(load: &Load, routes: usize) -> Vec<Table> {
    crate::procfs::pin(std::process::id(), 0);
    let dir = tempfile::tempdir().unwrap();
    let upstream = Nginx::upstream();
    let file = write_upstream_routes(dir.path(), routes, upstream.addr());
    let tested = format!("/svc-{}/v1/chat/completions", routes / 2);
    let proxies: Vec<_> = VARIANTS
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let conf = pingora_conf(i, v, dir.path());
            start_proxy(&file, &["-c", conf.to_str().unwrap()])
        })
        .collect();
    let nginx = Nginx::start(2, &crate::route_tables::nginx_routes(routes, upstream.port));
    eprintln!(
        "knobs: {} variants, wrk -t{} -c{} -d{}s × {} rounds",
        VARIANTS.len(),
        load.threads,
        load.connections,
        load.duration.as_secs(),
        load.rounds
    );
    let mut targets: Vec<_> = VARIANTS
        .iter()
        .zip(&proxies)
        .map(|(v, p)| {
            (
                v.name,
                format!("http://{}{tested}", p.addr),
                None,
                vec![p.pid()],
            )
        })
        .collect();
    targets.push((
        "nginx",
        format!("http://{}{tested}", nginx.addr()),
        None,
        nginx.pids(),
    ));
    let runs = saturate(load, &targets);
    let nginx_run = runs[VARIANTS.len()];
    let default = runs[1];
    let mut t = Table::new(
        &format!(
            "4h. pingora's knobs (passthru-proxy, {} routes, wrk -t{} -c{}, median of {} × {} s rounds, proxy pinned to one CPU)",
            thousands(routes as u64),
            load.threads,
            load.connections,
            load.rounds,
            load.duration.as_secs()
        ),
        &[
            "pingora settings",
            "req/s",
            "p99",
            "proxy CPU per request",
            "CPU per request vs the default",
            "req/s vs nginx",
        ],
    );
    for (name, w) in VARIANTS.iter().map(|v| v.name).chain(["nginx"]).zip(&runs) {
        let vs_default = match (w.cpu_per_request, default.cpu_per_request) {
            (Some(c), Some(d)) if d > 0.0 && name != "nginx" => ratio(c / d),
            _ => String::new(),
        };
        t.row(&[
            name.to_owned(),
            thousands(w.rps as u64),
            secs(w.p99),
            w.cpu_per_request.map(secs).unwrap_or_default(),
            vs_default,
            ratio(w.rps / nginx_run.rps),
        ]);
    }
    t.note(format!(
        "Each row is passthru-proxy with a pingora `-c` file that sets `threads`, `work_stealing` \
         and `upstream_keepalive_pool_size` as named (pingora's defaults: work stealing on, a pool \
         of {POOL_DEFAULT} connections), plus the `fast_timeout_to_tokio_threshold_seconds: 0` \
         that passthru-proxy sets when it has no `-c` file; access log on (stderr, a file here). \
         The proxy under test is pinned to CPU {PROXY_CPU}, wrk and the upstream (nginx, one \
         worker) to CPU 0, as in table 4, so the threads of every variant share one core: the \
         rows price what each knob costs per request, not what more cores would add. wrk holds \
         {} connections to the proxy, so a pool smaller than that closes and reopens upstream \
         connections.",
        load.connections
    ));
    vec![t]
}
