//! The run's budget (`--budget`, `budget tokens = N`): before a call that
//! spends tokens starts, the scheduler reserves its worst case (its agent's
//! [`Estimate`]: a bound on the prompt, plus `max_tokens`); when it ends,
//! the reservation is settled on the usage its server reported. Only the
//! scheduler touches the ledger, so reservations are taken one at a time and
//! calls running side by side can never together exceed the budget.
//!
//! A call the budget cannot cover now waits while other calls hold
//! reservations (they may give some back); once none does, it starts with a
//! lower `max_tokens` if at least [`MIN_COMPLETION`] tokens of reply fit, and
//! is refused otherwise. A call that could not fit even if every reservation
//! came back is refused at once.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::{failure_from, Failure, Key, Node, NodeKind, Scheduler, TaskRecord, TaskStatus};
use crate::agent::{dollars, Budget, Estimate, Inline, Price};
use crate::diag::{Code, Diagnostic};
use crate::runtime::spending::{AgentUsage, BudgetReport, Spending};
use crate::runtime::task::{Executed, Prepared};

use super::limits::Queued;

/// What reserving a queued call came to.
pub(super) enum Reserved {
    /// It may start, holding this (`None`: it spends nothing).
    Start(Option<Box<Hold>>),
    /// Not now.
    Wait,
    /// Never.
    Refused(Refusal),
}

impl Scheduler {
    /// Bounds what a prepared call may spend, when its agent spends tokens.
    /// An error (a bad `price`, or a config the call itself would refuse)
    /// fails the task as its call would have, before anything is sent.
    pub(super) fn estimate(
        &mut self,
        key: Key,
        k: u32,
        node: &Node,
        prepared: &mut Prepared,
    ) -> Result<(), ()> {
        let agent = &prepared.implementation;
        if !agent.signature().tokens {
            return Ok(());
        }
        let call = Inline {
            instructions: prepared.instructions.as_deref(),
            context: &prepared.context,
            config: &prepared.config,
        };
        match agent.estimate(&call) {
            Ok(estimate) => {
                prepared.estimate = estimate;
                Ok(())
            }
            Err(error) => {
                let id = self.node_id(key, node);
                if let Some(instance) = self.inst(key).map(|i| i.name.clone()) {
                    let mut record = TaskRecord::new(
                        instance,
                        node.label.clone(),
                        prepared.agent.clone(),
                        TaskStatus::Failed,
                        node.span,
                    );
                    record.error = Some(error.message.clone());
                    record.notes = error.notes.clone();
                    self.push_record(record, None);
                }
                let failure =
                    super::limits::task_failure(&id, node, &prepared.agent, TaskStatus::Failed, 1, error);
                self.fail(key, k, failure);
                Err(())
            }
        }
    }

    /// Reserves a queued call's worst case against the budget and sets the
    /// budget's cap on its reply.
    pub(super) fn reserve(&mut self, queued: &mut Queued) -> Reserved {
        let Some(estimate) = &queued.prepared.estimate else {
            return Reserved::Start(None);
        };
        let attempts = queued.prepared.retries.saturating_add(1);
        let ledger = &mut self.queues.budget;
        match ledger.decide(&queued.prepared.agent, estimate, attempts) {
            Decision::Start(hold, cap) => {
                ledger.take(&hold);
                queued.prepared.max_tokens = cap;
                Reserved::Start(Some(Box::new(hold)))
            }
            Decision::Wait => Reserved::Wait,
            Decision::Refuse(refusal) => Reserved::Refused(refusal),
        }
    }

