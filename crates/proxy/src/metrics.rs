//! Prometheus metrics for the admin listener's `/metrics`.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use prometheus::core::{Collector, MetricVec, MetricVecBuilder};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Upstream and request latency buckets, seconds: LLM calls run from milliseconds to minutes.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

pub struct Metrics {
    registry: Registry,
    pub routes: IntGauge,
    pub generation: IntGauge,
    /// `sha256` of the bytes of the table being served.
    table_info: IntGaugeVec,
    /// By result: `ok` (a new table serves), `unchanged` (same bytes), `error` (kept the last good).
    pub reloads: IntCounterVec,
    pub reload_seconds: Histogram,
    /// By route id (`none` when nothing matched) and status class (`2xx` …).
    pub requests: IntCounterVec,
    /// By route: from choosing the upstream to its response header (its first byte).
    pub upstream_seconds: HistogramVec,
    /// By route: from choosing the upstream to the first chunk of its response body (for a
    /// streamed completion, the first token).
    pub upstream_first_chunk_seconds: HistogramVec,
    /// By route (`none` when nothing matched): the whole request as the client saw it.
    pub request_seconds: HistogramVec,
    /// By route: body bytes read from clients.
    pub request_bytes: IntCounterVec,
    /// By route: body bytes sent to clients.
    pub response_bytes: IntCounterVec,
    /// Access log lines dropped because the writer fell behind.
    pub access_log_dropped: IntCounter,
    /// The series of requests no route matched (`route="none"`).
    unrouted: RouteSeries,
}

/// One route's request series, looked up by label on the route's first use and then kept with
/// the table that serves the route ([`crate::serving_table::ServingTable::series`]): a request
/// costs no label hashing or map lookup. Kept with the table rather than with the metrics, a
/// removed route's handles go when its last table does; created on first use rather than at
/// table build, a table of 100k routes costs no series (and shows none) for routes never asked.
#[derive(Default)]
pub struct RouteSeries {
    requests: [OnceLock<IntCounter>; StatusClass::COUNT],
    request_seconds: OnceLock<Histogram>,
    request_bytes: OnceLock<IntCounter>,
    response_bytes: OnceLock<IntCounter>,
    upstream_seconds: OnceLock<Histogram>,
    upstream_first_chunk_seconds: OnceLock<Histogram>,
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
        let by_route = |name: &str, help: &str| {
            HistogramVec::new(
                HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
                &["route"],
            )
            .unwrap()
        };
        let upstream_seconds = by_route(
            "passthru_upstream_latency_seconds",
            "By route: from choosing the upstream to its response header (time to first byte)",
        );
        let upstream_first_chunk_seconds = by_route(
            "passthru_upstream_first_chunk_seconds",
            "By route: from choosing the upstream to the first chunk of its response body",
        );
        let request_seconds = by_route(
            "passthru_request_duration_seconds",
            "By route: from the request header to the last byte of the response",
        );
        let bytes =
            |name: &str, help: &str| IntCounterVec::new(Opts::new(name, help), &["route"]).unwrap();
        let request_bytes = bytes(
            "passthru_request_body_bytes_total",
            "By route: request body bytes read from clients",
        );
        let response_bytes = bytes(
            "passthru_response_body_bytes_total",
            "By route: response body bytes sent to clients",
        );
        let access_log_dropped = IntCounter::new(
            "passthru_access_log_dropped_total",
            "Access log lines dropped because the writer fell behind",
        )
        .unwrap();
        let table_info = IntGaugeVec::new(
            Opts::new(
                "passthru_table_info",
                "The table being served, by the sha256 of the file bytes it was built from; always 1 \
                 (a fleet has converged when every proxy reports one hash)",
            ),
            &["sha256"],
        )
        .unwrap();
        let build_info = IntGaugeVec::new(
            Opts::new(
                "passthru_build_info",
                "The running passthru-proxy; always 1",
            ),
            &["version"],
        )
        .unwrap();
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        for c in [
            Box::new(routes.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(generation.clone()),
            Box::new(reloads.clone()),
            Box::new(reload_seconds.clone()),
            Box::new(requests.clone()),
            Box::new(upstream_seconds.clone()),
            Box::new(upstream_first_chunk_seconds.clone()),
            Box::new(request_seconds.clone()),
            Box::new(request_bytes.clone()),
            Box::new(response_bytes.clone()),
            Box::new(access_log_dropped.clone()),
            Box::new(table_info.clone()),
            Box::new(build_info),
        ] {
            registry.register(c).unwrap();
        }
        // process_cpu_seconds_total, process_resident_memory_bytes, process_open_fds, …
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .unwrap();
        Metrics {
            registry,
            routes,
            generation,
            reloads,
            reload_seconds,
            requests,
            upstream_seconds,
            upstream_first_chunk_seconds,
            request_seconds,
            request_bytes,
            response_bytes,
            access_log_dropped,
            table_info,
            unrouted: RouteSeries::default(),
        }
    }

