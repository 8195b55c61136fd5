//! Route identity: explicit ids are kept, absent ones are derived, never minted.

use sha2::{Digest, Sha256};

use crate::method::MethodSet;

/// The most characters an explicit id may have.
pub(crate) const MAX_ID_CHARS: usize = 200;

/// The id of a route. Derived ids are a pure function of the route's path and methods, so the
/// same row gets the same id on every machine and every cycle (the fix for LiteLLM #24833).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StableId(String);

impl StableId {
    /// `auto-` + the first 16 hex digits of sha256(`path:{path}|methods:{M1,M2}`), methods
    /// upper-cased, de-duplicated and sorted; empty when the route names none. A subpath route
    /// appends `|subpath` to the hashed text, so an exact and a subpath route on one path and
    /// methods (which do not clash) get distinct ids; exact routes keep LiteLLM's proposed ids.
    pub fn derive(path: &str, methods: MethodSet, include_subpath: bool) -> StableId {
        let methods: Vec<&str> = methods.iter().map(|m| m.as_str()).collect();
        let mut key = format!("path:{path}|methods:{}", methods.join(","));
        if include_subpath {
            key.push_str("|subpath");
        }
        let digest = Sha256::digest(key.as_bytes());
        let mut id = String::with_capacity(21);
        id.push_str("auto-");
        for byte in &digest[..8] {
            id.push_str(&format!("{byte:02x}"));
        }
        StableId(id)
    }

    /// An id the operator or database gave explicitly; kept exactly as written.
    pub fn explicit(id: impl Into<String>) -> StableId {
        StableId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for StableId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::method::Method;

    #[test]
    fn derived_id_matches_the_upstream_test_vector() {
        assert_eq!(
            StableId::derive("/my-service", MethodSet::ANY, false).as_str(),
            "auto-64ec647a7877a6c4"
        );
    }

    #[test]
    fn an_exact_and_a_subpath_route_on_one_path_get_distinct_ids() {
        assert_ne!(
            StableId::derive("/my-service", MethodSet::ANY, false),
            StableId::derive("/my-service", MethodSet::ANY, true)
        );
    }

    #[test]
    fn derived_id_depends_on_path() {
        assert_ne!(
            StableId::derive("/svc-alpha", MethodSet::ANY, false),
            StableId::derive("/svc-beta", MethodSet::ANY, false)
        );
    }

    #[test]
    fn derived_id_ignores_method_order() {
        let a: MethodSet = [Method::Post, Method::Get].into_iter().collect();
        let b: MethodSet = [Method::Get, Method::Post, Method::Get]
            .into_iter()
            .collect();
        assert_eq!(
            StableId::derive("/x", a, false),
            StableId::derive("/x", b, false)
        );
    }

    #[test]
    fn derived_id_hashes_sorted_comma_joined_methods() {
        let methods: MethodSet = [Method::Post, Method::Get].into_iter().collect();
        let digest = Sha256::digest(b"path:/x|methods:GET,POST");
        let expected: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            StableId::derive("/x", methods, false).as_str(),
            format!("auto-{expected}")
        );
    }

    #[test]
    fn explicit_id_is_kept_untouched() {
        assert_eq!(
            StableId::explicit("my-custom-endpoint-id-12345").as_str(),
            "my-custom-endpoint-id-12345"
        );
    }
}
