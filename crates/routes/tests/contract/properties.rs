//! Properties over random tables and paths (proptest).

use passthru_routes::{
    normalize_request_path, Lookup, Method, MethodSet, Route, RouteTable, RoutesFile, Value,
};
use proptest::prelude::*;
use proptest::sample::select;
use serde_yaml::Mapping;

/// A route as an operator might write it, with its fields in a chosen order.
#[derive(Debug, Clone)]
struct Spec {
    fields: Vec<(&'static str, Value)>,
}

const SEGMENTS: &[&str] = &["a", "b", "api", "v1", "x"];

fn path_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(select(SEGMENTS), 0..4).prop_map(|segs| format!("/{}", segs.join("/")))
}

fn method_strategy() -> impl Strategy<Value = Method> {
    select(Method::ALL.to_vec())
}

fn spec_strategy() -> impl Strategy<Value = Spec> {
    (
        path_strategy(),
        any::<bool>(),
        prop::collection::vec(method_strategy(), 0..3),
        prop::option::of("[a-z][a-z0-9-]{0,8}"),
        prop::collection::btree_map("x-[a-z]{1,5}", "[ -~]{0,12}", 0..3),
        prop::collection::btree_map("[a-z]{1,4}", "[a-z0-9]{0,4}", 0..3),
        prop::option::of(1u64..600_000),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(path, subpath, methods, id, headers, query, timeout_ms, auth, forward)| {
                let mut fields: Vec<(&'static str, Value)> = vec![
                    ("path", path.into()),
                    ("target", "http://127.0.0.1:9/base".into()),
                    ("include_subpath", subpath.into()),
                    ("auth", auth.into()),
                    ("forward_headers", forward.into()),
                ];
                if !methods.is_empty() {
                    let list = methods.iter().map(|m| Value::from(m.as_str())).collect();
                    fields.push(("methods", Value::Sequence(list)));
                }
                if let Some(id) = id {
                    fields.push(("id", id.into()));
                }
                let map = |m: std::collections::BTreeMap<String, String>| {
                    Value::Mapping(m.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
                };
                fields.push(("headers", map(headers)));
                fields.push(("default_query_params", map(query)));
                if let Some(ms) = timeout_ms {
                    fields.push(("timeout", (ms as f64 / 1000.0).into()));
                }
                Spec { fields }
            },
        )
}

/// A table of valid specs; clashing ones are dropped so the rest always parses.
fn table_strategy() -> impl Strategy<Value = Vec<Spec>> {
    prop::collection::vec(spec_strategy(), 0..12).prop_map(without_clashes)
}

/// `specs` less the ones that clash with an earlier one.
fn without_clashes(specs: Vec<Spec>) -> Vec<Spec> {
    let routes: Vec<Route> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| Route::from_value(i, &to_value(s, false)).unwrap())
        .collect();
    let (file, _) = RoutesFile::new_skipping_clashes(routes.clone(), vec![]);
    // Each kept route keeps one spec: two identical specs clash, and only one may stay.
    let mut kept = file.routes().to_vec();
    specs
        .into_iter()
        .zip(routes)
        .filter(|(_, r)| match kept.iter().position(|k| k == r) {
            Some(i) => {
                kept.swap_remove(i);
                true
            }
            None => false,
        })
        .map(|(s, _)| s)
        .collect()
}

fn to_value(spec: &Spec, reverse_fields: bool) -> Value {
    let mut fields = spec.fields.clone();
    if reverse_fields {
        fields.reverse();
    }
    let mut map = Mapping::new();
    for (k, v) in fields {
        map.insert(k.into(), v);
    }
    Value::Mapping(map)
}

fn to_yaml(specs: &[Spec], reverse_fields: bool) -> String {
    let mut doc = Mapping::new();
    doc.insert("version".into(), 1.into());
    let routes = specs.iter().map(|s| to_value(s, reverse_fields)).collect();
    doc.insert("routes".into(), Value::Sequence(routes));
    serde_yaml::to_string(&doc).unwrap()
}

fn parse(yaml: &str) -> RoutesFile {
    crate::readers::assert_same_both_ways(yaml.as_bytes());
    RoutesFile::parse(yaml.as_bytes()).unwrap_or_else(|p| panic!("{p}\n{yaml}"))
}

