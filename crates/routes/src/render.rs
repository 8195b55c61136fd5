//! Canonical rendering: one logical table, one byte sequence. No timestamps, no volatile data, so
//! an unchanged table is never rewritten and never reloaded.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_yaml::{Mapping, Value};

use crate::cors::Cors;
use crate::fields::RouteField;
use crate::model::Route;
use crate::routes_file::RoutesFile;

#[derive(Serialize)]
struct FileOut<'a> {
    version: u8,
    routes: Vec<Mapping>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    keys: Vec<KeyOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    litellm_key_header_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_prefix: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cors: Option<CorsOut<'a>>,
}

#[derive(Serialize)]
struct CorsOut<'a> {
    allow_origins: &'a [String],
    allow_methods: &'a [String],
    allow_headers: &'a [String],
    allow_credentials: bool,
    expose_headers: &'a [String],
    max_age: u32,
}

impl<'a> From<&'a Cors> for CorsOut<'a> {
    fn from(c: &'a Cors) -> Self {
        CorsOut {
            allow_origins: &c.allow_origins,
            allow_methods: &c.allow_methods,
            allow_headers: &c.allow_headers,
            allow_credentials: c.allow_credentials,
            expose_headers: &c.expose_headers,
            max_age: c.max_age,
        }
    }
}

#[derive(Serialize)]
struct KeyOut<'a> {
    sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    admin: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    allow: Option<&'a [String]>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    deny: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    only: Option<&'a [String]>,
}

/// Whole seconds as an integer (`600`), fractions as the shortest decimal that reads back the same.
pub(crate) fn seconds_value(d: Duration) -> Value {
    let ms = d.as_millis() as u64;
    if ms % 1000 == 0 {
        Value::from(ms / 1000)
    } else {
        Value::from(ms as f64 / 1000.0)
    }
}

/// Name-value pairs as a mapping in name order.
pub(crate) fn string_map<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    let sorted: BTreeMap<&str, &str> = pairs.collect();
    Value::Mapping(
        sorted
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect(),
    )
}

pub(crate) fn cors_value(cors: &Cors) -> Value {
    serde_yaml::to_value(CorsOut::from(cors)).expect("a CORS policy always serialises")
}

/// Every field of the table written out, defaults included: what a route does never depends on
/// a default that could differ between LiteLLM versions and passthru.
fn route_out(route: &Route) -> Mapping {
    RouteField::ALL
        .iter()
        .filter_map(|field| Some((field.name.into(), (field.render)(route)?)))
        .collect()
}

impl RoutesFile {
    /// The canonical bytes of this table. `RoutesFile::parse(render(t))` gives `t` back, and
    /// rendering that again gives the same bytes.
    pub fn render(&self) -> String {
        let out = FileOut {
            version: 1,
            routes: self.routes().iter().map(route_out).collect(),
            keys: self
                .keys()
                .iter()
                .map(|k| {
                    let grants = k.grants();
                    KeyOut {
                        sha256: k.hex(),
                        expires: k
                            .expires
                            .map(|t| humantime::format_rfc3339_seconds(t).to_string()),
                        admin: grants.admin,
                        allow: grants.allow.as_deref(),
                        deny: &grants.deny,
                        only: grants.only.as_deref(),
                    }
                })
                .collect(),
            litellm_key_header_name: self.key_header_name(),
            key_prefix: self.key_prefix(),
            cors: self.cors().map(CorsOut::from),
        };
        serde_yaml::to_string(&out).expect("the table model always serialises")
    }
}
