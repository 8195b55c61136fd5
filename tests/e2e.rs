//! End-to-end tests: the built binaries, driven as an operator drives them, against real
//! upstream servers and real files on loopback.

mod bypass;
mod cli;
mod client_key;
mod file_safety;
mod forwarding;
mod hardening;
mod hostile_rows;
mod http_edges;
mod litellm_access;
mod litellm_sidecar;
mod operations;
mod reload;
mod system;
mod systemd;
