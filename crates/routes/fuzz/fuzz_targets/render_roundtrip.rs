//! A structured table (routes built from arbitrary fields through `Route::from_value`, the way a
//! database source builds them) → canonical render → parse → the same table → the same bytes.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use passthru_routes::{Route, RoutesFile, Value};

#[derive(Debug, Arbitrary)]
struct RouteIn {
    id: Option<String>,
    segments: Vec<Segment>,
    target: TargetIn,
    include_subpath: Option<bool>,
    methods: Option<Vec<u8>>,
    headers: Vec<(String, String)>,
    forward_headers: Option<bool>,
    query: Vec<(String, String)>,
    timeout_ms: Option<u32>,
    auth: Option<bool>,
}

#[derive(Debug, Arbitrary)]
enum Segment {
    Word(u8),
    Free(String),
}

#[derive(Debug, Arbitrary)]
struct TargetIn {
    https: bool,
    host: u8,
    port: Option<u16>,
    path: String,
    query: Option<String>,
}

const WORDS: &[&str] = &["api", "v1", "a;b", "%E2%82%AC", "~x", "x.y", "cohere", "-", "_"];
const HOSTS: &[&str] = &["backend", "127.0.0.1", "[::1]", "api.example.com", "h-1.x"];
const METHODS: &[&str] = &[
    "GET", "get", "HEAD", "POST", "put", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT",
];

fn s(text: impl Into<String>) -> Value {
    Value::String(text.into())
}

impl RouteIn {
    fn to_value(&self) -> Value {
        let mut m = serde_yaml::Mapping::new();
        if let Some(id) = &self.id {
            m.insert(s("id"), s(id.clone()));
        }
        let mut path = String::new();
        for seg in self.segments.iter().take(6) {
            path.push('/');
            match seg {
                Segment::Word(w) => path.push_str(WORDS[usize::from(*w) % WORDS.len()]),
                Segment::Free(f) => path.push_str(f),
            }
        }
        if path.is_empty() {
            path.push('/');
        }
        m.insert(s("path"), s(path));
        let t = &self.target;
        let mut target = format!(
            "{}://{}",
            if t.https { "https" } else { "http" },
            HOSTS[usize::from(t.host) % HOSTS.len()]
        );
        if let Some(port) = t.port {
            target.push_str(&format!(":{port}"));
        }
        if !t.path.is_empty() {
            target.push('/');
            target.push_str(&t.path);
        }
        if let Some(q) = &t.query {
            target.push('?');
            target.push_str(q);
        }
        m.insert(s("target"), s(target));
        if let Some(b) = self.include_subpath {
            m.insert(s("include_subpath"), Value::Bool(b));
        }
        if let Some(methods) = &self.methods {
            let list = methods
                .iter()
                .map(|i| s(METHODS[usize::from(*i) % METHODS.len()]))
                .collect();
            m.insert(s("methods"), Value::Sequence(list));
        }
        if !self.headers.is_empty() {
            let mut h = serde_yaml::Mapping::new();
            for (k, v) in &self.headers {
                h.insert(s(k.clone()), s(v.clone()));
            }
            m.insert(s("headers"), Value::Mapping(h));
        }
        if let Some(b) = self.forward_headers {
            m.insert(s("forward_headers"), Value::Bool(b));
        }
        if !self.query.is_empty() {
            let mut q = serde_yaml::Mapping::new();
            for (k, v) in &self.query {
                q.insert(s(k.clone()), s(v.clone()));
            }
            m.insert(s("default_query_params"), Value::Mapping(q));
        }
        if let Some(ms) = self.timeout_ms {
            let secs = f64::from(ms % 86_400_000 + 1) / 1000.0;
            m.insert(s("timeout"), Value::Number(secs.into()));
        }
        if let Some(b) = self.auth {
            m.insert(s("auth"), Value::Bool(b));
        }
        Value::Mapping(m)
    }
}

#[derive(Debug, Arbitrary)]
struct TableIn {
    routes: Vec<RouteIn>,
    keys: Vec<([u8; 32], Option<u32>)>,
}

fuzz_target!(|input: TableIn| {
    let routes: Vec<Route> = input
        .routes
        .iter()
        .enumerate()
        .filter_map(|(i, r)| Route::from_value(i, &r.to_value()).ok())
        .collect();
    let keys = input
        .keys
        .iter()
        .map(|(sha256, exp)| passthru_routes::KeyHash {
            sha256: *sha256,
            expires: exp.map(|secs| {
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::from(secs))
            }),
            grants: None,
        })
        .collect();
    let (file, _skipped) = RoutesFile::new_skipping_clashes(routes, keys);
    let text = file.render();
    let back = RoutesFile::parse(text.as_bytes())
        .unwrap_or_else(|p| panic!("the render of a valid table is refused: {p}\n{text}"));
    assert_eq!(back, file, "render → parse changed the table:\n{text}");
    assert_eq!(back.render(), text, "render is not a fixed point");
});
