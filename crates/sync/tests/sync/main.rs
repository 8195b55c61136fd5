//! passthru-sync against a real PostgreSQL (a throwaway cluster per test) and real SQLite files.
//! Each test pins one behaviour of issue 3 and is named after it.

mod bad_rows;
mod cli;
mod lifecycle;
mod litellm_schema;
mod notify;
mod outages;
mod polling;

use std::path::Path;
use std::time::Duration;

use passthru_sync::config::{DatabaseUrl, Schema};
use passthru_sync::source::Source;
use passthru_sync::{Database, Syncer};
use passthru_tests::process::Daemon;
use passthru_tests::sync::*;

const ROUTE_INSERT: &str =
    "INSERT INTO passthru_routes (path, target) VALUES ('/my-service', 'http://backend:8080')";

/// DESIGN.md section 3, computed here independently of passthru-routes.
fn auto_id(key: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("auto-{}", &hex[..16])
}

fn syncer(url: &str, schema: Schema, output: &Path) -> Syncer {
    let db = Database::open(&DatabaseUrl::new(url).unwrap(), Duration::from_secs(5)).unwrap();
    Syncer::new(Source::new(db, schema).unwrap(), output.to_path_buf())
}

fn daemon(url: &str, output: &Path, dir: &Path, args: &[&str]) -> Daemon {
    let mut c = command(url, output);
    c.arg("run").args(args);
    Daemon::spawn_logging_to("passthru-sync", &mut c, &dir.join("daemon.log"))
}
