//! CORS on the wire (the Fetch standard's CORS protocol, as Starlette's middleware answers it
//! for LiteLLM): preflights are answered by the proxy without a key and never forwarded; other
//! responses to an allowed origin carry the `Access-Control-*` headers.

use http::{HeaderName, HeaderValue};
use passthru_routes::{normalize_request_path, Cors, Lookup, Method, SAFELISTED_HEADERS};
use pingora::http::RequestHeader;

use crate::forward::header_list;
use crate::serving_table::ServingTable;

/// What `*` methods means in a preflight answer.
const ANY_METHODS: &str = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT";

pub type Headers = Vec<(HeaderName, HeaderValue)>;

/// The request's `Origin`, when it has a usable one.
pub fn origin(req: &RequestHeader) -> Option<&str> {
    req.headers.get(http::header::ORIGIN)?.to_str().ok()
}

/// True for a CORS preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
pub fn is_preflight(req: &RequestHeader) -> bool {
    req.method == http::Method::OPTIONS
        && req.headers.contains_key(http::header::ORIGIN)
        && req
            .headers
            .contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The method a preflight asks about.
pub fn requested_method(req: &RequestHeader) -> Option<&str> {
    req.headers
        .get(http::header::ACCESS_CONTROL_REQUEST_METHOD)?
        .to_str()
        .ok()
}

/// The answer to a preflight: 200 with the grant, or 400 naming what is not allowed.
pub fn preflight(cors: &Cors, req: &RequestHeader) -> Result<Headers, &'static str> {
    let origin = origin(req).ok_or("the preflight's Origin is not readable")?;
    let method = requested_method(req).ok_or("the preflight's method is not readable")?;
    if !cors.allows_origin(origin) {
        return Err("disallowed CORS origin");
    }
    if !cors.allows_method(method) {
        return Err("disallowed CORS method");
    }
    let requested: Vec<&str> =
        header_list(&req.headers, http::header::ACCESS_CONTROL_REQUEST_HEADERS).collect();
    if !requested.iter().all(|h| cors.allows_header(h)) {
        return Err("disallowed CORS headers");
    }
    let mut out = allow_origin(cors, origin);
    let methods = if cors.allow_methods.iter().any(|m| m == "*") {
        ANY_METHODS.to_owned()
    } else {
        cors.allow_methods.join(", ")
    };
    push(
        &mut out,
        http::header::ACCESS_CONTROL_ALLOW_METHODS,
        &methods,
    );
    let headers = if cors.allow_headers.iter().any(|h| h == "*") {
        requested.join(", ")
    } else {
        let mut names: Vec<&str> = SAFELISTED_HEADERS.to_vec();
        names.extend(cors.allow_headers.iter().map(String::as_str));
        names.join(", ")
    };
    if !headers.is_empty() {
        push(
            &mut out,
            http::header::ACCESS_CONTROL_ALLOW_HEADERS,
            &headers,
        );
    }
    push(
        &mut out,
        http::header::ACCESS_CONTROL_MAX_AGE,
        &cors.max_age.to_string(),
    );
    Ok(out)
}

/// The headers an actual response to `origin` carries; none for an origin not allowed.
pub fn response_headers(cors: &Cors, origin: &str) -> Headers {
    if !cors.allows_origin(origin) {
        return Vec::new();
    }
    let mut out = allow_origin(cors, origin);
    if !cors.expose_headers.is_empty() {
        push(
            &mut out,
            http::header::ACCESS_CONTROL_EXPOSE_HEADERS,
            &cors.expose_headers.join(", "),
        );
    }
    out
}

/// `Access-Control-Allow-Origin` (`*`, or the origin itself with `Vary: Origin`) and
/// `Access-Control-Allow-Credentials`.
fn allow_origin(cors: &Cors, origin: &str) -> Headers {
    let mut out = Vec::new();
    if cors.allows_any_origin() && !cors.allow_credentials {
        push(&mut out, http::header::ACCESS_CONTROL_ALLOW_ORIGIN, "*");
    } else {
        push(&mut out, http::header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        push(&mut out, http::header::VARY, "Origin");
    }
    if cors.allow_credentials {
        push(
            &mut out,
            http::header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            "true",
        );
    }
    out
}

fn push(out: &mut Headers, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        out.push((name, value));
    }
}

/// The CORS policy for a request: its route's, else the table's. A preflight is matched with
/// the method it asks about.
pub fn policy<'t>(table: &'t ServingTable, req: &RequestHeader) -> Option<&'t Cors> {
    let file_policy = table.table.file().cors();
    if !table.route_cors {
        return file_policy;
    }
    let method = if is_preflight(req) {
        requested_method(req)
    } else {
        Some(req.method.as_str())
    };
    let route_policy = (|| {
        let method = Method::from_request(method?)?;
        let path = normalize_request_path(req.uri.path()).ok()?;
        match table.table.lookup(&path, method) {
            Lookup::Found(m) => m.route.cors.as_deref(),
            _ => None,
        }
    })();
    route_policy.or(file_policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A policy as the routes file's top-level `cors` reads it.
    fn policy(yaml: &str) -> Cors {
        let file = format!("version: 1\nroutes: []\ncors: {yaml}\n");
        passthru_routes::RoutesFile::parse(file.as_bytes())
            .unwrap()
            .cors()
            .unwrap()
            .clone()
    }

    fn preflight_request(origin: &str, method: &str, headers: &str) -> RequestHeader {
        let mut req = RequestHeader::build("OPTIONS", b"/a", None).unwrap();
        req.insert_header("origin", origin).unwrap();
        req.insert_header("access-control-request-method", method)
            .unwrap();
        if !headers.is_empty() {
            req.insert_header("access-control-request-headers", headers)
                .unwrap();
        }
        req
    }

    fn value<'h>(headers: &'h Headers, name: &str) -> Option<&'h str> {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.to_str().ok())
    }

    #[test]
    fn a_permissive_policy_answers_any_origin_with_a_star_and_echoes_asked_headers() {
        let cors = Cors::permissive();
        let req = preflight_request("https://app.example", "POST", "content-type, x-api-key");
        let out = preflight(&cors, &req).unwrap();
        assert_eq!(value(&out, "access-control-allow-origin"), Some("*"));
        assert_eq!(
            value(&out, "access-control-allow-headers"),
            Some("content-type, x-api-key")
        );
        assert_eq!(value(&out, "access-control-max-age"), Some("600"));
    }

    #[test]
    fn a_listed_origin_is_reflected_with_vary_and_credentials() {
        let cors = policy(
            "{allow_origins: ['https://app.example'], allow_credentials: true, allow_headers: [content-type]}",
        );
        let out = preflight(&cors, &preflight_request("https://app.example", "GET", "")).unwrap();
        assert_eq!(
            value(&out, "access-control-allow-origin"),
            Some("https://app.example")
        );
        assert_eq!(value(&out, "vary"), Some("Origin"));
        assert_eq!(
            value(&out, "access-control-allow-credentials"),
            Some("true")
        );
    }

    #[test]
    fn an_unknown_origin_method_or_header_is_refused() {
        let cors = policy("{allow_origins: ['https://app.example'], allow_methods: [GET]}");
        assert!(preflight(&cors, &preflight_request("https://evil.example", "GET", "")).is_err());
        assert!(preflight(
            &cors,
            &preflight_request("https://app.example", "DELETE", "")
        )
        .is_err());
        assert!(preflight(
            &cors,
            &preflight_request("https://app.example", "GET", "x-secret")
        )
        .is_err());
        assert!(response_headers(&cors, "https://evil.example").is_empty());
    }
}
