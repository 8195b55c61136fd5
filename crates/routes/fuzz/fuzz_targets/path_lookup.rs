//! Any request path → `normalize_request_path` → lookup in a fixed table. The normal form is a
//! fixed point without `//` or dot segments; a match's subpath is a suffix of the normalised
//! path, and the route's path plus the subpath is the normalised path (no split view).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use passthru_routes::{normalize_request_path, Lookup, Method, RouteTable, RoutesFile};

const TABLE: &str = "version: 1
routes:
- {id: root, path: /, target: 'http://u/root', include_subpath: true, methods: [GET], auth: false}
- {id: api, path: /api, target: 'http://u/api', include_subpath: true, auth: false}
- {id: api-exact, path: /api, target: 'http://u/x', methods: [POST], auth: false}
- {id: v1, path: /api/v1, target: 'http://u/v1', include_subpath: true, methods: [GET, HEAD], auth: false}
- {id: health, path: /internal/health, target: 'http://u/h', auth: false}
- {id: semi, path: '/a;b/%E2%82%AC', target: 'http://u/s', include_subpath: true, auth: false}
- {id: tilde, path: /~user/x.y, target: 'http://u/t', auth: false}
";

fn table() -> &'static RouteTable {
    static TABLE_CELL: OnceLock<RouteTable> = OnceLock::new();
    TABLE_CELL.get_or_init(|| RouteTable::new(RoutesFile::parse(TABLE.as_bytes()).unwrap()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(raw) = std::str::from_utf8(rest) else {
        return;
    };
    let Ok(normal) = normalize_request_path(raw) else {
        return;
    };
    assert!(normal.starts_with('/'), "{raw:?} -> {normal:?}");
    assert!(!normal.contains("//"), "{raw:?} -> {normal:?}");
    for segment in normal.split('/') {
        assert!(
            segment != "." && segment != "..",
            "{raw:?} -> {normal:?} keeps a dot segment"
        );
    }
    assert!(!normal.contains('\\') && !normal.contains('\0'));
    let lower = normal.to_ascii_lowercase();
    assert!(!lower.contains("%2f") && !lower.contains("%5c") && !lower.contains("%00"));
    let again = normalize_request_path(&normal)
        .unwrap_or_else(|e| panic!("{raw:?} -> {normal:?} is refused when normalised again: {e}"));
    assert_eq!(again, normal, "normalisation is not idempotent for {raw:?}");

    let method = Method::ALL[usize::from(selector) % Method::ALL.len()];
    match table().lookup(&normal, method) {
        Lookup::Found(m) => {
            assert!(normal.ends_with(m.subpath), "{normal:?} {:?}", m.subpath);
            assert!(m.route.methods.allows(method));
            let prefix = &normal[..normal.len() - m.subpath.len()];
            if m.route.path == "/" {
                assert_eq!(prefix, "", "the root route leaves the whole path");
            } else {
                assert_eq!(prefix, m.route.path, "matched {normal:?} on another path");
                assert!(m.subpath.is_empty() || m.subpath.starts_with('/'));
                if !m.route.include_subpath {
                    assert!(m.subpath.is_empty(), "an exact route matched below its path");
                }
            }
        }
        Lookup::MethodNotAllowed { allowed } => assert!(!allowed.allows(method)),
        Lookup::NotFound => {}
    }
});
