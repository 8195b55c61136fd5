//! The admin listener: `/healthz`, `/readyz`, `/routes`, `/metrics`. Loopback by default.

use std::sync::Arc;

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use crate::state::ProxyState;

pub struct Admin {
    pub shared: Arc<ProxyState>,
}

fn json(status: u16, body: serde_json::Value) -> Response<Vec<u8>> {
    let body = body.to_string().into_bytes();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("content-length", body.len())
        .body(body)
        .expect("static response parts are valid")
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        match session.req_header().uri.path() {
            "/healthz" => json(200, serde_json::json!({ "status": "ok" })),
            "/readyz" => match self.shared.table.load().as_ref() {
                Some(t) => json(
                    200,
                    serde_json::json!({
                        "status": "ready",
                        "generation": t.generation,
                        "sha256": t.content_hash_hex(),
                        "routes": t.table.routes().len(),
                        "unservable_routes": t.broken_routes().map(|(r, _)| r.id.to_string()).collect::<Vec<_>>(),
                    }),
                ),
                None => json(503, serde_json::json!({ "status": "no routes loaded yet" })),
            },
            "/routes" => match self.shared.table.load().as_ref() {
                // The table being served, canonical, with configured secrets masked.
                Some(t) => {
                    let body = t.table.file().masked().render().into_bytes();
                    Response::builder()
                        .status(200)
                        .header("content-type", "application/yaml")
                        .header("x-passthru-sha256", t.content_hash_hex())
                        .header("content-length", body.len())
                        .body(body)
                        .expect("static response parts are valid")
                }
                None => json(503, serde_json::json!({ "status": "no routes loaded yet" })),
            },
            "/metrics" => {
                let body = self.shared.metrics_text();
                Response::builder()
                    .status(200)
                    .header("content-type", "text/plain; version=0.0.4")
                    .header("content-length", body.len())
                    .body(body)
                    .expect("static response parts are valid")
            }
            other => json(
                404,
                serde_json::json!({ "error": format!("no admin endpoint {other}; try /healthz, /readyz, /routes, /metrics") }),
            ),
        }
    }
}
