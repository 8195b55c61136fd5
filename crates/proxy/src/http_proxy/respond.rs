//! Answers the proxy writes itself: its JSON errors, CORS preflights and `100 Continue`.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::proxy::Session;

use crate::client;
use crate::cors;
use crate::forward;

/// A short JSON error: `{"error": {"status": 404, "message": "…", "request_id": "…"}}`.
pub(super) async fn respond_json(
    session: &mut Session,
    status: u16,
    message: &str,
    allow: Option<String>,
    cors: &cors::Headers,
    request_id: &str,
) -> Result<bool> {
    let body = serde_json::json!({
        "error": { "status": status, "message": message, "request_id": request_id }
    })
    .to_string();
    let mut resp = ResponseHeader::build(status, Some(5))?;
    resp.insert_header(http::header::CONTENT_TYPE, "application/json")?;
    resp.insert_header(client::REQUEST_ID_NAME, request_id)?;
    resp.insert_header(http::header::CONTENT_LENGTH, body.len())?;
    if let Some(allow) = allow {
        resp.insert_header(http::header::ALLOW, allow)?;
    }
    for (name, value) in cors {
        resp.insert_header(name.clone(), value.clone())?;
    }
    session.write_response_header(Box::new(resp), false).await?;
    session
        .write_response_body(Some(Bytes::from(body)), true)
        .await?;
    Ok(true)
}

/// 200 with the preflight's grant and no body worth reading, as Starlette answers.
pub(super) async fn respond_preflight(
    session: &mut Session,
    headers: cors::Headers,
    request_id: &str,
) -> Result<bool> {
    let mut resp = ResponseHeader::build(200, Some(headers.len() + 3))?;
    resp.insert_header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")?;
    resp.insert_header(client::REQUEST_ID_NAME, request_id)?;
    resp.insert_header(http::header::CONTENT_LENGTH, "2")?;
    for (name, value) in headers {
        resp.insert_header(name, value)?;
    }
    session.write_response_header(Box::new(resp), false).await?;
    session
        .write_response_body(Some(Bytes::from_static(b"OK")), true)
        .await?;
    Ok(true)
}

/// Answers `Expect: 100-continue` once the request is routed and authorised, so the client sends
/// its body (curl otherwise waits a second, other clients until their timeout). The upstream
/// never sees the expectation ([`forward::rewrite_request`]); a refused request gets its final
/// status instead, and its unsent body is never awaited.
pub(super) async fn continue_if_expected(session: &mut Session) -> Result<()> {
    if !forward::expects_continue(session.req_header()) || session.is_body_done() {
        return Ok(());
    }
    // pingora turns keep-alive off for any response written before the body is read, 100
    // included; the final response decides that again, so keep what the client asked for.
    let keepalive = session.get_keepalive();
    session.write_continue_response().await?;
    session.set_keepalive(keepalive);
    Ok(())
}
