//! What a command needs from the machine that runs it (`cpus`, `mem`,
//! `time`, and for a cluster `partition`, `account`, `qos`,
//! `cluster_options`), and which executor runs it (`executor`): the
//! placement keys of a process-running agent, read from its config.

use std::time::Duration;

use serde_json::{Map, Value};

/// The config keys that place a command rather than say what it does: they
/// are not part of a task's cache key, so raising `mem` and resuming re-uses
/// everything that finished (see [`crate::agent::Signature::placed`]).
pub const PLACEMENT_KEYS: &[&str] = &[
    "cpus",
    "mem",
    "time",
    "partition",
    "account",
    "qos",
    "cluster_options",
    "executor",
];

/// What a command needs, and where it should run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Resources {
    /// CPU cores (`cpus`): locally, that many `--jobs` slots; on Slurm,
    /// `--cpus-per-task`.
    pub cpus: Option<u32>,
    /// Memory in bytes (`mem`): locally, an admission bound; on Slurm, `--mem`.
    pub memory: Option<u64>,
    /// The most it may run (`time`): on Slurm, `--time` (whole minutes,
    /// rounded up).
    pub time: Option<Duration>,
    /// The Slurm partition (`--partition`).
    pub partition: Option<String>,
    /// The account charged (`--account`).
    pub account: Option<String>,
    /// The quality of service (`--qos`).
    pub qos: Option<String>,
    /// More options for the batch scheduler, one argument each
    /// (`["--gres=gpu:1", "--constraint=avx2"]`).
    pub cluster_options: Vec<String>,
    /// The executor that runs it (`executor: "slurm"`); the run's default
    /// when `None`.
    pub executor: Option<String>,
}

impl Resources {
    /// Reads the placement keys of a call's config. A key of the wrong type
    /// or value is an error naming it.
    pub fn from_config(config: &Map<String, Value>) -> Result<Resources, String> {
        let mut resources = Resources::default();
        if !PLACEMENT_KEYS.iter().any(|k| config.contains_key(*k)) {
            return Ok(resources);
        }
        let text = |key: &str| -> Result<Option<String>, String> {
            match config.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.trim().is_empty() => {
                    Err(format!("`{key}` is empty; leave it out to use the default"))
                }
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(format!(
                    "`{key}` must be a string, not {}",
                    crate::value::type_name(other)
                )),
            }
        };
        resources.cpus = match config.get("cpus") {
            None | Some(Value::Null) => None,
            Some(value) => Some(
                value
                    .as_u64()
                    .filter(|n| (1..=u64::from(u32::MAX)).contains(n))
                    .map(|n| n as u32)
                    .ok_or_else(|| {
                        format!(
                            "`cpus` must be a whole number of CPUs, 1 or more, not {}",
                            crate::value::preview(value, 30)
                        )
                    })?,
            ),
        };
        resources.memory = match config.get("mem") {
            None | Some(Value::Null) => None,
            Some(value) => Some(memory(value)?),
        };
        resources.time = match config.get("time") {
            None | Some(Value::Null) => None,
            Some(value) => {
                let time = crate::value::duration(value)
                    .map_err(|e| format!("bad `time`: {}", e.message))?;
                if time.is_zero() {
                    return Err("`time` must be more than 0s".into());
                }
                Some(time)
            }
        };
        resources.partition = text("partition")?;
        resources.account = text("account")?;
        resources.qos = text("qos")?;
        resources.executor = text("executor")?;
        resources.cluster_options = match config.get("cluster_options") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(format!(
                        "`cluster_options` must be a list of strings, and holds {}",
                        crate::value::preview(other, 30)
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(format!(
                    "`cluster_options` must be a string or a list of strings, not {}",
                    crate::value::type_name(other)
                ))
            }
        };
        Ok(resources)
    }

    /// The CPUs it takes: 1 unless it says.
    pub fn cpus_or_one(&self) -> u32 {
        self.cpus.unwrap_or(1)
    }
}

