//! The report `flow run --json` prints, written as it is serialized. Each task
//! record is kept from the moment its task ends as compact JSON text (about
//! 200 bytes for a `noop`, against a few kilobytes as a `serde_json::Value`):
//! in memory up to [`MEMORY_MAX`] bytes, then in a temporary file (unlinked
//! as soon as it is made, so nothing is left behind, even by a `kill -9`),
//! with only a 24-byte index entry per task in memory. The document is
//! streamed to stdout at the end, the records in the order their tasks
//! started, re-indented on the way: a run of a million tasks never holds its
//! report in memory, neither as a tree of values nor as text.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use serde_json::Value;

use crate::runtime::{Event, Observer, TaskRecord};

/// How much record text is kept in memory before it goes to a file.
const MEMORY_MAX: usize = 16 << 20;

/// Every task record of a run, as compact JSON, in the order the tasks ended.
pub(crate) struct TaskLog {
    /// The records while they fit in [`TaskLog::limit`] bytes.
    memory: Vec<u8>,
    /// Then every record, those that were in memory first.
    file: Option<BufWriter<File>>,
    limit: usize,
    /// Bytes of record text so far: where the next record starts.
    length: u64,
    /// Each record: when its task started (its place in the report: in the
    /// order they started, those that never did last), where it starts, its length.
    index: Vec<(u64, u64, u32)>,
    /// Where a record is written before it is stored.
    scratch: Vec<u8>,
    /// Why the file could not be written: the report fails with it.
    failed: Option<io::Error>,
}

impl Default for TaskLog {
    fn default() -> TaskLog {
        TaskLog::with_limit(MEMORY_MAX)
    }
}

impl TaskLog {
    /// A log that keeps up to `limit` bytes of records in memory.
    fn with_limit(limit: usize) -> TaskLog {
        TaskLog {
            memory: Vec::new(),
            file: None,
            limit,
            length: 0,
            index: Vec::new(),
            scratch: Vec::new(),
            failed: None,
        }
    }

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
        if serde_json::to_writer(&mut self.scratch, record).is_err() || self.failed.is_some() {
            return;
        }
        let Ok(len) = u32::try_from(self.scratch.len()) else {
            return;
        };
        if self.file.is_none() && self.memory.len() + self.scratch.len() > self.limit {
            // Too much for memory: everything goes to a file from now on.
            // A file that cannot be made leaves the records in memory.
            if let Some(mut file) = spill_file() {
                match file.write_all(&self.memory) {
                    Ok(()) => {
                        self.memory = Vec::new();
                        self.file = Some(file);
                    }
                    Err(e) => self.failed = Some(e),
                }
            }
        }
        let stored = match &mut self.file {
            Some(file) => file.write_all(&self.scratch),
            None => {
                self.memory.extend_from_slice(&self.scratch);
                Ok(())
            }
        };
        if let Err(e) = stored {
            self.failed = Some(e);
            return;
        }
        let started = record.started_at.map_or(u64::MAX, |t| {
            t.duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX - 1))
        });
        self.index.push((started, self.length, len));
        self.length += u64::from(len);
    }

    /// Calls `each` with every record in the report's order: by start, ties
    /// in the order they ended.
    fn each_sorted(&mut self, mut each: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        if let Some(e) = self.failed.take() {
            return Err(io::Error::new(
                e.kind(),
                format!("the task records could not be kept in a temporary file: {e}"),
            ));
        }
        self.index.sort_by_key(|(started, _, _)| *started);
        let Some(file) = self.file.take() else {
            for &(_, at, len) in &self.index {
                let at = at as usize;
                each(&self.memory[at..at + len as usize])?;
            }
            return Ok(());
        };
        let mut file = file.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.seek(SeekFrom::Start(0))?;
        // Records mostly start in the order they ended: mostly a plain read on.
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let mut position = 0u64;
        let mut text = Vec::new();
        for &(_, at, len) in &self.index {
            if at != position {
                reader.seek_relative(at as i64 - position as i64)?;
            }
            text.resize(len as usize, 0);
            reader.read_exact(&mut text)?;
            position = at + u64::from(len);
            each(&text)?;
        }
        Ok(())
    }
}

/// A new temporary file, already unlinked: it goes when it is closed.
fn spill_file() -> Option<BufWriter<File>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("flow-json-{}-{n}", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .ok()?;
    let _ = std::fs::remove_file(&path);
    Some(BufWriter::with_capacity(1 << 16, file))
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
    let mut first = true;
    tasks.each_sorted(|record| {
        if !std::mem::take(&mut first) {
            out.write_all(b",")?;
        }
        out.write_all(record)
    })?;
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
        // Starts out of order, with ties.
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
        // In memory, and in a file from the first few records on.
        let mut spilled = TaskLog::with_limit(1000);
        for r in &records {
            log.push(r);
            spilled.push(r);
        }
        assert!(log.file.is_none() && spilled.file.is_some());
        let summary = Summary {
            status: "succeeded",
            result: Some(&json!([1, 2])),
            usage: Some(json!({"total_tokens": 3})),
            budget: Some(json!({"tokens": 10})),
            errors: vec![json!({"code": "x"})],
        };
        let mut out = Vec::new();
        write(&mut out, &summary, &mut log).unwrap();
        let mut from_file = Vec::new();
        write(&mut from_file, &summary, &mut spilled).unwrap();
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
        assert_eq!(String::from_utf8(from_file).unwrap(), want);
    }
}
