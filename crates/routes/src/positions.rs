//! Where each part of a routes file is written, so that every problem can be reported at
//! `FILE:LINE:COL`, the form editors and CI annotators read. Built only when a file has
//! problems: a valid file never pays for it.

use std::collections::{HashMap, HashSet};

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use crate::problem::{Location, Problem, ProblemKind, Problems};

/// Deeper than this the walk stops (the loader refuses such files anyway): positions are for
/// the problems of plausible files, not a second parser of hostile ones.
const MAX_DEPTH: usize = 256;

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Positions of the nodes of one YAML document, by path: `version`, `routes[2]`,
/// `routes[2].methods`, `routes[2].headers.x-team`, `keys[0].sha256`, `cors.allow_origins`.
#[derive(Debug, Default)]
pub struct Positions {
    nodes: HashMap<String, Position>,
    /// Where each mapping key is written, by the path of its value.
    keys: HashMap<String, Position>,
    /// Keys written twice in one mapping: (path of the mapping, key, the second key's position).
    duplicates: Vec<(String, String, Position)>,
}

impl Positions {
    /// The positions in `text`; empty where the text is not YAML.
    pub fn of(text: &str) -> Positions {
        // Events one by one: `Parser::load` recurses per nesting level, and a hostile file
        // nested deeply enough would overflow the stack (found by the bad-input corpus).
        let mut parser = Parser::new_from_str(text);
        let mut walk = Walk::default();
        while let Ok((event, mark)) = parser.next_token() {
            if event == Event::StreamEnd || walk.stack.len() > MAX_DEPTH {
                break;
            }
            walk.on_event(event, mark);
        }
        walk.positions
    }

    /// Where the node at `path` (or, failing that, the nearest node enclosing it) is written.
    pub fn find(&self, path: &str) -> Option<Position> {
        let mut path = path;
        loop {
            if let Some(&p) = self.nodes.get(path) {
                return Some(p);
            }
            let cut = path.rfind(['.', '['])?;
            path = &path[..cut];
        }
    }

    /// Where `key` is written a second time, in any mapping.
    pub fn duplicate(&self, key: &str) -> Option<Position> {
        self.duplicates
            .iter()
            .find(|(_, k, _)| k == key)
            .map(|(_, _, p)| *p)
    }

    /// Where the key of the field at `path` is written (an unknown field is wrong at its key).
    pub fn key_of(&self, path: &str) -> Option<Position> {
        self.keys.get(path).copied().or_else(|| self.find(path))
    }

    /// Where a problem at `location` is written.
    pub fn of_location(&self, location: &Location) -> Option<Position> {
        self.find(&path_of(location)?)
    }
}

/// The path of a structural location (`routes[2].methods`); `None` for a text position.
fn path_of(location: &Location) -> Option<String> {
    Some(match location {
        Location::Text { .. } => return None,
        Location::Document { field } => field.clone().unwrap_or_default(),
        Location::Route { index, field, .. } => match field {
            Some(field) => format!("routes[{index}].{field}"),
            None => format!("routes[{index}]"),
        },
        Location::Key { index, field } => match field {
            Some(field) => format!("keys[{index}].{field}"),
            None => format!("keys[{index}]"),
        },
    })
}

impl Positions {
    /// Where a problem at `location` is written, the key for `at_key`.
    fn locate(&self, location: &Location, at_key: bool) -> Option<Position> {
        if let Location::Text { line, column } = location {
            return Some(Position {
                line: *line,
                column: *column,
            });
        }
        let path = path_of(location)?;
        if at_key {
            self.key_of(&path)
        } else {
            self.find(&path)
        }
    }
}

/// Gives each problem of `text` its position; a duplicate-key syntax error moves to the second
/// key, and a message naming another route (`like routes[0]`) gains that route's line.
pub fn locate(text: &str, problems: &mut Problems) {
    let positions = Positions::of(text);
    for problem in &mut problems.0 {
        locate_one(&positions, problem);
    }
}

fn locate_one(positions: &Positions, problem: &mut Problem) {
    if let Some(key) = duplicated_key(&problem.message) {
        if let Some(at) = positions.duplicate(key) {
            problem.location = Location::Text {
                line: at.line,
                column: at.column,
            };
        }
    }
    // A field that should not be there, or a header whose name is wrong, is wrong at its key.
    let at_key = match problem.kind {
        ProblemKind::UnknownField | ProblemKind::UnsupportedField => true,
        ProblemKind::BadHeader => !problem.message.starts_with("value"),
        _ => false,
    };
    problem.at = positions
        .locate(&problem.location, at_key)
        .or(Some(Position { line: 1, column: 1 }));
    problem.message = with_lines(&problem.message, positions);
}

/// serde_yaml's `duplicate entry with key "NAME"`.
fn duplicated_key(message: &str) -> Option<&str> {
    let rest = message.split("duplicate entry with key \"").nth(1)?;
    rest.split('"').next()
}

