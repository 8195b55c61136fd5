//! The traffic of the streams scenario: an SSE upstream that sends one `chat.completion.chunk`
//! event per chunk at a fixed interval, forever, and waves of client streams that count what
//! arrives. Async, on one runtime, because a wave holds 10,000 streams and the upstream as many.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One event, the size of an OpenAI streaming chunk carrying one token.
const EVENT: &str = "data: {\"id\":\"chatcmpl-0000000000\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" token\"}}]}\n\n";

/// The request path for a stream of one event every `interval` behind `prefix`. The upstream
/// reads the interval from the last path segment, so a proxy may rewrite what comes before it.
pub fn stream_path(prefix: &str, interval: Duration) -> String {
    format!("{prefix}/sse/{}", interval.as_millis().max(1))
}

/// The interval a stream path asks for; None for any other request.
fn interval_of(target: &str) -> Option<Duration> {
    let path = target.split('?').next()?;
    let (rest, ms) = path.rsplit_once('/')?;
    rest.ends_with("/sse")
        .then(|| ms.parse().ok().map(Duration::from_millis))
        .flatten()
}

/// Adds one to a gauge now and takes it back when dropped, however the task ends.
struct Gauge(Arc<AtomicI64>);

impl Gauge {
    fn up(gauge: &Arc<AtomicI64>) -> Gauge {
        gauge.fetch_add(1, Ordering::Relaxed);
        Gauge(gauge.clone())
    }
}

impl Drop for Gauge {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The SSE upstream: `GET …/sse/MS` is an endless event stream, one event every MS ms, each
/// in its own chunk, the first at once; anything else is a short `200 ok` (readiness probes).
pub struct Upstream {
    pub addr: SocketAddr,
    streaming: Arc<AtomicI64>,
}

impl Upstream {
    pub fn start(rt: &Runtime) -> Upstream {
        // The backlog nginx and pingora listen with (tokio's default is 1,024): a wave's
        // connections may arrive faster than the harness accepts them, and a SYN dropped from
        // a full queue costs a second.
        let listener = rt
            .block_on(async {
                let socket = TcpSocket::new_v4()?;
                socket.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
                socket.listen(4096)
            })
            .expect("listen for the SSE upstream on 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let streaming = Arc::new(AtomicI64::new(0));
        rt.spawn(serve(listener, streaming.clone()));
        Upstream { addr, streaming }
    }

    /// Streams the upstream is writing to now: 0 once every proxy has closed the streams of a
    /// wave on its side.
    pub fn streaming(&self) -> i64 {
        self.streaming.load(Ordering::Relaxed)
    }
}

async fn serve(listener: TcpListener, streaming: Arc<AtomicI64>) {
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            // Out of descriptors or the like: the clients see it as failed streams.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        tokio::spawn(answer(socket, streaming.clone()));
    }
}

async fn answer(mut s: TcpStream, streaming: Arc<AtomicI64>) {
    let _ = s.set_nodelay(true);
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let target = String::from_utf8_lossy(&head)
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_owned();
    let Some(interval) = interval_of(&target) else {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\nok\n")
            .await;
        return;
    };
    let _streaming = Gauge::up(&streaming);
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n";
    if s.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let chunk = format!("{:x}\r\n{EVENT}\r\n", EVENT.len());
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if s.write_all(chunk.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// What a wave's streams saw, summed over them.
#[derive(Default)]
pub struct Counters {
    /// Streams connected and not ended.
    pub open: Arc<AtomicI64>,
    /// Streams that have received the wave's `min_events`.
    pub ready: AtomicU64,
    /// Streams refused, answered with another status, or ended before the wave was closed.
    pub failed: AtomicU64,
    pub events: AtomicU64,
    /// Reads that held at least one event's end.
    pub reads: AtomicU64,
    /// Reads that held more than one: events the proxy (or a lagging client) delivered merged.
    pub merged: AtomicU64,
}

/// A copy of the counters at one instant, for figures over a window.
#[derive(Clone, Copy, Default)]
pub struct Snapshot {
    pub open: u64,
    pub ready: u64,
    pub failed: u64,
    pub events: u64,
    pub reads: u64,
    pub merged: u64,
}

impl Counters {
    pub fn snapshot(&self) -> Snapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Snapshot {
            open: self.open.load(Ordering::Relaxed).max(0) as u64,
            ready: get(&self.ready),
            failed: get(&self.failed),
            events: get(&self.events),
            reads: get(&self.reads),
            merged: get(&self.merged),
        }
    }
}

/// `n` client streams held open together until [`Wave::close`].
pub struct Wave {
    pub counters: Arc<Counters>,
    n: usize,
    stop: watch::Sender<bool>,
    /// Per stream: the time from when it was due to its first event, if one came.
    tasks: Vec<JoinHandle<Option<Duration>>>,
}

impl Wave {
    /// Opens `n` streams of `GET path` on `addr`, the k-th due at `ramp × k / n` from now
    /// (open loop: a stream's time to first event counts from when it was due, so the
    /// harness's own lag is charged to every target alike).
    pub fn open(
        rt: &Runtime,
        addr: SocketAddr,
        path: &str,
        n: usize,
        ramp: Duration,
        min_events: u64,
    ) -> Wave {
        let counters = Arc::new(Counters::default());
        let (stop, stopped) = watch::channel(false);
        let request: Arc<str> =
            format!("GET {path} HTTP/1.1\r\nhost: bench\r\naccept: text/event-stream\r\n\r\n")
                .into();
        let start = Instant::now();
        let tasks = (0..n)
            .map(|k| {
                let due = start + ramp.mul_f64(k as f64 / n as f64);
                let (counters, request, mut stopped) =
                    (counters.clone(), request.clone(), stopped.clone());
                rt.spawn(async move {
                    let mut first = None;
                    let reading = async {
                        tokio::time::sleep_until(due.into()).await;
                        read_events(addr, &request, due, min_events, &counters, &mut first).await
                    };
                    tokio::select! {
                        // The upstream never ends a stream: any end before the stop is a failure.
                        _ = reading => { counters.failed.fetch_add(1, Ordering::Relaxed); }
                        _ = stopped.changed() => {}
                    }
                    first
                })
            })
            .collect();
        Wave {
            counters,
            n,
            stop,
            tasks,
        }
    }

    /// Waits until every stream has its `min_events` or has failed; false after `timeout`.
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        let settled = passthru_tests::wait::poll(timeout, Duration::from_millis(20), || {
            let s = self.counters.snapshot();
            (s.ready + s.failed >= self.n as u64).then_some(())
        });
        settled.is_some()
    }

    /// Closes every stream; the time to first event of each stream that got one.
    pub fn close(self, rt: &Runtime) -> Vec<Duration> {
        let _ = self.stop.send(true);
        let tasks = self.tasks;
        rt.block_on(async move {
            let mut firsts = Vec::with_capacity(tasks.len());
            for task in tasks {
                if let Ok(Some(first)) = task.await {
                    firsts.push(first);
                }
            }
            firsts
        })
    }
}

/// One stream until it ends or fails; counts its events and reads, and notes its first event.
async fn read_events(
    addr: SocketAddr,
    request: &str,
    due: Instant,
    min_events: u64,
    c: &Counters,
    first: &mut Option<Duration>,
) {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return;
    };
    let _open = Gauge::up(&c.open);
    if s.set_nodelay(true).is_err() || s.write_all(request.as_bytes()).await.is_err() {
        return;
    }
    let mut buf = vec![0u8; 4096];
    let mut head = Some(Vec::new());
    // The last byte of the previous read: an event's closing "\n\n" may straddle two reads.
    let mut last = 0u8;
    let mut seen = 0u64;
    loop {
        let n = match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut body = &buf[..n];
        let rest;
        if let Some(h) = &mut head {
            h.extend_from_slice(body);
            let Some(end) = h.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            if !h.starts_with(b"HTTP/1.1 200") {
                return;
            }
            rest = h.split_off(end + 4);
            body = &rest;
            head = None;
        }
        let k = event_ends(last, body);
        last = body.last().copied().unwrap_or(last);
        if k == 0 {
            continue;
        }
        if first.is_none() {
            *first = Some(due.elapsed());
        }
        c.reads.fetch_add(1, Ordering::Relaxed);
        if k > 1 {
            c.merged.fetch_add(1, Ordering::Relaxed);
        }
        c.events.fetch_add(k, Ordering::Relaxed);
        if seen < min_events && seen + k >= min_events {
            c.ready.fetch_add(1, Ordering::Relaxed);
        }
        seen += k;
    }
}

