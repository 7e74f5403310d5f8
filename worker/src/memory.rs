//! The worker's native memory: the bytes its heap holds right now (counted by the global
//! allocator, as RustyObjectStore.jl reports live native memory) and its resident set.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

static LIVE: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, with every live byte counted.
pub struct Counting;

// SAFETY: every call goes to `System` unchanged; the counter is only arithmetic beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            LIVE.fetch_add(new_size, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

/// Bytes the heap holds now.
pub fn heap_bytes() -> u64 {
    LIVE.load(Ordering::Relaxed) as u64
}

/// The resident set (heap, stacks, the arena's touched pages, the binary), where the system says.
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heap_count_follows_allocations() {
        // Other tests allocate meanwhile: the margins are far wider than what they hold.
        let before = heap_bytes();
        let big = vec![1u8; 256 << 20];
        let during = heap_bytes();
        assert!(during >= before + (200 << 20), "{before} -> {during}");
        drop(big);
        assert!(heap_bytes() + (200 << 20) <= during);
        assert!(rss_bytes().is_some_and(|n| n > 0));
    }
}
