//! The streaming reader: a document's events turned into the table as they come, one route or
//! key at a time. Each route's fields ([`RouteFields`]) or key's `Value` go through the same
//! checks as the `Value` reader's and are dropped, so a valid file costs its bytes plus the table
//! being built, never a tree of the whole document (which took 1 GB for 800,000 keys, 17 times
//! the file). A large routes list is read in parts on several threads ([`RouteList`]).
//!
//! It reads the YAML that passthru-sync writes and people write by hand. Anchors, aliases, tags,
//! a field given twice, more than one document and very deep nesting stop it: the `Value` reader
//! takes over, as it does whenever a file has a problem, so every problem is reported by one
//! reader, located, in one wording.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use serde_yaml::{Mapping, Value};

use crate::fields::ROUTE_FIELDS;
use crate::model::Route;
use crate::problem::{Location, Problem, ProblemKind, Problems};
use crate::routes_file::RoutesFile;

use super::block_events::BlockEvents;
use super::document::{
    assemble, check_top_fields, only_comments, read_lists, read_settings, Entries,
};
use super::events::{Event, EventSource, Events, Mark, Unsupported};
use super::route_entry::RouteFields;
use super::route_list::{Parts, RouteList};

/// Deeper than any routes file needs (a CORS list in a route is 5 levels down).
const MAX_DEPTH: usize = 32;

/// Why the streaming read gave no table.
#[derive(Debug)]
pub(super) enum Stopped {
    /// The file's entries or settings have problems (not located in the text).
    Problems(Problems),
    /// YAML this reader does not take, or a syntax error.
    Unsupported(Unsupported),
}

impl Stopped {
    /// What to report when no other reader will look at the file.
    pub(super) fn into_problems(self) -> Problems {
        match self {
            Stopped::Problems(problems) => problems,
            Stopped::Unsupported(u) => Problems(vec![Problem::new(
                ProblemKind::Syntax,
                Location::Text {
                    line: u.mark.line,
                    column: u.mark.column,
                },
                format!(
                    "{}: a file over {} MiB is read in one pass, which takes no anchors, \
                     aliases, tags, repeated fields or documents after the first; write the \
                     table out plainly, as passthru-sync does",
                    u.why,
                    super::LOCATED_ERRORS_MAX_BYTES >> 20
                ),
            )]),
        }
    }
}

impl From<Unsupported> for Stopped {
    fn from(u: Unsupported) -> Self {
        Stopped::Unsupported(u)
    }
}

/// Reads `text` (not empty) into a validated table.
///
/// The block-style YAML that passthru-sync and `fmt` write is read without libyaml, several times
/// faster ([`BlockEvents`]), and a large `routes:` list in parts on several threads
/// ([`RouteList`]); a file that reader gives up on, or finds any problem in, is read again by
/// libyaml, so what is reported about a file is always libyaml's reading of it.
pub(super) fn parse_streaming(text: &str) -> Result<RoutesFile, Stopped> {
    let list = RouteList::find(text.as_bytes());
    let cut = list
        .as_ref()
        .and_then(|list| Some((list, list.parts(readers)?)));
    let by_block = match cut {
        Some((list, parts)) => read_in_parts(text, list, &parts),
        None => read(
            BlockEvents::new(text),
            text.as_bytes(),
            list.as_ref(),
            false,
        )
        .and_then(finish),
    };
    match by_block {
        Ok(file) => Ok(file),
        Err(_) => read(Events::new(text.as_bytes()), text.as_bytes(), None, false).and_then(finish),
    }
}

/// At most this many threads read one file.
const MAX_READERS: usize = 8;

/// How many threads may read a file: rayon's pool, whose threads (one per CPU this process may
/// use, which follows `taskset` and cgroup limits) stay from one reload to the next with their
/// memory, up to [`MAX_READERS`].
fn readers() -> usize {
    rayon::current_num_threads().min(MAX_READERS)
}

