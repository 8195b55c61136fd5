//! Server-sent events through the proxy, many at once: every event arrives, in order, on its own,
//! and the client sees each one before the upstream sends the next — the proxy buffers nothing.
//! Correctness only; how fast and how much memory is the benchmark's business.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use passthru_tests::proxy::serve_file;

const STREAMS: usize = 500;
const EVENTS: usize = 4;
const PATIENCE: Duration = Duration::from_secs(60);

/// How many events each client has seen, by stream id; the upstream waits on it.
#[derive(Default)]
struct Seen {
    counts: Mutex<HashMap<usize, usize>>,
    changed: Condvar,
}

impl Seen {
    fn mark(&self, stream: usize, count: usize) {
        self.counts.lock().unwrap().insert(stream, count);
        self.changed.notify_all();
    }

    /// Waits until the client of `stream` has seen `count` events.
    fn wait(&self, stream: usize, count: usize) {
        let guard = self.counts.lock().unwrap();
        let (counts, timeout) = self
            .changed
            .wait_timeout_while(guard, PATIENCE, |c| {
                c.get(&stream).copied().unwrap_or(0) < count
            })
            .unwrap();
        drop(counts);
        assert!(
            !timeout.timed_out(),
            "stream {stream}: event {count} never reached the client"
        );
    }
}

fn event(stream: usize, i: usize) -> String {
    format!("id: {i}\ndata: {{\"stream\": {stream}, \"event\": {i}}}\n\n")
}

/// An upstream that answers `GET /s/ID` with an event stream, sending each event only once the
/// client has seen the one before.
fn lockstep_upstream(seen: Arc<Seen>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(STREAMS) {
            let seen = seen.clone();
            let mut conn = conn.unwrap();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let id: usize = line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|t| t.strip_prefix("/s/"))
                    .and_then(|n| n.parse().ok())
                    .expect("a stream id");
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).unwrap();
                    if header == "\r\n" || header.is_empty() {
                        break;
                    }
                }
                write!(
                    conn,
                    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
                )
                .unwrap();
                for i in 0..EVENTS {
                    seen.wait(id, i);
                    let e = event(id, i);
                    write!(conn, "{:x}\r\n{e}\r\n", e.len()).unwrap();
                    conn.flush().unwrap();
                }
                conn.write_all(b"0\r\n\r\n").unwrap();
            });
        }
    });
    addr
}

/// Reads one chunk of a chunked body; `None` at its end.
fn chunk(reader: &mut impl BufRead) -> Option<String> {
    let mut size = String::new();
    reader.read_line(&mut size).unwrap();
    let size = usize::from_str_radix(size.trim(), 16).unwrap();
    let mut data = vec![0; size + 2];
    reader.read_exact(&mut data).unwrap();
    (size > 0).then(|| String::from_utf8(data[..size].to_vec()).unwrap())
}

#[test]
fn five_hundred_event_streams_each_deliver_every_event_in_order_unmerged_and_unbuffered() {
    let seen = Arc::new(Seen::default());
    let upstream = lockstep_upstream(seen.clone());
    let (proxy, _dir) = serve_file(
        &format!(
            "version: 1\nroutes:\n- {{path: /s, target: 'http://{upstream}/s', include_subpath: true, auth: false}}\n"
        ),
        &[],
        &[],
    );
    let clients: Vec<_> = (0..STREAMS)
        .map(|id| {
            let (seen, addr) = (seen.clone(), proxy.addr);
            std::thread::spawn(move || {
                let mut conn = TcpStream::connect(addr).unwrap();
                conn.set_read_timeout(Some(PATIENCE)).unwrap();
                write!(
                    conn,
                    "GET /s/{id} HTTP/1.1\r\nhost: passthru.test\r\naccept: text/event-stream\r\nconnection: close\r\n\r\n"
                )
                .unwrap();
                let mut reader = BufReader::new(conn);
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    head.push_str(&line);
                    if line == "\r\n" {
                        break;
                    }
                }
                assert!(head.starts_with("HTTP/1.1 200"), "stream {id}: {head}");
                for i in 0..EVENTS {
                    // The upstream sends event i only after the client saw i - 1, so this chunk
                    // holds exactly event i: in order, unmerged, not held back.
                    let mut got = String::new();
                    while !got.ends_with("\n\n") {
                        let part = chunk(&mut reader)
                            .unwrap_or_else(|| panic!("stream {id}: ended after {got:?}"));
                        got.push_str(&part);
                    }
                    assert_eq!(got, event(id, i), "stream {id}, event {i}");
                    seen.mark(id, i + 1);
                }
                assert_eq!(chunk(&mut reader), None, "stream {id}: more than {EVENTS} events");
            })
        })
        .collect();
    for client in clients {
        client.join().expect("a stream failed");
    }
}
