//! What a request that failed inside pingora (upstream unreachable or slow, a bad response, a
//! client that went away) gets: a status, the access log's error kind, and a message.

use passthru_routes::Route;
use pingora::{Error, ErrorSource, ErrorType};

/// The status the client gets; 0 when the client is gone and nothing can be written.
pub(super) fn status(e: &Error) -> u16 {
    match e.etype() {
        ErrorType::HTTPStatus(code) => *code,
        ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout
            if e.esource() == &ErrorSource::Upstream =>
        {
            504
        }
        _ => match e.esource() {
            ErrorSource::Upstream => 502,
            ErrorSource::Downstream => match e.etype() {
                ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => 0,
                _ => 400,
            },
            ErrorSource::Internal | ErrorSource::Unset => 500,
        },
    }
}

/// The access log's `error` for a failure answered with `code` ([`status`]).
pub(super) fn kind(code: u16, e: &Error) -> &'static str {
    match code {
        504 => "upstream_timeout",
        502 if e.esource() == &ErrorSource::Upstream => "upstream_error",
        502 => "bad_upstream_response",
        0 => "client_closed",
        400..=499 => "bad_request",
        _ => "internal_error",
    }
}

/// The message of the JSON error answered with `code`, naming the route when one matched.
pub(super) fn message(code: u16, e: &Error, route: Option<&Route>) -> String {
    match (code, route) {
        // A status the proxy chose itself carries its reason as context.
        _ if matches!(e.etype(), ErrorType::HTTPStatus(_)) && e.context.is_some() => e
            .context
            .as_ref()
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default(),
        (504, Some(r)) => format!(
            "upstream of route {} did not answer within {:?}",
            r.id, r.timeout
        ),
        (502, Some(r)) => format!(
            "cannot reach the upstream of route {}: {}",
            r.id,
            e.etype().as_str()
        ),
        _ => e.etype().as_str().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upstream_timeout_is_a_504_and_a_closed_client_gets_nothing() {
        let timeout = Error::new(ErrorType::ConnectTimedout).into_up();
        assert_eq!(status(&timeout), 504);
        assert_eq!(kind(504, &timeout), "upstream_timeout");
        let refused = Error::new(ErrorType::ConnectRefused).into_up();
        assert_eq!(status(&refused), 502);
        assert_eq!(kind(502, &refused), "upstream_error");
        let gone = Error::new(ErrorType::ConnectionClosed).into_down();
        assert_eq!(status(&gone), 0);
        assert_eq!(kind(0, &gone), "client_closed");
    }

    #[test]
    fn a_status_the_proxy_chose_keeps_its_reason() {
        let e = Error::explain(
            ErrorType::HTTPStatus(502),
            "the upstream switched protocols",
        );
        assert_eq!(status(&e), 502);
        assert_eq!(message(502, &e, None), "the upstream switched protocols");
    }
}