/// The matcher DESIGN.md §4 describes, by brute force over every route.
fn reference(file: &RoutesFile, path: &str, method: Method) -> String {
    let matches = |r: &Route| {
        if r.include_subpath {
            r.path == "/" || path == r.path || path.starts_with(&format!("{}/", r.path))
        } else {
            path == r.path
        }
    };
    let candidates: Vec<&Route> = file.routes().iter().filter(|r| matches(r)).collect();
    let best = candidates
        .iter()
        .filter(|r| r.methods.allows(method))
        .max_by_key(|r| (r.path.len(), !r.include_subpath));
    match best {
        Some(r) => {
            let rest = if r.include_subpath && r.path == "/" {
                path
            } else {
                &path[r.path.len()..]
            };
            format!("{} {rest}", r.id)
        }
        None if candidates.is_empty() => "404".into(),
        None => {
            let allowed = candidates
                .iter()
                .fold(None, |acc: Option<MethodSet>, r| {
                    Some(acc.map_or(r.methods, |a| a.union(r.methods)))
                })
                .unwrap();
            format!("405 {}", allowed.to_allow_header())
        }
    }
}

fn answer(t: &RouteTable, path: &str, method: Method) -> String {
    match t.lookup(path, method) {
        Lookup::Found(m) => format!("{} {}", m.route.id, m.subpath),
        Lookup::MethodNotAllowed { allowed } => format!("405 {}", allowed.to_allow_header()),
        Lookup::NotFound => "404".to_owned(),
    }
}

fn raw_path_strategy() -> impl Strategy<Value = String> {
    let pieces = select(vec![
        "/", "//", "a", "b", ".", "..", "%2e", "%2E", "%2e%2e", "%41", "%7e", "%20", "%3b", ";",
        "%2f", "%5c", "\\", "%00", "%", "%zz", "~", "-", "é",
    ]);
    prop::collection::vec(pieces, 0..10).prop_map(|p| format!("/{}", p.concat()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn canonical_rendering_is_a_fixed_point(specs in table_strategy()) {
        let once = parse(&to_yaml(&specs, false)).render();
        let twice = parse(&once).render();
        prop_assert_eq!(twice, once);
    }

    #[test]
    fn rendering_after_another_table_gives_the_bytes_of_rendering_afresh(
        before in table_strategy(),
        dropped in 0..4usize,
        added in table_strategy(),
    ) {
        // The next table keeps most routes of the last one, as a database commit does.
        let previous = parse(&to_yaml(&before, false)).into_rendered(None);
        let after = without_clashes(before.into_iter().skip(dropped).chain(added).collect());
        let table = parse(&to_yaml(&after, false));
        let fresh = table.render();
        let reused = table.into_rendered(Some(&previous));
        prop_assert_eq!(reused.text(), fresh);
    }

    #[test]
    fn rendering_is_independent_of_input_order(
        specs in table_strategy(),
        seed in any::<u64>(),
    ) {
        let mut shuffled = specs.clone();
        // A deterministic permutation from the seed; field order reversed as well.
        let n = shuffled.len();
        for i in (1..n).rev() {
            let j = (seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64) % (i as u64 + 1)) as usize;
            shuffled.swap(i, j);
        }
        prop_assert_eq!(
            parse(&to_yaml(&specs, false)).render(),
            parse(&to_yaml(&shuffled, true)).render()
        );
    }

    #[test]
    fn lookup_agrees_with_a_reference_matcher(
        specs in table_strategy(),
        paths in prop::collection::vec(
            (path_strategy(), any::<bool>()).prop_map(|(p, slash)| if slash && p != "/" { format!("{p}/") } else { p }),
            1..20,
        ),
        method in method_strategy(),
    ) {
        let file = parse(&to_yaml(&specs, false));
        let table = RouteTable::new(file.clone());
        for path in &paths {
            prop_assert_eq!(answer(&table, path, method), reference(&file, path, method), "path {}", path);
        }
    }

    #[test]
    fn normalisation_is_idempotent(raw in raw_path_strategy()) {
        if let Ok(once) = normalize_request_path(&raw) {
            let twice = normalize_request_path(&once).expect("a normal path normalises");
            prop_assert_eq!(twice.as_ref(), once.as_ref());
        }
    }

    #[test]
    fn normalised_paths_have_no_dot_segments_or_empty_segments(raw in raw_path_strategy()) {
        if let Ok(normal) = normalize_request_path(&raw) {
            prop_assert!(normal.starts_with('/'));
            prop_assert!(!normal.contains("//"), "{}", normal);
            let inner = normal.trim_end_matches('/');
            for seg in inner.split('/').skip(1) {
                prop_assert!(seg != "." && seg != "..", "{} has a dot segment", normal);
            }
            let lower = normal.to_ascii_lowercase();
            prop_assert!(!lower.contains("%2e") && !lower.contains("%2f") && !lower.contains("%5c"));
        }
    }
}
