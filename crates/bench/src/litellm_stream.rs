//! LiteLLM's SSE pass-through beside passthru-proxy's: the same concurrent event streams from an
//! upstream that sends one event every `every`, through each proxy in turn, pinned to the same
//! core. Does each deliver every event as it comes (unbuffered, unmerged), and what CPU does it
//! spend per event? LiteLLM cannot hold the thousands of streams of table 4e, so this is its own
//! table (4g) at a load it can take.

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use passthru_tests::http::{stream_chunks, Behaviour, Upstream};

use crate::daemons::start_proxy;
use crate::litellm_proxy::{LitellmProxy, PassThrough};
use crate::procfs::{cpu_ticks, pin, TICKS_PER_SECOND};
use crate::report::{median, quantile, ratio, secs, Table};

/// What the streams through one proxy saw.
#[derive(Debug, Clone)]
pub struct StreamProbe {
    pub streams: usize,
    /// Events each stream should get.
    pub events: usize,
    /// Events that arrived, over all streams.
    pub delivered: usize,
    /// Streams that failed (no 200, a read error, a panic in the reader).
    pub failed: usize,
    /// Reads that held more than one event: 0 when every event was passed on as it came.
    pub merged: usize,
    /// Request sent → first event, per stream, seconds (p50, p99).
    pub first_event: (f64, f64),
    /// Median time between two events of a stream, seconds: the upstream's interval when
    /// nothing holds events back.
    pub gap_p50: f64,
    /// The longest such gap: a buffering proxy shows a gap as long as what it held.
    pub gap_max: f64,
    /// The proxy's CPU time (all its processes) per delivered event, seconds, each stream's
    /// request included: tens of events per stream make it the per-event figure.
    pub cpu_per_event: Option<f64>,
}

/// Opens `streams` streams of `events` events at once through the proxy at `addr` (`path`), its
/// processes `pids` pinned to `cpu`, and reads them to the end.
pub fn probe(
    addr: SocketAddr,
    path: &str,
    pids: &[u32],
    streams: usize,
    events: usize,
    cpu: usize,
) -> StreamProbe {
    for &pid in pids {
        pin(pid, cpu);
    }
    let ticks = || -> u64 { pids.iter().filter_map(|&p| cpu_ticks(p)).sum() };
    let before = ticks();
    let readers: Vec<_> = (0..streams)
        .map(|_| {
            let path = path.to_owned();
            thread::spawn(move || {
                let sent = Instant::now();
                let (head, chunks) = stream_chunks(addr, &path);
                (head.status(), sent, chunks)
            })
        })
        .collect();
    let mut probe = StreamProbe {
        streams,
        events,
        delivered: 0,
        failed: 0,
        merged: 0,
        first_event: (f64::NAN, f64::NAN),
        gap_p50: f64::NAN,
        gap_max: f64::NAN,
        cpu_per_event: None,
    };
    let (mut firsts, mut gaps) = (Vec::new(), Vec::new());
    for reader in readers {
        let Ok((200, sent, chunks)) = reader.join() else {
            probe.failed += 1;
            continue;
        };
        // Arrival of each event; a chunk holding several gives them all its arrival time.
        let mut arrivals = Vec::new();
        for (at, text) in &chunks {
            let n = text.matches("data: ").count();
            if n > 1 {
                probe.merged += 1;
            }
            arrivals.extend(std::iter::repeat(*at).take(n));
        }
        probe.delivered += arrivals.len();
        if let Some(first) = arrivals.first() {
            firsts.push((*first - sent).as_secs_f64());
        }
        gaps.extend(arrivals.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()));
    }
    let cpu = (ticks() - before) as f64 / TICKS_PER_SECOND;
    if !firsts.is_empty() {
        probe.first_event = (quantile(&firsts, 0.5), quantile(&firsts, 0.99));
    }
    if !gaps.is_empty() {
        probe.gap_p50 = median(&gaps);
        probe.gap_max = gaps.iter().copied().fold(0.0, f64::max);
    }
    probe.cpu_per_event = (probe.delivered > 0).then(|| cpu / probe.delivered as f64);
    probe
}

