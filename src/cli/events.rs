//! `flow run --events FILE`: the run as it happens, one JSON object a line
//! (NDJSON), schema version [`VERSION`] (docs/events.md). The observer makes
//! each line on the scheduler and hands it to a writer thread through a
//! channel: the run never waits for the file or the pipe, and each line is
//! flushed as soon as it is written (lines that arrive together, together).

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime};

use serde_json::{json, Map, Value};

use crate::runtime::{Event, Observer, Retry, TaskRecord, TaskStatus};

/// The schema version every line carries as `"v"`.
pub const VERSION: u32 = 1;

/// A task's value is in its `task_finished` line when its JSON is at most
/// this long; else the line says how long it is (`value_bytes`).
pub const VALUE_MAX: usize = 1024;

/// The tasks counted by how they ended, as `run_finished` reports them.
const STATUSES: [TaskStatus; 6] = [
    TaskStatus::Succeeded,
    TaskStatus::Cached,
    TaskStatus::Failed,
    TaskStatus::TimedOut,
    TaskStatus::Cancelled,
    TaskStatus::Skipped,
];

/// Where `--events` writes: `-` is stdout.
pub fn to_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// An open event stream.
pub struct EventStream {
    lines: mpsc::Sender<Vec<u8>>,
    writer: JoinHandle<io::Result<()>>,
    shared: Arc<Shared>,
    path: PathBuf,
}

/// What the observer and the end of the run share.
struct Shared {
    counts: [AtomicU64; STATUSES.len()],
    retries: AtomicU64,
    clock: Instant,
}

impl EventStream {
    /// Opens (creates or truncates) `path`, or stdout for `-`, and starts the writer.
    pub fn open(path: &Path) -> Result<EventStream, String> {
        let out: Box<dyn Write + Send> = if to_stdout(path) {
            Box::new(io::stdout())
        } else {
            let file = std::fs::File::create(path)
                .map_err(|e| format!("cannot write the event stream `{}`: {e}", path.display()))?;
            Box::new(file)
        };
        let (lines, received) = mpsc::channel::<Vec<u8>>();
        let writer = std::thread::Builder::new()
            .name("flow-events".into())
            .spawn(move || write_lines(&received, out))
            .map_err(|e| format!("cannot start the event stream's writer: {e}"))?;
        Ok(EventStream {
            lines,
            writer,
            shared: Arc::new(Shared {
                counts: Default::default(),
                retries: AtomicU64::new(0),
                clock: Instant::now(),
            }),
            path: path.to_path_buf(),
        })
    }

    fn send(&self, line: Map<String, Value>) {
        send(&self.lines, line);
    }

    /// `run_started`: the run's id in the store (when recorded), the script, the params.
    pub fn run_started(&self, run: Option<i64>, script: &str, params: &[(String, Value)]) {
        let mut line = head("run_started");
        line.insert("run".into(), json!(run));
        line.insert("script".into(), json!(script));
        let params: Map<String, Value> = params.iter().cloned().collect();
        line.insert("params".into(), Value::Object(params));
        line.insert("pid".into(), json!(std::process::id()));
        self.send(line);
    }

    /// The observer that turns task events into lines.
    pub fn observer(&self) -> Observer {
        let lines = self.lines.clone();
        let shared = self.shared.clone();
        Arc::new(move |event: &Event| match event {
            Event::Started { id, agent } => {
                let mut line = head("task_started");
                line.insert("id".into(), json!(id));
                line.insert("agent".into(), json!(agent));
                line.insert("attempt".into(), json!(1));
                send(&lines, line);
            }
            Event::Retrying(retry) => {
                shared.retries.fetch_add(1, Ordering::Relaxed);
                send(&lines, retried(retry));
            }
            Event::Finished(record) => {
                if let Some(i) = STATUSES.iter().position(|s| *s == record.status) {
                    shared.counts[i].fetch_add(1, Ordering::Relaxed);
                }
                send(&lines, finished(record));
            }
        })
    }

    /// `run_finished`, the last line; then waits for every line to be
    /// written. An error says why the stream stopped (a closed pipe is no
    /// error: its reader has what it wanted).
    pub fn finish(self, end: RunEnd<'_>) -> Result<(), String> {
        let mut line = head("run_finished");
        line.insert("run".into(), json!(end.run));
        line.insert("status".into(), json!(end.status));
        line.insert("exit_code".into(), json!(end.exit_code));
        let wall = self.shared.clock.elapsed();
        line.insert("wall_ms".into(), json!(millis(wall.as_secs_f64())));
        let mut counts = Map::new();
        let mut tasks = 0;
        for (status, count) in STATUSES.iter().zip(&self.shared.counts) {
            let count = count.load(Ordering::Relaxed);
            tasks += count;
            counts.insert(status.as_str().into(), json!(count));
        }
        line.insert("tasks".into(), json!(tasks));
        line.insert("counts".into(), Value::Object(counts));
        line.insert(
            "retries".into(),
            json!(self.shared.retries.load(Ordering::Relaxed)),
        );
        if let Some(usage) = end.usage {
            line.insert("usage".into(), usage);
        }
        line.insert("result".into(), end.result.cloned().unwrap_or(Value::Null));
        line.insert("errors".into(), Value::Array(end.errors));
        self.send(line);
        drop(self.lines);
        match self.writer.join() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
            Ok(Err(e)) => Err(format!(
                "the event stream `{}` stopped: {e}",
                self.path.display()
            )),
            Err(_) => Err(format!(
                "the event stream `{}` stopped unexpectedly",
                self.path.display()
            )),
        }
    }
}

