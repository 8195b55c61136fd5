//! Which `auth: true` routes a key may use: LiteLLM 1.110.2's scoped-key rules, as a key entry's
//! `admin`, `allow` and `deny` fields carry them.
//!
//! The two lists match the way LiteLLM's own lists do (`litellm/proxy/auth/route_checks.py`), so
//! that a sidecar reading LiteLLM's tables decides every request as LiteLLM would:
//!
//! * an `allow` entry matches the request path itself or any path below it at a segment boundary
//!   (`/a` matches `/a` and `/a/b`, never `/ab`); `*` has no special meaning there
//!   (`_route_matches_allowed_route`);
//! * a `deny` entry does the same after dropping trailing `/` (so `/` and the empty string deny
//!   every path), and an entry ending in `*` also matches every path that starts with what comes
//!   before the `*`, segment boundary or not (`_route_matches_denied_route`).

use std::sync::Arc;

/// The longest `allow` or `deny` entry.
pub const MAX_GRANT_ENTRY_BYTES: usize = 2048;
/// The most entries in one `allow` or `deny` list.
pub const MAX_GRANT_ENTRIES: usize = 1000;

/// A key's access to `auth: true` routes. The default (no `admin`, no `allow`, no `deny`) is an
/// unscoped key: every `auth: true` route, as before scoped keys existed.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Grants {
    /// Every route, whatever the lists say (LiteLLM's master key and `proxy_admin` users).
    pub admin: bool,
    /// `None`: every route. `Some([])`: none (a LiteLLM key with no grant on key or team).
    pub allow: Option<Vec<String>>,
    /// Checked first; a match refuses the request even when `allow` grants it.
    pub deny: Vec<String>,
    /// `None`: no limit. Otherwise the key may call only paths an entry matches, admin or not
    /// (LiteLLM's `LiteLLM_VerificationToken.allowed_routes`); checked before everything else.
    pub only: Option<Vec<String>>,
}

/// The views of one request path that a decision looks at. passthru routes and forwards the
/// normalised path; LiteLLM compares `allow` entries with the percent-decoded path as sent, and
/// `deny` entries with the path as it would forward it. A decision takes the stricter answer of
/// the views, so it never lets through what either would refuse.
#[derive(Debug, Clone, Copy)]
pub struct RequestPaths<'a> {
    /// The normalised path: what matched and what goes upstream.
    pub normalized: &'a str,
    /// The path as sent, every `%XX` decoded, nothing else changed.
    pub decoded: &'a str,
    /// A subpath route matched at its own path, which LiteLLM forwards as `path/`.
    pub at_subpath_root: bool,
}

impl<'a> RequestPaths<'a> {
    /// One path seen the same way by every view (tests, and requests without encodings).
    pub fn plain(path: &'a str) -> RequestPaths<'a> {
        RequestPaths {
            normalized: path,
            decoded: path,
            at_subpath_root: false,
        }
    }

    /// Every path a `deny` entry is tested against.
    fn deny_candidates(&self) -> Vec<std::borrow::Cow<'a, str>> {
        use std::borrow::Cow;
        let mut out = vec![Cow::Borrowed(self.normalized), Cow::Borrowed(self.decoded)];
        if let Some(cut) = self.decoded.find(['?', '#']) {
            let cut = &self.decoded[..cut];
            out.push(Cow::Borrowed(cut));
            if let Ok(normal) = crate::path::normalize_request_path(cut) {
                out.push(Cow::Owned(normal.into_owned()));
            }
        }
        if self.at_subpath_root {
            out.push(Cow::Owned(format!("{}/", self.normalized)));
        }
        out
    }
}

/// Why a key may not use a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantRefusal<'g> {
    /// This `deny` entry matched.
    Denied(&'g str),
    /// The key has an `allow` list and nothing in it matched.
    NotAllowed,
    /// The key has an `only` list and nothing in it matched.
    NotInOnly,
}

impl Grants {
    /// Unscoped keys share nothing; scoped ones are compared by value so that thousands of keys
    /// of one team can share one allocation.
    pub fn is_unscoped(&self) -> bool {
        *self == Grants::default()
    }

