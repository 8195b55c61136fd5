//! The top level of a routes file: `version`, `routes`, `keys` and the file-wide settings. Both
//! readers end here: the `Value` reader hands over the whole document, the streaming reader
//! ([`super::stream`]) a top level whose `routes` and `keys` it has already read entry by entry.

use serde_yaml::{Mapping, Value};

use crate::cors::Cors;
use crate::grants::GrantsInterner;
use crate::key::KeyHash;
use crate::model::Route;
use crate::problem::{Location, Problem, ProblemKind, Problems};
use crate::routes_file::RoutesFile;

use super::key_entry::key_from_value;
use super::yaml::{check_field_name, show, type_name};
use super::{key_header_name, one, parse_cors};

pub(crate) const TOP_FIELDS: &[&str] = &[
    "version",
    "routes",
    "keys",
    "litellm_key_header_name",
    "key_prefix",
    "cors",
];

fn top(field: &str) -> Location {
    Location::Document {
        field: Some(field.into()),
    }
}

pub(super) fn parse_document(doc: &Value) -> Result<RoutesFile, Problems> {
    let map = match doc {
        Value::Null => return Err(only_comments()),
        Value::Mapping(map) => map,
        other => {
            return Err(one(
                ProblemKind::WrongType,
                Location::Document { field: None },
                format!(
                    "the document must be a mapping with `version` and `routes`, found {}",
                    type_name(other)
                ),
            ))
        }
    };
    let mut problems = Vec::new();
    check_top_fields(map, &mut problems);
    let mut entries = Entries::default();
    read_lists(map, &mut entries, &mut problems);
    let settings = read_settings(map, &mut problems);
    assemble(entries, settings, problems)
}

pub(super) fn only_comments() -> Problems {
    one(
        ProblemKind::Empty,
        Location::Document { field: None },
        "the file holds only comments; an empty table is written `version: 1` and `routes: []`",
    )
}

/// Unknown top-level fields and the version.
pub(super) fn check_top_fields(map: &Mapping, problems: &mut Vec<Problem>) {
    for key in map.keys() {
        check_field_name(key, TOP_FIELDS, &[], problems, top);
    }
    match map.get("version") {
        None => problems.push(Problem::new(
            ProblemKind::MissingField,
            top("version"),
            "missing; write `version: 1`",
        )),
        Some(v) if v.as_u64() == Some(1) => {}
        Some(v) => problems.push(Problem::new(
            ProblemKind::BadVersion,
            top("version"),
            format!(
                "must be 1, found {}; this passthru reads version 1 files",
                show(v)
            ),
        )),
    }
}

/// `routes` and `keys`, each entry read into `entries` (an empty list adds nothing: the
/// streaming reader leaves one in place of the list it has read).
pub(super) fn read_lists(map: &Mapping, entries: &mut Entries, problems: &mut Vec<Problem>) {
    match map.get("routes") {
        None => problems.push(Problem::new(
            ProblemKind::MissingField,
            top("routes"),
            "missing; an empty table is written `routes: []`",
        )),
        Some(Value::Sequence(items)) => {
            for (index, item) in items.iter().enumerate() {
                entries.add_route(index, Route::from_value(index, item), problems);
            }
        }
        Some(other) => problems.push(Problem::new(
            ProblemKind::WrongType,
            top("routes"),
            format!("must be a list of routes, found {}", type_name(other)),
        )),
    }
    match map.get("keys") {
        None | Some(Value::Null) => {}
        Some(Value::Sequence(items)) => {
            entries.keys.items.reserve_exact(items.len());
            for (index, item) in items.iter().enumerate() {
                entries.add_key(index, item, problems);
            }
        }
        Some(other) => problems.push(Problem::new(
            ProblemKind::WrongType,
            top("keys"),
            format!("must be a list of key hashes, found {}", type_name(other)),
        )),
    }
}

/// The routes and keys that passed their own checks, with the index each had in the file.
#[derive(Default)]
pub(super) struct Entries {
    pub routes: Indexed<Route>,
    pub keys: Indexed<KeyHash>,
    interner: GrantsInterner,
}

