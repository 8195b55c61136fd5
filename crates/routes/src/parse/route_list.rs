//! Where a block-style `routes:` list lies in a file, entry by entry, so that a large one can be
//! read in parts on several threads. Found by looking at the first bytes of lines only: the
//! readers check everything else, and a file this scan misjudges is read whole, in one pass.

use std::ops::Range;

/// The `routes:` list of a block-style file: a `routes:` line at column 0, then lines at
/// column 0 that open an entry (`- …`), between lines that are indented, blank or comments.
pub(super) struct RouteList {
    /// Where each entry's `- ` line starts.
    entries: Vec<usize>,
    /// Where the first line after the list starts (the text's length at the end of the text).
    end: usize,
}

/// The parts after the first of a list cut for several readers.
pub(super) struct Parts {
    /// The bytes of every part but the first, which the reader of the first part skips.
    pub skipped: Range<usize>,
    /// Each part after the first: its bytes, whole entries, and how many entries it holds.
    pub parts: Vec<(Range<usize>, usize)>,
}

/// A part is at least this long: below it, a thread costs more than it saves.
pub(super) const MIN_PART_BYTES: usize = 256 << 10;

impl RouteList {
    /// The `routes:` list of `text`, if it is written as passthru-sync writes it.
    pub fn find(text: &[u8]) -> Option<RouteList> {
        const KEY: &[u8] = b"routes:\n";
        let key = if text.starts_with(KEY) {
            0
        } else {
            memchr::memmem::find(text, b"\nroutes:\n")? + 1
        };
        let first = key + KEY.len();
        // Where each line after `routes:` starts.
        let lines = std::iter::once(first)
            .chain(memchr::memchr_iter(b'\n', &text[first..]).map(|i| first + i + 1))
            .filter(|&line| line < text.len());
        let mut entries = Vec::new();
        for line in lines {
            match text[line] {
                b'-' if matches!(text.get(line + 1), None | Some(b' ' | b'\n')) => {
                    entries.push(line)
                }
                b' ' | b'#' | b'\n' => {}
                _ => return Some(RouteList { entries, end: line }),
            }
        }
        Some(RouteList {
            entries,
            end: text.len(),
        })
    }

    /// How many entries the list has.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The list cut into up to `readers` parts of about equal size, each at least
    /// [`MIN_PART_BYTES`]; `None` where one part is all there is.
    /// `readers` is asked only of a list long enough for two parts.
    pub fn parts(&self, readers: impl FnOnce() -> usize) -> Option<Parts> {
        self.parts_of_at_least(readers, MIN_PART_BYTES)
    }

    pub(super) fn parts_of_at_least(
        &self,
        readers: impl FnOnce() -> usize,
        min_bytes: usize,
    ) -> Option<Parts> {
        let start = *self.entries.first()?;
        let most = (self.end - start) / min_bytes;
        if most < 2 {
            return None;
        }
        let n = readers().min(most);
        if n < 2 {
            return None;
        }
        // The entry each part starts at; the first part starts at the first entry.
        let mut firsts: Vec<usize> = (1..n)
            .map(|k| {
                let at = start + (self.end - start) * k / n;
                self.entries.partition_point(|&e| e < at)
            })
            .filter(|&i| i < self.entries.len())
            .collect();
        firsts.dedup();
        let (&first, _) = firsts.split_first()?;
        let ends = firsts.iter().skip(1).copied().map(Some).chain([None]);
        let parts = firsts
            .iter()
            .zip(ends)
            .map(|(&from, to)| {
                let end = to.map_or(self.end, |to| self.entries[to]);
                let count = to.unwrap_or(self.entries.len()) - from;
                (self.entries[from]..end, count)
            })
            .collect();
        Some(Parts {
            skipped: self.entries[first]..self.end,
            parts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(n: usize) -> String {
        let mut text = String::from("version: 1\nroutes:\n");
        for i in 0..n {
            text.push_str(&format!(
                "- path: /svc-{i}\n  # a comment\n\n  target: http://h\n"
            ));
        }
        text.push_str("keys:\n- sha256: x\n");
        text
    }

    #[test]
    fn the_list_ends_at_the_next_line_at_column_zero_that_is_no_entry() {
        let text = list(3);
        let found = RouteList::find(text.as_bytes()).unwrap();
        assert_eq!(found.len(), 3);
        assert!(text[found.end..].starts_with("keys:\n"));
    }

    #[test]
    fn parts_are_whole_entries_that_cover_the_rest_of_the_list() {
        let text = list(50_000);
        let found = RouteList::find(text.as_bytes()).unwrap();
        let parts = found.parts(|| 4).unwrap();
        assert_eq!(parts.parts.len(), 3);
        assert_eq!(parts.parts[0].0.start, parts.skipped.start);
        assert_eq!(parts.parts.last().unwrap().0.end, parts.skipped.end);
        for pair in parts.parts.windows(2) {
            assert_eq!(pair[0].0.end, pair[1].0.start);
        }
        for (range, count) in &parts.parts {
            assert!(text[range.clone()].starts_with("- path: /svc-"));
            assert_eq!(text[range.clone()].matches("\n- ").count() + 1, *count);
        }
        let first_part = found.entries.iter().filter(|&&e| e < parts.skipped.start);
        let counted: usize = parts.parts.iter().map(|(_, c)| c).sum();
        assert_eq!(first_part.count() + counted, 50_000);
    }

    #[test]
    fn a_small_list_or_one_reader_is_one_part() {
        let text = list(100);
        assert!(RouteList::find(text.as_bytes())
            .unwrap()
            .parts(|| 4)
            .is_none());
        let text = list(50_000);
        assert!(RouteList::find(text.as_bytes())
            .unwrap()
            .parts(|| 1)
            .is_none());
    }

    #[test]
    fn a_small_list_asks_nothing_of_the_readers() {
        let text = list(100);
        let found = RouteList::find(text.as_bytes()).unwrap();
        assert!(found.parts(|| unreachable!("asked")).is_none());
    }

    #[test]
    fn a_file_that_ends_at_the_key_has_an_empty_list() {
        let found = RouteList::find(b"version: 1\nroutes:\n").unwrap();
        assert_eq!(found.len(), 0);
        assert!(found.parts(|| 4).is_none());
    }

    #[test]
    fn a_list_not_written_in_block_style_is_not_found() {
        assert!(RouteList::find(b"version: 1\nroutes: []\n").is_none());
        assert!(RouteList::find(b"{version: 1, routes: []}\n").is_none());
    }
}
