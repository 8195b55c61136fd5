//! Section 4's LiteLLM row: LiteLLM's real proxy on the same table, in front of the same
//! upstream, pinned to the same core as the proxy under test, under a load of its own. It is
//! two orders of magnitude slower than the other rows, so more connections would only queue
//! behind its one worker; the rounds and their length are the scenario's.

use crate::litellm_proxy::{LitellmProxy, PassThrough};
use crate::report::{ratio, secs, thousands};
use crate::throughput::{saturate, Load};
use crate::wrk::Wrk;

/// wrk connections for LiteLLM: enough to keep its one event loop busy.
pub const CONNECTIONS: usize = 4;

/// The load LiteLLM runs under: the scenario's rounds and duration, [`CONNECTIONS`]
/// connections, one wrk thread.
pub fn load(scenario: &Load) -> Load {
    Load {
        duration: scenario.duration,
        rounds: scenario.rounds,
        connections: CONNECTIONS,
        threads: 1,
    }
}

/// The path under each route that the scenario requests.
pub const UPSTREAM_PATH: &str = "/v1/chat/completions";

/// Starts LiteLLM with `routes` endpoints `/svc-i/v1/chat/completions` → the same path on
/// `upstream`, saturates it on `tested` (one of them), stops it. Its version and median round,
/// with its CPU per request (all its processes); Err when it could not be installed or started.
pub fn measure(
    scenario: &Load,
    routes: usize,
    upstream: &str,
    tested: &str,
) -> Result<(String, Wrk), String> {
    // Exact routes: LiteLLM serves below an open (`auth: false`) path only to keys with grants.
    let endpoints: Vec<PassThrough> = (0..routes)
        .map(|i| PassThrough {
            path: format!("/svc-{i}{UPSTREAM_PATH}"),
            target: format!("{upstream}{UPSTREAM_PATH}"),
            include_subpath: false,
        })
        .collect();
    let litellm = LitellmProxy::start(&endpoints, tested)?;
    let load = load(scenario);
    eprintln!(
        "throughput: LiteLLM {}, wrk -t{} -c{} -d{}s × {} rounds",
        litellm.version,
        load.threads,
        load.connections,
        load.duration.as_secs(),
        load.rounds
    );
    let url = format!("http://{}{tested}", litellm.addr);
    let run = saturate(&load, &[("LiteLLM", url, None, litellm.pids())]);
    // LiteLLM stops here, as `litellm` is dropped.
    Ok((litellm.version.clone(), run[0]))
}

/// Section 4's LiteLLM row, with its ratios to the `direct`, nginx, pingora-alone and
/// passthru-proxy runs (in that order).
pub fn row(litellm: &Result<(String, Wrk), String>, others: [Wrk; 4]) -> Vec<String> {
    let [direct, nginx, floor, passthru] = others;
    let (version, w) = match litellm {
        Ok(run) => run,
        Err(e) => return vec!["LiteLLM".into(), format!("failed: {e}")],
    };
    vec![
        format!("LiteLLM {version} (`-c{CONNECTIONS}`)"),
        thousands(w.rps as u64),
        secs(w.p50),
        secs(w.p99),
        ratio(w.rps / direct.rps),
        ratio(w.rps / nginx.rps),
        ratio(w.rps / floor.rps),
        w.cpu_per_request.map(secs).unwrap_or_default(),
        match (w.cpu_per_request, passthru.cpu_per_request) {
            (Some(l), Some(p)) if p > 0.0 => {
                format!("{} CPU per request of passthru-proxy", ratio(l / p))
            }
            _ => String::new(),
        },
    ]
}

/// What section 4's note says about the LiteLLM row.
pub fn note(routes: usize, cpu: usize) -> String {
    format!(
        "LiteLLM is its proxy server (`litellm --config`, one uvicorn worker, no database) from \
         `tests/litellm/requirements.txt`, with {} open (`auth: false`) \
         `general_settings.pass_through_endpoints` `/svc-i{UPSTREAM_PATH}` (exact paths: LiteLLM \
         opens only the exact path of an open endpoint), pinned to CPU {cpu} like the others and \
         measured after them under a load of its own: wrk `-c{CONNECTIONS}`, the same rounds and \
         length (it is two orders of magnitude slower; more connections only queue behind its one \
         worker); its CPU is that of all its processes.",
        thousands(routes as u64)
    )
}
