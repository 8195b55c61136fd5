//! The block-style YAML that passthru-sync and `passthru-proxy fmt` write, read without libyaml.
//! libyaml's scanner was more than half of a large table's reload: it decodes and buffers every
//! character and looks for every construct YAML has. This reader takes only what a canonical
//! file uses (block mappings and sequences, empty `{}` and `[]`, plain and one-line quoted
//! scalars, comments, printable ASCII) and gives up at anything else, so that libyaml reads that
//! file whole instead. Where it reads a file to the end, its events are libyaml's (the tests
//! below hold the two to that, on fixtures and on generated documents).

use std::collections::VecDeque;
use std::ops::Range;

use serde_yaml::Value;

use super::events::{Event, EventSource, Mark, Unsupported};
use super::route_entry::slot;
use super::scalar::resolve_plain;

pub(super) struct BlockEvents<'a> {
    /// Whole lines of a UTF-8 text: every index this reader cuts at is a line's start or an
    /// ASCII byte of a line it has checked, so slicing never splits a character.
    text: &'a str,
    /// Where the next line starts, and its number (1-based) once read.
    next_line: usize,
    line: usize,
    /// The block collections open at the current line, outermost first.
    open: Vec<Open>,
    /// The indent of the mapping whose last key (`key:` and nothing after it) has its value on
    /// the lines below.
    awaiting: Option<usize>,
    queue: VecDeque<(Event, Mark)>,
    started: bool,
    /// Lines another reader reads ([`BlockEvents::skipping`]), and whether they were skipped.
    /// Marks after them are not line-accurate: this reader's marks only ever decide where it
    /// gave up, and a file it gives up on is read again by libyaml.
    skip: Option<Range<usize>>,
    skipped: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Mapping,
    Sequence,
}

#[derive(Debug, Clone, Copy)]
struct Open {
    kind: Kind,
    indent: usize,
}

/// Why this reader gave up; the file goes to libyaml.
const BEYOND: &str = "YAML beyond the block-style subset";

/// libyaml refuses a simple key longer than 1024 characters; this reader leaves long keys to it.
const MAX_KEY: usize = 1000;

