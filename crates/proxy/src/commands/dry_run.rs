//! What the proxy would do with a request, without serving it: the routing and auth decision of
//! [`route_request`] and the upstream request of [`forward::rewrite_request`], the same code the
//! running proxy uses. `passthru-proxy explain` prints it for one request and
//! `passthru-proxy test` checks a file of cases against it, like Envoy's router_check_tool.

use std::collections::BTreeMap;

use passthru_routes::{normalize_request_path, RouteTable};
use pingora::http::RequestHeader;
use serde::Deserialize;

use crate::forward;
use crate::routing::{route_request, Routed};
use crate::serving_table::ServingTable;

/// A table for dry runs: `os.environ/NAME` values show as `<os.environ/NAME>`, so no secret
/// is read, let alone printed.
pub fn offline_table(table: RouteTable) -> ServingTable {
    ServingTable::build(table, 0, [0; 32], |name| {
        Some(format!("<os.environ/{name}>"))
    })
}

/// What happens to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// 200 when the request goes upstream; otherwise the proxy's own answer.
    pub status: u16,
    pub route: Option<String>,
    /// The upstream URL, scheme to query.
    pub upstream: Option<String>,
    /// Headers sent upstream (lower-case names); configured values appear with their
    /// `os.environ/` references, never resolved.
    pub headers: BTreeMap<String, String>,
    /// Why the proxy answered itself.
    pub message: Option<String>,
}

/// A request as `METHOD /path?query` plus headers.
pub fn request(line: &str, headers: &[(String, String)]) -> anyhow::Result<RequestHeader> {
    let (method, target) = line
        .trim()
        .split_once(' ')
        .ok_or_else(|| anyhow::anyhow!("{line:?}: write a request as `METHOD /path?query`"))?;
    let mut req = RequestHeader::build(method.trim(), target.trim().as_bytes(), None)
        .map_err(|e| anyhow::anyhow!("{line:?} is not a request line: {e}"))?;
    for (name, value) in headers {
        req.append_header(name.clone(), value.as_str())
            .map_err(|e| anyhow::anyhow!("header {name:?}: {e}"))?;
    }
    Ok(req)
}

/// The outcome of `req` on `table`.
pub fn outcome(table: &ServingTable, req: &RequestHeader) -> Outcome {
    match route_request(table, req, &mut String::new()) {
        Ok(Routed {
            index,
            target,
            client_key,
        }) => {
            let route = &table.table.routes()[index];
            let mut upstream = req.clone();
            let configured = table.headers(index).as_deref().unwrap_or_default();
            let key_header_name = table.table.file().key_header_name();
            let rewritten = forward::rewrite_request(
                &mut upstream,
                route,
                &target,
                forward::is_upgrade(req),
                configured,
                key_header_name,
                client_key.as_ref(),
            );
            let headers = upstream
                .headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let scheme = if route.target.is_https() {
                "https"
            } else {
                "http"
            };
            Outcome {
                status: if rewritten.is_ok() { 200 } else { 500 },
                route: Some(route.id.to_string()),
                upstream: Some(format!("{scheme}://{}{target}", route.target.authority())),
                headers,
                message: rewritten.err().map(|e| e.to_string()),
            }
        }
        Err(refusal) => Outcome {
            status: refusal.status,
            route: refusal
                .route
                .map(|i| table.table.routes()[i].id.to_string()),
            upstream: None,
            headers: BTreeMap::new(),
            message: Some(refusal.message),
        },
    }
}

/// Every route whose path covers the request's, and what it made of the request: `explain`.
pub fn considered(table: &RouteTable, req: &RequestHeader) -> Vec<String> {
    let Ok(path) = normalize_request_path(req.uri.path()) else {
        return Vec::new();
    };
    let method = req.method.as_str();
    table
        .routes()
        .iter()
        .filter(|r| r.path == "/" || *path == r.path || path.starts_with(&format!("{}/", r.path)))
        .map(|r| {
            let kind = r.match_kind();
            let verdict = if !r.include_subpath && *path != r.path {
                "no: an exact route, and the path goes on below it".to_owned()
            } else if !passthru_routes::Method::from_request(method)
                .is_some_and(|m| r.methods.allows(m))
            {
                format!("no: {method} is not among its methods ({})", r.methods)
            } else {
                "yes".to_owned()
            };
            format!("{} {} ({kind}, {}): {verdict}", r.id, r.path, r.methods)
        })
        .collect()
}

