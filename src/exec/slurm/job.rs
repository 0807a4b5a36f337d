//! A batch's files and its `sbatch` command line.
//!
//! A batch is one `sbatch` call: one job, or one job array whose element `i`
//! runs task `i`. Its folder holds:
//!
//! ```text
//! job.sh         the batch script: runs task $SLURM_ARRAY_TASK_ID (0 for a lone job)
//! <i>.sh         task i: its folder, its environment and its command
//! <i>.in         its stdin: the call's context as one JSON object, as locally
//! <i>.out .err   what it wrote
//! <i>.exit       its exit status, written when the command ended
//! slurm-<i>.log  what Slurm itself wrote about element i (a time limit, a crash)
//! ```

use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::queue::Asked;
use crate::exec::local::{output, spawn};
use crate::exec::{
    slurm_memory, slurm_time, CommandOutput, CommandSpec, ExecError, RunEnvironment,
};

/// The most stdout read back as a task's value, and of stderr kept, as locally.
const MAX_STDOUT: usize = 64 << 20;
const TAIL: usize = 64 << 10;

/// What `sbatch` is asked for on behalf of a command: commands with the same
/// shape share one job array.
#[derive(Clone, Debug, Default, Hash, PartialEq, Eq)]
pub(super) struct Shape {
    /// `--cpus-per-task=…`, `--partition=…`, the cluster options…
    pub args: Vec<String>,
    /// `--time` and `--mem` as given, for messages.
    pub time: Option<String>,
    pub memory: Option<String>,
}

impl Shape {
    /// The shape of a command: its resources, and its `timeout` as the time
    /// limit when it gives no `time`.
    pub(super) fn of(spec: &CommandSpec) -> Shape {
        let r = &spec.resources;
        let mut shape = Shape::default();
        if let Some(cpus) = r.cpus {
            shape.args.push(format!("--cpus-per-task={cpus}"));
        }
        if let Some(memory) = r.memory {
            let memory = slurm_memory(memory);
            shape.args.push(format!("--mem={memory}"));
            shape.memory = Some(memory);
        }
        if let Some(time) = r.time.or(spec.timeout) {
            let time = slurm_time(time);
            shape.args.push(format!("--time={time}"));
            shape.time = Some(time);
        }
        for (flag, value) in [
            ("partition", &r.partition),
            ("account", &r.account),
            ("qos", &r.qos),
        ] {
            if let Some(value) = value {
                shape.args.push(format!("--{flag}={value}"));
            }
        }
        shape.args.extend(r.cluster_options.iter().cloned());
        shape
    }

    pub(super) fn asked(&self) -> Asked {
        Asked {
            time: self.time.clone(),
            memory: self.memory.clone(),
        }
    }
}

/// Writes task `index`'s script and stdin into `dir`.
pub(super) fn write_task(
    dir: &Path,
    index: usize,
    spec: &CommandSpec,
    environment: &RunEnvironment,
) -> Result<(), ExecError> {
    let invalid = |message: String| ExecError::Spawn {
        source: io::Error::new(io::ErrorKind::InvalidInput, message),
    };
    let cwd = match &spec.cwd {
        Some(cwd) if cwd.is_absolute() => cwd.clone(),
        Some(cwd) => current_dir()?.join(cwd),
        None => current_dir()?,
    };
    let cwd = cwd.to_str().ok_or_else(|| {
        invalid(format!(
            "the working folder `{}` is not UTF-8",
            cwd.display()
        ))
    })?;
    // The variables every command of the run gets, then the call's own
    // (context, `env:`, instructions: the same rules as locally).
    let mut words = vec!["exec".to_string(), "env".to_string()];
    if spec.instructions.is_none() {
        words.push("-u FLOW_INSTRUCTIONS".to_string());
    }
    for name in &environment.hidden {
        words.push(format!("-u {}", crate::shell::quote(name)));
    }
    words.push("--".to_string());
    for (name, value) in &environment.set {
        words.push(crate::shell::quote(&format!("{name}={value}")));
    }
    for entry in spawn::own_variables(spec)? {
        words.push(crate::shell::quote(&String::from_utf8_lossy(
            entry.as_bytes(),
        )));
    }
    words.extend([
        "/bin/sh".into(),
        "-c".into(),
        crate::shell::quote(&spec.cmd),
    ]);
    let script = format!(
        "# {task}\ncd {cwd} || exit 127\n{command}\n",
        task = if spec.task.is_empty() {
            "a flow task"
        } else {
            &spec.task
        },
        cwd = crate::shell::quote(cwd),
        command = words.join(" \\\n  "),
    );
    let input = serde_json::to_vec(&spec.context).unwrap_or_else(|_| b"{}".to_vec());
    let io = |source| ExecError::Spawn { source };
    private_file(&dir.join(format!("{index}.sh")), script.as_bytes()).map_err(io)?;
    private_file(&dir.join(format!("{index}.in")), &input).map_err(io)?;
    Ok(())
}

fn current_dir() -> Result<PathBuf, ExecError> {
    std::env::current_dir().map_err(|source| ExecError::Spawn { source })
}

/// A file only its owner may read: a task's script may hold values the
/// script passed it, secrets included.
fn private_file(path: &Path, content: &[u8]) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(content)
}

