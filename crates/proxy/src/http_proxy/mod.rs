//! The pingora `ProxyHttp` implementation: route, authenticate, forward.

mod access_line;
mod context;
mod failure;
mod respond;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use passthru_routes::ForwardedHeaders;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::ErrorType;

pub use context::RequestCtx;
use respond::{continue_if_expected, respond_json, respond_preflight};

use crate::client::{self, TrustedProxies};
use crate::cors;
use crate::forward;
use crate::routing::{refusal_kind, route_request, strip_root_path};
use crate::state::ProxyState;

pub struct PassthruProxy {
    pub shared: Arc<ProxyState>,
    /// `--root-path`: every route is served under this prefix (LiteLLM's `SERVER_ROOT_PATH`).
    pub root_path: Option<String>,
    pub options: ProxyOptions,
}

/// What the command line sets for every request.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// For routes that set no `forwarded_headers` of their own.
    pub forwarded_headers: ForwardedHeaders,
    /// Peers whose `X-Forwarded-For` / `Forwarded` is extended rather than replaced.
    pub trusted_proxies: TrustedProxies,
    /// Write an access log line per request.
    pub access_log: bool,
    /// Add the names (never the values) of the client's query parameters to the access log.
    pub access_log_query_names: bool,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        ProxyOptions {
            forwarded_headers: ForwardedHeaders::Off,
            trusted_proxies: TrustedProxies::default(),
            access_log: true,
            access_log_query_names: false,
        }
    }
}

