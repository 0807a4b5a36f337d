//! The report `flow run --json` prints, written as it is serialized. Each task
//! record is kept from the moment its task ends as compact JSON text (about
//! 200 bytes for a `noop`, against a few kilobytes as a `serde_json::Value`),
//! and the document is streamed to stdout at the end, re-indented on the way:
//! a run of a million tasks never holds its report as one tree of values.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use serde_json::Value;

use crate::runtime::{Event, Observer, TaskRecord};

/// How much record text a chunk holds: records are appended to the last
/// chunk, so the text grows without copying what it holds. Chunks double
/// from the first size to the last.
const FIRST_CHUNK: usize = 64 << 10;
const CHUNK: usize = 4 << 20;

/// Every task record of a run, as compact JSON, in the order the tasks ended.
#[derive(Default)]
pub(crate) struct TaskLog {
    chunks: Vec<Vec<u8>>,
    /// Each record: when its task started (its place in the report: in the
    /// order they started, those that never did last), its chunk, its offset.
    index: Vec<(u64, u32, u32)>,
    /// Where a record is written before it is copied into a chunk.
    scratch: Vec<u8>,
}

impl TaskLog {
    /// An observer that keeps every record that ends, and the log it fills.
    pub(crate) fn observer() -> (Observer, Arc<Mutex<TaskLog>>) {
        let log = Arc::new(Mutex::new(TaskLog::default()));
        let filled = log.clone();
        let observer: Observer = Arc::new(move |event: &Event| {
            if let (Event::Finished(record), Ok(mut log)) = (event, filled.lock()) {
                log.push(record);
            }
        });
        (observer, log)
    }

    fn push(&mut self, record: &TaskRecord) {
        self.scratch.clear();
        if serde_json::to_writer(&mut self.scratch, record).is_err() {
            return;
        }
        // A chunk is never grown past its capacity (that would copy it).
        let fits = self.chunks.last().is_some_and(|c| {
            c.capacity() - c.len() >= self.scratch.len() && u32::try_from(c.len()).is_ok()
        });
        if !fits {
            self.chunks.push(Vec::with_capacity(
                self.next_chunk().max(self.scratch.len()),
            ));
        }
        let chunk_index = self.chunks.len() - 1;
        let Some(chunk) = self.chunks.last_mut() else {
            return;
        };
        let offset = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
        chunk.extend_from_slice(&self.scratch);
        let started = record.started_at.map_or(u64::MAX, |t| {
            t.duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX - 1))
        });
        let chunk_index = u32::try_from(chunk_index).unwrap_or(u32::MAX);
        self.index.push((started, chunk_index, offset));
    }

    fn next_chunk(&self) -> usize {
        self.chunks
            .last()
            .map_or(FIRST_CHUNK, |c| (c.capacity() * 2).min(CHUNK))
    }

    /// The records in the report's order: by start, ties in the order they ended.
    fn sorted(&mut self) -> impl Iterator<Item = &[u8]> {
        self.index.sort_by_key(|(started, _, _)| *started);
        self.index.iter().map(|&(_, chunk, offset)| {
            let chunk = &self.chunks[chunk as usize];
            let text = &chunk[offset as usize..];
            &text[..record_len(text)]
        })
    }
}

/// The length of the JSON object at the start of `text`.
fn record_len(text: &[u8]) -> usize {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, &b) in text.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    text.len()
}

/// What the report says besides the tasks.
pub(crate) struct Summary<'a> {
    pub status: &'a str,
    pub result: Option<&'a Value>,
    pub usage: Option<Value>,
    pub budget: Option<Value>,
    pub errors: Vec<Value>,
}

/// Writes the report to `out`, as `serde_json::to_writer_pretty` would write
/// the same document (`status`, `result`, `tasks`, `usage` when there is
/// some, `budget` when the run had one, `errors`), and a newline.
pub(crate) fn write(out: impl Write, summary: &Summary, tasks: &mut TaskLog) -> io::Result<()> {
    let mut out = Pretty::new(io::BufWriter::with_capacity(1 << 16, out));
    out.write_all(b"{\"status\":")?;
    serde_json::to_writer(&mut out, summary.status)?;
    out.write_all(b",\"result\":")?;
    serde_json::to_writer(&mut out, &summary.result)?;
    out.write_all(b",\"tasks\":[")?;
    for (i, record) in tasks.sorted().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(record)?;
    }
    out.write_all(b"]")?;
    if let Some(usage) = &summary.usage {
        out.write_all(b",\"usage\":")?;
        serde_json::to_writer(&mut out, usage)?;
    }
    if let Some(budget) = &summary.budget {
        out.write_all(b",\"budget\":")?;
        serde_json::to_writer(&mut out, budget)?;
    }
    out.write_all(b",\"errors\":")?;
    serde_json::to_writer(&mut out, &summary.errors)?;
    out.write_all(b"}")?;
    let mut out = out.into_inner();
    out.write_all(b"\n")?;
    out.flush()
}

/// Turns compact JSON (what `serde_json::to_writer` writes) into what
/// `serde_json::to_writer_pretty` writes for the same value: two spaces an
/// indent, `": "` after a key, `[]` and `{}` when empty. Strings and numbers
/// pass as they are.
pub(crate) struct Pretty<W: Write> {
    out: W,
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// A `[` or `{` just passed: whether it is empty is not known yet.
    opened: bool,
}

