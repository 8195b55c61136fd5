//! LiteLLM's SSE pass-through, probed: concurrent event streams through LiteLLM's real proxy
//! from an upstream that sends one event every `every`. Does it deliver each event as it comes
//! (unbuffered, unmerged), and what CPU does it spend per event? For the streams scenario's
//! LiteLLM row.

use std::thread;
use std::time::{Duration, Instant};

use passthru_tests::http::{stream_chunks, Behaviour, Upstream};

use crate::litellm_proxy::{LitellmProxy, PassThrough};
use crate::procfs::{cpu_ticks, pin, TICKS_PER_SECOND};
use crate::report::{median, quantile};

/// What the streams saw.
#[derive(Debug, Clone)]
#[allow(dead_code)] // read by the streams scenario
pub struct StreamProbe {
    pub version: String,
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
    /// LiteLLM's CPU time (all its processes) per delivered event, seconds, each stream's
    /// request included: tens of events per stream make it the per-event figure (50 streams ×
    /// 50 events: ~240 µs on the 2-core development machine).
    pub cpu_per_event: Option<f64>,
}

/// Starts LiteLLM with one open endpoint `/sse` → an upstream sending `events` events, one every
/// `every`, per request; opens `streams` streams at once through it, LiteLLM pinned to `cpu`;
/// stops it. Err when LiteLLM could not be installed or started.
#[cfg_attr(not(test), allow(dead_code))] // called by the streams scenario
pub fn probe(
    streams: usize,
    events: usize,
    every: Duration,
    cpu: usize,
) -> Result<StreamProbe, String> {
    let upstream = Upstream::start(Behaviour::Events {
        count: events,
        every,
    });
    let litellm = LitellmProxy::start(
        &[PassThrough {
            path: "/sse".into(),
            target: format!("{}/sse", upstream.url()),
            include_subpath: false,
        }],
        "/sse",
    )?;
    let pids = litellm.pids();
    for &pid in &pids {
        pin(pid, cpu);
    }
    let ticks = || -> u64 { pids.iter().filter_map(|&p| cpu_ticks(p)).sum() };
    let before = ticks();
    let addr = litellm.addr;
    let readers: Vec<_> = (0..streams)
        .map(|_| {
            thread::spawn(move || {
                let sent = Instant::now();
                let (head, chunks) = stream_chunks(addr, "/sse");
                (head.status(), sent, chunks)
            })
        })
        .collect();
    let mut probe = StreamProbe {
        version: litellm.version.clone(),
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
    Ok(probe)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs the reference LiteLLM's venv (installed on first use) and a few seconds of Python
    /// start-up: `cargo test -p passthru-bench -- --ignored litellm_stream`.
    #[test]
    #[ignore]
    fn litellm_passes_events_through() {
        let p = probe(4, 10, Duration::from_millis(20), 1).unwrap();
        eprintln!("{p:#?}");
        assert_eq!(p.failed, 0);
        assert_eq!(p.delivered, 40);
    }
}
