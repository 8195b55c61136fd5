//! Issue 12, item 3, end to end: an operator of the native schema scopes a key with
//! `passthru-sync keys add --allow … --deny …`, passthru-sync writes the grants into routes.yaml
//! and passthru-proxy enforces them (403 with a JSON body naming the route and the rule, never
//! the key); a later `UPDATE passthru_keys SET deny = …` reaches the proxy within one poll.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use passthru_tests::binary;
use passthru_tests::http::{get_with_bearer, Behaviour, Message, Upstream};
use passthru_tests::process::output_with_stdin;
use passthru_tests::sqlite_ok;
use passthru_tests::sync::{native_sqlite, sync_and_proxy, sync_command};
use passthru_tests::wait::{patient, wait_until};

const WAIT: Duration = Duration::from_secs(15);
const INTERVAL_MS: u64 = 500;
/// A commit is picked up by the next poll, at most 1.1 intervals later; one more interval for
/// the pass and the proxy's reload (a 20 ms debounce) on a loaded machine.
const ONE_POLL: Duration = Duration::from_millis(INTERVAL_MS * 2 + 500);

/// `passthru-sync keys add --key-stdin ARGS` with `key` piped in, as the README says to add a
/// key; returns the hash it prints.
fn add_key(url: &str, key: &str, args: &[&str]) -> String {
    let out = output_with_stdin(
        Command::new(binary("passthru-sync"))
            .args(["--database-url", url, "keys", "add", "--key-stdin"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
        key.as_bytes(),
    )
    .expect("run passthru-sync keys add");
    assert!(
        out.status.success(),
        "keys add {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn add_route(url: &str, id: &str, path: &str, target: &str) {
    let (code, err) = sync_command(&[
        "--database-url",
        url,
        "routes",
        "add",
        "--id",
        id,
        "--path",
        path,
        "--target",
        target,
        "--include-subpath",
    ]);
    assert_eq!(code, 0, "{err}");
}

/// The refusal's message, after checking it is a 403 JSON error that does not carry the key.
fn refused(resp: &Message, key: &str) -> String {
    assert_eq!(resp.status(), 403, "{}", resp.body_text());
    let body = resp.json();
    assert_eq!(body["error"]["status"], 403);
    let message = body["error"]["message"].as_str().unwrap().to_owned();
    assert!(!resp.body_text().contains(key), "the key is in {message}");
    message
}

#[test]
fn keys_add_allow_and_deny_scope_a_key_at_the_proxy_and_a_deny_update_arrives_within_one_poll() {
    let dir = tempfile::tempdir().unwrap();
    let url = native_sqlite(dir.path());
    let db = dir.path().join("routes.db");
    let file = dir.path().join("routes.yaml");
    let up = Upstream::start(Behaviour::Echo);
    add_route(&url, "a", "/a", &format!("{}/a", up.url()));
    add_route(&url, "b", "/b", &format!("{}/b", up.url()));
    let (scoped, unscoped) = ("sk-scoped-e2e", "sk-unscoped-e2e");
    let scoped_hex = add_key(&url, scoped, &["--allow", "/a", "--deny", "/a/admin"]);
    add_key(&url, unscoped, &[]);

    let (_sync, proxy) = sync_and_proxy(
        &file,
        &url,
        &["--interval", &format!("{INTERVAL_MS}ms")],
        WAIT,
    );

    assert_eq!(get_with_bearer(proxy.addr, "/a/x", scoped).status(), 200);
    let denied = refused(&get_with_bearer(proxy.addr, "/a/admin/x", scoped), scoped);
    assert!(
        denied.contains("route a") && denied.contains("`/a/admin` in the key's `deny` list"),
        "{denied}"
    );
    let not_allowed = refused(&get_with_bearer(proxy.addr, "/b", scoped), scoped);
    assert!(
        not_allowed.contains("route b") && not_allowed.contains("`allow` list has no entry"),
        "{not_allowed}"
    );
    // The unscoped key still opens every auth: true route.
    assert_eq!(get_with_bearer(proxy.addr, "/b", unscoped).status(), 200);
    assert_eq!(
        get_with_bearer(proxy.addr, "/a/admin/x", unscoped).status(),
        200
    );

    // A grant changed with SQL: the proxy refuses /a/x within one poll, /a/y stays open.
    let since = Instant::now();
    sqlite_ok(
        &db,
        &format!(
            r#"UPDATE passthru_keys SET deny = '["/a/admin", "/a/x"]' WHERE sha256 = '{scoped_hex}'"#
        ),
    );
    wait_until(WAIT, "/a/x refused", || {
        get_with_bearer(proxy.addr, "/a/x", scoped).status() == 403
    });
    let took = since.elapsed();
    assert!(
        took <= patient(ONE_POLL),
        "the deny update took {took:?}, more than one poll ({ONE_POLL:?})"
    );
    assert_eq!(get_with_bearer(proxy.addr, "/a/y", scoped).status(), 200);
    assert!(refused(&get_with_bearer(proxy.addr, "/a/x", scoped), scoped).contains("`/a/x`"));
}
