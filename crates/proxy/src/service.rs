//! The pingora `ProxyHttp` implementation: route, authenticate, forward.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use passthru_routes::{
    normalize_request_path, percent_decode_path, Cors, ForwardedHeaders, GrantRefusal, KeyStatus,
    Lookup, Method, RequestPaths, Route,
};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::ErrorType;

use crate::client::{self, TrustedProxies};
use crate::cors;
use crate::forward;
use crate::in_flight::InFlight;
use crate::key::{presented_key, query_without_key, ClientKey, KeySources, PresentedKey};
use crate::metrics::status_class;
use crate::serving_table::ServingTable;
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

/// Per request: the table loaded once at the start, the route it chose, and what the access log
/// and the metrics report about it.
pub struct RequestCtx {
    table: Option<Arc<ServingTable>>,
    route: Option<usize>,
    /// The client's `x-request-id` when sane, else a generated one ([`client::request_id`]).
    request_id: String,
    /// When the request header had been read.
    started: Instant,
    /// The normalised request path, for the access log (empty when it could not be normalised).
    path: String,
    /// The upstream's address and status, once known.
    upstream_addr: Option<SocketAddr>,
    upstream_status: Option<u16>,
    /// From choosing the upstream to its response header, and to its first body chunk.
    ttfb: Option<Duration>,
    first_chunk: Option<Duration>,
    /// Why the proxy answered itself, and pingora's error kind when there was one.
    error: Option<&'static str>,
    cause: Option<&'static str>,
    /// Upstream request target: path and query.
    target: String,
    /// The request is a WebSocket upgrade ([`forward::is_upgrade`]); only then may a 101 tunnel.
    upgrade: bool,
    /// The key presented on an `auth: true` route: nothing that carries it goes upstream.
    client_key: Option<ClientKey>,
    /// `Access-Control-*` headers every response to this request carries.
    cors: cors::Headers,
    upstream_started: Option<Instant>,
    _in_flight: InFlight,
}

impl RequestCtx {
    fn route(&self) -> Option<&Route> {
        Some(&self.table.as_ref()?.table.routes()[self.route?])
    }
}

/// A short JSON error: `{"error": {"status": 404, "message": "…", "request_id": "…"}}`.
async fn respond_json(
    session: &mut Session,
    status: u16,
    message: &str,
    allow: Option<String>,
    cors: &cors::Headers,
    request_id: &str,
) -> Result<bool> {
    let body = serde_json::json!({
        "error": { "status": status, "message": message, "request_id": request_id }
    })
    .to_string();
    let mut resp = ResponseHeader::build(status, Some(5))?;
    resp.insert_header("content-type", "application/json")?;
    resp.insert_header(client::REQUEST_ID, request_id)?;
    resp.insert_header("content-length", body.len().to_string())?;
    if let Some(allow) = allow {
        resp.insert_header("allow", allow)?;
    }
    for (name, value) in cors {
        resp.insert_header(name.clone(), value.clone())?;
    }
    session.write_response_header(Box::new(resp), false).await?;
    session
        .write_response_body(Some(Bytes::from(body)), true)
        .await?;
    Ok(true)
}

/// Why a request is answered by the proxy itself instead of going upstream.
#[derive(Debug)]
pub struct Refusal {
    pub status: u16,
    pub message: String,
    pub allow: Option<String>,
    /// The route that matched, when one did (for metrics).
    pub route: Option<usize>,
}

impl Refusal {
    fn new(status: u16, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            message: message.into(),
            allow: None,
            route: None,
        }
    }
}

/// Where a request goes.
#[derive(Debug)]
pub struct Routed {
    /// The route's index in the table.
    pub index: usize,
    /// Upstream path and query.
    pub target: String,
    /// The key the client presented on an `auth: true` route.
    pub client_key: Option<ClientKey>,
}