impl<'a> BlockEvents<'a> {
    pub fn new(text: &'a str) -> BlockEvents<'a> {
        BlockEvents {
            text,
            next_line: 0,
            line: 0,
            open: Vec::new(),
            awaiting: None,
            queue: VecDeque::new(),
            started: false,
            skip: None,
            skipped: false,
        }
    }

    /// A reader of `text` that jumps over `skip` (whole lines of a top-level list's entries,
    /// read by other readers) when it reaches its start.
    pub fn skipping(text: &'a str, skip: Range<usize>) -> BlockEvents<'a> {
        BlockEvents {
            skip: Some(skip),
            ..BlockEvents::new(text)
        }
    }

    /// A reader of entries of a top-level list cut out of a document: events as if the
    /// document's mapping and the list were open, then closed at the end of `text`.
    pub fn list_entries(text: &'a str) -> BlockEvents<'a> {
        BlockEvents {
            open: vec![
                Open {
                    kind: Kind::Mapping,
                    indent: 0,
                },
                Open {
                    kind: Kind::Sequence,
                    indent: 0,
                },
            ],
            started: true,
            ..BlockEvents::new(text)
        }
    }

    fn beyond(&self, column: usize) -> Unsupported {
        Unsupported {
            mark: self.mark(column),
            why: BEYOND.to_owned(),
        }
    }

    /// Where `column` (0-based) of the current line is; line 1 before any line is read.
    fn mark(&self, column: usize) -> Mark {
        Mark {
            line: self.line.max(1),
            column: column + 1,
        }
    }

    /// Reads lines up to the next one with content and queues its events; at the end of the
    /// text, closes everything.
    fn advance(&mut self) -> Result<(), Unsupported> {
        loop {
            if self.next_line >= self.text.len() {
                return self.finish();
            }
            if self.skip.as_ref().map(|s| s.start) == Some(self.next_line) {
                self.next_line = self.skip.take().map_or(self.next_line, |s| s.end);
                self.skipped = true;
                continue;
            }
            let start = self.next_line;
            let end = memchr::memchr(b'\n', &self.text.as_bytes()[start..])
                .map_or(self.text.len(), |i| start + i);
            self.next_line = end + 1;
            self.line += 1;
            let line = &self.text[start..end];
            // Tabs, carriage returns, control characters and anything beyond ASCII have rules
            // of their own in YAML; libyaml applies them.
            if !line.bytes().all(|b| (b' '..=b'~').contains(&b)) {
                return Err(self.beyond(0));
            }
            let indent = spaces(line);
            let rest = &line[indent..];
            if rest.is_empty() || rest.as_bytes()[0] == b'#' {
                continue;
            }
            return self.content_line(indent, rest);
        }
    }

    fn content_line(&mut self, indent: usize, rest: &str) -> Result<(), Unsupported> {
        let mark = self.mark(indent);
        let entry = is_entry(rest);
        if !self.started {
            if indent != 0 || entry {
                return Err(self.beyond(indent));
            }
            self.started = true;
            self.queue.push_back((Event::DocumentStart, mark));
            self.open_collection(Kind::Mapping, indent, mark);
            return self.key_line(indent, rest);
        }
        if let Some(parent) = self.awaiting.take() {
            if entry && indent >= parent {
                self.open_collection(Kind::Sequence, indent, mark);
            } else if !entry && indent > parent {
                self.open_collection(Kind::Mapping, indent, mark);
                return self.key_line(indent, rest);
            } else {
                // `key:` with nothing below it: an empty plain scalar.
                self.queue.push_back((Event::Scalar(Value::Null), mark));
            }
        }
        while let Some(&top) = self.open.last() {
            let closes = top.indent > indent
                || (top.kind == Kind::Sequence && top.indent == indent && !entry);
            if !closes {
                break;
            }
            self.close_top(mark);
        }
        match self.open.last() {
            Some(top) if top.indent == indent => match (top.kind, entry) {
                (Kind::Sequence, true) => self.entry_line(indent, rest),
                (Kind::Mapping, false) => self.key_line(indent, rest),
                _ => Err(self.beyond(indent)),
            },
            _ => Err(self.beyond(indent)),
        }
    }

    /// `- node`: a scalar, an empty collection, or the first key of a mapping.
    fn entry_line(&mut self, indent: usize, rest: &str) -> Result<(), Unsupported> {
        if rest.len() < 2 {
            return Err(self.beyond(indent));
        }
        let blank = spaces(&rest[2..]);
        let column = indent + 2 + blank;
        let node = &rest[2 + blank..];
        if node.is_empty() || node.starts_with('#') || is_entry(node) {
            return Err(self.beyond(column));
        }
        if let Some((key, colon)) = key(node) {
            self.open_collection(Kind::Mapping, column, self.mark(column));
            return self.key_value(column, node, key, colon);
        }
        self.inline_value(column, node)
    }

    /// `key: value`, or `key:` with the value on the lines below.
    fn key_line(&mut self, column: usize, rest: &str) -> Result<(), Unsupported> {
        let (key, colon) = key(rest).ok_or_else(|| self.beyond(column))?;
        self.key_value(column, rest, key, colon)
    }

    /// The rest of a key line once its key, ending at `rest[colon]`, is read.
    fn key_value(
        &mut self,
        column: usize,
        rest: &str,
        key: Event,
        colon: usize,
    ) -> Result<(), Unsupported> {
        // libyaml measures a simple key from its start to its `:`.
        if colon > MAX_KEY {
            return Err(self.beyond(column));
        }
        self.queue.push_back((key, self.mark(column)));
        let value_at = colon + 1;
        let value = &rest[value_at..];
        let blank = spaces(value);
        let value = &value[blank..];
        if value.is_empty() || value.starts_with('#') {
            self.awaiting = Some(column);
            return Ok(());
        }
        self.inline_value(column + value_at + blank, value)
    }

    /// A value that starts and ends on this line: a scalar or an empty flow collection,
    /// then at most a comment.
    fn inline_value(&mut self, column: usize, value: &str) -> Result<(), Unsupported> {
        let mark = self.mark(column);
        let used = if value.starts_with("{}") {
            self.queue.push_back((Event::MappingStart, mark));
            self.queue.push_back((Event::MappingEnd, mark));
            2
        } else if value.starts_with("[]") {
            self.queue.push_back((Event::SequenceStart, mark));
            self.queue.push_back((Event::SequenceEnd, mark));
            2
        } else {
            let (v, used) = scalar(value).ok_or_else(|| self.beyond(column))?;
            self.queue.push_back((Event::Scalar(v), mark));
            used
        };
        // Events already queued do not matter when this fails: the reader is abandoned.
        if !ends_line(&value[used..]) {
            return Err(self.beyond(column + used));
        }
        Ok(())
    }

    fn open_collection(&mut self, kind: Kind, indent: usize, mark: Mark) {
        self.open.push(Open { kind, indent });
        let event = match kind {
            Kind::Mapping => Event::MappingStart,
            Kind::Sequence => Event::SequenceStart,
        };
        self.queue.push_back((event, mark));
    }

    fn close_top(&mut self, mark: Mark) {
        if let Some(top) = self.open.pop() {
            let event = match top.kind {
                Kind::Mapping => Event::MappingEnd,
                Kind::Sequence => Event::SequenceEnd,
            };
            self.queue.push_back((event, mark));
        }
    }

    fn finish(&mut self) -> Result<(), Unsupported> {
        if !self.started {
            // Only comments, or nothing: libyaml says which.
            return Err(self.beyond(0));
        }
        let mark = self.mark(0);
        if self.awaiting.take().is_some() {
            self.queue.push_back((Event::Scalar(Value::Null), mark));
        }
        while !self.open.is_empty() {
            self.close_top(mark);
        }
        self.queue.push_back((Event::DocumentEnd, mark));
        self.queue.push_back((Event::StreamEnd, mark));
        Ok(())
    }
}

impl EventSource for BlockEvents<'_> {
    fn next(&mut self) -> Result<(Event, Mark), Unsupported> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Ok(event);
            }
            if self.started && self.open.is_empty() {
                // Past the stream's end.
                return Err(self.beyond(0));
            }
            self.advance()?;
        }
    }

    fn skipped(&self) -> bool {
        self.skipped
    }
}

