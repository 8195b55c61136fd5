//! What the proxy loads from routes.yaml is always a whole file an operator meant: never the
//! prefix of one being rewritten in place, never a refused file read over and over, never a
//! target with an impossible port, and never a quoted secret in a log.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use passthru_tests::http::{request, Behaviour, Upstream};
use passthru_tests::process::bytes_read;
use passthru_tests::proxy::{routes_file, Proxy};
use passthru_tests::wait::wait_until;

const WAIT: Duration = Duration::from_secs(10);
const KEY: &str = "sk-in-place-writer";
/// sha256 of [`KEY`].
fn key_hash() -> String {
    passthru_tests::sha256_hex(KEY)
}

fn waiting_reloads(proxy: &Proxy) -> f64 {
    proxy
        .metric("passthru_reloads_total{result=\"waiting\"}")
        .unwrap_or(0.0)
}

fn status_with_key(proxy: &Proxy, method: &str) -> u16 {
    let auth = format!("Bearer {KEY}");
    request(proxy.addr, method, "/r", &[("authorization", &auth)], b"").status()
}

/// Writes `head` to `file` opened for writing (truncating, as `cat >`, nano and
/// `vim` with `backupcopy=yes` do), waits until the proxy has seen the half-written file and
/// one more re-check tick, asserts `check` on it, then writes `tail` and closes.
fn write_slowly(proxy: &Proxy, file: &Path, head: &str, tail: &str, check: impl Fn(&Proxy)) {
    let generation = proxy.generation();
    let before = waiting_reloads(proxy);
    let mut writer = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(file)
        .unwrap();
    writer.write_all(head.as_bytes()).unwrap();
    writer.flush().unwrap();
    // The watcher saw the write, and later a re-check tick came and went: both waited.
    wait_until(WAIT, "the proxy to wait for the writer twice", || {
        waiting_reloads(proxy) >= before + 2.0
    });
    assert_eq!(proxy.generation(), generation, "{}", proxy.log());
    check(proxy);
    writer.write_all(tail.as_bytes()).unwrap();
    drop(writer);
    wait_until(WAIT, "the finished file to load", || {
        proxy.generation() > generation
    });
}

/// The text of a routes file up to its key's `expires:` line, and that line: a writer that has
/// written only the first leaves the key without its expiry.
fn key_and_its_expiry(up: &Upstream) -> (String, &'static str) {
    let head = format!(
        "version: 1\nroutes:\n- {{id: r, path: /r, target: '{}/v', auth: true}}\nkeys:\n- sha256: {}\n",
        up.url(),
        key_hash()
    );
    (head, "  expires: 2020-01-01T00:00:00Z\n")
}

/// A proxy on `head` + `tail` written whole, followed by a comment, so that finishing a rewrite
/// (which drops the comment) loads a new generation.
fn serve_written_whole(head: &str, tail: &str) -> (Proxy, PathBuf, tempfile::TempDir) {
    let (file, dir) = routes_file(&format!("{head}{tail}# first version\n"));
    let proxy = Proxy::start(&file, &[]);
    (proxy, file, dir)
}

/// `passthru-proxy check FILE`, run to completion.
fn check(file: &Path) -> std::process::Output {
    std::process::Command::new(passthru_tests::binary("passthru-proxy"))
        .arg("check")
        .arg(file)
        .output()
        .unwrap()
}

#[test]
fn a_key_whose_expires_line_is_not_written_yet_stays_expired() {
    let up = Upstream::start(Behaviour::Echo);
    let (head, tail) = key_and_its_expiry(&up);
    let (proxy, file, _dir) = serve_written_whole(&head, tail);
    assert_eq!(status_with_key(&proxy, "GET"), 401);

    write_slowly(&proxy, &file, &head, tail, |proxy| {
        assert_eq!(status_with_key(proxy, "GET"), 401, "the prefix was loaded");
    });
    assert_eq!(status_with_key(&proxy, "GET"), 401);
    assert_eq!(up.count(), 0);
}

#[test]
fn a_route_whose_methods_line_is_not_written_yet_keeps_its_methods() {
    let up = Upstream::start(Behaviour::Echo);
    let head = format!(
        "version: 1\nroutes:\n- id: r\n  path: /r\n  target: '{}/v'\n  auth: false\n",
        up.url()
    );
    let tail = "  methods: [GET]\n";
    let (proxy, file, _dir) = serve_written_whole(&head, tail);
    assert_eq!(request(proxy.addr, "DELETE", "/r", &[], b"").status(), 405);

    write_slowly(&proxy, &file, &head, tail, |proxy| {
        assert_eq!(
            request(proxy.addr, "DELETE", "/r", &[], b"").status(),
            405,
            "the prefix was loaded"
        );
    });
    assert_eq!(request(proxy.addr, "DELETE", "/r", &[], b"").status(), 405);
    assert_eq!(request(proxy.addr, "GET", "/r", &[], b"").status(), 200);
}

