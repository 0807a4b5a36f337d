//! Where the answers of a resolution are found: one small table per batch of
//! top-level statements (about 64 KiB of source each), keyed by the byte
//! offset where an identifier starts.
//!
//! The walk publishes each batch as soon as it has resolved the batch's last
//! statement, so another thread can read the batches already done while the
//! walk goes on: `Engine::compile_with` lowers a big script while its names
//! are still being resolved (and then checked) on the other core. A reader
//! asking about a batch not yet published waits for it. For a complete
//! [`Resolution`](super::Resolution) every batch is published and nothing
//! waits. Small tables also stay in cache, where one table of the whole
//! script did not.
//!
//! Each batch lists its uses and its bindings in the order the walk met
//! them, and the later stages walk in that order too: a reader's [`Cursor`]
//! points at the next of each, which is most often the one asked about, and
//! a reader entering a batch asks first about its first one. So the table of
//! a batch is made only when a reader asks out of that order (a check that
//! looks at declarations first, the REPL, a test), from the batch's lists,
//! once: a big script of plain statements is resolved and lowered without
//! any, where the walk used to fill one per batch (the chain of `bench/`:
//! 6 MB, and a tenth of the resolution's time).

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

use crate::ast::{self, Ident};
use crate::source::Span;

use super::{BindingId, Env, Map, OffsetMap, Target, Use, DEF};

/// Source bytes per batch: a few thousand statements, a table of a few
/// hundred KiB, and the lowering waits about a millisecond for the first one.
const BATCH_BYTES: u32 = 64 * 1024;

/// The uses and bindings of a program by the offset of their identifier, and
/// the names bound before it ([`Env`]). Filled by one resolution, batch by
/// batch; see the module's documentation.
#[derive(Debug)]
pub struct Index<'a> {
    /// The offset where each batch starts; the first starts at 0.
    starts: Vec<u32>,
    /// Where the program ends.
    end: u32,
    /// The batch holding the first byte of each window of `1 << shift`
    /// bytes: batches start at least that far apart, so a window holds at
    /// most one start and [`Index::batch_of`] needs no search.
    windows: Vec<u32>,
    shift: u32,
    batches: Vec<OnceLock<Batch<'a>>>,
    /// Entries made after the batch their offset belongs to was published
    /// (an identifier placed outside its statement): read on a miss, so a
    /// miss waits for the whole resolution.
    late: OnceLock<Batch<'a>>,
    env_values: Map<&'a str, BindingId>,
    env_callables: Map<&'a str, BindingId>,
}

#[derive(Debug, Default)]
pub(super) struct Batch<'a> {
    /// The start of an identifier → its use (an index into `uses`), or the
    /// binding it declares (`DEF` | an index into `defs`): made from the
    /// lists when first asked for ([`Index::table`]).
    table: OnceLock<OffsetMap<u32>>,
    /// The uses met while resolving the batch's statements, in walk order
    /// (of the late batch: those outside their statement's batch; a batch
    /// lists those too, and its table leaves them to the late one's).
    pub uses: Vec<Use<'a>>,
    /// The bindings declared there (the start of the name, the binding), in
    /// the order they were made: a `let`'s after its value's uses.
    defs: Vec<(u32, BindingId)>,
}

impl Batch<'_> {
    /// The binding of a table entry that is one.
    pub(super) fn binding(&self, entry: u32) -> Option<BindingId> {
        (entry & DEF != 0).then(|| self.defs[(entry & !DEF) as usize].1)
    }
}

/// A reader's place in an [`Index`]: the use after the last one it found,
/// and the binding declared after the last one it found (see
/// [`Index::target_near`], [`Index::binding_near`]). Each reader has its own;
/// it is only a hint, so atomics with no ordering keep it shareable at no cost.
#[derive(Debug, Default)]
pub struct Cursor {
    batch: AtomicU32,
    next_use: AtomicU32,
    next_def: AtomicU32,
}

impl Cursor {
    /// After the table found entry `i` of batch `k` (not the late one): the
    /// list `next` counts in goes on after it.
    fn follow(&self, k: Option<usize>, next: &AtomicU32, i: u32) {
        if let Some(k) = k {
            self.batch.store(k as u32, Relaxed);
            next.store(i + 1, Relaxed);
        }
    }
}

/// An [`Index`] as one reader reads it (the lowering): [`Index::target`] and
/// [`Index::binding_at`] through the reader's own [`Cursor`].
pub struct Reader<'r, 'a> {
    index: &'r Index<'a>,
    cursor: Cursor,
}

impl<'r, 'a> Reader<'r, 'a> {
    pub fn new(index: &'r Index<'a>) -> Self {
        Reader {
            index,
            cursor: Cursor::default(),
        }
    }

