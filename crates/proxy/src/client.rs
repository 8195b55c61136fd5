//! Who the client is: the request id, the proxies whose word about the client is trusted, and
//! what the upstream is told about the client's address (`X-Forwarded-*` or RFC 7239
//! `Forwarded`). Pure functions over pingora's header types, so each rule is tested without a
//! server.

use std::fmt::Write as _;
use std::net::IpAddr;

use ipnet::IpNet;
use passthru_routes::ForwardedHeaders;
use pingora::http::RequestHeader;

/// The request id header, both ways. Set by this name: pingora keeps a `&'static str` name as
/// it is, where it copies a `HeaderName` it has no title case for.
pub const REQUEST_ID_NAME: &str = "x-request-id";

/// The same, for lookups.
pub const REQUEST_ID: http::HeaderName = http::HeaderName::from_static(REQUEST_ID_NAME);

/// The longest client request id that is kept; a longer one is replaced.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Headers that tell an upstream who the client was. From a peer outside `--trusted-proxies`
/// they are never passed on, whatever the route's header policy: no client can name another
/// address upstream.
pub static CLIENT_ADDRESS_HEADERS: [http::HeaderName; 5] = [
    http::header::FORWARDED,
    http::HeaderName::from_static("x-forwarded-for"),
    http::HeaderName::from_static("x-forwarded-proto"),
    http::HeaderName::from_static("x-forwarded-host"),
    http::HeaderName::from_static("x-real-ip"),
];

/// True for a client request id worth keeping: 1 to [`MAX_REQUEST_ID_LEN`] bytes of letters,
/// digits and `-._:+/=@` (UUIDs, ULIDs, base64, `req_…`, W3C trace ids). Anything else (control
/// bytes, spaces, quotes, non-ASCII, 10 KB) is replaced by a generated id, never echoed.
pub fn sane_request_id(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&id.len())
        && id.iter().all(|&b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'-' | b'.' | b'_' | b':' | b'+' | b'/' | b'=' | b'@')
        })
}

/// A fresh random id in UUID v4 form (`8-4-4-4-12` lower-case hex).
pub fn new_request_id() -> String {
    let mut bits = fastrand::u128(..);
    bits = (bits & !(0xf << 76)) | (0x4 << 76); // version 4
    bits = (bits & !(0x3 << 62)) | (0x2 << 62); // RFC 4122 variant
    uuid::Uuid::from_u128(bits)
        .hyphenated()
        .encode_lower(&mut uuid::Uuid::encode_buffer())
        .to_owned()
}

/// The client's request id when it is sane ([`sane_request_id`]), else a new one.
pub fn request_id(req: &RequestHeader) -> String {
    let mut values = req.headers.get_all(&REQUEST_ID).iter();
    match (values.next(), values.next()) {
        (Some(v), None) if sane_request_id(v.as_bytes()) => {
            // Sane ids are ASCII.
            String::from_utf8_lossy(v.as_bytes()).into_owned()
        }
        _ => new_request_id(),
    }
}

