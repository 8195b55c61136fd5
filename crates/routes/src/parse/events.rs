//! libyaml's parser, pulled one event at a time. serde_yaml runs the same parser but keeps every
//! event of the document (about 100 bytes each, plus a copy of each scalar) before it builds
//! anything: 500 MB for a million keys. Here each event is turned into what it means and
//! dropped, so the streaming read ([`super::stream`]) holds only the table it builds.

use std::ffi::CStr;

use serde_yaml::Value;
use unsafe_libyaml as unsafe_sys;

use super::scalar::resolve_plain;

/// One event, scalars already resolved as serde_yaml resolves them.
#[derive(Debug, PartialEq)]
pub(super) enum Event {
    Scalar(Value),
    /// A plain scalar mapping key that is the name of a route field, `ROUTE_FIELDS[i]`: the
    /// string that name resolves to, given by its place instead of copied, since a large table
    /// has about ten of these per route. Only the block-style reader gives these.
    FieldName(usize),
    SequenceStart,
    SequenceEnd,
    MappingStart,
    MappingEnd,
    DocumentStart,
    DocumentEnd,
    StreamEnd,
}

/// Where an event starts, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Mark {
    pub line: usize,
    pub column: usize,
}

/// Why the streaming read stopped: YAML it does not take (it leaves such files to the
/// `Value` reader), with where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Unsupported {
    pub mark: Mark,
    pub why: String,
}

/// A document's events, one at a time: libyaml's ([`Events`]) or the block-style reader's
/// ([`super::block_events::BlockEvents`]).
pub(super) trait EventSource {
    /// The next event, skipping the stream's start; YAML the source does not take (anchors,
    /// aliases, tags, a syntax error, …) is [`Unsupported`].
    fn next(&mut self) -> Result<(Event, Mark), Unsupported>;

    /// Whether the source has jumped over the part of the text that other readers read
    /// ([`super::block_events::BlockEvents::skipping`]).
    fn skipped(&self) -> bool {
        false
    }
}

pub(super) struct Events<'a> {
    /// Boxed: libyaml keeps pointers into its own parser struct, which must not move.
    parser: Box<unsafe_sys::yaml_parser_t>,
    _input: &'a [u8],
}

impl<'a> Events<'a> {
    pub fn new(input: &'a [u8]) -> Events<'a> {
        // SAFETY: initialised in place before any other use; the input outlives the parser
        // (the `'a` borrow); deleted once, in Drop.
        unsafe {
            let parser: Box<std::mem::MaybeUninit<unsafe_sys::yaml_parser_t>> =
                Box::new(std::mem::MaybeUninit::uninit());
            let raw = Box::into_raw(parser).cast::<unsafe_sys::yaml_parser_t>();
            if unsafe_sys::yaml_parser_initialize(raw).fail {
                drop(Box::from_raw(
                    raw.cast::<std::mem::MaybeUninit<unsafe_sys::yaml_parser_t>>(),
                ));
                panic!("libyaml could not allocate its parser");
            }
            unsafe_sys::yaml_parser_set_encoding(raw, unsafe_sys::YAML_UTF8_ENCODING);
            unsafe_sys::yaml_parser_set_input_string(raw, input.as_ptr(), input.len() as u64);
            Events {
                parser: Box::from_raw(raw),
                _input: input,
            }
        }
    }
}

impl EventSource for Events<'_> {
    /// Anchors, aliases and tags are [`Unsupported`], as is a syntax error.
    fn next(&mut self) -> Result<(Event, Mark), Unsupported> {
        loop {
            let mut event = std::mem::MaybeUninit::<unsafe_sys::yaml_event_t>::uninit();
            // SAFETY: the parser is initialised; the event is read only after a successful
            // parse and deleted before the next one.
            unsafe {
                let parser: *mut unsafe_sys::yaml_parser_t = &mut *self.parser;
                if unsafe_sys::yaml_parser_parse(parser, event.as_mut_ptr()).fail {
                    return Err(self.error());
                }
                let event = event.as_mut_ptr();
                let mark = Mark {
                    line: (*event).start_mark.line as usize + 1,
                    column: (*event).start_mark.column as usize + 1,
                };
                let converted = convert(&*event);
                unsafe_sys::yaml_event_delete(event);
                match converted {
                    Ok(None) => continue,
                    Ok(Some(e)) => return Ok((e, mark)),
                    Err(why) => {
                        return Err(Unsupported {
                            mark,
                            why: why.to_owned(),
                        })
                    }
                }
            }
        }
    }
}

impl Events<'_> {
    fn error(&self) -> Unsupported {
        let problem = if self.parser.problem.is_null() {
            "invalid YAML".to_owned()
        } else {
            // SAFETY: libyaml's problem strings are static NUL-terminated literals.
            unsafe { CStr::from_ptr(self.parser.problem) }
                .to_string_lossy()
                .into_owned()
        };
        let at = self.parser.problem_mark;
        Unsupported {
            mark: Mark {
                line: at.line as usize + 1,
                column: at.column as usize + 1,
            },
            why: problem,
        }
    }
}

impl Drop for Events<'_> {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, deleted only here.
        unsafe { unsafe_sys::yaml_parser_delete(&mut *self.parser) }
    }
}

/// `Ok(None)` for events with no meaning here (the stream's start).
///
/// # Safety
/// `event` must be a live event returned by `yaml_parser_parse`.
unsafe fn convert(event: &unsafe_sys::yaml_event_t) -> Result<Option<Event>, &'static str> {
    Ok(Some(match event.type_ {
        unsafe_sys::YAML_STREAM_START_EVENT => return Ok(None),
        unsafe_sys::YAML_STREAM_END_EVENT => Event::StreamEnd,
        unsafe_sys::YAML_DOCUMENT_START_EVENT => Event::DocumentStart,
        unsafe_sys::YAML_DOCUMENT_END_EVENT => Event::DocumentEnd,
        unsafe_sys::YAML_ALIAS_EVENT => return Err(ANCHOR),
        unsafe_sys::YAML_SCALAR_EVENT => {
            let s = unsafe { &event.data.scalar };
            untagged(s.anchor, s.tag)?;
            let bytes: &[u8] = if s.length == 0 {
                &[]
            } else {
                unsafe { std::slice::from_raw_parts(s.value, s.length as usize) }
            };
            let text = std::str::from_utf8(bytes).map_err(|_| "text that is not UTF-8")?;
            if s.style == unsafe_sys::YAML_PLAIN_SCALAR_STYLE {
                Event::Scalar(resolve_plain(text).ok_or("integers beyond 64 bits")?)
            } else {
                Event::Scalar(Value::String(text.to_owned()))
            }
        }
        unsafe_sys::YAML_SEQUENCE_START_EVENT => {
            let s = unsafe { &event.data.sequence_start };
            untagged(s.anchor, s.tag)?;
            Event::SequenceStart
        }
        unsafe_sys::YAML_SEQUENCE_END_EVENT => Event::SequenceEnd,
        unsafe_sys::YAML_MAPPING_START_EVENT => {
            let m = unsafe { &event.data.mapping_start };
            untagged(m.anchor, m.tag)?;
            Event::MappingStart
        }
        unsafe_sys::YAML_MAPPING_END_EVENT => Event::MappingEnd,
        _ => return Err("an event libyaml does not document"),
    }))
}

const ANCHOR: &str = "anchors and aliases";

/// A node without an anchor or a tag.
fn untagged(anchor: *const u8, tag: *const u8) -> Result<(), &'static str> {
    if !anchor.is_null() {
        return Err(ANCHOR);
    }
    if !tag.is_null() {
        return Err("tags");
    }
    Ok(())
}
