//! Scenario 4i: the access log's price per request, in paired rounds. Table 4 runs each proxy
//! once per round among six others, and its on ÷ off ratio moved 1.03–1.20 × between runs on
//! the shared 2-core machine, more than the 5 % it is held to. Here two proxies (the same binary
//! and table, `--access-log` to a file vs `off`) run back to back in each pair, the order swapped
//! every pair, and the verdict is on the median of the pairs' ratios, which a slow round moves no
//! more than one pair.
//!
//! Every pair starts its two proxies afresh, in alternating order: a process keeps for its whole
//! life whatever makes it a little faster or slower than its twin (two identical proxies that
//! served every pair measured 1.03 × apart, the same way round in most pairs). A control row of
//! two proxies with the log off, measured the same way, shows what the method reads when there
//! is no difference.

use std::path::Path;

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
    // A directory of its own, as /var/log/passthru is apart from /var/lib/passthru: beside
    // routes.yaml every batch written would also wake the proxy's watcher of that directory
    // (0.6 % of a saturated proxy's CPU samples, perf), a price of where the file is kept.
    let log_dir = dir.path().join("log");
    std::fs::create_dir(&log_dir).unwrap();
    let log = log_dir.join("access.log");
    let on = ["--threads", "2", "--access-log", log.to_str().unwrap()];
    let off = ["--threads", "2", "--access-log", "off"];
    let tested = format!("/svc-{}/v1/chat/completions", routes / 2);
    eprintln!(
        "access log price: {pairs} pairs of wrk -t{} -c{} -d{}s, and as many for the control",
        load.threads,
        load.connections,
        load.duration.as_secs()
    );
    let priced = Pairs::measure(load, pairs, &file, &tested, [&on, &off]);
    let control = Pairs::measure(load, pairs, &file, &tested, [&off, &off]);
    let mut t = Table::new(
        &format!(
            "4i. The access log's price per request, paired rounds ({} routes, wrk -t{} -c{}, {pairs} pairs of {} s rounds)",
            thousands(routes as u64),
            load.threads,
            load.connections,
            load.duration.as_secs()
        ),
        &[
            "pair",
            "proxy CPU per request, first (median)",
            "second (median)",
            "first ÷ second, median of the pairs",
            "pairs' ratios, lowest – highest",
            "target",
        ],
    );
    let m = median(&priced.ratios);
    priced.row(
        &mut t,
        "access log to a file ÷ access log off",
        format!("≤ 1.05 × — {}", verdict(m <= 1.05)),
    );
    control.row(
        &mut t,
        "control: access log off ÷ access log off",
        String::new(),
    );
    t.note(
        "The same release binary and table in both proxies of a pair, `--threads 2`; each pinned \
         to CPU 1 while it runs, wrk and the upstream (nginx, one worker) on CPU 0. Each pair \
         starts its two proxies afresh, in alternating order, and runs them back to back, the \
         first of them alternating from pair to pair; a pair's ratio is its two rounds' CPU per \
         request (user + system time of the proxy ÷ requests answered). The control pairs two \
         proxies with the log off: its median is what the method reads for no difference, its \
         range the spread of one pair. The log file is in a directory of its own, not beside \
         routes.yaml (whose directory the proxy watches).",
    );
    vec![t]
}

/// CPU per request of two proxy configurations, pair by pair.
struct Pairs {
    first: Vec<f64>,
    second: Vec<f64>,
    ratios: Vec<f64>,
}

impl Pairs {
    fn measure(
        load: &Load,
        pairs: usize,
        routes: &Path,
        tested: &str,
        args: [&[&str]; 2],
    ) -> Pairs {
        let one_round = Load { rounds: 1, ..*load };
        let mut out = Pairs {
            first: Vec::new(),
            second: Vec::new(),
            ratios: Vec::new(),
        };
        for pair in 0..pairs {
            let (first, second) = if pair % 2 == 0 {
                let first = start_proxy(routes, args[0]);
                (first, start_proxy(routes, args[1]))
            } else {
                let second = start_proxy(routes, args[1]);
                (start_proxy(routes, args[0]), second)
            };
            let target = |name, proxy: &passthru_tests::proxy::Proxy| {
                let url = format!("http://{}{tested}", proxy.addr);
                (name, url, None, vec![proxy.pid()])
            };
            let mut targets = vec![target("first", &first), target("second", &second)];
            if pair % 2 == 1 {
                targets.reverse();
            }
            let runs = saturate(&one_round, &targets);
            let (a, b) = if pair % 2 == 1 {
                (runs[1], runs[0])
            } else {
                (runs[0], runs[1])
            };
            if let (Some(a), Some(b)) = (a.cpu_per_request, b.cpu_per_request) {
                out.first.push(a);
                out.second.push(b);
                out.ratios.push(a / b);
            }
        }
        out
    }

    fn row(&self, t: &mut Table, what: &str, target: String) {
        let lowest = self.ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let highest = self.ratios.iter().copied().fold(0.0, f64::max);
        t.row(&[
            what.to_owned(),
            secs(median(&self.first)),
            secs(median(&self.second)),
            format!("**{}**", ratio(median(&self.ratios))),
            format!("{} – {}", ratio(lowest), ratio(highest)),
            target,
        ]);
    }
}