#[test]
fn sighup_while_a_writer_has_the_file_open_waits_for_the_writer() {
    let up = Upstream::start(Behaviour::Echo);
    let (head, tail) = key_and_its_expiry(&up);
    let (proxy, file, _dir) = serve_written_whole(&head, tail);
    write_slowly(&proxy, &file, &head, tail, |proxy| {
        let before = waiting_reloads(proxy);
        proxy.signal("HUP");
        wait_until(WAIT, "the SIGHUP to wait too", || {
            waiting_reloads(proxy) > before
        });
        assert_eq!(status_with_key(proxy, "GET"), 401, "the prefix was loaded");
    });
    assert_eq!(status_with_key(&proxy, "GET"), 401);
}

#[test]
fn a_refused_oversize_file_is_read_once_until_it_changes() {
    let up = Upstream::start(Behaviour::Echo);
    let good = format!(
        "version: 1\nroutes:\n- {{id: r, path: /r, target: '{}/v', auth: false}}\n",
        up.url()
    );
    let (file, dir) = routes_file(&good);
    let proxy = Proxy::start(&file, &[]);
    let errors = || {
        proxy
            .metric("passthru_reloads_total{result=\"error\"}")
            .unwrap_or(0.0)
    };
    let ticks = || {
        proxy
            .metric("passthru_reloads_total{result=\"unchanged\"}")
            .unwrap_or(0.0)
    };

    // Over the cap: the good table, then a hole up to one byte past it (a sparse file; it is
    // refused by its size, never read).
    let over = passthru_proxy::routes_file::MAX_FILE_BYTES + 1;
    let big = std::fs::File::create(&file).unwrap();
    std::io::Write::write_all(&mut &big, good.as_bytes()).unwrap();
    big.set_len(over).unwrap();
    drop(big);
    wait_until(WAIT, "the oversize file to be refused", || errors() >= 1.0);
    let read_after_refusal = bytes_read(proxy.pid());
    // Three re-check ticks (one a second under test), plus directory events of other files.
    let ticks_before = ticks();
    for i in 0..20 {
        std::fs::write(dir.path().join("neighbour"), format!("{i}")).unwrap();
    }
    wait_until(WAIT, "three re-check ticks", || {
        ticks() >= ticks_before + 3.0
    });
    let read_since = bytes_read(proxy.pid()) - read_after_refusal;
    assert!(
        read_since < 1 << 20,
        "{read_since} bytes read while the refused file stayed as it was"
    );
    assert_eq!(errors(), 1.0, "the refusal is counted once");
    assert_eq!(proxy.log().matches("larger than").count(), 1);
    assert_eq!(
        request(proxy.addr, "GET", "/r", &[], b"").status(),
        200,
        "the last good table still serves"
    );

    // A new version of the file is looked at again, and its refusal logged again.
    let big = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
    big.set_len(over + 1).unwrap();
    drop(big);
    wait_until(WAIT, "the second version to be refused", || errors() >= 2.0);
    // The refusal is counted just before it is logged.
    wait_until(WAIT, "the second refusal to be logged", || {
        proxy.log().matches("larger than").count() >= 2
    });
    assert_eq!(proxy.log().matches("larger than").count(), 2);
}

#[test]
fn a_target_port_outside_1_to_65535_is_refused_and_nothing_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.yaml");
    for port in ["99999", "0", "65536"] {
        std::fs::write(
            &file,
            format!(
                "version: 1\nroutes:\n- {{path: /r, target: 'http://127.0.0.1:{port}/base', auth: false, headers: {{authorization: Bearer s3cret}}}}\n"
            ),
        )
        .unwrap();
        let out = check(&file);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "port {port} passed check");
        assert!(
            stderr.contains(&format!("has port {port}")),
            "port {port}: {stderr}"
        );
    }
}

#[test]
fn a_refused_target_with_credentials_is_logged_without_them() {
    let up = Upstream::start(Behaviour::Echo);
    let (file, _dir) = routes_file(&format!(
        "version: 1\nroutes:\n- {{id: r, path: /r, target: '{}/v', auth: false}}\n",
        up.url()
    ));
    let proxy = Proxy::start(&file, &[]);
    let bad = "version: 1\nroutes:\n- {id: r, path: /r, target: 'https://svc:S3cretPassw0rd@internal.example/v1?api_key=k3y&x=1'}\n";
    std::fs::write(&file, bad).unwrap();
    wait_until(WAIT, "the refusal to be logged", || {
        proxy.log().contains("must not carry credentials")
    });
    let checked = String::from_utf8_lossy(&check(&file).stderr).into_owned();
    for (what, text) in [("proxy log", proxy.log()), ("check", checked)] {
        assert!(text.contains("***@internal.example"), "{what}: {text}");
        for secret in ["S3cretPassw0rd", "k3y"] {
            assert!(!text.contains(secret), "{what} printed {secret}: {text}");
        }
    }
}

#[test]
fn check_lists_a_valid_target_without_its_secret_query_values() {
    let (file, _dir) = routes_file(
        "version: 1\nroutes:\n- {path: /r, target: 'https://api.example.com/v1?key=AIzaSecret&alt=sse'}\n",
    );
    let out = check(&file);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("?key=***&alt=sse"), "{stdout}");
    assert!(!stdout.contains("AIzaSecret"), "{stdout}");
}