    /// May this key use a route at the request path seen as `paths`?
    pub fn decide(&self, paths: &RequestPaths<'_>) -> Result<(), GrantRefusal<'_>> {
        let both =
            |matches: &dyn Fn(&str) -> bool| matches(paths.normalized) && matches(paths.decoded);
        if let Some(only) = &self.only {
            if !only.iter().any(|o| both(&|p| only_matches(p, o))) {
                return Err(GrantRefusal::NotInOnly);
            }
        }
        if self.admin {
            return Ok(());
        }
        if !self.deny.is_empty() {
            let candidates = paths.deny_candidates();
            if let Some(entry) = self
                .deny
                .iter()
                .find(|d| candidates.iter().any(|p| deny_matches(p, d)))
            {
                return Err(GrantRefusal::Denied(entry));
            }
        }
        match &self.allow {
            None => Ok(()),
            Some(allow) if allow.iter().any(|a| both(&|p| allow_matches(p, a))) => Ok(()),
            Some(_) => Err(GrantRefusal::NotAllowed),
        }
    }
}

/// LiteLLM's `_route_matches_allowed_route`: the path itself, or below it at a `/`.
pub fn allow_matches(path: &str, entry: &str) -> bool {
    path == entry
        || path
            .strip_prefix(entry)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// LiteLLM's `is_virtual_key_allowed_to_call_route` for a path entry: the path itself, below it
/// at a `/`, or (for an entry ending in `*`) any path starting with what precedes the `*`.
pub fn only_matches(path: &str, entry: &str) -> bool {
    allow_matches(path, entry) || entry.strip_suffix('*').is_some_and(|p| path.starts_with(p))
}

/// LiteLLM's `_route_matches_denied_route`.
pub fn deny_matches(path: &str, entry: &str) -> bool {
    let trimmed = entry.trim_end_matches('/');
    if trimmed.is_empty() || allow_matches(path, trimmed) {
        return true;
    }
    match entry.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => path == entry,
    }
}

/// Checks an `allow` or `deny` list: at most [`MAX_GRANT_ENTRIES`] entries of at most
/// [`MAX_GRANT_ENTRY_BYTES`], no control characters. `Err` says which entry and why.
pub fn check_list(list: &[String]) -> Result<(), String> {
    if list.len() > MAX_GRANT_ENTRIES {
        return Err(format!(
            "has {} entries; at most {MAX_GRANT_ENTRIES}",
            list.len()
        ));
    }
    for (i, entry) in list.iter().enumerate() {
        if entry.len() > MAX_GRANT_ENTRY_BYTES {
            return Err(format!(
                "entry {i} is {} bytes; at most {MAX_GRANT_ENTRY_BYTES}",
                entry.len()
            ));
        }
        if let Some(b) = entry.bytes().find(|b| b.is_ascii_control()) {
            return Err(format!(
                "entry {i} contains the control character 0x{b:02X}"
            ));
        }
    }
    Ok(())
}

/// Hands out one shared copy of each distinct scoped [`Grants`].
#[derive(Default)]
pub struct GrantsInterner {
    seen: std::collections::HashSet<Arc<Grants>>,
}

impl GrantsInterner {
    pub fn intern(&mut self, grants: Grants) -> Option<Arc<Grants>> {
        if grants.is_unscoped() {
            return None;
        }
        if let Some(shared) = self.seen.get(&grants) {
            return Some(shared.clone());
        }
        let shared = Arc::new(grants);
        self.seen.insert(shared.clone());
        Some(shared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scoped(allow: Option<&[&str]>, deny: &[&str]) -> Grants {
        Grants {
            admin: false,
            allow: allow.map(|a| a.iter().map(|s| s.to_string()).collect()),
            deny: deny.iter().map(|s| s.to_string()).collect(),
            only: None,
        }
    }

    #[test]
    fn an_allow_entry_matches_at_a_segment_boundary_only() {
        assert!(allow_matches("/a", "/a"));
        assert!(allow_matches("/a/b", "/a"));
        assert!(!allow_matches("/ab", "/a"));
        assert!(!allow_matches("/a/b", "/a/*"), "no wildcard in allow lists");
        assert!(
            allow_matches("/x", ""),
            "LiteLLM: '' + '/' prefixes every path"
        );
        assert!(
            !allow_matches("/x", "/"),
            "LiteLLM: '/' allows only '/' itself"
        );
    }

    #[test]
    fn a_deny_entry_matches_prefixes_wildcards_and_the_root() {
        assert!(deny_matches("/anything", "/"));
        assert!(deny_matches("/anything", ""));
        assert!(deny_matches("/a/b", "/a/"));
        assert!(!deny_matches("/ab", "/a"));
        assert!(
            deny_matches("/ab", "/a*"),
            "a wildcard ignores segment boundaries"
        );
        assert!(deny_matches("/a/x", "/a/*"));
        assert!(!deny_matches("/a", "/a/*"), "the prefix before '*' is /a/");
    }

    #[test]
    fn deny_beats_allow_and_admin_beats_both() {
        let g = scoped(Some(&["/a"]), &["/a/secret"]);
        assert_eq!(g.decide(&RequestPaths::plain("/a/x")), Ok(()));
        assert_eq!(
            g.decide(&RequestPaths::plain("/a/secret/x")),
            Err(GrantRefusal::Denied("/a/secret"))
        );
        assert_eq!(
            g.decide(&RequestPaths::plain("/b")),
            Err(GrantRefusal::NotAllowed)
        );
        let admin = Grants { admin: true, ..g };
        assert_eq!(admin.decide(&RequestPaths::plain("/a/secret/x")), Ok(()));
    }

    #[test]
    fn an_only_list_limits_admins_too() {
        let g = Grants {
            admin: true,
            only: Some(vec!["/a/*".into()]),
            ..Grants::default()
        };
        assert_eq!(g.decide(&RequestPaths::plain("/a/x")), Ok(()));
        assert_eq!(
            g.decide(&RequestPaths::plain("/b")),
            Err(GrantRefusal::NotInOnly)
        );
    }

    #[test]
    fn an_empty_allow_list_allows_nothing_and_none_allows_everything() {
        assert_eq!(
            scoped(Some(&[]), &[]).decide(&RequestPaths::plain("/a")),
            Err(GrantRefusal::NotAllowed)
        );
        assert_eq!(Grants::default().decide(&RequestPaths::plain("/a")), Ok(()));
    }

    #[test]
    fn allow_needs_every_view_and_deny_any_view() {
        let g = scoped(Some(&["/acme/v1"]), &["/acme/x"]);
        let dots = RequestPaths {
            normalized: "/acme/admin",
            decoded: "/acme/v1/../admin",
            at_subpath_root: false,
        };
        assert_eq!(g.decide(&dots), Err(GrantRefusal::NotAllowed));
        let double = RequestPaths {
            normalized: "/acme/v1/chat",
            decoded: "/acme//v1/chat",
            at_subpath_root: false,
        };
        assert_eq!(g.decide(&double), Err(GrantRefusal::NotAllowed));
        let query = RequestPaths {
            normalized: "/acme/x%3Fq=/y",
            decoded: "/acme/x?q=/y",
            at_subpath_root: false,
        };
        assert_eq!(g.decide(&query), Err(GrantRefusal::Denied("/acme/x")));
        let root = RequestPaths {
            normalized: "/acme",
            decoded: "/acme",
            at_subpath_root: true,
        };
        let star = scoped(Some(&["/acme"]), &["/acme/*"]);
        assert_eq!(star.decide(&root), Err(GrantRefusal::Denied("/acme/*")));
    }

    #[test]
    fn equal_grants_are_shared_and_unscoped_ones_are_not_stored() {
        let mut interner = GrantsInterner::default();
        let a = interner.intern(scoped(Some(&["/a"]), &[])).unwrap();
        let b = interner.intern(scoped(Some(&["/a"]), &[])).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(interner.intern(Grants::default()).is_none());
    }
}
