//! Who runs a run, and whether it still does: a `running` run whose `flow`
//! is gone was killed (`flow runs` says so, and the next command cancels
//! the Slurm jobs it left behind). A pid alone cannot tell:
//!
//! - a store often sits in a folder several hosts see (a cluster's home
//!   folder, on every login node), and a pid means nothing on another
//!   host: a run there must never be taken for killed, its jobs cancelled
//!   (hosts take turns with a store: SQLite's write-ahead log cannot be
//!   shared by processes of different hosts at once, docs/store.md);
//! - a pid is reused, after a reboot or once the pids wrap around, so a
//!   killed run could pass for running as long as the stranger lives.
//!
//! So each run records its host, the kernel's boot id and when its process
//! started (in clock ticks since boot, `/proc/PID/stat`): on the same host
//! and boot, the run's process is alive when a process with its pid exists
//! and started at that moment. Of a run on another host nothing can be
//! known: it counts as running. Runs recorded before these columns existed
//! are judged by their pid alone, as they always were.

use std::sync::OnceLock;

/// The process a run's row names as its runner (see the module documentation).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Owner {
    pub pid: i64,
    /// The host's name; `None` when it could not be read.
    pub host: Option<String>,
    /// The kernel's boot id (`/proc/sys/kernel/random/boot_id`).
    pub boot: Option<String>,
    /// When the process started, in clock ticks since boot.
    pub started: Option<i64>,
}

/// Whether a run's process still runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    Alive,
    /// It is gone: the run was killed.
    Gone,
    /// It runs (or ran) on another host: no way to tell from here.
    Elsewhere,
}

impl Liveness {
    /// Whether the run is to be taken as still going.
    pub fn running(self) -> bool {
        self != Liveness::Gone
    }
}

impl Owner {
    /// This process.
    pub fn this_process() -> &'static Owner {
        static THIS: OnceLock<Owner> = OnceLock::new();
        THIS.get_or_init(|| {
            let pid = i64::from(std::process::id());
            Owner {
                pid,
                host: host_name(),
                boot: boot_id(),
                started: start_time(pid),
            }
        })
    }

    /// Whether this owner's process still runs, as seen from this host.
    pub fn liveness(&self) -> Liveness {
        let here = Owner::this_process();
        if let (Some(host), Some(this_host)) = (&self.host, &here.host) {
            if host != this_host {
                return Liveness::Elsewhere;
            }
        }
        if let (Some(boot), Some(this_boot)) = (&self.boot, &here.boot) {
            if boot != this_boot {
                return Liveness::Gone;
            }
        }
        if !pid_exists(self.pid) {
            return Liveness::Gone;
        }
        match (self.started, start_time(self.pid)) {
            // Another process now has the pid.
            (Some(recorded), Some(now)) if recorded != now => Liveness::Gone,
            _ => Liveness::Alive,
        }
    }
}

/// Whether a process with this id exists.
fn pid_exists(pid: i64) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(nix::errno::Errno::EPERM) => true,
        Err(_) => false,
    }
}

fn host_name() -> Option<String> {
    let name = nix::unistd::gethostname().ok()?.into_string().ok()?;
    (!name.is_empty()).then_some(name)
}

fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let id = id.trim();
    (!id.is_empty()).then(|| id.to_string())
}

/// When process `pid` started, in clock ticks since boot: the 22nd field of
/// `/proc/PID/stat`, counted after the command's name (which may hold
/// spaces and parentheses, so the fields start after its last `)`).
fn start_time(pid: i64) -> Option<i64> {
    start_time_in(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The start time in a `/proc/PID/stat` line.
fn start_time_in(stat: &str) -> Option<i64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Fields 3, 4, … follow the name: the 22nd is the 20th of them.
    after_name.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn this() -> Owner {
        Owner::this_process().clone()
    }

    #[test]
    fn this_process_is_alive_and_fully_identified() {
        let me = this();
        assert_eq!(me.pid, i64::from(std::process::id()));
        if cfg!(target_os = "linux") {
            assert!(
                me.host.is_some() && me.boot.is_some() && me.started.is_some(),
                "{me:?}"
            );
        }
        assert_eq!(me.liveness(), Liveness::Alive);
    }

    #[test]
    fn a_process_that_ended_is_gone() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = i64::from(child.id());
        child.wait().unwrap();
        let owner = Owner { pid, ..this() };
        assert_eq!(owner.liveness(), Liveness::Gone);
        assert!(!owner.liveness().running());
    }

    #[test]
    fn a_pid_taken_by_another_process_is_gone() {
        // This pid, but a process that started at another moment.
        let mut owner = this();
        let Some(started) = owner.started else { return };
        owner.started = Some(started + 1);
        assert_eq!(owner.liveness(), Liveness::Gone);
    }

    #[test]
    fn a_run_of_another_boot_is_gone() {
        let mut owner = this();
        owner.boot = Some("an earlier boot".into());
        assert_eq!(owner.liveness(), Liveness::Gone);
    }

    #[test]
    fn a_run_of_another_host_is_taken_as_running_whatever_its_pid() {
        // A pid that cannot exist here: only the host decides.
        let owner = Owner {
            pid: i64::from(i32::MAX),
            host: Some("another-login-node".into()),
            ..this()
        };
        assert_eq!(owner.liveness(), Liveness::Elsewhere);
        assert!(owner.liveness().running());
    }

    #[test]
    fn a_run_recorded_before_owners_is_judged_by_its_pid() {
        let alive = Owner {
            pid: i64::from(std::process::id()),
            ..Owner::default()
        };
        assert_eq!(alive.liveness(), Liveness::Alive);
        let impossible = Owner {
            pid: i64::from(i32::MAX),
            ..Owner::default()
        };
        assert_eq!(impossible.liveness(), Liveness::Gone);
    }

    #[test]
    fn the_start_time_is_read_after_a_name_with_spaces_and_parentheses() {
        // A `stat` line as the kernel writes it for a command named `a) b (c`.
        let line = "42 (a) b (c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(start_time_in(line), Some(987654));
        assert_eq!(start_time_in("42 (cut short) S 1"), None);
        assert_eq!(start_time(i64::from(i32::MAX)), None);
    }
}
