//! The state of a running proxy, shared by the proxy service, the reloader and the admin
//! listener: the table being served, the metrics, and the requests in flight.

use arc_swap::ArcSwapOption;

use crate::in_flight::{InFlight, InFlightCount};
use crate::metrics::Metrics;
use crate::serving_table::ServingTable;

pub struct ProxyState {
    /// None until a table has loaded: the proxy answers 404 and `/readyz` 503.
    pub table: ArcSwapOption<ServingTable>,
    pub metrics: Metrics,
    in_flight: InFlightCount,
}

impl ProxyState {
    pub fn new() -> ProxyState {
        ProxyState {
            table: ArcSwapOption::empty(),
            metrics: Metrics::new(),
            in_flight: InFlightCount::default(),
        }
    }

    /// Counts a request as in flight until the returned guard drops.
    pub fn request_started(&self) -> InFlight {
        self.in_flight.start()
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.get()
    }

    /// The Prometheus text of every metric. A request that finished on an older table can
    /// re-create its route's series after the reload that removed the route dropped them, so
    /// the series of routes the served table lacks are dropped again before each scrape.
    pub fn metrics_text(&self) -> Vec<u8> {
        if let Some(t) = self.table.load().as_ref() {
            self.metrics.forget_routes_not_in(|id| t.serves_route(id));
        }
        self.metrics.render()
    }

    /// The one-line state systemd shows (`systemctl status`): what is being served.
    pub fn status_line(&self) -> String {
        match self.table.load().as_ref() {
            Some(t) => format!(
                "serving {} routes (generation {}, {} unservable)",
                t.table.routes().len(),
                t.generation,
                t.broken_routes().count()
            ),
            None => "no routes loaded yet; answering 404".to_owned(),
        }
    }
}

impl Default for ProxyState {
    fn default() -> Self {
        ProxyState::new()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use passthru_routes::{RouteTable, RoutesFile};

    use super::*;
    use crate::metrics::RouteSeries;

    #[test]
    fn a_scrape_never_shows_a_series_re_created_for_a_removed_route() {
        let state = ProxyState::new();
        let file = RoutesFile::parse(
            b"version: 1\nroutes:\n- {id: kept, path: /k, target: 'http://127.0.0.1:9', auth: false}\n",
        )
        .unwrap();
        let table = ServingTable::build(RouteTable::new(file), 1, [0; 32], |_| None);
        state.table.store(Some(Arc::new(table)));
        // A request that ran on an older table finishes after the reload dropped its route.
        let series = RouteSeries::default();
        state
            .metrics
            .record_request(Some(("gone", &series)), 200, Duration::from_millis(1), 0, 0);
        let text = String::from_utf8(state.metrics_text()).unwrap();
        assert!(!text.contains("route=\"gone\""), "{text}");
    }
}
