//! Request-path normalisation (DESIGN.md §4): one normal form that the table matches and the proxy
//! forwards, so the router and the upstream can never see different paths ("split view").

use std::borrow::Cow;

/// Why a request path cannot be routed safely. The proxy answers these with 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathRejection {
    #[error("request path must start with '/'")]
    NotAbsolute,
    #[error("request path contains an encoded '/' (%2F); it cannot be routed safely")]
    EncodedSlash,
    #[error("request path contains '\\' or an encoded '\\' (%5C); it cannot be routed safely")]
    Backslash,
    #[error("request path contains a NUL byte (%00)")]
    Nul,
    /// pingora percent-encodes raw control bytes in the request line (a raw TAB arrives as `%09`),
    /// so the encoded form is refused too: otherwise raw controls would be routed after all.
    #[error("request path contains an encoded control character (%{0:02X})")]
    EncodedControl(u8),
    #[error("request path contains '%' not followed by two hex digits")]
    BadPercentEncoding,
    #[error(
        "request path contains a control, space, non-ASCII, '?' or '#' character (byte 0x{0:02X})"
    )]
    BadCharacter(u8),
    #[error("request path climbs above the root with '..'")]
    EscapesRoot,
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The path with every `%XX` decoded and nothing else changed (invalid UTF-8 replaced), as
/// ASGI servers hand it to LiteLLM. For comparisons only; never forwarded.
pub fn percent_decode_path(raw: &str) -> Cow<'_, str> {
    if !raw.contains('%') {
        return Cow::Borrowed(raw);
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// Normalises a request path (without its query): percent-decodes unreserved characters only and
/// upper-cases the hex of the rest, merges repeated slashes, removes `.` and `..` segments
/// (RFC 3986 §5.2.4) and keeps a trailing slash. Rejects what cannot be routed safely.
///
/// The result never contains `//`, a `.` or `..` segment, or an encoded unreserved character, so
/// normalising it again returns it unchanged.
pub fn normalize_request_path(raw: &str) -> Result<Cow<'_, str>, PathRejection> {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathRejection::NotAbsolute);
    }
    // One pass over the bytes for what every proxied request asks: is any byte refused, is there
    // a `%`, does a segment need work (checked here while the path is as it came, and on the
    // decoded path when there is a `%`).
    let (mut has_percent, mut segment_work) = (false, false);
    for (at, &b) in bytes.iter().enumerate() {
        match BYTE_CLASS[b as usize] {
            PLAIN => {}
            SLASH => segment_work = segment_work || segment_work_after(bytes, at),
            PERCENT => has_percent = true,
            _ => {
                return Err(match b {
                    b'\\' => PathRejection::Backslash,
                    0 => PathRejection::Nul,
                    b => PathRejection::BadCharacter(b),
                })
            }
        }
    }
    if !has_percent {
        return match segment_work {
            false => Ok(Cow::Borrowed(raw)),
            true => remove_dot_segments(raw).map(Cow::Owned),
        };
    }
    let decoded = decode_unreserved(bytes)?;
    if !needs_segment_work(&decoded) {
        return Ok(Cow::Owned(decoded));
    }
    remove_dot_segments(&decoded).map(Cow::Owned)
}

const PLAIN: u8 = 0;
const SLASH: u8 = 1;
const PERCENT: u8 = 2;
const REFUSED: u8 = 3;

/// What each byte of a request path is to [`normalize_request_path`]: controls, space, non-ASCII,
/// `\`, `?` and `#` are refused.
static BYTE_CLASS: [u8; 256] = {
    let mut class = [PLAIN; 256];
    let mut b = 0;
    while b < 256 {
        if b <= b' ' as usize
            || b >= 0x7f
            || b == b'\\' as usize
            || b == b'?' as usize
            || b == b'#' as usize
        {
            class[b] = REFUSED;
        }
        b += 1;
    }
    class[b'/' as usize] = SLASH;
    class[b'%' as usize] = PERCENT;
    class
};

fn decode_unreserved(bytes: &[u8]) -> Result<String, PathRejection> {
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'%' {
            out.push(b as char);
            i += 1;
            continue;
        }
        let (hi, lo) = match (bytes.get(i + 1), bytes.get(i + 2)) {
            (Some(&h), Some(&l)) => (h, l),
            _ => return Err(PathRejection::BadPercentEncoding),
        };
        let value = match (hex_value(hi), hex_value(lo)) {
            (Some(h), Some(l)) => h << 4 | l,
            _ => return Err(PathRejection::BadPercentEncoding),
        };
        match value {
            b'/' => return Err(PathRejection::EncodedSlash),
            b'\\' => return Err(PathRejection::Backslash),
            0 => return Err(PathRejection::Nul),
            v if v < 0x20 || v == 0x7f => return Err(PathRejection::EncodedControl(v)),
            v if is_unreserved(v) => out.push(v as char),
            _ => {
                out.push('%');
                out.push(hi.to_ascii_uppercase() as char);
                out.push(lo.to_ascii_uppercase() as char);
            }
        }
        i += 3;
    }
    Ok(out)
}

