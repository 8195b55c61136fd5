//! The streaming reader: libyaml's events turned into the table as they come, one route or key
//! at a time. Each entry becomes a small `Value` that the same checks as the `Value` reader's
//! read and drop, so a valid file costs its bytes plus the table being built, never a tree of
//! the whole document (which took 1 GB for 800,000 keys, 17 times the file).
//!
//! It reads the YAML that passthru-sync writes and people write by hand. Anchors, aliases, tags,
//! a field given twice, more than one document and very deep nesting stop it: the `Value` reader
//! takes over, as it does whenever a file has a problem, so every problem is reported by one
//! reader, located, in one wording.

use serde_yaml::{Mapping, Value};

use crate::problem::{Location, Problem, ProblemKind, Problems};
use crate::routes_file::RoutesFile;

use super::block_events::BlockEvents;
use super::document::{
    assemble, check_top_fields, only_comments, read_lists, read_settings, Entries,
};
use super::events::{Event, EventSource, Events, Mark, Unsupported};

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

/// Reads `text` (UTF-8, not empty) into a validated table.
///
/// The block-style YAML that passthru-sync and `fmt` write is read without libyaml, several times
/// faster ([`BlockEvents`]); a file that reader gives up on, or finds any problem in, is read
/// again by libyaml, so what is reported about a file is always libyaml's reading of it.
pub(super) fn parse_streaming(text: &[u8]) -> Result<RoutesFile, Stopped> {
    match read(BlockEvents::new(text), text) {
        Ok(file) => Ok(file),
        Err(_) => read(Events::new(text), text),
    }
}

fn read(mut events: impl EventSource, text: &[u8]) -> Result<RoutesFile, Stopped> {
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
    loop {
        let (event, key_mark) = events.next()?;
        if matches!(event, Event::MappingEnd) {
            break;
        }
        let key = value(&mut events, event, key_mark, 1)?;
        let (event, mark) = events.next()?;
        let list = match (key.as_str(), &event) {
            (Some("routes"), Event::SequenceStart) => Some(true),
            (Some("keys"), Event::SequenceStart) => Some(false),
            _ => None,
        };
        let field = match list {
            Some(routes) => {
                if !routes {
                    entries.keys.items.reserve_exact(count_keys(text));
                }
                let mut index = 0;
                loop {
                    let (event, mark) = events.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    let item = value(&mut events, event, mark, 2)?;
                    if routes {
                        entries.add_route(index, &item, &mut entry_problems);
                    } else {
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
    match events.next()? {
        (Event::DocumentEnd, _) => {}
        (_, mark) => return Err(unsupported(mark, "content after the document").into()),
    }
    match events.next()? {
        (Event::StreamEnd, _) => {}
        (_, mark) => return Err(unsupported(mark, "more than one document").into()),
    }
    let mut problems = Vec::new();
    check_top_fields(&top, &mut problems);
    problems.append(&mut entry_problems);
    read_lists(&top, &mut entries, &mut problems);
    let settings = read_settings(&top, &mut problems);
    assemble(entries, settings, problems).map_err(Stopped::Problems)
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
        let bad_entry = b"version: 1\nroutes:\n- {path: /a, target: 'http://h', auth: false}\n- {path: b, target: 'http://h'}\n";
        let why = parse_streaming(bad_entry)
            .unwrap_err()
            .into_problems()
            .to_string();
        assert!(
            why.contains("routes[1]") && why.contains("field `path`"),
            "{why}"
        );

        let alias = b"version: 1\nroutes:\n- &r {path: /a, target: 'http://h', auth: false}\n";
        let why = parse_streaming(alias)
            .unwrap_err()
            .into_problems()
            .to_string();
        assert!(why.contains("line 3, column 3"), "{why}");
        assert!(
            why.contains("anchors and aliases") && why.contains("over 64 MiB"),
            "{why}"
        );

        let syntax = b"version: 1\nroutes: [\n";
        let why = parse_streaming(syntax)
            .unwrap_err()
            .into_problems()
            .to_string();
        assert!(why.contains("line "), "{why}");
    }
}
