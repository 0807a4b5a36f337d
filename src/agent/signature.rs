//! What an agent declares about itself: the config it takes and how the
//! scheduler treats its calls. Every stage reads this instead of an agent's name.

use serde_json::Value;

/// An agent's signature. Built with [`Signature::backend`] or
/// [`Signature::agent`] and the builder methods:
///
/// ```no_run
/// use flow::agent::{ConfigType, Resource, Signature};
///
/// let signature = Signature::backend("render", "renders a template")
///     .positional("template")
///     .required("template", ConfigType::Text, "the template text")
///     .optional("width", ConfigType::Integer, "the line width")
///     .resource(Resource::Cpu);
/// assert_eq!(signature.key("width").unwrap().ty, ConfigType::Integer);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Signature {
    /// The name scripts use: `sh`, `Classifier`.
    pub name: String,
    /// One line for `flow explain`, the REPL's `:help` and diagnostics.
    pub summary: String,
    /// How scripts use it.
    pub role: Role,
    /// The config key a positional argument stands for (`sh("ls")` is
    /// `sh(cmd: "ls")`); without one, a positional argument is the call's
    /// instructions.
    pub positional: Option<String>,
    /// The config keys it takes (a backend's; a ready agent takes none).
    pub config: Vec<ConfigKey>,
    /// Its calls finish at once and touch nothing outside: the scheduler runs
    /// them inline, without a task (see [`super::Agent::call_inline`]).
    pub inline: bool,
    /// Its calls read their arguments: their instructions (the positional
    /// one) and their context (the named ones its config does not take).
    /// `false` (`noop`): the scheduler still evaluates those arguments, so
    /// that one that fails fails the call, but hands the agent no
    /// instructions and an empty context instead of making text of the one
    /// and copying each value into the other.
    pub reads_context: bool,
    /// Which concurrency slots its calls take.
    pub resource: Resource,
    /// The capability a host or `--deny` can switch off (`sh`, `http`, `llm`).
    pub capability: Option<String>,
    /// Its calls may change the world outside the value they return (run a
    /// command, send a request): lints treat them with care.
    pub effects: bool,
    /// Its calls spend model tokens: a budget reserves each call's worst
    /// case before it starts (see [`super::Agent::estimate`]).
    pub tokens: bool,
    /// Its calls are checkpoints: tasks wait for them with `after` to go on
    /// only once they passed (`approve`), so lints never call such an
    /// `after` unneeded.
    pub checkpoint: bool,
}

/// How scripts use an agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Configured in a declaration (`agent X = sh(cmd: …)`) or called directly
    /// with its config keys among the arguments (`sh("ls")`).
    Backend,
    /// A ready agent, called by its name: a positional argument is the
    /// instructions, named arguments are the context (host agents).
    Agent,
}

/// Which concurrency slots an agent's calls take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    /// Local CPU work (processes): each call takes one of the `--jobs` slots,
    /// which default to the number of CPUs.
    Cpu,
    /// A remote service (a model, an HTTP API): bounded by the agent's own
    /// `limit` and by an explicit `--jobs` only; its calls should have a `timeout`.
    Remote,
    /// Nothing worth counting (waiting, host code): bounded by an explicit
    /// `--jobs` only.
    None,
}

/// The config key every agent takes: `cache: false` makes its calls always
/// run, even under `--resume`.
pub const CACHE_KEY: &str = "cache";

/// One config key of a backend.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ConfigKey {
    /// The key, as scripts write it.
    pub name: String,
    /// The type of its value.
    pub ty: ConfigType,
    /// Whether every declaration or direct call must give it.
    pub required: bool,
    /// The value it has when not given, for documentation.
    pub default: Option<Value>,
    /// One line on what it does.
    pub doc: String,
    /// A capability that giving this key needs besides the agent's own: an
    /// `llm`'s `base_url` sends requests where the script says (`http`), its
    /// `api_key_env` reads the environment (`env`).
    pub capability: Option<String>,
    /// About how calls travel, not what they ask (see [`Signature::transport`]).
    pub transport: bool,
    /// Its value names an environment variable that holds a secret (see
    /// [`Signature::secret`]).
    pub secret: bool,
    /// The only strings it takes, when it takes a few (see [`Signature::one_of`]).
    pub choices: Option<&'static [&'static str]>,
    /// What its value declares about the agent's calls, for `flow check`
    /// (see [`Signature::output_schema`] and [`Signature::input_schemas`]).
    pub contract: Option<Contract>,
    /// Where and with what its calls run (`cpus`, `mem`, `executor`…), not
    /// what they do: left out of the cache key (see [`Signature::placed`]).
    pub placement: bool,
}