/// Reads `text` with its routes `list` cut in `parts`: the first part and the rest of the file
/// on one of the pool's threads, the other parts on the others, their routes joined in order
/// after the first part's.
fn read_in_parts(text: &str, list: &RouteList, parts: &Parts) -> Result<RoutesFile, Stopped> {
    let stop = AtomicBool::new(false);
    let (document, others) = rayon::join(
        || {
            let events = BlockEvents::skipping(text, parts.skipped.clone());
            let document = read(events, text.as_bytes(), Some(list), true);
            // The other readers stop at their next entry: the file is read again anyway.
            stop.store(document.is_err(), Ordering::Relaxed);
            document
        },
        || {
            parts
                .parts
                .par_iter()
                .map(|(range, count)| read_part(&text[range.clone()], *count, &stop))
                .collect::<Option<Vec<Vec<Route>>>>()
        },
    );
    let mut document = document?;
    let others =
        others.ok_or_else(|| unsupported(Mark { line: 1, column: 1 }, "a part of the list"))?;
    let mut next = list.len() - parts.parts.iter().map(|(_, count)| count).sum::<usize>();
    for routes in others {
        let count = routes.len();
        document.entries.routes.append(next, routes);
        next += count;
    }
    finish(document)
}

/// The routes of one part of a cut list; `None` at anything that would have stopped the whole
/// file's reading (the file is then read again, whole), or once `stop` is set.
fn read_part(part: &str, count: usize, stop: &AtomicBool) -> Option<Vec<Route>> {
    let mut events = BlockEvents::list_entries(part);
    let mut routes = Vec::with_capacity(route_capacity(count, part.len()));
    loop {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        let (event, mark) = events.next().ok()?;
        if matches!(event, Event::SequenceEnd) {
            break;
        }
        routes.push(route(&mut events, event, mark, routes.len()).ok()?.ok()?);
    }
    // Nothing after the entries: the part's end closes the list and the document.
    for end in [Event::MappingEnd, Event::DocumentEnd, Event::StreamEnd] {
        if events.next().ok()?.0 != end {
            return None;
        }
    }
    Some(routes)
}

/// Room for a list of `count` routes written in `bytes` bytes. No valid route is written in
/// fewer than 32 bytes: a file of dashes alone is not taken at its word.
fn route_capacity(count: usize, bytes: usize) -> usize {
    count.min(bytes / 32)
}

/// One entry of the routes list, its first event read.
fn route(
    events: &mut impl EventSource,
    first: Event,
    mark: Mark,
    index: usize,
) -> Result<Result<Route, Vec<Problem>>, Unsupported> {
    Ok(match first {
        Event::MappingStart => Route::from_fields(index, &route_fields(events)?),
        first => Route::from_value(index, &value(events, first, mark, 2)?),
    })
}

/// What [`read`] leaves for [`finish`]: the top level with its lists read entry by entry.
struct Document {
    top: Mapping,
    entries: Entries,
    entry_problems: Vec<Problem>,
}

