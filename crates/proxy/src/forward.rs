//! What goes upstream (DESIGN.md §5): the URL, the query precedence and the header policy. Pure
//! functions over pingora's header types, so each rule is tested without a server.

use std::collections::BTreeMap;

use passthru_routes::{Route, Target};
use pingora::http::{RequestHeader, ResponseHeader};

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

/// The upstream path: the target's base path, plus what follows the route's path for a subpath
/// match. The request path was normalised before matching, so this is the path that matched.
pub fn upstream_path(target: &Target, subpath: &str) -> String {
    let base = target.path();
    if subpath.is_empty() {
        return base.to_owned();
    }
    let mut path = String::with_capacity(base.len() + subpath.len());
    path.push_str(base.trim_end_matches('/'));
    path.push_str(subpath);
    path
}

/// Merges query strings with precedence defaults < target URL < client. Client pairs are kept as
/// sent (repeated keys included); a key the client sends replaces that key from the other two.
pub fn merge_query(
    defaults: &BTreeMap<String, String>,
    target: Option<&str>,
    client: Option<&str>,
) -> Option<String> {
    let client = client.filter(|q| !q.is_empty());
    let target = target.filter(|q| !q.is_empty());
    if defaults.is_empty() && target.is_none() {
        return client.map(str::to_owned);
    }
    let client_keys: Vec<String> = query_pairs(client).map(|(k, _)| decode(k)).collect();
    let target_keys: Vec<String> = query_pairs(target).map(|(k, _)| decode(k)).collect();
    let mut parts: Vec<String> = Vec::new();
    for (k, v) in defaults {
        if !client_keys.contains(k) && !target_keys.contains(k) {
            parts.push(format!("{}={}", encode(k), encode(v)));
        }
    }
    for (raw, (k, _)) in raw_pairs(target).zip(query_pairs(target)) {
        if !client_keys.contains(&decode(k)) {
            parts.push(raw.to_owned());
        }
    }
    parts.extend(raw_pairs(client).map(str::to_owned));
    (!parts.is_empty()).then(|| parts.join("&"))
}

fn raw_pairs(query: Option<&str>) -> impl Iterator<Item = &str> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
}

pub(crate) fn query_pairs(query: Option<&str>) -> impl Iterator<Item = (&str, &str)> {
    raw_pairs(query).map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// Query-key decoding for comparison only (`+` is a space, `%XX` a byte); bytes sent upstream
/// are never re-encoded.
pub(crate) fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// True for the one upgrade the proxy tunnels: an HTTP/1.1 request with `Upgrade: websocket`
/// and `Connection: upgrade` (RFC 9110 §7.8: `Upgrade` alone, or on HTTP/1.0, is ignored).
/// Other protocols (`h2c` above all) are not tunnelled: once switched, the client would speak
/// to the upstream directly, past the route's path and method.
pub fn is_upgrade(req: &RequestHeader) -> bool {
    req.version == http::Version::HTTP_11
        && has_token(&req.headers, "connection", "upgrade")
        && is_websocket(&req.headers)
}

/// `Upgrade: websocket` and nothing else.
fn is_websocket(headers: &http::HeaderMap) -> bool {
    let mut values = headers.get_all("upgrade").iter();
    matches!(
        (values.next(), values.next()),
        (Some(v), None) if v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"websocket")
    )
}

/// True when a comma-separated header lists `token` (case-insensitively).
fn has_token(headers: &http::HeaderMap, name: &str, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Makes the client's request say what the proxy will do with it, before pingora acts on it:
/// pingora treats any HTTP/1.1 request with an `Upgrade` header as an upgrade and tunnels on a
/// 101, so an `Upgrade` that [`is_upgrade`] refuses is removed here. Returns whether the request
/// is an upgrade.
pub fn settle_upgrade(req: &mut RequestHeader) -> bool {
    let upgrade = is_upgrade(req);
    if !upgrade {
        req.remove_header("upgrade");
    }
    upgrade
}

/// Why an upstream's 101 is not accepted, if it is not: the proxy asked for a WebSocket upgrade
/// and the upstream agreed to exactly that (RFC 9110 §15.2.2: a 101 names the protocol).
pub fn refuse_switch(asked: bool, resp: &ResponseHeader) -> Option<&'static str> {
    if resp.status.as_u16() != 101 {
        return None;
    }
    if !asked {
        return Some("the upstream switched protocols on a request that did not ask to");
    }
    if !(has_token(&resp.headers, "connection", "upgrade") && is_websocket(&resp.headers)) {
        return Some(
            "the upstream's 101 did not carry `Upgrade: websocket` and `Connection: upgrade`",
        );
    }
    None
}

