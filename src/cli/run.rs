//! `flow run`: compile, run with live progress, print the result.

mod begin;

use std::io::IsTerminal;
use std::path::PathBuf;

use serde_json::Value;

use crate::diag::Code;
use tokio_util::sync::CancellationToken;

use std::sync::Arc;

use super::progress::{Mode, Progress};
use super::{compile_file, exit, json_report, print_diagnostics};
use crate::engine::Engine;
use crate::runtime::{RunOptions, RunStatus, TaskStatus};
use crate::store::{Store, StoreApprover, StoreWorker};

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The script to run (`-`: read it from standard input).
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) exec: ExecArgs,
    /// Print one JSON document (status, result, tasks) instead of the result.
    #[arg(long)]
    json: bool,
    /// Re-use the result of every task whose inputs match a task that
    /// completed in an earlier run: the latest run of this script, or
    /// `--resume RUN`.
    #[arg(long, value_name = "RUN", num_args = 0..=1, default_missing_value = "latest")]
    resume: Option<String>,
    /// Say, for each task, whether it ran or was re-used, and why (after the run, on stderr).
    #[arg(long)]
    explain: bool,
    /// Keep every `llm` and `http` request and reply in the run store, for `--replay`.
    #[arg(long, conflicts_with = "replay")]
    record: bool,
    /// Answer every `llm` and `http` call from a recording, without the
    /// network: the latest `--record` run of this script, or `--replay RUN`.
    #[arg(long, value_name = "RUN", num_args = 0..=1, default_missing_value = "latest")]
    replay: Option<String>,
    /// Run the whole graph with every agent call answered by a stub of the
    /// shape it declares (an `llm` with a `schema:` gives a minimal value
    /// that follows it, `sh` with `output: "lines"` gives [], others a
    /// `"<dry run: NAME>"` placeholder): no command runs, no request is sent.
    /// Not recorded in the run store.
    #[arg(long, conflicts_with_all = ["resume", "record", "replay", "explain"])]
    dry_run: bool,
    #[command(flatten)]
    outputs: super::outputs::OutputArgs,
    /// The script, once the arguments are settled (see [`RunArgs::settle`]).
    #[arg(skip)]
    script: PathBuf,
}

impl RunArgs {
    /// `flow run --resume x.flow` reads `x.flow` as the run to resume (the
    /// value is optional): a value that is no run number, with no script
    /// given, is the script, and the latest run is resumed.
    fn settle(&mut self) -> Result<(), String> {
        if self.file.is_none() {
            for flag in [&mut self.resume, &mut self.replay] {
                let Some(value) = flag.take() else { continue };
                if value != "latest" && value.parse::<i64>().is_err() {
                    self.file = Some(PathBuf::from(value));
                    *flag = Some("latest".to_string());
                    break;
                }
                *flag = Some(value);
            }
        }
        match self.file.take() {
            Some(file) => {
                self.script = file;
                Ok(())
            }
            None => {
                Err("`flow run` needs a script: `flow run FILE` (`-` reads it from stdin)".into())
            }
        }
    }
}

