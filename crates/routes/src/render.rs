//! Canonical rendering: one logical table, one byte sequence. No timestamps, no volatile data, so
//! an unchanged table is never rewritten and never reloaded.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::time::Duration;

use serde::Serialize;
use serde_yaml::{Mapping, Value};

use crate::cors::Cors;
use crate::fields::RouteField;
use crate::id::StableId;
use crate::key::KeyHash;
use crate::model::Route;
use crate::routes_file::RoutesFile;

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

/// The parts of the file after the routes, in the order they are written.
#[derive(Serialize)]
struct TailOut<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    keys: Vec<KeyOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    litellm_key_header_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_prefix: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cors: Option<CorsOut<'a>>,
}

impl<'a> TailOut<'a> {
    fn of(file: &'a RoutesFile) -> TailOut<'a> {
        TailOut {
            keys: file.keys().iter().map(KeyOut::from).collect(),
            litellm_key_header_name: file.key_header_name(),
            key_prefix: file.key_prefix(),
            cors: file.cors().map(CorsOut::from),
        }
    }
}

/// A table with its canonical bytes and where each route's entry lies in them, so that the next
/// table renders only the routes that changed: a database commit that edits one route of
/// thousands re-renders one entry, not the file.
#[derive(Debug)]
pub struct RenderedFile {
    file: RoutesFile,
    text: String,
    /// `entries[i]`: the bytes of `file.routes()[i]`'s entry in `text`.
    entries: Vec<Range<usize>>,
    by_id: HashMap<StableId, usize>,
}

impl RenderedFile {
    pub fn file(&self) -> &RoutesFile {
        &self.file
    }

    /// The canonical bytes: the same as [`RoutesFile::render`].
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The rendered entry of a route equal to `route`, if this table has one.
    fn entry_of(&self, route: &Route) -> Option<&str> {
        let &i = self.by_id.get(&route.id)?;
        (self.file.routes()[i] == *route).then(|| &self.text[self.entries[i].clone()])
    }
}

/// One route as an entry of the `routes:` list. The list is block style and not indented under
/// its key, so an entry reads the same as a one-entry list rendered on its own.
fn route_entry(route: &Route) -> String {
    serde_yaml::to_string(&[route_out(route)]).expect("a route always serialises")
}

impl RoutesFile {
    /// The canonical bytes of this table. `RoutesFile::parse(render(t))` gives `t` back, and
    /// rendering that again gives the same bytes.
    pub fn render(&self) -> String {
        self.render_entries(None).0
    }

    /// This table rendered, reusing the entries of `previous` for routes that did not change;
    /// the bytes are those of [`RoutesFile::render`].
    pub fn into_rendered(self, previous: Option<&RenderedFile>) -> RenderedFile {
        let (text, entries) = self.render_entries(previous);
        let by_id = (self.routes().iter().enumerate())
            .map(|(i, route)| (route.id.clone(), i))
            .collect();
        RenderedFile {
            file: self,
            text,
            entries,
            by_id,
        }
    }

    fn render_entries(&self, previous: Option<&RenderedFile>) -> (String, Vec<Range<usize>>) {
        let mut text = String::with_capacity(previous.map_or(0, |p| p.text.len() + 4096));
        text.push_str("version: 1\n");
        let mut entries = Vec::with_capacity(self.routes().len());
        if self.routes().is_empty() {
            text.push_str("routes: []\n");
        } else {
            text.push_str("routes:\n");
        }
        for route in self.routes() {
            let start = text.len();
            match previous.and_then(|p| p.entry_of(route)) {
                Some(entry) => text.push_str(entry),
                None => text.push_str(&route_entry(route)),
            }
            entries.push(start..text.len());
        }
        let tail =
            serde_yaml::to_string(&TailOut::of(self)).expect("the table model always serialises");
        if tail != "{}\n" {
            text.push_str(&tail);
        }
        (text, entries)
    }
}

impl<'a> From<&'a KeyHash> for KeyOut<'a> {
    fn from(k: &'a KeyHash) -> Self {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file as one serde document: what [`RoutesFile::render`] wrote before it rendered
    /// route by route, and must still write byte for byte.
    #[derive(Serialize)]
    struct FileOut<'a> {
        version: u8,
        routes: Vec<Mapping>,
        #[serde(flatten)]
        tail: TailOut<'a>,
    }

    fn one_document(file: &RoutesFile) -> String {
        serde_yaml::to_string(&FileOut {
            version: 1,
            routes: file.routes().iter().map(route_out).collect(),
            tail: TailOut::of(file),
        })
        .unwrap()
    }

    fn parse(yaml: &str) -> RoutesFile {
        RoutesFile::parse(yaml.as_bytes()).unwrap()
    }

    const KEY: &str = "5178e7b4d2cfd97ede764b3f930aeda4e71e12552631a9d5b95f4b604582cea4";

    fn tables() -> Vec<RoutesFile> {
        let long = "x".repeat(120);
        let spaced = "word ".repeat(30);
        vec![
            parse("version: 1\nroutes: []\n"),
            parse(&format!("version: 1\nroutes: []\nkeys:\n- sha256: {KEY}\n")),
            parse(&format!(
                "version: 1
routes:
- path: /a
  target: http://x/{long}
  methods: [POST, GET]
  headers: {{X-B: 'line one', x-a: \"{spaced}\", x-c: 'os.environ/KEY', x-d: \"caf\\u00e9 \\\"q\\\" # :\"}}
  default_query_params: {{z: '1', a: 'yes', n: '~'}}
  timeout: 1.5
- path: /b/c
  target: https://y:8443/base?api-version=2024
  include_subpath: true
  auth: true
  forward_headers: true
keys:
- sha256: {KEY}
  expires: 2030-01-01T00:00:00Z
litellm_key_header_name: X-Litellm-Key
key_prefix: sk-
"
            )),
        ]
    }

    #[test]
    fn route_by_route_rendering_writes_the_bytes_of_the_one_document_rendering() {
        for table in tables() {
            assert_eq!(table.render(), one_document(&table));
        }
    }

    #[test]
    fn a_rendering_that_reuses_entries_writes_the_same_bytes_as_one_from_scratch() {
        let tables = tables();
        let with_routes = tables.last().unwrap();
        let previous = with_routes.clone().into_rendered(None);
        let text = with_routes.render();
        assert!(text.contains("timeout: 1.5\n"), "{text}");
        let edited = parse(&text.replace("timeout: 1.5\n", "timeout: 7\n"));
        for table in tables.iter().chain([&edited]) {
            let rendered = table.clone().into_rendered(Some(&previous));
            assert_eq!(rendered.text(), table.render());
        }
    }
}
