//! Gives the memory of collected hubs' rings back to the OS on glibc.
//!
//! A ring below glibc's mmap threshold (128 KiB, the default capacity's ring
//! is 104 KiB) comes from a malloc heap, and glibc returns freed heap memory
//! to the OS only from the top of a heap. Hubs collected one after another
//! leave their rings as free holes, so the process stayed about one ring per
//! collected hub larger (1,000 hubs made and dropped: +114 MiB resident,
//! +13 MiB with the trim). After a hub is finalized the binding adds its
//! ring's size here, and once 8 MiB of rings were freed it asks glibc to
//! release free pages (`malloc_trim`), on the JS thread: at most once per
//! 100 ms, since one garbage collection can finalize a thousand hubs and a
//! trim walks every malloc arena under its lock.
//! A no-op elsewhere: other allocators return large blocks on their own.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// Ring bytes freed since the last trim.
static FREED_SINCE_TRIM: AtomicUsize = AtomicUsize::new(0);

/// When the last trim ran (`now_ns`); 0 before the first.
static LAST_TRIM_NS: AtomicU64 = AtomicU64::new(0);

/// Freed ring bytes that make a trim worth its cost.
const TRIM_EVERY: usize = 8 << 20;

/// The shortest time between two trims.
const TRIM_GAP_NS: u64 = 100_000_000;

/// Records that a ring of `bytes` was freed; trims once enough was, unless
/// a trim ran less than 100 ms ago (the bytes then wait for the next call).
pub(crate) fn ring_freed(bytes: usize) {
    let freed = FREED_SINCE_TRIM.fetch_add(bytes, Ordering::Relaxed) + bytes;
    if freed < TRIM_EVERY {
        return;
    }
    let now = now_ns();
    let last = LAST_TRIM_NS.load(Ordering::Relaxed);
    if last != 0 && now.saturating_sub(last) < TRIM_GAP_NS {
        return;
    }
    // Finalizers run on the JS thread, but an embedder's may not: one
    // caller wins the trim.
    if LAST_TRIM_NS
        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
        .is_ok()
    {
        FREED_SINCE_TRIM.store(0, Ordering::Relaxed);
        trim();
    }
}

/// Nanoseconds since this module was first used, at least 1.
fn now_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_nanos())
        .unwrap_or(u64::MAX)
        .max(1)
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