/// `-` followed by a space or nothing: a block sequence entry.
fn is_entry(rest: &str) -> bool {
    rest == "-" || rest.starts_with("- ")
}

/// `:` followed by a space or nothing.
fn is_value_indicator(after: &str) -> bool {
    after == ":" || after.starts_with(": ")
}

fn spaces(s: &str) -> usize {
    s.bytes().take_while(|&b| b == b' ').count()
}

/// Nothing but spaces and a comment (which needs a space before it) to the end of the line.
fn ends_line(rest: &str) -> bool {
    let blank = spaces(rest);
    blank == rest.len() || (blank > 0 && rest.as_bytes()[blank] == b'#')
}

/// A mapping key at the start of `s` (a scalar followed by `: ` or a final `:`), and where its
/// `:` is. A plain key that names a route field is an [`Event::FieldName`].
fn key(s: &str) -> Option<(Event, usize)> {
    let end = plain_end(s);
    if is_value_indicator(&s[end..]) {
        if let Some(field) = slot(&s[..end]) {
            return Some((Event::FieldName(field), end));
        }
    }
    let (key, used) = scalar(s)?;
    let colon = used + spaces(&s[used..]);
    is_value_indicator(&s[colon..]).then_some((Event::Scalar(key), colon))
}

/// The scalar at the start of `s` (plain, single- or double-quoted, on this line) and the bytes
/// it takes; None where this reader leaves the text to libyaml.
fn scalar(s: &str) -> Option<(Value, usize)> {
    match *s.as_bytes().first()? {
        b'\'' => single_quoted(s).map(|(text, used)| (Value::String(text), used)),
        b'"' => double_quoted(s).map(|(text, used)| (Value::String(text), used)),
        b'-' if s.as_bytes().get(1).is_some_and(|&b| b != b' ') => plain(s),
        // Indicators: flow collections, comments, anchors, aliases, tags, block scalars,
        // directives, reserved characters, and `-`, `?`, `:` before a space.
        b'-' | b'?' | b':' | b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!'
        | b'|' | b'>' | b'%' | b'@' | b'`' => None,
        _ => plain(s),
    }
}

