//! Scenarios 4e–4f: SSE streams through each proxy (issue 15, items 1 and 2, and CPU per
//! streamed event). One SSE upstream and every client stream live in this process, on CPU 0;
//! the proxy under test is pinned to CPU 1. Per proxy: its idle RSS after one warm-up stream,
//! then a wave of N concurrent streams per stream count (on the memory the last wave freed, as
//! a long-running proxy sees it), each wave measured over a window once every stream is
//! mid-stream: RSS per stream, CPU per event delivered, reads that held more than one event,
//! streams that failed. Then time to first event at 1,000 streams, rounds alternating the
//! proxies and a direct connection to the upstream.
//!
//! Why the numbers are what they are, and what pingora would need to change, is in
//! docs/stream-memory.md.

mod harness;
mod sse;
mod tables;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::daemons::{start_proxy, BarePingora};
use crate::nginx::Nginx;
use crate::procfs::{cpu_ticks, pin, rss_kib, tcp_retransmitted_segments, unpin, TICKS_PER_SECOND};
use crate::report::{dur, quantile, Table};
use crate::route_tables::{nginx_routes, upstream_routes};
pub use harness::Harness;
use harness::SPARE_FILES;
use sse::{stream_path, Wave};

/// What to run; `Streams::full` is what `.ci/bench` measures.
pub struct Streams {
    /// Concurrent streams per wave, in the order they run on each proxy.
    pub counts: Vec<usize>,
    /// Events per second over all the streams of a wave: each stream gets one every
    /// streams ÷ rate, so every wave and every proxy carries the same event rate.
    pub events_per_second: f64,
    /// A stream counts as mid-stream once it has this many events.
    pub min_events: u64,
    /// How long RSS, CPU and events are measured once a wave is mid-stream.
    pub window: Duration,
    /// Streams per time-to-first-event round, opened at a steady rate over `ramp`.
    pub first_event_streams: usize,
    pub ramp: Duration,
    pub rounds: usize,
    /// How long a wave may take to get every stream mid-stream (a proxy that cannot hold
    /// them all is measured with what it holds).
    pub patience: Duration,
}

impl Streams {
    pub fn full() -> Streams {
        Streams {
            counts: vec![2_000, 10_000],
            events_per_second: 10_000.0,
            min_events: 3,
            window: Duration::from_secs(5),
            first_event_streams: 1_000,
            ramp: Duration::from_secs(1),
            rounds: 3,
            patience: Duration::from_secs(60),
        }
    }

    pub fn quick() -> Streams {
        Streams {
            counts: vec![200, 1_000],
            window: Duration::from_secs(1),
            first_event_streams: 200,
            rounds: 1,
            patience: Duration::from_secs(20),
            ..Streams::full()
        }
    }
}

/// A proxy under test, already running and forwarding `prefix/…` to the harness's upstream
/// with the rest of the path kept: its name in the tables, its listener, and the processes
/// whose memory and CPU count (none for the direct connection).
pub struct StreamTarget {
    pub name: String,
    pub addr: SocketAddr,
    pub prefix: String,
    pub pids: Vec<u32>,
}

/// The core the proxy under test runs on; the harness (streams and upstream) runs on core 0.
const PROXY_CPU: usize = 1;

/// Starts nginx (`proxy_buffering off`), pingora alone and passthru-proxy against one SSE
/// upstream, and measures them.
pub fn run(s: &Streams) -> Vec<Table> {
    let most = s
        .counts
        .iter()
        .copied()
        .chain([s.first_event_streams])
        .max()
        .unwrap_or(0);
    let harness = Harness::start(most);
    let up = harness.upstream.addr;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.yaml");
    std::fs::write(&file, upstream_routes(1, &format!("http://{up}"))).unwrap();
    // The operator's defaults, threads included; pingora alone gets the same thread count
    // (the CPUs this process may use, before it pins itself).
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let passthru = start_proxy(&file, &[]);
    let bare = BarePingora::start(up, &threads.to_string());
    // nginx starts closing connections that wait for their request once fewer than 1/16 of
    // its worker_connections are free: room for twice the two per stream keeps it out of that.
    let nginx = Nginx::start_with_connections(
        1,
        4 * harness.max_streams + SPARE_FILES,
        &nginx_routes(1, up.port()),
    );
    pin(std::process::id(), 0);
    let target = |name: &str, addr, pids| StreamTarget {
        name: name.to_owned(),
        addr,
        prefix: "/svc-0".to_owned(),
        pids,
    };
    // LiteLLM cannot hold these waves; it has its own table at a load it takes
    // (`litellm_stream`, 4g).
    let targets = vec![
        target("nginx", nginx.addr(), nginx.pids()),
        target("pingora alone", bare.addr, vec![bare.pid()]),
        target("passthru-proxy", passthru.addr, vec![passthru.pid()]),
    ];
    let tables = measure(&harness, s, &targets, threads);
    unpin(std::process::id());
    tables
}

/// Both tables for proxies already running against `harness.upstream` (`threads`: what
/// passthru-proxy and pingora alone were given, for the notes).
pub fn measure(
    harness: &Harness,
    s: &Streams,
    targets: &[StreamTarget],
    threads: usize,
) -> Vec<Table> {
    let waves: Vec<Vec<WaveFigures>> = targets
        .iter()
        .map(|t| memory_and_cpu(harness, s, t))
        .collect();
    let firsts = first_events(harness, s, targets);
    vec![
        tables::memory(s, harness, targets, &waves, threads),
        tables::first_event(s, targets, &firsts),
    ]
}

