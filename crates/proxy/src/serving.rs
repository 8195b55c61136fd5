//! The table the proxy serves: a [`RouteTable`] plus what each route needs at request time,
//! resolved once when the table is built (never per request, never kept across tables).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use http::{HeaderName, HeaderValue};
use passthru_routes::{Route, RouteTable};

use crate::metrics::Metrics;

/// A route's configured headers with `os.environ/` resolved, or why the route cannot be served.
pub type ResolvedHeaders = Result<Vec<(HeaderName, HeaderValue)>, String>;

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
    /// Upstream host names resolved while this table serves. Bounded by the table's hosts and
    /// dropped with the table, like everything else built for it.
    dns: Mutex<HashMap<(String, u16), (SocketAddr, Instant)>>,
}

/// How long a resolved upstream address is reused before the name is looked up again.
const DNS_TTL: Duration = Duration::from_secs(30);

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
        ServingTable {
            table,
            generation,
            content_hash,
            headers,
            route_cors,
            dns: Mutex::new(HashMap::new()),
        }
    }

    /// The address to connect to for `host:port`. IP literals need no lookup; names are resolved
    /// on tokio's blocking pool (never blocking the event loop, never panicking) and reused for
    /// [`DNS_TTL`], so a request does not pay a DNS query each time.
    pub async fn resolve(&self, host: &str, port: u16) -> Option<SocketAddr> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Some(SocketAddr::new(ip, port));
        }
        let key = (host.to_owned(), port);
        if let Some((addr, at)) = self.dns.lock().unwrap().get(&key) {
            if at.elapsed() < DNS_TTL {
                return Some(*addr);
            }
        }
        let addr = tokio::net::lookup_host((host, port)).await.ok()?.next()?;
        self.dns.lock().unwrap().insert(key, (addr, Instant::now()));
        Some(addr)
    }

    /// The sha256 of the file bytes this table was built from, as 64 hex digits.
    pub fn content_hash_hex(&self) -> String {
        self.content_hash
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
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

/// LiteLLM's langfuse pair: the two route headers become one
/// `Authorization: Basic base64(public:secret)`, as Langfuse's API wants.
const LANGFUSE_PUBLIC: &str = "langfuse_public_key";
const LANGFUSE_SECRET: &str = "langfuse_secret_key";

fn resolve_headers(route: &Route, env: &impl Fn(&str) -> Option<String>) -> ResolvedHeaders {
    let mut out = Vec::with_capacity(route.headers.len());
    let resolve = |name: &str| {
        route.headers.get(name).map(|t| {
            t.resolve(env).map_err(|var| {
                format!("header `{name}` reads os.environ/{var}, which is not set in the proxy's environment")
            })
        })
    };
    match (resolve(LANGFUSE_PUBLIC), resolve(LANGFUSE_SECRET)) {
        (None, None) => {}
        (Some(public), Some(secret)) => {
            use base64::Engine;
            let pair = format!("{}:{}", public?, secret?);
            let basic = base64::engine::general_purpose::STANDARD.encode(pair);
            let value = HeaderValue::from_str(&format!("Basic {basic}"))
                .map_err(|_| "the langfuse key pair is not a valid header value".to_owned())?;
            out.push((http::header::AUTHORIZATION, value));
        }
        _ => {
            return Err(format!(
                "sets only one of `{LANGFUSE_PUBLIC}` and `{LANGFUSE_SECRET}`; LiteLLM's langfuse pair needs both"
            ))
        }
    }
    for (name, template) in &route.headers {
        if name == LANGFUSE_PUBLIC || name == LANGFUSE_SECRET {
            continue;
        }
        let value = template.resolve(env).map_err(|var| {
            format!("header `{name}` reads os.environ/{var}, which is not set in the proxy's environment")
        })?;
        let value = HeaderValue::from_str(&value).map_err(|_| {
            format!(
                "header `{name}`: os.environ/{} holds a value that is not a valid header value",
                template.env_var().unwrap_or_default()
            )
        })?;
        let name = HeaderName::from_bytes(name.as_bytes()).expect("validated by the loader");
        out.push((name, value));
    }
    Ok(out)
}

/// State shared by the proxy, the reloader and the admin listener.
pub struct Shared {
    /// None until a table has loaded: the proxy answers 404 and `/readyz` 503.
    pub table: ArcSwapOption<ServingTable>,
    pub metrics: Metrics,
    in_flight: AtomicUsize,
}

impl Shared {
    pub fn new() -> Shared {
        Shared {
            table: ArcSwapOption::empty(),
            metrics: Metrics::new(),
            in_flight: AtomicUsize::new(0),
        }
    }

    /// Counts a request as in flight until the returned guard drops.
    pub fn request_started(self: &std::sync::Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}

impl Default for Shared {
    fn default() -> Self {
        Shared::new()
    }
}

pub struct InFlight(std::sync::Arc<Shared>);

/// The one-line state systemd shows (`systemctl status`): what is being served.
pub fn status_line(shared: &Shared) -> String {
    match shared.table.load().as_ref() {
        Some(t) => format!(
            "serving {} routes (generation {}, {} unservable)",
            t.table.routes().len(),
            t.generation,
            t.broken_routes().count()
        ),
        None => "no routes loaded yet; answering 404".to_owned(),
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
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
