//! The table the proxy serves: a [`RouteTable`] plus what each route needs at request time,
//! resolved once when the table is built (never per request, never kept across tables).

use std::net::SocketAddr;
use std::sync::OnceLock;

use passthru_routes::{Route, RouteTable};

use crate::configured_headers::{resolve_headers, ResolvedHeaders};
use crate::dns::UpstreamAddresses;
use crate::metrics::RouteSeries;

pub struct ServingTable {
    pub table: RouteTable,
    /// Counts tables built since the process started; the first is 1.
    pub generation: u64,
    /// sha256 of the file's bytes, to skip rebuilding when nothing changed.
    pub content_hash: [u8; 32],
    /// By route index, as [`RouteTable::routes`] orders them.
    headers: Vec<ResolvedHeaders>,
    /// Some route has its own CORS policy: only then does a request need a lookup to find its
    /// policy (most tables have none, or one for the whole table).
    pub route_cors: bool,
    /// By route index: where its upstream is, once it has served a request.
    addresses: UpstreamAddresses,
    /// By route index: its metric series, once it has served a request.
    series: Box<[OnceLock<Box<RouteSeries>>]>,
    /// Route indices in id order, built the first time [`ServingTable::serves_route`] is asked:
    /// only a table whose routes have metric series to keep needs it.
    by_id: OnceLock<Box<[u32]>>,
}

impl ServingTable {
    /// Resolves every route's headers against `env`. A route whose variable is missing (or holds
    /// something that is not a header value) is kept, answering 503, so the others keep serving.
    pub fn build(
        table: RouteTable,
        generation: u64,
        content_hash: [u8; 32],
        env: impl Fn(&str) -> Option<String>,
    ) -> ServingTable {
        let headers = table
            .routes()
            .iter()
            .map(|route| resolve_headers(route, &env))
            .collect();
        let route_cors = table.routes().iter().any(|r| r.cors.is_some());
        let table_len = table.routes().len();
        ServingTable {
            table,
            generation,
            content_hash,
            headers,
            route_cors,
            addresses: UpstreamAddresses::new(table_len),
            series: (0..table_len).map(|_| OnceLock::new()).collect(),
            by_id: OnceLock::new(),
        }
    }

    /// Whether this table has a route with id `id` (whose metric series are kept).
    pub fn serves_route(&self, id: &str) -> bool {
        let routes = self.table.routes();
        let by_id = self.by_id.get_or_init(|| {
            let mut order: Vec<u32> = (0..routes.len() as u32).collect();
            order.sort_unstable_by_key(|&i| routes[i as usize].id.as_str());
            order.into()
        });
        by_id
            .binary_search_by_key(&id, |&i| routes[i as usize].id.as_str())
            .is_ok()
    }

    /// The address to connect to for the upstream of the route at `index`
    /// ([`UpstreamAddresses::resolve`]).
    pub async fn upstream_address(&self, index: usize) -> Option<SocketAddr> {
        let target = &self.table.routes()[index].target;
        self.addresses
            .resolve(index, target.host_unbracketed(), target.port())
            .await
    }

    /// The sha256 of the file bytes this table was built from, as 64 hex digits.
    pub fn content_hash_hex(&self) -> String {
        crate::routes_file::hex(&self.content_hash)
    }

    /// The metric series of the route at `index` ([`RouteSeries`]).
    pub fn series(&self, index: usize) -> &RouteSeries {
        self.series[index].get_or_init(Box::default)
    }

    pub fn headers(&self, index: usize) -> &ResolvedHeaders {
        &self.headers[index]
    }

    /// Routes that cannot be served, with the reason, for logs and `/readyz`.
    pub fn broken_routes(&self) -> impl Iterator<Item = (&Route, &str)> {
        self.table
            .routes()
            .iter()
            .zip(&self.headers)
            .filter_map(|(r, h)| h.as_ref().err().map(|why| (r, why.as_str())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use passthru_routes::RoutesFile;

    fn table(yaml: &str) -> RouteTable {
        RouteTable::new(
            RoutesFile::parse(format!("version: 1\nroutes:\n{yaml}").as_bytes()).unwrap(),
        )
    }

    #[test]
    fn the_table_serves_the_ids_of_its_routes_and_no_other() {
        let t = table("- {id: b, path: /b, target: 'http://x'}\n- {id: a, path: /z, target: 'http://x'}\n- {id: c, path: /a, target: 'http://x'}\n");
        let serving = ServingTable::build(t, 1, [0; 32], |_| None);
        for id in ["a", "b", "c"] {
            assert!(serving.serves_route(id), "{id}");
        }
        for id in ["", "d", "auto-0"] {
            assert!(!serving.serves_route(id), "{id}");
        }
    }

    #[test]
    fn environment_references_resolve_when_the_table_is_built() {
        let t = table(
            "- {path: /a, target: 'http://x', headers: {authorization: 'Bearer os.environ/K'}}\n",
        );
        let serving = ServingTable::build(t, 1, [0; 32], |n| (n == "K").then(|| "v".into()));
        let headers = serving.headers(0).as_ref().unwrap();
        assert_eq!(headers[0].1, "Bearer v");
    }

    #[test]
    fn the_langfuse_key_pair_becomes_one_basic_authorization() {
        let t = table(
            "- {path: /lf, target: 'http://x', headers: {LANGFUSE_PUBLIC_KEY: pk-1, LANGFUSE_SECRET_KEY: os.environ/LF_SECRET}}\n",
        );
        let serving =
            ServingTable::build(t, 1, [0; 32], |n| (n == "LF_SECRET").then(|| "sk-2".into()));
        let headers = serving.headers(0).as_ref().unwrap();
        assert_eq!(headers.len(), 1);
        assert_eq!(headers[0].0, "authorization");
        // base64("pk-1:sk-2")
        assert_eq!(headers[0].1, "Basic cGstMTpzay0y");
    }

    #[test]
    fn half_a_langfuse_pair_makes_the_route_unservable() {
        let t = table("- {path: /lf, target: 'http://x', headers: {LANGFUSE_PUBLIC_KEY: pk-1}}\n");
        let serving = ServingTable::build(t, 1, [0; 32], |_| None);
        assert!(serving
            .headers(0)
            .as_ref()
            .unwrap_err()
            .contains("needs both"));
    }

    #[test]
    fn a_missing_variable_makes_only_its_route_unservable() {
        let t = table("- {id: a, path: /a, target: 'http://x', headers: {x: os.environ/MISSING}}\n- {id: b, path: /b, target: 'http://x'}\n");
        let serving = ServingTable::build(t, 1, [0; 32], |_| None);
        let broken: Vec<&str> = serving
            .broken_routes()
            .map(|(r, _)| r.id.as_str())
            .collect();
        assert_eq!(broken, ["a"]);
        assert!(serving
            .headers(0)
            .as_ref()
            .unwrap_err()
            .contains("os.environ/MISSING"));
    }

    #[test]
    fn a_variable_holding_a_line_break_is_refused() {
        let t = table("- {path: /a, target: 'http://x', headers: {x: os.environ/K}}\n");
        let serving = ServingTable::build(t, 1, [0; 32], |_| Some("a\r\nx-injected: 1".into()));
        assert!(serving.headers(0).is_err());
    }
}
