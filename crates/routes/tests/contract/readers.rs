//! The two readers of a file: the streaming one every valid file goes through, and the `Value`
//! one that locates every problem. They give the same table for every file both read, and the
//! streaming one accepts no file the other refuses.

use std::path::{Path, PathBuf};

use passthru_routes::{KeyHash, RoutesFile, LOCATED_ERRORS_MAX_BYTES};

use sha2::{Digest, Sha256};

use crate::data;

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    files
}

/// The streaming reader's table equals the `Value` reader's; a file either refuses gets the
/// `Value` reader's located problems from [`RoutesFile::parse`].
pub fn assert_same_both_ways(bytes: &[u8]) {
    let streamed = RoutesFile::parse_streamed(bytes);
    let located = RoutesFile::parse_located(bytes);
    match (&streamed, &located) {
        (Ok(s), Ok(l)) => assert_eq!(
            s,
            l,
            "the readers disagree on\n{}",
            String::from_utf8_lossy(bytes)
        ),
        (Ok(_), Err(p)) => panic!(
            "the streaming reader accepts what the Value reader refuses ({p}):\n{}",
            String::from_utf8_lossy(bytes)
        ),
        // The streaming reader stops at YAML it does not take; the Value reader reads it.
        (Err(_), Ok(_)) => {}
        (Err(_), Err(l)) => assert_eq!(
            RoutesFile::parse(bytes).unwrap_err().to_string(),
            l.to_string(),
            "a refused file gets the located problems"
        ),
    }
}

#[test]
fn every_valid_fixture_streams_to_the_same_table() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/routes.yaml");
    for path in yaml_files(&data("valid")).into_iter().chain([examples]) {
        let bytes = std::fs::read(&path).unwrap();
        RoutesFile::parse_streamed(&bytes)
            .unwrap_or_else(|p| panic!("{} does not stream: {p}", path.display()));
        assert_same_both_ways(&bytes);
    }
}

#[test]
fn every_invalid_fixture_is_refused_by_both_with_the_located_problems() {
    for path in yaml_files(&data("invalid")) {
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            RoutesFile::parse_streamed(&bytes).is_err(),
            "{} streams",
            path.display()
        );
        assert_same_both_ways(&bytes);
    }
}

#[test]
fn yaml_the_streaming_reader_leaves_to_the_value_reader_still_loads() {
    for yaml in [
        // An anchor and an alias.
        "version: 1\nroutes:\n- &r {path: /a, target: 'http://h', auth: false}\n",
        "version: 1\nx: &t 'http://h'\nroutes:\n- {path: /a, target: *t, auth: false}\n",
        // A tag.
        "version: 1\nroutes:\n- {path: !!str /a, target: 'http://h', auth: false}\n",
        // An explicit document end and start.
        "---\nversion: 1\nroutes: []\n...\n",
    ] {
        assert_same_both_ways(yaml.as_bytes());
        let streamed = RoutesFile::parse_streamed(yaml.as_bytes());
        let parsed = RoutesFile::parse(yaml.as_bytes());
        if yaml.contains(['&', '!']) {
            assert!(streamed.is_err(), "{yaml}");
            // `x` is an unknown field: refused, by the Value reader.
            if yaml.contains("x:") {
                let why = parsed.unwrap_err().to_string();
                assert!(why.contains("field `x`: unknown field"), "{why}");
            } else {
                assert_eq!(parsed.unwrap().routes().len(), 1);
            }
        } else {
            assert_eq!(streamed.unwrap(), parsed.unwrap());
        }
    }
}

#[test]
fn scalars_mean_the_same_to_both_readers() {
    for value in [
        "1",
        "1.0",
        "0x1",
        "true",
        "True",
        "~",
        "null",
        "''",
        "'1'",
        "\"1\"",
        "01",
        "1e3",
        ".inf",
        "-1",
        "+1",
        "0o7",
        "yes",
        "no",
        "2027-01-31",
    ] {
        for field in ["id", "timeout", "auth", "path", "version"] {
            let yaml = if field == "version" {
                format!("version: {value}\nroutes: []\n")
            } else {
                let mut route = String::from("- target: http://h\n");
                for (name, default) in [("path", "/a"), ("auth", "false")] {
                    if name != field {
                        route.push_str(&format!("  {name}: {default}\n"));
                    }
                }
                format!("version: 1\nroutes:\n{route}  {field}: {value}\n")
            };
            assert_same_both_ways(yaml.as_bytes());
        }
    }
}

/// A file of `n` keys as passthru-sync writes it (sorted, one `sha256` each).
fn keys_file(n: usize) -> String {
    let mut digests: Vec<[u8; 32]> = (0..n as u32)
        .map(|i| Sha256::digest(i.to_le_bytes()).into())
        .collect();
    digests.sort_unstable();
    let mut yaml = String::with_capacity(n * 75 + 32);
    yaml.push_str("version: 1\nroutes: []\nkeys:\n");
    for d in &digests {
        yaml.push_str("- sha256: ");
        yaml.push_str(&KeyHash::new(*d, None).hex());
        yaml.push('\n');
    }
    yaml
}

#[test]
fn a_large_key_list_streams_and_every_key_is_found() {
    let n = 100_000;
    let yaml = keys_file(n);
    let file = RoutesFile::parse(yaml.as_bytes()).unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(file.keys().len(), n);
    let table = passthru_routes::RouteTable::new(file);
    assert_eq!(table.file().keys().len(), n);
}

/// The arithmetic behind the proxy's cap: a million keys, as passthru-sync writes them, need
/// 75 bytes each, over the 64 MiB that a file with a problem may take to be located.
#[test]
fn a_million_keys_are_a_file_over_the_located_errors_limit() {
    let per_key = keys_file(2).len() - keys_file(1).len();
    assert_eq!(per_key, "- sha256: \n".len() + 64);
    assert!(1_000_000 * per_key > LOCATED_ERRORS_MAX_BYTES);
}
