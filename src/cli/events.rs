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

use serde::Serialize;
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
    lines: mpsc::Sender<Line>,
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
        let (lines, received) = mpsc::channel::<Line>();
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

    /// The observer that hands task events to the writer, which makes
    /// their lines: the scheduler only copies what a line needs.
    pub fn observer(&self) -> Observer {
        let lines = self.lines.clone();
        let shared = self.shared.clone();
        Arc::new(move |event: &Event| {
            let time = SystemTime::now();
            let line = match event {
                Event::Started { id, agent, .. } => Line::Started {
                    time,
                    id: id.clone(),
                    agent: (*agent).into(),
                },
                Event::Retrying(retry) => {
                    shared.retries.fetch_add(1, Ordering::Relaxed);
                    Line::Retried {
                        time,
                        retry: Box::new((*retry).clone()),
                    }
                }
                Event::Finished(record) => {
                    if let Some(i) = STATUSES.iter().position(|s| *s == record.status) {
                        shared.counts[i].fetch_add(1, Ordering::Relaxed);
                    }
                    Line::Ended {
                        time,
                        task: Box::new(Ended::of(record)),
                    }
                }
                // How many tasks became known: for the progress display, not the stream.
                Event::Planned { .. } => return,
            };
            // The writer has stopped (a closed pipe): the run goes on without it.
            let _ = lines.send(line);
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

fn send(lines: &mpsc::Sender<Line>, line: Map<String, Value>) {
    let mut text = serde_json::to_vec(&line).unwrap_or_default();
    text.push(b'\n');
    let _ = lines.send(Line::Text(text));
}

fn time(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

fn millis(seconds: f64) -> f64 {
    (seconds * 1e6).round() / 1e3
}

/// What the writer is handed: a line made already (the run's first and
/// last), or what a task event's line is made of.
enum Line {
    Text(Vec<u8>),
    Started {
        time: SystemTime,
        id: String,
        agent: Arc<str>,
    },
    Retried {
        time: SystemTime,
        retry: Box<Retry>,
    },
    Ended {
        time: SystemTime,
        task: Box<Ended>,
    },
}

/// What the line of a task that ended says (a value is shared, not copied).
struct Ended {
    id: String,
    agent: Arc<str>,
    status: TaskStatus,
    attempts: u32,
    started_at: Option<SystemTime>,
    ended_at: Option<SystemTime>,
    duration: Option<std::time::Duration>,
    error: Option<String>,
    output: Option<crate::runtime::Val>,
    usage: Option<Value>,
    reused_from: Option<i64>,
}

impl Ended {
    fn of(record: &TaskRecord) -> Ended {
        Ended {
            id: record.id(),
            agent: record.agent.clone(),
            status: record.status,
            attempts: record.attempts,
            started_at: record.started_at,
            ended_at: record.ended_at,
            duration: record.duration,
            error: record.error.clone(),
            output: record.output.clone(),
            usage: record.usage.clone(),
            reused_from: record.reused_from,
        }
    }
}

/// A time as the lines write it: RFC 3339, UTC, milliseconds.
struct Time(SystemTime);

impl Serialize for Time {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&humantime::format_rfc3339_millis(self.0))
    }
}

#[derive(Serialize)]
struct StartedLine<'a> {
    v: u32,
    event: &'static str,
    time: Time,
    id: &'a str,
    agent: &'a str,
    attempt: u32,
}

#[derive(Serialize)]
struct RetriedLine<'a> {
    v: u32,
    event: &'static str,
    time: Time,
    id: &'a str,
    agent: &'a str,
    attempt: u32,
    status: &'static str,
    started_at: Time,
    ended_at: Time,
    duration_ms: f64,
    exit_code: Option<i32>,
    error: Option<&'a str>,
    next_attempt: u32,
    retry_in_ms: f64,
}

