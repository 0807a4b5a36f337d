//! Scopes and bindings: what a name means at a use site.
//!
//! Values and callables live in one namespace per scope for duplicate detection,
//! but a use looks up only its own kind: a call looks for a callable, any other
//! use for a value. Agents and flows are hoisted (bound when their scope opens);
//! values are sequential, and a scope keeps the statements it binds later so
//! a use before the `let` reads as such (looked for only when a use finds
//! nothing, so a clean script never pays for it).

use std::cell::OnceCell;

use crate::agent::Role;
use crate::ast::{Stmt, StmtKind};
use crate::builtins::FUNCTIONS;
use crate::diag::{Code, Diagnostic};
use crate::source::Span;

use super::walk::Resolver;
use super::{backend, Binding, BindingId, BindingKind, Map, Target, ValueKind};

/// How far a value lookup may see past a scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Barrier {
    /// Everything enclosing is visible.
    None,
    /// A flow body: beyond it only top-level `param`s (and all callables).
    Flow,
    /// An agent's config: beyond it only top-level `param`s and pure functions.
    Config,
}

#[derive(Debug)]
pub(super) struct Scope<'a> {
    pub values: Map<&'a str, BindingId>,
    pub callables: Map<&'a str, BindingId>,
    /// The statements of the block this scope is for, and the index of the
    /// one being resolved: the values it binds from there on are still to come.
    stmts: &'a [Stmt],
    pub at: usize,
    /// The statements of `stmts` that bind each name by `let` or `param`, by
    /// index: made the first time a use finds nothing (see [`Scope::pending`]).
    bound_later: OnceCell<Map<&'a str, Vec<u32>>>,
    pub barrier: Barrier,
    /// Bindings made in this scope, in order, for the unused-binding lint.
    pub owned: Vec<BindingId>,
}

impl<'a> Scope<'a> {
    pub fn new(barrier: Barrier) -> Scope<'a> {
        Scope {
            values: Map::default(),
            callables: Map::default(),
            stmts: &[],
            at: 0,
            bound_later: OnceCell::new(),
            barrier,
            owned: Vec::new(),
        }
    }

    /// The statements of the block this scope is for.
    pub fn set_stmts(&mut self, stmts: &'a [Stmt]) {
        self.stmts = stmts;
        self.bound_later = OnceCell::new();
    }

    /// The first `let` or `param` of `name` this scope binds from the
    /// statement being resolved on (that one included: its value comes first).
    /// Found in an index of the block's bindings, not by a scan of what
    /// follows: a script with thousands of unknown names asks thousands of times.
    fn pending(&self, name: &str) -> Option<Span> {
        let bound_later = self.bound_later.get_or_init(|| {
            let mut by_name: Map<&'a str, Vec<u32>> = Map::default();
            for (i, stmt) in self.stmts.iter().enumerate() {
                if let Some(n) = let_or_param(stmt) {
                    by_name.entry(n.name.as_str()).or_default().push(i as u32);
                }
            }
            by_name
        });
        let at = bound_later.get(name)?;
        let first = at[at.partition_point(|&i| (i as usize) < self.at)..].first()?;
        let_or_param(&self.stmts[*first as usize]).map(|n| n.span)
    }
}

/// The name a `let` or `param` binds.
fn let_or_param(stmt: &Stmt) -> Option<&crate::ast::Ident> {
    match &stmt.kind {
        StmtKind::Let { name, .. } | StmtKind::Param { name, .. } => Some(name),
        _ => None,
    }
}

