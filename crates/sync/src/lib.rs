//! passthru-sync: reads pass-through routes from a database (passthru's native schema on
//! PostgreSQL or SQLite, or LiteLLM's tables read-only) and writes them as a canonical, atomically
//! replaced routes.yaml for passthru-proxy. The file is the only contract with the proxy.

pub mod admin;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod database;
pub mod error;
pub mod signals;
pub mod snapshot;
pub mod source;

pub use config::{DatabaseUrl, Schema};
pub use daemon::{PassOutcome, Syncer};
pub use database::Database;
pub use error::SyncError;
pub use snapshot::{SkippedRow, Snapshot};
