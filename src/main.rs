//! The `flow` binary: everything happens in [`flow::cli`].

// mimalloc (v2) backs big allocations with huge pages and reuses memory across
// threads: the 100,000-task chain runs in 0.23 s instead of 0.28 s, the
// 1,000,000-item map in 0.40 s instead of 0.46 s (see bench/README.md). The
// library leaves the allocator to its host program.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// Before `main`, and before the standard library's own start allocates:
// huge pages off while `flow` starts (see `flow::cli::hold_huge_pages`).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)] // a constructor: only a prctl, no Rust runtime needed
#[used]
#[link_section = ".init_array"]
static HOLD_HUGE_PAGES: extern "C" fn() = {
    extern "C" fn hold() {
        flow::cli::hold_huge_pages();
    }
    hold
};

fn main() {
    let code = flow::cli::run_command_line();
    // Ends without the exit handlers: everything `flow` writes is written by
    // now (stdout flushed here), and the allocator's handler would only give
    // back, page by page, memory the kernel takes back at once (3 % of a
    // `flow check` of 3.7 MB).
    let _ = std::io::Write::flush(&mut std::io::stdout());
    #[allow(unsafe_code)]
    // SAFETY: ends the process; nothing is left to run or to write.
    unsafe {
        libc::_exit(i32::from(code))
    }
}
