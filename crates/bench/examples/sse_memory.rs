//! Proxy RSS per concurrent SSE stream (issue 15, item 1): an SSE upstream and N client streams
//! in this process, the proxy under test a child process, loopback only.
//!
//! ```sh
//! cargo build --release -p passthru-proxy -p passthru-bench --bins --example sse_memory
//! target/release/examples/sse_memory --streams 200,2000 --waves 2
//! # Past ~9,000 streams the upstream runs in a process of its own (a process needs a descriptor
//! # per stream, the proxy two; `ulimit -n` caps them):
//! target/release/examples/sse_memory --upstream 127.0.0.1:28417 --upstream-mode serve --interval-ms 1000 &
//! target/release/examples/sse_memory --upstream 127.0.0.1:28417 --upstream-mode use --streams 9900 --waves 2
//! # Another proxy (bare pingora, nginx) already forwarding to that upstream:
//! target/release/examples/sse_memory --upstream 127.0.0.1:28417 --upstream-mode use --external ADDR PID
//! ```
//!
//! Per stream count: a fresh proxy (`--proxy BINARY`, default target/release/passthru-proxy,
//! plus `--proxy-arg ARG` and `--env NAME=VALUE`), one warm-up stream, RSS at idle. Then
//! `--waves` rounds of N streams opened at once, each held until every stream has received
//! `--min-events` events (so all N are live at the same time, mid-stream); RSS is sampled then
//! (the highest of ten samples, 100 ms apart), and per stream = (RSS with N live − idle RSS) / N.
//! The streams are then closed; the next wave runs on the memory the last one freed, which is
//! what a long-running proxy sees. The upstream writes one event every `--interval-ms`
//! (default 20) per stream, each in its own chunk, forever; a client read that holds more than
//! one event counts as "merged" (it stays 0 while the proxy and this process keep up: on a
//! loaded machine it counts the harness's own lag too). `--hold-s` keeps the streams open
//! after the measurement, to inspect the proxy.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const EVENT: &str = "data: {\"id\":\"chatcmpl-0000000000\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" token\"}}]}\n\n";

struct Opts {
    streams: Vec<usize>,
    interval: Duration,
    min_events: u64,
    /// Keep the streams open this long after the measurement (to inspect the proxy).
    hold: Duration,
    /// Rounds of N streams on the same proxy.
    waves: usize,
    proxy: PathBuf,
    proxy_args: Vec<String>,
    env: Vec<(String, String)>,
    /// An already running proxy (address, pid) that routes `/sse` to `--upstream`.
    external: Option<(SocketAddr, u32)>,
    upstream: SocketAddr,
    /// `serve`: only the upstream, at `--upstream`; `use`: an upstream already at `--upstream`.
    upstream_mode: Option<String>,
}

