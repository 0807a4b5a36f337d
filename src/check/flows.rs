//! Recursion: a flow may not call itself, directly or through other flows, so
//! the task graph stays finite. Each cycle is reported once, at the call that
//! closes it in a depth-first walk of the calls in source order.

use std::collections::HashSet;

use crate::diag::{Code, Diagnostic};

use super::Checker;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Unvisited,
    OnPath,
    Done,
}

impl Checker<'_, '_> {
    pub(super) fn check_recursion(&mut self) {
        let n = self.res.flows().len();
        let mut calls_from: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, call) in self.flow_calls.iter().enumerate() {
            calls_from[call.caller as usize].push(i);
        }
        let mut state = vec![State::Unvisited; n];
        let mut reported: HashSet<(usize, usize)> = HashSet::new();
        let mut diags = Vec::new();
        for start in 0..n {
            if state[start] != State::Unvisited {
                continue;
            }
            // The path being explored: a flow, the next of its calls to follow,
            // and the call that led to it.
            let mut path: Vec<(usize, usize, Option<usize>)> = vec![(start, 0, None)];
            state[start] = State::OnPath;
            while let Some(top) = path.last_mut() {
                let (flow, next, _) = *top;
                let Some(&call_id) = calls_from[flow].get(next) else {
                    state[flow] = State::Done;
                    path.pop();
                    continue;
                };
                top.1 += 1;
                let callee = self.flow_calls[call_id].callee as usize;
                match state[callee] {
                    State::Unvisited => {
                        state[callee] = State::OnPath;
                        path.push((callee, 0, Some(call_id)));
                    }
                    State::OnPath => {
                        if reported.insert((flow, callee)) {
                            let from = path.iter().position(|p| p.0 == callee).unwrap_or(0);
                            let cycle: Vec<usize> =
                                path[from + 1..].iter().filter_map(|p| p.2).collect();
                            diags.push(self.cycle_diagnostic(call_id, &cycle));
                        }
                    }
                    State::Done => {}
                }
            }
        }
        self.diags.extend(diags);
    }

    /// The diagnostic for the cycle closed by `closing`, where `before` are the
    /// calls from the called flow back round to the caller.
    fn cycle_diagnostic(&self, closing: usize, before: &[usize]) -> Diagnostic {
        let call = &self.flow_calls[closing];
        let name = |flow: u32| self.res.flow(flow).name;
        let help = "a flow can't call itself, directly or through other flows, because the task graph must be finite; to repeat work for each item of a list, use `map`";
        if call.caller == call.callee {
            return Diagnostic::error(
                Code::RecursiveFlow,
                format!("flow `{}` calls itself", name(call.caller)),
            )
            .at(call.span, "recursive call")
            .help(help);
        }
        let mut message = format!("flow `{}` calls `{}`", name(call.caller), name(call.callee));
        for &id in before {
            message.push_str(&format!(
                ", which calls `{}`",
                name(self.flow_calls[id].callee)
            ));
        }
        let mut d = Diagnostic::error(Code::RecursiveFlow, message)
            .at(call.span, "this call closes the cycle")
            .help(help);
        for &id in before {
            let c = &self.flow_calls[id];
            d = d.label(
                c.span,
                format!("`{}` calls `{}` here", name(c.caller), name(c.callee)),
            );
        }
        d
    }
}
