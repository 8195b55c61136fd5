//! "Break it": the proxy's loader against a corpus of bad inputs, the crash consistency of the
//! sync daemon's writes under `kill -9`, and the security properties of docs/SECURITY.md, each
//! checked against the built binaries.

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use passthru_routes::RoutesFile;
use passthru_tests::http::{get, request, send_raw, Behaviour, Message, Upstream};
use passthru_tests::proxy::{eventually, free_port, Proxy};
use passthru_tests::sync::sync_command;
use passthru_tests::{binary, repo_root, replace_by_rename};

/// True when this process runs as root, which bypasses file modes.
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1))
        == Some("0")
}

/// A proxy process that, when the tests run as root, runs as `nobody` (setpriv), so that a file
/// mode is enforced on it the way it is on the `passthru` user in production.
struct Unprivileged {
    child: Child,
    addr: SocketAddr,
    admin: SocketAddr,
    log: PathBuf,
}

impl Unprivileged {
    fn start(routes: &Path, log: PathBuf) -> Unprivileged {
        let addr = free_port();
        let admin = free_port();
        let mut command = if running_as_root() {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
            c.arg(binary("passthru-proxy"));
            c
        } else {
            Command::new(binary("passthru-proxy"))
        };
        let child = command
            .arg("--routes")
            .arg(routes)
            .args(["--listen", &addr.to_string(), "--admin", &admin.to_string()])
            .args(["--grace-period", "1", "--recheck", "1"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start passthru-proxy");
        let mut p = Unprivileged {
            child,
            addr,
            admin,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(addr).is_err()
            || std::net::TcpStream::connect(admin).is_err()
        {
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("passthru-proxy exited with {status}:\n{}", p.log());
            }
            assert!(Instant::now() < deadline, "proxy did not start:\n{}", p.log());
            std::thread::sleep(Duration::from_millis(10));
        }
        p
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn metric(&self, prefix: &str) -> f64 {
        metric(self.admin, prefix)
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// (current RSS, peak RSS) in MiB.
    fn memory_mib(&self) -> (u64, u64) {
        memory_mib(self.child.id())
    }
}

impl Drop for Unprivileged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn metric(admin: SocketAddr, prefix: &str) -> f64 {
    get(admin, "/metrics")
        .body_text()
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// (VmRSS, VmHWM) of a process in MiB.
fn memory_mib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            / 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

const RELOAD_ERRORS: &str = "passthru_reloads_total{result=\"error\"}";

// ---------------------------------------------------------------------------------------------
// The bad-input corpus
// ---------------------------------------------------------------------------------------------

/// What is put where routes.yaml should be.
enum Bad {
    /// These bytes, written to a temp file and renamed over routes.yaml.
    Bytes(Vec<u8>),
    /// These bytes written in place (open, truncate, write), as a careless tool would.
    InPlace(Vec<u8>),
    /// A file of `size` bytes generated at test time (to keep 50+ MB out of git).
    Generated(fn(&Path)),
    Directory,
    SymlinkLoop,
    DanglingSymlink,
    /// A link to a character device.
    DevZero,
    /// A named pipe: opening one for reading blocks until a writer comes.
    Fifo,
    /// A file the proxy's user cannot read (mode 0000).
    Unreadable,
    Deleted,
}

struct Case {
    name: String,
    bad: Bad,
    /// Every one of these must appear in what the proxy logs about this input.
    expect: Vec<&'static str>,
}

fn case(name: &str, bad: Bad, expect: &[&'static str]) -> Case {
    Case {
        name: name.to_owned(),
        bad,
        expect: expect.to_vec(),
    }
}

fn bytes(name: &str, text: &str, expect: &[&'static str]) -> Case {
    case(name, Bad::Bytes(text.as_bytes().to_vec()), expect)
}

/// A good route plus `extra` (a YAML flow mapping's fields) as routes[1].
fn with_route(extra: &str) -> String {
    format!("version: 1\nroutes:\n- {{id: ok, path: /ok, target: 'http://h', auth: false}}\n- {{{extra}}}\n")
}

fn billion_laughs() -> String {
    let mut s = String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for w in names.windows(2) {
        let refs = vec![format!("*{}", w[0]); 9].join(",");
        s.push_str(&format!("{}: &{} [{refs}]\n", w[1], w[1]));
    }
    s.push_str("version: 1\nroutes: *i\n");
    s
}

fn huge_over_the_cap(path: &Path) {
    // 65 MiB of comment lines: larger than the loader's 64 MiB cap.
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let line = format!("#{}\n", "x".repeat(1023));
    for _ in 0..65 * 1024 {
        f.write_all(line.as_bytes()).unwrap();
    }
    f.flush().unwrap();
}

fn huge_scalar(path: &Path) {
    // 50 MB: a valid header and one enormous unknown field, under the cap: it is parsed.
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    f.write_all(b"version: 1\nroutes: []\npadding: \"").unwrap();
    let chunk = "y".repeat(1 << 20);
    for _ in 0..50 {
        f.write_all(chunk.as_bytes()).unwrap();
    }
    f.write_all(b"\"\n").unwrap();
    f.flush().unwrap();
}

fn huge_invalid_utf8_at_the_end(path: &Path) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    f.write_all(b"version: 1\nroutes: []\n").unwrap();
    let line = format!("# {}\n", "z".repeat(1000));
    for _ in 0..50_000 {
        f.write_all(line.as_bytes()).unwrap();
    }
    f.write_all(b"# \xff\xfe\n").unwrap();
    f.flush().unwrap();
}

fn huge_many_routes_with_a_clash(path: &Path) {
    // ~50 MB of valid routes, with the last one clashing with the first: the whole table is
    // parsed and validated, then refused.
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    f.write_all(b"version: 1\nroutes:\n").unwrap();
    let pad = "p".repeat(400);
    let n = 110_000;
    for i in 0..n {
        writeln!(
            f,
            "- {{path: /r{i}, target: 'http://h/{pad}', auth: false}}"
        )
        .unwrap();
    }
    writeln!(f, "- {{id: dup, path: /r0, target: 'http://h/dup', auth: false}}").unwrap();
    f.flush().unwrap();
}

fn corpus() -> Vec<Case> {
    let located_line: &[&'static str] = &["line "];
    let mut cases = vec![
        bytes("zero bytes", "", &["the file is empty"]),
        bytes("whitespace only", " \n\n\t\n", &["the file is empty"]),
        bytes("comments only", "# nothing\n", &["only comments"]),
        case("in-place truncation to zero bytes", Bad::InPlace(Vec::new()), &["the file is empty"]),
        bytes("version 2", "version: 2\nroutes: []\n", &["field `version`", "must be 1"]),
        bytes("version missing", "routes: []\n", &["field `version`", "missing"]),
        bytes("routes missing", "version: 1\n", &["field `routes`", "missing"]),
        bytes("routes a mapping", "version: 1\nroutes: {a: 1}\n", &["field `routes`", "must be a list"]),
        bytes("routes a number", "version: 1\nroutes: 5\n", &["field `routes`", "must be a list"]),
        bytes("document a scalar", "hello\n", &["must be a mapping"]),
        bytes("document a list", "- 1\n- 2\n", &["must be a mapping"]),
        bytes("two documents", "version: 1\nroutes: []\n---\nversion: 1\nroutes: []\n", &["more than one document"]),
        bytes("duplicate top-level key", "version: 1\nroutes: []\nroutes: []\n", &["duplicate entry with key \"routes\"", "line 1, column 1"]),
        bytes("duplicate route key", "version: 1\nroutes:\n- path: /a\n  path: /b\n  target: http://h\n", &["duplicate entry with key \"path\"", "line 3, column 3"]),
        bytes("duplicate ids", &with_route("id: ok, path: /other, target: 'http://h'"), &["routes[1]", "ids must be unique"]),
        bytes("conflicting routes", &with_route("path: /ok, target: 'http://h2'"), &["routes[1]", "answers"]),
        bytes("path a number", &with_route("path: 5, target: 'http://h'"), &["routes[1]", "field `path`", "must be a string"]),
        bytes("include_subpath a string", &with_route("path: /b, target: 'http://h', include_subpath: 'yes'"), &["routes[1]", "field `include_subpath`"]),
        bytes("methods a string", &with_route("path: /b, target: 'http://h', methods: GET"), &["routes[1]", "field `methods`"]),
        bytes("unknown method", &with_route("path: /b, target: 'http://h', methods: [FETCH]"), &["routes[1]", "not an HTTP method"]),
        bytes("timeout a duration string", &with_route("path: /b, target: 'http://h', timeout: 10s"), &["routes[1]", "field `timeout`"]),
        bytes("timeout zero", &with_route("path: /b, target: 'http://h', timeout: 0"), &["routes[1]", "field `timeout`"]),
        bytes("headers a list", &with_route("path: /b, target: 'http://h', headers: [a]"), &["routes[1]", "field `headers`"]),
        bytes("auth a number", &with_route("path: /b, target: 'http://h', auth: 1"), &["routes[1]", "field `auth`"]),
        bytes("unknown top-level field", "version: 1\nroutes: []\nroute: []\n", &["field `route`", "unknown field"]),
        bytes("misspelt route field", &with_route("path: /b, target: 'http://h', include_subpaths: true"), &["routes[1]", "did you mean `include_subpath`"]),
        bytes("LiteLLM-only field", &with_route("path: /b, target: 'http://h', cost_per_request: 1"), &["routes[1]", "does not implement"]),
        bytes("header value with CR LF", &with_route("path: /b, target: 'http://h', headers: {x-a: \"v\\r\\nx-injected: 1\"}"), &["routes[1]", "headers.x-a", "CR or LF"]),
        bytes("header value with NUL", &with_route("path: /b, target: 'http://h', headers: {x-a: \"v\\0\"}"), &["routes[1]", "control character"]),
        bytes("reserved header", &with_route("path: /b, target: 'http://h', headers: {Host: evil}"), &["routes[1]", "set by the proxy"]),
        bytes("target ftp", &with_route("path: /b, target: 'ftp://h'"), &["routes[1]", "field `target`", "only http and https"]),
        bytes("target with credentials", &with_route("path: /b, target: 'http://u:p@h'"), &["routes[1]", "credentials"]),
        bytes("path not normal", &with_route("path: /a/../b, target: 'http://h'"), &["routes[1]", "normal form"]),
        bytes("path with encoded slash", &with_route("path: /a%2Fb, target: 'http://h'"), &["routes[1]", "encoded '/'"]),
        bytes("bad key hash", "version: 1\nroutes: []\nkeys:\n- sha256: abc\n", &["keys[0]", "64 hex digits"]),
        bytes("tab indentation", "version: 1\nroutes:\n\t- path: /a\n", located_line),
        bytes("unclosed flow", "version: 1\nroutes: [{path: /a, target: http://h\n", located_line),
        bytes("unclosed quote", "version: 1\nroutes:\n- path: \"/a\n  target: http://h\n", located_line),
        bytes("custom tag", "version: 1\nroutes: !evil [1]\n", &["field `routes`"]),
        bytes("binary tag", "version: 1\nroutes: !!binary aGVsbG8=\n", &["field `routes`"]),
        bytes("billion laughs", &billion_laughs(), &["alias bomb"]),
        bytes("deep flow nesting", &format!("version: 1\nroutes: {}{}\n", "[".repeat(100_000), "]".repeat(100_000)), &["nest deeper than 128 levels", "line 2, column 137"]),
        bytes("deep block nesting", &{
            let mut s = String::from("version: 1\nroutes:\n");
            for depth in 0..2_000 {
                s.push_str(&" ".repeat(depth));
                s.push_str("- \n");
            }
            s
        }, &["recursion limit"]),
        bytes("deep mapping nesting", &format!("version: 1\nroutes: []\nx: {}{}\n", "{a: ".repeat(50_000), "}".repeat(50_000)), &["nest deeper than 128 levels", "line 3, column "]),
        case("binary garbage", Bad::Bytes((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()), &["not UTF-8", "line "]),
        case("invalid UTF-8 on line 3", Bad::Bytes(b"version: 1\nroutes: []\n# caf\xe9\n".to_vec()), &["not UTF-8", "line 3, column 6"]),
        case("UTF-16 with a BOM", Bad::Bytes({
            let mut b = vec![0xff, 0xfe];
            for c in "version: 1\nroutes: []\n".encode_utf16() {
                b.extend_from_slice(&c.to_le_bytes());
            }
            b
        }), &["not UTF-8", "line 1, column 1"]),
        case("valid UTF-8 with NUL and control bytes", Bad::Bytes(b"version: 1\nroutes: [\x00\x01\x02]\n".to_vec()), located_line),
        case("a route truncated mid-entry", Bad::Bytes(b"version: 1\nroutes:\n- {id: ok, path: /ok, target: 'http://h', auth: false}\n- {id: b, path: /b, targ".to_vec()), located_line),
        case("a block route truncated mid-entry", Bad::Bytes(b"version: 1\nroutes:\n- id: ok\n  path: /ok\n  target: http://h\n  auth: false\n- id: b\n  path: /b\n  tar".to_vec()), &["line 10, column 1", "could not find expected ':'"]),
        case("a block route truncated after a field", Bad::Bytes(b"version: 1\nroutes:\n- id: ok\n  path: /ok\n  target: http://h\n  auth: false\n- id: b\n  path: /b\n".to_vec()), &["routes[1]", "field `target`", "missing"]),
        case("more than 64 MiB", Bad::Generated(huge_over_the_cap), &["larger than 64 MiB"]),
        case("50 MB scalar", Bad::Generated(huge_scalar), &["field `padding`", "unknown field"]),
        case("50 MB with invalid UTF-8 at the end", Bad::Generated(huge_invalid_utf8_at_the_end), &["not UTF-8", "line 50003, column 3"]),
        case("50 MB of routes, the last clashing", Bad::Generated(huge_many_routes_with_a_clash), &["routes[110000]", "answers"]),
        case("a directory", Bad::Directory, &["is not a regular file"]),
        case("a symlink loop", Bad::SymlinkLoop, &["cannot read", "symbolic links"]),
        case("a dangling symlink", Bad::DanglingSymlink, &["cannot read", "No such file"]),
        case("a link to /dev/zero", Bad::DevZero, &["is not a regular file"]),
        case("a named pipe", Bad::Fifo, &["is not a regular file"]),
        case("deleted", Bad::Deleted, &["cannot read", "No such file"]),
    ];
    if running_as_root() {
        // Needs the proxy to run as another user than the file's owner (setpriv, as root).
        cases.push(case(
            "permission denied",
            Bad::Unreadable,
            &["cannot read", "Permission denied"],
        ));
    }
    // The routes crate's own malformed corpus, through the running proxy.
    let dir = repo_root().join("crates/routes/tests/data/invalid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        cases.push(case(
            &format!("data/invalid/{}", file.file_name().unwrap().to_string_lossy()),
            Bad::Bytes(std::fs::read(&file).unwrap()),
            &["routes file"],
        ));
    }
    cases
}

/// Where a problem is: a line and column, a route or key index, or a top-level field. Problems
/// of the file as a whole (empty, unreadable, not a file, too large, more than one document) are
/// located by the file's path, which every error line starts with.
fn is_located(message: &str) -> bool {
    const WHOLE_FILE: &[&str] = &[
        "the file is empty",
        "only comments",
        "cannot read",
        "is not a regular file",
        "larger than",
        "more than one document",
        "  document: ",
    ];
    message.contains("routes.yaml: ")
        && (message.contains("line ")
            || message.contains("routes[")
            || message.contains("keys[")
            || message.contains("field `")
            || WHOLE_FILE.iter().any(|w| message.contains(w)))
}

fn good_table(up: &Upstream, version: u64) -> String {
    format!(
        "version: 1\nroutes:\n- {{id: r, path: /r, target: '{}/v{version}', auth: false}}\n",
        up.url()
    )
}

fn served(addr: SocketAddr) -> Result<String, u16> {
    let resp = get(addr, "/r");
    if resp.status() != 200 {
        return Err(resp.status());
    }
    Ok(resp.json()["target"].as_str().unwrap().to_owned())
}

/// Removes whatever is at `path` (file, link, directory, pipe).
fn clear(path: &Path) {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path).unwrap(),
        Ok(_) => std::fs::remove_file(path).unwrap(),
        Err(_) => {}
    }
}

fn apply(bad: &Bad, file: &Path, dir: &Path) {
    let tmp = dir.join("bad.tmp");
    match bad {
        Bad::Bytes(b) => {
            std::fs::write(&tmp, b).unwrap();
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644)).unwrap();
            std::fs::rename(&tmp, file).unwrap();
        }
        Bad::InPlace(b) => std::fs::write(file, b).unwrap(),
        Bad::Generated(make) => {
            make(&tmp);
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644)).unwrap();
            std::fs::rename(&tmp, file).unwrap();
        }
        Bad::Directory => {
            clear(file);
            std::fs::create_dir(file).unwrap();
        }
        Bad::SymlinkLoop => {
            clear(file);
            let (a, b) = (dir.join("loop-a"), dir.join("loop-b"));
            clear(&a);
            clear(&b);
            std::os::unix::fs::symlink(&b, &a).unwrap();
            std::os::unix::fs::symlink(&a, &b).unwrap();
            std::os::unix::fs::symlink(&a, file).unwrap();
        }
        Bad::DanglingSymlink => {
            clear(file);
            std::os::unix::fs::symlink(dir.join("nowhere.yaml"), file).unwrap();
        }
        Bad::DevZero => {
            clear(file);
            std::os::unix::fs::symlink("/dev/zero", file).unwrap();
        }
        Bad::Fifo => {
            clear(file);
            let status = Command::new("mkfifo")
                .args(["-m", "0644"])
                .arg(file)
                .status()
                .unwrap();
            assert!(status.success());
        }
        Bad::Unreadable => {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o000)).unwrap();
            // The watcher sees no content change for a chmod on some kernels: touch the dir.
            std::fs::write(dir.join("nudge"), b"").unwrap();
        }
        Bad::Deleted => clear(file),
    }
}

