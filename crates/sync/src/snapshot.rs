//! One read of the source turned into a routes table: bad rows skipped and reported, the rest kept.

use std::collections::HashMap;

use passthru_routes::{Cors, KeyHash, Location, Problem, Route, RoutesFile, Value};
use sha2::{Digest, Sha256};

/// A row the source could not serve (or served without one of its fields), and why. Each is
/// logged when it is new or changed, not on every poll.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SkippedRow {
    /// Where the row is: `passthru_routes row_id 7 (id x, path /p)`, `pass_through_endpoints[2] ...`.
    pub row: String,
    pub reason: String,
    pub kind: SkipKind,
}

/// What happened to a reported row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipKind {
    /// Left out of the file (WARN).
    Skipped,
    /// Left out because serving it would drop a protection it asks for (ERROR).
    Unenforceable,
    /// Served, without a field passthru does not implement (WARN).
    FieldIgnored,
}

impl std::fmt::Display for SkippedRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.row, self.reason)
    }
}

/// The routes and keys one pass read, before clashes are resolved.
#[derive(Debug, Default)]
pub struct Snapshot {
    routes: Vec<Route>,
    /// Where each entry of `routes` came from, for clash reports.
    route_rows: Vec<String>,
    keys: Vec<KeyHash>,
    key_header_name: Option<String>,
    key_prefix: Option<String>,
    cors: Option<Cors>,
    pub skipped: Vec<SkippedRow>,
    /// The routes the previous pass validated, taken from here when a row is read unchanged.
    reusable: ValidatedRoutes,
    /// The routes of this pass's rows, for the next pass.
    validated: ValidatedRoutes,
}

/// Valid routes by the SHA-256 of the JSON they were read from, as one pass left them: a row
/// read again unchanged is not validated again (most of a pass's work at thousands of rows, and
/// a database commit usually changes one). It holds the last pass's routes only, never more.
#[derive(Debug, Default)]
pub struct ValidatedRoutes(HashMap<[u8; 32], Route>);

impl Snapshot {
    /// A snapshot that takes the routes of rows `previous` validated from there.
    pub fn reusing(previous: ValidatedRoutes) -> Snapshot {
        Snapshot {
            reusable: previous,
            ..Snapshot::default()
        }
    }

    /// The routes this snapshot validated, for the next one to reuse.
    pub fn take_validated(&mut self) -> ValidatedRoutes {
        std::mem::take(&mut self.validated)
    }

    /// Validates one route row given as JSON (null fields mean the default). `row` names the
    /// row for reports, e.g. `passthru_routes row_id 7`.
    /// Returns the id of the route it added, `None` for a skipped row.
    pub fn add_route_json(&mut self, row: String, value: &serde_json::Value) -> Option<String> {
        let digest: [u8; 32] = Sha256::digest(value.to_string()).into();
        let route = match self.reusable.0.remove(&digest) {
            Some(route) => route,
            None => self.validate(row.clone(), value)?,
        };
        self.validated.0.insert(digest, route.clone());
        let id = route.id.to_string();
        self.route_rows
            .push(format!("{row} (id {}, path {})", route.id, route.path));
        self.routes.push(route);
        Some(id)
    }

    /// A row's route, or `None` with the row reported as skipped.
    fn validate(&mut self, row: String, value: &serde_json::Value) -> Option<Route> {
        let yaml: Value = match serde_yaml::to_value(value) {
            Ok(v) => v,
            Err(e) => {
                self.skip(row, format!("cannot be read as a route: {e}"));
                return None;
            }
        };
        match Route::from_value(self.routes.len(), &yaml) {
            Ok(route) => Some(route),
            Err(problems) => {
                let (id, path) = id_and_path(&problems, value);
                let row = describe_row(&row, id.as_deref(), path.as_deref());
                let reason = problems
                    .iter()
                    .map(problem_without_index)
                    .collect::<Vec<_>>()
                    .join("; ");
                self.skip(row, reason);
                None
            }
        }
    }

    /// The CORS policy of routes that set none.
    pub fn set_cors(&mut self, cors: Cors) {
        self.cors = Some(cors);
    }

    /// Non-admin keys of the table must start with `prefix`.
    pub fn set_key_prefix(&mut self, prefix: &str) {
        self.key_prefix = Some(prefix.to_owned());
    }

    /// LiteLLM's `litellm_key_header_name` for the table (a valid header name).
    pub fn set_key_header_name(&mut self, name: String) {
        self.key_header_name = Some(name);
    }

    /// Serves `routes` (already valid: the ones in the file) when the source's routes could not
    /// be read; `from` names where they come from, for clash reports.
    pub fn keep_routes(&mut self, routes: &[Route], from: &str) {
        for route in routes {
            self.route_rows
                .push(format!("{from} (id {}, path {})", route.id, route.path));
            self.routes.push(route.clone());
        }
    }

