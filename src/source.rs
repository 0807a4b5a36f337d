//! Source text and byte spans: what every later stage points into.

use std::fmt;
use std::sync::{Arc, OnceLock};

/// A half-open byte range `start..end` into one source text.
///
/// Offsets are `u32`: scripts are capped well below 4 GiB (`MAX_SOURCE_BYTES`),
/// and a small span keeps every AST node small.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    /// The first byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

/// The largest script Flow reads, in bytes (16 MiB).
pub const MAX_SOURCE_BYTES: usize = 16 * 1024 * 1024;

impl Span {
    /// The span of bytes `start..end`.
    pub fn new(start: usize, end: usize) -> Span {
        debug_assert!(start <= end, "span start {start} after end {end}");
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    /// An empty span at `offset`.
    pub fn at(offset: usize) -> Span {
        Span::new(offset, offset)
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    /// Its length in bytes.
    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    /// Whether it covers no byte.
    pub fn is_empty(self) -> bool {
        self.start == self.end
    }

    /// The byte range, to slice the text with.
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    /// Whether `inner` lies within `self`.
    pub fn contains(self, inner: Span) -> bool {
        self.start <= inner.start && inner.end <= self.end
    }

    /// The span moved inside `text` and widened to whole characters, so
    /// that slicing `text` with it cannot panic.
    pub fn snapped(self, text: &str) -> Span {
        let start = floor_char_boundary(text, self.start as usize);
        let end = ceil_char_boundary(text, (self.end as usize).max(start));
        Span::new(start, end)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

impl From<Span> for miette::SourceSpan {
    fn from(span: Span) -> Self {
        // miette spans are (offset, length); ours are (start, end).
        (span.start as usize, span.len()).into()
    }
}

/// A named source text: a file, a REPL entry, or a string handed to the engine.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// The name diagnostics show: a path, `<repl>`.
    pub name: Arc<str>,
    /// The whole text.
    pub text: Arc<str>,
    /// Where its lines start, found on first use (see [`Lines`]).
    lines: Arc<OnceLock<Lines>>,
}

/// Where the lines of a text start, found once: placing each of thousands
/// of diagnostics must not scan the text from its start again.
#[derive(Debug)]
struct Lines {
    /// The offset of every `\n`.
    newlines: Vec<u32>,
    /// The offset where each line starts when `\r\n`, a lone `\r` and `\n`
    /// all end one (as miette counts lines), the first at 0.
    starts: Vec<u32>,
}

impl Lines {
    fn of(text: &str) -> Lines {
        let bytes = text.as_bytes();
        let mut newlines = Vec::new();
        let mut starts = vec![0];
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                b'\n' => {
                    newlines.push(i as u32);
                    starts.push(i as u32 + 1);
                }
                b'\r' if bytes.get(i + 1) != Some(&b'\n') => starts.push(i as u32 + 1),
                _ => {}
            }
        }
        Lines { newlines, starts }
    }
}

/// Why [`read_shared`] gave no text.
#[cfg(feature = "cli")]
#[derive(Debug)]
pub enum ReadError {
    /// Reading failed.
    Io(std::io::Error),
    /// The bytes are not UTF-8: the first bad one is at this offset.
    NotUtf8 { valid_up_to: usize },
}

/// Reads `len` bytes, all a reader has, straight into the shared buffer a
/// [`SourceFile`] holds: no second buffer, no copy (`Arc<str>` from a
/// `String` makes both: for a 3.7 MB script, 1–9 ms of fresh memory and
/// copying before the parse). `None` when the reader has more or fewer
/// bytes than `len` (a file that changed since its size was read): the
/// caller then reads it the plain way.
#[cfg(feature = "cli")]
pub fn read_shared(
    reader: &mut impl std::io::Read,
    len: usize,
) -> Result<Option<Arc<str>>, ReadError> {
    let mut zeroed = Arc::<[u8]>::new_uninit_slice(len);
    let unique = Arc::get_mut(&mut zeroed).expect("a new Arc is unique");
    unique.fill(std::mem::MaybeUninit::new(0));
    // SAFETY: every byte of the slice was just set to zero, a valid `u8`.
    #[allow(unsafe_code)]
    let mut bytes = unsafe { zeroed.assume_init() };
    let buffer = Arc::get_mut(&mut bytes).expect("a new Arc is unique");
    match reader.read_exact(buffer) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(ReadError::Io(e)),
    }
    match reader.read(&mut [0u8]) {
        Ok(0) => {}
        Ok(_) => return Ok(None),
        Err(e) => return Err(ReadError::Io(e)),
    }
    if let Err(e) = std::str::from_utf8(&bytes) {
        return Err(ReadError::NotUtf8 {
            valid_up_to: e.valid_up_to(),
        });
    }
    // SAFETY: the bytes were just checked to be UTF-8, and `str` has the
    // layout of `[u8]`, so the pointer `into_raw` gives is one `from_raw`
    // takes back as the same allocation.
    #[allow(unsafe_code)]
    let text = unsafe { Arc::from_raw(Arc::into_raw(bytes) as *const str) };
    Ok(Some(text))
}

