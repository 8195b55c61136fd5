//! passthru-proxy: a pingora reverse proxy that serves the routes in routes.yaml and follows the
//! file as it changes, plus the loader that the operator's `check` and `fmt` commands share.

pub mod access_log;
pub mod admin;
pub mod allocator;
pub mod client;
pub mod commands;
pub mod configured_headers;
pub mod cors;
pub mod dns;
pub mod forward;
pub mod http_proxy;
pub mod in_flight;
pub mod key;
pub mod metrics;
pub mod reload;
pub mod routes_file;
pub mod routing;
pub mod run;
pub mod serving_table;
pub mod state;
pub mod tls;
pub mod watch_event;
