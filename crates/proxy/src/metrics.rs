//! Prometheus metrics for the admin listener's `/metrics`.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub routes: IntGauge,
    pub generation: IntGauge,
    /// By result: `ok` (a new table serves), `unchanged` (same bytes), `error` (kept the last good).
    pub reloads: IntCounterVec,
    pub reload_seconds: Histogram,
    /// By route id (`none` when nothing matched) and status class (`2xx` …).
    pub requests: IntCounterVec,
    pub upstream_seconds: Histogram,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let routes = IntGauge::new("passthru_routes", "Routes in the table being served").unwrap();
        let generation = IntGauge::new(
            "passthru_table_generation",
            "Tables built since start; the one being served",
        )
        .unwrap();
        let reloads = IntCounterVec::new(
            Opts::new("passthru_reloads_total", "Reload attempts by result"),
            &["result"],
        )
        .unwrap();
        let reload_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "passthru_reload_duration_seconds",
                "Read, validate and build of a routes file",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
        )
        .unwrap();
        let requests = IntCounterVec::new(
            Opts::new(
                "passthru_requests_total",
                "Requests by route id and status class",
            ),
            &["route", "status"],
        )
        .unwrap();
        let upstream_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "passthru_upstream_latency_seconds",
                "From choosing the upstream to its response header",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
            ]),
        )
        .unwrap();
        for c in [
            Box::new(routes.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(generation.clone()),
            Box::new(reloads.clone()),
            Box::new(reload_seconds.clone()),
            Box::new(requests.clone()),
            Box::new(upstream_seconds.clone()),
        ] {
            registry.register(c).unwrap();
        }
        Metrics {
            registry,
            routes,
            generation,
            reloads,
            reload_seconds,
            requests,
            upstream_seconds,
        }
    }

    /// Drops the request series of routes that are no longer served, so the series set is bounded
    /// by the table being served, not by every route the process has ever seen. Also catches a
    /// series that a request in flight on an older table re-created after its route went.
    pub fn forget_routes_not_in(&self, served: impl Fn(&str) -> bool) {
        for family in prometheus::core::Collector::collect(&self.requests) {
            for metric in family.get_metric() {
                let label = |name: &str| {
                    metric
                        .get_label()
                        .iter()
                        .find(|l| l.name() == name)
                        .map_or("", |l| l.value())
                };
                let route = label("route");
                if route != "none" && !served(route) {
                    let _ = self.requests.remove_label_values(&[route, label("status")]);
                }
            }
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding does not fail");
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// `2xx`, `4xx`, … for a status code; `none` when no response was written.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "none",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(m: &Metrics) -> String {
        String::from_utf8(m.render()).unwrap()
    }

    #[test]
    fn series_of_routes_no_longer_served_are_dropped() {
        let m = Metrics::new();
        for (route, status) in [
            ("kept", "2xx"),
            ("gone", "2xx"),
            ("gone", "5xx"),
            ("none", "4xx"),
        ] {
            m.requests.with_label_values(&[route, status]).inc();
        }
        m.forget_routes_not_in(|id| id == "kept");
        let text = rendered(&m);
        assert!(text.contains("route=\"kept\",status=\"2xx\"} 1"), "{text}");
        assert!(text.contains("route=\"none\",status=\"4xx\"} 1"), "{text}");
        assert!(!text.contains("gone"), "{text}");
    }
}
