//! End-to-end tests: the built binaries, driven as an operator drives them, against real
//! upstream servers and real files on loopback.

mod access_log;
mod bypass;
mod cli;
mod client_key;
mod cors;
mod file_safety;
mod forwarded;
mod forwarding;
mod hardening;
mod hostile_rows;
mod http_edges;
mod litellm_access;
mod litellm_behaviour;
mod litellm_headers;
mod litellm_sidecar;
mod metrics;
mod native_grants;
mod operations;
mod reload;
mod request_id;
mod route_tests;
mod serving_view;
mod streaming;
mod system;
mod systemd;
mod tls;