/// Reads a document's events. `list`: where the routes list lies, to size the table. `cut`:
/// `events` skip the parts of that list after the first ([`BlockEvents::skipping`]), which must
/// lie inside it.
fn read(
    mut events: impl EventSource,
    text: &[u8],
    list: Option<&RouteList>,
    cut: bool,
) -> Result<Document, Stopped> {
    match events.next()? {
        (Event::DocumentStart, _) => {}
        (Event::StreamEnd, _) => return Err(Stopped::Problems(only_comments())),
        (_, mark) => return Err(unsupported(mark, "a document that does not start as one").into()),
    }
    let (first, mark) = events.next()?;
    if !matches!(first, Event::MappingStart) {
        return Err(unsupported(mark, "a document that is not a mapping").into());
    }
    let mut top = Mapping::new();
    let mut entries = Entries::default();
    let mut entry_problems = Vec::new();
    let mut cut_in_routes = false;
    loop {
        let (event, key_mark) = events.next()?;
        if matches!(event, Event::MappingEnd) {
            break;
        }
        let key = value(&mut events, event, key_mark, 1)?;
        let (event, mark) = events.next()?;
        let list_of_routes = match (key.as_str(), &event) {
            (Some("routes"), Event::SequenceStart) => Some(true),
            (Some("keys"), Event::SequenceStart) => Some(false),
            _ => None,
        };
        let field = match list_of_routes {
            Some(routes) => {
                if routes {
                    if let Some(list) = list {
                        let capacity = route_capacity(list.len(), text.len());
                        entries.routes.items.reserve_exact(capacity);
                    }
                } else {
                    entries.keys.items.reserve_exact(count_keys(text));
                }
                let skipped_before = events.skipped();
                let mut index = 0;
                loop {
                    let (event, mark) = events.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        cut_in_routes |= routes && !skipped_before && events.skipped();
                        break;
                    }
                    if routes {
                        let route = route(&mut events, event, mark, index)?;
                        entries.add_route(index, route, &mut entry_problems);
                    } else {
                        let item = value(&mut events, event, mark, 2)?;
                        entries.add_key(index, &item, &mut entry_problems);
                    }
                    index += 1;
                }
                // Read already: what is left for the document's own checks is an empty list.
                Value::Sequence(Vec::new())
            }
            None => value(&mut events, event, mark, 1)?,
        };
        if top.insert(key, field).is_some() {
            return Err(unsupported(key_mark, "a field given twice").into());
        }
    }
    if cut != cut_in_routes {
        return Err(unsupported(mark, "a list cut elsewhere than in `routes`").into());
    }
    match events.next()? {
        (Event::DocumentEnd, _) => {}
        (_, mark) => return Err(unsupported(mark, "content after the document").into()),
    }
    match events.next()? {
        (Event::StreamEnd, _) => {}
        (_, mark) => return Err(unsupported(mark, "more than one document").into()),
    }
    Ok(Document {
        top,
        entries,
        entry_problems,
    })
}

/// The document's own checks, and the table.
fn finish(document: Document) -> Result<RoutesFile, Stopped> {
    let Document {
        top,
        mut entries,
        mut entry_problems,
    } = document;
    let mut problems = Vec::new();
    check_top_fields(&top, &mut problems);
    problems.append(&mut entry_problems);
    read_lists(&top, &mut entries, &mut problems);
    let settings = read_settings(&top, &mut problems);
    assemble(entries, settings, problems).map_err(Stopped::Problems)
}

/// A route entry's fields, its `MappingStart` read: one pass, no mapping built.
fn route_fields(events: &mut impl EventSource) -> Result<RouteFields<'static>, Unsupported> {
    let mut fields = RouteFields::default();
    loop {
        let (event, key_mark) = events.next()?;
        if matches!(event, Event::MappingEnd) {
            return Ok(fields);
        }
        let put = match event {
            Event::FieldName(slot) => fields.put_field(slot, item_value(events)?),
            event => {
                let key = value(events, event, key_mark, 3)?;
                fields.put(Cow::Owned(key), item_value(events)?)
            }
        };
        if !put {
            return Err(unsupported(key_mark, "a field given twice"));
        }
    }
}

/// A route field's value: the node after its key, whole.
fn item_value(events: &mut impl EventSource) -> Result<Cow<'static, Value>, Unsupported> {
    let (event, mark) = events.next()?;
    Ok(Cow::Owned(value(events, event, mark, 3)?))
}

/// The node that starts with `first`, whole.
fn value(
    events: &mut impl EventSource,
    first: Event,
    mark: Mark,
    depth: usize,
) -> Result<Value, Unsupported> {
    if depth > MAX_DEPTH {
        return Err(unsupported(mark, "nesting this deep"));
    }
    match first {
        Event::Scalar(v) => Ok(v),
        Event::FieldName(slot) => Ok(Value::String(ROUTE_FIELDS[slot].to_owned())),
        Event::SequenceStart => {
            let mut items = Vec::new();
            loop {
                let (event, mark) = events.next()?;
                if matches!(event, Event::SequenceEnd) {
                    return Ok(Value::Sequence(items));
                }
                items.push(value(events, event, mark, depth + 1)?);
            }
        }
        Event::MappingStart => {
            let mut map = Mapping::new();
            loop {
                let (event, key_mark) = events.next()?;
                if matches!(event, Event::MappingEnd) {
                    return Ok(Value::Mapping(map));
                }
                let key = value(events, event, key_mark, depth + 1)?;
                let (event, mark) = events.next()?;
                let item = value(events, event, mark, depth + 1)?;
                if map.insert(key, item).is_some() {
                    return Err(unsupported(key_mark, "a field given twice"));
                }
            }
        }
        _ => Err(unsupported(mark, "an event out of place")),
    }
}