/// The options `flow run` and `flow repl` share.
#[derive(clap::Args, Debug, Default)]
pub struct ExecArgs {
    /// Set a `param` the script declares: NAME=VALUE. The value takes the type
    /// of the param's default: a string param keeps the text as written
    /// (`1.10` stays "1.10"), a number param needs a number, a boolean one
    /// `true` or `false`, a list or object one JSON of that kind; with a
    /// `null` default the text is read as JSON when it parses, else as a
    /// string. Wins over `--params-file`.
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,
    /// Set many params from a JSON object or a TOML table (by its extension:
    /// `.toml`, else JSON); its values are taken as they are typed there.
    #[arg(long, value_name = "FILE")]
    pub params_file: Option<std::path::PathBuf>,
    /// Most tasks running at once [default: the number of CPUs, for `sh` tasks].
    #[arg(long, short = 'j', value_parser = slots)]
    pub jobs: Option<u32>,
    /// After a failure, let independent branches finish.
    #[arg(long, short = 'k')]
    pub keep_going: bool,
    /// Where tasks that run commands (`sh`) run when they name no
    /// `executor`: `local` (this machine, the default) or `slurm` (each
    /// task a batch job on the cluster; see docs/executors.md). With
    /// `slurm`, an explicit `--jobs` also caps the jobs queued or running
    /// at once (default 1,000).
    #[arg(long, value_name = "NAME", value_parser = ["local", "slurm"])]
    pub executor: Option<String>,
    /// Where Slurm jobs' scripts, stdin, stdout, stderr and exit statuses
    /// go: a folder the cluster's nodes share [default: the run's folder
    /// in the run store, `.flow/runs/<run>/slurm`].
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<std::path::PathBuf>,
    /// No progress on stderr: the global `-q`/`--quiet` (see `Cli`).
    #[arg(skip)]
    pub quiet: bool,
    /// Switch capabilities off: the script is refused before anything runs
    /// if it uses one (`sh`, `http`, `llm`, `env`, `files`, `approve`; comma-separated).
    #[arg(long, value_name = "CAPABILITIES", value_delimiter = ',')]
    pub deny: Vec<String>,
    /// Permit only these capabilities (an allow-list; comma-separated).
    #[arg(long, value_name = "CAPABILITIES", value_delimiter = ',')]
    pub allow: Vec<String>,
    /// An environment variable holding a secret: commands do not inherit it
    /// (unless a call passes it with `env:`) and its value is shown as `***`
    /// (`OPENAI_API_KEY` and each `llm`'s `api_key_env` are always secret).
    #[arg(long = "secret", value_name = "NAME")]
    pub secrets: Vec<String>,
    /// Limit what the model calls may spend: `tokens=N` (prompt and reply
    /// together) or `usd=X` (every agent then needs a `price`), repeated or
    /// comma-separated (`--budget tokens=20000,usd=0.50`). Each call's worst
    /// case (a bound on its prompt plus its `max_tokens`) is reserved before
    /// it starts; a call the budget cannot cover fails with
    /// `budget_exhausted`. With a script's `budget` declaration, the smaller
    /// of each limit wins.
    #[arg(long, value_name = "tokens=N|usd=X", value_parser = parse_budget)]
    pub budget: Vec<crate::agent::Budget>,
    #[command(flatten)]
    pub store: super::store::StoreArgs,
    /// Do not record in the run store.
    #[arg(long)]
    pub no_store: bool,
    /// Print every diagnostic, not only the first 20 of each code.
    #[arg(long)]
    pub all_diagnostics: bool,
}

impl ExecArgs {
    /// How the Slurm executor of run `run` in `store` submits (see
    /// [`slurm_options`]), with this command's `--work-dir`.
    pub fn slurm_options(
        &self,
        stored: Option<(&std::path::Path, i64)>,
    ) -> crate::exec::SlurmOptions {
        slurm_options(self.work_dir.as_deref(), stored)
    }

    /// The budget of every `--budget`, the smaller of each limit.
    pub fn budget(&self) -> crate::agent::Budget {
        (self.budget.iter()).fold(crate::agent::Budget::default(), |all, b| all.tighten(*b))
    }

    /// The engine these options ask for, or a usage error.
    pub fn engine(&self) -> Result<Engine, String> {
        let engine = Engine::new();
        let capabilities = super::capabilities(engine.registry(), &self.deny, &self.allow)?;
        Ok(engine.capabilities(capabilities))
    }
}