/// The proxies (load balancers, CDNs) whose `X-Forwarded-For` / `Forwarded` the proxy extends
/// instead of replacing: `--trusted-proxies`.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Comma-separated CIDRs (`10.0.0.0/8`) or single addresses (`192.0.2.7`, `::1`).
    pub fn parse(list: &str) -> Result<TrustedProxies, String> {
        let mut nets = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let net = match item.parse::<IpNet>() {
                Ok(net) => net.trunc(),
                Err(_) => match item.parse::<IpAddr>() {
                    Ok(ip) => IpNet::from(ip),
                    Err(_) => {
                        return Err(format!(
                            "{item:?} is neither a CIDR (10.0.0.0/8, fd00::/8) nor an IP address"
                        ))
                    }
                },
            };
            nets.push(net);
        }
        Ok(TrustedProxies(nets))
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The client's address as far as the proxy can tell: the peer, or, when the peer is a trusted
/// proxy, the right-most `X-Forwarded-For` entry that is not itself a trusted proxy (entries
/// left of an untrusted one could have been written by anybody). Only parsed addresses come out.
pub fn client_ip(req: &RequestHeader, peer: IpAddr, trusted: &TrustedProxies) -> IpAddr {
    let mut client = peer.to_canonical();
    if !trusted.contains(client) {
        return client;
    }
    let entries = req
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .rev()
        .flat_map(|v| v.to_str().unwrap_or("").rsplit(','));
    for entry in entries {
        match entry.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip.to_canonical();
                if !trusted.contains(client) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

/// What the upstream request says about the client, per `mode`:
///
/// * from a peer outside `trusted`, every [`CLIENT_ADDRESS_HEADERS`] header the client sent is
///   removed first, whatever the mode (so `forward_headers: true` never carries a forged one);
/// * `xff`: `X-Forwarded-For` is the peer's address, appended to a trusted peer's list;
///   `X-Forwarded-Proto` and `X-Forwarded-Host` are a trusted peer's, else this hop's;
/// * `forwarded`: one RFC 7239 element `for=…;proto=…;host="…"`, appended to a trusted peer's;
/// * `off`: nothing is added.
///
/// `client` is the request as the client sent it (the upstream request may already have lost
/// the headers to the route's header policy); a header the route configures (`is_configured`)
/// is left alone: configured headers always win.
pub fn set_forwarded(
    upstream: &mut RequestHeader,
    client: &RequestHeader,
    mode: ForwardedHeaders,
    peer: Option<IpAddr>,
    trusted_peer: bool,
    proto: &str,
    is_configured: impl Fn(&str) -> bool,
) -> pingora::Result<()> {
    // One pass over the few headers instead of five hashed removes: most requests carry none.
    let carries_client_address = || {
        upstream
            .headers
            .keys()
            .any(|name| CLIENT_ADDRESS_HEADERS.contains(name))
    };
    if !trusted_peer && carries_client_address() {
        for name in &CLIENT_ADDRESS_HEADERS {
            if !is_configured(name.as_str()) {
                upstream.remove_header(name);
            }
        }
    }
    let Some(peer) = peer.map(|p| p.to_canonical()) else {
        return Ok(());
    };
    let incoming = |name: &str| -> Option<String> {
        if !trusted_peer {
            return None;
        }
        let values: Vec<&str> = client
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    };
    let host = client
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| is_host(h));
    let mut set = |name: &'static str, value: String| -> pingora::Result<()> {
        if !is_configured(name) {
            upstream.insert_header(name, value)?;
        }
        Ok(())
    };
    match mode {
        ForwardedHeaders::Off => {}
        ForwardedHeaders::Xff => {
            let xff = match incoming("x-forwarded-for") {
                Some(list) => format!("{list}, {peer}"),
                None => peer.to_string(),
            };
            set("x-forwarded-for", xff)?;
            set(
                "x-forwarded-proto",
                incoming("x-forwarded-proto").unwrap_or_else(|| proto.to_owned()),
            )?;
            if let Some(h) = incoming("x-forwarded-host").or(host.map(str::to_owned)) {
                set("x-forwarded-host", h)?;
            }
        }
        ForwardedHeaders::Forwarded => {
            let mut element = String::from("for=");
            match peer {
                IpAddr::V4(v4) => write!(element, "{v4}"),
                IpAddr::V6(v6) => write!(element, "\"[{v6}]\""),
            }
            .expect("writing to a String");
            write!(element, ";proto={proto}").expect("writing to a String");
            if let Some(h) = host {
                write!(element, ";host=\"{h}\"").expect("writing to a String");
            }
            let value = match incoming("forwarded") {
                Some(list) => format!("{list}, {element}"),
                None => element,
            };
            set("forwarded", value)?;
        }
    }
    Ok(())
}

