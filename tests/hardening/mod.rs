//! "Break it": the proxy's loader against a corpus of bad inputs, the crash consistency of the
//! sync daemon's writes under `kill -9`, and the security properties of docs/SECURITY.md, each
//! checked against the built binaries.

mod bad_input;
mod crash_consistency;
mod credentials;
mod file_modes;
mod header_injection;
mod secrets;
mod smuggling;
mod split_view;

use std::path::Path;

use passthru_tests::http::{send_raw, Message};
use passthru_tests::proxy::Proxy;

const RELOAD_ERRORS: &str = "passthru_reloads_total{result=\"error\"}";

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