/// What a config key's value declares about an agent's calls: the checker
/// reads it, from a literal value, to check the script before it runs (see
/// docs/language.md, "Check-time contracts").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Contract {
    /// A JSON Schema of what each call returns: field access on a call's
    /// result and operators on its fields are checked against it.
    Output,
    /// An object from the name of a named argument (the call's context) to a
    /// JSON Schema of the value the agent expects there: a call passing a
    /// value of another shape is an error.
    Inputs,
}

/// The type of a config value: literals are checked before running, computed
/// values when the task starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigType {
    /// Any value.
    Any,
    /// A string.
    Text,
    /// A number, integer or not.
    Number,
    /// An integer.
    Integer,
    /// `true` or `false`.
    Bool,
    /// A duration literal (`30s`) or a number of seconds.
    Duration,
    /// A list.
    List,
    /// An object.
    Object,
    /// A shell command: text whose `${…}` are passed by reference, never
    /// parsed by the shell (see [`crate::shell`]).
    Command,
    /// A list of declared agents, written by name (`tools: [Search, Calc]`):
    /// the call may use them as tools (see [`super::Tools`]).
    Agents,
    /// A memory size: `"4G"`, `"512 MB"`, or a number of megabytes (see
    /// [`crate::exec::memory`]).
    Memory,
}

impl ConfigType {
    /// How a message names it: "a string", "a duration".
    pub fn describe(self) -> &'static str {
        match self {
            ConfigType::Any => "any value",
            ConfigType::Text | ConfigType::Command => "a string",
            ConfigType::Number => "a number",
            ConfigType::Integer => "an integer",
            ConfigType::Bool => "a boolean",
            ConfigType::Duration => "a duration",
            ConfigType::List => "a list",
            ConfigType::Object => "an object",
            ConfigType::Agents => "a list of agent names",
            ConfigType::Memory => "a memory size",
        }
    }

    /// Whether `value` has this type.
    pub fn accepts(self, value: &Value) -> bool {
        match self {
            ConfigType::Any => true,
            ConfigType::Text | ConfigType::Command => value.is_string(),
            ConfigType::Number => value.is_number(),
            ConfigType::Integer => value.is_i64() || value.is_u64(),
            ConfigType::Bool => value.is_boolean(),
            ConfigType::Duration => match value {
                Value::Number(_) => true,
                Value::String(_) => crate::value::duration(value).is_ok(),
                _ => false,
            },
            ConfigType::List | ConfigType::Agents => value.is_array(),
            ConfigType::Object => value.is_object(),
            ConfigType::Memory => crate::exec::memory(value).is_ok(),
        }
    }
}

impl Signature {
    /// A backend: configured in declarations or called directly.
    pub fn backend(name: impl Into<String>, summary: impl Into<String>) -> Signature {
        Signature {
            name: name.into(),
            summary: summary.into(),
            role: Role::Backend,
            positional: None,
            config: vec![ConfigKey {
                name: CACHE_KEY.to_string(),
                ty: ConfigType::Bool,
                required: false,
                default: Some(serde_json::Value::Bool(true)),
                doc: "`false`: always run, never re-use a result from an earlier run (`--resume`)"
                    .to_string(),
                capability: None,
                transport: true,
                secret: false,
                choices: None,
                contract: None,
                placement: false,
            }],
            inline: false,
            reads_context: true,
            resource: Resource::None,
            capability: None,
            effects: false,
            tokens: false,
            checkpoint: false,
        }
    }

    /// A ready agent, called by name with instructions and context.
    pub fn agent(name: impl Into<String>, summary: impl Into<String>) -> Signature {
        Signature {
            role: Role::Agent,
            effects: true,
            ..Signature::backend(name, summary)
        }
    }

    /// The config key a positional argument stands for.
    pub fn positional(mut self, key: impl Into<String>) -> Signature {
        self.positional = Some(key.into());
        self
    }

    /// Adds a key, keeping names unique and at most one `Command` key (the one
    /// whose `${…}` travel beside the config, [`crate::Call::command`]).
    fn push(&mut self, key: ConfigKey) {
        assert!(
            !self.takes(&key.name),
            "`{}` takes the config key `{}` twice",
            self.name,
            key.name
        );
        assert!(
            key.ty != ConfigType::Command || self.command_key().is_none(),
            "`{}` takes two `ConfigType::Command` keys; a signature has at most one",
            self.name
        );
        // `cache`, which every agent takes, stays last.
        let at = self.config.len() - usize::from(self.takes(CACHE_KEY));
        self.config.insert(at, key);
    }

