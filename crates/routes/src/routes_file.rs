//! The validated routes table: routes in canonical order and the keys that may use them.

use crate::clash::{find_clashes, Later};
use crate::cors::Cors;
use crate::header::HeaderTemplate;
use crate::key::KeyHash;
use crate::model::Route;
use crate::problem::{Problem, Problems};
use crate::target::Target;

/// A validated table: routes in canonical order, every id stamped, no duplicate ids, no two
/// routes answering the same (path, method); key hashes sorted and unique.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoutesFile {
    routes: Vec<Route>,
    keys: Vec<KeyHash>,
    /// LiteLLM's `general_settings.litellm_key_header_name`: a header that, when present, carries
    /// the key (as `Bearer <key>`) ahead of every other. Lower-cased.
    key_header_name: Option<String>,
    /// Keys that do not start with this are refused unless their entry is `admin` (LiteLLM
    /// accepts only `sk-` virtual keys, and its master key whatever it looks like).
    key_prefix: Option<String>,
    /// The CORS policy of routes that set none.
    cors: Option<Cors>,
}

/// The order of a table's routes: by path, exact before subpath, methods, id.
pub(crate) fn canonical_order(a: &Route, b: &Route) -> std::cmp::Ordering {
    a.path
        .cmp(&b.path)
        .then(a.include_subpath.cmp(&b.include_subpath))
        .then_with(|| a.methods.iter().cmp(b.methods.iter()))
        .then_with(|| a.id.cmp(&b.id))
}

impl RoutesFile {
    /// Checks the table as a whole and puts it in canonical order. Problems are located by the
    /// routes' indices in `routes` as given.
    pub fn new(routes: Vec<Route>, keys: Vec<KeyHash>) -> Result<RoutesFile, Problems> {
        RoutesFile::new_located(routes, keys, &|i| i, &|i| i)
    }

    /// [`RoutesFile::new`] for entries that sat at other indices in a file (some were rejected
    /// before), so that problems name the index the operator sees.
    pub(crate) fn new_located(
        routes: Vec<Route>,
        keys: Vec<KeyHash>,
        route_index: &dyn Fn(usize) -> usize,
        key_index: &dyn Fn(usize) -> usize,
    ) -> Result<RoutesFile, Problems> {
        let clashes = find_clashes(&routes, &keys, route_index, key_index);
        if !clashes.is_empty() {
            return Err(Problems(clashes.into_iter().map(|c| c.problem).collect()));
        }
        Ok(RoutesFile::canonical(routes, keys))
    }

    /// Like [`RoutesFile::new`], but keeps the first of each clashing set (in the order given)
    /// and reports the rest: what a database source does with rows that cannot all be served.
    pub fn new_skipping_clashes(
        mut routes: Vec<Route>,
        mut keys: Vec<KeyHash>,
    ) -> (RoutesFile, Vec<Problem>) {
        let clashes = find_clashes(&routes, &keys, &|i| i, &|i| i);
        let mut drop_routes = vec![false; routes.len()];
        let mut drop_keys = vec![false; keys.len()];
        for clash in &clashes {
            match clash.later {
                Later::Route(i) => drop_routes[i] = true,
                Later::Key(i) => drop_keys[i] = true,
            }
        }
        let mut i = 0;
        routes.retain(|_| (!drop_routes[i], i += 1).0);
        let mut i = 0;
        keys.retain(|_| (!drop_keys[i], i += 1).0);
        let problems = clashes.into_iter().map(|c| c.problem).collect();
        (RoutesFile::canonical(routes, keys), problems)
    }

    /// Unstable sorts: no two entries compare equal (ids and key hashes are unique by now), so the
    /// order is the same, and they need no scratch copy (a stable sort takes half the list again).
    fn canonical(mut routes: Vec<Route>, mut keys: Vec<KeyHash>) -> RoutesFile {
        routes.sort_unstable_by(canonical_order);
        keys.sort_unstable();
        RoutesFile {
            routes,
            keys,
            key_header_name: None,
            key_prefix: None,
            cors: None,
        }
    }

    /// This table with LiteLLM's `litellm_key_header_name` (a valid header name, or `None`).
    pub fn with_key_header_name(mut self, name: Option<String>) -> RoutesFile {
        self.key_header_name = name.map(|n| n.to_ascii_lowercase());
        self
    }

    pub fn key_header_name(&self) -> Option<&str> {
        self.key_header_name.as_deref()
    }

    /// This table with a required key prefix (see [`RoutesFile::key_prefix`]).
    pub fn with_key_prefix(mut self, prefix: Option<String>) -> RoutesFile {
        self.key_prefix = prefix.filter(|p| !p.is_empty());
        self
    }

    /// This table as it may be shown: configured header values without an `os.environ/`
    /// reference (literal secrets) become `***`, secret-looking query values in targets too.
    pub fn masked(&self) -> RoutesFile {
        let mut out = self.clone();
        for route in &mut out.routes {
            for value in route.headers.values_mut() {
                if value.env_var().is_none() {
                    *value = HeaderTemplate::parse("***").expect("a plain value");
                }
            }
            if let Ok(target) = Target::parse(&route.target.redacted()) {
                route.target = target;
            }
        }
        out
    }

    /// This table with a CORS policy for routes that set none.
    pub fn with_cors(mut self, cors: Option<Cors>) -> RoutesFile {
        self.cors = cors;
        self
    }

    /// The CORS policy of routes that set none.
    pub fn cors(&self) -> Option<&Cors> {
        self.cors.as_ref()
    }

    /// Non-admin keys must start with this.
    pub fn key_prefix(&self) -> Option<&str> {
        self.key_prefix.as_deref()
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    pub fn keys(&self) -> &[KeyHash] {
        &self.keys
    }

    pub fn into_parts(self) -> (Vec<Route>, Vec<KeyHash>) {
        (self.routes, self.keys)
    }
}
