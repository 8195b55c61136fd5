//! passthru-proxy: serves the routes in routes.yaml. For now this crate holds the loader that the
//! running proxy and the operator's `check` and `fmt` commands share.

pub mod loader;
