//! Entries of one table that cannot all be served: duplicate ids, two routes answering one
//! path and method, a key hash listed twice.

use foldhash::{HashMap, HashMapExt};

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
    // The latest route accepted at each (path, match kind), and for each accepted route the one
    // accepted there before it: no list per path (a path rarely has more than one route).
    let mut last_at_path: HashMap<(&str, bool), usize> = HashMap::with_capacity(routes.len());
    let mut before_at_path: Vec<Option<usize>> = vec![None; routes.len()];
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
        let at_path = (route.path.as_str(), route.include_subpath);
        // The earliest overlapping route is named, as the file lists them.
        let earlier =
            std::iter::successors(last_at_path.get(&at_path).copied(), |&j| before_at_path[j]);
        if let Some(other) = earlier
            .filter(|&j| routes[j].methods.overlaps(route.methods))
            .last()
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
        before_at_path[i] = last_at_path.insert(at_path, i);
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