/// A plain scalar ends before `: `, a final `:` or ` #`; trailing spaces are not part of it.
fn plain(s: &str) -> Option<(Value, usize)> {
    let end = plain_end(s);
    if end == 0 {
        return None;
    }
    Some((resolve_plain(&s[..end])?, end))
}

/// Where a plain scalar at the start of `s` ends ([`plain`]).
fn plain_end(s: &str) -> usize {
    let s = s.as_bytes();
    let mut end = 0;
    while end < s.len() {
        match s[end] {
            b':' if end + 1 == s.len() || s[end + 1] == b' ' => break,
            b'#' if end > 0 && s[end - 1] == b' ' => break,
            _ => end += 1,
        }
    }
    while end > 0 && s[end - 1] == b' ' {
        end -= 1;
    }
    end
}

/// `'…'` with `''` for a quote.
fn single_quoted(s: &str) -> Option<(String, usize)> {
    let mut text = String::new();
    let mut i = 1;
    loop {
        let close = i + memchr::memchr(b'\'', &s.as_bytes()[i..])?;
        text.push_str(&s[i..close]);
        if s.as_bytes().get(close + 1) == Some(&b'\'') {
            text.push('\'');
            i = close + 2;
        } else {
            return Some((text, close + 1));
        }
    }
}

/// `"…"` with YAML's escapes; an escape this reader does not know is left to libyaml.
fn double_quoted(s: &str) -> Option<(String, usize)> {
    let bytes = s.as_bytes();
    let mut text = String::new();
    let mut i = 1;
    loop {
        match *bytes.get(i)? {
            b'"' => return Some((text, i + 1)),
            b'\\' => {
                let (c, used) = escape(&bytes[i + 1..])?;
                text.push(c);
                i += 1 + used;
            }
            b => {
                text.push(char::from(b));
                i += 1;
            }
        }
    }
}

/// The character an escape (after its `\`) stands for, and the bytes it takes.
fn escape(s: &[u8]) -> Option<(char, usize)> {
    let simple = match *s.first()? {
        b'0' => '\0',
        b'a' => '\x07',
        b'b' => '\x08',
        b't' => '\t',
        b'n' => '\n',
        b'v' => '\x0b',
        b'f' => '\x0c',
        b'r' => '\r',
        b'e' => '\x1b',
        b' ' => ' ',
        b'"' => '"',
        b'/' => '/',
        b'\\' => '\\',
        b'x' => return hex_char(s, 2),
        b'u' => return hex_char(s, 4),
        b'U' => return hex_char(s, 8),
        _ => return None,
    };
    Some((simple, 1))
}