/// How the Slurm executor of run `run` in `store` submits: its work folder
/// (`--work-dir`, else the run's folder in the store), and the job name and
/// comment that find its jobs again (`flow:<store>#<run>`, which the next
/// command looks for when the run's `flow` was killed).
pub fn slurm_options(
    work_dir: Option<&std::path::Path>,
    stored: Option<(&std::path::Path, i64)>,
) -> crate::exec::SlurmOptions {
    let defaults = crate::exec::SlurmOptions::default();
    let pid = std::process::id();
    let (name, tag, own, marker) = match stored {
        Some((store, run)) => (
            format!("flow-{run}"),
            super::slurm::tag(store, run),
            store.join("runs").join(run.to_string()).join("slurm"),
            Some(super::slurm::marker(store, run)),
        ),
        None => (
            defaults.name.clone(),
            defaults.tag.clone(),
            defaults.work_dir.clone(),
            None,
        ),
    };
    let work_dir = match (work_dir, stored) {
        (Some(dir), Some((_, run))) => dir.join(format!("run-{run}-{pid}")),
        (Some(dir), None) => dir.join(format!("flow-{pid}")),
        (None, _) => own,
    };
    let work_dir = std::path::absolute(&work_dir).unwrap_or(work_dir);
    crate::exec::SlurmOptions {
        work_dir,
        name,
        tag,
        not_exported: vec![super::reaper::TAG_VARIABLE.to_string()],
        marker,
        max_array: std::env::var("FLOW_SLURM_ARRAY_SIZE")
            .ok()
            .and_then(|n| n.trim().parse().ok()),
        ..defaults
    }
}

/// Reads `--jobs N`: how many tasks may run at once, one at least.
fn slots(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "`{text}` is not a number of tasks at once (1 or more)"
        )),
    }
}

/// Reads `--budget tokens=N,usd=X`.
pub fn parse_budget(text: &str) -> Result<crate::agent::Budget, String> {
    crate::agent::Budget::parse(text)
}

/// Splits `name=value`; the value stays text (converted when the run starts,
/// to the type of the param's default).
pub fn parse_param(text: &str) -> Result<(String, String), String> {
    let Some((name, value)) = text.split_once('=') else {
        return Err(format!("`--param {text}` needs the form NAME=VALUE"));
    };
    let name = name.trim();
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "`{name}` is not a param name (letters, digits and `_`)"
        ));
    }
    Ok((name.to_string(), value.to_string()))
}

/// Text read as JSON when it parses, else as a string (what a `null`
/// default takes; how the REPL and the run store read `--param`).
pub fn json_or_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

impl ExecArgs {
    /// The params of `--params-file`, typed as the file types them.
    pub fn file_params(&self) -> Result<Vec<(String, Value)>, String> {
        let Some(path) = &self.params_file else {
            return Ok(Vec::new());
        };
        let shown = path.display();
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the params file `{shown}`: {e}"))?;
        let toml = path.extension().is_some_and(|e| e == "toml");
        let value: Value = if toml {
            let table: toml::Table =
                toml::from_str(&text).map_err(|e| format!("`{shown}` is not TOML: {e}"))?;
            serde_json::to_value(table).map_err(|e| format!("`{shown}`: {e}"))?
        } else {
            serde_json::from_str(&text).map_err(|e| format!("`{shown}` is not JSON: {e}"))?
        };
        match value {
            Value::Object(fields) => Ok(fields.into_iter().collect()),
            _ => Err(format!(
                "`{shown}` must hold an object of params, such as {{\"name\": \"value\"}}"
            )),
        }
    }

    /// Every param given, as the run store records them: the file's, then
    /// `--param`'s (read as JSON when they parse).
    pub fn given_params(&self) -> Result<Vec<(String, Value)>, String> {
        let mut params = self.file_params()?;
        params.extend(
            self.params
                .iter()
                .map(|(n, t)| (n.clone(), json_or_text(t))),
        );
        Ok(params)
    }
}