/// A `Host` value that can be passed on (and quoted in `Forwarded`) as it is.
fn is_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':' | b'[' | b']')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        for (n, v) in headers {
            req.append_header(n.to_string(), *v).unwrap();
        }
        req
    }

    fn header(req: &RequestHeader, name: &str) -> Option<String> {
        req.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    #[test]
    fn sane_request_ids_are_bounded_in_length_and_charset() {
        assert!(sane_request_id(b"req_0123-abc.def:1+2/3=@x"));
        assert!(sane_request_id(&[b'a'; MAX_REQUEST_ID_LEN]));
        assert!(!sane_request_id(&[b'a'; MAX_REQUEST_ID_LEN + 1]));
        assert!(!sane_request_id(b""));
        assert!(!sane_request_id(b"a b"));
        assert!(!sane_request_id(b"a\r\nx: y"));
        assert!(!sane_request_id(b"\"quoted\""));
        assert!(!sane_request_id("é".as_bytes()));
    }

    #[test]
    fn generated_ids_are_uuid_v4_and_differ() {
        let a = new_request_id();
        let b = new_request_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!("89ab".contains(&a[19..20]), "{a}");
        assert!(sane_request_id(a.as_bytes()));
    }

    #[test]
    fn a_repeated_request_id_is_replaced() {
        let req = request(&[("x-request-id", "one"), ("x-request-id", "two")]);
        assert_eq!(request_id(&req).len(), 36);
        assert_eq!(request_id(&request(&[("x-request-id", "one")])), "one");
    }

    #[test]
    fn trusted_proxies_take_cidrs_and_addresses() {
        let t = TrustedProxies::parse("10.0.0.0/8, 192.0.2.7,::1,fd00::/8").unwrap();
        assert!(t.contains("10.1.2.3".parse().unwrap()));
        assert!(t.contains("192.0.2.7".parse().unwrap()));
        assert!(!t.contains("192.0.2.8".parse().unwrap()));
        assert!(t.contains("::1".parse().unwrap()));
        assert!(t.contains("::ffff:10.0.0.1".parse().unwrap()));
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("nope").is_err());
        assert!(TrustedProxies::parse("").unwrap().is_empty());
    }

    fn forwarded(
        client: &RequestHeader,
        mode: ForwardedHeaders,
        peer: &str,
        trusted: bool,
    ) -> RequestHeader {
        let mut up = client.clone();
        set_forwarded(
            &mut up,
            client,
            mode,
            Some(peer.parse().unwrap()),
            trusted,
            "http",
            |_| false,
        )
        .unwrap();
        up
    }

    #[test]
    fn an_untrusted_peer_replaces_the_list() {
        let client = request(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-proto", "https"),
            ("x-real-ip", "6.6.6.6"),
            ("forwarded", "for=6.6.6.6"),
            ("host", "gw.example"),
        ]);
        let up = forwarded(&client, ForwardedHeaders::Xff, "203.0.113.9", false);
        assert_eq!(header(&up, "x-forwarded-for").unwrap(), "203.0.113.9");
        assert_eq!(header(&up, "x-forwarded-proto").unwrap(), "http");
        assert_eq!(header(&up, "x-forwarded-host").unwrap(), "gw.example");
        assert_eq!(header(&up, "x-real-ip"), None);
        assert_eq!(header(&up, "forwarded"), None);
        let off = forwarded(&client, ForwardedHeaders::Off, "203.0.113.9", false);
        for name in &CLIENT_ADDRESS_HEADERS {
            assert_eq!(header(&off, name.as_str()), None, "{name}");
        }
    }

    #[test]
    fn a_trusted_peer_extends_the_list() {
        let client = request(&[
            ("x-forwarded-for", "198.51.100.1"),
            ("x-forwarded-for", "10.0.0.2"),
            ("x-forwarded-proto", "https"),
        ]);
        let up = forwarded(&client, ForwardedHeaders::Xff, "10.0.0.3", true);
        assert_eq!(
            header(&up, "x-forwarded-for").unwrap(),
            "198.51.100.1, 10.0.0.2, 10.0.0.3"
        );
        assert_eq!(header(&up, "x-forwarded-proto").unwrap(), "https");
    }

    #[test]
    fn forwarded_quotes_v6_and_the_host() {
        let client = request(&[("host", "gw.example:8080"), ("forwarded", "for=192.0.2.1")]);
        let up = forwarded(&client, ForwardedHeaders::Forwarded, "2001:db8::1", true);
        assert_eq!(
            header(&up, "forwarded").unwrap(),
            "for=192.0.2.1, for=\"[2001:db8::1]\";proto=http;host=\"gw.example:8080\""
        );
        let up = forwarded(&client, ForwardedHeaders::Forwarded, "192.0.2.9", false);
        assert_eq!(
            header(&up, "forwarded").unwrap(),
            "for=192.0.2.9;proto=http;host=\"gw.example:8080\""
        );
    }

    #[test]
    fn configured_headers_are_left_alone() {
        let client = request(&[]);
        let mut up = request(&[("x-forwarded-for", "configured")]);
        set_forwarded(
            &mut up,
            &client,
            ForwardedHeaders::Xff,
            Some("192.0.2.9".parse().unwrap()),
            false,
            "http",
            |n| n == "x-forwarded-for",
        )
        .unwrap();
        assert_eq!(header(&up, "x-forwarded-for").unwrap(), "configured");
    }

    #[test]
    fn the_client_ip_is_the_rightmost_untrusted_entry() {
        let t = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let req = request(&[("x-forwarded-for", "1.1.1.1, 2.2.2.2, 10.0.0.5")]);
        let peer = "10.0.0.1".parse().unwrap();
        assert_eq!(
            client_ip(&req, peer, &t),
            "2.2.2.2".parse::<IpAddr>().unwrap()
        );
        let outsider = "3.3.3.3".parse().unwrap();
        assert_eq!(client_ip(&req, outsider, &t), outsider);
        let junk = request(&[("x-forwarded-for", "1.1.1.1, junk")]);
        assert_eq!(client_ip(&junk, peer, &t), peer);
    }
}