    /// Adds a config key that must be given.
    ///
    /// # Panics
    ///
    /// When the key is there already, or is a second `Command` key.
    pub fn required(mut self, name: &str, ty: ConfigType, doc: &str) -> Signature {
        self.push(ConfigKey {
            name: name.into(),
            ty,
            required: true,
            default: None,
            doc: doc.into(),
            capability: None,
            transport: false,
            secret: false,
            choices: None,
            contract: None,
            placement: false,
        });
        self
    }

    /// Adds a config key that may be left out (panics as [`Signature::required`]).
    pub fn optional(mut self, name: &str, ty: ConfigType, doc: &str) -> Signature {
        self.push(ConfigKey {
            name: name.into(),
            ty,
            required: false,
            default: None,
            doc: doc.into(),
            capability: None,
            transport: false,
            secret: false,
            choices: None,
            contract: None,
            placement: false,
        });
        self
    }

    /// Adds a config key that may be left out, and documents the value the
    /// agent uses then (the agent applies it; the runtime passes no value).
    pub fn defaulted(mut self, name: &str, ty: ConfigType, default: Value, doc: &str) -> Signature {
        self.push(ConfigKey {
            name: name.into(),
            ty,
            required: false,
            default: Some(default),
            doc: doc.into(),
            capability: None,
            transport: false,
            secret: false,
            choices: None,
            contract: None,
            placement: false,
        });
        self
    }

    /// Says that giving the key added last needs `capability` too.
    ///
    /// # Panics
    ///
    /// When no key was added yet.
    pub fn needs(mut self, capability: impl Into<String>) -> Signature {
        self.last_added("needs").capability = Some(capability.into());
        self
    }

    /// Says that the key added last is about how calls travel (an address, a
    /// credential's name, a time limit), not what they ask: a recorded call
    /// (`--record`) is matched without it when it is replayed (`--replay`).
    ///
    /// # Panics
    ///
    /// When no key was added yet.
    pub fn transport(mut self) -> Signature {
        self.last_added("transport").transport = true;
        self
    }

    /// Says that the value of the key added last (or its default) names an
    /// environment variable holding a secret, such as an API key: a run's
    /// commands do not inherit that variable, and its value is redacted from
    /// everything the run prints or stores.
    ///
    /// # Panics
    ///
    /// When no key was added yet.
    pub fn secret(mut self) -> Signature {
        self.last_added("secret").secret = true;
        self
    }