/// A file of route tests.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cases {
    pub cases: Vec<Case>,
}

/// One request and what should happen to it. Only the fields given under `expect` are checked.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    /// `METHOD /path?query`.
    pub request: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Sent as `Authorization: Bearer <key>`.
    #[serde(default)]
    pub key: Option<String>,
    pub expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub status: Option<u16>,
    pub route: Option<String>,
    pub upstream: Option<String>,
    /// A value each header must have upstream; `null`: the header must not go upstream.
    #[serde(default)]
    pub headers: BTreeMap<String, Option<String>>,
}

impl Case {
    pub fn request_header(&self) -> anyhow::Result<RequestHeader> {
        let mut headers: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        if let Some(key) = &self.key {
            headers.push(("authorization".into(), format!("Bearer {key}")));
        }
        request(&self.request, &headers)
    }

    /// What differs between the expectation and `got`, one line each; empty when it passed.
    pub fn differences(&self, got: &Outcome) -> Vec<String> {
        let mut out = Vec::new();
        let e = &self.expect;
        if let Some(status) = e.status {
            if status != got.status {
                let why = got
                    .message
                    .as_deref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default();
                out.push(format!(
                    "status: expected {status}, got {}{why}",
                    got.status
                ));
            }
        }
        if e.route.is_some() && e.route != got.route {
            out.push(format!(
                "route: expected {}, got {}",
                e.route.as_deref().unwrap_or("none"),
                got.route.as_deref().unwrap_or("none")
            ));
        }
        if e.upstream.is_some() && e.upstream != got.upstream {
            out.push(format!(
                "upstream: expected {}, got {}",
                e.upstream.as_deref().unwrap_or("none"),
                got.upstream.as_deref().unwrap_or("none (not forwarded)")
            ));
        }
        for (name, want) in &e.headers {
            let have = got.headers.get(&name.to_ascii_lowercase());
            if want.as_ref() != have {
                out.push(format!(
                    "header {name}: expected {}, got {}",
                    want.as_deref()
                        .map_or("absent".into(), |v| format!("{v:?}")),
                    have.map_or("absent".into(), |v| format!("{v:?}"))
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(yaml: &str) -> ServingTable {
        offline_table(RouteTable::new(
            passthru_routes::RoutesFile::parse(yaml.as_bytes()).unwrap(),
        ))
    }

    const TABLE: &str = "version: 1
routes:
- {id: cohere, path: /cohere, target: 'https://api.cohere.com/v1', include_subpath: true, headers: {authorization: 'Bearer os.environ/COHERE_KEY'}, auth: true}
- {id: health, path: /health, target: 'http://127.0.0.1:8080/healthz', methods: [GET], auth: false}
keys:
- sha256: 82dae6d443609cfcb4e698af21391e5132c679ce83b37086ada791a0fb2a43ee
";

    #[test]
    fn a_forwarded_request_shows_its_upstream_url_and_headers_without_secrets() {
        let t = table(TABLE);
        let req = request(
            "POST /cohere/chat?x=1",
            &[("authorization".into(), "Bearer sk-demo-key".into())],
        )
        .unwrap();
        let got = outcome(&t, &req);
        assert_eq!(got.status, 200);
        assert_eq!(got.route.as_deref(), Some("cohere"));
        assert_eq!(
            got.upstream.as_deref(),
            Some("https://api.cohere.com/v1/chat?x=1")
        );
        assert_eq!(
            got.headers.get("authorization").map(String::as_str),
            Some("Bearer <os.environ/COHERE_KEY>")
        );
    }

    #[test]
    fn a_refused_request_shows_the_status_and_why() {
        let t = table(TABLE);
        let got = outcome(&t, &request("POST /health", &[]).unwrap());
        assert_eq!(got.status, 405);
        assert!(got.message.is_some());
    }

    #[test]
    fn every_covering_route_is_listed_with_its_verdict() {
        let t = table(TABLE);
        let lines = considered(&t.table, &request("DELETE /health", &[]).unwrap());
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].contains("DELETE is not among its methods"),
            "{lines:?}"
        );
    }
}
