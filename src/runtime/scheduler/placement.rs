//! Where a task runs and what it takes: the run's executors (this machine,
//! the built-in Slurm one, a host's), and each process-running task's
//! placement keys (`cpus`, `mem`, `executor`…) read when it is prepared.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::*;
use crate::agent::Agent;
use crate::exec::{Capacity, Executor, Resources, RunEnvironment, PLACEMENT_KEYS};
use crate::runtime::task::Placement;

impl Scheduler {
    /// The run's executors: the local one first, then the host's, then the
    /// built-in Slurm one (unless the host gave one by that name). Each is
    /// told the run's environment; `--executor` must name one of them.
    pub(super) fn setup_executors(&mut self, errors: &mut Vec<Diagnostic>) {
        let mut executors: Vec<Arc<dyn Executor>> = vec![self.services.executor.clone()];
        executors.extend(self.options.executors.iter().cloned());
        if !executors.iter().any(|e| e.name() == "slurm") {
            let slurm = crate::exec::SlurmExecutor::new(self.options.slurm.clone());
            executors.push(Arc::new(slurm));
        }
        let environment = RunEnvironment {
            hidden: self.secrets.names().to_vec(),
            set: self.dirs.variables(),
        };
        let (jobs, explicit) = self.queues.jobs();
        self.queues.remote = executors
            .iter()
            .map(|e| match e.capacity() {
                Capacity::Local => (0, usize::MAX),
                Capacity::Queue(cap) if explicit => (0, cap.min(jobs)),
                Capacity::Queue(cap) => (0, cap.max(1)),
            })
            .collect();
        for executor in &executors[1..] {
            executor.begin_run(&environment);
        }
        self.services.executors = executors.into();
        if let Some(name) = self.options.default_executor.clone() {
            if let Err(message) = self.executor_index(&name) {
                errors.push(
                    Diagnostic::error(Code::BadValue, format!("`--executor {name}`: {message}"))
                        .help(self.known_executors()),
                );
            }
        }
    }

    /// The index of the executor called `name`, or why there is none.
    fn executor_index(&self, name: &str) -> Result<Option<u16>, String> {
        let executors = &self.services.executors;
        match executors.iter().position(|e| e.name() == name) {
            Some(0) => Ok(None),
            Some(i) => Ok(Some(i as u16)),
            None if name == "local" => Ok(None),
            None => {
                let names = executors.iter().map(|e| e.name());
                Err(match crate::value::suggest(name, names) {
                    Some(close) => format!("no executor is called `{name}`; did you mean `{close}`?"),
                    None => format!("no executor is called `{name}`"),
                })
            }
        }
    }

    fn known_executors(&self) -> String {
        let names: Vec<String> = (self.services.executors.iter())
            .map(|e| format!("`{}`", e.name()))
            .collect();
        format!("the executors are {}", names.join(", "))
    }

    /// A task's placement, from its agent's placement keys: a declared
    /// agent's config, a direct call's arguments, or a call's named
    /// arguments of those names (`Align(reads, cpus: 8)`), which then set
    /// them instead of going into the context. Fails when a key is wrong,
    /// when it names no executor, or when it asks for more than this
    /// machine has (more `cpus` than `--jobs` slots, more `mem` than there is).
    pub(super) fn place(
        &self,
        agent: &dyn Agent,
        config: &mut std::borrow::Cow<'_, Arc<Map<String, Value>>>,
        context: &mut Map<String, Value>,
    ) -> Result<Placement, Diagnostic> {
        let default = Placement {
            cpus: 1,
            ..Placement::default()
        };
        if !agent.signature().is_placed() {
            return Ok(default);
        }
        if PLACEMENT_KEYS.iter().any(|k| context.contains_key(*k)) {
            let config = Arc::make_mut(config.to_mut());
            for key in PLACEMENT_KEYS {
                if let Some(value) = context.remove(*key) {
                    config.insert(key.to_string(), value);
                }
            }
        }
        let bad = |message: String| Diagnostic::error(Code::BadValue, message);
        let resources = Resources::from_config(config).map_err(bad)?;
        let name = resources.executor.as_deref().or(self.options.default_executor.as_deref());
        let executor = match name {
            Some(name) => self
                .executor_index(name)
                .map_err(|m| bad(format!("`executor`: {m}")).help(self.known_executors()))?,
            None => None,
        };
        let remote = executor.is_some_and(|i| {
            self.services.executors[i as usize].capacity() != Capacity::Local
        });
        let placement = Placement {
            cpus: resources.cpus_or_one(),
            memory: resources.memory.unwrap_or(0),
            executor,
            remote,
        };
        if remote {
            return Ok(placement);
        }
        let (jobs, _) = self.queues.jobs();
        if placement.cpus as usize > jobs {
            return Err(bad(format!(
                "the task asks for {} CPUs (`cpus`), and this run has {jobs} `--jobs` slots",
                placement.cpus
            ))
            .help(format!(
                "run with `--jobs {}` or more, lower `cpus`, or run it on a cluster (`executor: \"slurm\"`)",
                placement.cpus
            )));
        }
        if placement.memory > self.queues.memory() {
            return Err(bad(format!(
                "the task asks for {} of memory (`mem`), more than this machine has ({})",
                crate::value::size(placement.memory),
                crate::value::size(self.queues.memory())
            ))
            .help("lower `mem`, or run it on a cluster (`executor: \"slurm\"`)"));
        }
        Ok(placement)
    }
}
