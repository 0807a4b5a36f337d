//! Transparent huge pages: off while `flow` starts, on for the work.
//!
//! The allocator (mimalloc) asks for huge pages on its whole arena, so the
//! first allocation of each thread has the kernel zero a 2 MiB page: about a
//! fifth of the CPU of a `flow run` of one `sh` task went to that (clap, the
//! signal watcher, the store's thread, each a fresh page). Big scripts and
//! big runs gain from huge pages (the 100,000-task chain ran ~20 % slower
//! without), so they are turned off only until the work starts: when the
//! script is read and big, or when the run begins. Commands are started after
//! that, so they inherit the setting `flow` was given. The binary turns them
//! off from a constructor (`src/main.rs`), before the standard library's
//! first allocation.

#![allow(unsafe_code)] // prctl: each call carries its SAFETY argument

use std::sync::atomic::{AtomicBool, Ordering};

/// Whether this process turned huge pages off, to turn them on again.
static HELD: AtomicBool = AtomicBool::new(false);

/// Turns transparent huge pages off for this process, unless it was started
/// with them off already (then they stay as they were).
pub fn hold() {
    // SAFETY: prctl with integer options; no memory is passed.
    let off = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
    // SAFETY: as above.
    if off == 0 && unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) } == 0 {
        HELD.store(true, Ordering::Relaxed);
    }
}

/// Turns them on again, if [`hold`] turned them off.
pub fn release() {
    if HELD.swap(false, Ordering::Relaxed) {
        // SAFETY: prctl with integer options; no memory is passed.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 0, 0, 0, 0) };
    }
}
