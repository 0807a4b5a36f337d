//! The order queued tasks start in: depth first, the oldest `map` item's
//! tasks before younger items' (docs/language.md, "Scheduling order"); and
//! the times their records give that order.

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

/// Inline answers (`echo`) share one clock reading among many in a burst of
/// pure work: never one from before a command ended, for what that
/// command's end made ready.
#[test]
fn inline_answers_are_timed_after_what_they_waited_for() {
    let outcome = run_with(
        r#"
let early = map i in range(300) { echo(i) }
let slow = sh("sleep 0.05")
let late = map i in range(300) { echo([slow, i]) }
[len(early), len(late)]
"#,
        RunOptions::new().record_all(true),
    );
    assert_eq!(
        outcome.status,
        RunStatus::Succeeded,
        "{:#?}",
        outcome.errors
    );
    let slow = outcome
        .tasks
        .iter()
        .find(|t| t.id() == "slow")
        .expect("slow");
    let ended = slow.ended_at.expect("slow ended");
    let answers: Vec<_> = outcome
        .tasks
        .iter()
        .filter(|t| t.id().starts_with("late["))
        .collect();
    assert_eq!(answers.len(), 300);
    for answer in answers {
        let started = answer.started_at.expect("an answer has a time");
        assert!(
            started >= ended,
            "{} started {:?} before `slow` ended",
            answer.id(),
            ended.duration_since(started)
        );
        assert_eq!(
            answer.ended_at, answer.started_at,
            "an answer takes no time"
        );
    }
}
