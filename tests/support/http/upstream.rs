//! The recording upstream server the proxy forwards to.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::{read_body, read_head, Message};

/// What a [`Upstream`] does with each request.
#[derive(Clone)]
pub enum Behaviour {
    /// 200 with a JSON description of the request it received.
    Echo,
    /// Server-sent events: `count` events, one every `every`, chunked.
    Events { count: usize, every: Duration },
    /// Waits, then echoes.
    Slow(Duration),
    /// Accepts a WebSocket-style upgrade with 101, then echoes raw bytes back.
    Upgrade,
    /// [`Behaviour::Upgrade`], but the 101 is written as soon as the connection is accepted,
    /// before the request arrives: it is waiting on the proxy's upstream socket by the time the
    /// proxy starts relaying, the order that a loaded machine produces only sometimes.
    EagerUpgrade,
    /// [`Behaviour::Upgrade`], but the 101 comes this long after the request.
    SlowUpgrade(Duration),
}

/// An upstream on 127.0.0.1 that records every request it receives.
pub struct Upstream {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Message>>>,
}

impl Upstream {
    pub fn start(behaviour: Behaviour) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let log = log.clone();
                let behaviour = behaviour.clone();
                thread::spawn(move || serve(stream, &behaviour, &log));
            }
        });
        Upstream { addr, received }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<Message> {
        self.received.lock().unwrap().clone()
    }

    /// The most recent request, waiting briefly for it to arrive.
    pub fn last(&self) -> Message {
        crate::wait::poll(Duration::from_secs(5), Duration::from_millis(10), || {
            self.received.lock().unwrap().last().cloned()
        })
        .expect("the upstream received nothing")
    }

    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

const SWITCHED: &[u8] =
    b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n";

fn serve(stream: TcpStream, behaviour: &Behaviour, log: &Mutex<Vec<Message>>) {
    let _ = stream.set_nodelay(true);
    let mut writer = stream.try_clone().unwrap();
    if matches!(behaviour, Behaviour::EagerUpgrade) && writer.write_all(SWITCHED).is_err() {
        return;
    }
    let mut reader = BufReader::new(stream);
    while let Ok(Some((start, headers))) = read_head(&mut reader) {
        let Ok(body) = read_body(&mut reader, &headers, false) else {
            return;
        };
        let message = Message {
            start,
            headers,
            body,
        };
        log.lock().unwrap().push(message.clone());
        let done = match behaviour {
            Behaviour::Echo => echo(&mut writer, &message),
            Behaviour::Slow(delay) => {
                thread::sleep(*delay);
                echo(&mut writer, &message)
            }
            Behaviour::Events { count, every } => events(&mut writer, *count, *every),
            Behaviour::Upgrade | Behaviour::EagerUpgrade | Behaviour::SlowUpgrade(_) => {
                if let Behaviour::SlowUpgrade(delay) = behaviour {
                    thread::sleep(*delay);
                }
                if !matches!(behaviour, Behaviour::EagerUpgrade) {
                    let _ = writer.write_all(SWITCHED);
                }
                let mut buf = [0u8; 4096];
                loop {
                    match reader.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if writer.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        };
        if done.is_err() {
            return;
        }
    }
}

fn echo(writer: &mut TcpStream, m: &Message) -> std::io::Result<()> {
    let body = serde_json::json!({
        "method": m.method(),
        "target": m.target(),
        "headers": m.headers,
        "body": m.body_text(),
    })
    .to_string();
    // Hop-by-hop headers the proxy must strip on the way back. One write: no Nagle delay.
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nkeep-alive: timeout=5\r\nx-hop: 1\r\nconnection: x-hop\r\nx-upstream: recorded\r\n\r\n{body}",
        body.len()
    );
    writer.write_all(response.as_bytes())
}

fn events(writer: &mut TcpStream, count: usize, every: Duration) -> std::io::Result<()> {
    writer.write_all(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n",
    )?;
    for i in 0..count {
        let event = format!("data: event {i}\n\n");
        write!(writer, "{:x}\r\n{event}\r\n", event.len())?;
        writer.flush()?;
        thread::sleep(every);
    }
    writer.write_all(b"0\r\n\r\n")
}
