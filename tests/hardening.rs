//! "Break it": the proxy's loader against a corpus of bad inputs, the crash consistency of the
//! sync daemon's writes under `kill -9`, and the security properties of docs/SECURITY.md, each
//! checked against the built binaries.

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use passthru_routes::RoutesFile;
use passthru_tests::free_port;
use passthru_tests::http::{get, request, send_raw, Behaviour, Message, Upstream};
use passthru_tests::proxy::Proxy;
use passthru_tests::running_as_root;
use passthru_tests::sync::sync_command;
use passthru_tests::wait::wait_until;
use passthru_tests::{binary, repo_root};

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
    /// A file generated at test time by this function (to keep 50+ MB out of git).
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
    let mut s = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
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
    writeln!(
        f,
        "- {{id: dup, path: /r0, target: 'http://h/dup', auth: false}}"
    )
    .unwrap();
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
        bytes("duplicate top-level key", "version: 1\nroutes: []\nroutes: []\n", &["duplicate entry with key \"routes\"", "line 3, column 1"]),
        bytes("duplicate route key", "version: 1\nroutes:\n- path: /a\n  path: /b\n  target: http://h\n", &["duplicate entry with key \"path\"", "line 4, column 3"]),
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
            &format!(
                "data/invalid/{}",
                file.file_name().unwrap().to_string_lossy()
            ),
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
    let mut proxy = Proxy::options(&file).unprivileged().start();
    assert_eq!(served(proxy.addr), Ok("/v0".into()));

    // Requests keep being answered while bad files are read and parsed (the reloader runs
    // outside the request path): the slowest answer during the whole corpus is measured.
    let stop = Arc::new(AtomicBool::new(false));
    let slowest_us = Arc::new(AtomicU64::new(0));
    let client = {
        let (stop, slowest_us, addr) = (stop.clone(), slowest_us.clone(), proxy.addr);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                get(addr, "/r");
                slowest_us.fetch_max(t.elapsed().as_micros() as u64, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let cases = corpus();
    assert!(cases.len() >= 40, "the corpus has {} cases", cases.len());
    let mut report = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let version = i as u64 + 1;
        write_good(version);
        wait_until(Duration::from_secs(10), "the good table", || {
            served(proxy.addr) == Ok(format!("/v{version}"))
        });
        let errors = proxy.metric(RELOAD_ERRORS).unwrap_or(0.0);
        let log_before = proxy.log().len();
        let started = Instant::now();
        apply(&c.bad, &file, dir.path());
        // Debug builds on a shared machine: 50 MB takes 10 to 30 s to parse, the rest milliseconds.
        let limit = Duration::from_secs(if matches!(c.bad, Bad::Generated(_)) {
            120
        } else {
            10
        });
        let deadline = Instant::now() + limit;
        while proxy.metric(RELOAD_ERRORS).unwrap_or(0.0) <= errors {
            assert!(
                proxy.is_running(),
                "{}: the proxy died:\n{}",
                c.name,
                proxy.log()
            );
            assert!(
                Instant::now() < deadline,
                "{}: no reload error within {limit:?}:\n{}",
                c.name,
                &proxy.log()[log_before..]
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let took = started.elapsed();
        let (rss, peak) = memory_mib(proxy.pid());
        assert!(proxy.is_running(), "{}: the proxy died", c.name);
        assert_eq!(
            served(proxy.addr),
            Ok(format!("/v{version}")),
            "{}: the last good table is not served",
            c.name
        );
        assert_eq!(proxy.metric("passthru_routes "), Some(1.0), "{}", c.name);
        // The error is counted just before it is logged.
        wait_until(Duration::from_secs(10), "the error log line", || {
            proxy.log()[log_before..].contains("keeping the last good table")
        });
        let log = proxy.log()[log_before..].to_owned();
        for needle in &c.expect {
            assert!(log.contains(needle), "{}: no {needle:?} in:\n{log}", c.name);
        }
        assert!(is_located(&log), "{}: not located:\n{log}", c.name);

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
    assert_eq!(
        proxy.metric("passthru_reloads_total{result=\"ok\"}"),
        Some(cases.len() as f64 + 1.0)
    );
    stop.store(true, Ordering::Relaxed);
    client.join().unwrap();
    let slowest = Duration::from_micros(slowest_us.load(Ordering::Relaxed));
    let (rss, peak) = memory_mib(proxy.pid());
    eprintln!(
        "{} bad inputs refused; final RSS {rss} MiB, peak {peak} MiB; slowest answer to a client meanwhile {slowest:?}\n{}",
        cases.len(),
        report.join("\n")
    );
    assert!(
        slowest < Duration::from_secs(2),
        "an answer took {slowest:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Security: split view, injection, framing, credentials, file modes, secrets in logs
// ---------------------------------------------------------------------------------------------

fn start_proxy(dir: &Path, yaml: &str) -> Proxy {
    let file = dir.join("routes.yaml");
    std::fs::write(&file, yaml).unwrap();
    Proxy::start(&file, &[])
}

fn raw_get(proxy: &Proxy, target: &str, extra_headers: &str) -> Message {
    send_raw(
        proxy.addr,
        format!("GET {target} HTTP/1.1\r\nhost: x\r\n{extra_headers}connection: close\r\n\r\n")
            .as_bytes(),
    )
}

const SPLIT_TOKENS: &[&str] = &[
    "..",
    "%2e%2e",
    "%2E%2E",
    ".%2e",
    "%2e.",
    ".",
    "%2e",
    "%2F",
    "%2f",
    "//",
    "\\",
    "%5c",
    "%00",
    ";",
    ";x",
    "%3B",
    "..;",
    ";..",
    "%252e%252e",
    "%2e%2e%2f",
    "..%2f",
    "%%32%65",
    "%20",
    "%09",
    "#",
    "?",
    "%3f",
    "%23",
    "/./",
    "/../",
    "%c0%ae",
    "%e2%80%a8",
];

/// DESIGN.md §4's split-view corpus against an exact route, a subpath route and the root
/// route at once: each request reaches exactly the upstream its normalised path matches, with
/// exactly that path, or is refused without reaching any upstream.
#[test]
fn the_split_view_corpus_never_reaches_a_route_its_normalised_path_does_not_match() {
    let exact = Upstream::start(Behaviour::Echo);
    let sub = Upstream::start(Behaviour::Echo);
    let root = Upstream::start(Behaviour::Echo);
    let yaml = format!(
        "version: 1\nroutes:\n\
         - {{id: exact, path: /admin/panel, target: '{}/E', auth: false}}\n\
         - {{id: sub, path: /api, target: '{}/S', include_subpath: true, auth: false}}\n\
         - {{id: root, path: /, target: '{}/R', include_subpath: true, auth: false}}\n",
        exact.url(),
        sub.url(),
        root.url()
    );
    let table = passthru_routes::RouteTable::new(RoutesFile::parse(yaml.as_bytes()).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(dir.path(), &yaml);
    let ups = [
        ("exact", &exact, "/E"),
        ("sub", &sub, "/S"),
        ("root", &root, "/R"),
    ];

    let mut targets = Vec::new();
    for base in ["/admin/panel", "/api/v1/x", "/apiary", "/admin/panel/x"] {
        for token in SPLIT_TOKENS {
            for at in 1..=base.len() {
                targets.push(format!("{}{token}{}", &base[..at], &base[at..]));
            }
        }
    }
    targets.sort();
    targets.dedup();
    let (mut refused, mut routed) = (0, 0);
    for raw in &targets {
        let before: Vec<usize> = ups.iter().map(|(_, u, _)| u.count()).collect();
        let resp = raw_get(&proxy, raw, "");
        // A '?' or '#' ends the path on the wire: what the proxy routes is the part before it.
        let path = raw.split(['?', '#']).next().unwrap();
        let expected = passthru_routes::normalize_request_path(path)
            .ok()
            .map(|n| n.into_owned());
        let after: Vec<usize> = ups.iter().map(|(_, u, _)| u.count()).collect();
        let hits: usize = after.iter().zip(&before).map(|(a, b)| a - b).sum();
        match expected
            .as_deref()
            .map(|n| (n, table.lookup(n, passthru_routes::Method::Get)))
        {
            Some((normal, passthru_routes::Lookup::Found(m))) => {
                assert_eq!(
                    resp.status(),
                    200,
                    "{raw} -> {normal}: {}",
                    resp.body_text()
                );
                assert_eq!(hits, 1, "{raw} reached {hits} upstreams");
                let (_, up, base) = ups
                    .iter()
                    .find(|(id, _, _)| *id == m.route.id.as_str())
                    .unwrap();
                let got = up.last();
                let got_path = got.target().split('?').next().unwrap().to_owned();
                assert_eq!(
                    got_path,
                    format!("{base}{}", m.subpath),
                    "{raw} -> {normal}"
                );
                routed += 1;
            }
            _ => {
                assert!(
                    matches!(resp.status(), 400 | 404),
                    "{raw}: {} {}",
                    resp.status(),
                    resp.body_text()
                );
                assert_eq!(hits, 0, "{raw} reached an upstream");
                refused += 1;
            }
        }
    }
    eprintln!(
        "split view: {} requests, {routed} routed to their normalised match, {refused} refused",
        targets.len()
    );
    assert!(
        targets.len() > 1000 && refused > 100 && routed > 500,
        "{} {refused} {routed}",
        targets.len()
    );
}

/// CR, LF, NUL and obs-fold in request lines and header values: the upstream never receives a
/// header the proxy did not parse as one, nor a value carrying CR, LF or NUL.
#[test]
fn cr_lf_in_requests_never_injects_a_header_upstream() {
    let up = Upstream::start(Behaviour::Echo);
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "version: 1\nroutes:\n- {{path: /r, target: '{}', include_subpath: true, forward_headers: true, auth: false, headers: {{x-configured: fixed}}}}\n",
        up.url()
    );
    let proxy = start_proxy(dir.path(), &yaml);
    let heads: &[(&str, &[u8])] = &[
        ("bare CR in a value", b"GET /r HTTP/1.1\r\nhost: x\r\nx-a: a\rinjected: 1\r\nconnection: close\r\n\r\n"),
        ("bare LF in a value", b"GET /r HTTP/1.1\r\nhost: x\r\nx-a: a\ninjected: 1\r\nconnection: close\r\n\r\n"),
        ("NUL in a value", b"GET /r HTTP/1.1\r\nhost: x\r\nx-a: a\0injected: 1\r\nconnection: close\r\n\r\n"),
        ("obs-fold", b"GET /r HTTP/1.1\r\nhost: x\r\nx-a: a\r\n injected: 1\r\nconnection: close\r\n\r\n"),
        ("obs-fold with a tab", b"GET /r HTTP/1.1\r\nhost: x\r\nx-a: a\r\n\tinjected: 1\r\nconnection: close\r\n\r\n"),
        ("space before the colon", b"GET /r HTTP/1.1\r\nhost: x\r\ninjected : 1\r\nconnection: close\r\n\r\n"),
        ("CR LF encoded in the path", b"GET /r/%0d%0ainjected:%201 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"),
        ("raw CR in the path", b"GET /r/a\rinjected: 1 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"),
        ("CR LF in the query", b"GET /r?a=%0d%0ainjected:1&b=\r\n HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"),
        ("header name with CR", b"GET /r HTTP/1.1\r\nhost: x\r\nx-a\r: a\r\nconnection: close\r\n\r\n"),
        ("configured header overridden by the client", b"GET /r HTTP/1.1\r\nhost: x\r\nx-configured: a\r\ninjected: 1\r\nconnection: close\r\n\r\n"),
    ];
    let mut report = Vec::new();
    for (name, bytes) in heads {
        let before = up.count();
        let mut stream = std::net::TcpStream::connect(proxy.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(bytes).unwrap();
        let mut response = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stream, &mut response);
        let status = String::from_utf8_lossy(&response)
            .split(' ')
            .nth(1)
            .unwrap_or("(closed)")
            .to_owned();
        let received = up.received()[before..].to_vec();
        assert!(
            received.len() <= 1,
            "{name}: {} upstream requests",
            received.len()
        );
        for m in &received {
            for (k, v) in &m.headers {
                assert!(
                    !k.contains(['\r', '\n', '\0']) && !v.contains(['\r', '\n', '\0']),
                    "{name}: upstream header {k:?}: {v:?}"
                );
            }
            assert_eq!(m.header("x-configured"), Some("fixed"), "{name}");
            assert_eq!(
                m.headers
                    .iter()
                    .filter(|(k, _)| k == "x-configured")
                    .count(),
                1,
                "{name}"
            );
        }
        let injected = received.iter().any(|m| m.has_header("injected"));
        report.push(format!(
            "{name}: status {status}, forwarded {} {:?}, upstream saw `injected` as its own header: {injected}",
            received.len(),
            received.iter().map(|m| m.start.clone()).collect::<Vec<_>>()
        ));
    }
    eprintln!("{}", report.join("\n"));
    // pingora (httparse) refuses these with 400 before passthru sees them.
    for line in report.iter().filter(|l| {
        [
            "bare CR in a value",
            "NUL in a value",
            "obs-fold",
            "obs-fold with a tab",
            "space before the colon",
            "CR LF in the query",
            "header name with CR",
        ]
        .iter()
        .any(|n| l.starts_with(&format!("{n}:")))
    }) {
        assert!(line.contains("status 400, forwarded 0 []"), "{line}");
    }
    // A bare LF ends a header line (RFC 9112 §2.2 lets a recipient accept it): `injected` is a
    // header of its own for the proxy too, forwarded re-serialised with CR LF, so the proxy and
    // the upstream agree on the headers. A raw CR inside the request target is percent-encoded
    // by pingora, and an encoded control byte in the path is refused (http_edges).
    assert!(report[1].contains("status 200"), "{}", report[1]);
    for i in [6, 7] {
        assert!(
            report[i].contains("status 400, forwarded 0 []"),
            "{}",
            report[i]
        );
    }
}

/// Request smuggling: Content-Length with Transfer-Encoding, duplicate differing lengths,
/// obfuscated Transfer-Encoding. Each is refused, or framed one way only: the smuggled request
/// behind the body never reaches the upstream as a request of its own.
#[test]
fn conflicting_content_length_and_transfer_encoding_never_smuggle_a_request() {
    let up = Upstream::start(Behaviour::Echo);
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "version: 1\nroutes:\n- {{path: /, target: '{}', include_subpath: true, forward_headers: true, auth: false}}\n",
        up.url()
    );
    let proxy = start_proxy(dir.path(), &yaml);
    let smuggled = "GET /smuggled HTTP/1.1\r\nhost: x\r\n\r\n";
    let cases: Vec<(&str, String)> = vec![
        ("CL and TE: chunked", format!("POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}")),
        ("TE: chunked and CL", format!("POST /a HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\ncontent-length: 40\r\n\r\n0\r\n\r\n{smuggled}")),
        ("two differing CL", format!("POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\ncontent-length: {}\r\n\r\n{smuggled}", smuggled.len())),
        ("CL list 0, N", format!("POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 0, {}\r\n\r\n{smuggled}", smuggled.len())),
        ("CL with a plus sign", format!("POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: +0\r\n\r\n{smuggled}")),
        ("TE: chunked, identity", format!("POST /a HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked, identity\r\n\r\n0\r\n\r\n{smuggled}")),
        ("TE: xchunked", format!("POST /a HTTP/1.1\r\nhost: x\r\ntransfer-encoding: xchunked\r\ncontent-length: 0\r\n\r\n{smuggled}")),
        ("TE with a space before the colon", format!("POST /a HTTP/1.1\r\nhost: x\r\ntransfer-encoding : chunked\r\ncontent-length: 0\r\n\r\n{smuggled}")),
        ("two TE headers", format!("POST /a HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\ntransfer-encoding: identity\r\n\r\n0\r\n\r\n{smuggled}")),
        ("TE on HTTP/1.0", format!("POST /a HTTP/1.0\r\nhost: x\r\ntransfer-encoding: chunked\r\ncontent-length: 0\r\n\r\n0\r\n\r\n{smuggled}")),
        ("chunk size overflow", format!("POST /a HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nffffffffffffffffff1\r\nx\r\n0\r\n\r\n{smuggled}")),
    ];
    let mut report = Vec::new();
    for (name, raw) in &cases {
        let before = up.count();
        let mut stream = std::net::TcpStream::connect(proxy.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.write_all(raw.as_bytes()).unwrap();
        let mut response = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stream, &mut response);
        let text = String::from_utf8_lossy(&response).into_owned();
        let statuses: Vec<&str> = text
            .match_indices("HTTP/1.")
            .filter_map(|(i, _)| text[i..].split(' ').nth(1))
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        let received = up.received()[before..].to_vec();
        let targets: Vec<String> = received.iter().map(|m| m.target().to_owned()).collect();
        assert!(
            !targets.iter().any(|t| t == "/smuggled"),
            "{name}: the smuggled request reached the upstream: {targets:?} (responses {statuses:?})"
        );
        let framing: Vec<String> = received
            .iter()
            .flat_map(|m| m.headers.iter())
            .filter(|(k, _)| k == "content-length" || k == "transfer-encoding")
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        if name.contains("CL and TE") || name.contains("TE: chunked and CL") {
            // pingora lets Transfer-Encoding win (RFC 9112 §6.3), drops Content-Length before
            // forwarding, and closes the connection after the response: the bytes behind the
            // body are never read as a request.
            assert_eq!(statuses, ["200"], "{name}");
            assert_eq!(framing, ["transfer-encoding: chunked"], "{name}");
        } else {
            assert_eq!(statuses, ["400"], "{name}");
            assert!(targets.is_empty(), "{name}");
        }
        report.push(format!(
            "{name}: responses {statuses:?}, upstream requests {targets:?} framed by {framing:?}"
        ));
    }
    eprintln!("{}", report.join("\n"));
}

const CREDENTIALS: &[(&str, &str)] = &[
    ("authorization", "Bearer client-secret-1"),
    ("cookie", "session=client-secret-2"),
    ("x-api-key", "client-secret-3"),
    ("api-key", "client-secret-4"),
    ("x-litellm-api-key", "client-secret-5"),
    ("proxy-authorization", "Basic client-secret-6"),
];

/// A client's credentials reach an upstream only on a route with `forward_headers: true`; on an
/// `auth: true` route the key that passthru checked is removed.
#[test]
fn credential_headers_reach_an_upstream_only_when_the_route_forwards_headers() {
    let up = Upstream::start(Behaviour::Echo);
    let dir = tempfile::tempdir().unwrap();
    // The sha256 of "client-secret-5": the client's LiteLLM key, in x-litellm-api-key, which
    // LiteLLM (and so passthru) reads before Authorization.
    let key = passthru_tests::sha256_hex("client-secret-5");
    let u = up.url();
    let yaml = format!(
        "version: 1\nroutes:\n\
         - {{path: /plain, target: '{u}', auth: false}}\n\
         - {{path: /forward, target: '{u}', forward_headers: true, auth: false}}\n\
         - {{path: /auth, target: '{u}', auth: true}}\n\
         - {{path: /auth-forward, target: '{u}', forward_headers: true, auth: true}}\n\
         keys:\n- sha256: {key}\n"
    );
    let proxy = start_proxy(dir.path(), &yaml);
    let extra: String = CREDENTIALS
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    for (path, forwarded) in [
        ("/plain", &[][..]),
        ("/auth", &[][..]),
        // proxy-authorization is hop-by-hop: never forwarded.
        (
            "/forward",
            &[
                "authorization",
                "cookie",
                "x-api-key",
                "api-key",
                "x-litellm-api-key",
            ][..],
        ),
        // The header that carried the checked key is removed; the client's other credentials
        // (a provider key in Authorization beside its LiteLLM key) go on purpose.
        (
            "/auth-forward",
            &["authorization", "cookie", "x-api-key", "api-key"][..],
        ),
    ] {
        let resp = raw_get(&proxy, path, &extra);
        assert_eq!(resp.status(), 200, "{path}: {}", resp.body_text());
        let got = up.last();
        for (name, value) in CREDENTIALS {
            let present = got
                .headers
                .iter()
                .any(|(_, v)| v.contains(&value[value.len() - 15..]));
            assert_eq!(
                present,
                forwarded.contains(name),
                "{path}: {name} forwarded = {present}; upstream saw {:?}",
                got.headers
            );
        }
    }
}

/// The routes file carries header values and key hashes: the sync daemon and `fmt` write it
/// with mode 0640, whatever the umask.
#[test]
fn the_routes_file_is_written_with_mode_0640_by_sync_and_by_fmt() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sync.db");
    let out = dir.path().join("routes.yaml");
    let db_arg = db.to_str().unwrap();
    let (code, err) = sync_command(&[
        "--sqlite-path",
        db_arg,
        "routes",
        "add",
        "--path",
        "/a",
        "--target",
        "http://h",
        "--auth",
        "false",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, err) = sync_command(&[
        "--sqlite-path",
        db_arg,
        "once",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "passthru-sync wrote mode {mode:o}");

    let hand = dir.path().join("hand.yaml");
    std::fs::write(
        &hand,
        "version: 1\nroutes:\n- {path: /b, target: 'http://h', auth: false}\n",
    )
    .unwrap();
    std::fs::set_permissions(&hand, std::fs::Permissions::from_mode(0o666)).unwrap();
    let status = Command::new(binary("passthru-proxy"))
        .arg("fmt")
        .arg(&hand)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let mode = std::fs::metadata(&hand).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "passthru-proxy fmt wrote mode {mode:o}");
}

/// Secrets never appear in logs: the database password (in the URL, and as a `password=`
/// parameter), a header secret from the environment, a client's API key, even at debug level.
#[test]
fn secrets_and_database_passwords_are_never_logged() {
    let up = Upstream::start(Behaviour::Echo);
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "version: 1\nroutes:\n\
         - {{path: /r, target: '{}', headers: {{authorization: Bearer os.environ/UPSTREAM_SECRET}}, auth: false}}\n\
         - {{path: /missing, target: '{}', headers: {{x-k: os.environ/NOT_SET_ANYWHERE}}, auth: false}}\n",
        up.url(),
        up.url()
    );
    let file = dir.path().join("routes.yaml");
    std::fs::write(&file, &yaml).unwrap();
    let proxy = Proxy::options(&file)
        .env(&[
            ("UPSTREAM_SECRET", "env-secret-value-7731"),
            ("RUST_LOG", "debug"),
        ])
        .start();
    let resp = request(
        proxy.addr,
        "GET",
        "/r",
        &[("authorization", "Bearer client-key-4417")],
        b"",
    );
    assert_eq!(resp.status(), 200);
    assert_eq!(
        up.last().header("authorization"),
        Some("Bearer env-secret-value-7731")
    );
    assert_eq!(get(proxy.addr, "/missing").status(), 503);
    proxy.signal("HUP");
    std::thread::sleep(Duration::from_millis(300));
    let proxy_log = proxy.log();
    assert!(
        proxy_log.contains("NOT_SET_ANYWHERE"),
        "the missing variable is named:\n{proxy_log}"
    );

    // The sync daemon with a password in the URL and in a parameter, against a closed port.
    let closed = free_port();
    let mut logs = vec![proxy_log];
    for url in [
        format!("postgres://sync:db-s3cr3t-pw@{closed}/app"),
        format!("postgres://sync@{closed}/app?password=db-s3cr3t-pw&sslmode=disable"),
        // Unencoded delimiters in the password, and the libpq key=value form (both were logged
        // in the clear before the fix in crates/sync/src/config.rs).
        format!("postgres://sync:db/s3cr3t@{closed}/app"),
        format!("postgres://sync:db?s3cr3t#x@{closed}/app"),
        format!(
            "host=127.0.0.1 port={} user=sync password=db-s3cr3t-pw",
            closed.port()
        ),
    ] {
        let out = Command::new(binary("passthru-sync"))
            .args(["once", "--output"])
            .arg(dir.path().join("out.yaml"))
            .args(["--connect-timeout", "1s"])
            .env("PASSTHRU_DATABASE_URL", &url)
            .env("PASSTHRU_LOG", "debug")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(err.contains("***"), "the URL is shown redacted:\n{err}");
        logs.push(err);
    }
    for log in &logs {
        for secret in ["env-secret-value-7731", "client-key-4417", "s3cr3t"] {
            assert!(!log.contains(secret), "{secret} was logged:\n{log}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Crash consistency: kill -9 passthru-sync during writes while the proxy follows the file
// ---------------------------------------------------------------------------------------------

/// A small deterministic PRNG (xorshift64*), seeded from the clock and printed, so a failing
/// run can be replayed with `PASSTHRU_KILL_SEED`.
struct Rng(u64);

impl Rng {
    fn new() -> (Rng, u64) {
        let seed = std::env::var("PASSTHRU_KILL_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        (Rng(seed), seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// An embedded SQLite database of `routes` rows: `/known` (to `upstream`) and fillers whose
/// targets name `tag`, so that every database renders to different bytes. The rows go in with
/// the `sqlite3` shell, or Python's sqlite3 module when the shell is not installed (2,000
/// `passthru-sync routes add` processes would take over a minute).
fn sqlite_table(dir: &Path, tag: &str, routes: usize, upstream: &str) -> PathBuf {
    let db = dir.join(format!("{tag}.db"));
    let (code, err) = sync_command(&["--sqlite-path", db.to_str().unwrap(), "routes", "list"]);
    assert_eq!(code, 0, "{err}");
    let mut sql = String::from("BEGIN;\n");
    sql.push_str(&format!(
        "INSERT INTO passthru_routes (id, path, target, auth) VALUES ('known', '/known', '{upstream}/known', 0);\n"
    ));
    for i in 1..routes {
        sql.push_str(&format!(
            "INSERT INTO passthru_routes (path, target, methods, headers, auth) VALUES \
             ('/filler/{i}', 'http://{tag}.invalid/{i}', '[\"GET\",\"POST\"]', '{{\"x-tag\": \"{tag}\"}}', 0);\n"
        ));
    }
    sql.push_str("COMMIT;\n");
    let run = |mut c: Command| {
        let mut child = c.stdin(Stdio::piped()).spawn().ok()?;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(sql.as_bytes())
            .unwrap();
        Some(child.wait().unwrap().success())
    };
    let mut shell = Command::new("sqlite3");
    shell.arg(&db);
    let mut python = Command::new("python3");
    python.args([
        "-c",
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.executescript(sys.stdin.read()); c.close()",
    ]);
    python.arg(&db);
    let ok = run(shell).or_else(|| run(python));
    assert_eq!(
        ok,
        Some(true),
        "neither sqlite3 nor python3 could fill {}",
        db.display()
    );
    db
}

/// Runs `kills` rounds: start passthru-sync on the next of three databases (1, 100 and 2,000
/// routes), so each start has a whole new table to write, and SIGKILL it at a random instant
/// within the time a start-and-write takes. Meanwhile a client asks the proxy for `/known`
/// without pause. The file must always parse, the proxy must never answer anything but 200,
/// and it must never count a reload error (it never saw a partial file).
fn kill_dash_nine_during_writes(kills: usize) {
    let up = Upstream::start(Behaviour::Echo);
    let dir = tempfile::tempdir().unwrap();
    let dbs: Vec<PathBuf> = [("one", 1), ("hundred", 100), ("twothousand", 2_000)]
        .iter()
        .map(|(tag, n)| sqlite_table(dir.path(), tag, *n, &up.url()))
        .collect();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("routes.yaml");
    let (code, err) = sync_command(&[
        "--sqlite-path",
        dbs[0].to_str().unwrap(),
        "once",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let proxy = Proxy::start(&out, &[]);
    assert_eq!(get(proxy.addr, "/known").status(), 200);

    let stop = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicU64::new(0));
    let client = {
        let (stop, requests, addr) = (stop.clone(), requests.clone(), proxy.addr);
        std::thread::spawn(move || {
            let mut bad = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let status = get(addr, "/known").status();
                requests.fetch_add(1, Ordering::Relaxed);
                if status != 200 {
                    bad.push(status);
                }
            }
            bad
        })
    };

    // Calibration: how long a start takes to rename its table into place, per database, so
    // that the kills can be aimed around that instant.
    let spawn_sync = |db: &Path| {
        Command::new(binary("passthru-sync"))
            .args(["--sqlite-path", db.to_str().unwrap(), "run", "--output"])
            .arg(&out)
            .args(["--interval", "10ms"])
            .env("PASSTHRU_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut write_at = vec![Duration::from_secs(1); dbs.len()];
    for round in 0..dbs.len() * 3 {
        let i = (round + 1) % dbs.len();
        let before = std::fs::read(&out).unwrap();
        let t0 = Instant::now();
        let mut child = spawn_sync(&dbs[i]);
        while std::fs::read(&out).unwrap() == before && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_micros(200));
        }
        write_at[i] = write_at[i].min(t0.elapsed());
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let (mut rng, seed) = Rng::new();
    let started = Instant::now();
    let (mut mid_or_before, mut after_write, mut mid_write) = (0, 0, 0);
    let mut last = std::fs::read(&out).unwrap();
    for round in 0..kills {
        let db = &dbs[(round + 1) % dbs.len()];
        let mut child = spawn_sync(db);
        // Anywhere from the start to 20 % past the calibrated write, most often near the write.
        let target = write_at[(round + 1) % dbs.len()].as_micros() as u64;
        let delay = if rng.below(2) == 0 {
            rng.below(target * 6 / 5 + 1)
        } else {
            target * 4 / 5 + rng.below(target * 2 / 5 + 1)
        };
        std::thread::sleep(Duration::from_micros(delay));
        child.kill().unwrap();
        child.wait().unwrap();
        // A temp file next to routes.yaml: the kill came between its creation and the rename.
        if std::fs::read_dir(&out_dir).unwrap().count() > 1 {
            mid_write += 1;
        }
        let now = std::fs::read(&out).expect("routes.yaml is always there");
        if let Err(p) = RoutesFile::parse(&now) {
            panic!("round {round} (seed {seed}): a partial file: {p}");
        }
        if now == last {
            mid_or_before += 1;
        } else {
            after_write += 1;
        }
        last = now;
    }
    let elapsed = started.elapsed();
    // Let the proxy catch up with the last write before the final checks.
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let bad = client.join().unwrap();
    let errors = proxy.metric(RELOAD_ERRORS).unwrap_or(0.0);
    let ok = proxy
        .metric("passthru_reloads_total{result=\"ok\"}")
        .unwrap_or(0.0);
    let leftovers = std::fs::read_dir(&out_dir).unwrap().count() - 1;
    eprintln!("calibrated start-to-rename times: {write_at:?}");
    eprintln!(
        "kill -9: {kills} kills in {:.1} s (seed {seed}); {after_write} after the write, {mid_or_before} before it or during it ({mid_write} with a temp file written but not renamed); \
         proxy: {} requests, {} not 200, {ok} reloads, {errors} reload errors; {leftovers} temp files left",
        elapsed.as_secs_f64(),
        requests.load(Ordering::Relaxed),
        bad.len()
    );
    assert!(bad.is_empty(), "the proxy answered {bad:?} (seed {seed})");
    assert_eq!(
        errors,
        0.0,
        "the proxy saw a bad file (seed {seed}):\n{}",
        proxy.log()
    );
    assert!(
        after_write > 0 && mid_or_before > 0,
        "kills did not straddle writes"
    );
    assert!(leftovers <= 1, "{leftovers} temp files left behind");
}

#[test]
fn kill_dash_nine_during_writes_never_exposes_a_partial_or_empty_table() {
    kill_dash_nine_during_writes(100);
}

/// The issue's figure: 1,000 kills (5 min with debug builds on two cores, 12 min while they
/// also fuzz).
#[test]
#[ignore = "slow (5 to 12 min, by machine load): run with --ignored for the 1,000-kill figure"]
fn a_thousand_kill_dash_nine_during_writes_never_expose_a_partial_or_empty_table() {
    kill_dash_nine_during_writes(1_000);
}