    /// A queued call the budget refused: it fails with `budget_exhausted`
    /// (an ordinary task failure, which a `try` may catch).
    pub(super) fn refuse_queued(&mut self, queued: Queued, refusal: Refusal) {
        self.queues.budget.refuse();
        let graph = self.graph.clone();
        let Some(inst) = self.inst_mut(queued.key) else {
            return;
        };
        inst.active -= 1;
        let node = graph.local(inst.body, queued.node);
        let name = inst.name.clone();
        let id = crate::runtime::task_id(&name, &node.label);
        let agent = queued.prepared.agent.clone();
        let why = format!("refused by the budget: {}", refusal.message());
        let diag = Diagnostic::error(Code::BudgetExhausted, format!("task `{id}` ({agent}) was {why}"))
            .at(node.span, format!("this call to `{agent}`"))
            .help(refusal.help());
        let mut record = TaskRecord::new(name, node.label.clone(), agent, TaskStatus::Failed, node.span);
        record.error = Some(why.clone());
        self.push_record(record, None);
        let failure = Failure {
            message: why,
            ..failure_from(diag, &id)
        };
        self.fail(queued.key, queued.node, failure);
    }

    /// A call ended: settles its reservation on the usage it reported, and
    /// adds the cost of that usage to it (`usage.cost_usd`) when priced.
    pub(super) fn settle(&mut self, key: Key, node: u32, hold: Option<&Hold>, done: &mut Executed) {
        let usage = done.result.as_ref().ok().and_then(|r| r.usage.as_ref());
        if hold.is_none() && usage.is_none() {
            return;
        }
        let agent = match hold {
            Some(_) => None,
            None => self.inst(key).and_then(|inst| {
                match &self.graph.local(inst.body, node).kind {
                    NodeKind::Task(task) => Some(self.graph.agent_name(task).clone()),
                    _ => None,
                }
            }),
        };
        let cost = (self.queues.budget).settle(hold, agent.as_ref(), usage, done.attempts);
        if let (Some(cost), Ok(reply)) = (cost, done.result.as_mut()) {
            if let Some(Value::Object(usage)) = reply.usage.as_mut() {
                usage.insert("cost_usd".into(), json!(cost));
            }
        }
    }

    /// Before the first task: the run's budget (the options' and the
    /// script's, the smaller of each). Under a budget in dollars, a declared
    /// agent that spends tokens and has no `price` (or a bad one) is an
    /// error before anything runs.
    pub(super) fn setup_budget(&mut self, errors: &mut Vec<Diagnostic>) {
        let budget = self.options.budget.tighten(self.graph.budget);
        self.queues.budget = Ledger::new(budget);
        // (After another error, the agents may not line up with the graph's.)
        let (Some(usd), true) = (budget.usd, errors.is_empty()) else {
            return;
        };
        let graph = self.graph.clone();
        for (declared, agent) in graph.agents.iter().zip(&self.agents) {
            let implementation = &agent.implementation;
            if !implementation.signature().tokens {
                continue;
            }
            let call = Inline {
                instructions: None,
                context: &Map::new(),
                config: &agent.config,
            };
            // A config its calls would refuse fails them when they start.
            if let Ok(Some(Estimate { price: None, .. })) = implementation.estimate(&call) {
                let message = format!(
                    "agent `{}` has no `price`, so a budget of {} cannot cost its calls",
                    declared.name,
                    dollars(usd)
                );
                let diag = Diagnostic::error(Code::BudgetExhausted, message)
                    .at(declared.span, "declared here")
                    .help(Refusal::Unpriced { budget: usd }.help());
                errors.push(diag);
            }
        }
    }
}

/// The fewest completion tokens a call is started with when the budget
/// lowers its `max_tokens` (or its own `max_tokens`, when smaller).
pub(crate) const MIN_COMPLETION: u64 = 16;

/// Dollars in picodollars (1e-12), so that sums of per-token prices are exact.
type Pico = i128;

fn pico(usd: f64) -> Pico {
    (usd * 1e12).round() as Pico
}

fn usd(pico: Pico) -> f64 {
    pico as f64 / 1e12
}

/// A price per million tokens as picodollars per token.
fn per_token(price_per_million: f64) -> Pico {
    (price_per_million * 1e6).round() as Pico
}