    /// What one finished request adds: its count by status class, its duration and its body
    /// bytes, under its route's id (`none` when nothing matched).
    pub fn record_request(
        &self,
        route: Option<(&str, &RouteSeries)>,
        status: u16,
        duration: Duration,
        received: usize,
        sent: usize,
    ) {
        let (id, series) = route.unwrap_or(("none", &self.unrouted));
        let class = status_class(status);
        series.requests[class.index()]
            .get_or_init(|| self.requests.with_label_values(&[id, class.label()]))
            .inc();
        series
            .request_seconds
            .get_or_init(|| self.request_seconds.with_label_values(&[id]))
            .observe(duration.as_secs_f64());
        if received > 0 {
            series
                .request_bytes
                .get_or_init(|| self.request_bytes.with_label_values(&[id]))
                .inc_by(received as u64);
        }
        if sent > 0 {
            series
                .response_bytes
                .get_or_init(|| self.response_bytes.with_label_values(&[id]))
                .inc_by(sent as u64);
        }
    }

    /// Observes the time from choosing the upstream to its response header.
    pub fn record_upstream_header(&self, id: &str, series: &RouteSeries, elapsed: Duration) {
        series
            .upstream_seconds
            .get_or_init(|| self.upstream_seconds.with_label_values(&[id]))
            .observe(elapsed.as_secs_f64());
    }

    /// Observes the time from choosing the upstream to the first chunk of its body.
    pub fn record_upstream_first_chunk(&self, id: &str, series: &RouteSeries, elapsed: Duration) {
        series
            .upstream_first_chunk_seconds
            .get_or_init(|| self.upstream_first_chunk_seconds.with_label_values(&[id]))
            .observe(elapsed.as_secs_f64());
    }

    /// Names the table now served (one series at a time).
    pub fn serving_table(&self, sha256_hex: &str) {
        self.table_info.reset();
        self.table_info.with_label_values(&[sha256_hex]).set(1);
    }

    /// Drops the request series of routes that are no longer served, so the series set is bounded
    /// by the table being served, not by every route the process has ever seen. Run at each
    /// reload, and again before each scrape ([`crate::state::ProxyState::metrics_text`]).
    pub fn forget_routes_not_in(&self, served: impl Fn(&str) -> bool) {
        forget(&self.requests, &served);
        forget(&self.upstream_seconds, &served);
        forget(&self.upstream_first_chunk_seconds, &served);
        forget(&self.request_seconds, &served);
        forget(&self.request_bytes, &served);
        forget(&self.response_bytes, &served);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let dropped = crate::access_log::dropped_lines();
        self.access_log_dropped
            .inc_by(dropped.saturating_sub(self.access_log_dropped.get()));
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding does not fail");
        out
    }
}

/// Removes the series of `vec` whose `route` label names a route that is no longer served.
fn forget<T: MetricVecBuilder>(vec: &MetricVec<T>, served: &impl Fn(&str) -> bool) {
    for family in vec.collect() {
        for metric in family.get_metric() {
            let labels: HashMap<&str, &str> = metric
                .get_label()
                .iter()
                .map(|l| (l.name(), l.value()))
                .collect();
            if labels
                .get("route")
                .is_some_and(|route| *route != "none" && !served(route))
            {
                let _ = vec.remove(&labels);
            }
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// The status class a request is counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    Informational,
    Success,
    Redirection,
    ClientError,
    ServerError,
    /// No response was written (the client went away first).
    None,
}

impl StatusClass {
    const COUNT: usize = 6;

    fn index(self) -> usize {
        self as usize
    }

    /// `2xx`, `4xx`, …; `none` when no response was written.
    pub fn label(self) -> &'static str {
        match self {
            StatusClass::Informational => "1xx",
            StatusClass::Success => "2xx",
            StatusClass::Redirection => "3xx",
            StatusClass::ClientError => "4xx",
            StatusClass::ServerError => "5xx",
            StatusClass::None => "none",
        }
    }
}

pub fn status_class(status: u16) -> StatusClass {
    match status {
        100..=199 => StatusClass::Informational,
        200..=299 => StatusClass::Success,
        300..=399 => StatusClass::Redirection,
        400..=499 => StatusClass::ClientError,
        500..=599 => StatusClass::ServerError,
        _ => StatusClass::None,
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
            m.upstream_seconds.with_label_values(&[route]).observe(0.1);
            m.response_bytes.with_label_values(&[route]).inc_by(3);
        }
        m.forget_routes_not_in(|id| id == "kept");
        let text = rendered(&m);
        assert!(text.contains("route=\"kept\",status=\"2xx\"} 1"), "{text}");
        assert!(text.contains("route=\"none\",status=\"4xx\"} 1"), "{text}");
        assert!(!text.contains("gone"), "{text}");
        assert!(
            text.contains("passthru_upstream_latency_seconds_count{route=\"kept\"} 1"),
            "{text}"
        );
    }
}
