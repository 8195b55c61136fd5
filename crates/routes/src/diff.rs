//! What changed between two tables, by route id: for the proxy's reload log, `check --against`,
//! and the sync daemon's write log.

use foldhash::{HashMap, HashSet};

use crate::model::Route;
use crate::routes_file::RoutesFile;

/// What changed between two tables, by route id. `added` and `changed` follow the new table's
/// order, `removed` the old one's.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TableDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    /// The key hashes (or their grants or expiries) differ.
    pub keys_changed: bool,
}

/// The ids of a table's routes, as [`route_ids`] collects them.
pub type RouteIds<'a> = HashSet<&'a str>;

/// The ids of a table's routes. The proxy builds them once per reload and shares them between
/// the diff and its metrics sweep.
pub fn route_ids(routes: &[Route]) -> RouteIds<'_> {
    routes.iter().map(|r| r.id.as_str()).collect()
}

impl TableDiff {
    /// `old` is `None` for the first table (everything in `new` is added); `new_ids` is
    /// [`route_ids`] of `new`.
    pub fn between(
        old: Option<&RoutesFile>,
        new: &RoutesFile,
        new_ids: &RouteIds<'_>,
    ) -> TableDiff {
        let before: HashMap<&str, &Route> = old
            .map(|f| f.routes().iter().map(|r| (r.id.as_str(), r)).collect())
            .unwrap_or_default();
        let mut diff = TableDiff {
            keys_changed: old.map_or(&[][..], |o| o.keys()) != new.keys(),
            ..TableDiff::default()
        };
        for route in new.routes() {
            match before.get(route.id.as_str()) {
                None => diff.added.push(route.id.to_string()),
                Some(old) if *old != route => diff.changed.push(route.id.to_string()),
                Some(_) => {}
            }
        }
        if let Some(old) = old {
            diff.removed = old
                .routes()
                .iter()
                .filter(|r| !new_ids.contains(r.id.as_str()))
                .map(|r| r.id.to_string())
                .collect();
        }
        diff
    }

    /// No route and no key changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && !self.keys_changed
    }
}

/// Ids for a log field: at most 20, then a count (`[a,b,+3 more]`).
pub struct IdList<'a>(pub &'a [String]);

impl std::fmt::Display for IdList<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const SHOWN: usize = 20;
        f.write_str("[")?;
        for (i, id) in self.0.iter().take(SHOWN).enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(id)?;
        }
        if self.0.len() > SHOWN {
            write!(f, ",+{} more", self.0.len() - SHOWN)?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(yaml: &str) -> RoutesFile {
        RoutesFile::parse(format!("version: 1\nroutes:\n{yaml}").as_bytes()).unwrap()
    }

    #[test]
    fn the_diff_names_added_removed_and_changed_ids() {
        let old = file(
            "- {id: a, path: /a, target: 'http://x'}\n- {id: b, path: /b, target: 'http://x'}\n",
        );
        let new = file(
            "- {id: b, path: /b, target: 'http://y'}\n- {id: c, path: /c, target: 'http://x'}\n",
        );
        let diff = TableDiff::between(Some(&old), &new, &route_ids(new.routes()));
        assert_eq!(diff.added, ["c"]);
        assert_eq!(diff.removed, ["a"]);
        assert_eq!(diff.changed, ["b"]);
    }

    #[test]
    fn the_first_table_is_all_added() {
        let new = file("- {id: a, path: /a, target: 'http://x'}\n");
        assert_eq!(
            TableDiff::between(None, &new, &route_ids(new.routes())).added,
            ["a"]
        );
    }

    #[test]
    fn a_key_change_alone_is_a_change() {
        let routes = "routes:\n- {id: a, path: /a, target: 'http://x'}\n";
        let old = RoutesFile::parse(format!("version: 1\n{routes}").as_bytes()).unwrap();
        let new = RoutesFile::parse(
            format!(
                "version: 1\nkeys:\n- sha256: '{}'\n{routes}",
                "ab".repeat(32)
            )
            .as_bytes(),
        )
        .unwrap();
        let diff = TableDiff::between(Some(&old), &new, &route_ids(new.routes()));
        assert!(diff.keys_changed);
        assert!(diff.added.is_empty() && diff.removed.is_empty() && diff.changed.is_empty());
        assert!(!diff.is_empty());
        assert!(TableDiff::between(Some(&old), &old, &route_ids(old.routes())).is_empty());
    }

    #[test]
    fn an_id_list_shows_twenty_ids_then_a_count() {
        let ids: Vec<String> = (0..23).map(|i| format!("r{i}")).collect();
        let shown = IdList(&ids).to_string();
        assert!(shown.starts_with("[r0,r1,"), "{shown}");
        assert!(shown.ends_with(",r19,+3 more]"), "{shown}");
        assert_eq!(IdList(&[]).to_string(), "[]");
    }
}