/// What a started call holds: its reservation for each attempt, and how to
/// count what it used.
#[derive(Debug)]
pub(crate) struct Hold {
    agent: Arc<str>,
    /// Reserved for each attempt (a call with `retry N` reserves N + 1).
    tokens: i128,
    usd: Pico,
    attempts: i128,
    price: Option<Price>,
    /// Whether it counts against a budget (else it is only tallied).
    reserved: bool,
}

/// What the budget says about a call that is about to start.
#[derive(Debug)]
pub(super) enum Decision {
    /// Start it, holding this, with this cap on its reply (`None`: as it asks).
    Start(Hold, Option<u64>),
    /// Not now: calls running may give some of their reservations back.
    Wait,
    /// Never: the budget cannot cover it.
    Refuse(Refusal),
}

/// Why a call was refused.
#[derive(Debug)]
pub(super) enum Refusal {
    /// The agent has no `price` and the budget is in dollars.
    Unpriced { budget: f64 },
    /// Tokens: the budget, what was spent, and the least the call needs.
    Tokens {
        budget: u64,
        spent: i128,
        prompt: u64,
        least: u64,
    },
    /// Dollars, in the same way.
    Usd {
        budget: Pico,
        spent: Pico,
        prompt: u64,
        least: u64,
        need: Pico,
    },
}

impl Refusal {
    /// One line: why, with the numbers.
    pub(super) fn message(&self) -> String {
        match self {
            Refusal::Unpriced { budget } => format!(
                "its agent has no `price`, so a budget of {} cannot cost its calls",
                dollars(*budget)
            ),
            Refusal::Tokens {
                budget,
                spent,
                prompt,
                least,
            } => format!(
                "{budget} tokens budgeted, {spent} used, {} left; the call needs at least {} \
                 (a prompt of up to {prompt} tokens and {least} of reply)",
                (*budget as i128 - spent).max(0),
                prompt + least
            ),
            Refusal::Usd {
                budget,
                spent,
                prompt,
                least,
                need,
            } => format!(
                "{} budgeted, {} used, {} left; the call needs at least {} \
                 (a prompt of up to {prompt} tokens and {least} of reply)",
                dollars(usd(*budget)),
                dollars(usd(*spent)),
                dollars(usd((budget - spent).max(0))),
                dollars(usd(*need)),
            ),
        }
    }

    /// What to do about it.
    pub(super) fn help(&self) -> &'static str {
        match self {
            Refusal::Unpriced { .. } => {
                "give the agent `price: {input: …, output: …}` (dollars per million tokens), or budget in tokens (`--budget tokens=N`)"
            }
            Refusal::Tokens { .. } => {
                "raise the budget (`--budget tokens=N`, or the script's `budget tokens = N`), or lower the agent's `max_tokens`"
            }
            Refusal::Usd { .. } => {
                "raise the budget (`--budget usd=X`, or the script's `budget usd = X`), or lower the agent's `max_tokens`"
            }
        }
    }
}

/// One agent's tally, and the budget's counts.
pub(super) struct Ledger {
    budget: Budget,
    tokens: Option<i128>,
    usd: Option<Pico>,
    spent_tokens: i128,
    spent_usd: Pico,
    reserved_tokens: i128,
    reserved_usd: Pico,
    /// Calls holding a reservation.
    holding: u32,
    refused: u64,
    agents: Vec<(AgentUsage, Pico)>,
}

impl Ledger {
    pub(super) fn new(budget: Budget) -> Ledger {
        Ledger {
            budget,
            tokens: budget.tokens.map(i128::from),
            usd: budget.usd.map(pico),
            spent_tokens: 0,
            spent_usd: 0,
            reserved_tokens: 0,
            reserved_usd: 0,
            holding: 0,
            refused: 0,
            agents: Vec::new(),
        }
    }