/// The closest candidate to `name`, if one is close enough to be a likely typo.
/// Ties go to the alphabetically first, so the answer never depends on hashing.
pub(crate) fn closest<'n>(
    name: &str,
    candidates: impl IntoIterator<Item = &'n str>,
) -> Option<&'n str> {
    let lower = name.to_lowercase();
    let limit = (name.chars().count() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    let length = name.chars().count();
    for candidate in candidates {
        if candidate == name {
            continue;
        }
        // Each character more or less is an edit (names are ASCII, so case
        // keeps their length): too many, and the comparison is not needed.
        if candidate.chars().count().abs_diff(length) > limit {
            continue;
        }
        // Compare without case, but count a different case of the first letter:
        // `writer` is close to `Writer`, `Loader` is not close to `lower`.
        let initial_case = |s: &str| s.chars().next().map(char::is_uppercase);
        let case_change = usize::from(initial_case(name) != initial_case(candidate));
        let distance = strsim::damerau_levenshtein(&lower, &candidate.to_lowercase()) + case_change;
        if distance > limit {
            continue;
        }
        let better = match best {
            None => true,
            Some((d, c)) => distance < d || (distance == d && candidate < c),
        };
        if better {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// `a`, `a` and `b`, `a`, `b` and `c`: names quoted and joined for a message.
pub(crate) fn quoted_list<S: AsRef<str>>(names: &[S]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{}`", n.as_ref())).collect();
    match quoted.len() {
        0 => String::new(),
        1 => quoted[0].clone(),
        n => format!("{} and {}", quoted[..n - 1].join(", "), quoted[n - 1]),
    }
}

impl<'a> Resolver<'a> {
    pub(super) fn push_scope(&mut self, barrier: Barrier) {
        self.scopes.push(Scope::new(barrier));
    }

    /// Closes the innermost scope, warning about its unused bindings.
    pub(super) fn pop_scope(&mut self) {
        let Some(scope) = self.scopes.pop() else {
            return;
        };
        for id in scope.owned {
            let binding = &self.bindings[id as usize];
            if self.used[id as usize] || binding.name.starts_with('_') {
                continue;
            }
            let (BindingKind::Value(kind), Some(span)) = (binding.kind, binding.span) else {
                continue;
            };
            let name = binding.name;
            let diag = match kind {
                ValueKind::Let => Diagnostic::warning(
                    Code::UnusedBinding,
                    format!("`{name}` is bound but never used"),
                )
                .at(span, "never used")
                .help(format!(
                    "remove the `let`, or name it `_{name}` to silence this warning"
                )),
                ValueKind::MapItem => Diagnostic::warning(
                    Code::UnusedBinding,
                    format!("the `map` item `{name}` is never used in the body"),
                )
                .at(span, "never used")
                .help("if the body doesn't need the item, name it `_`: `map _ in list { … }`"),
                ValueKind::MapIndex => Diagnostic::warning(
                    Code::UnusedBinding,
                    format!("the `map` index `{name}` is never used in the body"),
                )
                .at(span, "never used")
                .help("drop the index (`map item in list { … }`), or name it `_`"),
                ValueKind::FlowParam(flow) => Diagnostic::warning(
                    Code::UnusedBinding,
                    format!(
                        "parameter `{name}` of flow `{}` is never used",
                        self.flows[flow as usize].name
                    ),
                )
                .at(span, "never used")
                .help(format!(
                    "remove the parameter, or name it `_{name}` to silence this warning"
                )),
                _ => continue,
            };
            self.diags.push(diag);
        }
    }

    /// Binds a value in the innermost scope, reporting a duplicate in that scope.
    pub(super) fn declare_value(
        &mut self,
        name: &'a str,
        span: Span,
        kind: ValueKind,
    ) -> BindingId {
        let id = self.new_binding(name, Some(span), BindingKind::Value(kind));
        self.bind_value(id);
        id
    }

    /// Binds an existing value binding (a top-level `param`, made early so
    /// flows see it) in the innermost scope.
    pub(super) fn bind_value(&mut self, id: BindingId) {
        let binding = &self.bindings[id as usize];
        let (name, span) = (binding.name, binding.span.unwrap_or_default());
        let implicit = matches!(binding.kind, BindingKind::Value(kind) if kind.implicit());
        self.check_duplicate(name, span, implicit);
        // A use before the `let` was reported already; don't also call it unused.
        self.used[id as usize] = !self.used_early.is_empty() && self.used_early.contains(&span);
        let scope = self.scopes.last_mut().expect("a scope is open");
        scope.owned.push(id);
        if let Some(old) = scope.values.insert(name, id) {
            // The earlier one was reported as a duplicate; don't also call it unused.
            self.used[old as usize] = true;
        }
    }

    /// Binds an agent or flow in the innermost scope (hoisted: done when the
    /// scope opens). Its binding exists even when the name is refused.
    pub(super) fn declare_callable(&mut self, name: &'a str, span: Span, kind: BindingKind) {
        let id = self.new_binding(name, Some(span), kind);
        if let Some(backend) = backend(self.registry, name) {
            self.diags.push(
                Diagnostic::error(
                    Code::DuplicateBinding,
                    format!("`{}` is a built-in backend", backend.signature().name),
                )
                .at(span, "this name is taken")
                .help(format!(
                    "choose another name; `{name}(…)` always means the built-in `{name}` backend"
                )),
            );
            return;
        }
        if crate::builtins::function_named(name).is_some() {
            self.diags.push(
                Diagnostic::error(
                    Code::DuplicateBinding,
                    format!("`{name}` is a built-in function"),
                )
                .at(span, "this name is taken")
                .help(format!(
                    "choose another name; `{name}(…)` always means the built-in function"
                )),
            );
            return;
        }
        let duplicate = self.check_duplicate(name, span, false);
        let scope = self.scopes.last_mut().expect("a scope is open");
        if !duplicate || !scope.callables.contains_key(name) {
            scope.callables.insert(name, id);
        }
    }

    pub(super) fn new_binding(
        &mut self,
        name: &'a str,
        span: Option<Span>,
        kind: BindingKind,
    ) -> BindingId {
        let id = self.bindings.len() as BindingId;
        self.bindings.push(Binding { name, span, kind });
        self.used.push(span.is_none());
        if let Some(span) = span {
            self.out.def(span.start, id);
        }
        id
    }

    /// Reports `name` bound twice in the innermost scope; returns whether it was.
    fn check_duplicate(&mut self, name: &str, span: Span, implicit: bool) -> bool {
        let scope = self.scopes.last().expect("a scope is open");
        let existing = scope
            .values
            .get(name)
            .into_iter()
            .chain(scope.callables.get(name))
            .map(|&id| &self.bindings[id as usize])
            .find(|b| match b.kind {
                BindingKind::Value(kind) => !kind.implicit(),
                BindingKind::Agent | BindingKind::Flow(_) => true,
            });
        let Some(first_span) = existing.and_then(|b| b.span) else {
            return false;
        };
        if implicit || first_span == span {
            return false;
        }
        // Agents and flows are hoisted, so the one bound first may come later in the text.
        let (first, second) = if first_span.start <= span.start {
            (first_span, span)
        } else {
            (span, first_span)
        };
        self.diags.push(
            Diagnostic::error(
                Code::DuplicateBinding,
                format!("`{name}` is bound twice in the same scope"),
            )
            .at(second, "bound again here")
            .label(first, "first bound here")
            .help("rename one of them: a scope binds each name once (an inner block may reuse a name)"),
        );
        true
    }

    /// The value `name` names at this point, marking it used.
    pub(super) fn find_value(&mut self, name: &str) -> Option<BindingId> {
        let mut found = None;
        for scope in self.scopes.iter().rev() {
            if let Some(&id) = scope.values.get(name) {
                found = Some(id);
                break;
            }
            if scope.barrier != Barrier::None {
                found = self.top_params.get(name).copied();
                break;
            }
        }
        if let Some(id) = found {
            self.used[id as usize] = true;
        }
        found
    }

    /// The callable `name` names: a declared or host agent, a flow, a backend or a function.
    pub(super) fn find_callable(&self, name: &str) -> Option<Target<'a>> {
        for scope in self.scopes.iter().rev() {
            if let Some(&id) = scope.callables.get(name) {
                return Some(Target::Binding(id));
            }
        }
        if let Some(backend) = backend(self.registry, name) {
            return Some(Target::Backend(backend));
        }
        crate::builtins::function_named(name).map(Target::Function)
    }

    /// A value the script binds further down, in a scope the use can see.
    pub(super) fn find_pending(&self, name: &str) -> Option<Span> {
        for scope in self.scopes.iter().rev() {
            if let Some(span) = scope.pending(name) {
                return Some(span);
            }
            if scope.barrier != Barrier::None {
                break;
            }
        }
        None
    }

    /// The innermost barrier between the use site and the top level, if any.
    pub(super) fn barrier(&self) -> Barrier {
        self.scopes
            .iter()
            .rev()
            .map(|s| s.barrier)
            .find(|b| *b != Barrier::None)
            .unwrap_or(Barrier::None)
    }

    /// A top-level (or REPL) value hidden from a flow body or agent config: its binding span.
    pub(super) fn hidden_top_value(&self, name: &str) -> Option<Option<Span>> {
        for scope in self.scopes.iter().take(2) {
            if let Some(&id) = scope.values.get(name) {
                return Some(self.bindings[id as usize].span);
            }
            if let Some(span) = scope.pending(name) {
                return Some(Some(span));
            }
        }
        None
    }

    /// Every value name visible at this point, for "did you mean".
    pub(super) fn visible_values(&self) -> Vec<&'a str> {
        let mut names = Vec::new();
        for scope in self.scopes.iter().rev() {
            names.extend(scope.values.keys().copied());
            if scope.barrier != Barrier::None {
                names.extend(self.top_params.keys().copied());
                break;
            }
        }
        names
    }

    /// Every callable name visible at this point, for "did you mean".
    pub(super) fn visible_callables(&self) -> Vec<&'a str> {
        let mut names: Vec<&'a str> = Vec::new();
        for scope in self.scopes.iter().rev() {
            names.extend(scope.callables.keys().copied());
        }
        names.extend(self.backend_names());
        names.extend(FUNCTIONS.iter().map(|f| f.name));
        names
    }

    /// Every backend's name, in registration order.
    pub(super) fn backend_names(&self) -> impl Iterator<Item = &'a str> {
        let registry = self.registry;
        registry
            .iter()
            .map(|a| a.signature())
            .filter(|s| s.role == Role::Backend)
            .map(|s| s.name.as_str())
    }

    /// What kind of callable a target is, for messages ("an agent", "a flow").
    pub(super) fn describe_callable(&self, target: Target) -> &'static str {
        match target {
            Target::Binding(id) => match self.bindings[id as usize].kind {
                BindingKind::Flow(_) => "a flow",
                _ => "an agent",
            },
            Target::Backend(_) => "a backend",
            Target::Function(_) | Target::Unresolved => "a built-in function",
        }
    }

    /// Whether a value named `name` exists anywhere the use could see, ignoring
    /// barriers: for "is a value, not an agent".
    pub(super) fn any_value(&self, name: &str) -> Option<Option<Span>> {
        for scope in self.scopes.iter().rev() {
            if let Some(&id) = scope.values.get(name) {
                return Some(self.bindings[id as usize].span);
            }
        }
        self.top_params
            .get(name)
            .map(|&id| self.bindings[id as usize].span)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_finds_typos_and_ignores_strangers() {
        assert_eq!(closest("cwdd", ["cmd", "cwd", "env"]), Some("cwd"));
        assert_eq!(closest("Wrter", ["Writer", "Reader"]), Some("Writer"));
        assert_eq!(closest("writer", ["Writer"]), Some("Writer"));
        assert_eq!(closest("zzz", ["Writer", "cwd"]), None);
        assert_eq!(closest("Loader", ["lower", "upper"]), None);
        assert_eq!(closest("Len", ["len"]), Some("len"));
        assert_eq!(closest("x", ["x"]), None);
    }

    #[test]
    fn quoted_list_joins_with_and() {
        assert_eq!(quoted_list(&["a"]), "`a`");
        assert_eq!(quoted_list(&["a", "b", "c"]), "`a`, `b` and `c`");
    }
}