#[derive(Serialize)]
struct EndedLine<'a> {
    v: u32,
    event: &'static str,
    time: Time,
    id: &'a str,
    agent: &'a str,
    status: &'static str,
    attempts: u32,
    started_at: Option<Time>,
    ended_at: Option<Time>,
    duration_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reused_from: Option<i64>,
}

/// Writes the line `line` stands for, and its newline.
fn render(line: &Line, out: &mut impl Write) -> io::Result<()> {
    match line {
        Line::Text(text) => return out.write_all(text),
        Line::Started { time, id, agent } => {
            let line = StartedLine {
                v: VERSION,
                event: "task_started",
                time: Time(*time),
                id,
                agent,
                attempt: 1,
            };
            serde_json::to_writer(&mut *out, &line)?;
        }
        Line::Retried { time, retry } => {
            let a = &retry.ended;
            let took = a.ended_at.duration_since(a.started_at).unwrap_or_default();
            let line = RetriedLine {
                v: VERSION,
                event: "task_retried",
                time: Time(*time),
                id: &retry.id,
                agent: &retry.agent,
                attempt: retry.attempt,
                status: a.status.as_str(),
                started_at: Time(a.started_at),
                ended_at: Time(a.ended_at),
                duration_ms: millis(took.as_secs_f64()),
                exit_code: a.exit_code,
                error: a.error.as_deref(),
                next_attempt: retry.attempt + 1,
                retry_in_ms: millis(retry.backoff.as_secs_f64()),
            };
            serde_json::to_writer(&mut *out, &line)?;
        }
        Line::Ended { time, task } => {
            let event = match task.status {
                TaskStatus::Succeeded | TaskStatus::Cached => "task_finished",
                TaskStatus::Skipped => "task_skipped",
                _ => "task_failed",
            };
            let output = task.output.as_deref();
            let small = output.filter(|v| is_small(v));
            let value_bytes = match (output, small) {
                (Some(value), None) => Some(serde_json::to_vec(value).map_or(0, |t| t.len())),
                _ => None,
            };
            let line = EndedLine {
                v: VERSION,
                event,
                time: Time(*time),
                id: &task.id,
                agent: &task.agent,
                status: task.status.as_str(),
                attempts: task.attempts,
                started_at: task.started_at.map(Time),
                ended_at: task.ended_at.map(Time),
                duration_ms: task.duration.map(|d| millis(d.as_secs_f64())),
                error: task.error.as_deref(),
                value: small,
                value_bytes,
                usage: task.usage.as_ref(),
                reused_from: task.reused_from,
            };
            serde_json::to_writer(&mut *out, &line)?;
        }
    }
    out.write_all(b"\n")
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
fn write_lines(received: &mpsc::Receiver<Line>, out: Box<dyn Write + Send>) -> io::Result<()> {
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    while let Ok(line) = received.recv() {
        render(&line, &mut out)?;
        while let Ok(line) = received.try_recv() {
            render(&line, &mut out)?;
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
        let line = |record: &TaskRecord| {
            let ended = Line::Ended {
                time: SystemTime::UNIX_EPOCH,
                task: Box::new(Ended::of(record)),
            };
            let mut text = Vec::new();
            render(&ended, &mut text).unwrap();
            assert_eq!(text.iter().filter(|&&b| b == b'\n').count(), 1);
            serde_json::from_slice::<Value>(&text).unwrap()
        };
        let big = line(&record);
        assert_eq!(big["event"], "task_finished");
        assert_eq!(big["time"], "1970-01-01T00:00:00.000Z");
        assert!(big.get("value").is_none());
        assert_eq!(big["value_bytes"], VALUE_MAX + 2);
        record.output = Some(Arc::new(json!({"a": [1, "<b>"]})));
        record.status = TaskStatus::Failed;
        record.error = Some("no".into());
        let small = line(&record);
        assert_eq!(small["event"], "task_failed");
        assert_eq!(small["value"], json!({"a": [1, "<b>"]}));
        assert_eq!(small["error"], "no");
        assert!(small.get("value_bytes").is_none() && small.get("usage").is_none());
    }
}