pub fn run(mut args: RunArgs) -> u8 {
    let began = std::time::Instant::now();
    // Listening before anything else: a Ctrl-C while the script compiles
    // ends the run in order too.
    let cancel = CancellationToken::new();
    let watcher = super::signals::cancel_on_signals(cancel.clone());
    if let Err(message) = args.settle() {
        errln!("error: {message}");
        return exit::USAGE;
    }
    let engine = match args.exec.engine() {
        Ok(engine) => engine,
        Err(message) => {
            errln!("error: {message}");
            return exit::USAGE;
        }
    };
    let checked = (args.outputs).check(args.json, args.exec.no_store, args.dry_run);
    let events = match checked.and_then(|()| args.outputs.open_events()) {
        Ok(events) => events,
        Err(message) => {
            errln!("error: {message}");
            return exit::USAGE;
        }
    };
    let file_params = match args.exec.file_params() {
        Ok(params) => params,
        Err(message) => {
            errln!("error: {message}");
            return exit::USAGE;
        }
    };
    // The store opens on its own thread while the script compiles.
    // A dry run is not recorded: its stubs must never stand in for results.
    let worker =
        (!args.exec.no_store && !args.dry_run).then(|| StoreWorker::open(args.exec.store.dir()));
    let needs_store = [
        (args.resume.is_some(), "--resume"),
        (args.record, "--record"),
        (args.replay.is_some(), "--replay"),
    ];
    if let Some((_, flag)) = needs_store
        .iter()
        .find(|(used, _)| *used && args.exec.no_store)
    {
        errln!("error: `{flag}` needs the run store; drop `--no-store`");
        return exit::USAGE;
    }
    // While the script compiles: a small script that may call `sh` has its
    // guard start, off the run's critical path (the others once they have
    // compiled); a big one is hashed for the run's row on the store's thread,
    // which has little else to do by then.
    let mut hashed = None;
    let while_compiling = |source: &crate::source::SourceFile| {
        let text = &source.text;
        if !args.dry_run && text.len() < SMALL_SCRIPT && text.contains("sh") {
            super::reaper::start_guard();
        }
        if let Some(worker) = worker.as_ref().filter(|_| text.len() >= SMALL_SCRIPT) {
            let text = text.clone();
            hashed = Some(worker.submit(move |_| crate::runtime::digest(text.as_bytes())));
        }
    };
    let script = match compile_file(
        &engine,
        &args.script,
        args.exec.all_diagnostics,
        while_compiling,
    ) {
        Ok(s) => s,
        Err((code, failed)) => {
            let end = |errors| super::events::RunEnd::invalid(code, errors);
            super::outputs::finish_events(events, end(failed.to_json()));
            if args.json {
                // One document also when the script does not compile.
                print_invalid(failed.to_json());
            }
            return code;
        }
    };
    // A `--param` the script does not declare, or not of its default's
    // type: a usage error, said before the run's record is made (a
    // rejected command is no run, and `--resume` must not pick it).
    let refused = refuse_params(&args, &script, &file_params);
    if !refused.is_empty() {
        let errors: Vec<Value> = refused.iter().map(|d| d.to_json(&script.source)).collect();
        if args.json {
            print_invalid(errors.clone());
        }
        super::outputs::finish_events(events, super::events::RunEnd::invalid(exit::USAGE, errors));
        return exit::USAGE;
    }
    // The guard of the processes the run starts, if it can start any (once).
    if !args.dry_run && script.graph.capabilities.contains("sh") {
        super::reaper::start_guard();
    }
    let journal = match worker {
        Some(worker) => match begin::begin_run(worker, &args, &script, hashed) {
            Ok(journal) => Some(Arc::new(journal)),
            Err(code) => return code,
        },
        None => None,
    };
    if let Some(events) = &events {
        let params = args.exec.given_params().unwrap_or_default();
        let script = args.script.display().to_string();
        events.run_started(journal.as_ref().map(|j| j.id), &script, &params);
    }
    // Commands the script sends to Slurm (`--executor slurm`, `executor:`).
    let stored = journal.as_ref().map(|j| (j.store_dir(), j.id));
    let slurm = Arc::new(crate::exec::SlurmExecutor::new(
        args.exec.slurm_options(stored),
    ));
    {
        // `flow` ended by the signal watcher (the run busy, a second
        // Ctrl-C): the run's Slurm jobs are cancelled and the run is
        // recorded as cancelled.
        let journal = journal.clone();
        let cancel_jobs = slurm.canceller();
        watcher.on_end(move || {
            cancel_jobs();
            if let Some(journal) = &journal {
                let code = i32::from(exit::INTERRUPTED);
                let _ = journal.finish(crate::RunStatus::Cancelled, code, None);
            }
        });
    }
    // Who answers `approve`: the terminal, another shell through the store, or both.
    let asked_in_store = journal
        .as_ref()
        .map(|j| StoreApprover::new(j.store_dir(), j.id));
    let approver = super::ask::approver(
        super::ask::at_terminal(),
        asked_in_store,
        args.exec.store.named(),
        "the run is not recorded (`--no-store`), so no other shell can answer",
    );
    let mode = if args.exec.quiet || args.json {
        Mode::Quiet
    } else if std::io::stderr().is_terminal() {
        Mode::Bar
    } else {
        Mode::Lines
    };
    let progress = Progress::new(mode);
    // `--json` keeps every record, as compact text (see `json_report`).
    let (observer, task_log) = if args.json {
        let (observer, log) = json_report::TaskLog::observer();
        (Some(observer), Some(log))
    } else {
        (progress.observer(), None)
    };
    let observer = super::outputs::chain(observer, events.as_ref().map(|e| e.observer()));
    let options = RunOptions {
        jobs: args.exec.jobs.map(|j| j as usize),
        keep_going: args.exec.keep_going,
        params: file_params,
        param_texts: args.exec.params.clone(),
        // The script's folder: `Engine::run` finds it from the script's path.
        script_dir: None,
        host_agents: Vec::new(),
        executor: None,
        executors: vec![slurm as Arc<dyn crate::exec::Executor>],
        default_executor: args.exec.executor.clone(),
        slurm: crate::exec::SlurmOptions::default(),
        observer,
        cancel: cancel.clone(),
        // Failures are always kept; `--json` has its own log of every task.
        record_all: false,
        journal: journal
            .clone()
            .map(|j| j as Arc<dyn crate::runtime::Journal>),
        secrets: args.exec.secrets.clone(),
        dry_run: args.dry_run,
        budget: args.exec.budget(),
        approver: Some(approver),
    };
    // The work begins: huge pages for a heap that may grow big.
    super::pages::release();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            errln!("error: cannot start the runtime: {e}");
            return exit::FAILED;
        }
    };
    watcher.runtime(runtime.handle().clone());
    let outcome = runtime.block_on(engine.run(&script, options));
    watcher.done();
    // What the tasks left running (a `setsid` or double-forked child) goes.
    super::reaper::sweep();
    progress.finish_and_keep();
    if args.dry_run {
        // Said even with `--quiet`: stub values must not pass for results.
        errln!(
            "dry run: every agent call was answered by a stub; no command ran, no request was sent, \
             and the run was not recorded"
        );
    }
    let mut written = Ok(());
    if let Some(log) = task_log {
        let summary = json_report::Summary {
            status: outcome.status.as_str(),
            result: outcome.result.as_deref(),
            usage: outcome.spending.usage_json(outcome.usage.as_ref()),
            budget: outcome.spending.budget_json(),
            errors: outcome
                .errors
                .iter()
                .map(|d| d.to_json(&script.source))
                .collect(),
        };
        let mut log = log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        written = json_report::write(std::io::stdout().lock(), &summary, &mut log);
    }
    let (mut code, result_written) = report(&args, &script, &outcome);
    let run_id = journal.as_ref().map(|j| j.id);
    if !super::outputs::end_events(events, run_id, &script, &outcome, code) && code == exit::OK {
        code = exit::FAILED;
    }
    match written.and(result_written) {
        Ok(()) => {}
        // `flow run … | head -1`: the reader has what it wanted.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => {
            errln!("error: cannot write the result: {e}");
            if code == exit::OK {
                code = exit::FAILED;
            }
        }
    }
    if let Some(journal) = &journal {
        let result = outcome.result.as_deref();
        if let Err(e) = journal.finish(outcome.status, i32::from(code), result) {
            errln!("warning: this run was not fully recorded: {e}");
        }
        // What reads the run back opens the store again, now the run is in it.
        let wanted = args.outputs.report.is_some() || args.explain;
        match wanted.then(|| Store::open(journal.store_dir())) {
            None => {}
            Some(Err(e)) => {
                errln!("error: {e}");
                if code == exit::OK {
                    code = exit::FAILED;
                }
            }
            Some(Ok(store)) => {
                let quiet = args.exec.quiet;
                if !super::outputs::write_report(&args.outputs, &store, journal.id, &script, quiet)
                    && code == exit::OK
                {
                    code = exit::FAILED;
                }
                if args.explain {
                    explain_after(&store, journal.id);
                }
            }
        }
    }
    if !args.exec.quiet && !args.json {
        let spending = spending_summary(outcome.usage.as_ref(), &outcome.spending);
        let closing = super::summary::Closing {
            status: outcome.status,
            wall: began.elapsed(),
            spending: &spending,
            run: journal.as_ref().map(|j| j.id),
            store: args.exec.store.named(),
            verbosity: super::style::verbosity(),
            color: super::style::color_stderr(),
        };
        super::summary::print(&progress.tally(), &closing);
    }
    // The process ends now: freeing a big graph and its values one by one
    // would only delay the exit (the chain benchmark's 100,000 tasks: 15 ms).
    std::mem::forget((script, outcome));
    code
}

