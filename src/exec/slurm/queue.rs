//! What Slurm says of a job, and what the executor does about it: `squeue`'s
//! lines read, and each state turned into a verdict with the reason in words.

use std::collections::HashMap;

/// What to do about a job, from the state the queue gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Waiting or running: nothing to do.
    Alive,
    /// The job ended by itself (`COMPLETED`, `FAILED`): its exit status file
    /// tells how the command ended.
    ExpectStatus,
    /// Its node failed, it was preempted or its node never booted: submit it
    /// again (up to a bound).
    Resubmit,
    /// It ended without its command ending: why, in words.
    Fail(String),
}

/// One line of `squeue -h -r -t all -o '%i|%T|%r'`: the job id (`123_4` for
/// an array element), its state and the reason Slurm gives.
pub(super) fn parse(output: &str) -> HashMap<String, (String, String)> {
    output
        .lines()
        .filter_map(|line| {
            let mut fields = line.trim().splitn(3, '|');
            let id = fields.next()?.trim();
            let state = fields.next()?.trim();
            let reason = fields.next().unwrap_or("").trim();
            (!id.is_empty() && !state.is_empty())
                .then(|| (id.to_string(), (state.to_string(), reason.to_string())))
        })
        .collect()
}

/// The verdict on a job in `state` (`squeue`'s `%T`), asked for with
/// `asked` (`--time=…`, `--mem=…`, to say what the limit was).
pub(super) fn interpret(state: &str, reason: &str, asked: &Asked) -> Verdict {
    // A state may carry a suffix (`CANCELLED by 0`, `CANCELLED+`).
    let state = state
        .split([' ', '+'])
        .next()
        .unwrap_or(state)
        .to_ascii_uppercase();
    let why = |what: &str| {
        let reason = match reason {
            "" | "None" | "(null)" => String::new(),
            r => format!(", reason: {r}"),
        };
        Verdict::Fail(format!("{what} ({state}{reason})"))
    };
    match state.as_str() {
        "PENDING" | "CONFIGURING" | "RUNNING" | "COMPLETING" | "SUSPENDED" | "REQUEUED"
        | "REQUEUE_HOLD" | "REQUEUE_FED" | "RESIZING" | "SIGNALING" | "STAGE_OUT" | "STOPPED"
        | "RESV_DEL_HOLD" => Verdict::Alive,
        "COMPLETED" | "FAILED" => Verdict::ExpectStatus,
        "NODE_FAIL" | "PREEMPTED" | "BOOT_FAIL" => Verdict::Resubmit,
        "TIMEOUT" => why(&match &asked.time {
            Some(time) => format!("the job ran past its time limit of {time}"),
            None => "the job ran past its partition's time limit".to_string(),
        }),
        "OUT_OF_MEMORY" => why(&match &asked.memory {
            Some(memory) => format!("the job ran out of memory: it asked for {memory}"),
            None => "the job ran out of memory (it asked for none: set `mem`)".to_string(),
        }),
        "DEADLINE" => why("the job missed its deadline"),
        "CANCELLED" => why("the job was cancelled outside flow (`scancel`, or by the cluster)"),
        _ => why("the job ended without its command reporting a status"),
    }
}

/// What a job asked for, as the messages about its limits say it.
#[derive(Clone, Debug, Default)]
pub(super) struct Asked {
    /// `--time`, as given (`0-00:01:00`).
    pub time: Option<String>,
    /// `--mem`, as given (`512M`).
    pub memory: Option<String>,
}

/// `MaxArraySize` from `scontrol show config`: the most elements of one job
/// array (indices 0 to `MaxArraySize - 1`). 0 means arrays are off.
pub(super) fn max_array_size(config: &str) -> Option<usize> {
    config.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "MaxArraySize").then(|| value.trim().parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeue_lines_are_read_by_job() {
        let jobs = parse("12_0|RUNNING|None\n12_1|PENDING|Resources\n13|COMPLETED|None\n\nbad\n");
        assert_eq!(jobs.len(), 3);
        assert_eq!(jobs["12_1"], ("PENDING".into(), "Resources".into()));
        assert_eq!(jobs["13"].0, "COMPLETED");
    }

    #[test]
    fn each_state_has_a_verdict_in_words() {
        let asked = Asked {
            time: Some("0-00:01:00".into()),
            memory: Some("512M".into()),
        };
        for alive in [
            "PENDING",
            "RUNNING",
            "COMPLETING",
            "CONFIGURING",
            "SUSPENDED",
        ] {
            assert_eq!(interpret(alive, "None", &asked), Verdict::Alive, "{alive}");
        }
        assert_eq!(
            interpret("COMPLETED", "None", &asked),
            Verdict::ExpectStatus
        );
        assert_eq!(
            interpret("FAILED", "NonZeroExitCode", &asked),
            Verdict::ExpectStatus
        );
        for retried in ["NODE_FAIL", "PREEMPTED", "BOOT_FAIL"] {
            assert_eq!(
                interpret(retried, "None", &asked),
                Verdict::Resubmit,
                "{retried}"
            );
        }
        let message = |state| match interpret(state, "None", &asked) {
            Verdict::Fail(message) => message,
            other => panic!("{state}: {other:?}"),
        };
        assert_eq!(
            message("TIMEOUT"),
            "the job ran past its time limit of 0-00:01:00 (TIMEOUT)"
        );
        assert_eq!(
            message("OUT_OF_MEMORY"),
            "the job ran out of memory: it asked for 512M (OUT_OF_MEMORY)"
        );
        assert!(message("CANCELLED").contains("cancelled outside flow"));
        assert!(message("DEADLINE").contains("missed its deadline"));
        let plain = interpret("OUT_OF_MEMORY", "None", &Asked::default());
        assert!(matches!(plain, Verdict::Fail(m) if m.contains("set `mem`")));
        let by = interpret("CANCELLED by 0", "None", &asked);
        assert!(matches!(by, Verdict::Fail(m) if m.ends_with("(CANCELLED)")));
    }

    #[test]
    fn max_array_size_is_read_from_the_config() {
        let config = "MaxJobCount             = 20000\nMaxArraySize            = 1001\n";
        assert_eq!(max_array_size(config), Some(1001));
        assert_eq!(max_array_size("MaxJobCount = 3\n"), None);
    }
}
