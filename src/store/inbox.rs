//! The queue between a run's scheduler and its store writer.
//!
//! A channel would wake the writer for every ended task: a thread switch per
//! task, on a machine whose cores are busy starting processes (10,000 `sh`
//! tasks took 23 % longer so). Here the scheduler wakes the writer only when
//! it waits for work, or for what must not wait (the run's end, a flush);
//! the writer then gathers what arrives until its next commit is due.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

pub(super) struct Inbox<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

struct State<T> {
    items: Vec<T>,
    /// The writer waits for work: the next item wakes it.
    idle: bool,
    /// An item that must be committed at once arrived.
    urgent: bool,
    /// No item will come any more.
    closed: bool,
}

impl<T> Inbox<T> {
    pub(super) fn new() -> Inbox<T> {
        Inbox {
            state: Mutex::new(State {
                items: Vec::new(),
                idle: false,
                urgent: false,
                closed: false,
            }),
            ready: Condvar::new(),
        }
    }

    /// The state; a writer or scheduler that panicked while holding it left
    /// nothing half-done that matters here.
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds an item (`urgent`: to be committed at once). False when closed.
    pub(super) fn push(&self, item: T, urgent: bool) -> bool {
        let mut state = self.lock();
        if state.closed {
            return false;
        }
        state.items.push(item);
        state.urgent |= urgent;
        let wake = state.idle || urgent;
        state.idle = false;
        drop(state);
        if wake {
            self.ready.notify_one();
        }
        true
    }

    /// No more items: the writer takes what is left, then stops.
    pub(super) fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
    }

    /// For the writer: waits for an item, then until `due` (unless an urgent
    /// item arrives or the inbox closes), and takes every item. `None` once
    /// the inbox is closed and empty.
    pub(super) fn take(&self, due: Instant) -> Option<Vec<T>> {
        let mut state = self.lock();
        while state.items.is_empty() {
            if state.closed {
                return None;
            }
            state.idle = true;
            state = self.ready.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        state.idle = false;
        while !state.urgent && !state.closed {
            let now = Instant::now();
            if now >= due {
                break;
            }
            state = match self.ready.wait_timeout(state, due - now) {
                Ok((state, _)) => state,
                Err(e) => e.into_inner().0,
            };
        }
        state.urgent = false;
        Some(std::mem::take(&mut state.items))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn items_wait_for_the_due_time_unless_urgent() {
        let inbox = Arc::new(Inbox::new());
        inbox.push(1, false);
        inbox.push(2, false);
        assert_eq!(
            inbox.take(Instant::now()),
            Some(vec![1, 2]),
            "due already: at once"
        );
        // Due in an hour: only the urgent item can end the wait before the
        // test's guard does.
        let hour = Duration::from_secs(3600);
        let (sent, taken) = std::sync::mpsc::channel();
        {
            let inbox = inbox.clone();
            std::thread::spawn(move || sent.send(inbox.take(Instant::now() + hour)));
        }
        inbox.push(3, false);
        std::thread::sleep(Duration::from_millis(50));
        inbox.push(4, true);
        let guard = Duration::from_secs(120);
        assert_eq!(
            taken
                .recv_timeout(guard)
                .expect("the urgent item cut the wait"),
            Some(vec![3, 4])
        );
        inbox.push(5, false);
        inbox.close();
        assert!(!inbox.push(6, false), "closed");
        // Closed: what is left, at once.
        let (sent, taken) = std::sync::mpsc::channel();
        {
            let inbox = inbox.clone();
            std::thread::spawn(move || sent.send(inbox.take(Instant::now() + hour)));
        }
        assert_eq!(
            taken.recv_timeout(guard).expect("closing cut the wait"),
            Some(vec![5])
        );
        assert_eq!(inbox.take(Instant::now()), None);
    }
}
