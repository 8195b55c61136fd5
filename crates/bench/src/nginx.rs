//! nginx, as the upstream and as the competing proxy.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use passthru_tests::process::try_signal;
use passthru_tests::running_as_root;
use passthru_tests::wait::poll;

/// An nginx master process with its own prefix directory, stopped when dropped.
pub struct Nginx {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Nginx {
    /// `http_body` goes inside `http { }`; `{PORT}` in it is replaced by the listening port.
    pub fn start(workers: usize, http_body: &str) -> Nginx {
        Nginx::start_with_connections(workers, 4096, http_body)
    }

    /// [`Nginx::start`] with `connections` per worker: a proxied connection counts twice
    /// (client and upstream). The workers inherit this process's open-file limit.
    pub fn start_with_connections(workers: usize, connections: usize, http_body: &str) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let port = passthru_tests::free_port().port();
        let user = if running_as_root() {
            "user root;\n"
        } else {
            ""
        };
        let conf = format!(
            "{user}worker_processes {workers};\ndaemon off;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log warn;\n\
             events {{ worker_connections {connections}; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {dir}/body;\n  proxy_temp_path {dir}/proxy;\n\
             fastcgi_temp_path {dir}/fcgi;\n  uwsgi_temp_path {dir}/uwsgi;\n  scgi_temp_path {dir}/scgi;\n\
             keepalive_requests 1000000;\n{body}\n}}\n",
            dir = dir.path().display(),
            body = http_body.replace("{PORT}", &port.to_string()),
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(nginx_binary())
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx (apt-get install nginx)");
        let listening = poll(Duration::from_secs(10), Duration::from_millis(20), || {
            TcpStream::connect(("127.0.0.1", port)).ok()
        });
        assert!(
            listening.is_some(),
            "nginx did not start: {}",
            std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
        );
        Nginx {
            child,
            port,
            _dir: dir,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The master and its workers.
    pub fn pids(&self) -> Vec<u32> {
        let master = self.child.id();
        let mut pids = crate::procfs::children(master);
        pids.push(master);
        pids
    }

    /// An upstream that answers every request with 200 and a short body.
    pub fn upstream() -> Nginx {
        Nginx::start(
            1,
            "  server {\n    listen 127.0.0.1:{PORT} reuseport backlog=4096;\n    \
             location / { return 200 \"ok\\n\"; }\n  }",
        )
    }

    pub fn version() -> String {
        Command::new(nginx_binary())
            .arg("-v")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_owned())
            .unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGQUIT: graceful stop of the master and its workers.
        let _ = try_signal(self.child.id(), "QUIT");
        let child = &mut self.child;
        if poll(Duration::from_secs(5), Duration::from_millis(20), || {
            child.try_wait().ok().flatten()
        })
        .is_some()
        {
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_binary() -> &'static str {
    if Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    }
}
