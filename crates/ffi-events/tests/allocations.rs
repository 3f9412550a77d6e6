//! Events of up to `SPARE_BYTES` cost no allocator call once the hub runs:
//! small ones live in their ring slot, larger ones in spare buffers that the
//! consumer's drop hands back to producers; a drain (into events or straight
//! into a batch buffer, with routes read for several names and events
//! nobody hears skipped) reuses its scratch space. Counted with a global allocator
//! that counts every call (this binary holds this one test, so no other test
//! allocates meanwhile).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use ffi_events::{DrainLimits, Filter, Hub, HubConfig, INLINE_BYTES, SPARE_BYTES};
use serde::Serialize;

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static FREES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        FREES.fetch_add(1, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Serialize)]
struct Reading<'a> {
    thread: u32,
    i: u64,
    #[serde(with = "serde_bytes")]
    data: &'a [u8],
}

#[test]
fn emits_and_drains_of_events_up_to_spare_bytes_call_no_allocator() {
    let hub = Hub::new(HubConfig {
        stall_timeout: None,
        ..HubConfig::default()
    })
    .unwrap();
    // Routes of several names, and a name nobody hears: the drain reads
    // them all under its one registry lock.
    for name in ["frame", "reading", "encoded", "numbers", "frame"] {
        hub.registry().add(Filter::Name(name.into())).unwrap();
    }
    let emitter = hub.emitter();
    let small = [7u8; 64];
    let medium = [9u8; 300];
    let largest = vec![1u8; SPARE_BYTES - "frame".len()];
    let encoded = {
        let mut item = vec![0x58, 150];
        item.extend_from_slice(&[3u8; 150]);
        item
    };
    let numbers: Vec<u32> = (0..80).map(|i| 70_000 + i).collect();
    let mut batch = Vec::with_capacity(4096);
    let mut buffer = Vec::with_capacity(1 << 20);
    let mut round = |i: u64| {
        for _ in 0..64 {
            emitter.emit_raw("frame", &small).unwrap();
            emitter.emit_raw("frame", &medium).unwrap();
            emitter.emit_raw("frame", &largest).unwrap();
            emitter
                .emit(
                    "reading",
                    &Reading {
                        thread: 1,
                        i,
                        data: &medium[..200],
                    },
                )
                .unwrap();
            emitter.emit_cbor("encoded", &encoded).unwrap();
            // Written in many small pieces: it outgrows the slot, then the
            // 128- and 256-byte spare buffers.
            emitter.emit("numbers", &numbers).unwrap();
            emitter.emit_raw("unheard", &small).unwrap();
        }
        // Every other round straight into one buffer, as the binding does.
        if i % 2 == 1 {
            let drained = hub
                .drain_batch(DrainLimits::default(), |len| {
                    buffer.resize(len, 0);
                    Ok::<_, ()>(&mut buffer[..])
                })
                .unwrap()
                .unwrap();
            assert_eq!(drained.events, 384);
            assert_eq!(&buffer[..8], &[128, 1, 0, 0, 4, 0, 0, 0], "n = 384, k = 4");
            return;
        }
        let drained = hub.drain(&mut batch, DrainLimits::default());
        assert_eq!(drained.events, 384);
        assert!(
            batch
                .iter()
                .filter(|e| e.bytes().len() + e.name().len() > INLINE_BYTES)
                .count()
                >= 320
        );
        assert!(batch
            .iter()
            .any(|e| e.name() == "numbers" && e.bytes().len() > 256));
        batch.clear();
    };
    // Warm-up: the pool fills, the registry's and drain's scratch grow.
    for i in 0..4 {
        round(i);
    }
    let (allocs, frees) = (
        ALLOCS.load(Ordering::Relaxed),
        FREES.load(Ordering::Relaxed),
    );
    for i in 4..54 {
        round(i);
    }
    let allocs = ALLOCS.load(Ordering::Relaxed) - allocs;
    let frees = FREES.load(Ordering::Relaxed) - frees;
    assert_eq!(
        (allocs, frees),
        (0, 0),
        "allocator calls over 22,400 events of up to {SPARE_BYTES} bytes"
    );
    // Control: an event past SPARE_BYTES allocates, and its drop frees.
    let before = (
        ALLOCS.load(Ordering::Relaxed),
        FREES.load(Ordering::Relaxed),
    );
    emitter.emit_raw("frame", &vec![0u8; SPARE_BYTES]).unwrap();
    hub.drain(&mut batch, DrainLimits::default());
    batch.clear();
    let after = (
        ALLOCS.load(Ordering::Relaxed),
        FREES.load(Ordering::Relaxed),
    );
    assert!(
        after.0 - before.0 >= 2 && after.1 - before.1 >= 2,
        "{before:?} -> {after:?}"
    );
    hub.close();
}
