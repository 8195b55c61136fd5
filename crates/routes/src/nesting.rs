//! A bound on flow-collection nesting (`[`, `{`), checked before the YAML parser builds a value.
//!
//! libyaml's scanner does work proportional to the current flow depth for every token it reads,
//! so a file of a few hundred kilobytes of `[[[[…` costs time quadratic in its size: 100,000
//! levels (200 kB) kept a debug build busy for over 90 s and 64 MiB would take hours. serde_yaml's
//! recursion limit (128) only applies after the whole document has been scanned. This check
//! scans tokens alone and stops at the first flow collection deeper than [`MAX_FLOW_DEPTH`], so
//! its cost is linear in the bytes before that point.

use unsafe_libyaml as unsafe_sys;

/// Deeper than serde_yaml's recursion limit (128), so any file this refuses would be refused
/// anyway; a routes file needs 3 levels.
pub(crate) const MAX_FLOW_DEPTH: usize = 128;

/// The 1-based (line, column) of the first flow collection opened deeper than
/// [`MAX_FLOW_DEPTH`], if any. A scanner error stops the check: the parser reports it.
pub(crate) fn too_deep(text: &[u8]) -> Option<(usize, usize)> {
    // Cheap exit: flow depth is at most the non-empty openers plus one empty collection at the
    // bottom. Empty collections (`[]`, `{}`: canonical files write every empty field so) do not
    // count otherwise; counting them made every table over ~40 routes pay for a second scan.
    if non_empty_openers(text) < MAX_FLOW_DEPTH {
        return None;
    }
    let mut found = None;
    // SAFETY: the parser is initialised before use and deleted once; every token it returns is
    // deleted after its type and mark were read; `text` outlives the parser.
    unsafe {
        let mut parser = std::mem::MaybeUninit::<unsafe_sys::yaml_parser_t>::uninit();
        let parser = parser.as_mut_ptr();
        if unsafe_sys::yaml_parser_initialize(parser).fail {
            return None;
        }
        unsafe_sys::yaml_parser_set_encoding(parser, unsafe_sys::YAML_UTF8_ENCODING);
        unsafe_sys::yaml_parser_set_input_string(parser, text.as_ptr(), text.len() as u64);
        let mut depth = 0usize;
        loop {
            let mut token = std::mem::MaybeUninit::<unsafe_sys::yaml_token_t>::uninit();
            if unsafe_sys::yaml_parser_scan(parser, token.as_mut_ptr()).fail {
                break;
            }
            let token = token.as_mut_ptr();
            let kind = (*token).type_;
            let mark = (*token).start_mark;
            unsafe_sys::yaml_token_delete(token);
            match kind {
                unsafe_sys::YAML_FLOW_SEQUENCE_START_TOKEN
                | unsafe_sys::YAML_FLOW_MAPPING_START_TOKEN => {
                    depth += 1;
                    if depth > MAX_FLOW_DEPTH {
                        found = Some((mark.line as usize + 1, mark.column as usize + 1));
                        break;
                    }
                }
                unsafe_sys::YAML_FLOW_SEQUENCE_END_TOKEN
                | unsafe_sys::YAML_FLOW_MAPPING_END_TOKEN => {
                    depth = depth.saturating_sub(1);
                }
                unsafe_sys::YAML_STREAM_END_TOKEN | unsafe_sys::YAML_NO_TOKEN => break,
                _ => {}
            }
        }
        unsafe_sys::yaml_parser_delete(parser);
    }
    found
}

/// `[` and `{` bytes not closed right away (spaces aside). A
/// real opener followed by its closer is an empty collection; bytes inside scalars only add to
/// the count, so it never undercounts.
fn non_empty_openers(text: &[u8]) -> usize {
    let mut count = 0;
    for (i, &b) in text.iter().enumerate() {
        let closer = match b {
            b'[' => b']',
            b'{' => b'}',
            _ => continue,
        };
        let next = text[i + 1..].iter().find(|&&c| c != b' ');
        if next != Some(&closer) {
            count += 1;
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        format!(
            "version: 1\nroutes: {}{}\n",
            "[".repeat(depth),
            "]".repeat(depth)
        )
    }

    #[test]
    fn empty_collections_do_not_count_towards_the_bound() {
        let text = "routes:\n- {methods: [], headers: {}, q: { }}\n".repeat(500);
        assert_eq!(non_empty_openers(text.as_bytes()), 500);
        assert_eq!(non_empty_openers(b"[[[]]]"), 2);
    }

    #[test]
    fn shallow_nesting_passes() {
        assert_eq!(too_deep(nested(MAX_FLOW_DEPTH).as_bytes()), None);
        let many = "- {a: [1, {b: 2}]}\n".repeat(1000);
        assert_eq!(too_deep(many.as_bytes()), None);
    }

    #[test]
    fn deep_nesting_is_found_where_it_goes_too_deep() {
        assert_eq!(
            too_deep(nested(MAX_FLOW_DEPTH + 1).as_bytes()),
            Some((2, 9 + MAX_FLOW_DEPTH))
        );
    }

    #[test]
    fn brackets_in_quotes_and_comments_are_not_nesting() {
        let text = format!("a: \"{0}\"\nb: '{0}'\n# {0}\nc: x{0}\n", "[".repeat(1000));
        assert_eq!(too_deep(text.as_bytes()), None);
    }

    #[test]
    fn fake_closers_in_quotes_do_not_hide_nesting() {
        let text = format!("routes: {}\n", "[ \"]]]]\", ".repeat(1000));
        assert!(too_deep(text.as_bytes()).is_some());
    }

    #[test]
    fn a_million_levels_are_refused_quickly() {
        let started = std::time::Instant::now();
        assert!(too_deep(nested(1_000_000).as_bytes()).is_some());
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