/// A memory size: a string with a unit (`"4G"`, `"4 GB"`, `"512MiB"`,
/// `"1.5g"`; K, M, G and T are powers of 1024, as Slurm reads them, with or
/// without `B` or `iB`), or a number of megabytes (Slurm's `--mem=4096`).
pub fn memory(value: &Value) -> Result<u64, String> {
    let bad = || {
        format!(
            "`mem` must be a size such as \"4G\", \"512M\" or a number of megabytes, not {}",
            crate::value::preview(value, 30)
        )
    };
    let (number, unit) = match value {
        Value::Number(n) => (n.as_f64().ok_or_else(bad)?, "M".to_string()),
        Value::String(s) => {
            let s = s.trim();
            let split = s
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(s.len());
            let number: f64 = s[..split].parse().map_err(|_| bad())?;
            let unit = s[split..].trim().to_ascii_uppercase();
            (number, unit)
        }
        _ => return Err(bad()),
    };
    let unit = unit
        .strip_suffix("IB")
        .or_else(|| unit.strip_suffix('B'))
        .unwrap_or(&unit);
    let scale: u64 = match unit {
        "" if matches!(value, Value::Number(_)) => 1 << 20,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        // A bare number in a string is ambiguous (bytes? megabytes?): say so.
        _ => return Err(bad()),
    };
    let bytes = number * scale as f64;
    if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(bad());
    }
    Ok(bytes.ceil() as u64)
}

/// A time limit as Slurm's `--time` takes it: `D-HH:MM:SS`, rounded up to
/// whole minutes (Slurm's own granularity).
pub fn slurm_time(limit: Duration) -> String {
    let minutes = limit.as_secs().div_ceil(60).max(1);
    let (days, rest) = (minutes / (24 * 60), minutes % (24 * 60));
    format!("{days}-{:02}:{:02}:00", rest / 60, rest % 60)
}

/// Memory as Slurm's `--mem` takes it: whole megabytes, rounded up.
pub fn slurm_memory(bytes: u64) -> String {
    format!("{}M", bytes.div_ceil(1 << 20).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn memory_sizes_read_as_slurm_reads_them() {
        assert_eq!(memory(&json!("4G")), Ok(4 << 30));
        assert_eq!(memory(&json!("4 GB")), Ok(4 << 30));
        assert_eq!(memory(&json!("512MiB")), Ok(512 << 20));
        assert_eq!(memory(&json!("1.5g")), Ok(3 << 29));
        assert_eq!(memory(&json!("100k")), Ok(100 << 10));
        assert_eq!(memory(&json!(2048)), Ok(2048 << 20));
        for bad in [
            json!("4"),
            json!("lots"),
            json!("4X"),
            json!(-1),
            json!(0),
            json!(true),
        ] {
            let error = memory(&bad).unwrap_err();
            assert!(error.contains("`mem` must be a size"), "{error}");
        }
    }

    #[test]
    fn slurm_forms_round_up() {
        assert_eq!(slurm_time(Duration::from_secs(1)), "0-00:01:00");
        assert_eq!(slurm_time(Duration::from_secs(61)), "0-00:02:00");
        assert_eq!(slurm_time(Duration::from_secs(90 * 60)), "0-01:30:00");
        assert_eq!(
            slurm_time(Duration::from_secs(2 * 86400 + 3600)),
            "2-01:00:00"
        );
        assert_eq!(slurm_memory(1), "1M");
        assert_eq!(slurm_memory(4 << 30), "4096M");
        assert_eq!(slurm_memory((4 << 30) + 1), "4097M");
    }

    #[test]
    fn placement_keys_are_read_and_checked() {
        let config = json!({
            "cpus": 4, "mem": "8G", "time": 7200, "partition": "short",
            "account": "lab", "qos": "high", "cluster_options": "--gres=gpu:1 --exclusive",
            "executor": "slurm", "cmd": "true",
        });
        let resources = Resources::from_config(config.as_object().unwrap()).unwrap();
        assert_eq!(resources.cpus, Some(4));
        assert_eq!(resources.memory, Some(8 << 30));
        assert_eq!(resources.time, Some(Duration::from_secs(7200)));
        assert_eq!(resources.partition.as_deref(), Some("short"));
        assert_eq!(resources.cluster_options, ["--gres=gpu:1", "--exclusive"]);
        assert_eq!(resources.executor.as_deref(), Some("slurm"));
        let none = Resources::from_config(json!({"cmd": "true"}).as_object().unwrap()).unwrap();
        assert_eq!(none, Resources::default());
        for (bad, says) in [
            (json!({"cpus": 0}), "`cpus` must be a whole number"),
            (json!({"cpus": 1.5}), "`cpus` must be a whole number"),
            (json!({"time": 0}), "`time` must be more than 0s"),
            (json!({"partition": 3}), "`partition` must be a string"),
            (json!({"qos": " "}), "`qos` is empty"),
            (
                json!({"cluster_options": [1]}),
                "`cluster_options` must be a list of strings",
            ),
        ] {
            let error = Resources::from_config(bad.as_object().unwrap()).unwrap_err();
            assert!(error.contains(says), "{error}");
        }
    }
}