/// One wave on one proxy.
pub struct WaveFigures {
    /// Streams the scenario asked for, and how many fit in the open-file limit.
    pub asked: usize,
    pub opened: usize,
    /// Streams open (connected, not ended) and mid-stream at the end of the window.
    pub open: u64,
    pub ready: u64,
    pub failed: u64,
    pub interval: Duration,
    pub idle_kib: u64,
    /// The highest RSS sampled during the window.
    pub live_kib: u64,
    pub cpu_seconds: f64,
    pub events: u64,
    pub reads: u64,
    pub merged: u64,
    pub window: Duration,
}

impl WaveFigures {
    pub fn per_stream_kib(&self) -> f64 {
        self.live_kib.saturating_sub(self.idle_kib) as f64 / self.open as f64
    }

    pub fn cpu_per_event(&self) -> f64 {
        self.cpu_seconds / self.events as f64
    }
}

fn rss(pids: &[u32]) -> u64 {
    pids.iter().filter_map(|&p| rss_kib(p)).sum()
}

fn ticks(pids: &[u32]) -> u64 {
    pids.iter().filter_map(|&p| cpu_ticks(p)).sum()
}

/// The memory and CPU waves of one proxy that is already running: its RSS after one warm-up
/// stream, then a wave per stream count.
pub fn memory_and_cpu(harness: &Harness, s: &Streams, target: &StreamTarget) -> Vec<WaveFigures> {
    for &pid in &target.pids {
        pin(pid, PROXY_CPU);
    }
    let warm_up = stream_path(&target.prefix, Duration::from_millis(20));
    let wave = Wave::open(&harness.rt, target.addr, &warm_up, 1, Duration::ZERO, 3);
    wave.wait_ready(s.patience);
    wave.close(&harness.rt);
    harness.wait_idle(s.patience);
    let idle_kib = rss(&target.pids);
    s.counts
        .iter()
        .map(|&asked| {
            let opened = asked.min(harness.max_streams);
            let interval = Duration::from_secs_f64(opened as f64 / s.events_per_second);
            eprintln!(
                "  {}: {opened} streams, an event every {} on each",
                target.name,
                dur(interval)
            );
            let path = stream_path(&target.prefix, interval);
            let wave = Wave::open(
                &harness.rt,
                target.addr,
                &path,
                opened,
                Duration::ZERO,
                s.min_events,
            );
            wave.wait_ready(s.patience);
            let (ticks_before, before, started) = (
                ticks(&target.pids),
                wave.counters.snapshot(),
                Instant::now(),
            );
            let mut live_kib = 0;
            while started.elapsed() < s.window {
                live_kib = live_kib.max(rss(&target.pids));
                std::thread::sleep(Duration::from_millis(100));
            }
            let (ticks_after, after, window) = (
                ticks(&target.pids),
                wave.counters.snapshot(),
                started.elapsed(),
            );
            wave.close(&harness.rt);
            harness.wait_idle(s.patience);
            WaveFigures {
                asked,
                opened,
                open: after.open,
                ready: after.ready,
                failed: after.failed,
                interval,
                idle_kib,
                live_kib,
                cpu_seconds: (ticks_after - ticks_before) as f64 / TICKS_PER_SECOND,
                events: after.events - before.events,
                reads: after.reads - before.reads,
                merged: after.merged - before.merged,
                window,
            }
        })
        .collect()
}

/// One time-to-first-event round of one target.
#[derive(Clone)]
pub struct FirstEvents {
    pub p50: f64,
    pub p99: f64,
    pub streams: usize,
    /// Streams that got no event.
    pub failed: usize,
    /// TCP segments retransmitted on the host during the round ([`tcp_retransmitted_segments`]).
    pub retransmits: u64,
}

/// Rounds of `first_event_streams` streams opened over `ramp`, alternating a direct
/// connection to the upstream (first) and `targets`; per target, its rounds.
pub fn first_events(
    harness: &Harness,
    s: &Streams,
    targets: &[StreamTarget],
) -> Vec<Vec<FirstEvents>> {
    let direct = StreamTarget {
        name: "direct to upstream".into(),
        addr: harness.upstream.addr,
        prefix: String::new(),
        pids: Vec::new(),
    };
    let all: Vec<&StreamTarget> = std::iter::once(&direct).chain(targets).collect();
    let n = s.first_event_streams.min(harness.max_streams);
    let interval = Duration::from_secs_f64(n as f64 / s.events_per_second);
    let mut rounds = vec![Vec::new(); all.len()];
    for round in 0..s.rounds {
        for (k, t) in all.iter().enumerate() {
            eprintln!("  first event round {}: {}", round + 1, t.name);
            for &pid in &t.pids {
                pin(pid, PROXY_CPU);
            }
            let path = stream_path(&t.prefix, interval);
            let retransmitted = tcp_retransmitted_segments();
            let wave = Wave::open(&harness.rt, t.addr, &path, n, s.ramp, 1);
            wave.wait_ready(s.patience);
            let firsts: Vec<f64> = wave
                .close(&harness.rt)
                .iter()
                .map(Duration::as_secs_f64)
                .collect();
            harness.wait_idle(s.patience);
            rounds[k].push(FirstEvents {
                p50: quantile(&firsts, 0.5),
                p99: quantile(&firsts, 0.99),
                streams: n,
                failed: n - firsts.len(),
                retransmits: tcp_retransmitted_segments().saturating_sub(retransmitted),
            });
        }
    }
    rounds
}
