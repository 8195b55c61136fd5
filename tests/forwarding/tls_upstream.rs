//! HTTPS upstreams: SNI, certificate verification.

use std::time::Duration;

use passthru_tests::http::get;
use passthru_tests::process::Daemon;

use super::{serve, serve_with_env};

/// An `openssl s_server` with a certificate for `localhost` from a throwaway CA, answering `GET /`.
struct TlsUpstream {
    _server: Daemon,
    port: u16,
    /// The CA that signed the server's certificate.
    ca: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl TlsUpstream {
    fn start() -> TlsUpstream {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        std::fs::write(
            path("leaf.ext"),
            "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        let openssl = |args: &[&str]| {
            let status = std::process::Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .stderr(std::process::Stdio::null())
                .status()
                .expect("openssl is installed (.ci/setup installs it)");
            assert!(status.success(), "openssl {args:?}");
        };
        // A CA the proxy is told to trust, and a leaf certificate for localhost signed by it.
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=passthru test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "key.pem",
            "-out",
            "leaf.csr",
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "leaf.ext",
            "-out",
            "cert.pem",
        ]);
        let (cert, key) = (path("cert.pem"), path("key.pem"));
        let port = passthru_tests::free_port().port();
        let mut command = std::process::Command::new("openssl");
        command
            .args(["s_server", "-www", "-quiet", "-accept", &port.to_string()])
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key);
        let server = Daemon::spawn(
            "openssl s_server",
            passthru_tests::dies_with_its_test(&mut command),
        );
        passthru_tests::wait::wait_until(Duration::from_secs(10), "s_server to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        TlsUpstream {
            _server: server,
            port,
            ca: path("ca.pem"),
            _dir: dir,
        }
    }
}

fn tls_route(host: &str, port: u16) -> String {
    format!("- {{path: /tls, target: 'https://{host}:{port}/', auth: false}}\n")
}

#[test]
fn an_https_upstream_is_reached_with_sni_and_a_verified_certificate() {
    let tls = TlsUpstream::start();
    let cert = tls.ca.to_str().unwrap().to_owned();
    let (proxy, _d) = serve_with_env(
        &tls_route("localhost", tls.port),
        &[("SSL_CERT_FILE", &cert)],
    );
    let resp = get(proxy.addr, "/tls");
    assert_eq!(resp.status(), 200, "{}\n{}", resp.body_text(), proxy.log());
}

#[test]
fn an_https_upstream_with_an_untrusted_certificate_answers_502() {
    let tls = TlsUpstream::start();
    let (proxy, _d) = serve(&tls_route("localhost", tls.port));
    assert_eq!(get(proxy.addr, "/tls").status(), 502);
}

#[test]
fn an_https_upstream_whose_certificate_names_another_host_answers_502() {
    let tls = TlsUpstream::start();
    let cert = tls.ca.to_str().unwrap().to_owned();
    let (proxy, _d) = serve_with_env(
        &tls_route("127.0.0.1", tls.port),
        &[("SSL_CERT_FILE", &cert)],
    );
    assert_eq!(get(proxy.addr, "/tls").status(), 502);
}
