//! Where a request goes, or why the proxy answers it itself: the routing and key decision that
//! the running proxy, `test`, `explain` and the LiteLLM case table all call.

use std::borrow::Cow;
use std::time::SystemTime;

use passthru_routes::{
    normalize_request_path, percent_decode_path, GrantRefusal, KeyStatus, Lookup, Method,
    RequestPaths,
};
use pingora::http::RequestHeader;

use crate::forward;
use crate::key::{presented_key, query_without_key, ClientKey, KeySources, PresentedKey};
use crate::serving_table::ServingTable;

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
/// the proxy gives itself (400, 401, 403, 404, 405, 501, 503: DESIGN.md §4).
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

/// The error kind of an answer the proxy gave without asking an upstream.
pub fn refusal_kind(status: u16) -> &'static str {
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

/// Removes `root` from the start of the request path (at a segment boundary); false when the
/// path is not under it.
pub fn strip_root_path(req: &mut RequestHeader, root: &str) -> bool {
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
