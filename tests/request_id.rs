//! `x-request-id`: a sane client id is kept, anything else is replaced by a generated one; the
//! id goes upstream, back to the client, into the access log and into every JSON error body.

use std::path::PathBuf;

use passthru_tests::access_log::{line_for, serve_logging_to_file, wait_for_lines};
use passthru_tests::free_port;
use passthru_tests::http::{request, send_raw, Behaviour, Message, Upstream};
use passthru_tests::proxy::Proxy;

/// A proxy with an open route `/a`, a keyed `/keyed` and an unreachable `/down`, logging to a
/// file in its directory.
fn serve(up: &Upstream) -> (Proxy, PathBuf, tempfile::TempDir) {
    serve_logging_to_file(
        &format!(
            "version: 1\nroutes:\n- {{path: /a, target: '{}', auth: false}}\n- {{path: /keyed, target: '{}'}}\n- {{path: /down, target: 'http://{}', auth: false}}\n",
            up.url(),
            up.url(),
            free_port()
        ),
        &[],
    )
}

fn with_id(proxy: &Proxy, target: &str, id: &str) -> Message {
    request(proxy.addr, "GET", target, &[("x-request-id", id)], b"")
}

/// The id the upstream received on its last request.
fn upstream_id(up: &Upstream) -> String {
    let last = up.last();
    let ids: Vec<&str> = last
        .headers
        .iter()
        .filter(|(n, _)| n == "x-request-id")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(ids.len(), 1, "{:?}", last.headers);
    ids[0].to_owned()
}

fn is_generated(id: &str) -> bool {
    id.len() == 36
        && id
            .bytes()
            .all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[test]
fn a_sane_client_request_id_is_kept_upstream_in_the_response_and_in_the_log() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, log, _d) = serve(&up);
    let id = "req_01HZX3-abc.def:42";
    let resp = with_id(&proxy, "/a", id);
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.header("x-request-id"), Some(id));
    assert_eq!(upstream_id(&up), id);
    let lines = wait_for_lines(&log, 1);
    assert_eq!(line_for(&lines, id)["status"], 200);
}

#[test]
fn a_request_without_an_id_gets_a_generated_one_everywhere() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, log, _d) = serve(&up);
    let resp = request(proxy.addr, "GET", "/a", &[], b"");
    let id = resp.header("x-request-id").unwrap().to_owned();
    assert!(is_generated(&id), "{id}");
    assert_eq!(upstream_id(&up), id);
    let lines = wait_for_lines(&log, 1);
    line_for(&lines, &id);
    let again = request(proxy.addr, "GET", "/a", &[], b"");
    assert_ne!(again.header("x-request-id").unwrap(), id);
}

#[test]
fn a_hostile_request_id_is_replaced_and_never_echoed() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, log, _d) = serve(&up);
    let long = "a".repeat(10 * 1024);
    for hostile in [
        long.as_str(),
        "has space",
        "quote\"d",
        "%0d%0ainjected: 1",
        "a,b",
        "<script>",
    ] {
        let resp = with_id(&proxy, "/a", hostile);
        assert_eq!(resp.status(), 200, "{hostile}");
        let id = resp.header("x-request-id").unwrap();
        assert!(is_generated(id), "{hostile:?} came back as {id:?}");
        assert_eq!(upstream_id(&up), id);
    }
    // A raw CR/LF inside the value never becomes a header of its own anywhere.
    let resp = send_raw(
        proxy.addr,
        b"GET /a HTTP/1.1\r\nhost: x\r\nconnection: close\r\nx-request-id: abc\rinjected: 1\r\n\r\n",
    );
    assert!(!resp.has_header("injected"), "{resp:?}");
    assert!(up.received().iter().all(|m| !m.has_header("injected")));
    let lines = wait_for_lines(&log, 6);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains(&long[..200]) && !text.contains("has space"),
        "{text}"
    );
    assert!(lines
        .iter()
        .all(|l| is_generated(l["request_id"].as_str().unwrap())));
}

#[test]
fn every_json_error_body_carries_the_request_id() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _log, _d) = serve(&up);
    for (target, status) in [("/nowhere", 404), ("/keyed", 401), ("/down", 502)] {
        let resp = with_id(&proxy, target, &format!("err-{status}"));
        assert_eq!(resp.status(), status);
        assert_eq!(
            resp.header("x-request-id"),
            Some(format!("err-{status}").as_str())
        );
        assert_eq!(resp.json()["error"]["request_id"], format!("err-{status}"));
        let generated = request(proxy.addr, "GET", target, &[], b"");
        let id = generated.header("x-request-id").unwrap();
        assert_eq!(generated.json()["error"]["request_id"], id);
    }
}