fn opts() -> Opts {
    let mut o = Opts {
        streams: vec![200, 2000],
        interval: Duration::from_millis(20),
        min_events: 3,
        hold: Duration::ZERO,
        waves: 1,
        proxy: PathBuf::from("target/release/passthru-proxy"),
        proxy_args: Vec::new(),
        env: Vec::new(),
        external: None,
        upstream: "127.0.0.1:0".parse().unwrap(),
        upstream_mode: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut v = || args.next().expect("option needs a value");
        match a.as_str() {
            "--streams" => {
                o.streams = v().split(',').map(|s| s.parse().unwrap()).collect();
            }
            "--interval-ms" => o.interval = Duration::from_millis(v().parse().unwrap()),
            "--min-events" => o.min_events = v().parse().unwrap(),
            "--waves" => o.waves = v().parse().unwrap(),
            "--hold-s" => o.hold = Duration::from_secs(v().parse().unwrap()),
            "--proxy" => o.proxy = v().into(),
            "--proxy-arg" => o.proxy_args.push(v()),
            "--env" => {
                let kv = v();
                let (k, val) = kv.split_once('=').expect("--env NAME=VALUE");
                o.env.push((k.into(), val.into()));
            }
            "--external" => {
                let addr = v().parse().unwrap();
                let pid = args.next().unwrap().parse().unwrap();
                o.external = Some((addr, pid));
            }
            "--upstream" => o.upstream = v().parse().unwrap(),
            "--upstream-mode" => o.upstream_mode = Some(v()),
            other => panic!("unknown option {other}"),
        }
    }
    o
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn upstream(listener: TcpListener, interval: Duration) {
    loop {
        let Ok((mut s, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let _ = s.set_nodelay(true);
            let mut req = Vec::new();
            let mut buf = [0u8; 2048];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
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
        });
    }
}

#[derive(Default)]
struct Counters {
    /// Streams that have received `min_events` events.
    ready: AtomicU64,
    failed: AtomicU64,
    /// Reads that held more than one event.
    merged: AtomicU64,
    events: AtomicU64,
}

async fn stream(
    proxy: SocketAddr,
    min_events: u64,
    c: Arc<Counters>,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut stop = stop;
    tokio::select! {
        r = read_events(proxy, min_events, &c) => { if r.is_none() { c.failed.fetch_add(1, Ordering::Relaxed); } }
        _ = stop.changed() => {}
    }
}

/// One stream until it fails (None); counts events, merged reads, and readiness.
async fn read_events(proxy: SocketAddr, min_events: u64, c: &Counters) -> Option<()> {
    {
        let mut s: TcpStream = TcpStream::connect(proxy).await.ok()?;
        s.set_nodelay(true).ok()?;
        s.write_all(
            b"GET /sse/stream HTTP/1.1\r\nhost: bench\r\naccept: text/event-stream\r\n\r\n",
        )
        .await
        .ok()?;
        let mut buf = vec![0u8; 4096];
        let mut seen = 0u64;
        let mut head = true;
        let mut carry = Vec::new();
        loop {
            let n = s.read(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            let mut data = &buf[..n];
            if head {
                carry.extend_from_slice(data);
                let Some(end) = carry.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                if !carry.starts_with(b"HTTP/1.1 200") {
                    return None;
                }
                head = false;
                carry.drain(..end + 4);
                data = &carry;
            }
            let k = data.windows(2).filter(|w| w == b"\n\n").count() as u64;
            if k > 1 {
                c.merged.fetch_add(1, Ordering::Relaxed);
            }
            c.events.fetch_add(k, Ordering::Relaxed);
            if seen < min_events && seen + k >= min_events {
                c.ready.fetch_add(1, Ordering::Relaxed);
            }
            seen += k;
            carry.clear();
        }
    }
}

struct Proxy {
    child: Option<Child>,
    pid: u32,
    addr: SocketAddr,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

async fn start_proxy(o: &Opts, upstream: SocketAddr) -> Proxy {
    if let Some((addr, pid)) = o.external {
        return Proxy {
            child: None,
            pid,
            addr,
            _dir: None,
        };
    }
    let dir = tempfile::tempdir().unwrap();
    let routes = dir.path().join("routes.yaml");
    std::fs::write(
        &routes,
        format!(
            "version: 1\nroutes:\n  - path: /sse\n    target: http://{upstream}\n    include_subpath: true\n    auth: false\n    timeout: 600\n"
        ),
    )
    .unwrap();
    let addr = free_port();
    let admin = free_port();
    let mut cmd = Command::new(&o.proxy);
    cmd.arg("--routes")
        .arg(&routes)
        .args(["--listen", &addr.to_string(), "--admin", &admin.to_string()])
        .args(&o.proxy_args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in &o.env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("start the proxy");
    let pid = child.id();
    let proxy = Proxy {
        child: Some(child),
        pid,
        addr,
        _dir: Some(dir),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(mut s) = TcpStream::connect(admin).await {
            let _ = s
                .write_all(b"GET /readyz HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n")
                .await;
            let mut r = Vec::new();
            let _ = s.read_to_end(&mut r).await;
            if r.starts_with(b"HTTP/1.1 200") {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the proxy did not get ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy
}

async fn round(o: &Opts, up: SocketAddr, n: usize) {
    let proxy = start_proxy(o, up).await;
    // Warm-up: one stream to its third event, then closed.
    {
        let c = Arc::new(Counters::default());
        let (tx, rx) = tokio::sync::watch::channel(false);
        let t = tokio::spawn(stream(proxy.addr, 3, c.clone(), rx));
        while c.ready.load(Ordering::Relaxed) < 1 && c.failed.load(Ordering::Relaxed) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let _ = tx.send(true);
        let _ = t.await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let idle = rss_kib(proxy.pid);
    for wave in 1..=o.waves {
        wave_of(o, &proxy, n, idle, wave).await;
    }
}

/// N streams at once on `proxy`, measured against the idle RSS before the first wave; later
/// waves run on memory the earlier ones freed (what a long-running proxy sees).
async fn wave_of(o: &Opts, proxy: &Proxy, n: usize, idle: u64, wave: usize) {
    let c = Arc::new(Counters::default());
    let (tx, rx) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        tasks.push(tokio::spawn(stream(
            proxy.addr,
            o.min_events,
            c.clone(),
            rx.clone(),
        )));
        if i % 100 == 99 {
            tokio::task::yield_now().await;
        }
    }
    let mut peak_open = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let ready = c.ready.load(Ordering::Relaxed) as usize;
        let failed = c.failed.load(Ordering::Relaxed) as usize;
        peak_open = peak_open.max(rss_kib(proxy.pid));
        if ready + failed >= n || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ramp = started.elapsed();
    let mut live = 0;
    for _ in 0..10 {
        live = live.max(rss_kib(proxy.pid));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ready = c.ready.load(Ordering::Relaxed);
    let failed = c.failed.load(Ordering::Relaxed);
    if !o.hold.is_zero() {
        eprintln!(
            "holding {n} streams for {:?} (proxy pid {})",
            o.hold, proxy.pid
        );
        tokio::time::sleep(o.hold).await;
    }
    let _ = tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = rss_kib(proxy.pid);
    let per = (live.saturating_sub(idle)) as f64 / n as f64;
    println!(
        "wave {wave} streams {n:>6} | idle {idle:>7} KiB | live {live:>8} KiB (peak while opening {peak_open:>8}) | per stream {per:>6.1} KiB | after close {after:>7} KiB | ready {ready} failed {failed} | events {} merged reads {} | all live after {:.1} s",
        c.events.load(Ordering::Relaxed),
        c.merged.load(Ordering::Relaxed),
        ramp.as_secs_f64()
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let o = opts();
    let up = if o.upstream_mode.as_deref() == Some("use") {
        o.upstream
    } else {
        let listener = TcpListener::bind(o.upstream).await.unwrap();
        let up = listener.local_addr().unwrap();
        eprintln!("upstream on {up}, event interval {:?}", o.interval);
        if o.upstream_mode.as_deref() == Some("serve") {
            upstream(listener, o.interval).await;
            return;
        }
        tokio::spawn(upstream(listener, o.interval));
        up
    };
    for &n in &o.streams {
        round(&o, up, n).await;
    }
}