/// Below this size a script's text is looked through for `sh` as soon as it
/// is read (a bigger one takes longer to compile than the guard to start);
/// from this size on, its text is hashed on the store's thread while it
/// compiles (a smaller one hashes in microseconds).
const SMALL_SCRIPT: usize = 64 << 10;

/// `--json`'s document for a run refused before it started.
fn print_invalid(errors: Vec<Value>) {
    let doc = serde_json::json!({
        "status": "invalid",
        "result": null,
        "tasks": [],
        "errors": errors,
    });
    outln!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
}

/// What is wrong with the run's `--param`s and `--params-file`, printed:
/// names the script does not declare, texts not of their default's type.
/// Nothing when the only trouble is elsewhere (a default that fails to
/// evaluate fails the run itself, as before).
fn refuse_params(
    args: &RunArgs,
    script: &crate::engine::Script,
    file_params: &[(String, Value)],
) -> Vec<crate::Diagnostic> {
    let (_, errors) = crate::runtime::param_values(&script.graph, file_params, &args.exec.params);
    let usage = |d: &crate::Diagnostic| matches!(d.code, Code::UnknownParam | Code::BadParam);
    if errors.is_empty() || !errors.iter().all(usage) {
        return Vec::new();
    }
    print_diagnostics(&script.source, &errors, args.exec.all_diagnostics);
    errors
}

