//! Any bytes → `RoutesFile::parse`. Never panics; on success the canonical render parses back to
//! the same table and renders to the same bytes (`render(parse(x))` is a fixed point).
#![no_main]

use libfuzzer_sys::fuzz_target;
use passthru_routes::{RouteTable, RoutesFile};

fuzz_target!(|data: &[u8]| {
    match RoutesFile::parse(data) {
        Ok(file) => {
            let text = file.render();
            let again = RoutesFile::parse(text.as_bytes())
                .unwrap_or_else(|p| panic!("render does not parse back: {p}\n{text}"));
            assert_eq!(again, file, "render does not parse back equal:\n{text}");
            assert_eq!(again.render(), text, "render is not a fixed point");
            // Building the trie from any valid file must not panic either.
            let _ = RouteTable::new(file);
        }
        Err(problems) => {
            // Every rejection says something, and each problem renders.
            assert!(!problems.is_empty());
            let _ = problems.to_string();
        }
    }
});
