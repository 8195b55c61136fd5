//! Load generation and servers: a keep-alive HTTP/1.1 client, an open-loop (fixed-rate)
//! generator, wrk for saturation, and nginx (as upstream and as the competing proxy).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
        let (status, length, chunked, close) = read_head(reader)?;
        let mut body = Vec::new();
        if chunked {
            body = read_chunked(reader)?;
        } else if let Some(n) = length {
            reader.by_ref().take(n).read_to_end(&mut body)?;
        } else if close {
            reader.read_to_end(&mut body)?;
        }
        if !keep_body {
            body = Vec::new();
        }
        if close {
            self.conn = None;
        }
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

/// Status, content-length, chunked, connection: close.
fn read_head(reader: &mut impl BufRead) -> std::io::Result<(u16, Option<u64>, bool, bool)> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or(std::io::ErrorKind::InvalidData)?;
    let (mut length, mut chunked, mut close) = (None, false, false);
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((name, value)) = l.split_once(':') {
            let (name, value) = (name.trim(), value.trim());
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            }
        }
    }
    Ok((status, length, chunked, close))
}

fn read_chunked(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let size = u64::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidData))?;
        reader.by_ref().take(size + 2).read_to_end(&mut body)?;
        body.truncate(body.len().saturating_sub(2));
        if size == 0 {
            return Ok(body);
        }
    }
}

/// Latencies of an open-loop run: each connection sends on a fixed schedule and a request's
/// latency counts from when it was due, so a stall is charged to every request it delays
/// (no coordinated omission).
pub struct OpenLoop {
    pub latencies: Vec<f64>,
    pub errors: usize,
    pub achieved_rps: f64,
}

