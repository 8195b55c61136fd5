//! What changed between two tables, by route id: for the proxy's reload log, `check --against`,
//! and the sync daemon's write log.

use std::cmp::Ordering;

use foldhash::HashMap;

use crate::routes_file::{canonical_order, RoutesFile};

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

impl TableDiff {
    /// `old` is `None` for the first table (everything in `new` is added).
    ///
    /// Both tables are in canonical order, so a route that kept its path, methods and id is
    /// found by walking the two in step, reading each once in order; only the rest are looked
    /// up by id. (Looking every route up in a map of the other table was a sixth of a reload of
    /// 100k routes, most of it waiting on memory.)
    pub fn between(old: Option<&RoutesFile>, new: &RoutesFile) -> TableDiff {
        let old_routes = old.map_or(&[][..], |o| o.routes());
        let new_routes = new.routes();
        // Indices in `new` of the routes that changed.
        let mut changed = Vec::new();
        let (mut old_left, mut new_left) = (Vec::new(), Vec::new());
        let (mut i, mut j) = (0, 0);
        while i < old_routes.len() && j < new_routes.len() {
            match canonical_order(&old_routes[i], &new_routes[j]) {
                Ordering::Less => {
                    old_left.push(i);
                    i += 1;
                }
                Ordering::Greater => {
                    new_left.push(j);
                    j += 1;
                }
                Ordering::Equal => {
                    if old_routes[i] != new_routes[j] {
                        changed.push(j);
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        old_left.extend(i..old_routes.len());
        new_left.extend(j..new_routes.len());
        // Routes whose path or methods changed, and those added or removed.
        let mut by_id: HashMap<&str, usize> = old_left
            .iter()
            .map(|&i| (old_routes[i].id.as_str(), i))
            .collect();
        let mut added = Vec::new();
        for j in new_left {
            match by_id.remove(new_routes[j].id.as_str()) {
                Some(_) => changed.push(j),
                None => added.push(j),
            }
        }
        changed.sort_unstable();
        let id = |j: usize| new_routes[j].id.to_string();
        TableDiff {
            added: added.into_iter().map(id).collect(),
            changed: changed.into_iter().map(id).collect(),
            removed: old_left
                .into_iter()
                .filter(|i| by_id.contains_key(old_routes[*i].id.as_str()))
                .map(|i| old_routes[i].id.to_string())
                .collect(),
            keys_changed: old.map_or(&[][..], |o| o.keys()) != new.keys(),
        }
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
        let diff = TableDiff::between(Some(&old), &new);
        assert_eq!(diff.added, ["c"]);
        assert_eq!(diff.removed, ["a"]);
        assert_eq!(diff.changed, ["b"]);
    }

    #[test]
    fn a_route_that_moved_is_changed_and_the_lists_keep_table_order() {
        let old = file(
            "- {id: m, path: /m, target: 'http://x'}\n- {id: z, path: /z, target: 'http://x'}\n- {id: y, path: /y, target: 'http://x'}\n- {id: gone, path: /g, target: 'http://x'}\n",
        );
        let new = file(
            "- {id: m, path: /a, target: 'http://x'}\n- {id: z, path: /z, target: 'http://y'}\n- {id: y, path: /y, target: 'http://y'}\n- {id: b, path: /b, target: 'http://x'}\n- {id: c, path: /c, target: 'http://x'}\n",
        );
        let diff = TableDiff::between(Some(&old), &new);
        assert_eq!(diff.changed, ["m", "y", "z"]);
        assert_eq!(diff.added, ["b", "c"]);
        assert_eq!(diff.removed, ["gone"]);
    }

    #[test]
    fn the_first_table_is_all_added() {
        let new = file("- {id: a, path: /a, target: 'http://x'}\n");
        assert_eq!(TableDiff::between(None, &new).added, ["a"]);
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
        let diff = TableDiff::between(Some(&old), &new);
        assert!(diff.keys_changed);
        assert!(diff.added.is_empty() && diff.removed.is_empty() && diff.changed.is_empty());
        assert!(!diff.is_empty());
        assert!(TableDiff::between(Some(&old), &old).is_empty());
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