impl Entries {
    /// The route read from entry `index`, or its problems.
    pub fn add_route(
        &mut self,
        index: usize,
        route: Result<Route, Vec<Problem>>,
        problems: &mut Vec<Problem>,
    ) {
        match route {
            Ok(route) => self.routes.accept(index, route),
            Err(mut p) => {
                self.routes.reject();
                problems.append(&mut p);
            }
        }
    }

    pub fn add_key(&mut self, index: usize, item: &Value, problems: &mut Vec<Problem>) {
        match key_from_value(index, item, &mut self.interner) {
            Ok(key) => self.keys.accept(index, key),
            Err(mut p) => {
                self.keys.reject();
                problems.append(&mut p);
            }
        }
    }
}

/// Entries in file order. Their indices in the file are kept only once one was rejected: until
/// then an entry's index is its position (a million keys need no list of a million indices).
pub(super) struct Indexed<T> {
    pub items: Vec<T>,
    indices: Option<Vec<usize>>,
}

impl<T> Default for Indexed<T> {
    fn default() -> Self {
        Indexed {
            items: Vec::new(),
            indices: None,
        }
    }
}

impl<T> Indexed<T> {
    fn accept(&mut self, index: usize, item: T) {
        if let Some(indices) = &mut self.indices {
            indices.push(index);
        }
        self.items.push(item);
    }

    /// `items` accepted, the first from entry `first`, the others from the entries after it:
    /// one copy, not a push each.
    pub fn append(&mut self, first: usize, mut items: Vec<T>) {
        if let Some(indices) = &mut self.indices {
            indices.extend(first..first + items.len());
        }
        self.items.append(&mut items);
    }

    fn reject(&mut self) {
        if self.indices.is_none() {
            self.indices = Some((0..self.items.len()).collect());
        }
    }

    /// The entries, and a map from an entry's position to its index in the file.
    fn split(self) -> (Vec<T>, impl Fn(usize) -> usize) {
        let indices = self.indices;
        (self.items, move |i| indices.as_ref().map_or(i, |ix| ix[i]))
    }
}

pub(super) struct Settings {
    key_header_name: Option<String>,
    key_prefix: Option<String>,
    cors: Option<Cors>,
}

/// `litellm_key_header_name`, `key_prefix` and `cors`.
pub(super) fn read_settings(map: &Mapping, problems: &mut Vec<Problem>) -> Settings {
    let key_header_name = match map.get("litellm_key_header_name") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => match key_header_name(name) {
            Ok(name) => Some(name),
            Err(why) => {
                problems.push(Problem::new(
                    ProblemKind::BadHeader,
                    top("litellm_key_header_name"),
                    why,
                ));
                None
            }
        },
        Some(other) => {
            problems.push(Problem::new(
                ProblemKind::WrongType,
                top("litellm_key_header_name"),
                format!("must be a header name, found {}", type_name(other)),
            ));
            None
        }
    };
    let key_prefix = match map.get("key_prefix") {
        None | Some(Value::Null) => None,
        Some(Value::String(prefix)) if !prefix.is_empty() && !prefix.contains(char::is_control) => {
            Some(prefix.clone())
        }
        Some(other) => {
            problems.push(Problem::new(
                ProblemKind::WrongType,
                top("key_prefix"),
                format!(
                    "must be a non-empty string such as sk-, found {}",
                    show(other)
                ),
            ));
            None
        }
    };
    let cors = parse_cors(map.get("cors"), |field, why| {
        problems.push(Problem::new(ProblemKind::BadCors, top(field), why))
    });
    Settings {
        key_header_name,
        key_prefix,
        cors,
    }
}

/// The table, or every problem found (the clashes among the accepted entries last).
pub(super) fn assemble(
    entries: Entries,
    settings: Settings,
    mut problems: Vec<Problem>,
) -> Result<RoutesFile, Problems> {
    let (routes, route_index) = entries.routes.split();
    let (keys, key_index) = entries.keys.split();
    match RoutesFile::new_located(routes, keys, &route_index, &key_index) {
        Ok(file) if problems.is_empty() => Ok(file
            .with_key_header_name(settings.key_header_name)
            .with_key_prefix(settings.key_prefix)
            .with_cors(settings.cors)),
        Ok(_) => Err(Problems(problems)),
        Err(Problems(mut clashes)) => {
            problems.append(&mut clashes);
            Err(Problems(problems))
        }
    }
}
