//! The open-loop (fixed-rate) load generator.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::client::Client;

/// Latencies of an open-loop run: each connection sends on a fixed schedule and a request's
/// latency counts from when it was due, so a stall is charged to every request it delays
/// (no coordinated omission).
pub struct OpenLoop {
    pub latencies: Vec<f64>,
    pub errors: usize,
    pub achieved_rps: f64,
}

pub fn open_loop(
    addr: SocketAddr,
    paths: &[String],
    rate: f64,
    connections: usize,
    duration: Duration,
) -> OpenLoop {
    let per_conn = rate / connections as f64;
    let period = Duration::from_secs_f64(1.0 / per_conn);
    let start = Instant::now() + Duration::from_millis(100);
    let handles: Vec<_> = (0..connections)
        .map(|c| {
            let paths = paths.to_vec();
            std::thread::spawn(move || {
                let mut client = Client::new(addr);
                let _ = client.get(&paths[c % paths.len()]); // connect and warm up
                let mut latencies = Vec::new();
                let mut errors = 0;
                // Stagger the connections across one period.
                let mut due = start + period.mul_f64(c as f64 / connections as f64);
                let end = start + duration;
                let mut k = c;
                while due < end {
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    match client.get(&paths[k % paths.len()]) {
                        Ok(200) => latencies.push(due.elapsed().as_secs_f64()),
                        _ => errors += 1,
                    }
                    k += connections;
                    due += period;
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut out = OpenLoop {
        latencies: Vec::new(),
        errors: 0,
        achieved_rps: 0.0,
    };
    for h in handles {
        let (l, e) = h.join().unwrap();
        out.latencies.extend(l);
        out.errors += e;
    }
    out.achieved_rps = out.latencies.len() as f64 / duration.as_secs_f64();
    out
}
