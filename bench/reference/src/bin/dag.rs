//! The limit a runtime can reach on `bench/gen.py`'s graphs of no-op tasks:
//! a tokio task is spawned for a task only once it is ready (its count of
//! unfinished parents reaches zero: no polling, no scheduler loop), reads
//! its parents' outputs and writes its own, then counts down its children
//! and spawns those it made ready.
//!
//!     dag map 1000000          # 1,000,000 independent tasks and a fan-in
//!     dag chain 100000         # 100,000 tasks, each reading the one before
//!     dag diamond 100 1000 18  # 100 levels of 1,000, two parents each (seed 18)
//!
//! Prints the fan-in's (or the last task's) output. Builds the graph from
//! the parameters, so its time is the runtime's, with no parsing.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use flow_reference::shapes::{self, Shape};
use tokio::sync::Notify;

const USAGE: &str = "dag map N | dag chain N | dag diamond LEVELS WIDTH SEED";

/// Adjacency lists of all tasks in one array: task `t`'s are
/// `items[start[t]..start[t + 1]]`.
struct Lists {
    start: Vec<u32>,
    items: Vec<u32>,
}

impl Lists {
    /// For each task, the `to` of the edges whose `from` is that task.
    fn new(tasks: u32, edges: &[(u32, u32)], from_to: impl Fn(&(u32, u32)) -> (u32, u32)) -> Lists {
        let mut start = vec![0u32; tasks as usize + 1];
        for edge in edges {
            start[from_to(edge).0 as usize + 1] += 1;
        }
        for t in 0..tasks as usize {
            start[t + 1] += start[t];
        }
        let mut next = start.clone();
        let mut items = vec![0u32; edges.len()];
        for edge in edges {
            let (from, to) = from_to(edge);
            items[next[from as usize] as usize] = to;
            next[from as usize] += 1;
        }
        Lists { start, items }
    }

    fn of(&self, task: u32) -> &[u32] {
        &self.items[self.start[task as usize] as usize..self.start[task as usize + 1] as usize]
    }
}

struct Run {
    parents: Lists,
    children: Lists,
    /// Per task, its parents not finished yet.
    waiting: Vec<AtomicU32>,
    /// Per task, what it computed: 1 + the sum of its parents' outputs.
    output: Vec<AtomicU64>,
    /// Tasks not finished yet; the last one to finish notifies `done`.
    left: AtomicUsize,
    done: Notify,
}

impl Run {
    fn new(shape: Shape) -> Arc<Run> {
        let parents = Lists::new(shape.tasks, &shape.edges, |&(parent, child)| {
            (child, parent)
        });
        let children = Lists::new(shape.tasks, &shape.edges, |&edge| edge);
        let waiting = (0..shape.tasks)
            .map(|t| AtomicU32::new(parents.of(t).len() as u32))
            .collect();
        let output = (0..shape.tasks).map(|_| AtomicU64::new(0)).collect();
        Arc::new(Run {
            parents,
            children,
            waiting,
            output,
            left: AtomicUsize::new(shape.tasks as usize),
            done: Notify::new(),
        })
    }

    fn spawn(self: &Arc<Self>, task: u32) {
        let run = Arc::clone(self);
        tokio::spawn(async move { run.task(task) });
    }

    /// One task: a no-op that reads its inputs, then hands on.
    fn task(self: &Arc<Self>, task: u32) {
        let sum = self.parents.of(task).iter().fold(1u64, |sum, &parent| {
            sum.wrapping_add(self.output[parent as usize].load(Ordering::Acquire))
        });
        self.output[task as usize].store(sum, Ordering::Release);
        for &child in self.children.of(task) {
            if self.waiting[child as usize].fetch_sub(1, Ordering::AcqRel) == 1 {
                self.spawn(child);
            }
        }
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.done.notify_one();
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let shape = match args.next().as_deref() {
        Some("map") => shapes::map(flow_reference::numbers(USAGE, args, 1)[0] as u32),
        Some("chain") => shapes::chain(flow_reference::numbers(USAGE, args, 1)[0] as u32),
        Some("diamond") => match flow_reference::numbers(USAGE, args, 3)[..] {
            [levels, width, seed] => shapes::diamond(levels as u32, width as u32, seed),
            _ => unreachable!("three numbers"),
        },
        _ => {
            eprintln!("usage: {USAGE}");
            std::process::exit(2);
        }
    };
    let last = shape.tasks - 1;
    let run = Run::new(shape);
    flow_reference::runtime().block_on(async {
        for task in 0..=last {
            if run.parents.of(task).is_empty() {
                run.spawn(task);
            }
        }
        run.done.notified().await;
    });
    println!("{}", run.output[last as usize].load(Ordering::Acquire));
}
