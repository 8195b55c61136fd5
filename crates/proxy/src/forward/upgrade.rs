//! Protocol switches: the WebSocket upgrade the proxy tunnels, the 101 it accepts, and the
//! `100-continue` expectation it answers itself.

use pingora::http::{RequestHeader, ResponseHeader};

use super::header_list;

/// True for the one upgrade the proxy tunnels: an HTTP/1.1 request with `Upgrade: websocket`
/// and `Connection: upgrade` (RFC 9110 §7.8: `Upgrade` alone, or on HTTP/1.0, is ignored).
/// Other protocols (`h2c` above all) are not tunnelled: once switched, the client would speak
/// to the upstream directly, past the route's path and method.
pub fn is_upgrade(req: &RequestHeader) -> bool {
    // `Upgrade` first: one lookup rules out nearly every request.
    req.version == http::Version::HTTP_11
        && is_websocket(&req.headers)
        && has_token(&req.headers, http::header::CONNECTION, "upgrade")
}

/// `Upgrade: websocket` and nothing else.
fn is_websocket(headers: &http::HeaderMap) -> bool {
    let mut values = headers.get_all(http::header::UPGRADE).iter();
    matches!(
        (values.next(), values.next()),
        (Some(v), None) if v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"websocket")
    )
}

/// True when a comma-separated header lists `token` (case-insensitively).
fn has_token(headers: &http::HeaderMap, name: http::HeaderName, token: &str) -> bool {
    header_list(headers, name).any(|t| t.eq_ignore_ascii_case(token))
}

/// Makes the client's request say what the proxy will do with it, before pingora acts on it:
/// pingora treats any HTTP/1.1 request with an `Upgrade` header as an upgrade and tunnels on a
/// 101, so an `Upgrade` that [`is_upgrade`] refuses is removed here. Returns whether the request
/// is an upgrade.
pub fn settle_upgrade(req: &mut RequestHeader) -> bool {
    let upgrade = is_upgrade(req);
    if !upgrade {
        req.remove_header(&http::header::UPGRADE);
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
    if !(has_token(&resp.headers, http::header::CONNECTION, "upgrade")
        && is_websocket(&resp.headers))
    {
        return Some(
            "the upstream's 101 did not carry `Upgrade: websocket` and `Connection: upgrade`",
        );
    }
    None
}

/// True for a 100-continue expectation the proxy must answer (RFC 9110 §10.1.1: not on HTTP/1.0).
pub fn expects_continue(req: &RequestHeader) -> bool {
    req.version == http::Version::HTTP_11
        && req.headers.get_all(http::header::EXPECT).iter().any(|v| {
            v.as_bytes()
                .trim_ascii()
                .eq_ignore_ascii_case(b"100-continue")
        })
}

#[cfg(test)]
mod tests {
    use super::super::tests::request_with;
    use super::*;

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
}
