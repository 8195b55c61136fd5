//! An upstream URL as a route names it.

/// An absolute http(s) URL with a host; may carry a base path and a query, never credentials or
/// a fragment. Kept as written so canonical rendering returns the operator's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    raw: String,
    uri: http::Uri,
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
        if authority.host().is_empty() {
            return Err("has no host".into());
        }
        if authority.as_str().ends_with(':') {
            return Err("has an empty port after ':'".into());
        }
        // `http::Uri` accepts any digits as a port and then reports none, which would send the
        // request (and its configured credentials) to the scheme's default port.
        let after_host = authority.as_str().rsplit(']').next().unwrap_or_default();
        if let Some((_, port)) = after_host.rsplit_once(':') {
            match port.parse::<u16>() {
                Ok(p) if p > 0 => {}
                _ => {
                    return Err(format!(
                        "has port {port}; a port is a number from 1 to 65535"
                    ))
                }
            }
        }
        Ok(Target {
            raw: raw.to_owned(),
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
        self.uri
            .scheme_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("https"))
    }

    /// Host as written; IPv6 literals keep their brackets.
    pub fn host(&self) -> &str {
        self.uri.host().unwrap_or_default()
    }

    /// The explicit port, or 443/80 by scheme.
    pub fn port(&self) -> u16 {
        self.uri
            .port_u16()
            .unwrap_or(if self.is_https() { 443 } else { 80 })
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