/// How many events end in `data`: occurrences of "\n\n", `prev` being the byte before it.
/// Chunked framing around the events ("\r\n") never makes one.
fn event_ends(prev: u8, data: &[u8]) -> u64 {
    let mut p = prev;
    let mut n = 0;
    for &b in data {
        if p == b'\n' && b == b'\n' {
            n += 1;
        }
        p = b;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_is_the_last_segment_after_sse() {
        let path = stream_path("/svc-0", Duration::from_millis(200));
        assert_eq!(path, "/svc-0/sse/200");
        assert_eq!(interval_of(&path), Some(Duration::from_millis(200)));
        assert_eq!(interval_of("/sse/5?x=1"), Some(Duration::from_millis(5)));
        assert_eq!(interval_of("/"), None);
        assert_eq!(interval_of("/svc-0/x/200"), None);
    }

    #[test]
    fn event_ends_are_counted_across_reads_and_not_in_the_framing() {
        let chunk = format!("{:x}\r\n{EVENT}\r\n", EVENT.len());
        assert_eq!(event_ends(0, chunk.as_bytes()), 1);
        assert_eq!(event_ends(0, chunk.repeat(3).as_bytes()), 3);
        let (a, b) = chunk.split_at(chunk.find("\n\n").unwrap() + 1);
        assert_eq!(event_ends(0, a.as_bytes()), 0);
        assert_eq!(event_ends(b'\n', b.as_bytes()), 1);
        assert_eq!(event_ends(0, b"0\r\n\r\n"), 0);
    }

    #[test]
    fn a_wave_through_nothing_but_the_upstream_gets_its_events() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let upstream = Upstream::start(&rt);
        let path = stream_path("", Duration::from_millis(5));
        let wave = Wave::open(&rt, upstream.addr, &path, 20, Duration::from_millis(50), 3);
        assert!(wave.wait_ready(Duration::from_secs(30)));
        let s = wave.counters.snapshot();
        assert_eq!((s.ready, s.failed, s.open), (20, 0, 20));
        assert!(s.events >= 60 && s.reads >= 1, "{}", s.events);
        assert_eq!(wave.close(&rt).len(), 20);
        passthru_tests::wait::wait_until(Duration::from_secs(10), "the streams end", || {
            upstream.streaming() == 0
        });
    }
}
