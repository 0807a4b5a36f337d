//! Hints that ask the CPU to start loading memory before it is read (see
//! `Scheduler::prefetch_ahead`). A hint never faults, whatever the address,
//! and is nothing on targets without one here.
#![allow(unsafe_code)] // _mm_prefetch: its one call carries its SAFETY argument

/// The bytes of one cache line, as prefetched.
const LINE: usize = 64;

/// The most lines one hint covers: a node's first lines, the start of a list.
const MAX_LINES: usize = 3;

/// Starts loading the cache lines `value` lies on (its first three).
#[inline]
pub(super) fn value<T>(value: &T) {
    bytes(std::ptr::from_ref(value).cast(), std::mem::size_of::<T>());
}

/// Starts loading the first cache lines of a slice's elements.
#[inline]
pub(super) fn slice<T>(items: &[T]) {
    bytes(items.as_ptr().cast(), std::mem::size_of_val(items));
}

#[inline]
fn bytes(start: *const u8, len: usize) {
    for line in lines(start as usize, len) {
        // An address only: a hint reads nothing through it.
        line_at(std::ptr::without_provenance(line * LINE));
    }
}

/// The cache lines (address / [`LINE`]) of `len` bytes at `start`: the
/// first [`MAX_LINES`] of them.
#[inline]
fn lines(start: usize, len: usize) -> std::ops::Range<usize> {
    if len == 0 {
        return 0..0;
    }
    let first = start / LINE;
    let last = (start + len - 1) / LINE;
    first..last.min(first + MAX_LINES - 1) + 1
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn line_at(at: *const u8) {
    // SAFETY: `prefetch` needs SSE, which every x86-64 CPU has (it is in the
    // target's baseline); it is a hint that reads nothing into the program and
    // never faults, whatever the address.
    unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast()) }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn line_at(_at: *const u8) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lines_asked_for_are_those_the_bytes_lie_on_up_to_three() {
        assert_eq!(lines(128, 0), 0..0);
        assert_eq!(lines(128, 64), 2..3);
        assert_eq!(lines(120, 16), 1..3);
        // A 160-byte node that starts 32 bytes into a line lies on four.
        assert_eq!(lines(32, 160), 0..3);
        // Asking never faults, whatever the address.
        value(&[0u8; 200]);
        slice::<u64>(&[]);
        bytes(std::ptr::null(), 64);
    }
}
