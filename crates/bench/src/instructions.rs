//! Scenario 4d: user-space instructions per proxied request, counted by callgrind. The count is
//! the same whatever else the machine is doing, so per-request costs a few percent wide (the
//! access log, a header rewrite) show here where CPU-time rows on a shared machine drown them.
//! Kernel time (the system calls every proxy makes alike) is not counted.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use passthru_tests::process::Daemon;
use passthru_tests::wait::poll;
use passthru_tests::{binary, free_port};

use crate::client::Client;
use crate::nginx::Nginx;
use crate::report::{ratio, thousands, Table};
use crate::route_tables::write_upstream_routes;

/// Starts `command` under callgrind with instrumentation off, warms it up, counts `requests`
/// sequential keep-alive GETs of `path`, and stops it: the instructions per request.
fn count(
    name: &str,
    dir: &Path,
    command: Command,
    listen: SocketAddr,
    path: &str,
    requests: usize,
) -> f64 {
    let out = dir.join(format!("{name}.callgrind"));
    for stale in [out.clone(), PathBuf::from(format!("{}.1", out.display()))] {
        let _ = std::fs::remove_file(stale);
    }
    let mut valgrind = Command::new("valgrind");
    valgrind
        .args(["--tool=callgrind", "--instr-atstart=no"])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(command.get_program())
        .args(command.get_args());
    let process = Daemon::spawn(name, &mut valgrind);
    let mut client = Client::new(listen);
    let up = poll(Duration::from_secs(300), Duration::from_millis(200), || {
        matches!(client.get(path), Ok(200)).then_some(())
    });
    assert!(up.is_some(), "{name} under valgrind did not answer {path}");
    for _ in 0..requests / 10 {
        assert_eq!(client.get(path).unwrap(), 200, "{name} warm-up");
    }
    callgrind_control(&["-i", "on"], process.pid());
    for _ in 0..requests {
        assert_eq!(client.get(path).unwrap(), 200, "{name}");
    }
    callgrind_control(&["-i", "off"], process.pid());
    callgrind_control(&["-d"], process.pid());
    let totals = poll(Duration::from_secs(60), Duration::from_millis(100), || {
        dumped_totals(&out)
    })
    .expect("callgrind wrote its dump");
    drop(process);
    totals as f64 / requests as f64
}

fn callgrind_control(args: &[&str], pid: u32) {
    let status = Command::new("callgrind_control")
        .args(args)
        .arg(pid.to_string())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run callgrind_control (apt-get install valgrind)");
    assert!(status.success(), "callgrind_control {args:?} {pid}");
}

/// The `totals:` of the dump callgrind_control -d asked for (`FILE.1`).
fn dumped_totals(out: &Path) -> Option<u64> {
    let dump = std::fs::read_to_string(format!("{}.1", out.display())).ok()?;
    dump.lines()
        .find_map(|l| l.strip_prefix("totals:"))
        .and_then(|n| n.trim().parse().ok())
}

pub fn run(requests: usize, routes: usize) -> Vec<Table> {
    let dir = tempfile::tempdir().unwrap();
    // The profiles are kept for `callgrind_annotate`: where a count moved, they say why.
    let profiles = passthru_tests::target_dir().join("bench/callgrind");
    std::fs::create_dir_all(&profiles).unwrap();
    let upstream = Nginx::upstream();
    let file = write_upstream_routes(dir.path(), routes, upstream.addr());
    let tested = format!("/svc-{}/v1/chat/completions", routes / 2);
    let access_log = dir.path().join("access.log");
    let proxy = |log: &Path, listen: SocketAddr| {
        let mut c = Command::new(binary("passthru-proxy"));
        c.arg("--listen")
            .arg(listen.to_string())
            .arg("--admin")
            .arg(free_port().to_string())
            .arg("--routes")
            .arg(&file)
            .args(["--threads", "1", "--access-log"])
            .arg(log)
            .env("PASSTHRU_LOG", "warn");
        c
    };
    let listen = [free_port(), free_port(), free_port()];
    let mut bare = Command::new(binary("examples/bare_pingora"));
    bare.arg(listen[0].to_string())
        .arg(upstream.addr().to_string())
        .arg("1");
    eprintln!("instructions: {requests} requests per process under callgrind");
    let floor = count(
        "bare_pingora",
        &profiles,
        bare,
        listen[0],
        &tested,
        requests,
    );
    let off = count(
        "log-off",
        &profiles,
        proxy(Path::new("off"), listen[1]),
        listen[1],
        &tested,
        requests,
    );
    let on = count(
        "log-on",
        &profiles,
        proxy(&access_log, listen[2]),
        listen[2],
        &tested,
        requests,
    );
    let mut t = Table::new(
        &format!(
            "4d. User-space instructions per proxied request (callgrind, {} sequential keep-alive requests, {} routes, one worker thread)",
            thousands(requests as u64),
            thousands(routes as u64)
        ),
        &["process", "instructions per request", "× pingora alone", "× access log off"],
    );
    for (name, c) in [
        ("pingora alone", &floor),
        ("passthru-proxy, access log off", &off),
        ("passthru-proxy, access log to a file", &on),
    ] {
        t.row(&[
            name.to_owned(),
            thousands(*c as u64),
            ratio(c / floor),
            ratio(c / off),
        ]);
    }
    t.note(
        "Each process runs under `valgrind --tool=callgrind --instr-atstart=no`; instrumentation is \
         switched on (`callgrind_control -i on`) after a warm-up and off after the counted requests, \
         so start-up and table loading are not counted. Instructions are user space only: the \
         system calls (socket reads and writes, and the access log's batched writes) are not in \
         them, so the CPU-time ratios of table 4 are smaller than these. The same on any machine \
         load; they move only with the code, the compiler and the inputs. The profiles stay in \
         `target/bench/callgrind/` (`callgrind_annotate --inclusive=yes FILE.1`).",
    );
    vec![t]
}