/// `routes[N]` in a message, followed by ` at line L` for the route it names.
fn with_lines(message: &str, positions: &Positions) -> String {
    let mut out = String::with_capacity(message.len() + 16);
    let mut rest = message;
    while let Some(at) = rest.find("routes[") {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let Some(end) = from.find(']') else {
            out.push_str(from);
            return out;
        };
        let reference = &from[..=end];
        // `routes[0] (id one)` stays whole; the line follows it.
        let mut end = end;
        if from[end + 1..].starts_with(" (") {
            if let Some(close) = from[end + 1..].find(')') {
                end += 1 + close;
            }
        }
        out.push_str(&from[..=end]);
        if reference[7..reference.len() - 1]
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            if let Some(p) = positions.find(reference) {
                out.push_str(&format!(" at line {}", p.line));
            }
        }
        rest = &from[end + 1..];
    }
    out.push_str(rest);
    out
}

enum Frame {
    Map {
        path: String,
        /// The key whose value comes next, with its position; `None` when a key comes next.
        key: Option<String>,
        seen: HashSet<String>,
    },
    Seq {
        path: String,
        next: usize,
    },
}

#[derive(Default)]
struct Walk {
    stack: Vec<Frame>,
    positions: Positions,
}

fn child(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

impl Walk {
    /// The path of the node starting now, or `None` for a mapping key (recorded here).
    fn place(&mut self, ev: &Event, at: Position) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { path, next }) => {
                let p = format!("{path}[{next}]");
                *next += 1;
                Some(p)
            }
            Some(Frame::Map { path, key, seen }) => match key.take() {
                Some(k) => Some(child(path, &k)),
                None => {
                    let name = match ev {
                        Event::Scalar(s, ..) => s.clone(),
                        _ => "?".to_owned(),
                    };
                    if seen.is_empty() {
                        // A block mapping starts at its first key (its start event is marked
                        // at the first ':'); a flow one at its '{', which comes first.
                        let start = self.positions.nodes.entry(path.clone()).or_insert(at);
                        if (at.line, at.column) < (start.line, start.column) {
                            *start = at;
                        }
                    }
                    if !seen.insert(name.clone()) {
                        self.positions
                            .duplicates
                            .push((path.clone(), name.clone(), at));
                    }
                    self.positions.keys.entry(child(path, &name)).or_insert(at);
                    self.positions.nodes.entry(child(path, &name)).or_insert(at);
                    *key = Some(name);
                    None
                }
            },
        }
    }
}

impl MarkedEventReceiver for Walk {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let at = Position {
            line: mark.line(),
            column: mark.col() + 1,
        };
        match ev {
            Event::Scalar(..) | Event::Alias(..) => {
                if let Some(path) = self.place(&ev, at) {
                    // A value's position wins over its key's.
                    self.positions.nodes.insert(path, at);
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let path = self.place(&ev, at);
                let is_key = path.is_none();
                let path = path.unwrap_or_else(|| "?".to_owned());
                if !is_key {
                    self.positions.nodes.insert(path.clone(), at);
                }
                self.stack.push(match ev {
                    Event::MappingStart(..) => Frame::Map {
                        path,
                        key: None,
                        seen: HashSet::new(),
                    },
                    _ => Frame::Seq { path, next: 0 },
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "version: 1
routes:
  - path: /a
    target: http://x
    methods: [GET, FETCH]
  - {path: /b, target: 'http://y'}
keys:
  - sha256: abc
";

    #[test]
    fn values_are_found_by_their_path() {
        let p = Positions::of(TEXT);
        assert_eq!(
            p.find("version"),
            Some(Position {
                line: 1,
                column: 10
            })
        );
        assert_eq!(
            p.find("routes[0].methods"),
            Some(Position {
                line: 5,
                column: 14
            })
        );
        assert_eq!(
            p.find("routes[1].target"),
            Some(Position {
                line: 6,
                column: 24
            })
        );
        assert_eq!(
            p.find("keys[0].sha256"),
            Some(Position {
                line: 8,
                column: 13
            })
        );
    }

    #[test]
    fn a_missing_path_falls_back_to_the_nearest_enclosing_node() {
        let p = Positions::of(TEXT);
        assert_eq!(p.find("routes[1].headers.x"), p.find("routes[1]"));
        assert_eq!(p.find("routes[1]"), Some(Position { line: 6, column: 5 }));
    }

    #[test]
    fn a_repeated_key_is_found_at_its_second_occurrence() {
        let p = Positions::of("version: 1\nroutes:\n  - path: /a\n    path: /b\n");
        assert_eq!(p.duplicate("path"), Some(Position { line: 4, column: 5 }));
    }

    #[test]
    fn a_hostile_nesting_depth_stops_the_walk_instead_of_the_stack() {
        let deep: String = (0..100_000)
            .map(|i| format!("{}a:\n", " ".repeat(i % 2)))
            .collect();
        let nested = "- ".repeat(200_000);
        let _ = Positions::of(&deep);
        let _ = Positions::of(&format!("{nested}x\n"));
    }

    #[test]
    fn a_message_naming_another_route_gains_its_line() {
        let p = Positions::of(TEXT);
        assert_eq!(
            with_lines("answers GET /b like routes[1] (id x)", &p),
            "answers GET /b like routes[1] (id x) at line 6"
        );
    }
}