fn unsupported(mark: Mark, why: &str) -> Unsupported {
    Unsupported {
        mark,
        why: why.to_owned(),
    }
}

/// At least the number of entries of `keys` (each has a `sha256`; comments may add a few):
/// the list is allocated once instead of growing by doubling, which would hold the old and
/// the new copy at once. Never more than a valid entry's 64 hex digits allow, whatever the text.
fn count_keys(text: &[u8]) -> usize {
    memchr::memmem::find_iter(text, b"sha256:")
        .count()
        .min(text.len() / 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a file over [`super::super::LOCATED_ERRORS_MAX_BYTES`] is refused with: the streaming
    /// pass's own findings, since the `Value` reader does not run on it.
    #[test]
    fn what_the_streaming_pass_stops_at_is_reported_by_entry_or_by_line() {
        let bad_entry = "version: 1\nroutes:\n- {path: /a, target: 'http://h', auth: false}\n- {path: b, target: 'http://h'}\n";
        let why = parse_streaming(bad_entry)
            .unwrap_err()
            .into_problems()
            .to_string();
        assert!(
            why.contains("routes[1]") && why.contains("field `path`"),
            "{why}"
        );

        let alias = "version: 1\nroutes:\n- &r {path: /a, target: 'http://h', auth: false}\n";
        let why = parse_streaming(alias)
            .unwrap_err()
            .into_problems()
            .to_string();
        assert!(why.contains("line 3, column 3"), "{why}");
        assert!(
            why.contains("anchors and aliases") && why.contains("over 64 MiB"),
            "{why}"
        );

        let syntax = "version: 1\nroutes: [\n";
        let why = parse_streaming(syntax)
            .unwrap_err()
            .into_problems()
            .to_string();
        assert!(why.contains("line "), "{why}");
    }
}

#[cfg(test)]
mod parts_tests {
    use proptest::prelude::*;

    use super::super::route_list::MIN_PART_BYTES;
    use super::*;

    /// `text` read with its routes list cut into up to `readers` parts of at least `min_bytes`.
    fn in_parts(text: &str, readers: usize, min_bytes: usize) -> Option<RoutesFile> {
        let list = RouteList::find(text.as_bytes()).expect("a block-style routes list");
        let parts = list
            .parts_of_at_least(|| readers, min_bytes)
            .expect("the list is cut");
        read_in_parts(text, &list, &parts).ok()
    }

    fn in_one_pass(text: &str) -> Option<RoutesFile> {
        read(BlockEvents::new(text), text.as_bytes(), None, false)
            .and_then(finish)
            .ok()
    }

    fn large_table(routes: usize) -> String {
        let mut yaml = String::from("version: 1\nroutes:\n");
        for i in 0..routes {
            yaml.push_str(&format!(
                "- path: /svc-{i}\n  target: http://backend-{i}:8080/v1\n  include_subpath: true\n  auth: false\n"
            ));
            if i % 4 == 0 {
                yaml.push_str("  methods: [GET, POST]\n");
            }
            if i % 5 == 0 {
                yaml.push_str("  headers: {x-team: blue}\n");
            }
        }
        RoutesFile::parse(yaml.as_bytes()).unwrap().render()
    }

    #[test]
    fn a_large_list_read_in_parts_is_the_table_libyaml_reads() {
        let text = large_table(12_000);
        let list = RouteList::find(text.as_bytes()).unwrap();
        let libyaml = read(Events::new(text.as_bytes()), text.as_bytes(), None, false)
            .and_then(finish)
            .unwrap();
        assert_eq!(list.parts(|| 4).map(|p| p.parts.len()), Some(3));
        assert_eq!(in_parts(&text, 4, MIN_PART_BYTES), Some(libyaml));
    }

    /// Parts of a 3,000-route table (660 kB) small enough for four readers.
    const SMALL_PART: usize = 64 << 10;

    #[test]
    fn a_problem_in_a_later_part_is_reported_as_libyaml_reads_it() {
        let text = large_table(3_000).replace("path: /svc-999\n", "path: svc-999\n");
        assert_eq!(in_parts(&text, 4, SMALL_PART), None);
        let why = RoutesFile::parse(text.as_bytes()).unwrap_err().to_string();
        assert!(
            why.contains("routes[2999]") && why.contains("\"svc-999\""),
            "{why}"
        );
    }

    #[test]
    fn a_second_routes_list_after_a_large_one_is_refused() {
        let text = format!("{}routes: []\n", large_table(3_000));
        assert_eq!(in_parts(&text, 4, SMALL_PART), None);
        assert!(RoutesFile::parse(text.as_bytes()).is_err());
    }

    /// Entries in the forms the block-style reader takes, comments, and (rarer) entries that
    /// stop the read.
    fn entry() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            10 => Just("- path: /a{i}\n  target: http://h\n  auth: false\n"),
            10 => Just("- path: '/b{i}'\n  target: \"http://h\"\n  auth: false\n  methods: []\n"),
            10 => Just("- path: /c{i}\n  target: http://h\n\n  # between fields\n  auth: false\n"),
            10 => Just("- path: /d{i}\n  target: http://h\n  auth: false\n  methods:\n  - GET\n  headers:\n    x-a: b\n"),
            10 => Just("-   path: /e{i}\n    target: http://h\n    auth: false\n    headers:\n"),
            10 => Just("- id: x{i}\n  path: /f{i}\n  target: http://h\n  auth: false\n  timeout: 5 # s\n"),
            4 => Just("# a comment\n"),
            4 => Just("\n"),
            4 => Just("  # an indented comment\n"),
            1 => Just("- path: bad{i}\n  target: http://h\n"),
            1 => Just("- path: /same\n  target: http://h\n  auth: false\n"),
            1 => Just("- path: /g{i}\n  target: http://h\n  auth: false\n  auth: true\n"),
            1 => Just("- path: /h{i}\n  target: http://h\n  auth: false\n  extra: 1\n"),
            1 => Just("- a\n"),
            1 => Just("-\n"),
            1 => Just("- {path: /i{i}, target: 'http://h', auth: false}\n"),
            1 => Just("-\n  path: /j{i}\n  target: http://h\n  auth: false\n"),
        ]
    }

    /// What follows the list: the rest of a file, or (rarer) what stops the read.
    fn after() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            4 => Just(""),
            4 => Just("keys: []\n"),
            4 => Just("keys:\n- sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n"),
            4 => Just("# the end\n"),
            4 => Just("cors:\n  allow_origins:\n  - '*'\n"),
            1 => Just("x: 1\n"),
            1 => Just("routes: []\n"),
            1 => Just("-x: 1\n"),
        ]
    }

    /// Cut at every entry it can be, a list reads as the whole file read in one pass does: the
    /// same table, or no table.
    #[test]
    fn a_list_cut_anywhere_reads_as_in_one_pass() {
        let read = std::sync::atomic::AtomicUsize::new(0);
        let lists = (prop::collection::vec(entry(), 2..24), after(), 2usize..6);
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(500));
        let result = runner.run(&lists, |(entries, after, readers)| {
            let mut text = String::from("version: 1\nroutes:\n");
            for (i, e) in entries.iter().enumerate() {
                text.push_str(&e.replace("{i}", &i.to_string()));
            }
            text.push_str(after);
            let list = RouteList::find(text.as_bytes()).unwrap();
            prop_assume!(list.parts_of_at_least(|| readers, 1).is_some());
            let one_pass = in_one_pass(&text);
            read.fetch_add(usize::from(one_pass.is_some()), Ordering::Relaxed);
            prop_assert_eq!(in_parts(&text, readers, 1), one_pass, "{}", text);
            Ok(())
        });
        result.unwrap();
        let read = read.into_inner();
        assert!(
            read >= 100,
            "only {read} of the generated lists read to a table"
        );
    }
}
