//! What the proxy keeps about one request while serving it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use passthru_routes::Route;

use crate::cors;
use crate::in_flight::InFlight;
use crate::key::ClientKey;
use crate::metrics::RouteSeries;
use crate::serving_table::ServingTable;

/// Per request: the table loaded once at the start, the route it chose, and what the access log
/// and the metrics report about it.
pub struct RequestCtx {
    pub(super) table: Option<Arc<ServingTable>>,
    pub(super) route: Option<usize>,
    /// The client's `x-request-id` when sane, else a generated one ([`crate::client::request_id`]).
    pub(super) request_id: String,
    /// When the request header had been read.
    pub(super) started: Instant,
    /// The normalised request path, for the access log (empty when it could not be normalised).
    pub(super) path: String,
    /// The upstream's address and status, once known.
    pub(super) upstream_addr: Option<SocketAddr>,
    pub(super) upstream_status: Option<u16>,
    /// From choosing the upstream to its response header, and to its first body chunk.
    pub(super) ttfb: Option<Duration>,
    pub(super) first_chunk: Option<Duration>,
    /// Why the proxy answered itself, and pingora's error kind when there was one.
    pub(super) error: Option<&'static str>,
    pub(super) cause: Option<&'static str>,
    /// Upstream request target: path and query.
    pub(super) target: String,
    /// The request is a WebSocket upgrade ([`crate::forward::is_upgrade`]); only then may a 101 tunnel.
    pub(super) upgrade: bool,
    /// The key presented on an `auth: true` route: nothing that carries it goes upstream.
    pub(super) client_key: Option<ClientKey>,
    /// `Access-Control-*` headers every response to this request carries.
    pub(super) cors: cors::Headers,
    pub(super) upstream_started: Option<Instant>,
    pub(super) _in_flight: InFlight,
}

impl RequestCtx {
    pub(super) fn route(&self) -> Option<&Route> {
        Some(&self.table.as_ref()?.table.routes()[self.route?])
    }

    /// The chosen route's id and metric series.
    pub(super) fn series(&self) -> Option<(&str, &RouteSeries)> {
        let (table, index) = (self.table.as_ref()?, self.route?);
        Some((table.table.routes()[index].id.as_str(), table.series(index)))
    }

    /// The time since the upstream was chosen, passed with the route's id and series to
    /// `record`; None before an upstream was chosen.
    pub(super) fn upstream_elapsed(
        &self,
        record: impl FnOnce(&str, &RouteSeries, Duration),
    ) -> Option<Duration> {
        let elapsed = self.upstream_started?.elapsed();
        if let Some((id, series)) = self.series() {
            record(id, series, elapsed);
        }
        Some(elapsed)
    }
}
