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
