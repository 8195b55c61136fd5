//! Which API key a request presents, read exactly as LiteLLM 1.110.2 reads it
//! (`litellm/proxy/auth/user_api_key_auth.py`: `get_api_key`, `get_bearer_token`,
//! `_get_bearer_token_or_received_api_key`, the custom-header and langfuse steps), so that a client
//! of LiteLLM authenticates with the same key here. `tests/litellm/ACCESS_MODEL.md` §2 has the
//! rules with the cases that pin them.

use std::borrow::Cow;

use base64::Engine;
use passthru_routes::Route;
use pingora::http::RequestHeader;

use crate::forward;

/// Headers that carry a key, in the order they are read. The first one present (with a
/// non-empty value) decides, even when its value turns out unusable.
pub const KEY_HEADERS: &[&str] = &[
    "x-litellm-api-key",
    "authorization",
    "api-key",
    "x-api-key",
    "x-goog-api-key",
    "ocp-apim-subscription-key",
];

/// What a request presents as its API key.
#[derive(Debug, PartialEq, Eq)]
pub enum PresentedKey<'r> {
    Key(Cow<'r, [u8]>, Carrier),
    /// A key source was present but yielded no usable key: refused with this reason.
    Malformed(&'static str),
    Missing,
}

/// Where the key was found: never forwarded upstream on an `auth: true` route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Carrier {
    Header(&'static str),
    /// The table's `litellm_key_header_name` or the route's `litellm_user_api_key`.
    NamedHeader(String),
    /// `?key=`.
    Query,
}

impl Carrier {
    /// The header that carried the key, if a header did.
    pub fn header(&self) -> Option<&str> {
        match self {
            Carrier::Header(name) => Some(name),
            Carrier::NamedHeader(name) => Some(name),
            Carrier::Query => None,
        }
    }
}

/// A key a client presented, kept for the request so that nothing carrying it goes upstream.
#[derive(Debug, Clone)]
pub struct ClientKey {
    pub key: Vec<u8>,
    pub carrier: Carrier,
}

impl ClientKey {
    /// True for a header the upstream must not see: the one that carried the key, or any whose
    /// value holds the key (a duplicate, another key header, an `x-pass-` copy).
    pub fn is_carried_by(&self, name: &str, value: &[u8]) -> bool {
        self.carrier.header() == Some(name)
            || (!self.key.is_empty() && value.windows(self.key.len()).any(|w| w == self.key))
    }
}

/// Where a key may come from for one request.
pub struct KeySources<'a> {
    /// The table's `litellm_key_header_name`.
    pub key_header_name: Option<&'a str>,
    pub route: &'a Route,
    /// The (normalised) request path equals the route's path: LiteLLM consults the route's own
    /// key header and the langfuse parser only there.
    pub exact_path: bool,
    /// The request path, for LiteLLM's `?key=` on `generateContent` paths.
    pub path: &'a str,
}

const MALFORMED: &str =
    "malformed API key: send `Authorization: Bearer <key>` (or the key alone in x-litellm-api-key)";

/// The key the request presents, by LiteLLM's rules.
pub fn presented_key<'r>(req: &'r RequestHeader, from: &KeySources<'_>) -> PresentedKey<'r> {
    let header = |name: &str| {
        req.headers
            .get(name)
            .map(|v| v.as_bytes())
            .filter(|v| !v.is_empty())
    };
    let mut key: Option<(Cow<'r, [u8]>, Carrier)> = KEY_HEADERS.iter().find_map(|&name| {
        let value = header(name)?;
        let key = match name {
            "x-litellm-api-key" => bearer_or_received(value),
            "authorization" => bearer_token(value),
            _ => Cow::Borrowed(value),
        };
        Some((key, Carrier::Header(name)))
    });
    if key.is_none() && from.path.contains("generateContent") {
        key = query_key(req.uri.query()).map(|k| (Cow::Owned(k), Carrier::Query));
    }
    if key.is_none() && from.exact_path {
        if let Some(name) = from.route.key_header.as_deref() {
            key = header(name).map(|k| (Cow::Borrowed(k), Carrier::NamedHeader(name.to_owned())));
        }
    }
    // `litellm_key_header_name` overrides whatever was found, and must be `Bearer <key>`.
    if let Some(name) = from.key_header_name {
        if let Some(value) = header(name) {
            key = Some((bearer_token(value), Carrier::NamedHeader(name.to_owned())));
        }
    }
    if from.route.langfuse_auth && from.exact_path {
        if let Some((found, carrier)) = key.take() {
            match langfuse_key(&found) {
                Some(user) => key = Some((Cow::Owned(user), carrier)),
                None => return PresentedKey::Malformed(
                    "malformed langfuse credentials: send `Authorization: Basic base64(key:secret)`",
                ),
            }
        }
    }
    match key {
        None => PresentedKey::Missing,
        Some((k, _)) if k.is_empty() => PresentedKey::Malformed(MALFORMED),
        Some((k, carrier)) => PresentedKey::Key(k, carrier),
    }
}

