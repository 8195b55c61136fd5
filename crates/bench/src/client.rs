//! One keep-alive HTTP/1.1 connection that reconnects after an error; responses are read by
//! the test support's HTTP/1 reader.

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use passthru_tests::http::read_keep_alive_response;

/// One keep-alive HTTP/1.1 connection that reconnects after an error.
pub struct Client {
    addr: SocketAddr,
    conn: Option<(BufReader<TcpStream>, TcpStream)>,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        Client { addr, conn: None }
    }

    fn connect(&mut self) -> std::io::Result<&mut (BufReader<TcpStream>, TcpStream)> {
        if self.conn.is_none() {
            let stream = TcpStream::connect(self.addr)?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(Duration::from_secs(10)))?;
            let writer = stream.try_clone()?;
            self.conn = Some((BufReader::new(stream), writer));
        }
        Ok(self.conn.as_mut().unwrap())
    }

    /// GET `path`; the status code, the body read and discarded.
    pub fn get(&mut self, path: &str) -> std::io::Result<u16> {
        self.request(path, false).map(|(status, _)| status)
    }

    /// GET `path`; the body as text when the status is 200.
    pub fn get_text(&mut self, path: &str) -> std::io::Result<String> {
        match self.request(path, true)? {
            (200, body) => Ok(String::from_utf8_lossy(&body).into_owned()),
            (status, _) => Err(std::io::Error::other(format!("status {status}"))),
        }
    }

    fn request(&mut self, path: &str, keep_body: bool) -> std::io::Result<(u16, Vec<u8>)> {
        let result = self.try_request(path, keep_body);
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    fn try_request(&mut self, path: &str, keep_body: bool) -> std::io::Result<(u16, Vec<u8>)> {
        let (reader, writer) = self.connect()?;
        writer.write_all(format!("GET {path} HTTP/1.1\r\nhost: bench\r\n\r\n").as_bytes())?;
        let response = read_keep_alive_response(reader)?;
        if response
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
        {
            self.conn = None;
        }
        let status = response.status();
        let body = if keep_body { response.body } else { Vec::new() };
        Ok((status, body))
    }

    /// GET every `every` until `want` comes back; the time taken.
    pub fn until_status(
        &mut self,
        path: &str,
        want: u16,
        every: Duration,
        timeout: Duration,
    ) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if matches!(self.get(path), Ok(s) if s == want) {
                return Some(start.elapsed());
            }
            std::thread::sleep(every);
        }
        None
    }
}