/// True for a 100-continue expectation the proxy must answer (RFC 9110 §10.1.1: not on HTTP/1.0).
pub fn expects_continue(req: &RequestHeader) -> bool {
    req.version == http::Version::HTTP_11
        && req.headers.get_all("expect").iter().any(|v| {
            v.as_bytes()
                .trim_ascii()
                .eq_ignore_ascii_case(b"100-continue")
        })
}

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
    if !headers.contains_key("content-length") {
        return ContentLength::Keep;
    }
    if headers.contains_key("transfer-encoding") {
        return ContentLength::Remove;
    }
    let values: Vec<&str> = headers
        .get_all("content-length")
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

/// Names listed in `Connection` are hop-by-hop for this message too (RFC 9110 §7.6.1).
fn connection_tokens(headers: &http::HeaderMap) -> Vec<&str> {
    headers
        .get_all("connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
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
pub fn rewrite_request(
    req: &mut RequestHeader,
    route: &Route,
    path_and_query: &str,
    configured: &[(http::HeaderName, http::HeaderValue)],
    key_header_name: Option<&str>,
    client_key: Option<&key::ClientKey>,
) -> pingora::Result<()> {
    req.set_raw_path(path_and_query.as_bytes())?;
    let upgrade = is_upgrade(req);
    let carries_key = |name: &str, value: &http::HeaderValue| {
        client_key.is_some_and(|k| k.is_carried_by(name, value.as_bytes()))
    };
    let mut passed = pass_headers(&req.headers, key_header_name, route);
    passed.retain(|(name, value)| !carries_key(name.as_str(), value));
    let listed = connection_tokens(&req.headers);
    let dropped: Vec<http::HeaderName> = req
        .headers
        .iter()
        .filter(|(name, value)| {
            let n = name.as_str();
            let keep = if has_underscore(n) {
                false
            } else if upgrade
                && (n == "upgrade" || n == "connection" || n.starts_with("sec-websocket-"))
            {
                true
            } else if route.forward_headers {
                !(HOP_BY_HOP.contains(&n)
                    || CONSUMED.contains(&n)
                    || listed_in(&listed, n)
                    || n == "host"
                    || carries_key(n, value))
            } else {
                BODY_HEADERS.contains(&n)
            };
            !keep
        })
        .map(|(name, _)| name.clone())
        .collect();
    for name in dropped {
        req.remove_header(&name);
    }
    match content_length(&req.headers) {
        ContentLength::Keep => {}
        ContentLength::Remove => {
            req.remove_header("content-length");
        }
        ContentLength::Set(n) => req.insert_header("content-length", n)?,
    }
    if upgrade {
        req.insert_header("connection", "upgrade")?;
    }
    req.insert_header("host", route.target.authority())?;
    for (name, value) in passed {
        req.insert_header(name, value)?;
    }
    for (name, value) in configured {
        req.insert_header(name.clone(), value.clone())?;
    }
    // Upstreams behind bot protection refuse requests without one (LiteLLM always sends its own).
    if !req.headers.contains_key(http::header::USER_AGENT) {
        req.insert_header(http::header::USER_AGENT, USER_AGENT)?;
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
    let dropped: Vec<http::HeaderName> = resp
        .headers
        .keys()
        .filter(|name| {
            let n = name.as_str();
            let hop = HOP_BY_HOP.contains(&n) || listed_in(&listed, n);
            hop && !(switching && (n == "upgrade" || n == "connection"))
        })
        .cloned()
        .collect();
    for name in dropped {
        resp.remove_header(&name);
    }
    match content_length(&resp.headers) {
        ContentLength::Keep => {}
        ContentLength::Remove => {
            resp.remove_header("content-length");
        }
        ContentLength::Set(n) => {
            // Cannot fail: a number is a valid header value.
            let _ = resp.insert_header("content-length", n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Target {
        Target::parse(url).unwrap()
    }

    #[test]
    fn exact_match_uses_the_target_path() {
        assert_eq!(upstream_path(&target("http://u/base"), ""), "/base");
        assert_eq!(upstream_path(&target("http://u"), ""), "/");
    }

    #[test]
    fn subpath_is_appended_to_the_base_path_without_doubling_slashes() {
        assert_eq!(
            upstream_path(&target("http://u/base/"), "/x/y"),
            "/base/x/y"
        );
        assert_eq!(upstream_path(&target("http://u"), "/x"), "/x");
        assert_eq!(upstream_path(&target("http://u/base"), "/"), "/base/");
    }

    #[test]
    fn client_query_passes_as_is_when_nothing_merges() {
        let none = BTreeMap::new();
        assert_eq!(
            merge_query(&none, None, Some("a=1&a=2&b")),
            Some("a=1&a=2&b".into())
        );
        assert_eq!(merge_query(&none, None, None), None);
    }

    #[test]
    fn client_keys_override_target_keys_which_override_defaults() {
        let defaults: BTreeMap<String, String> =
            [("a".into(), "d".into()), ("c".into(), "d".into())].into();
        let merged = merge_query(&defaults, Some("a=t&b=t"), Some("b=c&b=c2")).unwrap();
        assert_eq!(merged, "c=d&a=t&b=c&b=c2");
    }

    #[test]
    fn keys_compare_decoded() {
        let none = BTreeMap::new();
        assert_eq!(
            merge_query(&none, Some("a%20b=t"), Some("a+b=c")),
            Some("a+b=c".into())
        );
    }

    #[test]
    fn default_values_are_percent_encoded() {
        let defaults: BTreeMap<String, String> = [("q".into(), "a b&c".into())].into();
        assert_eq!(
            merge_query(&defaults, None, None),
            Some("q=a%20b%26c".into())
        );
    }

    fn request_with(headers: &[(&str, &str)]) -> RequestHeader {
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
        rewrite_request(&mut req, route, "/", &configured, None, None).unwrap();
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

    #[test]
    fn an_upgrade_needs_both_headers() {
        assert!(is_upgrade(&request_with(&[
            ("upgrade", "websocket"),
            ("connection", "keep-alive, Upgrade")
        ])));
        assert!(!is_upgrade(&request_with(&[("upgrade", "websocket")])));
    }

    #[test]
    fn only_a_websocket_upgrade_on_http_1_1_is_an_upgrade() {
        let both = [("upgrade", "websocket"), ("connection", "upgrade")];
        let mut old = request_with(&both);
        old.set_version(http::Version::HTTP_10);
        assert!(!is_upgrade(&old));
        assert!(!is_upgrade(&request_with(&[
            ("upgrade", "h2c"),
            ("connection", "upgrade")
        ])));
        assert!(!is_upgrade(&request_with(&[
            ("upgrade", "websocket, h2c"),
            ("connection", "upgrade")
        ])));
    }

    #[test]
    fn settling_removes_an_upgrade_the_proxy_will_not_do() {
        let mut lone = request_with(&[("upgrade", "websocket")]);
        assert!(!settle_upgrade(&mut lone));
        assert!(!lone.headers.contains_key("upgrade"));
        let mut ws = request_with(&[("upgrade", "websocket"), ("connection", "Upgrade")]);
        assert!(settle_upgrade(&mut ws));
        assert!(ws.headers.contains_key("upgrade"));
    }

    fn response(status: u16, headers: &[(&str, &str)]) -> ResponseHeader {
        let mut resp = ResponseHeader::build(status, None).unwrap();
        for (n, v) in headers {
            resp.insert_header(n.to_string(), *v).unwrap();
        }
        resp
    }

    #[test]
    fn a_101_is_accepted_only_for_an_asked_websocket_upgrade() {
        let ok = response(101, &[("upgrade", "websocket"), ("connection", "Upgrade")]);
        assert_eq!(refuse_switch(true, &ok), None);
        assert!(refuse_switch(false, &ok).is_some());
        assert!(refuse_switch(true, &response(101, &[("upgrade", "websocket")])).is_some());
        assert!(refuse_switch(
            true,
            &response(101, &[("upgrade", "h2c"), ("connection", "upgrade")])
        )
        .is_some());
        assert_eq!(refuse_switch(false, &response(200, &[])), None);
    }

    #[test]
    fn expect_100_continue_counts_on_http_1_1_only() {
        assert!(expects_continue(&request_with(&[(
            "expect",
            "100-Continue"
        )])));
        assert!(!expects_continue(&request_with(&[("expect", "something")])));
        let mut old = request_with(&[("expect", "100-continue")]);
        old.set_version(http::Version::HTTP_10);
        assert!(!expects_continue(&old));
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
        assert_eq!(content_length_of(&["4"], true), ContentLength::Remove);
    }
}