pub fn open_loop(
    addr: SocketAddr,
    paths: &[String],
    rate: f64,
    connections: usize,
    duration: Duration,
) -> OpenLoop {
    let per_conn = rate / connections as f64;
    let period = Duration::from_secs_f64(1.0 / per_conn);
    let start = Instant::now() + Duration::from_millis(100);
    let handles: Vec<_> = (0..connections)
        .map(|c| {
            let paths = paths.to_vec();
            std::thread::spawn(move || {
                let mut client = Client::new(addr);
                let _ = client.get(&paths[c % paths.len()]); // connect and warm up
                let mut latencies = Vec::new();
                let mut errors = 0;
                // Stagger the connections across one period.
                let mut due = start + period.mul_f64(c as f64 / connections as f64);
                let end = start + duration;
                let mut k = c;
                while due < end {
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    match client.get(&paths[k % paths.len()]) {
                        Ok(200) => latencies.push(due.elapsed().as_secs_f64()),
                        _ => errors += 1,
                    }
                    k += connections;
                    due += period;
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut out = OpenLoop {
        latencies: Vec::new(),
        errors: 0,
        achieved_rps: 0.0,
    };
    for h in handles {
        let (l, e) = h.join().unwrap();
        out.latencies.extend(l);
        out.errors += e;
    }
    out.achieved_rps = out.latencies.len() as f64 / duration.as_secs_f64();
    out
}

/// wrk's summary: requests per second, p50 and p99 latency in seconds; and, when the run was
/// told which processes serve it, their CPU time per request in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wrk {
    pub rps: f64,
    pub p50: f64,
    pub p99: f64,
    pub non_2xx: u64,
    pub cpu_per_request: Option<f64>,
}

/// Runs wrk against `url` (a Lua script, when given, picks the request paths).
pub fn wrk(
    url: &str,
    threads: usize,
    connections: usize,
    duration: Duration,
    script: Option<&Path>,
) -> Wrk {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "--latency",
        "-t",
        &threads.to_string(),
        "-c",
        &connections.to_string(),
        "-d",
        &format!("{}s", duration.as_secs()),
    ]);
    if let Some(script) = script {
        cmd.arg("-s").arg(script);
    }
    let out = cmd
        .arg(url)
        .output()
        .expect("run wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    parse_wrk(&text).unwrap_or_else(|| panic!("cannot read wrk's output:\n{text}"))
}

pub fn parse_wrk(text: &str) -> Option<Wrk> {
    let mut rps = None;
    let (mut p50, mut p99) = (None, None);
    let mut non_2xx = 0;
    for line in text.lines() {
        let l = line.trim();
        if let Some(v) = l.strip_prefix("Requests/sec:") {
            rps = v.trim().parse().ok();
        } else if let Some(v) = l.strip_prefix("50%") {
            p50 = parse_wrk_time(v.trim());
        } else if let Some(v) = l.strip_prefix("99%") {
            p99 = parse_wrk_time(v.trim());
        } else if let Some(v) = l.strip_prefix("Non-2xx or 3xx responses:") {
            non_2xx = v.trim().parse().unwrap_or(0);
        }
    }
    Some(Wrk {
        rps: rps?,
        p50: p50?,
        p99: p99?,
        non_2xx,
        cpu_per_request: None,
    })
}

fn parse_wrk_time(v: &str) -> Option<f64> {
    let split = v.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = v.split_at(split);
    let n: f64 = n.parse().ok()?;
    Some(match unit {
        "us" => n * 1e-6,
        "ms" => n * 1e-3,
        "s" => n,
        "m" => n * 60.0,
        _ => return None,
    })
}

/// A wrk Lua script cycling through `paths`.
pub fn wrk_script(dir: &Path, name: &str, paths: &[String]) -> PathBuf {
    let mut lua = String::from("local paths = {\n");
    for p in paths {
        lua.push_str(&format!("  \"{p}\",\n"));
    }
    lua.push_str(
        "}\nlocal i = 0\nrequest = function()\n  i = i + 1\n  return wrk.format(\"GET\", paths[(i % #paths) + 1])\nend\n",
    );
    let path = dir.join(name);
    std::fs::write(&path, lua).unwrap();
    path
}

/// An nginx master process with its own prefix directory, stopped when dropped.
pub struct Nginx {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Nginx {
    /// `http_body` goes inside `http { }`; `{PORT}` in it is replaced by the listening port.
    pub fn start(workers: usize, http_body: &str) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let port = passthru_tests::free_port().port();
        let user = if is_root() { "user root;\n" } else { "" };
        let conf = format!(
            "{user}worker_processes {workers};\ndaemon off;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log warn;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {dir}/body;\n  proxy_temp_path {dir}/proxy;\n\
             fastcgi_temp_path {dir}/fcgi;\n  uwsgi_temp_path {dir}/uwsgi;\n  scgi_temp_path {dir}/scgi;\n\
             keepalive_requests 1000000;\n{body}\n}}\n",
            dir = dir.path().display(),
            body = http_body.replace("{PORT}", &port.to_string()),
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(nginx_binary())
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx (apt-get install nginx)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not start: {}",
                std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Nginx {
            child,
            port,
            _dir: dir,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The master and its workers.
    pub fn pids(&self) -> Vec<u32> {
        let master = self.child.id();
        let mut pids = crate::procfs::children(master);
        pids.push(master);
        pids
    }

    /// An upstream that answers every request with 200 and a short body.
    pub fn upstream() -> Nginx {
        Nginx::start(
            1,
            "  server {\n    listen 127.0.0.1:{PORT} reuseport backlog=4096;\n    \
             location / { return 200 \"ok\\n\"; }\n  }",
        )
    }

    pub fn version() -> String {
        Command::new(nginx_binary())
            .arg("-v")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_owned())
            .unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGQUIT: graceful stop of the master and its workers.
        let _ = Command::new("kill")
            .args(["-QUIT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_binary() -> &'static str {
    if Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    }
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_output_is_read() {
        let text = "Running 10s test @ http://127.0.0.1:1/\n  1 threads and 32 connections\n\
            Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency   1.00ms  200.00us   5.00ms   90.00%\n\
            Latency Distribution\n     50%  812.00us\n     75%    1.10ms\n     90%    1.50ms\n     99%    2.25ms\n\
            120000 requests in 10.00s, 15.00MB read\n  Non-2xx or 3xx responses: 3\nRequests/sec:  12000.50\nTransfer/sec:      1.50MB\n";
        let w = parse_wrk(text).unwrap();
        assert_eq!(w.rps, 12000.50);
        assert!((w.p50 - 812e-6).abs() < 1e-12);
        assert!((w.p99 - 2.25e-3).abs() < 1e-12);
        assert_eq!(w.non_2xx, 3);
        assert_eq!(parse_wrk_time("1.5s"), Some(1.5));
        assert!(parse_wrk("garbage").is_none());
    }
}
