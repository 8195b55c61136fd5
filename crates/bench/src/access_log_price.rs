//! Scenario 4i: the access log's price per request, in paired rounds. Table 4 runs each proxy
//! once per round among six others, and its on ÷ off ratio moved 1.03–1.20 × between runs on
//! the shared 2-core machine, more than the 5 % it is held to. Here the two proxies (the same
//! binary and table, `--access-log` to a file vs `off`) run back to back in each pair, the order
//! swapped every pair, and the verdict is on the median of the pairs' ratios, which a slow
//! round moves no more than one pair.

use crate::daemons::start_proxy;
use crate::nginx::Nginx;
use crate::report::{median, ratio, secs, thousands, verdict, Table};
use crate::route_tables::write_upstream_routes;
use crate::throughput::{saturate, Load};

pub fn run(load: &Load, pairs: usize, routes: usize) -> Vec<Table> {
    crate::procfs::pin(std::process::id(), 0);
    let dir = tempfile::tempdir().unwrap();
    let upstream = Nginx::upstream();
    let file = write_upstream_routes(dir.path(), routes, upstream.addr());
    let log = dir.path().join("access.log");
    let on = start_proxy(
        &file,
        &["--threads", "2", "--access-log", log.to_str().unwrap()],
    );
    let off = start_proxy(&file, &["--threads", "2", "--access-log", "off"]);
    let tested = format!("/svc-{}/v1/chat/completions", routes / 2);
    let target = |name, addr: std::net::SocketAddr, pid| {
        (name, format!("http://{addr}{tested}"), None, vec![pid])
    };
    let one_round = Load { rounds: 1, ..*load };
    eprintln!(
        "access log price: {pairs} pairs of wrk -t{} -c{} -d{}s",
        load.threads,
        load.connections,
        load.duration.as_secs()
    );
    let (mut ratios, mut cpu_on, mut cpu_off) = (Vec::new(), Vec::new(), Vec::new());
    for pair in 0..pairs {
        let mut targets = vec![
            target("access log on", on.addr, on.pid()),
            target("access log off", off.addr, off.pid()),
        ];
        if pair % 2 == 1 {
            targets.reverse();
        }
        let runs = saturate(&one_round, &targets);
        let (w_on, w_off) = if pair % 2 == 1 {
            (runs[1], runs[0])
        } else {
            (runs[0], runs[1])
        };
        if let (Some(a), Some(b)) = (w_on.cpu_per_request, w_off.cpu_per_request) {
            cpu_on.push(a);
            cpu_off.push(b);
            ratios.push(a / b);
        }
    }
    let mut t = Table::new(
        &format!(
            "4i. The access log's price per request, paired rounds ({} routes, wrk -t{} -c{}, {pairs} pairs of {} s rounds)",
            thousands(routes as u64),
            load.threads,
            load.connections,
            load.duration.as_secs()
        ),
        &[
            "proxy CPU per request, log on (median)",
            "log off (median)",
            "on ÷ off, median of the pairs",
            "pairs' ratios, lowest – highest",
            "target ≤ 1.05 ×",
        ],
    );
    let lowest = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let highest = ratios.iter().copied().fold(0.0, f64::max);
    let m = median(&ratios);
    t.row(&[
        secs(median(&cpu_on)),
        secs(median(&cpu_off)),
        format!("**{}**", ratio(m)),
        format!("{} – {}", ratio(lowest), ratio(highest)),
        verdict(m <= 1.05).to_owned(),
    ]);
    t.note(
        "The same release binary and table twice, `--threads 2`: one writing its access log to a \
         file, one with `--access-log off`; each pinned to CPU 1 while it runs, wrk and the \
         upstream (nginx, one worker) on CPU 0. Each pair runs the two back to back, the first \
         of them alternating from pair to pair; a pair's ratio is its two rounds' CPU per \
         request (user + system time of the proxy ÷ requests answered).",
    );
    vec![t]
}