#[async_trait]
impl ProxyHttp for PassthruProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx {
            table: None,
            route: None,
            request_id: String::new(),
            started: Instant::now(),
            path: String::new(),
            upstream_addr: None,
            upstream_status: None,
            ttfb: None,
            first_chunk: None,
            error: None,
            cause: None,
            target: String::new(),
            upgrade: false,
            client_key: None,
            cors: Vec::new(),
            upstream_started: None,
            _in_flight: self.shared.request_started(),
        }
    }

    async fn early_request_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        // HTTP/1.1 clients may pipeline (RFC 9112 §9.3.2); pingora answers pipelined requests in
        // order only when asked to, and otherwise drops them after a keep-alive response.
        session.set_pipelining_enabled(true);
        ctx.request_id = client::request_id(session.req_header());
        ctx.upgrade = forward::settle_upgrade(session.req_header_mut());
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let none = Vec::new();
        let Some(table) = self.shared.table.load_full() else {
            ctx.error = Some("no_table");
            let id = ctx.request_id.clone();
            return respond_json(session, 404, "no routes are loaded yet", None, &none, &id).await;
        };
        if let Some(root) = &self.root_path {
            if !strip_root_path(session.req_header_mut(), root) {
                ctx.error = Some("not_found");
                let message = format!("no route: every route is served under {root}");
                let id = ctx.request_id.clone();
                return respond_json(session, 404, &message, None, &none, &id).await;
            }
        }
        let req = session.req_header();
        let policy = cors::policy(&table, req);
        if let (Some(policy), true) = (policy, cors::is_preflight(req)) {
            // Answered here, without a key, and never forwarded.
            let id = ctx.request_id.clone();
            return match cors::preflight(policy, req) {
                Ok(headers) => respond_preflight(session, headers, &id).await,
                Err(why) => {
                    ctx.error = Some("cors_refused");
                    respond_json(session, 400, why, None, &none, &id).await
                }
            };
        }
        ctx.cors = match (policy, cors::origin(req)) {
            (Some(policy), Some(origin)) => cors::response_headers(policy, origin),
            _ => Vec::new(),
        };
        let routed = route_request(&table, session.req_header(), &mut ctx.path);
        ctx.table = Some(table);
        match routed {
            Ok(routed) => {
                ctx.route = Some(routed.index);
                ctx.target = routed.target;
                ctx.client_key = routed.client_key;
                continue_if_expected(session).await?;
                Ok(false)
            }
            Err(refusal) => {
                ctx.route = refusal.route;
                ctx.error = Some(refusal_kind(refusal.status));
                respond_json(
                    session,
                    refusal.status,
                    &refusal.message,
                    refusal.allow,
                    &ctx.cors,
                    &ctx.request_id,
                )
                .await
            }
        }
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        let table = ctx.table.as_ref().expect("request_filter loaded the table");
        let index = ctx.route.expect("request_filter chose a route");
        let route = &table.table.routes()[index];
        let target = &route.target;
        let host = target.host_unbracketed();
        let addr = table.upstream_address(index).await.ok_or_else(|| {
            Error::explain(
                ErrorType::ConnectNoRoute,
                format!("cannot resolve upstream host {host}"),
            )
            .into_up()
        })?;
        let sni = if target.is_https() {
            host.to_owned()
        } else {
            String::new()
        };
        let mut peer = HttpPeer::new(addr, target.is_https(), sni);
        let timeout = route.timeout;
        peer.options.connection_timeout = Some(timeout.min(Duration::from_secs(10)));
        peer.options.total_connection_timeout = Some(timeout.min(Duration::from_secs(30)));
        peer.options.read_timeout = Some(timeout);
        peer.options.write_timeout = Some(timeout);
        ctx.upstream_addr = Some(addr);
        ctx.upstream_started = Some(Instant::now());
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let table = ctx.table.as_ref().expect("request_filter loaded the table");
        let index = ctx.route.expect("request_filter chose a route");
        let route = &table.table.routes()[index];
        let configured = table.headers(index).as_deref().unwrap_or_default();
        forward::rewrite_request(
            upstream_request,
            route,
            &ctx.target,
            ctx.upgrade,
            configured,
            table.table.file().key_header_name(),
            ctx.client_key.as_ref(),
        )?;
        let is_configured = |name: &str| configured.iter().any(|(n, _)| n.as_str() == name);
        if !is_configured(client::REQUEST_ID_NAME) {
            upstream_request.insert_header(client::REQUEST_ID_NAME, &ctx.request_id)?;
        }
        let peer = peer_ip(session);
        let trusted = peer.is_some_and(|ip| self.options.trusted_proxies.contains(ip));
        client::set_forwarded(
            upstream_request,
            session.req_header(),
            route
                .forwarded_headers
                .unwrap_or(self.options.forwarded_headers),
            peer,
            trusted,
            if is_tls(session) { "https" } else { "http" },
            is_configured,
        )
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        ctx.upstream_status = Some(upstream_response.status.as_u16());
        let metrics = &self.shared.metrics;
        if let Some(elapsed) =
            ctx.upstream_elapsed(|id, series, t| metrics.record_upstream_header(id, series, t))
        {
            ctx.ttfb = Some(elapsed);
        }
        if let Some(why) = forward::refuse_switch(ctx.upgrade, upstream_response) {
            return Err(Error::explain(ErrorType::HTTPStatus(502), why).into_up());
        }
        forward::rewrite_response(upstream_response);
        for (name, value) in &ctx.cors {
            upstream_response.insert_header(name.clone(), value.clone())?;
        }
        // The client gets the id its request was logged and forwarded under; an upstream's own
        // differing id (OpenAI's `req_…`) is kept beside it.
        if let Some(theirs) = upstream_response.remove_header(&client::REQUEST_ID) {
            if theirs.as_bytes() != ctx.request_id.as_bytes() {
                upstream_response.insert_header(UPSTREAM_REQUEST_ID, theirs)?;
            }
        }
        upstream_response.insert_header(client::REQUEST_ID_NAME, &ctx.request_id)?;
        Ok(())
    }

    fn upstream_response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Duration>> {
        if ctx.first_chunk.is_none() && body.as_ref().is_some_and(|b| !b.is_empty()) {
            let metrics = &self.shared.metrics;
            if let Some(elapsed) = ctx.upstream_elapsed(|id, series, t| {
                metrics.record_upstream_first_chunk(id, series, t)
            }) {
                ctx.first_chunk = Some(elapsed);
            }
        }
        Ok(None)
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let code = failure::status(e);
        ctx.error = Some(failure::kind(code, e));
        ctx.cause = Some(e.etype().as_str());
        // A 100 Continue may already be out; the final status still has to follow it.
        let final_written = session
            .response_written()
            .is_some_and(|r| r.status.as_u16() == 101 || !r.status.is_informational());
        if code > 0 && !final_written {
            let message = failure::message(code, e, ctx.route());
            let _ = respond_json(session, code, &message, None, &ctx.cors, &ctx.request_id).await;
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    /// What pingora's own error lines say about a request: never the query (LiteLLM clients put
    /// keys in `?key=`), and the request id, to find its access log line.
    fn request_summary(&self, session: &Session, ctx: &RequestCtx) -> String {
        let req = session.req_header();
        format!(
            "{} {}, request_id: {}",
            req.method.as_str(),
            req.uri.path(),
            ctx.request_id
        )
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut RequestCtx) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let duration = ctx.started.elapsed();
        let (received, sent) = (session.body_bytes_read(), session.body_bytes_sent());
        self.shared
            .metrics
            .record_request(ctx.series(), status, duration, received, sent);
        if self.options.access_log {
            self.access_log(session, ctx, status, duration, received, sent);
        }
    }
}

/// Where an upstream's own differing request id goes, beside the proxy's.
const UPSTREAM_REQUEST_ID: http::HeaderName =
    http::HeaderName::from_static("x-upstream-request-id");

/// The TCP peer's address.
fn peer_ip(session: &Session) -> Option<IpAddr> {
    session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip())
}

/// True when the client connection is TLS.
fn is_tls(session: &Session) -> bool {
    session.digest().is_some_and(|d| d.ssl_digest.is_some())
}
