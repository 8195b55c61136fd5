//! `/metrics` for a gateway dashboard: per-route upstream latency, time to first chunk, request
//! duration and bytes, bounded by the table being served; process metrics and build info; and
//! the shipped Grafana dashboard asks only for metrics the proxy exposes.

use std::collections::BTreeSet;
use std::time::Duration;

use passthru_tests::http::{get, request, Behaviour, Upstream};
use passthru_tests::proxy::Proxy;
use passthru_tests::wait::wait_until;
use passthru_tests::{replace_by_rename, repo_root};

fn routes(up: &Upstream, ids: &[&str]) -> String {
    let mut yaml = String::from("version: 1\nroutes:\n");
    for id in ids {
        yaml.push_str(&format!(
            "- {{id: {id}, path: /{id}, target: '{}', auth: false}}\n",
            up.url()
        ));
    }
    yaml
}

fn metrics_text(proxy: &Proxy) -> String {
    get(proxy.admin, "/metrics").body_text()
}

/// Sample names on `/metrics` (`name` of `name{labels} value`).
fn exposed(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_owned())
        .collect()
}

#[test]
fn upstream_latency_first_chunk_duration_and_bytes_are_labelled_by_route_and_dropped_with_it() {
    let up = Upstream::start(Behaviour::Echo);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.yaml");
    std::fs::write(&file, routes(&up, &["kept", "gone"])).unwrap();
    let proxy = Proxy::start(&file, &["--access-log", "off"]);
    for id in ["kept", "gone"] {
        let resp = request(proxy.addr, "POST", &format!("/{id}"), &[], b"12345");
        assert_eq!(resp.status(), 200);
    }
    let series = [
        "passthru_upstream_latency_seconds_count",
        "passthru_upstream_first_chunk_seconds_count",
        "passthru_request_duration_seconds_count",
    ];
    // Recorded after each response is sent, the response body bytes last.
    wait_until(Duration::from_secs(10), "both routes' series", || {
        ["kept", "gone"].iter().all(|id| {
            proxy
                .metric(&format!(
                    "passthru_response_body_bytes_total{{route=\"{id}\"}}"
                ))
                .is_some()
        })
    });
    for id in ["kept", "gone"] {
        for name in series {
            assert_eq!(
                proxy.metric(&format!("{name}{{route=\"{id}\"}}")),
                Some(1.0),
                "{name} {id}"
            );
        }
        assert_eq!(
            proxy.metric(&format!(
                "passthru_request_body_bytes_total{{route=\"{id}\"}}"
            )),
            Some(5.0)
        );
        assert!(
            proxy
                .metric(&format!(
                    "passthru_response_body_bytes_total{{route=\"{id}\"}}"
                ))
                .unwrap()
                > 0.0
        );
    }
    let generation = proxy.generation();
    replace_by_rename(&file, &routes(&up, &["kept"]));
    wait_until(Duration::from_secs(10), "the new table", || {
        proxy.generation() > generation
    });
    let text = metrics_text(&proxy);
    assert!(!text.contains("route=\"gone\""), "{text}");
    assert!(
        text.contains("passthru_upstream_latency_seconds_count{route=\"kept\"} 1"),
        "{text}"
    );
}

#[test]
fn process_metrics_and_build_info_are_exposed() {
    let up = Upstream::start(Behaviour::Echo);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.yaml");
    std::fs::write(&file, routes(&up, &["a"])).unwrap();
    let proxy = Proxy::start(&file, &[]);
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        proxy.metric(&format!("passthru_build_info{{version=\"{version}\"}}")),
        Some(1.0)
    );
    let rss = proxy.metric("process_resident_memory_bytes").unwrap();
    assert!(rss > 1e6, "{rss}");
    assert!(proxy.metric("process_cpu_seconds_total").is_some());
    assert!(proxy.metric("process_open_fds").unwrap() > 3.0);
    assert_eq!(proxy.metric("passthru_access_log_dropped_total"), Some(0.0));
}

/// Metric names in a PromQL expression: identifiers starting `passthru_` or `process_`.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let starts = (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_'))
            && (expr[i..].starts_with("passthru_") || expr[i..].starts_with("process_"));
        if starts {
            let end = expr[i..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(expr.len(), |n| i + n);
            names.push(expr[i..end].to_owned());
            i = end;
        } else {
            i += 1;
        }
    }
    names
}

/// Every string under a key named `expr` or `query` (panel targets, template variables).
fn queries(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match v {
                    serde_json::Value::String(s) if k == "expr" || k == "query" => {
                        out.push(s.clone())
                    }
                    _ => queries(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| queries(v, out)),
        _ => {}
    }
}

#[test]
fn the_grafana_dashboard_is_valid_json_and_asks_only_for_metrics_the_proxy_exposes() {
    let text =
        std::fs::read_to_string(repo_root().join("examples/grafana-dashboard.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert!(dashboard["panels"].as_array().is_some_and(|p| p.len() > 5));
    let mut exprs = Vec::new();
    queries(&dashboard, &mut exprs);
    let wanted: BTreeSet<String> = exprs.iter().flat_map(|e| metric_names(e)).collect();
    assert!(wanted.len() >= 10, "{wanted:?}");

    // Every series present: a request with a body through a route, and a reload.
    let up = Upstream::start(Behaviour::Echo);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.yaml");
    std::fs::write(&file, routes(&up, &["a"])).unwrap();
    let proxy = Proxy::start(&file, &[]);
    assert_eq!(
        request(proxy.addr, "POST", "/a", &[], b"body").status(),
        200
    );
    // Recorded after the response is sent, the response body bytes last.
    wait_until(Duration::from_secs(10), "the request recorded", || {
        proxy
            .metric("passthru_response_body_bytes_total{route=\"a\"")
            .is_some()
    });
    let have = exposed(&metrics_text(&proxy));
    let missing: Vec<&String> = wanted.iter().filter(|m| !have.contains(*m)).collect();
    assert!(
        missing.is_empty(),
        "the dashboard asks for {missing:?}; /metrics has {have:?}"
    );
}
