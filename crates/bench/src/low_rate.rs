//! Scenario 4c: what a request costs at a low rate (50 req/s), where a proxy's idle wake-ups
//! (timer threads, periodic checks, runtime hand-offs) are paid for by few requests.

use std::net::SocketAddr;

use crate::open_loop::open_loop;
use crate::procfs::{context_switches, cpu_ns, pin};
use crate::report::{median, ratio, secs, verdict, Table};
use crate::throughput::Load;

/// One proxy under test: name, address, request path, the processes whose CPU counts.
pub type Target<'a> = (&'a str, SocketAddr, &'a str, Vec<u32>);

const RATE: f64 = 50.0;
const CONNECTIONS: usize = 4;

/// Per round: CPU seconds per request and context switches per request under load; CPU
/// seconds per second and context switches per second idle.
#[derive(Clone, Copy, Default)]
struct Round {
    cpu_per_request: f64,
    switches_per_request: f64,
    idle_cpu: f64,
    idle_switches: f64,
}

fn window(pids: &[u32], f: impl FnOnce() -> usize) -> (f64, f64, usize) {
    let cpu = || pids.iter().map(|&p| cpu_ns(p)).sum::<u64>();
    let switches = || pids.iter().map(|&p| context_switches(p)).sum::<u64>();
    let (c0, s0) = (cpu(), switches());
    let n = f();
    let (c1, s1) = (cpu(), switches());
    (
        c1.saturating_sub(c0) as f64 / 1e9,
        s1.saturating_sub(s0) as f64,
        n,
    )
}

/// Rounds alternate the targets; each round is an idle window, then `RATE` req/s open loop
/// over `CONNECTIONS` keep-alive connections. The caller pins itself (the generator) to CPU 0;
/// each target's processes are pinned to `cpu`.
pub fn run(load: &Load, cpu: usize, targets: &[Target]) -> Table {
    let duration = load.duration * 2;
    let idle = load.duration;
    let mut rounds: Vec<Vec<Round>> = vec![Vec::new(); targets.len()];
    for round in 0..load.rounds {
        for (k, (name, addr, path, pids)) in targets.iter().enumerate() {
            eprintln!("  low rate round {}: {name}", round + 1);
            for &pid in pids {
                pin(pid, cpu);
            }
            let (idle_cpu, idle_switches, _) = window(pids, || {
                std::thread::sleep(idle);
                0
            });
            let (busy_cpu, busy_switches, answered) = window(pids, || {
                let r = open_loop(*addr, &[path.to_string()], RATE, CONNECTIONS, duration);
                r.latencies.len()
            });
            let answered = answered.max(1) as f64;
            rounds[k].push(Round {
                cpu_per_request: busy_cpu / answered,
                switches_per_request: busy_switches / answered,
                idle_cpu: idle_cpu / idle.as_secs_f64(),
                idle_switches: idle_switches / idle.as_secs_f64(),
            });
        }
    }
    let col = |k: usize, f: fn(&Round) -> f64| median(&rounds[k].iter().map(f).collect::<Vec<_>>());
    let nginx = targets.iter().position(|t| t.0 == "nginx");
    let floor = targets.iter().position(|t| t.0 == "pingora alone");
    let mut t = Table::new(
        &format!(
            "4c. Cost at a low rate ({RATE:.0} req/s open loop over {CONNECTIONS} keep-alive connections, median of {} × {} s rounds, each after {} s idle)",
            load.rounds,
            duration.as_secs(),
            idle.as_secs()
        ),
        &[
            "path",
            "proxy CPU per request",
            "vs nginx",
            "vs pingora alone",
            "context switches per request",
            "idle CPU",
            "idle context switches/s",
            "target",
        ],
    );
    for (k, (name, ..)) in targets.iter().enumerate() {
        let cpu = col(k, |r| r.cpu_per_request);
        let versus = |other: Option<usize>| match other {
            Some(o) if o != k => ratio(cpu / col(o, |r| r.cpu_per_request)),
            _ => String::new(),
        };
        let target = match (name.starts_with("passthru-proxy"), nginx) {
            (true, Some(n)) => {
                let limit = col(n, |r| r.cpu_per_request);
                format!("≤ nginx — {}", verdict(cpu <= limit))
            }
            _ => String::new(),
        };
        t.row(&[
            name.to_string(),
            if *name == "passthru-proxy" {
                format!("**{}**", secs(cpu))
            } else {
                secs(cpu)
            },
            versus(nginx),
            versus(floor),
            format!("{:.1}", col(k, |r| r.switches_per_request)),
            format!("{:.2} % of a core", col(k, |r| r.idle_cpu) * 100.0),
            format!("{:.1}", col(k, |r| r.idle_switches)),
            target,
        ]);
    }
    t.note(format!(
        "The same processes as table 4, each pinned in its turn to CPU {cpu} (the generator and \
         the upstream on CPU 0). CPU is the time every live thread of the proxy's processes spent \
         on a CPU (`/proc/PID/task/*/schedstat`, nanoseconds) during the loaded window, divided \
         by the responses; context switches are the sum of `voluntary_ctxt_switches` and \
         `nonvoluntary_ctxt_switches` over the same threads, a count of wake-ups. The idle \
         columns are the same counters over a window with no request, just before. nginx \
         handles a request in 2 wake-ups (the client's bytes, the upstream's answer): anything \
         above that, and any idle wake-up, is what a low rate pays for."
    ));
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_window_counts_this_process_cpu() {
        let me = std::process::id();
        let (cpu, _, n) = window(&[me], || {
            let t = Instant::now();
            let mut x = 0u64;
            while t.elapsed() < Duration::from_millis(30) {
                x = x.wrapping_add(1);
            }
            std::hint::black_box(x);
            7
        });
        assert_eq!(n, 7);
        assert!(cpu > 0.01, "{cpu}");
    }
}
