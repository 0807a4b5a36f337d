//! The registry: every agent a script can name, built-in or registered by a
//! host, and the capabilities a host or `--deny` switched off.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::{Agent, Role, Signature};

/// Every agent scripts can use, by name. Cheap to clone (agents are shared).
#[derive(Clone, Default)]
pub struct Registry {
    agents: Vec<Arc<dyn Agent>>,
    index: HashMap<String, usize, foldhash::fast::FixedState>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.agents.iter().map(|a| &a.signature().name))
            .finish()
    }
}

impl Registry {
    /// A registry with no agent at all.
    pub fn empty() -> Registry {
        Registry::default()
    }

    /// Adds an agent under its signature's name, replacing one of that name.
    pub fn register(&mut self, agent: Arc<dyn Agent>) {
        let name = agent.signature().name.clone();
        match self.index.get(&name) {
            Some(&i) => self.agents[i] = agent,
            None => {
                self.index.insert(name, self.agents.len());
                self.agents.push(agent);
            }
        }
    }

    /// The agent of this name.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Agent>> {
        self.index.get(name).map(|&i| &self.agents[i])
    }

    /// The signature of the agent of this name.
    pub fn signature(&self, name: &str) -> Option<&Signature> {
        self.get(name).map(|a| a.signature())
    }

    /// The backend of this name (`sh`, not a host agent).
    pub fn backend(&self, name: &str) -> Option<&Arc<dyn Agent>> {
        self.get(name)
            .filter(|a| a.signature().role == Role::Backend)
    }

    /// Every agent, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Agent>> {
        self.agents.iter()
    }

    /// Every capability some agent declares, plus `env` (the `env()` function).
    pub fn capabilities(&self) -> BTreeSet<String> {
        let mut all: BTreeSet<String> = BTreeSet::new();
        for agent in &self.agents {
            let signature = agent.signature();
            all.extend(signature.capability.iter().cloned());
            all.extend(signature.config.iter().filter_map(|k| k.capability.clone()));
        }
        all.extend(
            crate::builtins::FUNCTIONS
                .iter()
                .filter_map(|f| f.capability.map(str::to_string)),
        );
        all
    }
}

impl Registry {
    /// The first of `names` that no agent or function declares.
    pub fn unknown_capability<'n>(
        &self,
        names: impl IntoIterator<Item = &'n str>,
    ) -> Option<&'n str> {
        let known = self.capabilities();
        names.into_iter().find(|n| !known.contains(*n))
    }

    /// Every capability, for messages: `approve, env, files, http, llm, sh`.
    pub fn capability_list(&self) -> String {
        let known: Vec<String> = self.capabilities().into_iter().collect();
        known.join(", ")
    }
}

/// Which capabilities a script may use: all of them unless some are denied,
/// or only an allowed few.
///
/// ```no_run
/// use flow::Capabilities;
///
/// let sandbox = Capabilities::all().deny("sh").deny("env");
/// assert!(!sandbox.permits("sh"));
/// assert!(sandbox.permits("llm"));
/// let only = Capabilities::only(["llm"]);
/// assert!(only.permits("llm") && !only.permits("http"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    denied: BTreeSet<String>,
    allowed: Option<BTreeSet<String>>,
}

impl Capabilities {
    /// Every capability permitted (the default).
    pub fn all() -> Capabilities {
        Capabilities::default()
    }

    /// Only these capabilities permitted.
    pub fn only<I: IntoIterator<Item = S>, S: Into<String>>(names: I) -> Capabilities {
        Capabilities {
            denied: BTreeSet::new(),
            allowed: Some(names.into_iter().map(Into::into).collect()),
        }
    }

    /// The same, with `name` denied too.
    pub fn deny(mut self, name: impl Into<String>) -> Capabilities {
        self.denied.insert(name.into());
        self
    }

    /// Whether a script may use `name`.
    pub fn permits(&self, name: &str) -> bool {
        !self.denied.contains(name) && self.allowed.as_ref().is_none_or(|a| a.contains(name))
    }

    /// How the command line would say it: `--deny sh,env`, `--allow llm`,
    /// `--allow llm --deny http`, or `no capability` for an empty allow-list.
    pub fn describe(&self) -> String {
        let list = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(",");
        let deny = (!self.denied.is_empty()).then(|| format!("--deny {}", list(&self.denied)));
        match &self.allowed {
            Some(allowed) if allowed.is_empty() => "no capability".to_string(),
            Some(allowed) => {
                let allow = format!("--allow {}", list(allowed));
                deny.map_or(allow.clone(), |deny| format!("{allow} {deny}"))
            }
            None => deny.unwrap_or_else(|| "every capability".to_string()),
        }
    }

    /// The names denied.
    pub fn denied(&self) -> impl Iterator<Item = &str> {
        self.denied.iter().map(String::as_str)
    }
}
