//! HTTP methods a route can be limited to.

use std::fmt;

/// A method a route may name. Extension methods (WebDAV and the like) are not routable: a route
/// either names standard methods or accepts all of them but TRACE and CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    Connect,
    Delete,
    Get,
    Head,
    Options,
    Patch,
    Post,
    Put,
    Trace,
}

impl Method {
    /// Every method, in the order canonical files list them (alphabetical, as the id scheme sorts).
    pub const ALL: [Method; 9] = [
        Method::Connect,
        Method::Delete,
        Method::Get,
        Method::Head,
        Method::Options,
        Method::Patch,
        Method::Post,
        Method::Put,
        Method::Trace,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Connect => "CONNECT",
            Method::Delete => "DELETE",
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
            Method::Patch => "PATCH",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Trace => "TRACE",
        }
    }

    /// Parses a method name as the routes file writes it: case-insensitively (`get` and `GET`
    /// name the same method there).
    pub fn parse(name: &str) -> Option<Method> {
        Method::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(name))
    }

    /// Parses the method of a request. Methods are case-sensitive on the wire (RFC 9110 §9.1):
    /// `get` is an unknown extension method, not GET, so an upstream never receives a spelling
    /// the route did not match.
    pub fn from_request(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// TRACE reflects the request, configured credentials included, and CONNECT opens a tunnel:
    /// a route serves them only when it names them.
    pub fn needs_opt_in(self) -> bool {
        matches!(self, Method::Trace | Method::Connect)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The methods a route answers. Empty (LiteLLM's `methods: null`) means every method except
/// TRACE and CONNECT ([`Method::needs_opt_in`]); the set stays empty as written, so derived ids
/// and the canonical file do not change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MethodSet(u16);

impl MethodSet {
    /// The set a route with no `methods` has: every method except TRACE and CONNECT.
    pub const ANY: MethodSet = MethodSet(0);

    pub fn insert(&mut self, method: Method) {
        self.0 |= method.bit();
    }

    /// True when the route names no methods (and so answers every method but TRACE and CONNECT).
    pub fn is_any(self) -> bool {
        self.0 == 0
    }

    pub fn allows(self, method: Method) -> bool {
        self.explicit().0 & method.bit() != 0
    }

    /// True when some method is answered by both sets.
    pub fn overlaps(self, other: MethodSet) -> bool {
        self.explicit().0 & other.explicit().0 != 0
    }

    /// The named methods in canonical order; empty for [`MethodSet::ANY`].
    pub fn iter(self) -> impl Iterator<Item = Method> {
        Method::ALL
            .into_iter()
            .filter(move |m| self.0 & m.bit() != 0)
    }

    /// The methods the set answers, spelled out (never `ANY`), for `Allow` headers and messages.
    pub fn explicit(self) -> MethodSet {
        if self.is_any() {
            MethodSet(
                Method::ALL
                    .iter()
                    .filter(|m| !m.needs_opt_in())
                    .fold(0, |acc, m| acc | m.bit()),
            )
        } else {
            self
        }
    }

    pub fn union(self, other: MethodSet) -> MethodSet {
        MethodSet(self.explicit().0 | other.explicit().0)
    }

    pub fn intersection(self, other: MethodSet) -> MethodSet {
        MethodSet(self.explicit().0 & other.explicit().0)
    }

    /// Comma-separated names as an `Allow` header carries them: `GET, POST`.
    pub fn to_allow_header(self) -> String {
        self.explicit()
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl FromIterator<Method> for MethodSet {
    fn from_iter<I: IntoIterator<Item = Method>>(iter: I) -> Self {
        let mut set = MethodSet::ANY;
        for m in iter {
            set.insert(m);
        }
        set
    }
}

impl fmt::Display for MethodSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_any() {
            return f.write_str("*");
        }
        let names: Vec<&str> = self.iter().map(Method::as_str).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_case_insensitive() {
        assert_eq!(Method::parse("get"), Some(Method::Get));
        assert_eq!(Method::parse("PaTcH"), Some(Method::Patch));
        assert_eq!(Method::parse("PROPFIND"), None);
        assert_eq!(Method::parse(""), None);
    }

    #[test]
    fn request_methods_are_case_sensitive() {
        assert_eq!(Method::from_request("GET"), Some(Method::Get));
        assert_eq!(Method::from_request("get"), None);
        assert_eq!(Method::from_request("Post"), None);
    }

    #[test]
    fn empty_set_allows_every_method_but_trace_and_connect() {
        for m in Method::ALL {
            assert_eq!(MethodSet::ANY.allows(m), !m.needs_opt_in(), "{m}");
        }
        let trace: MethodSet = [Method::Trace].into_iter().collect();
        assert!(trace.allows(Method::Trace));
    }

    #[test]
    fn a_trace_route_does_not_overlap_an_unrestricted_one() {
        let trace: MethodSet = [Method::Trace, Method::Connect].into_iter().collect();
        assert!(!MethodSet::ANY.overlaps(trace));
        assert!(!trace.overlaps(MethodSet::ANY));
        let get_trace: MethodSet = [Method::Get, Method::Trace].into_iter().collect();
        assert!(MethodSet::ANY.overlaps(get_trace));
    }

    #[test]
    fn named_set_allows_only_its_methods() {
        let set: MethodSet = [Method::Post, Method::Get].into_iter().collect();
        assert!(set.allows(Method::Get));
        assert!(!set.allows(Method::Put));
        assert_eq!(set.to_string(), "GET,POST");
    }

    #[test]
    fn overlap_treats_any_as_every_method() {
        let get: MethodSet = [Method::Get].into_iter().collect();
        let post: MethodSet = [Method::Post].into_iter().collect();
        assert!(MethodSet::ANY.overlaps(get));
        assert!(!get.overlaps(post));
        assert_eq!(get.intersection(MethodSet::ANY), get);
    }

    #[test]
    fn allow_header_spells_out_any() {
        assert_eq!(
            MethodSet::ANY.to_allow_header(),
            "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
        );
    }
}
