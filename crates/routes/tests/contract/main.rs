//! The routes.yaml contract, pinned rule by rule.

mod malformed;
mod parse;
mod positions;
mod properties;
mod readers;
mod render;
mod schema;
mod schema_validator;
mod table;

use std::path::PathBuf;

use passthru_routes::{Problems, RoutesFile};

pub fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

/// The table of `yaml`, which both readers must read alike ([`readers`]).
pub fn parse(yaml: &str) -> RoutesFile {
    readers::assert_same_both_ways(yaml.as_bytes());
    RoutesFile::parse(yaml.as_bytes()).unwrap_or_else(|p| panic!("{p}"))
}

/// The problems of `yaml`, which both readers must refuse.
pub fn problems(yaml: &str) -> Problems {
    readers::assert_same_both_ways(yaml.as_bytes());
    RoutesFile::parse(yaml.as_bytes()).expect_err("the file should be refused")
}
