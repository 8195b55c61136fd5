//! End-to-end tests: the built binaries, driven as an operator drives them, against real
//! upstream servers and real files on loopback.

mod access_log;
mod bypass;
mod cli;
mod file_safety;
mod forwarded;
mod forwarding;
mod hardening;
mod http_edges;
mod metrics;
mod operations;
mod reload;
mod request_id;
mod system;
mod systemd;
