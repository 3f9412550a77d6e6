//! Gives the memory of collected hubs' rings back to the OS on glibc.
//!
//! A ring below glibc's mmap threshold (128 KiB, the default capacity's ring
//! is 104 KiB) comes from a malloc heap, and glibc returns freed heap memory
//! to the OS only from the top of a heap. Hubs collected one after another
//! leave their rings as free holes, so the process stayed about one ring per
//! collected hub larger (1,000 hubs made and dropped: +114 MiB resident,
//! +13 MiB with the trim). After a hub is finalized the binding adds its
//! ring's size here, and once 8 MiB of rings were freed it asks glibc to
//! release free pages (`malloc_trim`): one call per 8 MiB, on the JS thread.
//! A no-op elsewhere: other allocators return large blocks on their own.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Ring bytes freed since the last trim.
static FREED_SINCE_TRIM: AtomicUsize = AtomicUsize::new(0);

/// Freed ring bytes that make a trim worth its cost.
const TRIM_EVERY: usize = 8 << 20;

/// Records that a ring of `bytes` was freed; trims once enough was.
pub(crate) fn ring_freed(bytes: usize) {
    let freed = FREED_SINCE_TRIM.fetch_add(bytes, Ordering::Relaxed) + bytes;
    if freed >= TRIM_EVERY && FREED_SINCE_TRIM.swap(0, Ordering::Relaxed) >= TRIM_EVERY {
        trim();
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim takes no pointers; it only returns free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