fn hex_char(s: &[u8], digits: usize) -> Option<(char, usize)> {
    let hex = s.get(1..1 + digits)?;
    if !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let code = u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
    Some((char::from_u32(code)?, 1 + digits))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::events::{EventSource, Events};
    use super::*;
    use crate::fields::ROUTE_FIELDS;

    /// The events of `source`, route field names as the strings they stand for.
    fn events(mut source: impl EventSource) -> Result<Vec<Event>, Unsupported> {
        let mut out = Vec::new();
        loop {
            let event = match source.next()?.0 {
                Event::FieldName(slot) => Event::Scalar(Value::String(ROUTE_FIELDS[slot].into())),
                event => event,
            };
            let end = matches!(event, Event::StreamEnd);
            out.push(event);
            if end {
                return Ok(out);
            }
        }
    }

    /// Where the block reader reads `text` to the end, libyaml reads it too, into the same
    /// events. True when the block reader read it.
    fn agrees_with_libyaml(text: &str) -> bool {
        let Ok(block) = events(BlockEvents::new(text)) else {
            return false;
        };
        let libyaml = events(Events::new(text.as_bytes())).unwrap_or_else(|u| {
            panic!("libyaml refuses ({u:?}) what the block reader reads:\n{text}")
        });
        assert_eq!(block, libyaml, "the readers' events differ on\n{text}");
        true
    }

    #[test]
    fn canonical_files_are_read_without_libyaml_as_libyaml_reads_them() {
        let examples = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/routes.yaml"
        ))
        .unwrap();
        let file = crate::RoutesFile::parse(&examples).unwrap();
        assert!(agrees_with_libyaml(&file.render()));
    }

    #[test]
    fn fixtures_the_block_reader_reads_it_reads_as_libyaml_does() {
        let dirs = ["tests/data/valid", "tests/data/invalid"];
        let mut read = 0;
        for dir in dirs {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
            for entry in std::fs::read_dir(&dir).unwrap() {
                let bytes = std::fs::read(entry.unwrap().path()).unwrap();
                if let Ok(text) = std::str::from_utf8(&bytes) {
                    read += usize::from(agrees_with_libyaml(text));
                }
            }
        }
        assert!(read > 10, "the block reader read only {read} fixtures");
    }

    #[test]
    fn keys_libyaml_finds_too_long_are_left_to_it() {
        let padded = format!("version: 1\na{}: b\n", " ".repeat(1100));
        assert!(events(BlockEvents::new(&padded)).is_err());
        assert!(events(Events::new(padded.as_bytes())).is_err());
        let long = format!("version: 1\n{}: b\n", "k".repeat(1100));
        assert!(events(BlockEvents::new(&long)).is_err());
        assert!(agrees_with_libyaml(&format!(
            "version: 1\n{}: b\n",
            "k".repeat(900)
        )));
    }

    #[test]
    fn yaml_beyond_the_subset_is_left_to_libyaml() {
        for text in [
            "version: 1\nroutes: [a]\n",
            "version: 1\nx: &a 1\n",
            "version: 1\nx: |\n  a\n",
            "version: 1\nx: a\n  b\n",
            "version: 1\nx: 'a\n  b'\n",
            "---\nversion: 1\n",
            "version: 1\r\n",
            "version:\t1\n",
            "version: 1\nx: é\n",
            "- a\n",
            "# only a comment\n",
            "version: 1\nx: a: b\n",
            "version: 1\nx:\n-\n  a: 1\n",
        ] {
            assert!(events(BlockEvents::new(text)).is_err(), "{text}");
        }
    }

    fn word() -> impl Strategy<Value = String> {
        "[a-z0-9_./:#'\"\\\\ -]{0,8}"
    }

    fn scalar_text() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[a-z][a-z0-9_./:-]{0,10}",
            2 => word(),
            1 => word().prop_map(|w| format!("'{}'", w.replace('\'', "''"))),
            1 => "[a-z0-9 #:'\\\\-]{0,6}".prop_map(|w| format!("\"{w}\"")),
            1 => prop::sample::select(vec!["~", "600", "'600'", "2.5", "true", "null", "-1", "0x1f", "1e3", "''"])
                .prop_map(str::to_owned),
        ]
    }

    #[derive(Debug, Clone)]
    enum Node {
        Scalar(String),
        Mapping(Vec<(String, Node)>),
        Sequence(Vec<Node>),
    }

    fn node() -> impl Strategy<Value = Node> {
        scalar_text()
            .prop_map(Node::Scalar)
            .prop_recursive(4, 32, 4, |inner| {
                prop_oneof![
                    prop::collection::vec((scalar_text(), inner.clone()), 0..4)
                        .prop_map(Node::Mapping),
                    prop::collection::vec(inner, 0..4).prop_map(Node::Sequence),
                ]
            })
    }

    /// Block style as serde_yaml writes it, with the choices a hand-written file makes too: a
    /// sequence under a key at the key's indent or two deeper, and comments.
    struct Style {
        sequence_deeper: bool,
        comments: bool,
    }

    fn write_entry(
        out: &mut String,
        first: &str,
        indent: usize,
        key: &str,
        value: &Node,
        style: &Style,
    ) {
        let comment = if style.comments { " # c" } else { "" };
        match value {
            Node::Scalar(v) => out.push_str(&format!("{first}{key}: {v}{comment}\n")),
            Node::Mapping(m) if m.is_empty() => out.push_str(&format!("{first}{key}: {{}}\n")),
            Node::Sequence(s) if s.is_empty() => out.push_str(&format!("{first}{key}: []\n")),
            Node::Mapping(m) => {
                out.push_str(&format!("{first}{key}:{comment}\n"));
                write_mapping(out, indent + 2, m, style);
            }
            Node::Sequence(s) => {
                out.push_str(&format!("{first}{key}:\n"));
                let at = if style.sequence_deeper {
                    indent + 2
                } else {
                    indent
                };
                write_sequence(out, at, s, style);
            }
        }
    }

    fn write_mapping(out: &mut String, indent: usize, entries: &[(String, Node)], style: &Style) {
        let pad = " ".repeat(indent);
        for (key, value) in entries {
            write_entry(out, &pad, indent, key, value, style);
        }
    }

    fn write_sequence(out: &mut String, indent: usize, items: &[Node], style: &Style) {
        let pad = " ".repeat(indent);
        for item in items {
            match item {
                Node::Scalar(v) => out.push_str(&format!("{pad}- {v}\n")),
                Node::Mapping(m) if !m.is_empty() => {
                    let first = format!("{pad}- ");
                    write_entry(out, &first, indent + 2, &m[0].0, &m[0].1, style);
                    write_mapping(out, indent + 2, &m[1..], style);
                }
                Node::Mapping(_) => out.push_str(&format!("{pad}- {{}}\n")),
                Node::Sequence(s) if s.is_empty() => out.push_str(&format!("{pad}- []\n")),
                Node::Sequence(s) => {
                    out.push_str(&format!("{pad}-\n"));
                    write_sequence(out, indent + 2, s, style);
                }
            }
        }
    }

    /// One line of a generated document: an indent, a key or an entry, and a value.
    fn line() -> impl Strategy<Value = String> {
        let indent = prop_oneof![Just(0usize), Just(2), Just(4), Just(6), 0usize..8];
        let word = "[a-z0-9_./:#'\"\\\\ -]{0,8}";
        let scalar = prop_oneof![
            word.prop_map(|w| w.to_string()),
            word.prop_map(|w| format!("'{}'", w.replace('\'', "''"))),
            "[a-z0-9 #:'\\\\-]{0,6}".prop_map(|w| format!("\"{w}\"")),
            Just("{}".to_owned()),
            Just("[]".to_owned()),
            Just("~".to_owned()),
            Just("600".to_owned()),
            Just("'600'".to_owned()),
            Just("2.5".to_owned()),
            Just("true".to_owned()),
            Just(String::new()),
        ];
        let comment = prop_oneof![Just(""), Just(" # c"), Just("#c"), Just("  ")];
        (indent, 0..4u8, word, scalar, comment).prop_map(|(indent, shape, key, value, comment)| {
            let pad = " ".repeat(indent);
            match shape {
                0 => format!("{pad}- {value}{comment}"),
                1 => format!("{pad}- {key}: {value}{comment}"),
                2 => format!("{pad}{key}:{comment}"),
                _ => format!("{pad}{key}: {value}{comment}"),
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn generated_block_documents_read_as_libyaml_reads_them(
            entries in prop::collection::vec((scalar_text(), node()), 1..6),
            sequence_deeper in any::<bool>(),
            comments in any::<bool>(),
        ) {
            let mut text = String::from("version: 1\n");
            write_mapping(&mut text, 0, &entries, &Style { sequence_deeper, comments });
            agrees_with_libyaml(&text);
        }

        #[test]
        fn generated_documents_read_as_libyaml_reads_them(lines in prop::collection::vec(line(), 1..12)) {
            let text = format!("version: 1\n{}\n", lines.join("\n"));
            agrees_with_libyaml(&text);
        }
    }
}