/// `--explain`: why each task ran or was re-used, on stderr.
fn explain_after(store: &Store, run: i64) {
    if let Ok(Some(row)) = store.run(Some(run)) {
        if let Ok(text) = super::store::explain_run(store, &row, &[]) {
            err!("{text}");
        }
    }
}

/// Writes a value to stdout as pretty JSON and a newline, and flushes: an
/// error (a full disk, a closed pipe) is the caller's to report.
fn write_json(value: &Value) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Prints the outcome of a run; returns the exit code and whether the
/// result could be written.
fn report(
    args: &RunArgs,
    script: &crate::engine::Script,
    outcome: &crate::Outcome,
) -> (u8, std::io::Result<()>) {
    let mut written = Ok(());
    let code = match outcome.status {
        RunStatus::Succeeded => {
            // `--events -`: the result is in the stream's last line.
            if !args.json && !args.outputs.events_to_stdout() {
                let null = Value::Null;
                written = write_json(outcome.result.as_deref().unwrap_or(&null));
            }
            exit::OK
        }
        RunStatus::Failed => {
            // `--keep-going`: what could be computed, error values in place of the rest.
            let elsewhere = args.json || args.outputs.events_to_stdout();
            if let (Some(result), false) = (&outcome.result, elsewhere) {
                written = write_json(result);
            }
            print_diagnostics(&script.source, &outcome.errors, args.exec.all_diagnostics);
            // A `--param` the script does not declare is a usage error.
            let bad_params = !outcome.errors.is_empty()
                && outcome
                    .errors
                    .iter()
                    .all(|d| matches!(d.code, Code::UnknownParam | Code::BadParam));
            if bad_params {
                exit::USAGE
            } else {
                exit::FAILED
            }
        }
        RunStatus::Cancelled => {
            let running: Vec<String> = outcome
                .tasks
                .iter()
                .filter(|t| t.status == TaskStatus::Cancelled)
                .map(|t| t.id())
                .collect();
            if running.is_empty() {
                errln!("interrupted: no task was running");
            } else {
                let tasks = if running.len() == 1 { "task" } else { "tasks" };
                errln!(
                    "interrupted: cancelled {} running {tasks}: {}",
                    running.len(),
                    running.join(", ")
                );
            }
            exit::INTERRUPTED
        }
    };
    (code, written)
}

