//! A raw HTTP/1.1 client and a recording upstream server, both on std threads. Raw on purpose:
//! tests send request targets byte for byte (`/%2e%2e/`, `//`, `\`) that client libraries would
//! normalise, and read what the upstream received byte for byte.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

mod upstream;

pub use upstream::{Behaviour, Upstream};

/// A parsed HTTP/1.1 message head plus body.
#[derive(Debug, Clone, Default)]
pub struct Message {
    /// Request line or status line, without CRLF.
    pub start: String,
    /// Header names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Message {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has_header(&self, name: &str) -> bool {
        self.header(name).is_some()
    }

    /// Status code of a response.
    pub fn status(&self) -> u16 {
        self.start
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// Request target of a request (`/path?query`).
    pub fn target(&self) -> &str {
        self.start.split(' ').nth(1).unwrap_or_default()
    }

    pub fn method(&self) -> &str {
        self.start.split(' ').next().unwrap_or_default()
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body_text()))
    }
}

/// Every value of the header `name` in `m`, in order (a header may be repeated).
pub fn headers_named<'a>(m: &'a Message, name: &str) -> Vec<&'a str> {
    m.headers
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// A start line and its headers.
type Head = (String, Vec<(String, String)>);

/// Reads a message head; None at a clean end of stream.
fn read_head(reader: &mut impl BufRead) -> std::io::Result<Option<Head>> {
    let mut start = String::new();
    if reader.read_line(&mut start)? == 0 {
        return Ok(None);
    }
    let start = start.trim_end().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    Ok(Some((start, headers)))
}

fn read_chunked(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size)?;
        let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidData))?;
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk)?;
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

/// Reads a body framed by the head: chunked, content-length, or (responses) until close.
fn read_body(
    reader: &mut impl BufRead,
    headers: &[(String, String)],
    until_close: bool,
) -> std::io::Result<Vec<u8>> {
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        return read_chunked(reader);
    }
    if let Some(len) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        return Ok(body);
    }
    let mut body = Vec::new();
    if until_close {
        reader.read_to_end(&mut body)?;
    }
    Ok(body)
}

/// Reads one response (a 1xx is a response of its own, without a body).
fn read_response(reader: &mut impl BufRead, until_close: bool) -> Message {
    try_read_response(reader, |_| until_close).expect("read the response")
}

/// Reads one response off a keep-alive connection, as a client that reuses it would: a body
/// without a length runs to the end of the stream only when the response says `connection:
/// close`. Errors instead of panicking, for callers that reconnect (the benchmarks' client).
pub fn read_keep_alive_response(reader: &mut impl BufRead) -> std::io::Result<Message> {
    try_read_response(reader, |headers| {
        headers
            .iter()
            .any(|(n, v)| n == "connection" && v.eq_ignore_ascii_case("close"))
    })
}

/// Reads one response; `until_close` says from its headers whether a body without a length
/// runs to the end of the stream.
fn try_read_response(
    reader: &mut impl BufRead,
    until_close: impl FnOnce(&[(String, String)]) -> bool,
) -> std::io::Result<Message> {
    let (start, headers) = read_head(reader)?.ok_or(std::io::ErrorKind::UnexpectedEof)?;
    let status: u16 = start
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = if (100..200).contains(&status) || status == 204 || status == 304 {
        Vec::new()
    } else {
        let until_close = until_close(&headers);
        read_body(reader, &headers, until_close)?
    };
    Ok(Message {
        start,
        headers,
        body,
    })
}

/// Sends raw request bytes on a new connection and reads one response.
pub fn send_raw(addr: SocketAddr, request: &[u8]) -> Message {
    let mut conn = Conn::open(addr);
    conn.send(request);
    read_response(&mut conn.reader, true)
}

/// One client connection, for exchanges that need more than one response on it (interim
/// responses, pipelining, keep-alive) or raw bytes after an upgrade.
pub struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    pub fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).expect("connect to the proxy");
        let _ = stream.set_nodelay(true);
        stream
            .set_read_timeout(Some(crate::wait::patient(Duration::from_secs(20))))
            .unwrap();
        Conn {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::new(stream),
        }
    }

    /// Writes `bytes` in one write.
    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    /// Reads the next response, framed by its headers (a 1xx has no body).
    pub fn response(&mut self) -> Message {
        read_response(&mut self.reader, false)
    }

    /// Reads exactly `n` raw bytes (after an upgrade).
    pub fn read_exact(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        self.reader.read_exact(&mut buf).unwrap();
        buf
    }

    /// True when the proxy closes the connection (end of stream) before sending anything more.
    pub fn closed(&mut self) -> bool {
        matches!(self.reader.fill_buf(), Ok([]) | Err(_))
    }
}

/// Sends `METHOD target` with the given headers (and body) and reads the response.
pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Message {
    let mut raw =
        format!("{method} {target} HTTP/1.1\r\nhost: passthru.test\r\nconnection: close\r\n");
    for (n, v) in headers {
        raw.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        raw.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    raw.push_str("\r\n");
    let mut bytes = raw.into_bytes();
    bytes.extend_from_slice(body);
    send_raw(addr, &bytes)
}

pub fn get(addr: SocketAddr, target: &str) -> Message {
    request(addr, "GET", target, &[], b"")
}

/// `GET target` presenting `key` as a bearer token.
pub fn get_with_bearer(addr: SocketAddr, target: &str, key: &str) -> Message {
    request(
        addr,
        "GET",
        target,
        &[("authorization", &format!("Bearer {key}"))],
        b"",
    )
}

/// Reads a chunked event stream through the proxy, returning each chunk with when it arrived.
pub fn stream_chunks(addr: SocketAddr, target: &str) -> (Message, Vec<(Instant, String)>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(crate::wait::patient(Duration::from_secs(20))))
        .unwrap();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nhost: passthru.test\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let (start, headers) = read_head(&mut reader).unwrap().unwrap();
    let mut chunks = Vec::new();
    loop {
        let mut size = String::new();
        if reader.read_line(&mut size).unwrap() == 0 {
            break;
        }
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk).unwrap();
        if size == 0 {
            break;
        }
        chunks.push((
            Instant::now(),
            String::from_utf8_lossy(&chunk[..size]).into_owned(),
        ));
    }
    (
        Message {
            start,
            headers,
            body: Vec::new(),
        },
        chunks,
    )
}
