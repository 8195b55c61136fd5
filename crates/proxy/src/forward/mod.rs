//! What goes upstream (DESIGN.md §5): the header policy here, the URL and the query precedence in
//! `upstream_url`, the upgrades the proxy tunnels in `upgrade`. Pure functions over pingora's
//! header types, so each rule is tested without a server.

mod upgrade;
mod upstream_url;

use passthru_routes::Route;
use pingora::http::{RequestHeader, ResponseHeader};
use smallvec::SmallVec;

pub use upgrade::{expects_continue, is_upgrade, refuse_switch, settle_upgrade};
pub(crate) use upstream_url::{decode, query_pairs};
pub use upstream_url::{merge_query, upstream_path};

use crate::key;

/// Headers that describe one connection, not the message: never forwarded in either direction.
/// `transfer-encoding` is hop-by-hop too, but pingora frames bodies from it, so it stays.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "proxy-authenticate",
    "proxy-authorization",
];

/// With `forward_headers: false`, the only client headers that go upstream: what carries the body.
const BODY_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "content-encoding",
    "transfer-encoding",
];

/// What to do with `Content-Length` before passing a message on.
#[derive(Debug, PartialEq, Eq)]
enum ContentLength {
    Keep,
    Remove,
    Set(u64),
}

/// `Content-Length` as one decimal value. pingora frames the body by a list of equal values
/// (`4, 4`) or repeated equal headers and refuses unequal ones, but passes the header on as sent;
/// RFC 9110 §8.6 says a recipient that accepts such a list must send one value. Beside
/// `Transfer-Encoding` it goes (RFC 9112 §6.3: TE wins).
fn content_length(headers: &http::HeaderMap) -> ContentLength {
    let mut all = headers.get_all(http::header::CONTENT_LENGTH).iter();
    let Some(only) = all.next() else {
        return ContentLength::Keep;
    };
    if headers.contains_key(http::header::TRANSFER_ENCODING) {
        return ContentLength::Remove;
    }
    // Nearly every message: one value, already in canonical form.
    if all.next().is_none() && is_canonical_decimal(only.as_bytes()) {
        return ContentLength::Keep;
    }
    let values: Vec<&str> = headers
        .get_all(http::header::CONTENT_LENGTH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let Some(first) = values.first().and_then(|v| v.parse::<u64>().ok()) else {
        return ContentLength::Keep;
    };
    if values.len() == 1 && values[0] == first.to_string() {
        ContentLength::Keep
    } else if values.iter().all(|v| v.parse::<u64>().ok() == Some(first)) {
        ContentLength::Set(first)
    } else {
        // Unequal values never get here: pingora refuses them with 400 / 502.
        ContentLength::Keep
    }
}

/// Digits without a leading zero (or `0` alone), as `u64::to_string` writes them.
fn is_canonical_decimal(value: &[u8]) -> bool {
    match value {
        [] => false,
        [b'0'] => true,
        [b'0', ..] => false,
        digits => digits.len() <= 19 && digits.iter().all(u8::is_ascii_digit),
    }
}

/// Names listed in `Connection` are hop-by-hop for this message too (RFC 9110 §7.6.1). Kept
/// inline: nearly every message lists one (`keep-alive`) or none.
fn connection_tokens(headers: &http::HeaderMap) -> SmallVec<[&str; 4]> {
    header_list(headers, http::header::CONNECTION).collect()
}

/// The elements of a comma-separated header (every line of it), trimmed, empty ones skipped;
/// a value that is not visible ASCII is skipped whole.
pub(crate) fn header_list(
    headers: &http::HeaderMap,
    name: impl http::header::AsHeaderName,
) -> impl Iterator<Item = &str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// True when `name` (lower case, as the header map keeps it) is one of the `Connection` tokens.
fn listed_in(tokens: &[&str], name: &str) -> bool {
    tokens.iter().any(|t| t.eq_ignore_ascii_case(name))
}

/// Headers the proxy itself acts on, never forwarded: it answers `Expect: 100-continue` itself,
/// so the upstream must not answer it a second time.
const CONSUMED: &[&str] = &["expect"];

/// Client header names with `_`: CGI-style frameworks read `X_Tenant` and `x-tenant` as one
/// name, so a client could shadow a configured header. Dropped, as nginx does by default.
fn has_underscore(name: &str) -> bool {
    name.contains('_')
}

/// Turns the client's request header into the upstream's: target path and query, `Host`, the
/// header policy of the route, then the route's configured headers, which always win.
/// `upgrade`: the request is one [`is_upgrade`] accepts.
pub fn rewrite_request(
    req: &mut RequestHeader,
    route: &Route,
    path_and_query: &str,
    upgrade: bool,
    configured: &[(http::HeaderName, http::HeaderValue)],
    key_header_name: Option<&str>,
    client_key: Option<&key::ClientKey>,
) -> pingora::Result<()> {
    req.set_raw_path(path_and_query.as_bytes())?;
    let carries_key = |name: &str, value: &http::HeaderValue| {
        client_key.is_some_and(|k| k.is_carried_by(name, value.as_bytes()))
    };
    let mut passed = pass_headers(&req.headers, key_header_name, route);
    passed.retain(|(name, value)| !carries_key(name.as_str(), value));
    let listed = connection_tokens(&req.headers);
    let dropped: SmallVec<[http::HeaderName; 8]> = req
        .headers
        .iter()
        .filter(|(name, value)| {
            let n = name.as_str();
            let keep = if n == "host" {
                true // replaced below
            } else if has_underscore(n) {
                false
            } else if upgrade
                && (n == "upgrade" || n == "connection" || n.starts_with("sec-websocket-"))
            {
                true
            } else if route.forward_headers {
                !(HOP_BY_HOP.contains(&n)
                    || CONSUMED.contains(&n)
                    || listed_in(&listed, n)
                    || carries_key(n, value))
            } else {
                BODY_HEADERS.contains(&n)
            };
            !keep
        })
        .map(|(name, _)| name.clone())
        .collect();
    drop(listed);
    for name in dropped {
        req.remove_header(&name);
    }
    match content_length(&req.headers) {
        ContentLength::Keep => {}
        ContentLength::Remove => {
            req.remove_header(&http::header::CONTENT_LENGTH);
        }
        ContentLength::Set(n) => req.insert_header(http::header::CONTENT_LENGTH, n)?,
    }
    if upgrade {
        req.insert_header(http::header::CONNECTION, "upgrade")?;
    }
    req.insert_header(http::header::HOST, route.target.authority())?;
    for (name, value) in passed {
        req.insert_header(name, value)?;
    }
    for (name, value) in configured {
        req.insert_header(name.clone(), value.clone())?;
    }
    // Upstreams behind bot protection refuse requests without one (LiteLLM always sends its own).
    if !req.headers.contains_key(http::header::USER_AGENT) {
        // By a `&'static str` name, which pingora does not copy.
        req.insert_header("user-agent", USER_AGENT)?;
    }
    Ok(())
}

/// What an upstream request without the client's `User-Agent` carries.
pub const USER_AGENT: &str = concat!("passthru/", env!("CARGO_PKG_VERSION"));

/// LiteLLM's `x-pass-` prefix: `x-pass-anthropic-beta: v` goes upstream as `anthropic-beta: v`
/// whatever `forward_headers` says.
const PASS_PREFIX: &str = "x-pass-";

/// Names an `x-pass-` header may not become: LiteLLM's protected credentials and framing
/// (`litellm/passthrough/utils.py`), plus what the proxy owns.
const PASS_PROTECTED: &[&str] = &[
    "authorization",
    "api-key",
    "x-api-key",
    "x-goog-api-key",
    "ocp-apim-subscription-key",
    "host",
    "content-length",
    "accept-encoding",
    "transfer-encoding",
    "expect",
];

/// The `x-pass-` headers of a request as the headers they stand for, protected names left out.
/// The route's configured headers are set after these, so they still win (LiteLLM lets the
/// client's `x-pass-` header override them; passthru does not).
fn pass_headers(
    headers: &http::HeaderMap,
    key_header_name: Option<&str>,
    route: &Route,
) -> Vec<(http::HeaderName, http::HeaderValue)> {
    headers
        .iter()
        .filter_map(|(name, value)| {
            let actual = name.as_str().strip_prefix(PASS_PREFIX)?;
            let protected = PASS_PROTECTED.contains(&actual)
                || actual.starts_with("x-amz-")
                || actual.starts_with(PASS_PREFIX)
                || HOP_BY_HOP.contains(&actual)
                || has_underscore(actual)
                || key::is_key_header(actual, key_header_name, route);
            if protected {
                return None;
            }
            Some((
                http::HeaderName::from_bytes(actual.as_bytes()).ok()?,
                value.clone(),
            ))
        })
        .collect()
}

/// Strips hop-by-hop headers from the upstream's response (an accepted upgrade keeps its own).
pub fn rewrite_response(resp: &mut ResponseHeader) {
    let switching = resp.status.as_u16() == 101;
    let listed = connection_tokens(&resp.headers);
    let dropped: SmallVec<[http::HeaderName; 4]> = resp
        .headers
        .keys()
        .filter(|name| {
            let n = name.as_str();
            let hop = HOP_BY_HOP.contains(&n) || listed_in(&listed, n);
            hop && !(switching && (n == "upgrade" || n == "connection"))
        })
        .cloned()
        .collect();
    drop(listed);
    for name in dropped {
        resp.remove_header(&name);
    }
    match content_length(&resp.headers) {
        ContentLength::Keep => {}
        ContentLength::Remove => {
            resp.remove_header(&http::header::CONTENT_LENGTH);
        }
        ContentLength::Set(n) => {
            // Cannot fail: a number is a valid header value.
            let _ = resp.insert_header(http::header::CONTENT_LENGTH, n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn request_with(headers: &[(&str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        for (n, v) in headers {
            req.insert_header(n.to_string(), *v).unwrap();
        }
        req
    }

    fn route(extra: &str) -> Route {
        let text =
            format!("version: 1\nroutes:\n- {{path: /p, target: 'http://u', auth: true{extra}}}\n");
        passthru_routes::RoutesFile::parse(text.as_bytes())
            .unwrap()
            .routes()[0]
            .clone()
    }

    fn upstream_of(
        route: &Route,
        headers: &[(&str, &str)],
        configured: &[(&str, &str)],
    ) -> RequestHeader {
        let mut req = request_with(headers);
        let configured: Vec<_> = configured
            .iter()
            .map(|(n, v)| {
                (
                    http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                    http::HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect();
        let upgrade = is_upgrade(&req);
        rewrite_request(&mut req, route, "/", upgrade, &configured, None, None).unwrap();
        req
    }

    #[test]
    fn x_pass_headers_arrive_without_their_prefix_whatever_forward_headers_says() {
        let req = upstream_of(&route(""), &[("x-pass-anthropic-beta", "tools")], &[]);
        assert_eq!(req.headers["anthropic-beta"], "tools");
        assert!(!req.headers.contains_key("x-pass-anthropic-beta"));
    }

    #[test]
    fn x_pass_headers_never_become_credentials_framing_or_key_headers() {
        let req = upstream_of(
            &route(", forward_headers: true"),
            &[
                ("x-pass-authorization", "Bearer evil"),
                ("x-pass-x-amz-date", "x"),
                ("x-pass-host", "evil"),
                ("x-pass-x-litellm-api-key", "sk-1"),
                ("x-pass-transfer-encoding", "chunked"),
            ],
            &[],
        );
        for name in [
            "authorization",
            "x-amz-date",
            "x-litellm-api-key",
            "transfer-encoding",
        ] {
            assert!(!req.headers.contains_key(name), "{name} was set");
        }
        assert_eq!(req.headers["host"], "u");
    }

    #[test]
    fn configured_headers_win_over_x_pass_headers() {
        let req = upstream_of(
            &route(""),
            &[("x-pass-x-tenant", "evil")],
            &[("x-tenant", "configured")],
        );
        assert_eq!(req.headers["x-tenant"], "configured");
    }

    #[test]
    fn an_upstream_request_always_carries_a_user_agent() {
        let req = upstream_of(&route(""), &[("user-agent", "client/1")], &[]);
        assert_eq!(req.headers["user-agent"], USER_AGENT);
        let forwarded = upstream_of(
            &route(", forward_headers: true"),
            &[("user-agent", "client/1")],
            &[],
        );
        assert_eq!(forwarded.headers["user-agent"], "client/1");
        let configured = upstream_of(&route(""), &[], &[("user-agent", "mine/2")]);
        assert_eq!(configured.headers["user-agent"], "mine/2");
    }

    fn content_length_of(values: &[&str], te: bool) -> ContentLength {
        let mut headers = http::HeaderMap::new();
        for v in values {
            headers.append("content-length", v.parse().unwrap());
        }
        if te {
            headers.append("transfer-encoding", "chunked".parse().unwrap());
        }
        content_length(&headers)
    }

    #[test]
    fn content_length_goes_on_as_one_decimal_value() {
        assert_eq!(content_length_of(&["4"], false), ContentLength::Keep);
        assert_eq!(content_length_of(&[], false), ContentLength::Keep);
        assert_eq!(content_length_of(&["4, 4"], false), ContentLength::Set(4));
        assert_eq!(content_length_of(&["4", "4"], false), ContentLength::Set(4));
        assert_eq!(content_length_of(&["04"], false), ContentLength::Set(4));
        assert_eq!(content_length_of(&["0"], false), ContentLength::Keep);
        assert_eq!(content_length_of(&["00"], false), ContentLength::Set(0));
        assert_eq!(
            content_length_of(&["18446744073709551615"], false),
            ContentLength::Keep
        );
        assert_eq!(content_length_of(&["4"], true), ContentLength::Remove);
    }
}