    /// What the budget says about a call of `agent` with this estimate,
    /// made up to `attempts` times.
    pub(super) fn decide(&self, agent: &Arc<str>, estimate: &Estimate, attempts: u32) -> Decision {
        let rates = estimate
            .price
            .map(|p| (per_token(p.input), per_token(p.output)));
        let mut hold = Hold {
            agent: agent.clone(),
            tokens: 0,
            usd: 0,
            attempts: i128::from(attempts.max(1)),
            price: estimate.price,
            reserved: false,
        };
        if self.budget.is_unlimited() {
            return Decision::Start(hold, None);
        }
        if let (Some(budget), None) = (self.budget.usd, rates) {
            return Decision::Refuse(Refusal::Unpriced { budget });
        }
        let (rate_in, rate_out) = rates.unwrap_or((0, 0));
        let n = hold.attempts;
        let prompt = i128::from(estimate.prompt_tokens);
        // The most reply tokens a call may have when this much is left.
        let cap_tokens = |left: i128| self.tokens.map(|_| left / n - prompt);
        let cap_usd = |left: Pico| {
            self.usd.map(|_| {
                let per_attempt = left / n - prompt * rate_in;
                match rate_out {
                    0 if per_attempt >= 0 => i128::MAX,
                    0 => -1,
                    rate => per_attempt.div_euclid(rate),
                }
            })
        };
        let least_of = |caps: [Option<i128>; 2]| caps.into_iter().flatten().min().unwrap_or(i128::MAX);
        let budget_tokens = self.tokens.unwrap_or(0);
        let budget_usd = self.usd.unwrap_or(0);
        let now = least_of([
            cap_tokens(budget_tokens - self.spent_tokens - self.reserved_tokens),
            cap_usd(budget_usd - self.spent_usd - self.reserved_usd),
        ]);
        let settled_tokens = cap_tokens(budget_tokens - self.spent_tokens);
        let settled_usd = cap_usd(budget_usd - self.spent_usd);
        let least = estimate
            .max_completion_tokens
            .map_or(MIN_COMPLETION, |m| m.min(MIN_COMPLETION));
        let least_i = i128::from(least);
        let start = |reply: i128, cap: bool| {
            let reply = reply.clamp(0, i128::from(u32::MAX));
            hold.tokens = prompt + reply;
            hold.usd = prompt * rate_in + reply * rate_out;
            hold.reserved = true;
            Decision::Start(hold, cap.then_some(reply as u64))
        };
        match estimate.max_completion_tokens {
            Some(max) if now >= i128::from(max) => return start(i128::from(max), false),
            None if now >= least_i => return start(now, now <= i128::from(u32::MAX)),
            _ => {}
        }
        if settled_tokens.is_some_and(|cap| cap < least_i) {
            return Decision::Refuse(Refusal::Tokens {
                budget: budget_tokens as u64,
                spent: self.spent_tokens,
                prompt: estimate.prompt_tokens,
                least,
            });
        }
        if settled_usd.is_some_and(|cap| cap < least_i) {
            return Decision::Refuse(Refusal::Usd {
                budget: budget_usd,
                spent: self.spent_usd,
                prompt: estimate.prompt_tokens,
                least,
                need: n * (prompt * rate_in + least_i * rate_out),
            });
        }
        if self.holding > 0 {
            return Decision::Wait;
        }
        // Nothing else holds a reservation: what is left is all there will
        // be, and it covers at least `least` tokens of reply.
        start(now, true)
    }

    /// Whether a call with this estimate must wait for others to settle.
    pub(super) fn must_wait(&self, agent: &Arc<str>, estimate: &Estimate, attempts: u32) -> bool {
        !self.budget.is_unlimited()
            && matches!(self.decide(agent, estimate, attempts), Decision::Wait)
    }

    /// Takes the reservation of a call that starts.
    pub(super) fn take(&mut self, hold: &Hold) {
        if hold.reserved {
            self.reserved_tokens += hold.tokens * hold.attempts;
            self.reserved_usd += hold.usd * hold.attempts;
            self.holding += 1;
        }
    }

    /// Counts a refused call.
    pub(super) fn refuse(&mut self) {
        self.refused += 1;
    }