impl<W: Write> Pretty<W> {
    pub(crate) fn new(out: W) -> Pretty<W> {
        Pretty {
            out,
            depth: 0,
            in_string: false,
            escaped: false,
            opened: false,
        }
    }

    pub(crate) fn into_inner(self) -> W {
        self.out
    }

    fn newline(&mut self) -> io::Result<()> {
        const SPACES: &[u8] = &[b' '; 64];
        self.out.write_all(b"\n")?;
        let mut left = self.depth * 2;
        while left > 0 {
            let n = left.min(SPACES.len());
            self.out.write_all(&SPACES[..n])?;
            left -= n;
        }
        Ok(())
    }
}

impl<W: Write> Write for Pretty<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Bytes from `run` on pass unchanged, written when something is inserted.
        let mut run = 0;
        for (i, &b) in buf.iter().enumerate() {
            if self.in_string {
                match b {
                    _ if self.escaped => self.escaped = false,
                    b'\\' => self.escaped = true,
                    b'"' => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            if matches!(b, b'}' | b']') {
                self.out.write_all(&buf[run..i])?;
                run = i;
                self.depth = self.depth.saturating_sub(1);
                if !std::mem::take(&mut self.opened) {
                    self.newline()?;
                }
                continue;
            }
            if std::mem::take(&mut self.opened) {
                self.out.write_all(&buf[run..i])?;
                run = i;
                self.newline()?;
            }
            match b {
                b'{' | b'[' => {
                    self.depth += 1;
                    self.opened = true;
                }
                b',' => {
                    self.out.write_all(&buf[run..=i])?;
                    run = i + 1;
                    self.newline()?;
                }
                b':' => {
                    self.out.write_all(&buf[run..=i])?;
                    run = i + 1;
                    self.out.write_all(b" ")?;
                }
                b'"' => self.in_string = true,
                _ => {}
            }
        }
        self.out.write_all(&buf[run..])?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::SystemTime;

    fn pretty(value: &Value) -> String {
        let mut out = Pretty::new(Vec::new());
        // Written a few bytes at a time, as a buffered writer may.
        let compact = serde_json::to_vec(value).unwrap();
        for piece in compact.chunks(3) {
            out.write_all(piece).unwrap();
        }
        String::from_utf8(out.into_inner()).unwrap()
    }

    #[test]
    fn re_indents_as_serde_json_does() {
        let values = [
            json!(null),
            json!([]),
            json!({}),
            json!([[]]),
            json!([{}, [], [[1, 2], {"a": {}}]]),
            json!({"a": 1, "b": [1, 2.5, -3e-7], "c": {"d": "x", "e": []}}),
            json!({"s": "quotes \" and \\ and {[,:]} \u{1} é 😀", "t": "\\"}),
            json!({"k:{": "v,]"}),
            json!([0.1, 1e300, 123_456_789_012_345_678u64, true, false]),
        ];
        for value in values {
            assert_eq!(
                pretty(&value),
                serde_json::to_string_pretty(&value).unwrap()
            );
        }
    }

    #[test]
    fn the_report_is_what_the_document_would_print() {
        let mut log = TaskLog::default();
        let start = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        let mut records = Vec::new();
        // Enough text for several chunks; starts out of order, with ties.
        let starts = (0..4000u64).map(|i| (i, (i * 7919) % 1000));
        for (i, offset) in [(0, 5), (1, 1), (2, 3), (3, 1)].into_iter().chain(starts) {
            let mut r = TaskRecord::new(
                format!("m[{i}]").into(),
                "".into(),
                "sleep".into(),
                crate::runtime::TaskStatus::Succeeded,
                crate::source::Span::default(),
            );
            r.started_at = Some(start + std::time::Duration::from_millis(offset));
            r.ended_at = r.started_at;
            r.duration = Some(std::time::Duration::from_micros(1234));
            let text = format!("a \"b\" {}", "x".repeat((i % 50 * 20) as usize));
            r.output = Some(Arc::new(json!({"n": i, "text": text})));
            records.push(r);
        }
        records.push(TaskRecord::new(
            "".into(),
            "never".into(),
            "sh".into(),
            crate::runtime::TaskStatus::Skipped,
            crate::source::Span::default(),
        ));
        for r in &records {
            log.push(r);
        }
        assert!(log.chunks.len() > 3, "{} chunks", log.chunks.len());
        let summary = Summary {
            status: "succeeded",
            result: Some(&json!([1, 2])),
            usage: Some(json!({"total_tokens": 3})),
            budget: Some(json!({"tokens": 10})),
            errors: vec![json!({"code": "x"})],
        };
        let mut out = Vec::new();
        write(&mut out, &summary, &mut log).unwrap();
        let mut tasks: Vec<&TaskRecord> = records.iter().collect();
        tasks.sort_by_key(|t| (t.started_at.is_none(), t.started_at));
        let doc = json!({
            "status": "succeeded",
            "result": [1, 2],
            "tasks": tasks.iter().map(|t| t.to_json()).collect::<Vec<_>>(),
            "usage": {"total_tokens": 3},
            "budget": {"tokens": 10},
            "errors": [{"code": "x"}],
        });
        let want = serde_json::to_string_pretty(&doc).unwrap() + "\n";
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }
}
