//! The two tables of the streams scenario, from what its waves and rounds measured.

use super::{FirstEvents, Harness, StreamTarget, Streams, WaveFigures, PROXY_CPU};
use crate::report::{dur, median, ratio, secs, thousands, verdict, Table};

/// The target for memory per stream (issue 15, item 1): about 2 × nginx.
const TARGET_KIB: f64 = 32.0;

fn kib(k: f64) -> String {
    if k.is_finite() {
        format!("{k:.1} KiB")
    } else {
        "–".into()
    }
}

fn mib(k: u64) -> String {
    format!("{:.0} MiB", k as f64 / 1024.0)
}

pub fn memory(
    s: &Streams,
    harness: &Harness,
    targets: &[StreamTarget],
    waves: &[Vec<WaveFigures>],
    threads: usize,
) -> Table {
    let mut t = Table::new(
        &format!(
            "4e. SSE streams: proxy memory per stream and CPU per event ({} events/s over each wave's streams, measured for {} once every stream has {} events)",
            thousands(s.events_per_second as u64),
            dur(s.window),
            s.min_events
        ),
        &[
            "proxy",
            "streams",
            "event interval",
            "RSS idle → streams live",
            "RSS per stream",
            "vs nginx",
            "CPU per event",
            "vs nginx",
            "events/s",
            "merged reads",
            "failed streams",
            "target",
        ],
    );
    let nginx = targets.iter().position(|t| t.name == "nginx");
    for (target, rows) in targets.iter().zip(waves) {
        for (i, w) in rows.iter().enumerate() {
            let versus = |f: fn(&WaveFigures) -> f64| match nginx.and_then(|n| waves[n].get(i)) {
                Some(n) if target.name != "nginx" => ratio(f(w) / f(n)),
                _ => String::new(),
            };
            let mut streams = thousands(w.opened as u64);
            if w.opened < w.asked {
                streams.push_str(&format!(
                    " of {} (open-file limit {})",
                    thousands(w.asked as u64),
                    thousands(harness.open_files)
                ));
            }
            let mut failed = thousands(w.failed);
            let waiting = (w.opened as u64).saturating_sub(w.ready + w.failed);
            if waiting > 0 {
                failed.push_str(&format!(
                    "; {} without {} events after {}",
                    thousands(waiting),
                    s.min_events,
                    dur(s.patience)
                ));
            }
            let per_stream = w.per_stream_kib();
            let headline = target.name == "passthru-proxy";
            t.row(&[
                target.name.clone(),
                streams,
                dur(w.interval),
                format!("{} → {}", mib(w.idle_kib), mib(w.live_kib)),
                if headline {
                    format!("**{}**", kib(per_stream))
                } else {
                    kib(per_stream)
                },
                versus(WaveFigures::per_stream_kib),
                secs(w.cpu_per_event()),
                versus(WaveFigures::cpu_per_event),
                thousands((w.events as f64 / w.window.as_secs_f64()) as u64),
                format!(
                    "{} of {} ({:.2} %)",
                    thousands(w.merged),
                    thousands(w.reads),
                    100.0 * w.merged as f64 / w.reads.max(1) as f64
                ),
                failed,
                if headline {
                    format!(
                        "≤ {TARGET_KIB:.0} KiB — {}",
                        verdict(per_stream <= TARGET_KIB)
                    )
                } else {
                    String::new()
                },
            ]);
        }
    }
    t.note(format!(
        "One SSE upstream and every client stream in the harness, pinned with it to CPU 0; the \
         proxy under test (every thread of it) pinned to CPU {PROXY_CPU}. Each stream gets one \
         ~140-byte `chat.completion.chunk` event per chunk, one every (streams ÷ {}) seconds, so \
         every wave carries the same event rate. Per proxy, one \
         process for every wave: RSS idle is after one warm-up stream; each wave then opens its \
         streams at once and waits until every stream has {} events; over the next {} the \
         harness samples the proxy's RSS (the highest sample counts) and its user + system CPU \
         time. RSS per stream = (RSS live − RSS idle) ÷ streams open; CPU per event = CPU time ÷ \
         events the clients received in the window. A later wave runs on the memory the earlier \
         ones freed, as in a long-running proxy. A merged read is a client read that held more \
         than one event: 0 while the proxy forwards each event as it comes, but on a loaded \
         machine the harness's own lag counts too, for every proxy alike (compare with nginx's \
         row). passthru-proxy runs with the operator's defaults ({threads} threads), pingora \
         alone (`crates/proxy/examples/bare_pingora.rs`) with {threads} and the same listener \
         settings, nginx with 1 worker and `proxy_buffering off`. {} Where the memory goes: \
         docs/stream-memory.md.",
        thousands(s.events_per_second as u64),
        s.min_events,
        dur(s.window),
        open_files(harness)
    ));
    t
}

/// What the open-file limit allowed, for the notes.
fn open_files(harness: &Harness) -> String {
    let limit = thousands(harness.open_files);
    match &harness.limited_by {
        None => format!(
            "The open-file limit was {limit}, enough for every wave (the harness raises it when \
             a wave needs more, and every proxy inherits it): a proxy, like the harness, holds \
             two descriptors per stream."
        ),
        Some(why) => format!(
            "The open-file limit stayed at {limit} ({why}), and every proxy inherits it: a \
             proxy, like the harness, holds two descriptors per stream, so a wave opens at most \
             {} streams.",
            thousands(harness.max_streams as u64)
        ),
    }
}

