//! The task graphs of `bench/gen.py`'s scripts, given by parameters: tasks
//! are numbered in an order where every parent comes before its children,
//! and a graph is its list of edges (parent, child).

/// A graph: `tasks` tasks, numbered from 0, and its edges (parent, child).
pub struct Shape {
    pub tasks: u32,
    pub edges: Vec<(u32, u32)>,
}

/// `map _ in range(n) { noop() }` then `len(results)`: n independent tasks
/// and one fan-in task (number n) that reads them all.
pub fn map(n: u32) -> Shape {
    Shape {
        tasks: n + 1,
        edges: (0..n).map(|i| (i, n)).collect(),
    }
}

/// `let t0 = noop()`, `let tI = noop(tI-1)`: each task reads the one before.
pub fn chain(n: u32) -> Shape {
    Shape {
        tasks: n,
        edges: (1..n).map(|i| (i - 1, i)).collect(),
    }
}

/// `levels` levels of `width` tasks; each task past the first level reads
/// two distinct tasks of the level above, drawn by [`diamond_parents`]; a
/// last task (number levels × width) reads the whole last level, as the
/// script's closing `len([...])` does.
pub fn diamond(levels: u32, width: u32, seed: u64) -> Shape {
    let fan_in = levels * width;
    let mut edges: Vec<(u32, u32)> = diamond_parents(levels, width, seed)
        .flat_map(|(child, a, b)| [(a, child), (b, child)])
        .collect();
    edges.extend((fan_in - width..fan_in).map(|i| (i, fan_in)));
    Shape {
        tasks: fan_in + 1,
        edges,
    }
}

/// The two parents of every task past the first level, in task order:
/// (task, first parent, second parent). `bench/gen.py` draws the same ones
/// with the same generator (splitmix64): keep the two in step.
pub fn diamond_parents(
    levels: u32,
    width: u32,
    seed: u64,
) -> impl Iterator<Item = (u32, u32, u32)> {
    let mut state = seed;
    (width..levels * width).map(move |task| {
        let above = (task / width - 1) * width;
        let a = (splitmix64(&mut state) % u64::from(width)) as u32;
        let b = (u64::from(a) + 1 + splitmix64(&mut state) % u64::from(width - 1)) as u32 % width;
        (task, above + a, above + b)
    })
}

/// Sebastiano Vigna's splitmix64: the next number of the sequence `state` is at.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
