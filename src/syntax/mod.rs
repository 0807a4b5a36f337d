//! Stage 1: source text to [`crate::ast::Program`] through the pest grammar in
//! `grammar/flow.pest`. The only module that names pest's `Pair` and `Rule`.

/// Words that cannot be used as names.
pub const KEYWORDS: &[&str] = &[
    "agent", "param", "flow", "let", "map", "in", "limit", "fanout", "gate", "where", "if", "else",
    "try", "retry", "backoff", "timeout", "after", "true", "false", "null",
];

/// Whether `word` is reserved.
pub fn is_keyword(word: &str) -> bool {
    KEYWORDS.contains(&word)
}
