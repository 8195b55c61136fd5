//! The upstream URL: the target's base path plus the subpath, and the merged query string.

use std::collections::BTreeMap;

use passthru_routes::Target;

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
}
