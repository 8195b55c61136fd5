//! The TLS listener (ALPN h2 and http/1.1) and h2c, through real curl: the certificate is
//! swapped on SIGHUP without dropping a stream in flight, a broken one keeps the previous, and
//! a missing one is a startup error naming the file.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use passthru_tests::free_port;
use passthru_tests::http::{Behaviour, Upstream};
use passthru_tests::proxy::{serve_file, Proxy};
use passthru_tests::wait::wait_until;

/// A self-signed certificate for `cn` written as `cert.pem` and `key.pem` in `dir`.
fn certificate(dir: &Path, cn: &str) {
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .arg("-keyout")
        .arg(dir.join("key.pem.new"))
        .arg("-out")
        .arg(dir.join("cert.pem.new"))
        .args(["-subj", &format!("/CN={cn}")])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    // Key first, then certificate, each by rename: the pair is whole when the cert appears.
    std::fs::rename(dir.join("key.pem.new"), dir.join("key.pem")).unwrap();
    std::fs::rename(dir.join("cert.pem.new"), dir.join("cert.pem")).unwrap();
}

fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
        .unwrap()
}

/// HTTP version and status of a request, as curl saw them.
fn version_and_status(args: &[&str], url: &str) -> String {
    let mut all = vec![
        "-k",
        "-o",
        "/dev/null",
        "-w",
        "%{http_version} %{http_code}",
    ];
    all.extend_from_slice(args);
    all.push(url);
    let out = curl(&all);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The certificate's subject CN a new connection is shown.
fn served_cn(addr: &str) -> String {
    let out = curl(&["-kv", "-o", "/dev/null", &format!("https://{addr}/")]);
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    text.lines()
        .find_map(|l| l.split("subject: CN=").nth(1))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no subject in:\n{text}"))
}

struct Tls {
    proxy: Proxy,
    tls: String,
    certs: tempfile::TempDir,
    _routes: tempfile::TempDir,
}

fn serve_tls(up: &Upstream, extra: &[&str]) -> Tls {
    let certs = tempfile::tempdir().unwrap();
    certificate(certs.path(), "first.test");
    let tls = free_port().to_string();
    let cert = certs.path().join("cert.pem");
    let key = certs.path().join("key.pem");
    let mut args = vec![
        "--tls-listen",
        &tls,
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (proxy, routes) = serve_file(
        &format!(
            "version: 1\nroutes:\n- {{path: /r, target: '{}', include_subpath: true, auth: false}}\n",
            up.url()
        ),
        &args,
        &[],
    );
    Tls {
        proxy,
        tls,
        certs,
        _routes: routes,
    }
}

#[test]
fn https_serves_http2_by_alpn_and_http1_1_on_request() {
    let up = Upstream::start(Behaviour::Echo);
    let s = serve_tls(&up, &[]);
    let url = format!("https://{}/r/x", s.tls);
    assert_eq!(version_and_status(&["--http2"], &url), "2 200");
    assert_eq!(version_and_status(&["--http1.1"], &url), "1.1 200");
    assert_eq!(up.last().target(), "/x");
}

#[test]
fn events_stream_over_http2_as_over_http1() {
    let up = Upstream::start(Behaviour::Events {
        count: 5,
        every: Duration::from_millis(20),
    });
    let s = serve_tls(&up, &[]);
    let out = curl(&[
        "-k",
        "--http2",
        "-N",
        &format!("https://{}/r/events", s.tls),
    ]);
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(body.matches("data:").count(), 5, "{body}");
}

#[test]
fn a_new_certificate_on_sighup_serves_new_connections_while_a_stream_in_flight_completes() {
    let up = Upstream::start(Behaviour::Events {
        count: 20,
        every: Duration::from_millis(100),
    });
    let s = serve_tls(&up, &[]);
    assert_eq!(served_cn(&s.tls), "first.test");
    let stream = Command::new("curl")
        .args(["-sSk", "--http2", "-N", "--max-time", "30"])
        .arg(format!("https://{}/r/events", s.tls))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(10), "the stream to start", || {
        up.count() >= 1
    });

    certificate(s.certs.path(), "second.test");
    s.proxy.signal("HUP");
    wait_until(Duration::from_secs(10), "the new certificate", || {
        served_cn(&s.tls) == "second.test"
    });
    let out = stream.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches("data:")
            .count(),
        20,
        "the stream in flight was cut"
    );
}

#[test]
fn a_certificate_replaced_on_disk_is_served_without_a_signal() {
    let up = Upstream::start(Behaviour::Echo);
    let s = serve_tls(&up, &[]);
    assert_eq!(served_cn(&s.tls), "first.test");
    certificate(s.certs.path(), "renewed.test");
    // The periodic re-check (every second under test) notices the files changed.
    wait_until(Duration::from_secs(10), "the renewed certificate", || {
        served_cn(&s.tls) == "renewed.test"
    });
}

#[test]
fn a_broken_certificate_at_reload_keeps_the_previous_one() {
    let up = Upstream::start(Behaviour::Echo);
    let s = serve_tls(&up, &[]);
    std::fs::write(s.certs.path().join("cert.pem"), "not a certificate\n").unwrap();
    s.proxy.signal("HUP");
    wait_until(Duration::from_secs(10), "the refusal to be logged", || {
        s.proxy
            .log()
            .contains("keeping the previous TLS certificate")
    });
    assert_eq!(served_cn(&s.tls), "first.test");
    assert_eq!(
        version_and_status(&["--http2"], &format!("https://{}/r", s.tls)),
        "2 200"
    );
}

#[test]
fn a_missing_certificate_at_start_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let routes = dir.path().join("routes.yaml");
    std::fs::write(&routes, "version: 1\nroutes: []\n").unwrap();
    let missing = dir.path().join("missing.pem");
    let out = Command::new(passthru_tests::binary("passthru-proxy"))
        .arg("--routes")
        .arg(&routes)
        .args(["--listen", &free_port().to_string()])
        .args(["--admin", &free_port().to_string()])
        .args(["--tls-listen", &free_port().to_string()])
        .arg("--tls-cert")
        .arg(&missing)
        .arg("--tls-key")
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("missing.pem"), "{stderr}");
}

#[test]
fn h2c_with_prior_knowledge_works_only_when_enabled() {
    let up = Upstream::start(Behaviour::Echo);
    let on = serve_file(
        &format!(
            "version: 1\nroutes:\n- {{path: /r, target: '{}', auth: false}}\n",
            up.url()
        ),
        &["--h2c"],
        &[],
    );
    let url = format!("http://{}/r", on.0.addr);
    assert_eq!(
        version_and_status(&["--http2-prior-knowledge"], &url),
        "2 200"
    );
    assert_eq!(version_and_status(&["--http1.1"], &url), "1.1 200");
    let off = serve_file(
        &format!(
            "version: 1\nroutes:\n- {{path: /r, target: '{}', auth: false}}\n",
            up.url()
        ),
        &[],
        &[],
    );
    let refused = version_and_status(
        &["--http2-prior-knowledge"],
        &format!("http://{}/r", off.0.addr),
    );
    assert!(
        !refused.starts_with("2 200"),
        "h2c served without --h2c: {refused}"
    );
}