/// Routes one request: the index of its route and the upstream path and query, or the answer
/// the proxy gives itself (DESIGN.md §4: 400, 401, 404, 405, 501, 503).
/// `log_path` gets the normalised path, for the access log.
pub fn route_request(
    table: &ServingTable,
    req: &RequestHeader,
    log_path: &mut String,
) -> Result<Routed, Refusal> {
    let method_name = req.method.as_str();
    let Some(method) = Method::from_request(method_name) else {
        let hint = match Method::parse(method_name) {
            Some(m) => format!(" (methods are case-sensitive: {m})"),
            None => String::new(),
        };
        return Err(Refusal::new(
            501,
            format!("method {method_name} is not supported{hint}"),
        ));
    };
    let path =
        normalize_request_path(req.uri.path()).map_err(|why| Refusal::new(400, why.to_string()))?;
    log_path.push_str(&path);
    let (index, subpath) = match table.table.lookup(&path, method) {
        Lookup::Found(m) => (m.index, m.subpath),
        Lookup::MethodNotAllowed { allowed } => {
            return Err(Refusal {
                allow: Some(allowed.to_allow_header()),
                ..Refusal::new(405, format!("method {method} is not allowed on {path}"))
            })
        }
        Lookup::NotFound => return Err(Refusal::new(404, format!("no route for {path}"))),
    };
    let route = &table.table.routes()[index];
    let refuse = |status, message: String| Refusal {
        route: Some(index),
        ..Refusal::new(status, message)
    };
    let client_key = match route.auth {
        true => Some(check_key(table, req, index, &path, subpath)?),
        false => None,
    };
    if let Err(why) = table.headers(index) {
        tracing::error!(route = %route.id, "503: {why}");
        return Err(refuse(
            503,
            format!("route {} is misconfigured: {why}", route.id),
        ));
    }
    let mut target = forward::upstream_path(&route.target, subpath);
    // A key sent as `?key=` is the client's, never the upstream's.
    let client_query = match req.uri.query() {
        Some(q) if route.auth && path.contains("generateContent") => {
            Some(Cow::Owned(query_without_key(q)))
        }
        q => q.map(Cow::Borrowed),
    };
    let query = forward::merge_query(
        &route.default_query_params,
        route.target.query(),
        client_query.as_deref(),
    );
    if let Some(query) = query {
        target.push('?');
        target.push_str(&query);
    }
    Ok(Routed {
        index,
        target,
        client_key,
    })
}

/// Answers `Expect: 100-continue` once the request is routed and authorised, so the client sends
/// its body (curl otherwise waits a second, other clients until their timeout). The upstream
/// never sees the expectation ([`forward::rewrite_request`]); a refused request gets its final
/// status instead, and its unsent body is never awaited.
async fn continue_if_expected(session: &mut Session) -> Result<()> {
    if !forward::expects_continue(session.req_header()) || session.is_body_done() {
        return Ok(());
    }
    // pingora turns keep-alive off for any response written before the body is read, 100
    // included; the final response decides that again, so keep what the client asked for.
    let keepalive = session.get_keepalive();
    session.write_continue_response().await?;
    session.set_keepalive(keepalive);
    Ok(())
}

/// The API key of a request to the `auth: true` route `index`: present, known, unexpired, and
/// allowed on this path (401 or 403 otherwise). `path` is the normalised request path.
fn check_key(
    table: &ServingTable,
    req: &RequestHeader,
    index: usize,
    path: &str,
    subpath: &str,
) -> Result<ClientKey, Refusal> {
    let route = &table.table.routes()[index];
    let file = table.table.file();
    let refuse = |status, message: String| Refusal {
        route: Some(index),
        ..Refusal::new(status, message)
    };
    let from = KeySources {
        key_header_name: file.key_header_name(),
        route,
        exact_path: path == route.path,
        path,
    };
    let (key, carrier) = match presented_key(req, &from) {
        PresentedKey::Key(key, carrier) => (key, carrier),
        PresentedKey::Malformed(why) => return Err(refuse(401, why.to_owned())),
        PresentedKey::Missing => {
            return Err(refuse(
                401,
                "this route requires an API key: send `Authorization: Bearer <key>`".into(),
            ))
        }
    };
    let grants = match table.table.key_status(&key, SystemTime::now()) {
        KeyStatus::Valid(grants) => grants,
        KeyStatus::Expired => return Err(refuse(401, "the API key has expired".into())),
        KeyStatus::Unknown => return Err(refuse(401, "the API key is not valid".into())),
    };
    if let Some(prefix) = file.key_prefix() {
        if !grants.admin && !key.starts_with(prefix.as_bytes()) {
            return Err(refuse(
                401,
                format!("the API key is not valid: virtual keys start with {prefix:?}"),
            ));
        }
    }
    let client_key = ClientKey {
        key: key.into_owned(),
        carrier,
    };
    if grants.is_unscoped() {
        return Ok(client_key);
    }
    let decoded = percent_decode_path(req.uri.path());
    let paths = RequestPaths {
        normalized: path,
        decoded: &decoded,
        at_subpath_root: route.include_subpath && subpath.is_empty(),
    };
    grants.decide(&paths).map(|()| client_key).map_err(|why| {
        let rule = match why {
            GrantRefusal::Denied(entry) => {
                format!("`{entry}` in the key's `deny` list matches {path}")
            }
            GrantRefusal::NotAllowed => format!("the key's `allow` list has no entry for {path}"),
            GrantRefusal::NotInOnly => format!("the key's `only` list has no entry for {path}"),
        };
        refuse(
            403,
            format!("the API key may not use route {}: {rule}", route.id),
        )
    })
}