/// How the run ended, for `run_finished`.
pub struct RunEnd<'a> {
    pub run: Option<i64>,
    /// `succeeded`, `failed`, `cancelled`; `invalid` when the script did not compile.
    pub status: &'a str,
    pub exit_code: u8,
    pub usage: Option<Value>,
    pub result: Option<&'a Value>,
    pub errors: Vec<Value>,
}

impl RunEnd<'_> {
    /// The end of a run whose script did not compile (`errors`: its diagnostics).
    pub fn invalid(exit_code: u8, errors: Vec<Value>) -> RunEnd<'static> {
        RunEnd {
            run: None,
            status: "invalid",
            exit_code,
            usage: None,
            result: None,
            errors,
        }
    }
}

/// A line's first fields: the schema version, the event, the time.
fn head(event: &str) -> Map<String, Value> {
    let mut line = Map::new();
    line.insert("v".into(), json!(VERSION));
    line.insert("event".into(), json!(event));
    line.insert("time".into(), json!(time(SystemTime::now())));
    line
}

fn send(lines: &mpsc::Sender<Vec<u8>>, line: Map<String, Value>) {
    let mut text = serde_json::to_vec(&line).unwrap_or_default();
    text.push(b'\n');
    // The writer has stopped (a closed pipe): the run goes on without it.
    let _ = lines.send(text);
}

fn time(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

fn millis(seconds: f64) -> f64 {
    (seconds * 1e6).round() / 1e3
}

/// `task_retried`: an attempt failed and another follows.
fn retried(retry: &Retry) -> Map<String, Value> {
    let mut line = head("task_retried");
    let a = &retry.ended;
    line.insert("id".into(), json!(retry.id));
    line.insert("agent".into(), json!(&*retry.agent));
    line.insert("attempt".into(), json!(retry.attempt));
    line.insert("status".into(), json!(a.status.as_str()));
    line.insert("started_at".into(), json!(time(a.started_at)));
    line.insert("ended_at".into(), json!(time(a.ended_at)));
    let took = a.ended_at.duration_since(a.started_at).unwrap_or_default();
    line.insert("duration_ms".into(), json!(millis(took.as_secs_f64())));
    line.insert("exit_code".into(), json!(a.exit_code));
    line.insert("error".into(), json!(a.error));
    line.insert("next_attempt".into(), json!(retry.attempt + 1));
    line.insert(
        "retry_in_ms".into(),
        json!(millis(retry.backoff.as_secs_f64())),
    );
    line
}

/// `task_finished`, `task_failed` or `task_skipped`, by how the task ended.
fn finished(record: &TaskRecord) -> Map<String, Value> {
    let event = match record.status {
        TaskStatus::Succeeded | TaskStatus::Cached => "task_finished",
        TaskStatus::Skipped => "task_skipped",
        _ => "task_failed",
    };
    let mut line = head(event);
    line.insert("id".into(), json!(record.id()));
    line.insert("agent".into(), json!(&*record.agent));
    line.insert("status".into(), json!(record.status.as_str()));
    line.insert("attempts".into(), json!(record.attempts));
    line.insert("started_at".into(), json!(record.started_at.map(time)));
    line.insert("ended_at".into(), json!(record.ended_at.map(time)));
    let ms = record.duration.map(|d| millis(d.as_secs_f64()));
    line.insert("duration_ms".into(), json!(ms));
    if let Some(error) = &record.error {
        line.insert("error".into(), json!(error));
    }
    if let Some(output) = &record.output {
        if is_small(output) {
            line.insert("value".into(), (**output).clone());
        } else {
            let bytes = serde_json::to_vec(&**output).map_or(0, |t| t.len());
            line.insert("value_bytes".into(), json!(bytes));
        }
    }
    if let Some(usage) = &record.usage {
        line.insert("usage".into(), usage.clone());
    }
    if let Some(run) = record.reused_from {
        line.insert("reused_from".into(), json!(run));
    }
    line
}

/// Whether the value's JSON is at most [`VALUE_MAX`] bytes (a big value is
/// not written out whole to find out: writing stops past the limit).
fn is_small(value: &Value) -> bool {
    struct Bounded(Vec<u8>);
    impl Write for Bounded {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.0.len() + buf.len() > VALUE_MAX {
                return Err(io::Error::other("too long"));
            }
            self.0.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    serde_json::to_writer(Bounded(Vec::new()), value).is_ok()
}

/// The writer thread: each line as it comes; flushed whenever no other line
/// is waiting, so a reader sees every line at once.
fn write_lines(received: &mpsc::Receiver<Vec<u8>>, out: Box<dyn Write + Send>) -> io::Result<()> {
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    while let Ok(line) = received.recv() {
        out.write_all(&line)?;
        while let Ok(line) = received.try_recv() {
            out.write_all(&line)?;
        }
        out.flush()?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_kept_and_big_ones_measured() {
        assert!(is_small(&json!({"a": 1})));
        let big = json!("x".repeat(VALUE_MAX));
        assert!(!is_small(&big));
        let mut record = TaskRecord::new(
            "t".into(),
            "".into(),
            "sh".into(),
            TaskStatus::Succeeded,
            crate::source::Span::default(),
        );
        record.output = Some(Arc::new(big));
        let line = finished(&record);
        assert_eq!(line["event"], "task_finished");
        assert!(line.get("value").is_none());
        assert_eq!(line["value_bytes"], VALUE_MAX + 2);
    }
}
