//! A counting global allocator: what the memory checks measure with (the
//! `memory` fuzz target, and tests/core, where memory.rs and the replay of
//! the memory corpus use it). Counts are per thread: a test binary runs its
//! other tests on other threads at the same time, and their allocations
//! must not show up in a measurement taken here.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

pub struct Counting;

thread_local! {
    // Const-initialised and without a destructor, so reading them inside
    // the allocator never allocates.
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn grew(by: usize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + by as isize;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn shrank(by: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get() - by as isize));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = System.alloc(l);
        if !p.is_null() {
            grew(l.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(l);
        if !p.is_null() {
            grew(l.size());
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l);
        shrank(l.size());
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        // Counted as alloc-new-then-free-old, the worst a realloc can do.
        let q = System.realloc(p, l, new);
        if !q.is_null() {
            grew(new);
            shrank(l.size());
        }
        q
    }
}

/// Peak bytes allocated by `f`, on this thread, above what was live before it.
pub fn peak_of<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(base));
    let out = f();
    (out, (PEAK.with(Cell::get) - base).max(0) as u64)
}

/// `peak_of` for callers that take it as a `&dyn Fn` (fuzz/checks.rs).
pub fn peak(f: &mut dyn FnMut()) -> u64 {
    peak_of(f).1
}
