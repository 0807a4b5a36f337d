//! The order queued tasks start in: depth first, the oldest `map` item's
//! tasks before younger items' (docs/language.md, "Scheduling order").

use crate::common::run_with;
use flow::{RunOptions, RunStatus};

#[test]
fn a_pipeline_map_finishes_its_first_items_before_starting_the_last() {
    let outcome = run_with(
        r#"
let done = map x in range(12) {
  let a = sh("sleep 0.05; echo ${x}")
  let b = sh("sleep 0.05; echo ${a}")
  sh("sleep 0.05; echo ${b}")
}
done
"#,
        RunOptions::new().jobs(2),
    );
    assert_eq!(
        outcome.status,
        RunStatus::Succeeded,
        "{:#?}",
        outcome.errors
    );
    let task = |id: &str| {
        outcome
            .tasks
            .iter()
            .find(|t| t.id() == id)
            .unwrap_or_else(|| panic!("no task {id}"))
    };
    // Two slots: an item's first stage starts only once all but one of the
    // items before it are done (at most two items are ever in flight),
    // where breadth first would start every item's first stage at once.
    let ends: Vec<_> = (0..12)
        .map(|i| task(&format!("done[{i}]")).ended_at)
        .collect();
    for item in 2..12 {
        let started = task(&format!("done[{item}].a")).started_at;
        let finished = ends[..item].iter().filter(|end| **end <= started).count();
        assert!(
            finished >= item - 1,
            "item {item} started when {finished} items before it were done"
        );
    }
}