impl SourceFile {
    /// A source file with this name and text.
    pub fn new(name: impl Into<Arc<str>>, text: impl Into<Arc<str>>) -> SourceFile {
        SourceFile {
            name: name.into(),
            text: text.into(),
            lines: Arc::default(),
        }
    }

    fn lines(&self) -> &Lines {
        self.lines.get_or_init(|| Lines::of(&self.text))
    }

    /// The 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: u32) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset as usize);
        let newlines = &self.lines().newlines;
        let line = newlines.partition_point(|&n| (n as usize) < offset);
        let line_start = line.checked_sub(1).map_or(0, |i| newlines[i] as usize + 1);
        let column = self.text[line_start..offset].chars().count() + 1;
        (line + 1, column)
    }

    /// Where to start reading `lines_before` lines above the line holding
    /// `offset`, counting lines as miette does: the offset of that line's
    /// start, and how many lines come before it.
    pub(crate) fn lines_above(&self, offset: usize, lines_before: usize) -> (usize, usize) {
        let starts = &self.lines().starts;
        let line = starts
            .partition_point(|&s| s as usize <= offset)
            .saturating_sub(1);
        let first = line.saturating_sub(lines_before);
        (starts[first] as usize, first)
    }

    /// The text a span covers.
    pub fn slice(&self, span: Span) -> &str {
        self.text.get(span.range()).unwrap_or("")
    }
}

/// The last character boundary of `text` at or before `offset` (its end if
/// `offset` is past it). A byte offset computed by arithmetic or found by
/// another tool (pest, a search for an ASCII byte then `+ 1`) goes through
/// this or [`ceil_char_boundary`] before it slices a `str`.
pub fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// The first character boundary of `text` at or after `offset` (its end if
/// `offset` is past it).
pub fn ceil_char_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset += 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_lines_and_characters() {
        let src = SourceFile::new("t.flow", "ab\ncé d\n");
        assert_eq!(src.line_col(0), (1, 1));
        assert_eq!(src.line_col(3), (2, 1));
        // `d` is after a two-byte character: byte 7, character column 4.
        assert_eq!(src.line_col(7), (2, 4));
        assert_eq!(src.line_col(100), (3, 1));
    }

    #[test]
    fn offsets_and_spans_snap_to_whole_characters() {
        let text = "a é 😀";
        // `é` is bytes 2..4, `😀` bytes 5..9.
        assert_eq!(floor_char_boundary(text, 3), 2);
        assert_eq!(ceil_char_boundary(text, 3), 4);
        assert_eq!(floor_char_boundary(text, 7), 5);
        assert_eq!(ceil_char_boundary(text, 7), 9);
        assert_eq!(floor_char_boundary(text, 100), 9);
        assert_eq!(Span::new(3, 6).snapped(text), Span::new(2, 9));
        assert_eq!(Span::new(50, 60).snapped(text), Span::new(9, 9));
    }

    #[cfg(feature = "cli")]
    #[test]
    fn a_text_is_read_whole_into_the_shared_buffer_or_not_at_all() {
        let read = |bytes: &[u8], len| read_shared(&mut &bytes[..], len);
        let text = read("let x = 1\n".as_bytes(), 10).unwrap().unwrap();
        assert_eq!(&*text, "let x = 1\n");
        // More or fewer bytes than its size said: the caller reads it again.
        assert!(read(b"let x = 12\n", 10).unwrap().is_none());
        assert!(read(b"let x\n", 10).unwrap().is_none());
        // The first byte that is not UTF-8.
        match read(b"ab\xffcd", 5) {
            Err(ReadError::NotUtf8 { valid_up_to }) => assert_eq!(valid_up_to, 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn spans_join_and_contain() {
        let a = Span::new(2, 5);
        let b = Span::new(4, 9);
        assert_eq!(a.to(b), Span::new(2, 9));
        assert!(a.to(b).contains(a));
        assert!(!a.contains(b));
    }
}
