//! Entries of one table that cannot all be served: duplicate ids, two routes answering one
//! path and method, a key hash listed twice.

use std::collections::HashMap;

use crate::id::StableId;
use crate::key::KeyHash;
use crate::model::Route;
use crate::problem::{Location, Problem, ProblemKind};

pub(crate) enum Later {
    Route(usize),
    Key(usize),
}

pub(crate) struct Clash {
    pub(crate) later: Later,
    pub(crate) problem: Problem,
}

/// Duplicate ids, routes answering the same (path, method), repeated key hashes. Each clash names
/// the later entry and the earlier one it clashes with; a later entry is reported once.
pub(crate) fn find_clashes(
    routes: &[Route],
    keys: &[KeyHash],
    route_index: &dyn Fn(usize) -> usize,
    key_index: &dyn Fn(usize) -> usize,
) -> Vec<Clash> {
    let mut clashes = Vec::new();
    let mut by_id: HashMap<&StableId, usize> = HashMap::with_capacity(routes.len());
    let mut by_path: HashMap<(&str, bool), Vec<usize>> = HashMap::with_capacity(routes.len());
    for (i, route) in routes.iter().enumerate() {
        if let Some(&first) = by_id.get(&route.id) {
            clashes.push(Clash {
                later: Later::Route(i),
                problem: Problem::new(
                    ProblemKind::DuplicateId,
                    route.location(route_index(i)),
                    format!(
                        "id {} is also used by routes[{}] (path {}); ids must be unique",
                        route.id,
                        route_index(first),
                        routes[first].path
                    ),
                ),
            });
            continue;
        }
        let same_path = by_path
            .entry((route.path.as_str(), route.include_subpath))
            .or_default();
        if let Some(&other) = same_path
            .iter()
            .find(|&&j| routes[j].methods.overlaps(route.methods))
        {
            let both = routes[other].methods.intersection(route.methods);
            clashes.push(Clash {
                later: Later::Route(i),
                problem: Problem::new(
                    ProblemKind::Conflict,
                    route.location(route_index(i)),
                    format!(
                        "answers {} {} ({}) like routes[{}] (id {}); give them disjoint `methods`",
                        both,
                        route.path,
                        route.match_kind(),
                        route_index(other),
                        routes[other].id
                    ),
                ),
            });
            continue;
        }
        by_id.insert(&route.id, i);
        same_path.push(i);
    }
    for (i, first) in repeated_keys(keys) {
        clashes.push(Clash {
            later: Later::Key(i),
            problem: Problem::new(
                ProblemKind::DuplicateKey,
                Location::Key {
                    index: key_index(i),
                    field: Some("sha256".into()),
                },
                format!("the same key hash as keys[{}]", key_index(first)),
            ),
        });
    }
    clashes
}

/// (later, first) for each key whose hash an earlier key has, in the later key's order. By sorting
/// positions rather than hashing digests: a million keys take 4 MB here, a hash map 80 MB.
fn repeated_keys(keys: &[KeyHash]) -> Vec<(usize, usize)> {
    // Files as passthru-sync writes them list keys sorted.
    if keys.windows(2).all(|w| w[0].sha256 < w[1].sha256) {
        return Vec::new();
    }
    let mut order: Vec<u32> = (0..keys.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| {
        keys[a as usize]
            .sha256
            .cmp(&keys[b as usize].sha256)
            .then(a.cmp(&b))
    });
    let mut repeated: Vec<(usize, usize)> = order
        .chunk_by(|&a, &b| keys[a as usize].sha256 == keys[b as usize].sha256)
        .flat_map(|run| {
            run[1..]
                .iter()
                .map(|&later| (later as usize, run[0] as usize))
        })
        .collect();
    repeated.sort_unstable();
    repeated
}
