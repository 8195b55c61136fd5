//! The routing trie: built from scratch from one validated file, immutable afterwards.

use std::ops::Range;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::diff::TableDiff;
use crate::grants::Grants;
use crate::key_index::KeyIndex;
use crate::method::{Method, MethodSet};
use crate::model::Route;
use crate::routes_file::RoutesFile;

/// Routes indexed by path segment. Lookup walks one node per segment of the request path, so its
/// cost depends on the path's length, never on how many routes the table holds.
#[derive(Debug)]
pub struct RouteTable {
    file: RoutesFile,
    nodes: Vec<Node>,
    keys: KeyIndex,
}

#[derive(Debug, Default)]
struct Node {
    children: foldhash::HashMap<Box<str>, u32>,
    /// Routes whose path ends at this node, by match kind: indices into the file's routes, where
    /// canonical order puts them next to each other (same path, exact before subpath).
    exact: Range<u32>,
    subpath: Range<u32>,
}

/// What the table answers for a (path, method).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<'t, 'p> {
    Found(Match<'t, 'p>),
    /// Some route matches the path, none allows the method: 405 with `Allow`.
    MethodNotAllowed {
        allowed: MethodSet,
    },
    NotFound,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match<'t, 'p> {
    /// The route's index in [`RouteTable::routes`] (canonical order).
    pub index: usize,
    pub route: &'t Route,
    /// What follows the route's path in the request path: empty for an exact match, otherwise
    /// starting with `/` (`/api` on `/api/v1/x` leaves `/v1/x`; the root route leaves the whole path).
    pub subpath: &'p str,
}

/// Whether a presented API key may use `auth: true` routes, and which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus<'t> {
    Valid(&'t Grants),
    Expired,
    Unknown,
}

/// From this many routes on, [`RouteTable::replacing`] indexes the table and compares it with
/// the old one on two threads: below it, handing work to rayon's pool costs more than it saves.
const SIDE_BY_SIDE_ROUTES: usize = 4096;

impl RouteTable {
    /// The table for `file`, and what changed from `old`: at 100k routes each is about 20 ms,
    /// so a large table does both at once.
    pub fn replacing(old: Option<&RoutesFile>, file: RoutesFile) -> (RouteTable, TableDiff) {
        if file.routes().len() < SIDE_BY_SIDE_ROUTES {
            let diff = TableDiff::between(old, &file);
            return (RouteTable::new(file), diff);
        }
        let ((nodes, keys), diff) = rayon::join(
            || (RouteTable::index(&file), KeyIndex::new(file.keys())),
            || TableDiff::between(old, &file),
        );
        (RouteTable { file, nodes, keys }, diff)
    }

    pub fn new(file: RoutesFile) -> RouteTable {
        let nodes = RouteTable::index(&file);
        let keys = KeyIndex::new(file.keys());
        RouteTable { file, nodes, keys }
    }

    /// The trie of `file`'s routes.
    fn index(file: &RoutesFile) -> Vec<Node> {
        // At least one node per distinct path; grown as deeper paths need.
        let mut nodes = Vec::with_capacity(file.routes().len() + 1);
        nodes.push(Node::default());
        for (index, route) in file.routes().iter().enumerate() {
            let mut node = 0usize;
            for segment in route.path.split('/').filter(|s| !s.is_empty()) {
                node = match nodes[node].children.get(segment) {
                    Some(&child) => child as usize,
                    None => {
                        let child = nodes.len();
                        nodes.push(Node::default());
                        nodes[node].children.insert(segment.into(), child as u32);
                        child
                    }
                };
            }
            let slot = if route.include_subpath {
                &mut nodes[node].subpath
            } else {
                &mut nodes[node].exact
            };
            let index = index as u32;
            if slot.start == slot.end {
                *slot = index..index;
            }
            debug_assert_eq!(slot.end, index, "routes of one path are next to each other");
            slot.end = index + 1;
        }
        nodes
    }

    pub fn routes(&self) -> &[Route] {
        self.file.routes()
    }

