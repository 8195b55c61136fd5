//! Reading a routes file: every problem at once, each located, or a validated [`RoutesFile`].
//! The bytes become a YAML document here; each part of the document has its own module.

mod block_events;
mod document;
mod events;
mod key_entry;
mod route_entry;
mod route_list;
mod route_maps;
mod scalar;
mod stream;
mod yaml;

use serde_yaml::Value;

use crate::cors::Cors;
use crate::positions::locate;
use crate::problem::{Location, Problem, ProblemKind, Problems};
use crate::routes_file::RoutesFile;

pub(crate) use document::TOP_FIELDS;
pub(crate) use key_entry::KEY_FIELDS;
pub use route_entry::{KEY_HEADER_FIELD, LITELLM_ONLY_FIELDS};
pub(crate) use route_maps::RESERVED_HEADERS;

/// Files up to this size that have a problem are read a second time, into a `serde_yaml::Value`
/// tree, so that every problem is reported at its line and column. That tree takes about 17 times
/// the file's size; a larger file is refused at the problems the streaming read found.
pub const LOCATED_ERRORS_MAX_BYTES: usize = 64 << 20;

impl RoutesFile {
    /// Parses and validates a routes file. Any problem rejects the whole file; all of them are
    /// reported. A file with no content is an error, distinct from `routes: []`.
    ///
    /// A valid file is read in one streaming pass ([`stream`]). A file that pass stops at is read
    /// again into a `Value` tree, which reports every problem located (up to
    /// [`LOCATED_ERRORS_MAX_BYTES`]); both readers give the same table for a file both accept.
    pub fn parse(bytes: &[u8]) -> Result<RoutesFile, Problems> {
        let text = text_check(bytes)?;
        // The streaming pass needs no nesting bound of its own: it stops at the first collection
        // deeper than a routes file needs, long before libyaml's scanner gets slow.
        let stopped = match stream::parse_streaming(text) {
            Ok(file) => return Ok(file),
            Err(stopped) => stopped,
        };
        nesting_check(bytes)?;
        if bytes.len() > LOCATED_ERRORS_MAX_BYTES {
            return Err(stopped.into_problems());
        }
        read_value(bytes)
    }

    /// The streaming reader alone: a table only where it reads the file whole and finds no
    /// problem. Public for the test that holds the two readers to the same tables.
    #[doc(hidden)]
    pub fn parse_streamed(bytes: &[u8]) -> Result<RoutesFile, Problems> {
        let text = text_check(bytes)?;
        stream::parse_streaming(text).map_err(stream::Stopped::into_problems)
    }

    /// The `Value` reader alone: every problem of the file, each located. Public for the test
    /// that holds the two readers to the same tables.
    #[doc(hidden)]
    pub fn parse_located(bytes: &[u8]) -> Result<RoutesFile, Problems> {
        text_check(bytes)?;
        nesting_check(bytes)?;
        read_value(bytes)
    }
}

/// No content, or bytes that are not UTF-8; else the text.
fn text_check(bytes: &[u8]) -> Result<&str, Problems> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(one(
            ProblemKind::Empty,
            Location::Document { field: None },
            "the file is empty; an empty table is written `version: 1` and `routes: []`",
        ));
    }
    std::str::from_utf8(bytes).map_err(|e| {
        let (line, column) = line_column(bytes, e.valid_up_to());
        one(
            ProblemKind::NotUtf8,
            Location::Text { line, column },
            "the file is not UTF-8 text",
        )
    })
}

/// Flow collections nested deeper than libyaml's scanner handles in linear time, checked before
/// the `Value` reader runs.
fn nesting_check(bytes: &[u8]) -> Result<(), Problems> {
    if let Some((line, column)) = crate::nesting::too_deep(bytes) {
        return Err(one(
            ProblemKind::Syntax,
            Location::Text { line, column },
            format!(
                "flow collections ([ and {{) nest deeper than {} levels; write the table out plainly",
                crate::nesting::MAX_FLOW_DEPTH
            ),
        ));
    }
    Ok(())
}

fn read_value(bytes: &[u8]) -> Result<RoutesFile, Problems> {
    let doc: Value = serde_yaml::from_slice(bytes).map_err(|e| {
        let location = match e.location() {
            Some(l) => Location::Text {
                line: l.line(),
                column: l.column(),
            },
            None => Location::Document { field: None },
        };
        let mut message = strip_location(&e.to_string());
        if message.contains("repetition limit") || message.contains("recursion limit") {
            message.push_str(
                ": aliases or nesting expand too far (an alias bomb?); write the table out plainly",
            );
        }
        let mut problems = one(ProblemKind::Syntax, location, message);
        locate(
            std::str::from_utf8(bytes).unwrap_or_default(),
            &mut problems,
        );
        problems
    })?;
    document::parse_document(&doc).map_err(|mut problems| {
        locate(
            std::str::from_utf8(bytes).unwrap_or_default(),
            &mut problems,
        );
        problems
    })
}

fn one(kind: ProblemKind, location: Location, message: impl Into<String>) -> Problems {
    Problems(vec![Problem::new(kind, location, message)])
}

fn line_column(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = offset
        - before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1)
        + 1;
    (line, column)
}

/// serde_yaml appends " at line L column C"; the location is reported on its own.
fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// A header name that carries a client's key: valid, lower-cased; Err says why not.
fn key_header_name(name: &str) -> Result<String, String> {
    match http::HeaderName::from_bytes(name.as_bytes()) {
        Ok(h) => Ok(h.as_str().to_owned()),
        Err(_) => Err(format!("{name:?} is not a valid header name")),
    }
}

/// A `cors` policy (the file's or a route's); each problem goes to `report` with the field it
/// is at (`cors`, or `cors.FIELD`).
fn parse_cors(value: Option<&Value>, mut report: impl FnMut(&str, String)) -> Option<Cors> {
    match value {
        None | Some(Value::Null) => None,
        Some(value) => match Cors::from_value(value) {
            Ok(cors) => Some(cors),
            Err(found) => {
                for (field, why) in found {
                    let field = if field.is_empty() {
                        "cors".to_owned()
                    } else {
                        format!("cors.{field}")
                    };
                    report(&field, why);
                }
                None
            }
        },
    }
}