    pub fn add_key(&mut self, key: KeyHash) {
        self.keys.push(key);
    }

    /// The keys added so far, in the order they were added.
    pub fn keys(&self) -> &[KeyHash] {
        &self.keys
    }

    pub fn skip(&mut self, row: String, reason: String) {
        self.report(row, reason, SkipKind::Skipped);
    }

    /// Records what happened to `row` (see [`SkipKind`]).
    pub fn report(&mut self, row: String, reason: String, kind: SkipKind) {
        self.skipped.push(SkippedRow {
            row: printable(&row),
            reason,
            kind,
        });
    }

    /// True when at least one valid route requires an API key.
    pub fn any_route_requires_auth(&self) -> bool {
        self.routes.iter().any(|r| r.auth)
    }

    /// The table to write: the first of each clashing set kept (in source order), the rest
    /// reported as skipped. Keys are written only when some route requires one: the file of a
    /// table without `auth: true` routes carries no key hashes.
    pub fn into_file(mut self) -> (RoutesFile, Vec<SkippedRow>) {
        if !self.any_route_requires_auth() {
            self.keys.clear();
        }
        let (file, clashes) = RoutesFile::new_skipping_clashes(self.routes, self.keys);
        let file = file
            .with_key_header_name(self.key_header_name.take())
            .with_key_prefix(self.key_prefix.take())
            .with_cors(self.cors.take());
        for problem in clashes {
            let row = match &problem.location {
                Location::Route { index, .. } => self
                    .route_rows
                    .get(*index)
                    .cloned()
                    .unwrap_or_else(|| format!("route {index}")),
                Location::Key { index, .. } => format!("key {index}"),
                other => other.to_string(),
            };
            self.skipped.push(SkippedRow {
                row: printable(&row),
                reason: problem.message.clone(),
                kind: SkipKind::Skipped,
            });
        }
        (file, self.skipped)
    }
}

/// The row's name with control characters escaped: names carry ids and paths as the database
/// holds them, and a line break there would forge a log line.
fn printable(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn describe_row(row: &str, id: Option<&str>, path: Option<&str>) -> String {
    match (id, path) {
        (Some(id), Some(path)) => format!("{row} (id {id}, path {path})"),
        (Some(id), None) => format!("{row} (id {id})"),
        (None, Some(path)) => format!("{row} (path {path})"),
        (None, None) => row.to_owned(),
    }
}

fn id_and_path(
    problems: &[Problem],
    value: &serde_json::Value,
) -> (Option<String>, Option<String>) {
    for p in problems {
        if let Location::Route { id, path, .. } = &p.location {
            if id.is_some() || path.is_some() {
                return (id.clone(), path.clone());
            }
        }
    }
    let text = |k: &str| value.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    (text("id"), text("path"))
}

/// "field `target`: ..." without the `routes[i] (id, path)` prefix, which the row name carries.
fn problem_without_index(p: &Problem) -> String {
    match &p.location {
        Location::Route {
            field: Some(field), ..
        } => format!("field `{field}` {}", p.message),
        Location::Route { field: None, .. } => p.message.clone(),
        _ => p.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_break_in_a_row_name_is_escaped_not_logged() {
        let mut snapshot = Snapshot::default();
        snapshot.skip("row (id x\n INFO forged)".into(), "why".into());
        let (_, skipped) = snapshot.into_file();
        assert_eq!(skipped[0].row, "row (id x\\n INFO forged)");
    }

    fn row(path: &str, target: &str) -> serde_json::Value {
        serde_json::json!({"path": path, "target": target, "auth": false})
    }

    #[test]
    fn rows_read_again_unchanged_give_the_table_a_fresh_validation_gives() {
        let rows = [row("/a", "http://a"), row("/b", "http://b")];
        let mut first = Snapshot::default();
        for (i, r) in rows.iter().enumerate() {
            first.add_route_json(format!("row {i}"), r);
        }
        let reusable = first.take_validated();
        assert_eq!(reusable.0.len(), 2);
        let mut again = Snapshot::reusing(reusable);
        for (i, r) in rows.iter().enumerate() {
            again.add_route_json(format!("row {i}"), r);
        }
        assert!(again.reusable.0.is_empty(), "both routes were taken over");
        assert_eq!(again.into_file().0.render(), first.into_file().0.render());
    }

    #[test]
    fn a_row_that_changed_is_validated_again() {
        let mut first = Snapshot::default();
        first.add_route_json("row 1".into(), &row("/a", "http://a"));
        let mut again = Snapshot::reusing(first.take_validated());
        assert_eq!(
            again.add_route_json("row 1".into(), &row("/a", "ftp://a")),
            None
        );
        assert_eq!(again.skipped.len(), 1, "{:?}", again.skipped);
        assert!(again.routes.is_empty());
    }
}