/// The CORS policy for a request: its route's, else the table's. A preflight is matched with
/// the method it asks about.
fn cors_policy<'t>(table: &'t ServingTable, req: &RequestHeader) -> Option<&'t Cors> {
    let file_policy = table.table.file().cors();
    if !table.route_cors {
        return file_policy;
    }
    let method = if cors::is_preflight(req) {
        cors::requested_method(req)
    } else {
        Some(req.method.as_str())
    };
    let route_policy = (|| {
        let method = Method::from_request(method?)?;
        let path = normalize_request_path(req.uri.path()).ok()?;
        match table.table.lookup(&path, method) {
            Lookup::Found(m) => m.route.cors.as_ref(),
            _ => None,
        }
    })();
    route_policy.or(file_policy)
}

/// 200 with the preflight's grant and no body worth reading, as Starlette answers.
async fn respond_preflight(
    session: &mut Session,
    headers: cors::Headers,
    request_id: &str,
) -> Result<bool> {
    let mut resp = ResponseHeader::build(200, Some(headers.len() + 3))?;
    resp.insert_header("content-type", "text/plain; charset=utf-8")?;
    resp.insert_header(client::REQUEST_ID, request_id)?;
    resp.insert_header("content-length", "2")?;
    for (name, value) in headers {
        resp.insert_header(name, value)?;
    }
    session.write_response_header(Box::new(resp), false).await?;
    session
        .write_response_body(Some(Bytes::from_static(b"OK")), true)
        .await?;
    Ok(true)
}

