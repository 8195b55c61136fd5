//! Canonical rendering: one logical table, one byte sequence. No timestamps, no volatile data, so
//! an unchanged table is never rewritten and never reloaded.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use crate::cors::Cors;
use crate::model::Route;
use crate::parse::KEY_HEADER_FIELD;
use crate::routes_file::RoutesFile;

#[derive(Serialize)]
struct FileOut<'a> {
    version: u8,
    routes: Vec<RouteOut<'a>>,
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

/// Every field written out, defaults included: what a route does never depends on a default
/// that could differ between LiteLLM versions and passthru.
#[derive(Serialize)]
struct RouteOut<'a> {
    id: &'a str,
    path: &'a str,
    target: &'a str,
    include_subpath: bool,
    methods: Vec<&'static str>,
    headers: BTreeMap<&'a str, &'a str>,
    forward_headers: bool,
    /// Written only when set: files without it keep their canonical bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    forwarded_headers: Option<&'static str>,
    default_query_params: &'a BTreeMap<String, String>,
    #[serde(serialize_with = "seconds")]
    timeout: std::time::Duration,
    auth: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    custom_auth_parser: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cors: Option<CorsOut<'a>>,
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
fn seconds<S: Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
    let ms = d.as_millis() as u64;
    if ms % 1000 == 0 {
        s.serialize_u64(ms / 1000)
    } else {
        s.serialize_f64(ms as f64 / 1000.0)
    }
}

impl<'a> From<&'a Route> for RouteOut<'a> {
    fn from(r: &'a Route) -> Self {
        RouteOut {
            id: r.id.as_str(),
            path: &r.path,
            target: r.target.as_str(),
            include_subpath: r.include_subpath,
            methods: r.methods.iter().map(|m| m.as_str()).collect(),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .chain(r.key_header.as_deref().map(|h| (KEY_HEADER_FIELD, h)))
                .collect(),
            forward_headers: r.forward_headers,
            forwarded_headers: r.forwarded_headers.map(|m| m.as_str()),
            default_query_params: &r.default_query_params,
            timeout: r.timeout,
            auth: r.auth,
            custom_auth_parser: r.langfuse_auth.then_some("langfuse"),
            cors: r.cors.as_ref().map(CorsOut::from),
        }
    }
}

impl RoutesFile {
    /// The canonical bytes of this table. `RoutesFile::parse(render(t))` gives `t` back, and
    /// rendering that again gives the same bytes.
    pub fn render(&self) -> String {
        let out = FileOut {
            version: 1,
            routes: self.routes().iter().map(RouteOut::from).collect(),
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
