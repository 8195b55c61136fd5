//! Scenario 4: passthru-proxy vs nginx vs a direct connection, same upstream, same generator;
//! then latency at half of passthru's saturated rate. Scenario 6: lookup scaling in the running
//! proxy (10 routes vs 100k routes).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::daemons::{start_proxy, BarePingora};
use crate::nginx::Nginx;
use crate::open_loop::open_loop;
use crate::procfs::{cpu_ticks, pin, unpin, TICKS_PER_SECOND};
use crate::report::{median, quantile, ratio, secs, thousands, verdict, Table};
use crate::route_tables::{nginx_routes, upstream_routes};
use crate::wrk::{wrk, Wrk};

pub struct Load {
    pub duration: Duration,
    pub rounds: usize,
    pub connections: usize,
    pub threads: usize,
}

/// One target of a saturation run: name, URL, wrk script, and the processes whose CPU time
/// counts against it (none for the direct connection).
type Target<'a> = (&'a str, String, Option<&'a Path>, Vec<u32>);

/// The core the proxy under test runs on; this process, and so wrk and the upstream it starts,
/// run on core 0.
pub const PROXY_CPU: usize = 1;

/// Interleaves `rounds` wrk runs over the targets; the median round per target, with the CPU
/// time its processes spent per request in that round.
pub fn saturate(load: &Load, targets: &[Target]) -> Vec<Wrk> {
    let mut runs: Vec<Vec<Wrk>> = vec![Vec::new(); targets.len()];
    let ticks = |pids: &[u32]| -> u64 { pids.iter().filter_map(|&p| cpu_ticks(p)).sum() };
    for round in 0..load.rounds {
        for (k, (name, url, script, pids)) in targets.iter().enumerate() {
            eprintln!("  round {}: {name}", round + 1);
            for &pid in pids {
                pin(pid, PROXY_CPU);
            }
            let before = ticks(pids);
            let mut w = wrk(url, load.threads, load.connections, load.duration, *script);
            let seconds = (ticks(pids) - before) as f64 / TICKS_PER_SECOND;
            let requests = w.rps * load.duration.as_secs_f64();
            w.cpu_per_request = (!pids.is_empty() && requests > 0.0).then(|| seconds / requests);
            runs[k].push(w);
        }
    }
    runs.into_iter()
        .map(|r| {
            let rps: Vec<f64> = r.iter().map(|w| w.rps).collect();
            let m = median(&rps);
            // The round whose throughput is the median, with its own latencies.
            *r.iter().find(|w| w.rps == m).unwrap()
        })
        .collect()
}

/// A throwaway self-signed certificate and key for the TLS row: (cert.pem, key.pem) in `dir`.
fn self_signed_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-subj", "/CN=localhost"])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl makes the TLS row's certificate");
    assert!(status.success(), "openssl req failed");
    (cert, key)
}

