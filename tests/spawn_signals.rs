//! Signals sent to the interpreter's process group while `sh` children start.
//!
//! A child shares the interpreter's memory until it calls `exec`; a handler of
//! the interpreter must never run in it, and a Ctrl-Z meant for the
//! interpreter must not leave it stopped before `exec`, with the interpreter
//! waiting for it. This test needs a process of its own (it moves itself to a
//! new process group and floods that group with signals), hence its own test
//! binary.
//!
//! The second half (Ctrl-Z) only holds for the `clone` spawner (the
//! `fast-spawn` feature, on Linux): with tokio's `Command`, glibc's
//! `posix_spawn` leaves such a child stopped before `exec`
//! (`src/exec/local/child.rs`).
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use flow::exec::local::{run, LocalOptions};
use flow::exec::CommandSpec;
use tokio_util::sync::CancellationToken;

static PARENT: AtomicI32 = AtomicI32::new(0);
static RAN_IN_A_CHILD: AtomicUsize = AtomicUsize::new(0);
static RAN: AtomicUsize = AtomicUsize::new(0);
static STOP: AtomicBool = AtomicBool::new(false);
/// What the flood sends: SIGUSR1 first, then, with the `clone` spawner,
/// SIGTSTP (separately, since a child with both pending dies of SIGUSR1
/// before it could stop).
static FLOOD: AtomicI32 = AtomicI32::new(libc::SIGUSR1);

extern "C" fn handler(_: libc::c_int) {
    RAN.fetch_add(1, Relaxed);
    // SAFETY: getpid is async-signal-safe
    if unsafe { libc::getpid() } != PARENT.load(Relaxed) {
        RAN_IN_A_CHILD.fetch_add(1, Relaxed);
    }
}

#[test]
fn no_handler_of_the_interpreter_runs_in_a_starting_child() {
    // SAFETY: plain calls on this process; the handler only touches atomics
    let group = unsafe {
        // a group of its own, so the flood reaches no other process
        assert_eq!(libc::setpgid(0, 0), 0);
        PARENT.store(libc::getpid(), Relaxed);
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as extern "C" fn(libc::c_int) as usize;
        action.sa_flags = libc::SA_RESTART;
        // SIGTSTP handled too, so that the flood does not stop this process
        for signal in [libc::SIGUSR1, libc::SIGTSTP] {
            assert_eq!(libc::sigaction(signal, &action, std::ptr::null_mut()), 0);
        }
        libc::getpgrp()
    };
    let flood = std::thread::spawn(move || {
        while !STOP.load(Relaxed) {
            // SAFETY: signalling our own group, whose members handle both
            unsafe { libc::kill(-group, FLOOD.load(Relaxed)) };
        }
    });
    // A child stopped before exec keeps this thread waiting in `clone`
    // forever: a watchdog turns that into a failure (a guard against a test
    // that never ends: the calls take about a second).
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(120));
        if !STOP.load(Relaxed) {
            eprintln!("a command never started: a child stopped before exec?");
            std::process::exit(1);
        }
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let command = CommandSpec {
        cmd: "true".into(),
        ..CommandSpec::default()
    };
    // A number of calls, not a time: the same test on any machine.
    let calls = 2000;
    runtime.block_on(async {
        for call in 0..calls {
            if cfg!(all(target_os = "linux", feature = "fast-spawn")) && call == calls / 2 {
                FLOOD.store(libc::SIGTSTP, Relaxed);
            }
            // a child that got the signal before it left the group dies of it,
            // as the signal's default action says (posix_spawn's children too)
            match run(
                &command,
                &LocalOptions::default(),
                &CancellationToken::new(),
            )
            .await
            {
                Ok(out) => assert_eq!(out, serde_json::json!("")),
                Err(error) => assert!(error.to_string().contains("SIGUSR1"), "{error}"),
            }
        }
    });
    STOP.store(true, Relaxed);
    flood.join().unwrap();
    assert!(
        RAN.load(Relaxed) > 1000,
        "the flood did not reach the handler"
    );
    assert_eq!(
        RAN_IN_A_CHILD.load(Relaxed),
        0,
        "the handler ran in a child ({calls} calls)"
    );
}
