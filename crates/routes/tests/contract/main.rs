//! The routes.yaml contract, pinned rule by rule.

mod malformed;
mod parse;
mod positions;
mod properties;
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

pub fn parse(yaml: &str) -> RoutesFile {
    RoutesFile::parse(yaml.as_bytes()).unwrap_or_else(|p| panic!("{p}"))
}

pub fn problems(yaml: &str) -> Problems {
    RoutesFile::parse(yaml.as_bytes()).expect_err("the file should be refused")
}
