//! The access log line of a request (README "Access log").

use std::time::{Duration, SystemTime};

use pingora::proxy::Session;

use super::{PassthruProxy, RequestCtx};
use crate::access_log::AccessLine;
use crate::client;

impl PassthruProxy {
    /// One access log line (README "Access log"). Never the query string, a header value or a
    /// key: the path is the normalised one (no query), and only the names of the query's
    /// parameters when `--access-log-query-names` asks for them. Called from `logging`,
    /// pingora's last hook for a request, so the line takes the request id and path from `ctx`
    /// instead of copying them.
    pub(super) fn access_log(
        &self,
        session: &Session,
        ctx: &mut RequestCtx,
        status: u16,
        duration: Duration,
        received: usize,
        sent: usize,
    ) {
        let req = session.req_header();
        let peer = session.client_addr().and_then(|a| a.as_inet()).copied();
        let path = if ctx.path.is_empty() {
            // Refused before it could be normalised (400): the raw path, escaped by the
            // serialiser, without the query.
            req.uri.path().to_owned()
        } else {
            std::mem::take(&mut ctx.path)
        };
        let ms = |d: Duration| (d.as_micros() as u64 as f64) / 1000.0;
        AccessLine {
            timestamp: SystemTime::now(),
            request_id: std::mem::take(&mut ctx.request_id),
            client: peer,
            client_ip: peer.map(|p| client::client_ip(req, p.ip(), &self.options.trusted_proxies)),
            method: req.method.clone(),
            path,
            query_names: req
                .uri
                .query()
                .filter(|_| self.options.access_log_query_names)
                .map(query_names),
            route: ctx.route().map(|r| r.id.as_str().to_owned()),
            status,
            upstream: ctx.upstream_addr,
            upstream_status: ctx.upstream_status,
            bytes_received: received as u64,
            bytes_sent: sent as u64,
            duration_ms: ms(duration),
            ttfb_ms: ctx.ttfb.map(ms),
            first_chunk_ms: ctx.first_chunk.map(ms),
            upgraded: ctx.upgrade && status == 101,
            error: ctx.error,
            cause: ctx.cause,
        }
        .write();
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