/// Removes `root` from the start of the request path (at a segment boundary); false when the
/// path is not under it.
fn strip_root_path(req: &mut RequestHeader, root: &str) -> bool {
    let path = req.uri.path();
    let rest = match path.strip_prefix(root) {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => return false,
    };
    let path_and_query = match req.uri.query() {
        Some(query) => format!("{rest}?{query}"),
        None => rest.to_owned(),
    };
    match path_and_query.parse::<http::Uri>() {
        Ok(uri) => {
            req.set_uri(uri);
            true
        }
        Err(_) => false,
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
        let policy = cors_policy(&table, req);
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
        let route = ctx.route().expect("request_filter chose a route");
        let target = &route.target;
        let host = target.host().trim_start_matches('[').trim_end_matches(']');
        let table = ctx.table.as_ref().expect("request_filter loaded the table");
        let addr = table.resolve(host, target.port()).await.ok_or_else(|| {
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
            configured,
            table.table.file().key_header_name(),
            ctx.client_key.as_ref(),
        )?;
        let is_configured = |name: &str| configured.iter().any(|(n, _)| n.as_str() == name);
        if !is_configured(client::REQUEST_ID) {
            upstream_request.insert_header(client::REQUEST_ID, &ctx.request_id)?;
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
        if let Some(started) = ctx.upstream_started {
            let elapsed = started.elapsed();
            ctx.ttfb = Some(elapsed);
            if let Some(route) = ctx.route() {
                self.shared
                    .metrics
                    .upstream_seconds
                    .with_label_values(&[route.id.as_str()])
                    .observe(elapsed.as_secs_f64());
            }
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
        if let Some(theirs) = upstream_response.remove_header(client::REQUEST_ID) {
            if theirs.as_bytes() != ctx.request_id.as_bytes() {
                upstream_response.insert_header("x-upstream-request-id", theirs)?;
            }
        }
        upstream_response.insert_header(client::REQUEST_ID, &ctx.request_id)?;
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
            if let Some(started) = ctx.upstream_started {
                let elapsed = started.elapsed();
                ctx.first_chunk = Some(elapsed);
                if let Some(route) = ctx.route() {
                    self.shared
                        .metrics
                        .upstream_first_chunk_seconds
                        .with_label_values(&[route.id.as_str()])
                        .observe(elapsed.as_secs_f64());
                }
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
        let code = match e.etype() {
            ErrorType::HTTPStatus(code) => *code,
            ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout
                if e.esource() == &ErrorSource::Upstream =>
            {
                504
            }
            _ => match e.esource() {
                ErrorSource::Upstream => 502,
                ErrorSource::Downstream => match e.etype() {
                    ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => 0,
                    _ => 400,
                },
                ErrorSource::Internal | ErrorSource::Unset => 500,
            },
        };
        ctx.error = Some(match code {
            504 => "upstream_timeout",
            502 if e.esource() == &ErrorSource::Upstream => "upstream_error",
            502 => "bad_upstream_response",
            0 => "client_closed",
            400..=499 => "bad_request",
            _ => "internal_error",
        });
        ctx.cause = Some(e.etype().as_str());
        // A 100 Continue may already be out; the final status still has to follow it.
        let final_written = session
            .response_written()
            .is_some_and(|r| r.status.as_u16() == 101 || !r.status.is_informational());
        if code > 0 && !final_written {
            let message = match (code, ctx.route()) {
                // A status the proxy chose itself carries its reason as context.
                _ if matches!(e.etype(), ErrorType::HTTPStatus(_)) && e.context.is_some() => e
                    .context
                    .as_ref()
                    .map(|c| c.as_str().to_owned())
                    .unwrap_or_default(),
                (504, Some(r)) => format!(
                    "upstream of route {} did not answer within {:?}",
                    r.id, r.timeout
                ),
                (502, Some(r)) => format!(
                    "cannot reach the upstream of route {}: {}",
                    r.id,
                    e.etype().as_str()
                ),
                _ => e.etype().as_str().to_owned(),
            };
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
        let route = ctx.route().map_or("none", |r| r.id.as_str());
        let duration = ctx.started.elapsed();
        let (received, sent) = (session.body_bytes_read(), session.body_bytes_sent());
        let metrics = &self.shared.metrics;
        metrics
            .requests
            .with_label_values(&[route, status_class(status)])
            .inc();
        metrics
            .request_seconds
            .with_label_values(&[route])
            .observe(duration.as_secs_f64());
        if received > 0 {
            metrics
                .request_bytes
                .with_label_values(&[route])
                .inc_by(received as u64);
        }
        if sent > 0 {
            metrics
                .response_bytes
                .with_label_values(&[route])
                .inc_by(sent as u64);
        }
        if self.options.access_log {
            self.access_log(session, ctx, status, duration, received, sent);
        }
    }
}

impl PassthruProxy {
    /// One access log line (README "Access log"). Never the query string, a header value or a
    /// key: the path is the normalised one (no query), and only the names of the query's
    /// parameters when `--access-log-query-names` asks for them.
    fn access_log(
        &self,
        session: &Session,
        ctx: &RequestCtx,
        status: u16,
        duration: Duration,
        received: usize,
        sent: usize,
    ) {
        let req = session.req_header();
        let peer = session.client_addr().and_then(|a| a.as_inet()).copied();
        let client_ip =
            peer.map(|p| client::client_ip(req, p.ip(), &self.options.trusted_proxies).to_string());
        let path: &str = if ctx.path.is_empty() {
            // Refused before it could be normalised (400): the raw path, escaped by the
            // formatter, without the query.
            req.uri.path()
        } else {
            &ctx.path
        };
        let query_names = if self.options.access_log_query_names {
            req.uri.query().map(query_names)
        } else {
            None
        };
        let ms = |d: Duration| (d.as_micros() as f64) / 1000.0;
        tracing::info!(
            target: crate::access_log::TARGET,
            request_id = ctx.request_id.as_str(),
            client = peer.map(|p| p.to_string()),
            client_ip,
            method = req.method.as_str(),
            path,
            query_names,
            route = ctx.route().map(|r| r.id.as_str()),
            status,
            upstream = ctx.upstream_addr.map(|a| a.to_string()),
            upstream_status = ctx.upstream_status,
            bytes_received = received as u64,
            bytes_sent = sent as u64,
            duration_ms = ms(duration),
            ttfb_ms = ctx.ttfb.map(ms),
            first_chunk_ms = ctx.first_chunk.map(ms),
            upgraded = ctx.upgrade && status == 101,
            error = ctx.error,
            cause = ctx.cause,
        );
    }
}

/// The names of a query's `name=value` parameters, comma-separated; a bare token (which could
/// be a key) is left out.
fn query_names(query: &str) -> String {
    let mut names: Vec<&str> = Vec::new();
    for name in query
        .split('&')
        .filter_map(|p| p.split_once('=').map(|(n, _)| n))
    {
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    names.join(",")
}

/// The error kind of an answer the proxy gave without asking an upstream.
fn refusal_kind(status: u16) -> &'static str {
    match status {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "no_route",
        405 => "method_not_allowed",
        501 => "method_not_implemented",
        503 => "route_unavailable",
        _ => "refused",
    }
}

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

#[cfg(test)]
mod tests {
    #[test]
    fn query_names_never_carry_a_value_or_a_bare_token() {
        assert_eq!(
            super::query_names("key=sk-1&alt=sse&key=x&sk-bare&=v&b="),
            "key,alt,b"
        );
    }
}