/// Each bad input, applied over a good table in a running proxy: the proxy stays up, keeps
/// serving the last good table, counts a reload error and logs a located problem, within a
/// bounded time and memory. The proxy runs as `nobody` so that file modes apply to it.
#[test]
fn the_bad_input_corpus_keeps_the_last_good_table_and_logs_a_located_error() {
    let up = Upstream::start(Behaviour::Echo);
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = dir.path().join("routes.yaml");
    let write_good = |version: u64| {
        clear(&file);
        let tmp = dir.path().join("good.tmp");
        std::fs::write(&tmp, good_table(&up, version)).unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::rename(&tmp, &file).unwrap();
    };
    write_good(0);
    let log_dir = tempfile::tempdir().unwrap();
    let mut proxy = Unprivileged::start(&file, log_dir.path().join("proxy.log"));
    assert_eq!(served(proxy.addr), Ok("/v0".into()));

    let cases = corpus();
    assert!(cases.len() >= 40, "the corpus has {} cases", cases.len());
    let mut report = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let version = i as u64 + 1;
        write_good(version);
        eventually(Duration::from_secs(10), "the good table", || {
            served(proxy.addr) == Ok(format!("/v{version}"))
        });
        let errors = proxy.metric(RELOAD_ERRORS);
        let log_before = proxy.log().len();
        let started = Instant::now();
        apply(&c.bad, &file, dir.path());
        let deadline = Instant::now() + Duration::from_secs(60);
        while proxy.metric(RELOAD_ERRORS) <= errors {
            assert!(proxy.alive(), "{}: the proxy died:\n{}", c.name, proxy.log());
            assert!(
                Instant::now() < deadline,
                "{}: no reload error within 60 s:\n{}",
                c.name,
                &proxy.log()[log_before..]
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let took = started.elapsed();
        let (rss, peak) = proxy.memory_mib();
        assert!(proxy.alive(), "{}: the proxy died", c.name);
        assert_eq!(
            served(proxy.addr),
            Ok(format!("/v{version}")),
            "{}: the last good table is not served",
            c.name
        );
        assert_eq!(proxy.metric("passthru_routes "), 1.0, "{}", c.name);
        // The error is counted just before it is logged.
        eventually(Duration::from_secs(10), "the error log line", || {
            proxy.log()[log_before..].contains("keeping the last good table")
        });
        let log = proxy.log()[log_before..].to_owned();
        for needle in &c.expect {
            assert!(log.contains(needle), "{}: no {needle:?} in:\n{log}", c.name);
        }
        assert!(is_located(&log), "{}: not located:\n{log}", c.name);
        assert!(
            took < Duration::from_secs(30),
            "{}: took {took:?} to refuse",
            c.name
        );
        assert!(peak < 1536, "{}: peak RSS {peak} MiB", c.name);
        report.push(format!(
            "{:<45} refused in {:>7.1} ms, RSS {rss} MiB (peak so far {peak} MiB)",
            c.name,
            took.as_secs_f64() * 1000.0
        ));
        if let Bad::Unreadable = c.bad {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    assert_eq!(proxy.metric("passthru_reloads_total{result=\"ok\"}"), cases.len() as f64 + 1.0);
    let (rss, peak) = proxy.memory_mib();
    eprintln!(
        "{} bad inputs refused; final RSS {rss} MiB, peak {peak} MiB\n{}",
        cases.len(),
        report.join("\n")
    );
}