/// True when some segment is empty (other than a final one after a trailing slash), `.` or `..`.
fn needs_segment_work(path: &str) -> bool {
    let bytes = path.as_bytes();
    (0..bytes.len()).any(|at| bytes[at] == b'/' && segment_work_after(bytes, at))
}

/// Whether the segment after the `/` at `at` is `.`, `..`, or empty before another `/`.
fn segment_work_after(bytes: &[u8], at: usize) -> bool {
    matches!(
        &bytes[at + 1..],
        [b'/', ..] | [b'.'] | [b'.', b'/', ..] | [b'.', b'.'] | [b'.', b'.', b'/', ..]
    )
}

fn remove_dot_segments(path: &str) -> Result<String, PathRejection> {
    let mut out = String::with_capacity(path.len());
    let mut starts: Vec<usize> = Vec::new();
    let mut trailing_slash = false;
    for seg in path[1..].split('/') {
        trailing_slash = matches!(seg, "" | "." | "..");
        match seg {
            "" | "." => {}
            ".." => {
                let start = starts.pop().ok_or(PathRejection::EscapesRoot)?;
                out.truncate(start);
            }
            _ => {
                starts.push(out.len());
                out.push('/');
                out.push_str(seg);
            }
        }
    }
    if out.is_empty() || trailing_slash {
        out.push('/');
    }
    Ok(out)
}

