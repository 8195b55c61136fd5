//! Reading the proxy's JSON access log.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::proxy::{routes_file, Proxy};
use crate::wait::wait_until;

/// A proxy serving `routes_yaml` (a whole routes.yaml) and `--access-log`ging to `access.log`
/// beside it, with `extra` flags, once it reports ready: the proxy, the log's path and the
/// directory's guard.
pub fn serve_logging_to_file(
    routes_yaml: &str,
    extra: &[&str],
) -> (Proxy, PathBuf, tempfile::TempDir) {
    let (file, dir) = routes_file(routes_yaml);
    let log = dir.path().join("access.log");
    let mut args = vec!["--access-log", log.to_str().unwrap()];
    args.extend_from_slice(extra);
    let proxy = Proxy::start(&file, &args);
    assert_eq!(proxy.ready_status(), 200, "{}", proxy.log());
    (proxy, log, dir)
}

/// The JSON lines of `text`, skipping anything else (the diagnostic log shares stderr).
pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The access log lines in `file` so far.
pub fn lines(file: &Path) -> Vec<serde_json::Value> {
    json_lines(&std::fs::read_to_string(file).unwrap_or_default())
}

/// Waits until `file` holds at least `n` lines and returns them all.
pub fn wait_for_lines(file: &Path, n: usize) -> Vec<serde_json::Value> {
    wait_until(
        Duration::from_secs(10),
        &format!("{n} access log lines"),
        || lines(file).len() >= n,
    );
    lines(file)
}

/// The one line with `request_id`; panics unless there is exactly one.
pub fn line_for<'a>(lines: &'a [serde_json::Value], request_id: &str) -> &'a serde_json::Value {
    let found: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["request_id"] == request_id)
        .collect();
    assert_eq!(found.len(), 1, "lines for {request_id}: {lines:#?}");
    found[0]
}
