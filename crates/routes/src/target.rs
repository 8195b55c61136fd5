//! An upstream URL as a route names it.

/// An absolute http(s) URL with a host; may carry a base path and a query, never credentials or
/// a fragment. Kept as written so canonical rendering returns the operator's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    raw: String,
    uri: http::Uri,
    /// Read on every proxied request, so worked out once: `http::Uri` parses its authority again
    /// on each `host()` and `port_u16()`.
    https: bool,
    port: u16,
    /// `raw[scheme:// .. host_end]` is the host.
    host_end: u32,
}

impl Target {
    pub fn parse(raw: &str) -> Result<Target, String> {
        if raw.contains('#') {
            return Err("must not contain a fragment ('#')".into());
        }
        let uri: http::Uri = raw.parse().map_err(|e| {
            format!(
                "is not an absolute http(s) URL ({e}); write it like https://api.example.com/v1"
            )
        })?;
        let scheme = uri.scheme_str().unwrap_or("");
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return Err(if scheme.is_empty() {
                "is not an absolute URL: it needs http:// or https:// and a host".into()
            } else {
                format!("has scheme {scheme:?}; only http and https are supported")
            });
        }
        let authority = uri.authority().ok_or("has no host")?;
        if authority.as_str().contains('@') {
            return Err(
                "must not carry credentials (user:password@); send them with `headers`".into(),
            );
        }
        let host = authority.host();
        if host.is_empty() {
            return Err("has no host".into());
        }
        if authority.as_str().ends_with(':') {
            return Err("has an empty port after ':'".into());
        }
        // `http::Uri` accepts any digits as a port and then reports none, which would send the
        // request (and its configured credentials) to the scheme's default port.
        let after_host = authority.as_str().rsplit(']').next().unwrap_or_default();
        let https = scheme.eq_ignore_ascii_case("https");
        let port = match after_host.rsplit_once(':') {
            None => {
                if https {
                    443
                } else {
                    80
                }
            }
            Some((_, port)) => match port.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => {
                    return Err(format!(
                        "has port {port}; a port is a number from 1 to 65535"
                    ))
                }
            },
        };
        let host_start = scheme.len() + "://".len();
        let host_end = host_start + host.len();
        if raw.get(host_start..host_end) != Some(host) {
            return Err(
                "is not an absolute http(s) URL; write it like https://api.example.com/v1".into(),
            );
        }
        Ok(Target {
            raw: raw.to_owned(),
            https,
            port,
            host_end: u32::try_from(host_end).map_err(|_| "is too long")?,
            uri,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The URL as messages may quote it: secret-looking query values masked.
    pub fn redacted(&self) -> String {
        crate::redact::redact_target(&self.raw)
    }

    pub fn is_https(&self) -> bool {
        self.https
    }

    /// Host as written; IPv6 literals keep their brackets.
    pub fn host(&self) -> &str {
        let start = if self.https { "https://" } else { "http://" }.len();
        &self.raw[start..self.host_end as usize]
    }

    /// Host as a resolver and SNI take it: an IPv6 literal without its brackets.
    pub fn host_unbracketed(&self) -> &str {
        self.host().trim_start_matches('[').trim_end_matches(']')
    }

    /// The explicit port, or 443/80 by scheme.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host[:port]` as the upstream's `Host` header carries it.
    pub fn authority(&self) -> &str {
        self.uri.authority().map(|a| a.as_str()).unwrap_or_default()
    }

    /// The base path, `/` when the URL has none.
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    pub fn query(&self) -> Option<&str> {
        self.uri.query()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_and_scheme_are_the_urls_own() {
        for (raw, host, port, https) in [
            ("http://backend:8080/v1", "backend", 8080, false),
            ("https://api.example.com", "api.example.com", 443, true),
            (
                "HTTPS://API.example.com/v1?x=1",
                "API.example.com",
                443,
                true,
            ),
            ("http://[::1]:9000/p", "[::1]", 9000, false),
            ("http://[fd00::2]", "[fd00::2]", 80, false),
            ("http://127.0.0.1", "127.0.0.1", 80, false),
        ] {
            let target = Target::parse(raw).unwrap();
            assert_eq!(target.host(), host, "{raw}");
            assert_eq!(target.host(), target.uri.host().unwrap(), "{raw}");
            assert_eq!(target.port(), port, "{raw}");
            assert_eq!(target.is_https(), https, "{raw}");
        }
    }
}
