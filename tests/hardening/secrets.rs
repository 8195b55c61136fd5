//! Secrets never appear in the daemons' logs.

use std::process::Command;
use std::time::Duration;

use passthru_tests::access_log::json_lines;
use passthru_tests::binary;
use passthru_tests::free_port;
use passthru_tests::http::{get, request, Behaviour, Upstream};
use passthru_tests::proxy::Proxy;
use passthru_tests::wait::wait_until;

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
    let generation = proxy.generation();
    proxy.signal("HUP");
    wait_until(Duration::from_secs(10), "the rebuild after SIGHUP", || {
        proxy.generation() > generation
    });
    // The access log's lines of both requests are in what is checked (a batch gathers up to 1 s).
    wait_until(Duration::from_secs(10), "both access log lines", || {
        json_lines(&proxy.log()).len() >= 2
    });
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
