//! A demo upstream for trying passthru: answers every request with a JSON description of what
//! it received (method, path, headers, body size), so you can see what the proxy forwarded.
//!
//!     cargo run -p passthru-proxy --example demo_upstream -- 127.0.0.1:9080

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9080".into());
    let listener = TcpListener::bind(&addr)?;
    eprintln!("demo upstream listening on http://{addr}");
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let _ = serve(stream);
        });
    }
    Ok(())
}

fn serve(stream: TcpStream) -> std::io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut headers = Vec::new();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
                headers.push(format!(
                    "{:?}: {:?}",
                    name.trim().to_ascii_lowercase(),
                    value.trim()
                ));
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let mut parts = request_line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let json = format!(
            "{{\"upstream\": \"demo\", \"method\": {method:?}, \"path\": {target:?}, \"headers\": {{{}}}, \"body_bytes\": {length}}}\n",
            headers.join(", ")
        );
        write!(
            writer,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{json}",
            json.len()
        )?;
    }
}
