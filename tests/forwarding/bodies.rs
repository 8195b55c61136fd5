//! Bodies, chunked requests, event streams and upgrades pass through unchanged.

use std::time::{Duration, Instant};

use passthru_tests::http::{request, send_raw, stream_chunks, Behaviour, Upstream};
use passthru_tests::wait::patient;

use super::serve;

#[test]
fn request_and_response_body_bytes_pass_unchanged() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&format!(
        "- {{path: /b, target: '{}', auth: false}}\n",
        up.url()
    ));
    let body: Vec<u8> = (0..=255u8)
        .cycle()
        .take(70_000)
        .filter(|b| b.is_ascii_alphanumeric())
        .collect();
    let resp = request(
        proxy.addr,
        "PUT",
        "/b",
        &[
            ("content-type", "application/octet-stream"),
            ("content-encoding", "identity"),
        ],
        &body,
    );
    assert_eq!(resp.status(), 200);
    assert_eq!(up.last().body, body);
    assert_eq!(
        resp.json()["body"].as_str().unwrap().as_bytes(),
        body.as_slice()
    );
}

#[test]
fn a_chunked_request_body_streams_through() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&format!(
        "- {{path: /b, target: '{}', auth: false}}\n",
        up.url()
    ));
    let raw = "POST /b HTTP/1.1\r\nhost: x\r\nconnection: close\r\ntransfer-encoding: chunked\r\ncontent-type: text/plain\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    assert_eq!(send_raw(proxy.addr, raw.as_bytes()).status(), 200);
    assert_eq!(up.last().body, b"hello world");
}

#[test]
fn server_sent_events_arrive_one_by_one() {
    let up = Upstream::start(Behaviour::Events {
        count: 5,
        every: Duration::from_millis(200),
    });
    let (proxy, _d) = serve(&format!(
        "- {{path: /sse, target: '{}', auth: false}}\n",
        up.url()
    ));
    let started = Instant::now();
    let (head, chunks) = stream_chunks(proxy.addr, "/sse");
    assert_eq!(head.status(), 200);
    let text: String = chunks.iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(text.matches("data: event").count(), 5, "{text}");
    let first = chunks.first().unwrap().0 - started;
    let last = chunks.last().unwrap().0 - started;
    assert!(
        first < patient(Duration::from_millis(500)),
        "first event after {first:?}: buffered?"
    );
    assert!(
        last - first >= Duration::from_millis(600),
        "events arrived together: {first:?} .. {last:?}"
    );
}

#[test]
fn a_websocket_upgrade_passes_through_and_carries_bytes_both_ways() {
    use std::io::{Read, Write};
    let up = Upstream::start(Behaviour::Upgrade);
    let (proxy, _d) = serve(&format!(
        "- {{path: /ws, target: '{}', auth: false}}\n",
        up.url()
    ));
    let mut stream = std::net::TcpStream::connect(proxy.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"GET /ws HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n")
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    let got = up.last();
    assert_eq!(got.header("upgrade"), Some("websocket"));
    assert_eq!(
        got.header("sec-websocket-key"),
        Some("dGhlIHNhbXBsZSBub25jZQ==")
    );
    stream.write_all(b"ping-frame-bytes").unwrap();
    let mut echoed = [0u8; 16];
    stream.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"ping-frame-bytes");
}
