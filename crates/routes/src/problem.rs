//! What is wrong with a routes file, and where.

use std::fmt;

/// Where a problem is: a position in the YAML text, or a place in the document's structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// 1-based line and column in the file.
    Text { line: usize, column: usize },
    /// The document itself, or one of its top-level fields.
    Document { field: Option<String> },
    /// A route, by its index in the file (0-based, as written), with its id and path when known.
    Route {
        index: usize,
        id: Option<String>,
        path: Option<String>,
        field: Option<String>,
    },
    /// An entry of `keys:`.
    Key { index: usize, field: Option<String> },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Text { line, column } => write!(f, "line {line}, column {column}"),
            Location::Document { field: None } => f.write_str("document"),
            Location::Document { field: Some(field) } => write!(f, "field `{field}`"),
            Location::Route {
                index,
                id,
                path,
                field,
            } => {
                write!(f, "routes[{index}]")?;
                match (id, path) {
                    (Some(id), Some(path)) => write!(f, " (id {id}, path {path})")?,
                    (Some(id), None) => write!(f, " (id {id})")?,
                    (None, Some(path)) => write!(f, " (path {path})")?,
                    (None, None) => {}
                }
                if let Some(field) = field {
                    write!(f, " field `{field}`")?;
                }
                Ok(())
            }
            Location::Key { index, field } => {
                write!(f, "keys[{index}]")?;
                if let Some(field) = field {
                    write!(f, " field `{field}`")?;
                }
                Ok(())
            }
        }
    }
}

/// The kind of a problem, for callers (and tests) that act on it; the message says the details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// Zero bytes, only whitespace, or only comments: never read as "no routes".
    Empty,
    NotUtf8,
    /// The text is not valid YAML (or repeats a key, or nests or aliases too deeply).
    Syntax,
    WrongType,
    MissingField,
    UnknownField,
    /// A LiteLLM field that passthru deliberately does not implement.
    UnsupportedField,
    BadVersion,
    BadId,
    BadPath,
    BadTarget,
    BadHeader,
    BadMethod,
    BadTimeout,
    BadQueryParam,
    BadKeyHash,
    BadExpiry,
    /// A key's `allow` or `deny` list is too long or holds an unusable entry.
    BadGrant,
    /// A `cors` policy that is malformed or unsafe.
    BadCors,
    DuplicateId,
    /// Two routes would answer the same (path, method).
    Conflict,
    DuplicateKey,
}

/// One thing wrong with a routes file: what, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub kind: ProblemKind,
    pub location: Location,
    pub message: String,
    /// Where in the file, when the problem came from a file's text (`FILE:LINE:COL`).
    pub at: Option<crate::positions::Position>,
}

impl Problem {
    pub fn new(kind: ProblemKind, location: Location, message: impl Into<String>) -> Problem {
        let at = match &location {
            Location::Text { line, column } => Some(crate::positions::Position {
                line: *line,
                column: *column,
            }),
            // A problem of the whole document is at its start.
            Location::Document { field: None } => {
                Some(crate::positions::Position { line: 1, column: 1 })
            }
            _ => None,
        };
        Problem {
            kind,
            location,
            message: message.into(),
            at,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Every problem found in one routes file. A file with any problem is rejected whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn iter(&self) -> std::slice::Iter<'_, Problem> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "{n} problem{} in routes file",
            if n == 1 { "" } else { "s" }
        )?;
        for problem in &self.0 {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

impl<'a> IntoIterator for &'a Problems {
    type Item = &'a Problem;
    type IntoIter = std::slice::Iter<'a, Problem>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}