pub fn first_event(s: &Streams, targets: &[StreamTarget], rounds: &[Vec<FirstEvents>]) -> Table {
    let n = rounds
        .first()
        .and_then(|r| r.first())
        .map_or(0, |r| r.streams);
    let mut t = Table::new(
        &format!(
            "4f. Time to first event at {} streams (opened at a steady rate over {}, median of {} round{})",
            thousands(n as u64),
            dur(s.ramp),
            s.rounds,
            if s.rounds == 1 { "" } else { "s" }
        ),
        &[
            "path",
            "without an event",
            "p50",
            "p99",
            "added p99 (per round)",
            "TCP retransmissions (per round)",
            "target",
        ],
    );
    let direct = &rounds[0];
    let added = |k: usize| -> Vec<f64> {
        rounds[k]
            .iter()
            .zip(direct)
            .map(|(r, d)| r.p99 - d.p99)
            .collect()
    };
    let nginx = targets
        .iter()
        .position(|t| t.name == "nginx")
        .map(|i| median(&added(i + 1)));
    let names = std::iter::once("direct to upstream").chain(targets.iter().map(|t| &*t.name));
    for (k, name) in names.enumerate() {
        let r = &rounds[k];
        let col = |f: fn(&FirstEvents) -> f64| median(&r.iter().map(f).collect::<Vec<_>>());
        let (added_cell, target) = if k == 0 {
            (String::new(), String::new())
        } else {
            let a = added(k);
            let cell = format!(
                "{} ({})",
                secs(median(&a)),
                a.iter().map(|&v| secs(v)).collect::<Vec<_>>().join(", ")
            );
            match (name, nginx) {
                ("passthru-proxy", Some(ng)) => (
                    format!("**{cell}**"),
                    format!("≤ nginx's ({}) — {}", secs(ng), verdict(median(&a) <= ng)),
                ),
                _ => (cell, String::new()),
            }
        };
        t.row(&[
            name.to_owned(),
            thousands(r.iter().map(|x| x.failed as u64).sum()),
            secs(col(|x| x.p50)),
            secs(col(|x| x.p99)),
            added_cell,
            r.iter()
                .map(|x| x.retransmits.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            target,
        ]);
    }
    t.note(format!(
        "The same processes and pinning as table 4e. Each round opens {} streams, one every {} \
         (open loop: a stream's time counts from when it was due, so a stall is charged to every \
         stream it delays), each getting an event every {}, and holds them until every stream \
         has its first event; time to first event = from when the stream was due to the client \
         read that holds its first event (connect, request, the upstream's answer through the \
         proxy). Rounds alternate direct, then each proxy; added p99 is a proxy's p99 minus the \
         direct connection's in the same round, and the table shows the median round (each \
         round's figure in brackets). TCP retransmissions are the segments the host retransmitted \
         during each round (`RetransSegs` of /proc/net/snmp, the whole network namespace): on \
         loopback a retransmission follows a segment dropped by a full queue, or a timer that \
         fired before the answer came, so a round with some may hold stalls no proxy caused (a \
         lost SYN waits 1 s, a lost segment at least Linux's 200 ms least timeout).",
        thousands(n as u64),
        dur(s.ramp / n.max(1) as u32),
        dur(std::time::Duration::from_secs_f64(
            n as f64 / s.events_per_second
        ))
    ));
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn wave(live_kib: u64, cpu_seconds: f64) -> WaveFigures {
        WaveFigures {
            asked: 10_000,
            opened: 1_000,
            open: 1_000,
            ready: 990,
            failed: 4,
            interval: Duration::from_millis(100),
            idle_kib: 10_000,
            live_kib,
            cpu_seconds,
            events: 10_000,
            reads: 9_000,
            merged: 9,
            window: Duration::from_secs(1),
        }
    }

    #[test]
    fn the_memory_table_compares_with_nginx_and_says_what_fell_short() {
        let s = Streams::quick();
        let harness = Harness::start(10);
        let target = |name: &str| StreamTarget {
            name: name.into(),
            addr: harness.upstream.addr,
            prefix: String::new(),
            pids: vec![],
        };
        let targets = [target("nginx"), target("passthru-proxy")];
        // nginx 20 KiB and 10 µs per event; passthru 50 KiB and 15 µs.
        let waves = [vec![wave(30_000, 0.1)], vec![wave(60_000, 0.15)]];
        let text = memory(&s, &harness, &targets, &waves, 2).render();
        let passthru = text.lines().find(|l| l.starts_with("| passthru")).unwrap();
        assert!(
            passthru.contains("| **50.0 KiB** | 2.50 × | 15 µs | 1.50 × |"),
            "{passthru}"
        );
        assert!(
            passthru.contains("1,000 of 10,000 (open-file limit"),
            "{passthru}"
        );
        assert!(passthru.contains("| 9 of 9,000 (0.10 %) |"), "{passthru}");
        assert!(
            passthru.contains("| 4; 6 without 3 events after"),
            "{passthru}"
        );
        assert!(passthru.ends_with("≤ 32 KiB — **missed** |"), "{passthru}");
    }

    #[test]
    fn added_time_to_first_event_is_taken_against_the_direct_run_of_the_same_round() {
        let s = Streams::quick();
        let round = |p99: f64| FirstEvents {
            p50: p99 / 2.0,
            p99,
            streams: 200,
            failed: 0,
            retransmits: 0,
        };
        let targets = ["nginx", "passthru-proxy"].map(|name| StreamTarget {
            name: name.into(),
            addr: "127.0.0.1:9".parse().unwrap(),
            prefix: String::new(),
            pids: vec![],
        });
        let rounds = [vec![round(0.010)], vec![round(0.015)], vec![round(0.014)]];
        let text = first_event(&s, &targets, &rounds).render();
        let passthru = text.lines().find(|l| l.starts_with("| passthru")).unwrap();
        assert!(passthru.contains("| **4.00 ms (4.00 ms)** |"), "{passthru}");
        assert!(
            passthru.ends_with("≤ nginx's (5.00 ms) — met |"),
            "{passthru}"
        );
    }
}