    /// A call ended after `attempts` attempts: gives its reservation back,
    /// counts what it used (the usage its server reported; an attempt that
    /// failed or reported none counts as its whole reservation), and tallies
    /// its agent. Returns the cost of the reported usage, when priced.
    pub(super) fn settle(
        &mut self,
        hold: Option<&Hold>,
        agent: Option<&Arc<str>>,
        usage: Option<&Value>,
        attempts: u32,
    ) -> Option<f64> {
        let name = hold.map(|h| &h.agent).or(agent)?;
        let count = |key: &str| usage.and_then(|u| u.get(key)).and_then(Value::as_u64);
        let reported = count("prompt_tokens").zip(count("completion_tokens"));
        if hold.is_none() && usage.is_none() {
            return None;
        }
        let price = hold.and_then(|h| h.price);
        let cost = match (price, reported) {
            (Some(p), Some((prompt, completion))) => Some(
                i128::from(prompt) * per_token(p.input)
                    + i128::from(completion) * per_token(p.output),
            ),
            _ => None,
        };
        if let Some(hold) = hold.filter(|h| h.reserved) {
            self.reserved_tokens -= hold.tokens * hold.attempts;
            self.reserved_usd -= hold.usd * hold.attempts;
            self.holding -= 1;
            let failed = i128::from(attempts.max(1)) - i128::from(reported.is_some());
            self.spent_tokens += failed * hold.tokens;
            self.spent_usd += failed * hold.usd;
            if let Some((prompt, completion)) = reported {
                self.spent_tokens += i128::from(prompt) + i128::from(completion);
                self.spent_usd += cost.unwrap_or(0);
            }
        }
        let at = match self.agents.iter().position(|(a, _)| *a.agent == **name) {
            Some(at) => at,
            None => {
                let usage = AgentUsage {
                    agent: name.to_string(),
                    ..AgentUsage::default()
                };
                self.agents.push((usage, 0));
                self.agents.len() - 1
            }
        };
        let (tally, cost_total) = &mut self.agents[at];
        tally.calls += 1;
        if let Some((prompt, completion)) = reported {
            tally.prompt_tokens += prompt;
            tally.completion_tokens += completion;
        }
        if price.is_some() {
            *cost_total += cost.unwrap_or(0);
            tally.cost_usd = Some(usd(*cost_total));
        }
        cost.map(usd)
    }