    pub fn file(&self) -> &RoutesFile {
        &self.file
    }

    /// The longest route matching `path` (already normalised) that allows `method`; an exact
    /// route beats a subpath route of the same path.
    pub fn lookup<'t, 'p>(&'t self, path: &'p str, method: Method) -> Lookup<'t, 'p> {
        let routes = self.file.routes();
        let mut best: Option<(u32, usize)> = None;
        let mut matched_methods: Option<MethodSet> = None;
        let mut consider =
            |candidates: Range<u32>, offset: usize, best: &mut Option<(u32, usize)>| {
                for i in candidates {
                    let methods = routes[i as usize].methods;
                    matched_methods = Some(matched_methods.map_or(methods, |m| m.union(methods)));
                    if methods.allows(method) {
                        *best = Some((i, offset));
                        return true;
                    }
                }
                false
            };

        // The root node owns the whole path: its subpath routes leave `path` itself.
        let mut node = &self.nodes[0];
        consider(node.subpath.clone(), 0, &mut best);
        if path == "/" {
            consider(node.exact.clone(), path.len(), &mut best);
        }
        let mut offset = 0;
        for segment in path[1..].split('/') {
            let Some(&child) = node.children.get(segment) else {
                break;
            };
            node = &self.nodes[child as usize];
            offset += 1 + segment.len();
            let at_end = offset == path.len();
            if !(at_end && consider(node.exact.clone(), offset, &mut best)) {
                consider(node.subpath.clone(), offset, &mut best);
            }
        }
        match (best, matched_methods) {
            (Some((i, offset)), _) => Lookup::Found(Match {
                index: i as usize,
                route: &routes[i as usize],
                subpath: &path[offset..],
            }),
            (None, Some(allowed)) => Lookup::MethodNotAllowed { allowed },
            (None, None) => Lookup::NotFound,
        }
    }

    /// Checks a presented API key against the file's key hashes at instant `now`.
    pub fn key_status(&self, key: &[u8], now: SystemTime) -> KeyStatus<'_> {
        let digest: [u8; 32] = Sha256::digest(key).into();
        let Some(index) = self.keys.find(self.file.keys(), &digest) else {
            return KeyStatus::Unknown;
        };
        let entry = &self.file.keys()[index];
        match entry.expires {
            Some(expires) if now >= expires => KeyStatus::Expired,
            _ => KeyStatus::Valid(entry.grants()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` routes `/svc-{i}`, every `changed_every`th with another target, and one route only
    /// this version has.
    fn version(n: usize, changed_every: usize, extra: &str) -> RoutesFile {
        let mut yaml = String::from("version: 1\nroutes:\n");
        for i in 0..n {
            let target = if i % changed_every == 0 { "y" } else { "x" };
            yaml.push_str(&format!(
                "- {{path: /svc-{i}, target: 'http://{target}', include_subpath: true}}\n"
            ));
        }
        yaml.push_str(&format!("- {{path: /{extra}, target: 'http://x'}}\n"));
        RoutesFile::parse(yaml.as_bytes()).unwrap()
    }

    #[test]
    fn a_large_table_built_side_by_side_with_its_diff_is_the_table_and_diff_built_apart() {
        let n = SIDE_BY_SIDE_ROUTES + 100;
        let old = version(n, 1_000_000, "old-only");
        let new = version(n, 7, "new-only");
        let (table, diff) = RouteTable::replacing(Some(&old), new.clone());
        assert_eq!(diff, TableDiff::between(Some(&old), &new));
        assert_eq!((diff.added.len(), diff.removed.len()), (1, 1));
        assert_eq!(diff.changed.len(), n.div_ceil(7) - 1);
        let apart = RouteTable::new(new);
        for path in [
            "/svc-0/v1",
            "/svc-4195",
            "/new-only",
            "/old-only",
            "/nothing",
        ] {
            assert_eq!(
                table.lookup(path, Method::Get),
                apart.lookup(path, Method::Get),
                "{path}"
            );
        }
    }
}