pub fn run(load: &Load, routes: usize) -> Vec<Table> {
    pin(std::process::id(), 0);
    let dir = tempfile::tempdir().unwrap();
    let upstream = Nginx::upstream();
    let up = format!("http://127.0.0.1:{}", upstream.port);
    let file = dir.path().join("routes.yaml");
    std::fs::write(&file, upstream_routes(routes, &up)).unwrap();
    let threads = "2";
    // The default access log (one JSON line per request on stderr, a file here), and none.
    let proxy = start_proxy(&file, &["--threads", threads]);
    let unlogged = start_proxy(&file, &["--threads", threads, "--access-log", "off"]);
    // The same proxy behind its TLS listener (HTTP/1.1 from wrk), to price TLS per request.
    let cert = self_signed_certificate(dir.path());
    let tls_addr = passthru_tests::free_port();
    let tls = start_proxy(
        &file,
        &[
            "--threads",
            threads,
            "--tls-listen",
            &tls_addr.to_string(),
            "--tls-cert",
            cert.0.to_str().unwrap(),
            "--tls-key",
            cert.1.to_str().unwrap(),
        ],
    );
    let bare = BarePingora::start(upstream.addr(), threads);
    let nginx = Nginx::start(2, &nginx_routes(routes, upstream.port));
    let tested = format!("/svc-{}/v1/chat/completions", routes / 2);
    let direct_path = "/v1/chat/completions".to_owned();
    for (addr, path) in [
        (upstream.addr(), &direct_path),
        (proxy.addr, &tested),
        (unlogged.addr, &tested),
        (bare.addr, &tested),
        (nginx.addr(), &tested),
    ] {
        let mut c = crate::client::Client::new(addr);
        assert_eq!(
            c.get(path).unwrap(),
            200,
            "{addr}{path} does not answer 200"
        );
    }
    eprintln!(
        "throughput: wrk -t{} -c{} -d{}s × {} rounds",
        load.threads,
        load.connections,
        load.duration.as_secs(),
        load.rounds
    );
    let targets = [
        (
            "direct",
            format!("http://{}{direct_path}", upstream.addr()),
            None,
            vec![],
        ),
        (
            "passthru-proxy",
            format!("http://{}{tested}", proxy.addr),
            None,
            vec![proxy.pid()],
        ),
        (
            "nginx",
            format!("http://{}{tested}", nginx.addr()),
            None,
            nginx.pids(),
        ),
        (
            "pingora alone",
            format!("http://{}{tested}", bare.addr),
            None,
            vec![bare.pid()],
        ),
        (
            "passthru-proxy, access log off",
            format!("http://{}{tested}", unlogged.addr),
            None,
            vec![unlogged.pid()],
        ),
        (
            "passthru-proxy over TLS",
            format!("https://{tls_addr}{tested}"),
            None,
            vec![tls.pid()],
        ),
    ];
    let sat = saturate(load, &targets);
    // After the others, so its idle housekeeping never runs beside them.
    let litellm = crate::throughput_litellm::measure(load, routes, &up, &tested);
    let (direct, pt, ng, floor, unlogged_run, tls_run) =
        (sat[0], sat[1], sat[2], sat[3], sat[4], sat[5]);
    let mut t = Table::new(
        &format!(
            "4. Proxy throughput at saturation ({} routes, wrk -t{} -c{}, median of {} × {} s rounds)",
            thousands(routes as u64),
            load.threads,
            load.connections,
            load.rounds,
            load.duration.as_secs()
        ),
        &[
            "path",
            "req/s",
            "p50",
            "p99",
            "req/s vs direct",
            "req/s vs nginx",
            "req/s vs pingora alone",
            "proxy CPU per request",
            "target",
        ],
    );
    for (name, w) in [
        ("direct to upstream", direct),
        ("nginx", ng),
        ("pingora alone", floor),
        ("passthru-proxy", pt),
        ("passthru-proxy, access log off", unlogged_run),
        ("passthru-proxy over TLS", tls_run),
    ] {
        let (vs_nginx, vs_floor, target) = match name {
            "passthru-proxy" => (
                format!("**{}**", ratio(pt.rps / ng.rps)),
                ratio(pt.rps / floor.rps),
                format!("≥ 1.0 × nginx — {}", verdict(pt.rps >= ng.rps)),
            ),
            "pingora alone" => (ratio(floor.rps / ng.rps), String::new(), String::new()),
            "passthru-proxy over TLS" => (
                ratio(tls_run.rps / ng.rps),
                ratio(tls_run.rps / floor.rps),
                match (tls_run.cpu_per_request, pt.cpu_per_request) {
                    (Some(tls), Some(plain)) if plain > 0.0 => {
                        format!("TLS costs {} CPU per request", ratio(tls / plain))
                    }
                    _ => String::new(),
                },
            ),
            "passthru-proxy, access log off" => (
                ratio(unlogged_run.rps / ng.rps),
                ratio(unlogged_run.rps / floor.rps),
                match (pt.cpu_per_request, unlogged_run.cpu_per_request) {
                    (Some(on), Some(off)) if off > 0.0 => {
                        format!("access log costs {} CPU per request", ratio(on / off))
                    }
                    _ => String::new(),
                },
            ),
            _ => Default::default(),
        };
        t.row(&[
            name.to_owned(),
            thousands(w.rps as u64),
            secs(w.p50),
            secs(w.p99),
            ratio(w.rps / direct.rps),
            vs_nginx,
            vs_floor,
            w.cpu_per_request.map(secs).unwrap_or_default(),
            target,
        ]);
    }
    t.row(&crate::throughput_litellm::row(
        &litellm,
        [direct, ng, floor, pt],
    ));
    let non_2xx: u64 = sat
        .iter()
        .chain(litellm.as_ref().ok().map(|(_, w)| w))
        .map(|w| w.non_2xx)
        .sum();
    t.note(format!(
        "One upstream (nginx, 1 worker, `return 200`), passthru-proxy `--threads {threads}`, nginx \
         `worker_processes 2` with the same {} routes as `location` blocks and upstream keep-alive; \
         the tested path is `{tested}` (route {} of {}). \"pingora alone\" is \
         `crates/proxy/examples/bare_pingora.rs` with `{threads}` threads: pingora 0.9 sending \
         every request to the upstream with no routing, header policy, auth or metrics, and the \
         same allocator as passthru-proxy; it is the floor under passthru-proxy's cost. Proxy CPU \
         per request is the user + system time of the proxy's processes (nginx: master and \
         workers) during the round, divided by the requests it answered. \"passthru-proxy\" \
         writes its default access log (one JSON line per request to stderr, a file here); \
         \"access log off\" is the same binary and table with `--access-log off`, so the CPU per \
         request of the two rows prices the access log; \"over TLS\" is the same again behind \
         its `--tls-listen` listener (HTTP/1.1 over TLS from wrk, keep-alive), which prices TLS. \
         The proxy under test (every thread of it) is pinned to CPU {PROXY_CPU}; wrk, the upstream \
         and this harness to CPU 0. {} Non-2xx responses in all runs: {non_2xx}.",
        thousands(routes as u64),
        routes / 2,
        thousands(routes as u64),
        crate::throughput_litellm::note(routes, PROXY_CPU),
    ));

    // Latency at half of passthru's saturated rate, open loop.
    let rate = (pt.rps / 2.0).max(100.0);
    let conns = 16;
    eprintln!("latency: open loop at {rate:.0} req/s over {conns} connections");
    let lat_duration = load.duration.max(Duration::from_secs(5));
    let lat_targets = [
        ("direct to upstream", upstream.addr(), &direct_path),
        ("nginx", nginx.addr(), &tested),
        ("pingora alone", bare.addr, &tested),
        ("passthru-proxy", proxy.addr, &tested),
    ];
    // Per target and round: (p50, p99, achieved req/s, errors). Rounds alternate the targets,
    // and added latency is taken against the direct run of the same round.
    let mut rounds: Vec<Vec<(f64, f64, f64, usize)>> = vec![Vec::new(); lat_targets.len()];
    for round in 0..load.rounds {
        for (k, (name, addr, path)) in lat_targets.iter().enumerate() {
            eprintln!("  latency round {}: {name}", round + 1);
            let r = open_loop(
                *addr,
                std::slice::from_ref(*path),
                rate,
                conns,
                lat_duration,
            );
            rounds[k].push((
                quantile(&r.latencies, 0.5),
                quantile(&r.latencies, 0.99),
                r.achieved_rps,
                r.errors,
            ));
        }
    }
    let mut l = Table::new(
        &format!(
            "4b. Latency at half of passthru's saturated rate ({} req/s, open loop, {conns} keep-alive connections, median of {} × {} s rounds)",
            thousands(rate as u64),
            load.rounds,
            lat_duration.as_secs()
        ),
        &[
            "path",
            "achieved req/s",
            "errors",
            "p50",
            "p99",
            "added p50",
            "added p99 (per round)",
            "target",
        ],
    );
    let direct = &rounds[0];
    for (k, (name, _, _)) in lat_targets.iter().enumerate() {
        let r = &rounds[k];
        let col =
            |f: fn(&(f64, f64, f64, usize)) -> f64| median(&r.iter().map(f).collect::<Vec<_>>());
        let added = |f: fn(&(f64, f64, f64, usize)) -> f64| -> Vec<f64> {
            r.iter().zip(direct).map(|(a, d)| f(a) - f(d)).collect()
        };
        let added50 = added(|x| x.0);
        let added99 = added(|x| x.1);
        let target = if *name == "passthru-proxy" {
            format!(
                "added p99 ≤ 0.5 ms — {}",
                verdict(median(&added99) <= 0.5e-3)
            )
        } else {
            String::new()
        };
        let (a50, a99) = if k == 0 {
            (String::new(), String::new())
        } else {
            (
                secs(median(&added50)),
                format!(
                    "**{}** ({})",
                    secs(median(&added99)),
                    added99
                        .iter()
                        .map(|&v| secs(v))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        };
        l.row(&[
            name.to_string(),
            thousands(col(|x| x.2) as u64),
            r.iter().map(|x| x.3).sum::<usize>().to_string(),
            secs(col(|x| x.0)),
            secs(col(|x| x.1)),
            a50,
            a99,
            target,
        ]);
    }
    l.note(
        "Each connection sends on a fixed schedule; a request's latency counts from when it was due \
         (no coordinated omission). Rounds alternate direct, nginx, pingora alone and \
         passthru-proxy; added latency is a proxy's percentile minus the direct connection's in \
         the same round, and the table shows the median round (each round's figure in brackets).",
    );
    let low = crate::low_rate::run(
        load,
        PROXY_CPU,
        &[
            ("nginx", nginx.addr(), &tested, nginx.pids()),
            ("pingora alone", bare.addr, &tested, vec![bare.pid()]),
            ("passthru-proxy", proxy.addr, &tested, vec![proxy.pid()]),
            (
                "passthru-proxy, access log off",
                unlogged.addr,
                &tested,
                vec![unlogged.pid()],
            ),
        ],
    );
    unpin(std::process::id());
    vec![t, l, low]
}