    /// What the identifier at this use site stands for.
    pub fn target(&self, ident: &Ident) -> Target<'a> {
        self.index.target_near(ident, &self.cursor)
    }

    /// The binding declared at `span`.
    pub fn binding_at(&self, span: Span) -> Option<BindingId> {
        self.index.binding_near(span, &self.cursor)
    }

    /// [`Index::env_value`].
    pub fn env_value(&self, name: &str) -> Option<BindingId> {
        self.index.env_value(name)
    }

    /// [`Index::env_callable`].
    pub fn env_callable(&self, name: &str) -> Option<BindingId> {
        self.index.env_callable(name)
    }
}

/// A name bound before the script, in the order the resolution makes their
/// bindings (ids 0, 1, 2, …).
pub(super) enum EnvName<'a> {
    Value(&'a str),
    Param(&'a str),
    Agent(&'a str),
    Flow(&'a str, &'a [String]),
}

/// Every name of `env`, in binding order.
pub(super) fn env_names(env: &Env) -> impl Iterator<Item = EnvName<'_>> {
    let values = env.values.iter().map(|n| EnvName::Value(n));
    let params = env.params.iter().map(|n| EnvName::Param(n));
    let agents = env.host_agents.iter().chain(&env.agents);
    let flows = env.flows.iter().map(|(n, p)| EnvName::Flow(n, p));
    values
        .chain(params)
        .chain(agents.map(|n| EnvName::Agent(n)))
        .chain(flows)
}

impl<'a> Index<'a> {
    /// An empty index for resolving `program` against `env`: its batches cut
    /// at top-level statements.
    pub fn new(program: &ast::Program, env: &'a Env) -> Index<'a> {
        Index::with_batches_of(program, env, BATCH_BYTES)
    }

    /// [`Index::new`] with batches of at least `bytes` (tests try 1 and `u32::MAX`).
    pub(crate) fn with_batches_of(program: &ast::Program, env: &'a Env, bytes: u32) -> Index<'a> {
        let mut starts = vec![0];
        for stmt in &program.stmts {
            let last: u32 = *starts.last().unwrap_or(&0);
            if stmt.span.start >= last.saturating_add(bytes) {
                starts.push(stmt.span.start);
            }
        }
        let mut env_values = Map::default();
        let mut env_callables = Map::default();
        for (id, name) in env_names(env).enumerate() {
            let id = id as BindingId;
            match name {
                EnvName::Value(n) | EnvName::Param(n) => env_values.insert(n, id),
                EnvName::Agent(n) | EnvName::Flow(n, _) => env_callables.insert(n, id),
            };
        }
        let shift = bytes.max(1).ilog2();
        let end = program.span.end;
        let mut windows = Vec::with_capacity((end >> shift) as usize + 1);
        for w in 0..=(end >> shift) {
            let first = w << shift;
            windows.push(starts.partition_point(|&s| s <= first).saturating_sub(1) as u32);
        }
        Index {
            batches: starts.iter().map(|_| OnceLock::new()).collect(),
            starts,
            end,
            windows,
            shift,
            late: OnceLock::new(),
            env_values,
            env_callables,
        }
    }

    /// The batch the offset `at` belongs to.
    fn batch_of(&self, at: u32) -> usize {
        let Some(&k) = self.windows.get((at >> self.shift) as usize) else {
            return self.starts.len() - 1;
        };
        let k = k as usize;
        match self.starts.get(k + 1) {
            Some(&next) if next <= at => k + 1,
            _ => k,
        }
    }

    /// The batch holding `at`'s entry (its number, `None` for the late
    /// entries) and the entry, waiting for the batch (and, on a miss, for the
    /// whole resolution) if need be.
    pub(super) fn entry(&self, at: u32) -> Option<(Option<usize>, &Batch<'a>, u32)> {
        let k = self.batch_of(at);
        let batch = self.batches.get(k)?.wait();
        if let Some(&entry) = self.table(Some(k), batch).get(&at) {
            return Some((Some(k), batch, entry));
        }
        let late = self.late.wait();
        let entry = self.table(None, late).get(&at)?;
        Some((None, late, *entry))
    }

    /// The table of batch `k` (`None`: the late one), made from its lists
    /// the first time it is asked for.
    fn table<'b>(&self, k: Option<usize>, batch: &'b Batch<'a>) -> &'b OffsetMap<u32> {
        batch.table.get_or_init(|| {
            let mut table = OffsetMap::default();
            table.reserve(batch.uses.len() + batch.defs.len());
            for (i, used) in batch.uses.iter().enumerate() {
                let at = used.span.start;
                // A use outside its statement's batch is the late one's.
                if k.is_none_or(|k| self.batch_of(at) == k) {
                    table.insert(at, i as u32);
                }
            }
            for (i, &(at, _)) in batch.defs.iter().enumerate() {
                table.insert(at, DEF | i as u32);
            }
            table
        })
    }

    /// What the identifier at this use site stands for.
    #[cfg_attr(not(any(test, feature = "internals")), allow(dead_code))]
    pub fn target(&self, ident: &Ident) -> Target<'a> {
        self.target_near(ident, &Cursor::default())
    }

    /// [`Index::target`], looking first at the use after the last one
    /// `cursor` found. The stages after the resolution walk a program in
    /// about the order it did, so that use is most often the one asked
    /// about, and reading it saves a lookup in the table (a hash, a probe
    /// and, in a big script, a cache miss). The answer is the table's as
    /// long as no two identifiers start at the same offset, which holds for
    /// every parsed program (a tool that builds one must keep it so).
    pub(super) fn target_near(&self, ident: &Ident, cursor: &Cursor) -> Target<'a> {
        let at = ident.span.start;
        let next = &cursor.next_use;
        let use_at = |b: &Batch<'a>, i: usize| b.uses.get(i).map(|u| (u.span.start, u.target));
        if let Some(target) = self.near(at, cursor, next, use_at) {
            return target;
        }
        match self.entry(at) {
            Some((k, batch, i)) if i & DEF == 0 => {
                cursor.follow(k, next, i);
                batch.uses[i as usize].target
            }
            _ => Target::Unresolved,
        }
    }

    /// The binding declared at `span` (a declared name; a try's `else` block
    /// for its `error`).
    #[cfg_attr(not(any(test, feature = "internals")), allow(dead_code))]
    pub fn binding_at(&self, span: Span) -> Option<BindingId> {
        self.binding_near(span, &Cursor::default())
    }

    /// [`Index::binding_at`], looking first at the binding declared after
    /// the last one `cursor` found (as [`Index::target_near`] does for uses).
    pub(super) fn binding_near(&self, span: Span, cursor: &Cursor) -> Option<BindingId> {
        let at = span.start;
        let next = &cursor.next_def;
        if let Some(id) = self.near(at, cursor, next, |b, i| b.defs.get(i).copied()) {
            return Some(id);
        }
        let (k, batch, entry) = self.entry(at)?;
        let id = batch.binding(entry)?;
        cursor.follow(k, next, entry & !DEF);
        Some(id)
    }

    /// What `item` finds at `next` in the cursor's batch (a use or a binding,
    /// with the offset of its name), if its name is the one at `at`; `next`
    /// then moves past it. Else, the first item of `at`'s own batch, if its
    /// name is that one: a reader entering a batch (which the cursor then
    /// follows). Else `None`, and the caller asks the table.
    fn near<T>(
        &self,
        at: u32,
        cursor: &Cursor,
        next: &AtomicU32,
        item: impl Fn(&Batch<'a>, usize) -> Option<(u32, T)>,
    ) -> Option<T> {
        let here = cursor.batch.load(Relaxed) as usize;
        if let Some(batch) = self.batches.get(here).and_then(OnceLock::get) {
            let i = next.load(Relaxed);
            if let Some((_, found)) = item(batch, i as usize).filter(|(s, _)| *s == at) {
                next.store(i + 1, Relaxed);
                return Some(found);
            }
        }
        let k = self.batch_of(at);
        let (start, found) = item(self.batches.get(k)?.wait(), 0)?;
        (start == at).then(|| {
            cursor.batch.store(k as u32, Relaxed);
            next.store(1, Relaxed);
            found
        })
    }

    /// How many batches (the late one included) have had their table made.
    #[cfg(test)]
    pub(crate) fn tables_made(&self) -> usize {
        let batches = self.batches.iter().filter_map(OnceLock::get);
        batches.chain(self.late.get()).filter(|b| b.table.get().is_some()).count()
    }

    /// The offsets of every use, then of every binding, each batch's in the
    /// order they were recorded: the walk's order.
    #[cfg(test)]
    pub(super) fn recorded(&self) -> (Vec<u32>, Vec<u32>) {
        let batches = self.batches.iter().filter_map(OnceLock::get);
        let (mut uses, mut defs) = (Vec::new(), Vec::new());
        for batch in batches.chain(self.late.get()) {
            uses.extend(batch.uses.iter().map(|u| u.span.start));
            defs.extend(batch.defs.iter().map(|&(at, _)| at));
        }
        (uses, defs)
    }

    /// The binding of a value bound before the script ([`Env::values`], [`Env::params`]).
    pub fn env_value(&self, name: &str) -> Option<BindingId> {
        self.env_values.get(name).copied()
    }

    /// The binding of an agent or flow named before the script ([`Env`]).
    pub fn env_callable(&self, name: &str) -> Option<BindingId> {
        self.env_callables.get(name).copied()
    }

    /// The uses of batch `batch` from `start` to `end` (a published batch).
    pub(super) fn uses(&self, batch: u32, start: u32, end: u32) -> &[Use<'a>] {
        self.batches
            .get(batch as usize)
            .and_then(OnceLock::get)
            .and_then(|b| b.uses.get(start as usize..end as usize))
            .unwrap_or(&[])
    }
}

/// The uses of one top-level statement: `uses[start..end]` of a batch.
#[derive(Clone, Copy, Debug)]
pub(super) struct TopUses {
    pub batch: u32,
    pub start: u32,
    pub end: u32,
}

/// Fills an [`Index`] in walk order, publishing each batch once the walk has
/// left it. Dropping it publishes what is left, so no reader waits forever,
/// even if the walk panicked.
pub(super) struct Writer<'a> {
    index: Arc<Index<'a>>,
    /// Batches not yet published (taken out when published).
    pending: Vec<Batch<'a>>,
    late: Batch<'a>,
    /// The batch of the top-level statement being resolved.
    current: usize,
}

impl<'a> Writer<'a> {
    pub fn new(index: Arc<Index<'a>>) -> Writer<'a> {
        let pending = index.batches.iter().map(|_| Batch::default()).collect();
        let mut writer = Writer {
            index,
            pending,
            late: Batch::default(),
            current: 0,
        };
        writer.reserve(0);
        writer
    }

    pub fn index(&self) -> &Arc<Index<'a>> {
        &self.index
    }

    /// Room for batch `k`'s entries: identifiers are a few bytes apart. A
    /// use every 8 bytes covers the chain's `let t5 = noop(t4)` (one every
    /// 9); a vector that outgrows its room is copied into twice the memory.
    fn reserve(&mut self, k: usize) {
        let starts = &self.index.starts;
        let end = starts.get(k + 1).copied().unwrap_or(self.index.end);
        let bytes = end.saturating_sub(starts[k]) as usize;
        let batch = &mut self.pending[k];
        batch.uses.reserve(bytes / 8 + 8);
        // room for a binding every 16 bytes (the chain declares one every 25)
        batch.defs.reserve(bytes / 16 + 8);
    }

    /// The top-level statement starting at `at` is next: publishes the
    /// batches before its own.
    pub fn enter(&mut self, at: u32) {
        let k = self.index.batch_of(at);
        while self.current < k {
            self.publish(self.current);
            self.current += 1;
            self.reserve(self.current);
        }
    }

    fn publish(&mut self, k: usize) {
        let batch = std::mem::take(&mut self.pending[k]);
        // Only this writer sets its index's batches, each once.
        let _ = self.index.batches[k].set(batch);
    }

    /// The batch an entry for offset `at` goes to: its own, unless that one
    /// is published already.
    fn batch_for(&mut self, at: u32) -> &mut Batch<'a> {
        let k = self.index.batch_of(at);
        if k < self.current {
            &mut self.late
        } else {
            &mut self.pending[k]
        }
    }

    /// Records the binding declared by the identifier at `at`.
    pub fn def(&mut self, at: u32, id: BindingId) {
        self.batch_for(at).defs.push((at, id));
    }

    /// Records a use, in walk order.
    pub fn record(&mut self, used: Use<'a>) {
        self.pending[self.current].uses.push(used);
        if self.index.batch_of(used.span.start) != self.current {
            // Outside its statement: found through the late table.
            self.late.uses.push(used);
        }
    }

    /// Where the next use of the current batch goes.
    pub fn mark(&self) -> (u32, u32) {
        let k = self.current;
        (k as u32, self.pending[k].uses.len() as u32)
    }
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        for k in self.current..self.pending.len() {
            self.publish(k);
        }
        let _ = self.index.late.set(std::mem::take(&mut self.late));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_of_an_offset_finds_its_batch_as_a_search_would() {
        let text: String = (0..400)
            .map(|i| format!("let n{i} = noop({})\n", "x".repeat(i % 37)))
            .collect();
        let source = crate::source::SourceFile::new("t.flow", text.clone());
        let program = crate::syntax::parse(&source).expect("parses");
        let env = Env::default();
        for bytes in [1, 7, 64, 100, 1000, 4096, BATCH_BYTES, u32::MAX] {
            let index = Index::with_batches_of(&program, &env, bytes);
            assert!(index.starts.len() > 1 || bytes >= 1000, "{bytes}: several batches");
            for at in 0..=text.len() as u32 + 1 {
                let searched = index.starts.partition_point(|&s| s <= at) - 1;
                assert_eq!(index.batch_of(at), searched, "offset {at}, batches of {bytes}");
            }
        }
    }
}
