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

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Ring bytes freed since the last trim, and when that trim ran.
struct Trims {
    freed: usize,
    last: Option<Instant>,
}

/// Finalizers run on the JS thread, and rarely: a lock costs nothing here.
static TRIMS: Mutex<Trims> = Mutex::new(Trims {
    freed: 0,
    last: None,
});

/// Freed ring bytes that make a trim worth its cost.
const TRIM_EVERY: usize = 8 << 20;

/// The shortest time between two trims.
const TRIM_GAP: Duration = Duration::from_millis(100);

/// Records that a ring of `bytes` was freed; trims once enough was, unless
/// a trim ran less than 100 ms ago (the bytes then wait for the next call).
pub(crate) fn ring_freed(bytes: usize) {
    let mut trims = TRIMS.lock().unwrap_or_else(|p| p.into_inner());
    trims.freed = trims.freed.saturating_add(bytes);
    if trims.freed < TRIM_EVERY || trims.last.is_some_and(|last| last.elapsed() < TRIM_GAP) {
        return;
    }
    trims.freed = 0;
    trims.last = Some(Instant::now());
    drop(trims);
    trim();
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