    /// Says that the key added last takes one of these strings: a literal
    /// one outside them is an error before anything runs.
    ///
    /// # Panics
    ///
    /// When no key was added yet.
    pub fn one_of(mut self, choices: &'static [&'static str]) -> Signature {
        self.last_added("one_of").choices = Some(choices);
        self
    }

    /// Says that the key added last, an object, is a JSON Schema of what each
    /// call returns (`llm`'s `schema`): `flow check` reads a literal one and
    /// checks the fields read from the call's result, and how they are used.
    ///
    /// # Panics
    ///
    /// When no key was added yet, the key is not an object, or the signature
    /// has such a key already.
    pub fn output_schema(self) -> Signature {
        self.contract(Contract::Output, "output_schema")
    }

    /// Says that the key added last, an object, maps the names of the named
    /// arguments a call takes to a JSON Schema of each (`llm`'s `inputs`):
    /// `flow check` reports a call passing a value whose known shape does not
    /// fit (panics as [`Signature::output_schema`]).
    pub fn input_schemas(self) -> Signature {
        self.contract(Contract::Inputs, "input_schemas")
    }

    fn contract(mut self, contract: Contract, what: &str) -> Signature {
        assert!(
            self.contract_key(contract).is_none(),
            "`{}` has two `{what}` keys; a signature has at most one",
            self.name
        );
        let name = self.name.clone();
        let key = self.last_added(what);
        assert!(
            key.ty == ConfigType::Object,
            "`{what}` applies to an object key, and `{}` of `{name}` is not one",
            key.name
        );
        key.contract = Some(contract);
        self
    }

    /// The key whose value is a JSON Schema of each call's result, if any.
    pub fn output_schema_key(&self) -> Option<&str> {
        self.contract_key(Contract::Output)
    }

    /// The key whose value maps named arguments to JSON Schemas, if any.
    pub fn input_schemas_key(&self) -> Option<&str> {
        self.contract_key(Contract::Inputs)
    }

    fn contract_key(&self, contract: Contract) -> Option<&str> {
        self.config
            .iter()
            .find(|k| k.contract == Some(contract))
            .map(|k| k.name.as_str())
    }

    /// The environment variables the defaults of [`Signature::secret`] keys name.
    pub fn secret_defaults(&self) -> impl Iterator<Item = &str> {
        self.config
            .iter()
            .filter(|k| k.secret)
            .filter_map(|k| k.default.as_ref()?.as_str())
    }

    /// The config key added last (`cache`, which every agent takes, stays
    /// last in the list but is never "added").
    fn last_added(&mut self, what: &str) -> &mut ConfigKey {
        self.config
            .iter_mut()
            .rev()
            .find(|k| k.name != CACHE_KEY)
            .unwrap_or_else(|| panic!("`{what}` applies to the config key added just before it"))
    }

    /// Adds the placement keys of an agent whose calls run commands: `cpus`,
    /// `mem`, `time`, `partition`, `account`, `qos`, `cluster_options` and
    /// `executor` (see [`crate::exec::Resources`] and docs/executors.md). The
    /// runtime reads them to admit a call (locally, `cpus` takes that many
    /// `--jobs` slots and `mem` must fit) and to pick its executor; the
    /// agent passes them on in its [`crate::exec::CommandSpec`]. They are
    /// not part of a task's cache key: raising `mem` and resuming re-uses
    /// what finished. A call of a declared agent may set them too, as named
    /// arguments (`Align(reads, cpus: 8)`).
    pub fn placed(self) -> Signature {
        let keys: [(&str, ConfigType, &str); 8] = [
            (
                "cpus",
                ConfigType::Integer,
                "CPU cores: locally that many `--jobs` slots; on Slurm `--cpus-per-task`",
            ),
            (
                "mem",
                ConfigType::Memory,
                "memory (`\"4G\"`, `\"512M\"`): locally an admission bound; on Slurm `--mem`",
            ),
            (
                "time",
                ConfigType::Duration,
                "the longest it may run on a cluster (Slurm `--time`; default: its `timeout`)",
            ),
            ("partition", ConfigType::Text, "the Slurm partition"),
            ("account", ConfigType::Text, "the Slurm account charged"),
            ("qos", ConfigType::Text, "the Slurm quality of service"),
            (
                "cluster_options",
                ConfigType::Any,
                "more `sbatch` options: a string or a list of strings",
            ),
            (
                "executor",
                ConfigType::Text,
                "where it runs: \"local\" or \"slurm\" (default: `--executor`, else local)",
            ),
        ];
        // The keys `exec::Resources` reads, in its order.
        debug_assert!(keys
            .iter()
            .map(|k| k.0)
            .eq(crate::exec::PLACEMENT_KEYS.iter().copied()));
        let mut signature = self;
        for (name, ty, doc) in keys {
            signature = signature.optional(name, ty, doc);
            signature.last_added("placed").placement = true;
        }
        signature
    }

    /// Whether its calls take the placement keys (see [`Signature::placed`]).
    pub fn is_placed(&self) -> bool {
        self.config.iter().any(|k| k.placement)
    }

    /// Marks its calls as instant and pure: run inline by the scheduler.
    pub fn inline(mut self) -> Signature {
        self.inline = true;
        self
    }

    /// Marks its calls as reading none of their arguments (see
    /// [`Signature::reads_context`]).
    pub fn ignores_context(mut self) -> Signature {
        self.reads_context = false;
        self
    }

    /// Which concurrency slots its calls take.
    pub fn resource(mut self, resource: Resource) -> Signature {
        self.resource = resource;
        self
    }

    /// The capability that switches it off (`--deny NAME`).
    pub fn capability(mut self, capability: impl Into<String>) -> Signature {
        self.capability = Some(capability.into());
        self
    }

    /// Says that its calls spend model tokens, which a budget counts (the
    /// agent bounds each call with [`super::Agent::estimate`]).
    pub fn spends_tokens(mut self) -> Signature {
        self.tokens = true;
        self
    }

    /// Whether its calls may change the world outside their value.
    pub fn effects(mut self, effects: bool) -> Signature {
        self.effects = effects;
        self
    }

    /// Marks its calls as checkpoints (see [`Signature::checkpoint`](Signature#structfield.checkpoint)).
    pub fn checkpoint(mut self) -> Signature {
        self.checkpoint = true;
        self
    }

    /// A config key by name.
    pub fn key(&self, name: &str) -> Option<&ConfigKey> {
        self.config.iter().find(|k| k.name == name)
    }

    /// Whether `name` is one of its config keys.
    pub fn takes(&self, name: &str) -> bool {
        self.key(name).is_some()
    }

    /// The key whose strings are shell commands, if any.
    pub fn command_key(&self) -> Option<&str> {
        self.config
            .iter()
            .find(|k| k.ty == ConfigType::Command)
            .map(|k| k.name.as_str())
    }

    /// The required keys, in order.
    pub fn required_keys(&self) -> impl Iterator<Item = &str> {
        self.config
            .iter()
            .filter(|k| k.required)
            .map(|k| k.name.as_str())
    }
}