    /// What was spent, for the outcome.
    pub(super) fn report(&self) -> Spending {
        Spending {
            agents: self.agents.iter().map(|(a, _)| a.clone()).collect(),
            budget: (!self.budget.is_unlimited()).then(|| BudgetReport {
                budget: self.budget,
                spent_tokens: self.spent_tokens.max(0) as u64,
                spent_usd: usd(self.spent_usd),
                refused: self.refused,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn estimate(prompt: u64, max: Option<u64>) -> Estimate {
        Estimate {
            prompt_tokens: prompt,
            max_completion_tokens: max,
            price: Some(Price {
                input: 1.0,
                output: 2.0,
            }),
        }
    }

    fn start(ledger: &mut Ledger, e: &Estimate) -> (Hold, Option<u64>) {
        match ledger.decide(&"A".into(), e, 1) {
            Decision::Start(hold, cap) => {
                ledger.take(&hold);
                (hold, cap)
            }
            other => panic!("{other:?}"),
        }
    }

    fn usage(prompt: u64, completion: u64) -> Value {
        json!({"prompt_tokens": prompt, "completion_tokens": completion})
    }

    #[test]
    fn reservations_never_exceed_the_budget() {
        let mut ledger = Ledger::new(Budget::tokens(100));
        let e = estimate(10, Some(30));
        let (a, cap) = start(&mut ledger, &e);
        assert_eq!(cap, None);
        let (b, _) = start(&mut ledger, &e);
        // 80 reserved, 20 left: the third waits for the others.
        assert!(matches!(ledger.decide(&"A".into(), &e, 1), Decision::Wait));
        ledger.settle(Some(&a), None, Some(&usage(5, 30)), 1);
        // 35 spent, 40 reserved: 25 left, still short of 40.
        assert!(matches!(ledger.decide(&"A".into(), &e, 1), Decision::Wait));
        // The second reports no usage: its whole reservation counts.
        ledger.settle(Some(&b), None, None, 1);
        // 75 spent, none reserved: 25 left, 15 of reply fit (at least 16 needed).
        let Decision::Refuse(refusal) = ledger.decide(&"A".into(), &e, 1) else {
            panic!("not refused")
        };
        assert!(refusal.message().contains("75 used, 25 left"), "{}", refusal.message());
        let report = ledger.report();
        assert_eq!(report.budget.unwrap().spent_tokens, 75);
        assert_eq!(report.agents[0].calls, 2);
        assert_eq!(report.agents[0].prompt_tokens, 5);
    }

    #[test]
    fn the_last_call_gets_what_is_left() {
        let mut ledger = Ledger::new(Budget::tokens(100));
        let (a, _) = start(&mut ledger, &estimate(10, Some(50)));
        ledger.settle(Some(&a), None, Some(&usage(10, 50)), 1);
        // 40 left: a prompt of 10 and 30 of reply, lowered from 50.
        let (_, cap) = start(&mut ledger, &estimate(10, Some(50)));
        assert_eq!(cap, Some(30));
        // Without `max_tokens`, a call takes what is left.
        let mut ledger = Ledger::new(Budget::tokens(100));
        let (_, cap) = start(&mut ledger, &estimate(10, None));
        assert_eq!(cap, Some(90));
        assert!(matches!(
            ledger.decide(&"A".into(), &estimate(10, None), 1),
            Decision::Wait
        ));
    }

    #[test]
    fn dollars_need_a_price_and_count_it() {
        let mut ledger = Ledger::new(Budget::usd(0.001));
        let unpriced = Estimate {
            price: None,
            ..estimate(10, Some(10))
        };
        assert!(matches!(
            ledger.decide(&"A".into(), &unpriced, 1),
            Decision::Refuse(Refusal::Unpriced { .. })
        ));
        // $1 and $2 a million: 100 tokens of prompt and 200 of reply cost $0.0005.
        let (a, cap) = start(&mut ledger, &estimate(100, Some(200)));
        assert_eq!(cap, None);
        let cost = ledger.settle(Some(&a), None, Some(&usage(100, 200)), 1);
        assert!((cost.unwrap() - 0.0005).abs() < 1e-12);
        // $0.0005 left: 100 of prompt ($0.0001) and 200 of reply ($0.0004).
        let (b, cap) = start(&mut ledger, &estimate(100, Some(1000)));
        assert_eq!(cap, Some(200));
        ledger.settle(Some(&b), None, Some(&usage(100, 200)), 1);
        let Decision::Refuse(refusal) = ledger.decide(&"A".into(), &estimate(1, Some(1)), 1) else {
            panic!("not refused")
        };
        assert!(refusal.message().contains("$0.001 used"), "{}", refusal.message());
        let report = ledger.report();
        assert!((report.agents[0].cost_usd.unwrap() - 0.001).abs() < 1e-12);
    }

    #[test]
    fn retries_reserve_every_attempt() {
        let mut ledger = Ledger::new(Budget::tokens(100));
        let e = estimate(10, Some(20));
        let Decision::Start(hold, _) = ledger.decide(&"A".into(), &e, 3) else {
            panic!()
        };
        ledger.take(&hold);
        assert_eq!(ledger.reserved_tokens, 90);
        // Two failed attempts count whole; the third reported 10 + 5.
        ledger.settle(Some(&hold), None, Some(&usage(10, 5)), 3);
        assert_eq!(ledger.spent_tokens, 75);
        assert_eq!(ledger.reserved_tokens, 0);
    }
}
