//! Scenario 6: lookup scaling in the running proxy (10 routes vs 100k routes), under the same
//! saturating generator as scenario 4.

use crate::daemons::start_proxy;
use crate::nginx::Nginx;
use crate::report::{ratio, secs, thousands, verdict, Table};
use crate::route_tables::upstream_routes;
use crate::throughput::{saturate, Load};
use crate::wrk::wrk_script;

/// Scenario 6: the same load through the proxy with a 10-route and a `big`-route table, the
/// request paths spread over the table.
pub fn lookup(load: &Load, big: usize) -> Vec<Table> {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Nginx::upstream();
    let up = format!("http://127.0.0.1:{}", upstream.port);
    let mut proxies = Vec::new();
    let mut scripts = Vec::new();
    for n in [10usize, big] {
        eprintln!("lookup: building a {n}-route table");
        let file = dir.path().join(format!("routes-{n}.yaml"));
        std::fs::write(&file, upstream_routes(n, &up)).unwrap();
        let paths: Vec<String> = (0..256)
            .map(|k| format!("/svc-{}/v1/chat/completions", (k * 7919) % n))
            .collect();
        scripts.push(wrk_script(dir.path(), &format!("paths-{n}.lua"), &paths));
        proxies.push(start_proxy(&file, &["--threads", "2"]));
    }
    for (k, p) in proxies.iter().enumerate() {
        let mut c = crate::client::Client::new(p.addr);
        assert_eq!(
            c.get("/svc-3/v1/chat/completions").unwrap(),
            200,
            "proxy {k}"
        );
    }
    let rss: Vec<u64> = proxies.iter().map(|p| p.rss_kib()).collect();
    let small_url = format!("http://{}/", proxies[0].addr);
    let big_url = format!("http://{}/", proxies[1].addr);
    let targets = [
        ("10 routes", small_url, Some(scripts[0].as_path()), vec![]),
        ("big table", big_url, Some(scripts[1].as_path()), vec![]),
    ];
    eprintln!("lookup: wrk × {} rounds", load.rounds);
    let sat = saturate(load, &targets);
    let mut t = Table::new(
        &format!(
            "6. Lookup scaling in the running proxy (wrk -t{} -c{}, 256 paths spread over the table, median of {} × {} s rounds)",
            load.threads,
            load.connections,
            load.rounds,
            load.duration.as_secs()
        ),
        &["table", "req/s", "p50", "p99", "proxy RSS", "cost ratio vs 10 routes", "target"],
    );
    for (k, (n, w)) in [(10usize, sat[0]), (big, sat[1])].into_iter().enumerate() {
        let (cost, target) = if k == 1 {
            // Cost per request = 1 / throughput; p50 as a second view.
            let r = sat[0].rps / w.rps;
            (
                format!("**{}** (p50 {})", ratio(r), ratio(w.p50 / sat[0].p50)),
                format!("≤ 2 × — {}", verdict(r <= 2.0)),
            )
        } else {
            ("1".to_owned(), String::new())
        };
        t.row(&[
            format!("{} routes", thousands(n as u64)),
            thousands(w.rps as u64),
            secs(w.p50),
            secs(w.p99),
            format!("{} KiB", thousands(rss[k])),
            cost,
            target,
        ]);
    }
    t.note(
        "Both proxies run at the same time with `--threads 2`, the same upstream and the same \
         generator; rounds alternate between them. Cost ratio = req/s with 10 routes ÷ req/s with \
         the big table (end to end, so it includes forwarding, not only the lookup).",
    );
    vec![t]
}
