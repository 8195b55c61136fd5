//! wrk for saturation runs: the command, its output, and a Lua script for many paths.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

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
