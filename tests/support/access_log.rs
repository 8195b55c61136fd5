//! Reading the proxy's JSON access log.

use std::path::Path;
use std::time::Duration;

use crate::wait::wait_until;

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