/// Table 4g: `streams` streams of `events` events, one every `every`, through passthru-proxy
/// (operator defaults) and through LiteLLM's proxy server, each pinned to `cpu` in turn.
pub fn run(streams: usize, events: usize, every: Duration, cpu: usize) -> Table {
    let upstream = Upstream::start(Behaviour::Events {
        count: events,
        every,
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.yaml");
    std::fs::write(
        &file,
        crate::route_tables::upstream_routes(1, &upstream.url()),
    )
    .unwrap();
    let mut t = Table::new(
        &format!(
            "4g. SSE through LiteLLM and passthru-proxy: {streams} streams at once, {events} events each, one every {}",
            crate::report::dur(every)
        ),
        &[
            "proxy",
            "events delivered",
            "failed streams",
            "merged reads",
            "first event p50 / p99",
            "gap between events p50 / max",
            "CPU per event",
            "CPU per event vs passthru-proxy",
        ],
    );
    let passthru = {
        let proxy = start_proxy(&file, &[]);
        probe(
            proxy.addr,
            "/svc-0/sse",
            &[proxy.pid()],
            streams,
            events,
            cpu,
        )
    };
    let litellm = LitellmProxy::start(
        &[PassThrough {
            path: "/sse".into(),
            target: format!("{}/sse", upstream.url()),
            include_subpath: false,
        }],
        "/sse",
    )
    .map(|l| {
        let p = probe(l.addr, "/sse", &l.pids(), streams, events, cpu);
        (l.version.clone(), p)
    });
    let row = |name: String, p: &StreamProbe| {
        vec![
            name,
            format!("{} of {}", p.delivered, p.streams * p.events),
            p.failed.to_string(),
            p.merged.to_string(),
            format!("{} / {}", secs(p.first_event.0), secs(p.first_event.1)),
            format!("{} / {}", secs(p.gap_p50), secs(p.gap_max)),
            p.cpu_per_event.map(secs).unwrap_or_default(),
            match (p.cpu_per_event, passthru.cpu_per_event) {
                (Some(c), Some(base)) if base > 0.0 => ratio(c / base),
                _ => String::new(),
            },
        ]
    };
    t.row(&row("passthru-proxy".into(), &passthru));
    match &litellm {
        Ok((version, p)) => t.row(&row(format!("LiteLLM {version} (`litellm --config`)"), p)),
        Err(e) => t.row(&[format!("LiteLLM: failed: {e}")]),
    }
    t.note(format!(
        "The upstream (the tests' HTTP upstream) answers each request with {events} SSE events, one \
         every {}. passthru-proxy runs with the operator's defaults and a route `/svc-0` to the \
         upstream; LiteLLM runs its proxy server with one `pass_through_endpoints` entry `/sse` \
         (no database, a master key, the route open). Each proxy (all of its processes) is pinned \
         to CPU {cpu}, the streams and the upstream to CPU 0; the streams open at once, one thread \
         each. CPU per event is the proxy's user + system time over the streams, each stream's \
         request included, divided by the events delivered. A merged read held more than one \
         event; a gap longer than the upstream's interval is an event held back.",
        crate::report::dur(every)
    ));
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs the release binaries, the reference LiteLLM's venv (installed on first use) and a
    /// few seconds of Python start-up: `cargo test -p passthru-bench -- --ignored litellm_stream`.
    #[test]
    #[ignore]
    fn litellm_passes_events_through() {
        let t = run(4, 10, Duration::from_millis(20), 1);
        let text = t.render();
        eprintln!("{text}");
        assert!(text.contains("| 40 of 40 | 0 |"), "{text}");
        assert!(!text.contains("failed"), "{text}");
    }
}
