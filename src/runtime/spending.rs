//! What a run's model calls spent, agent by agent, and what its budget
//! counted (see `docs/agents.md`, "Budgets").

use serde_json::{json, Map, Value};

use crate::agent::Budget;

/// What a run's calls spent: per agent, and against the budget.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Spending {
    /// Each agent whose calls spend tokens or reported usage, in the order
    /// their first call ended.
    pub agents: Vec<AgentUsage>,
    /// The run's budget and what it counted, when it had one.
    pub budget: Option<BudgetReport>,
}

/// What the calls of one agent reported using.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AgentUsage {
    /// The agent's name in the script (`Writer`, or a backend called directly).
    pub agent: String,
    /// How many of its calls ran (re-used and refused ones are not counted).
    pub calls: u64,
    /// Prompt tokens its calls reported.
    pub prompt_tokens: u64,
    /// Completion tokens its calls reported.
    pub completion_tokens: u64,
    /// What those tokens cost, when the agent has a `price`.
    pub cost_usd: Option<f64>,
}

impl AgentUsage {
    /// Prompt and completion tokens together.
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

/// A run's budget and what was counted against it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BudgetReport {
    /// The budget the run had (the command line's and the script's, the
    /// smaller of each).
    pub budget: Budget,
    /// Tokens counted: what the calls reported, and the whole reservation
    /// of a call (or attempt) that failed or reported no usage.
    pub spent_tokens: u64,
    /// Dollars counted, in the same way.
    pub spent_usd: f64,
    /// Calls refused because the budget could not cover them.
    pub refused: u64,
}

impl Spending {
    /// Whether there is anything to report.
    pub fn is_empty(&self) -> bool {
        self.agents.is_empty() && self.budget.is_none()
    }

    /// The cost of every priced call, when some agent has a price.
    pub fn cost_usd(&self) -> Option<f64> {
        let costs: Vec<f64> = self.agents.iter().filter_map(|a| a.cost_usd).collect();
        (!costs.is_empty()).then(|| costs.iter().sum())
    }

    /// `{"Writer": {"calls", "prompt_tokens", "completion_tokens",
    /// "total_tokens", "cost_usd"}}`, as `--json` reports it under `usage.agents`.
    pub fn agents_json(&self) -> Value {
        let agents: Map<String, Value> = self
            .agents
            .iter()
            .map(|a| {
                let usage = json!({
                    "calls": a.calls,
                    "prompt_tokens": a.prompt_tokens,
                    "completion_tokens": a.completion_tokens,
                    "total_tokens": a.total_tokens(),
                    "cost_usd": a.cost_usd,
                });
                (a.agent.clone(), usage)
            })
            .collect();
        Value::Object(agents)
    }

    /// The run's token usage with `cost_usd` and `agents` added: what
    /// `--json` prints as `usage`.
    pub fn usage_json(&self, totals: Option<&Value>) -> Option<Value> {
        if totals.is_none() && self.agents.is_empty() {
            return None;
        }
        let mut usage = match totals {
            Some(Value::Object(fields)) => fields.clone(),
            _ => Map::new(),
        };
        for key in ["prompt_tokens", "completion_tokens", "total_tokens"] {
            usage.entry(key).or_insert(json!(0));
        }
        usage.insert("cost_usd".into(), json!(self.cost_usd()));
        usage.insert("agents".into(), self.agents_json());
        Some(Value::Object(usage))
    }

    /// `{"tokens", "usd", "spent_tokens", "spent_usd", "refused"}`, as
    /// `--json` reports the budget.
    pub fn budget_json(&self) -> Option<Value> {
        let report = self.budget.as_ref()?;
        Some(json!({
            "tokens": report.budget.tokens,
            "usd": report.budget.usd,
            "spent_tokens": report.spent_tokens,
            "spent_usd": report.spent_usd,
            "refused": report.refused,
        }))
    }
}
