//! The worker's native memory: the bytes its heap holds right now (counted by the global
//! allocator, as RustyObjectStore.jl reports live native memory) and its resident set; and big
//! copies into it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::mem::MaybeUninit;
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

/// From this size a copy is split across threads.
const PARALLEL_FROM: usize = 4 << 20;

/// Copies `from` into `to`, of one length, on several threads when it is big: most of a big copy
/// into memory not touched before is the kernel's page faults, and those run in parallel.
pub fn copy_into(to: &mut [MaybeUninit<u8>], from: &[u8]) {
    assert_eq!(
        to.len(),
        from.len(),
        "a copy between slices of different lengths"
    );
    let threads = if from.len() < PARALLEL_FROM {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
    };
    if threads == 1 {
        copy(to, from);
        return;
    }
    let piece = from.len().div_ceil(threads);
    let (to_here, to_rest) = to.split_at_mut(piece);
    let (from_here, from_rest) = from.split_at(piece);
    std::thread::scope(|scope| {
        for (to, from) in to_rest.chunks_mut(piece).zip(from_rest.chunks(piece)) {
            scope.spawn(move || copy(to, from));
        }
        copy(to_here, from_here);
    });
}

fn copy(to: &mut [MaybeUninit<u8>], from: &[u8]) {
    // SAFETY: `to` is as long as `from` (checked by the caller), and a `&mut` cannot overlap
    // the `&` it is copied from.
    unsafe {
        std::ptr::copy_nonoverlapping(from.as_ptr(), to.as_mut_ptr().cast::<u8>(), from.len())
    }
}

/// A copy of `bytes` the heap owns, made by `copy_into`.
pub fn copied(bytes: &[u8]) -> bytes::Bytes {
    let mut buffer = Vec::with_capacity(bytes.len());
    copy_into(&mut buffer.spare_capacity_mut()[..bytes.len()], bytes);
    // SAFETY: the copy has just written all `bytes.len()` of them.
    unsafe { buffer.set_len(bytes.len()) };
    bytes::Bytes::from(buffer)
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

/// The machine's physical memory, where the system says.
pub fn physical_bytes() -> Option<u64> {
    // SAFETY: sysconf has no preconditions.
    let (pages, page) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    Some(u64::try_from(pages).ok()? * u64::try_from(page).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_below_and_above_the_parallel_size_are_whole() {
        for len in [
            0,
            1,
            PARALLEL_FROM - 1,
            PARALLEL_FROM,
            PARALLEL_FROM + 3,
            3 * PARALLEL_FROM + 1,
        ] {
            let from: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            assert_eq!(copied(&from)[..], from[..], "{len} bytes");
        }
    }

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