/// Writes the batch script into `dir`.
pub(super) fn write_batch_script(dir: &Path) -> io::Result<PathBuf> {
    let dir_text = crate::shell::quote(&dir.to_string_lossy());
    let script = format!(
        "#!/bin/sh\n\
         # Written by flow: element i of this job runs task i of this folder.\n\
         i=${{SLURM_ARRAY_TASK_ID:-0}}\n\
         d={dir_text}\n\
         # Slurm ending the job (a time limit, scancel, a node failure) signals\n\
         # this script too: then no status is written, and flow asks the queue.\n\
         trap 'exit 143' TERM INT HUP\n\
         /bin/sh \"$d/$i.sh\" < \"$d/$i.in\" > \"$d/$i.out\" 2> \"$d/$i.err\"\n\
         s=$?\n\
         echo \"$s\" > \"$d/$i.exit.part\" && mv -f \"$d/$i.exit.part\" \"$d/$i.exit\"\n\
         exit \"$s\"\n"
    );
    let path = dir.join("job.sh");
    private_file(&path, script.as_bytes())?;
    Ok(path)
}

/// The `sbatch` arguments of a batch of `count` tasks in `dir`.
pub(super) fn sbatch_args(
    shape: &Shape,
    dir: &Path,
    count: usize,
    name: &str,
    tag: &str,
) -> Vec<String> {
    let dir = dir.to_string_lossy();
    let mut args = vec![
        "--parsable".to_string(),
        format!("--job-name={name}"),
        format!("--comment={tag}"),
        "--no-requeue".to_string(),
        "--export=ALL".to_string(),
        format!("--chdir={dir}"),
    ];
    if count > 1 {
        args.push(format!("--array=0-{}", count - 1));
        args.push(format!("--output={dir}/slurm-%a.log"));
    } else {
        args.push(format!("--output={dir}/slurm-0.log"));
    }
    args.extend(shape.args.iter().cloned());
    args.push(format!("{dir}/job.sh"));
    args
}

/// The job id in `sbatch --parsable`'s answer (`123` or `123;cluster`).
pub(super) fn parsable_id(stdout: &str) -> Option<String> {
    let id = stdout.trim().split(';').next()?.trim();
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then(|| id.to_string())
}

/// Task `index`'s exit status, once the job has written it.
pub(super) fn exit_status(dir: &Path, index: usize) -> Option<i32> {
    let text = std::fs::read_to_string(dir.join(format!("{index}.exit"))).ok()?;
    text.trim().parse().ok()
}

/// How task `index` ended, from its files: its output, or its exit status
/// and the tails of what it wrote.
pub(super) fn result(
    dir: &Path,
    index: usize,
    code: i32,
    spec: &CommandSpec,
    elapsed: Duration,
) -> Result<CommandOutput, ExecError> {
    let stderr_tail = tail(&dir.join(format!("{index}.err")));
    let out = dir.join(format!("{index}.out"));
    if code == 0 || spec.ok_codes.contains(&code) {
        if std::fs::metadata(&out).is_ok_and(|m| m.len() > MAX_STDOUT as u64) {
            return Err(ExecError::StdoutTooLarge { limit: MAX_STDOUT });
        }
        let stdout = std::fs::read(&out).unwrap_or_default();
        return Ok(CommandOutput {
            stdout,
            stderr_tail,
            code,
            elapsed,
            notes: Vec::new(),
        });
    }
    Err(ExecError::Exit {
        code,
        stderr_tail,
        stdout_tail: tail(&out),
    })
}

/// The last [`TAIL`] bytes of a file, as text (empty when it is missing).
pub(super) fn tail(path: &Path) -> String {
    let read = || -> io::Result<Vec<u8>> {
        let mut file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(TAIL as u64)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(bytes)
    };
    output::tail_text(&read().unwrap_or_default(), TAIL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::Resources;

    #[test]
    fn a_shape_asks_for_what_the_command_needs() {
        let spec = CommandSpec {
            timeout: Some(Duration::from_secs(90)),
            resources: Resources {
                cpus: Some(2),
                memory: Some(512 << 20),
                partition: Some("short".into()),
                cluster_options: vec!["--exclusive".into()],
                ..Resources::default()
            },
            ..CommandSpec::default()
        };
        let shape = Shape::of(&spec);
        assert_eq!(
            shape.args,
            [
                "--cpus-per-task=2",
                "--mem=512M",
                "--time=0-00:02:00",
                "--partition=short",
                "--exclusive"
            ]
        );
        assert_eq!(shape.asked().time.as_deref(), Some("0-00:02:00"));
        assert_eq!(
            Shape::of(&CommandSpec::default()).args,
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_batch_of_several_is_an_array() {
        let dir = Path::new("/shared/work/b1");
        let one = sbatch_args(&Shape::default(), dir, 1, "flow-3", "flow:/x#3");
        assert!(!one.iter().any(|a| a.starts_with("--array")));
        assert!(one.contains(&"--comment=flow:/x#3".to_string()));
        let many = sbatch_args(&Shape::default(), dir, 500, "flow-3", "flow:/x#3");
        assert!(many.contains(&"--array=0-499".to_string()));
        assert_eq!(
            many.last().map(String::as_str),
            Some("/shared/work/b1/job.sh")
        );
        assert_eq!(parsable_id("4242\n").as_deref(), Some("4242"));
        assert_eq!(parsable_id("4242;cluster2\n").as_deref(), Some("4242"));
        assert_eq!(parsable_id("sbatch: error\n"), None);
    }
}