/// The closing lines on what the model calls spent:
///
/// ```text
/// tokens: 120 prompt + 30 completion = 150, $0.000041
///   Writer: 3 calls, 90 prompt + 20 completion = 110 tokens, $0.00003
///   Critic: 1 call, 30 prompt + 10 completion = 40 tokens (no price)
/// budget: 150 of 200 tokens used; 3 calls refused
/// ```
fn spending_summary(usage: Option<&Value>, spending: &crate::runtime::Spending) -> Vec<String> {
    use crate::agent::dollars;
    let mut lines = Vec::new();
    let cost = |usd: Option<f64>| usd.map_or(String::new(), |usd| format!(", {}", dollars(usd)));
    if let Some(usage) = usage {
        let count = |key: &str| usage.get(key).and_then(Value::as_u64).unwrap_or(0);
        let (prompt, completion) = (count("prompt_tokens"), count("completion_tokens"));
        lines.push(format!(
            "tokens: {prompt} prompt + {completion} completion = {}{}",
            count("total_tokens").max(prompt + completion),
            cost(spending.cost_usd())
        ));
    }
    let priced = spending.agents.iter().any(|a| a.cost_usd.is_some());
    if spending.agents.len() > 1 || priced {
        for agent in &spending.agents {
            let calls = if agent.calls == 1 { "call" } else { "calls" };
            let unpriced = if priced && agent.cost_usd.is_none() {
                " (no price)"
            } else {
                ""
            };
            lines.push(format!(
                "  {}: {} {calls}, {} prompt + {} completion = {} tokens{}{unpriced}",
                agent.agent,
                agent.calls,
                agent.prompt_tokens,
                agent.completion_tokens,
                agent.total_tokens(),
                cost(agent.cost_usd),
            ));
        }
    }
    if let Some(report) = &spending.budget {
        let mut used = Vec::new();
        if let Some(tokens) = report.budget.tokens {
            used.push(format!("{} of {tokens} tokens", report.spent_tokens));
        }
        if let Some(usd) = report.budget.usd {
            used.push(format!("{} of {}", dollars(report.spent_usd), dollars(usd)));
        }
        let mut line = format!("budget: {} used", used.join(" and "));
        if report.refused > 0 {
            let calls = if report.refused == 1 { "call" } else { "calls" };
            line.push_str(&format!("; {} {calls} refused", report.refused));
        }
        lines.push(line);
    }
    lines
}
