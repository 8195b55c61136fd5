//! The same table for both proxies: `n` prefixes to one upstream, as passthru routes and as
//! nginx locations.

use crate::reload::canonical;

/// `n` subpath routes `/svc-{i}` → `upstream`; every route is a real route to the upstream.
pub fn upstream_routes(n: usize, upstream: &str) -> String {
    canonical(&upstream_routes_raw(n, upstream))
}

/// `routes.yaml` in `dir` holding [`upstream_routes`] to `upstream`; its path.
pub fn write_upstream_routes(
    dir: &std::path::Path,
    n: usize,
    upstream: std::net::SocketAddr,
) -> std::path::PathBuf {
    let file = dir.join("routes.yaml");
    std::fs::write(&file, upstream_routes(n, &format!("http://{upstream}"))).unwrap();
    file
}

/// The same, as hand-written YAML (append rows to it, then [`canonical`]).
pub fn upstream_routes_raw(n: usize, upstream: &str) -> String {
    let mut yaml = String::from("version: 1\nroutes:\n");
    for i in 0..n {
        yaml.push_str(&format!(
            "- {{path: /svc-{i}, target: '{upstream}', include_subpath: true, auth: false}}\n"
        ));
    }
    yaml
}

/// nginx proxying the same `n` prefixes to the same upstream, with upstream keep-alive (as
/// passthru pools its upstream connections).
pub fn nginx_routes(n: usize, upstream_port: u16) -> String {
    let mut conf = format!(
        "  upstream backend {{ server 127.0.0.1:{upstream_port}; keepalive 128; }}\n  server {{\n    \
         listen 127.0.0.1:{{PORT}} reuseport backlog=4096;\n    proxy_http_version 1.1;\n    \
         proxy_set_header Connection \"\";\n    proxy_buffering off;\n"
    );
    for i in 0..n {
        conf.push_str(&format!(
            "    location = /svc-{i} {{ proxy_pass http://backend/; }}\n    location ^~ /svc-{i}/ {{ proxy_pass http://backend/; }}\n"
        ));
    }
    conf.push_str("    location / { return 404; }\n  }");
    conf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_and_passthru_get_the_same_prefixes() {
        let yaml = upstream_routes(3, "http://127.0.0.1:9");
        let file = passthru_routes::RoutesFile::parse(yaml.as_bytes()).unwrap();
        assert_eq!(file.routes().len(), 3);
        let conf = nginx_routes(3, 9);
        assert_eq!(conf.matches("location ^~ /svc-").count(), 3);
        assert!(conf.contains("location ^~ /svc-2/ { proxy_pass http://backend/; }"));
        assert!(conf.contains("server 127.0.0.1:9;"));
    }
}
