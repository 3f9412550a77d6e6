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
//!
//! The other way round, glibc gives back too eagerly for batch buffers: a
//! batch a listener got a view of is never written again (lib/hub.ts), so
//! busy raw listeners make V8 allocate a new buffer of up to a few hundred
//! KiB per batch and free them in bulk at its next collection. Those frees
//! coalesce at the top of the heap, glibc returns the top to the OS once it
//! exceeds its trim threshold (128 KiB by default), and the next batches
//! fault the same pages in again, zeroed by the kernel: 96,000–118,000 page
//! faults over 10 M raw events of 64 bytes, against about 6,000 with a 4 MiB
//! threshold. [`adapt_thresholds`] moves glibc to that threshold the way
//! glibc itself does it (see its comment) rather than through `mallopt`,
//! which would turn glibc's own adaptation off for the whole process.

use std::sync::{Mutex, Once};
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

/// A block larger than glibc's default mmap threshold (128 KiB) and at most
/// its dynamic limit (32 MiB on 64-bit), so that freeing it adapts both
/// thresholds: mmap to its size, trim to twice that.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ADAPTING_BLOCK: usize = 2 << 20;

/// Once per process, when the first hub is made: frees one 2 MiB block that
/// glibc served with `mmap`, which is what makes glibc raise its mmap
/// threshold to 2 MiB and its trim threshold to 4 MiB (its "dynamic
/// threshold", the same step any program takes the first time it frees such
/// a block). Blocks up to 2 MiB then come from the heap, and up to 4 MiB of
/// free memory stays at its top instead of being returned and faulted in
/// again per batch. Does nothing when the thresholds were set by `mallopt`
/// or `GLIBC_TUNABLES` (glibc then keeps them) or already adapted higher.
pub(crate) fn adapt_thresholds() {
    static ADAPTED: Once = Once::new();
    ADAPTED.call_once(adapt);
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn adapt() {
    // SAFETY: a block of our own: one byte written, then freed at once.
    unsafe {
        let block = libc::malloc(ADAPTING_BLOCK);
        if !block.is_null() {
            // A volatile write keeps the compiler from eliding the
            // malloc/free pair, which it may for an unused block.
            std::ptr::write_volatile(block.cast::<u8>(), 0);
            libc::free(block);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn adapt() {}