/// Checks that a route's `path` is already in normal form, so the path the table matches on is
/// exactly the path the operator wrote (and the one its stable id hashes). Returns what is wrong.
pub(crate) fn check_route_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("must not be empty; write \"/\" for the root".into());
    }
    if !path.starts_with('/') {
        return Err(format!("must start with '/': write \"/{path}\""));
    }
    if path.contains(['{', '}']) {
        return Err("path parameters such as {id} are not supported; use include_subpath: true on the common prefix".into());
    }
    match normalize_request_path(path) {
        Err(e) => Err(e.to_string().replacen("request path ", "", 1)),
        Ok(normal) if normal != path => Err(format!(
            "is not in normal form (dot segments, '//' or encoded characters); write \"{normal}\""
        )),
        Ok(_) if path.len() > 1 && path.ends_with('/') => Err(format!(
            "must not end with '/'; write \"{}\" (include_subpath: true matches everything below it)",
            path.trim_end_matches('/')
        )),
        Ok(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(p: &str) -> Result<String, PathRejection> {
        normalize_request_path(p).map(Cow::into_owned)
    }

    #[test]
    fn plain_path_is_unchanged_and_borrowed() {
        assert!(matches!(
            normalize_request_path("/a/b"),
            Ok(Cow::Borrowed("/a/b"))
        ));
    }

    #[test]
    fn dot_segments_are_removed() {
        assert_eq!(norm("/a/./b/../c").unwrap(), "/a/c");
        assert_eq!(norm("/a/b/..").unwrap(), "/a/");
        assert_eq!(norm("/a/.").unwrap(), "/a/");
    }

    #[test]
    fn repeated_slashes_are_merged() {
        assert_eq!(norm("//a///b//").unwrap(), "/a/b/");
        assert_eq!(norm("//").unwrap(), "/");
    }

    #[test]
    fn the_one_pass_check_agrees_with_checking_decoding_and_removing_one_after_another() {
        fn step_by_step(raw: &str) -> Result<String, PathRejection> {
            if !raw.starts_with('/') {
                return Err(PathRejection::NotAbsolute);
            }
            if let Some(b) = raw
                .bytes()
                .find(|&b| b == b'\\' || b <= b' ' || b >= 0x7f || b == b'?' || b == b'#')
            {
                return Err(match b {
                    b'\\' => PathRejection::Backslash,
                    0 => PathRejection::Nul,
                    b => PathRejection::BadCharacter(b),
                });
            }
            let decoded = decode_unreserved(raw.as_bytes())?;
            match needs_segment_work(&decoded) {
                true => remove_dot_segments(&decoded),
                false => Ok(decoded),
            }
        }
        // Every path of up to 6 characters from this alphabet after the leading '/'.
        let alphabet = ['/', '.', 'a', '%', '2', 'E', 'F', '?', '\\'];
        let mut paths = vec![String::from("/")];
        let mut last = paths.clone();
        for _ in 0..6 {
            last = last
                .iter()
                .flat_map(|p| alphabet.map(|c| format!("{p}{c}")))
                .collect();
            paths.extend(last.iter().cloned());
        }
        for path in &paths {
            assert_eq!(norm(path), step_by_step(path), "{path:?}");
        }
    }

    #[test]
    fn segment_work_is_found_exactly_where_a_split_finds_it() {
        fn by_split(path: &str) -> bool {
            let mut segments = path[1..].split('/').peekable();
            while let Some(seg) = segments.next() {
                let last = segments.peek().is_none();
                if seg == "." || seg == ".." || (seg.is_empty() && !last) {
                    return true;
                }
            }
            false
        }
        // Every path of up to 8 characters of '/', '.' and 'a' after the leading '/'.
        let mut paths = vec![String::from("/")];
        for _ in 0..8 {
            let longer: Vec<String> = paths
                .iter()
                .filter(|p| p.len() == paths.last().unwrap().len())
                .flat_map(|p| ['/', '.', 'a'].map(|c| format!("{p}{c}")))
                .collect();
            paths.extend(longer);
        }
        for path in &paths {
            assert_eq!(needs_segment_work(path), by_split(path), "{path:?}");
        }
    }

    #[test]
    fn trailing_slash_is_kept() {
        assert_eq!(norm("/api/").unwrap(), "/api/");
    }

    #[test]
    fn encoded_unreserved_characters_are_decoded() {
        assert_eq!(norm("/%61%70%69/%7Efoo").unwrap(), "/api/~foo");
    }

    #[test]
    fn encoded_dots_are_dot_segments() {
        assert_eq!(norm("/a/%2e%2E/b").unwrap(), "/b");
        assert_eq!(norm("/%2e%2e"), Err(PathRejection::EscapesRoot));
    }

    #[test]
    fn other_encodings_are_kept_with_upper_case_hex() {
        assert_eq!(norm("/a%3bb/%e2%82%ac").unwrap(), "/a%3Bb/%E2%82%AC");
    }

    #[test]
    fn double_encoding_is_not_decoded_twice() {
        assert_eq!(norm("/%252e%252e/x").unwrap(), "/%252e%252e/x");
    }

    #[test]
    fn encoded_slash_is_rejected() {
        assert_eq!(norm("/a%2fb"), Err(PathRejection::EncodedSlash));
    }

    #[test]
    fn backslash_raw_or_encoded_is_rejected() {
        assert_eq!(norm("/a\\b"), Err(PathRejection::Backslash));
        assert_eq!(norm("/a%5Cb"), Err(PathRejection::Backslash));
    }

    #[test]
    fn nul_raw_or_encoded_is_rejected() {
        assert_eq!(norm("/a%00"), Err(PathRejection::Nul));
        assert_eq!(norm("/a\0"), Err(PathRejection::Nul));
    }

    #[test]
    fn escaping_the_root_is_rejected() {
        assert_eq!(norm("/.."), Err(PathRejection::EscapesRoot));
        assert_eq!(norm("/a/../../b"), Err(PathRejection::EscapesRoot));
    }

    #[test]
    fn bad_percent_encoding_is_rejected() {
        assert_eq!(norm("/a%2"), Err(PathRejection::BadPercentEncoding));
        assert_eq!(norm("/a%zz"), Err(PathRejection::BadPercentEncoding));
    }

    #[test]
    fn relative_and_asterisk_forms_are_rejected() {
        assert_eq!(norm("a/b"), Err(PathRejection::NotAbsolute));
        assert_eq!(norm("*"), Err(PathRejection::NotAbsolute));
        assert_eq!(norm(""), Err(PathRejection::NotAbsolute));
    }

    #[test]
    fn controls_spaces_and_non_ascii_are_rejected() {
        assert_eq!(norm("/a b"), Err(PathRejection::BadCharacter(b' ')));
        assert_eq!(norm("/a\r\n"), Err(PathRejection::BadCharacter(b'\r')));
        assert!(matches!(norm("/é"), Err(PathRejection::BadCharacter(_))));
        assert_eq!(norm("/a?b"), Err(PathRejection::BadCharacter(b'?')));
    }

    #[test]
    fn encoded_controls_are_rejected() {
        assert_eq!(norm("/a%09b"), Err(PathRejection::EncodedControl(0x09)));
        assert_eq!(norm("/a%7f"), Err(PathRejection::EncodedControl(0x7f)));
        assert_eq!(norm("/a%0D%0A"), Err(PathRejection::EncodedControl(0x0d)));
        assert_eq!(
            norm("/a%1F").unwrap_err().to_string(),
            "request path contains an encoded control character (%1F)"
        );
        assert_eq!(norm("/a%20b").unwrap(), "/a%20b");
    }

    #[test]
    fn semicolon_is_an_ordinary_character() {
        assert_eq!(norm("/api;x/y").unwrap(), "/api;x/y");
    }

    #[test]
    fn route_path_must_be_normal() {
        assert!(check_route_path("/my-service").is_ok());
        assert!(check_route_path("/").is_ok());
        assert!(check_route_path("my-service")
            .unwrap_err()
            .contains("start with '/'"));
        assert!(check_route_path("/a//b").unwrap_err().contains("\"/a/b\""));
        assert!(check_route_path("/a/")
            .unwrap_err()
            .contains("end with '/'"));
        assert!(check_route_path("/jobs/{id}")
            .unwrap_err()
            .contains("path parameters"));
        assert!(check_route_path("/a%2Fb")
            .unwrap_err()
            .contains("encoded '/'"));
    }
}
