//! What may be quoted from a target URL in a message: never its credentials. Every message that
//! quotes a target (a refused row, a refused file, `check`'s listing) goes through
//! [`redact_target`], so a `user:password@` or a `?api_key=` never reaches a log.

/// Query parameter names (lower-cased substrings) whose values are treated as secrets.
const SECRET_PARAM_WORDS: &[&str] = &[
    "key",
    "token",
    "secret",
    "pass",
    "pwd",
    "auth",
    "sig",
    "credential",
    "session",
];

const MASK: &str = "***";

/// `raw` with the userinfo of its authority and the values of secret-looking query parameters
/// replaced by `***`. Works on strings that are not valid URLs too (a refused target is quoted
/// because it is invalid).
pub fn redact_target(raw: &str) -> String {
    let (scheme, rest) = match raw.find("://") {
        Some(at) => raw.split_at(at + 3),
        None => ("", raw),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let mut out = String::with_capacity(raw.len());
    out.push_str(scheme);
    match authority.rfind('@') {
        Some(at) => {
            out.push_str(MASK);
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    let (before_query, query_and_fragment) = match tail.find('?') {
        Some(at) => tail.split_at(at),
        None => (tail, ""),
    };
    out.push_str(before_query);
    if let Some(query_and_fragment) = query_and_fragment.strip_prefix('?') {
        let (query, fragment) = match query_and_fragment.find('#') {
            Some(at) => query_and_fragment.split_at(at),
            None => (query_and_fragment, ""),
        };
        out.push('?');
        for (i, pair) in query.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((name, _)) if is_secret_param(name) => {
                    out.push_str(name);
                    out.push('=');
                    out.push_str(MASK);
                }
                _ => out.push_str(pair),
            }
        }
        out.push_str(fragment);
    }
    out
}

fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAM_WORDS.iter().any(|w| name.contains(w))
}

#[cfg(test)]
mod tests {
    use super::redact_target;

    #[test]
    fn userinfo_is_masked() {
        assert_eq!(
            redact_target("https://svc:S3cretPassw0rd@internal.example/v1"),
            "https://***@internal.example/v1"
        );
        assert_eq!(
            redact_target("svc:S3cret@internal.example/v1"),
            "***@internal.example/v1"
        );
    }

    #[test]
    fn secret_query_values_are_masked_and_others_kept() {
        assert_eq!(
            redact_target("https://h/v1?api_key=abc&limit=10&X-Amz-Signature=f00#frag"),
            "https://h/v1?api_key=***&limit=10&X-Amz-Signature=***#frag"
        );
    }

    #[test]
    fn an_at_sign_in_the_path_is_not_userinfo() {
        assert_eq!(
            redact_target("https://h/users/a@b.c?q=1"),
            "https://h/users/a@b.c?q=1"
        );
    }
}
