//! The proxy's loader against a corpus of bad inputs: the last good table keeps being served,
//! requests keep being answered, and each input gets a located error.

mod corpus;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use passthru_tests::http::{get, Behaviour, Upstream};
use passthru_tests::proxy::Proxy;
use passthru_tests::wait::{patient, wait_until};

use super::RELOAD_ERRORS;
use corpus::*;

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
            let (a, b) = (dir.join("loop-a"), dir.join("loop-b"));
            clear(&a);
            clear(&b);
            std::os::unix::fs::symlink(&b, &a).unwrap();
            std::os::unix::fs::symlink(&a, &b).unwrap();
            rename_into_place(file, &tmp, |at| std::os::unix::fs::symlink(&a, at).unwrap());
        }
        Bad::DanglingSymlink => rename_into_place(file, &tmp, |at| {
            std::os::unix::fs::symlink(dir.join("nowhere.yaml"), at).unwrap()
        }),
        Bad::DevZero => rename_into_place(file, &tmp, |at| {
            std::os::unix::fs::symlink("/dev/zero", at).unwrap()
        }),
        Bad::Fifo => rename_into_place(file, &tmp, |at| {
            let status = Command::new("mkfifo")
                .args(["-m", "0644"])
                .arg(at)
                .status()
                .unwrap();
            assert!(status.success());
        }),
        Bad::Unreadable => {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o000)).unwrap();
            // The watcher sees no content change for a chmod on some kernels: touch the dir.
            std::fs::write(dir.join("nudge"), b"").unwrap();
        }
        Bad::Deleted => clear(file),
    }
}

/// Makes the bad thing at `tmp` and renames it over `file` in one step, so the proxy never sees
/// the moment between removing the good file and creating the bad one (a "No such file" error
/// instead of the one the case is about).
fn rename_into_place(file: &Path, tmp: &Path, make: impl FnOnce(&Path)) {
    clear(tmp);
    make(tmp);
    std::fs::rename(tmp, file).unwrap();
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
        let deadline = Instant::now() + patient(limit);
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
        slowest < patient(Duration::from_secs(2)),
        "an answer took {slowest:?}"
    );
}
