//! What a call may spend: an agent's [`Estimate`] of one call, the
//! [`Price`] of its tokens, and the [`Budget`] a run must stay within.
//! The scheduler reserves each call's worst case against the budget before
//! it starts (see `docs/agents.md`, "Budgets").

use crate::ast::BudgetLimit;

/// What one call may spend, as its agent bounds it before the call starts
/// (see [`super::Agent::estimate`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// A bound on the tokens of the prompt: never fewer than its server will
    /// count. The `llm` agent counts the bytes of its messages (no tokenizer
    /// makes more tokens of a text than it has bytes) and a few tokens for
    /// each message.
    pub prompt_tokens: u64,
    /// The most completion tokens the call asks for (its `max_tokens`);
    /// `None`: no limit of its own.
    pub max_completion_tokens: Option<u64>,
    /// What its tokens cost, when its config says (`price`).
    pub price: Option<Price>,
}

/// The price of a model's tokens, in US dollars per million tokens.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Price {
    /// Per million prompt tokens.
    pub input: f64,
    /// Per million completion tokens.
    pub output: f64,
}

impl Price {
    /// What `prompt` and `completion` tokens cost, in dollars.
    ///
    /// ```no_run
    /// let price = flow::agent::Price { input: 0.15, output: 0.60 };
    /// assert!((price.cost(1_000_000, 500_000) - 0.45).abs() < 1e-9);
    /// ```
    pub fn cost(&self, prompt: u64, completion: u64) -> f64 {
        (prompt as f64 * self.input + completion as f64 * self.output) / 1e6
    }
}

/// How much a run may spend on model calls: tokens, dollars, or both.
/// Set by `--budget tokens=N,usd=X` and by a script's `budget tokens = N`
/// declaration; when both say, the smaller of each wins.
///
/// ```no_run
/// use flow::Budget;
///
/// let budget = Budget::parse("tokens=20000,usd=0.5").unwrap();
/// assert_eq!(budget, Budget { tokens: Some(20_000), usd: Some(0.5) });
/// assert_eq!(budget.tighten(Budget::tokens(100)).tokens, Some(100));
/// assert!(Budget::parse("tokens=lots").is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Budget {
    /// The most tokens (prompt and completion) all calls together may use.
    pub tokens: Option<u64>,
    /// The most dollars all calls together may cost (each agent needs a `price`).
    pub usd: Option<f64>,
}

impl Budget {
    /// A budget of `n` tokens.
    pub fn tokens(n: u64) -> Budget {
        Budget {
            tokens: Some(n),
            usd: None,
        }
    }

    /// A budget of `usd` dollars.
    pub fn usd(usd: f64) -> Budget {
        Budget {
            tokens: None,
            usd: Some(usd),
        }
    }

    /// Whether it limits nothing.
    pub fn is_unlimited(&self) -> bool {
        self.tokens.is_none() && self.usd.is_none()
    }

    /// The tighter of two budgets, limit by limit.
    pub fn tighten(self, other: Budget) -> Budget {
        let tokens = match (self.tokens, other.tokens) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let usd = match (self.usd, other.usd) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Budget { tokens, usd }
    }

    /// Reads `tokens=N`, `usd=X` or both, comma-separated (what `--budget` takes).
    pub fn parse(text: &str) -> Result<Budget, String> {
        let mut budget = Budget::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((kind, value)) = part.split_once('=') else {
                return Err(format!(
                    "`{part}` needs the form tokens=N or usd=X (as in `--budget tokens=20000`)"
                ));
            };
            let value = value.trim();
            match kind.trim() {
                "tokens" => budget.tokens = Some(BudgetLimit::tokens(value)?),
                "usd" => budget.usd = Some(BudgetLimit::usd(value)?),
                other => {
                    return Err(format!(
                    "a budget is in `tokens` or `usd`, not `{other}` (as in `--budget usd=0.50`)"
                ))
                }
            }
        }
        if budget.is_unlimited() {
            return Err("an empty budget: give tokens=N or usd=X".to_string());
        }
        Ok(budget)
    }
}

impl std::fmt::Display for Budget {
    /// `20000 tokens`, `$0.50`, `20000 tokens and $0.50`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.tokens, self.usd) {
            (Some(n), Some(usd)) => write!(f, "{n} tokens and {}", dollars(usd)),
            (Some(n), None) => write!(f, "{n} tokens"),
            (None, Some(usd)) => f.write_str(&dollars(usd)),
            (None, None) => f.write_str("no budget"),
        }
    }
}

/// Dollars for people: four significant digits, at least cents (`$0.50`,
/// `$0.045`, `$0.000123`, `$12.35`).
pub fn dollars(usd: f64) -> String {
    if usd == 0.0 || !usd.is_finite() {
        return "$0".to_string();
    }
    let decimals = (3 - usd.abs().log10().floor() as i32).clamp(2, 12) as usize;
    let text = format!("{usd:.decimals$}");
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let mut fraction = fraction.trim_end_matches('0').to_string();
    while fraction.len() < 2 {
        fraction.push('0');
    }
    format!("${whole}.{fraction}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_read_as_the_command_line_writes_them() {
        assert_eq!(Budget::parse("tokens=1_000").unwrap(), Budget::tokens(1000));
        assert_eq!(Budget::parse(" usd = $0.25 ").unwrap(), Budget::usd(0.25));
        for bad in [
            "",
            "tokens",
            "tokens=0",
            "tokens=1.5",
            "usd=-1",
            "usd=nan",
            "coins=3",
        ] {
            assert!(Budget::parse(bad).is_err(), "{bad}");
        }
        let both = Budget::tokens(10)
            .tighten(Budget::usd(1.0))
            .tighten(Budget::tokens(20));
        assert_eq!(
            both,
            Budget {
                tokens: Some(10),
                usd: Some(1.0)
            }
        );
        assert_eq!(both.to_string(), "10 tokens and $1.00");
    }

    #[test]
    fn dollars_show_small_amounts() {
        assert_eq!(dollars(0.5), "$0.50");
        assert_eq!(dollars(0.045), "$0.045");
        assert_eq!(dollars(0.106), "$0.106");
        assert_eq!(dollars(1.0), "$1.00");
        assert_eq!(dollars(12.344), "$12.34");
        assert_eq!(dollars(1234.5), "$1234.50");
        assert_eq!(dollars(0.000123), "$0.000123");
        assert_eq!(dollars(0.0000045), "$0.0000045");
        assert_eq!(dollars(0.0012344), "$0.001234");
        assert_eq!(dollars(0.0), "$0");
    }
}