/// True for the header names a key may arrive in on this table and route: an `x-pass-` header
/// may never become one.
pub fn is_key_header(name: &str, key_header_name: Option<&str>, route: &Route) -> bool {
    KEY_HEADERS.contains(&name)
        || key_header_name == Some(name)
        || route.key_header.as_deref() == Some(name)
}

const PREFIXES: [&[u8]; 3] = [b"Bearer ", b"Basic ", b"bearer "];

/// `_get_bearer_token_or_received_api_key`: a known prefix is removed (every occurrence, as
/// Python's `str.replace` does), otherwise the value is the key.
fn bearer_or_received(value: &[u8]) -> Cow<'_, [u8]> {
    match PREFIXES.iter().find(|p| value.starts_with(p)) {
        Some(prefix) => Cow::Owned(remove_all(value, prefix)),
        None => Cow::Borrowed(value),
    }
}

/// `get_bearer_token`: like [`bearer_or_received`], but a value without a known prefix is no key.
fn bearer_token(value: &[u8]) -> Cow<'_, [u8]> {
    match PREFIXES.iter().find(|p| value.starts_with(p)) {
        Some(prefix) => Cow::Owned(remove_all(value, prefix)),
        None => Cow::Borrowed(&[]),
    }
}

fn remove_all(value: &[u8], pattern: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut rest = value;
    while !rest.is_empty() {
        if rest.starts_with(pattern) {
            rest = &rest[pattern.len()..];
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    out
}

/// The first `key` parameter of a query, percent-decoded.
fn query_key(query: Option<&str>) -> Option<Vec<u8>> {
    forward::query_pairs(query)
        .find(|(k, _)| forward::decode(k) == "key")
        .map(|(_, v)| forward::decode(v).into_bytes())
        .filter(|v| !v.is_empty())
}

/// The langfuse parser: base64 (Python's lenient decoder drops characters outside the
/// alphabet, but not missing padding), UTF-8, and the text before the first `:`.
fn langfuse_key(value: &[u8]) -> Option<Vec<u8>> {
    let filtered: Vec<u8> = value
        .iter()
        .copied()
        .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        .collect();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(filtered)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    Some(
        text.split(':')
            .next()
            .unwrap_or_default()
            .as_bytes()
            .to_vec(),
    )
}

/// The client's query without its `key` parameters: on `auth: true` routes a key sent as
/// `?key=` (LiteLLM reads it on `generateContent` paths) must not reach the upstream.
pub fn query_without_key(query: &str) -> String {
    query
        .split('&')
        .filter(|pair| {
            let name = pair.split_once('=').map_or(*pair, |(k, _)| k);
            !pair.is_empty() && forward::decode(name) != "key"
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(yaml_extra: &str) -> Route {
        let text = format!(
            "version: 1\nroutes:\n- {{path: /p, target: 'http://u', include_subpath: true{yaml_extra}}}\n"
        );
        passthru_routes::RoutesFile::parse(text.as_bytes())
            .unwrap()
            .routes()[0]
            .clone()
    }

    fn request(path: &str, headers: &[(&str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", path.as_bytes(), None).unwrap();
        for (n, v) in headers {
            req.append_header(n.to_string(), *v).unwrap();
        }
        req
    }

    fn key_of(headers: &[(&str, &str)]) -> PresentedKey<'static> {
        key_at("/p/x", &route(""), None, headers)
    }

    fn key_at(
        path: &str,
        route: &Route,
        key_header_name: Option<&str>,
        headers: &[(&str, &str)],
    ) -> PresentedKey<'static> {
        let req = request(path, headers);
        let from = KeySources {
            key_header_name,
            route,
            exact_path: req.uri.path() == route.path,
            path: req.uri.path(),
        };
        match presented_key(&req, &from) {
            PresentedKey::Key(k, _) => {
                PresentedKey::Key(Cow::Owned(k.into_owned()), Carrier::Query)
            }
            PresentedKey::Malformed(m) => PresentedKey::Malformed(m),
            PresentedKey::Missing => PresentedKey::Missing,
        }
    }

    fn key(k: &str) -> PresentedKey<'static> {
        PresentedKey::Key(Cow::Owned(k.as_bytes().to_vec()), Carrier::Query)
    }

    #[test]
    fn a_client_key_is_recognised_under_any_header_that_holds_it() {
        let key = ClientKey {
            key: b"sk-1".to_vec(),
            carrier: Carrier::Header("x-litellm-api-key"),
        };
        assert!(key.is_carried_by("x-litellm-api-key", b"anything"));
        assert!(key.is_carried_by("x-other", b"Bearer sk-1"));
        assert!(!key.is_carried_by("authorization", b"Bearer provider-key"));
    }

    #[test]
    fn x_litellm_api_key_comes_before_authorization() {
        assert_eq!(
            key_of(&[
                ("authorization", "Bearer provider-key"),
                ("x-litellm-api-key", "sk-1")
            ]),
            key("sk-1")
        );
    }

    #[test]
    fn authorization_needs_a_prefix_and_the_first_present_header_decides() {
        assert_eq!(key_of(&[("authorization", "Bearer sk-1")]), key("sk-1"));
        assert_eq!(key_of(&[("authorization", "Basic sk-1")]), key("sk-1"));
        assert!(matches!(
            key_of(&[("authorization", "sk-1"), ("x-api-key", "sk-2")]),
            PresentedKey::Malformed(_)
        ));
        assert!(matches!(
            key_of(&[("authorization", "BEARER sk-1")]),
            PresentedKey::Malformed(_)
        ));
    }

    #[test]
    fn provider_style_headers_are_taken_verbatim_in_order() {
        assert_eq!(key_of(&[("api-key", "Bearer sk-1")]), key("Bearer sk-1"));
        assert_eq!(
            key_of(&[("x-goog-api-key", "sk-3"), ("x-api-key", "sk-2")]),
            key("sk-2")
        );
        assert_eq!(
            key_of(&[("ocp-apim-subscription-key", "sk-4")]),
            key("sk-4")
        );
    }

    #[test]
    fn an_empty_header_counts_as_absent() {
        assert_eq!(
            key_of(&[("x-litellm-api-key", ""), ("authorization", "Bearer sk-1")]),
            key("sk-1")
        );
        assert_eq!(key_of(&[]), PresentedKey::Missing);
    }

    #[test]
    fn the_prefix_is_removed_everywhere_and_nothing_is_trimmed() {
        assert_eq!(key_of(&[("authorization", "Bearer  sk-1")]), key(" sk-1"));
        assert_eq!(
            key_of(&[("x-litellm-api-key", "Bearer sk-Bearer 1")]),
            key("sk-1")
        );
    }

    #[test]
    fn the_configured_key_header_overrides_and_needs_bearer() {
        let r = route("");
        let headers = [("x-my-key", "Bearer sk-9"), ("x-litellm-api-key", "sk-1")];
        assert_eq!(key_at("/p/x", &r, Some("x-my-key"), &headers), key("sk-9"));
        assert!(matches!(
            key_at("/p/x", &r, Some("x-my-key"), &[("x-my-key", "sk-9")]),
            PresentedKey::Malformed(_)
        ));
    }

    #[test]
    fn the_route_key_header_counts_only_at_the_exact_path_and_last() {
        let r = route(", headers: {litellm_user_api_key: x-route-key}");
        assert_eq!(
            key_at("/p", &r, None, &[("x-route-key", "sk-5")]),
            key("sk-5")
        );
        assert_eq!(
            key_at("/p/x", &r, None, &[("x-route-key", "sk-5")]),
            PresentedKey::Missing
        );
        assert_eq!(
            key_at(
                "/p",
                &r,
                None,
                &[("x-route-key", "sk-5"), ("authorization", "Bearer sk-1")]
            ),
            key("sk-1")
        );
    }

    #[test]
    fn langfuse_takes_the_user_part_of_basic_credentials_at_the_exact_path() {
        let r = route(", custom_auth_parser: langfuse");
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("sk-7:secret")
        );
        assert_eq!(
            key_at("/p", &r, None, &[("authorization", &basic)]),
            key("sk-7")
        );
        let blob = basic.trim_start_matches("Basic ");
        assert_eq!(
            key_at("/p/x", &r, None, &[("authorization", &basic)]),
            key(blob)
        );
    }

    #[test]
    fn a_key_query_parameter_counts_only_on_generate_content_paths() {
        let r = route("");
        assert_eq!(
            key_at("/p/v1/models/m:generateContent?key=sk-8", &r, None, &[]),
            key("sk-8")
        );
        assert_eq!(
            key_at("/p/x?key=sk-8", &r, None, &[]),
            PresentedKey::Missing
        );
        assert_eq!(query_without_key("a=1&key=sk-8&b=2"), "a=1&b=2");
    }
}
