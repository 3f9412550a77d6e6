//! The process-wide table of sink handles: what the opaque `user_data` a
//! foreign library holds points at.
//!
//! A handle is a slot index and a generation packed in one pointer-sized
//! integer, never an address: a library may call with it after the sink
//! closed, after its hub was dropped, after the slot was given to another
//! sink, or with garbage. Each such call is a refused no-op. The slots live
//! as long as the process (the C functions that read them live in a module
//! that is never unloaded), so a call never touches freed memory.
//!
//! # The slot protocol
//! Each slot holds its current entry (generation, sink, and the hub's
//! emitter while open) behind an `arc-swap` cell: a call loads the entry,
//! which keeps it alive by reference for the call, and checks the
//! generation before it touches anything else; `close` swaps in a closed
//! entry and returns at once, without waiting for calls in progress; `open`
//! stores the next generation. See `sink_slot.rs`, and its loom model in
//! `tests/loom_model.rs`. A call that loaded the open entry before `close`
//! swapped it may still offer its event after `close` returned; a call that
//! starts after `close` returned is refused. Nothing here waits: the free
//! list's lock is held only to take or give back an index.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use arc_swap::ArcSwapOption;

use crate::emitter::Emitter;
use crate::sink::{Sink, SinkError, SinkStatus};
use crate::sink_slot::{call_slot, close_slot, open_slot, Entry, EntryCell};

const SLOTS_PER_SEGMENT: usize = 1024;
const SEGMENTS: usize = 64;
/// The most sinks open at once in one process.
pub const MAX_SINKS: usize = SLOTS_PER_SEGMENT * SEGMENTS;

type SlotEntry = Entry<Arc<Sink>, Emitter>;

/// One slot: its current entry; empty until first opened.
struct Slot(ArcSwapOption<SlotEntry>);

impl EntryCell<SlotEntry> for ArcSwapOption<SlotEntry> {
    fn with_current<R>(&self, f: impl FnOnce(Option<&SlotEntry>) -> R) -> R {
        let guard = self.load();
        f(guard.as_deref())
    }

    fn current(&self) -> Option<Arc<SlotEntry>> {
        self.load_full()
    }

    fn store(&self, new: Option<Arc<SlotEntry>>) {
        ArcSwapOption::store(self, new);
    }

    fn replace(&self, current: &Option<Arc<SlotEntry>>, new: Option<Arc<SlotEntry>>) -> bool {
        let before = self.compare_and_swap(current, new);
        match (&*before, current) {
            (Some(before), Some(current)) => Arc::ptr_eq(before, current),
            (None, None) => true,
            _ => false,
        }
    }
}

static SEGMENT_TABLE: [OnceLock<Box<[Slot]>>; SEGMENTS] = [const { OnceLock::new() }; SEGMENTS];

/// Slots never used yet, and closed slots in the order they closed: the
/// slot closed longest ago is reused first, so that a stale handle meets a
/// new generation as late as possible.
struct FreeSlots {
    never_used: usize,
    closed: VecDeque<usize>,
}

static FREE_SLOTS: Mutex<FreeSlots> = Mutex::new(FreeSlots {
    never_used: 0,
    closed: VecDeque::new(),
});

/// Calls through handles that name no open or closed sink of theirs.
static STALE_CALLS: AtomicU64 = AtomicU64::new(0);

fn free_slots() -> MutexGuard<'static, FreeSlots> {
    FREE_SLOTS.lock().unwrap_or_else(|p| p.into_inner())
}

fn slot(index: usize) -> Option<&'static Slot> {
    let segment = SEGMENT_TABLE.get(index / SLOTS_PER_SEGMENT)?.get()?;
    segment.get(index % SLOTS_PER_SEGMENT)
}

fn slot_or_new(index: usize) -> Option<&'static Slot> {
    let segment = SEGMENT_TABLE
        .get(index / SLOTS_PER_SEGMENT)?
        .get_or_init(|| {
            (0..SLOTS_PER_SEGMENT)
                .map(|_| Slot(ArcSwapOption::empty()))
                .collect()
        });
    segment.get(index % SLOTS_PER_SEGMENT)
}

/// An open sink's handle: the `user_data` a foreign library passes back.
/// Never zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SinkHandle(u64);

impl SinkHandle {
    /// The handle as the pointer-sized integer C code holds.
    pub fn as_user_data(self) -> usize {
        // Handles are made only on 64-bit targets (see `open`).
        self.0 as usize
    }

    /// The handle a foreign library passed back, unchecked.
    pub fn from_user_data(user_data: usize) -> SinkHandle {
        SinkHandle(user_data as u64)
    }

    /// The handle of slot `index` at `generation`: never zero.
    fn new(index: usize, generation: u32) -> SinkHandle {
        SinkHandle(((index as u64 + 1) << 32) | u64::from(generation))
    }

    fn index(self) -> Option<usize> {
        usize::try_from(self.0 >> 32).ok()?.checked_sub(1)
    }

    fn generation(self) -> u32 {
        // The low 32 bits, by construction.
        (self.0 & 0xffff_ffff) as u32
    }
}

/// Opens a sink that offers to `emitter`'s hub and returns its handle.
///
/// # Errors
/// [`SinkError::TooManySinks`] when [`MAX_SINKS`] are open.
pub fn open(sink: Arc<Sink>, emitter: Emitter) -> Result<SinkHandle, SinkError> {
    if usize::BITS < 64 {
        // A handle packs 32 bits of index and 32 of generation.
        return Err(SinkError::TooManySinks);
    }
    let index = {
        let mut free = free_slots();
        match free.closed.pop_front() {
            Some(index) => index,
            None if free.never_used < MAX_SINKS => {
                free.never_used += 1;
                free.never_used - 1
            }
            None => return Err(SinkError::TooManySinks),
        }
    };
    let Some(slot) = slot_or_new(index) else {
        return Err(SinkError::TooManySinks);
    };
    // The index came off the free list: no other `open` or `close` writes
    // this slot until it goes back there.
    let generation = open_slot(&slot.0, sink, emitter);
    Ok(SinkHandle::new(index, generation))
}

/// Closes the sink of `handle`: calls that start after this returns are
/// refused and counted as closed, and the hub's emitter is released once
/// the calls in progress (if any) return. Never waits for them. False when
/// it was not open.
pub fn close(handle: SinkHandle) -> bool {
    let Some(index) = handle.index() else {
        return false;
    };
    let Some(slot) = slot(index) else {
        return false;
    };
    if !close_slot(&slot.0, handle.generation()) {
        return false;
    }
    free_slots().closed.push_back(index);
    true
}

/// Closes every open sink of the process, for process exit: later calls
/// through any handle are refused. Returns how many were open.
pub fn close_all() -> usize {
    let mut closed = 0;
    for (s, segment) in SEGMENT_TABLE.iter().enumerate() {
        let Some(segment) = segment.get() else {
            continue;
        };
        for (i, slot) in segment.iter().enumerate() {
            let open = slot
                .0
                .with_current(|entry| entry.filter(|e| e.emitter.is_some()).map(|e| e.generation));
            if let Some(generation) = open {
                let index = s * SLOTS_PER_SEGMENT + i;
                closed += usize::from(close(SinkHandle::new(index, generation)));
            }
        }
    }
    closed
}

/// Whether `handle` names an open sink.
pub fn is_open(handle: SinkHandle) -> bool {
    handle.index().and_then(slot).is_some_and(|slot| {
        slot.0.with_current(|entry| {
            entry.is_some_and(|e| e.generation == handle.generation() && e.emitter.is_some())
        })
    })
}

/// Runs `call` with the sink and emitter of `handle` if it is open; counts
/// the refusal otherwise.
fn with_open_sink(
    handle: SinkHandle,
    call: impl FnOnce(&Sink, &Emitter) -> SinkStatus,
) -> SinkStatus {
    let reached = handle.index().and_then(slot).and_then(|slot| {
        call_slot(
            &slot.0,
            handle.generation(),
            |sink: &Arc<Sink>, emitter| call(sink, emitter),
            |sink| sink.refuse_closed(),
        )
    });
    reached.unwrap_or_else(|| {
        STALE_CALLS.fetch_add(1, Ordering::Relaxed);
        SinkStatus::Closed
    })
}

/// Takes a callback call (`void (*)(int ret, const char *msg, size_t len,
/// void *user_data)`) for the sink of `handle`. `msg` is `None` when the
/// caller passed NULL with a non-zero length.
pub fn deliver(handle: SinkHandle, ret: i32, msg: Option<&[u8]>) -> SinkStatus {
    with_open_sink(handle, |sink, emitter| sink.on_callback(emitter, ret, msg))
}

/// Takes a direct emit of a named event on `lane` (0 CBOR value, 1 raw, 2
/// JSON text) for the sink of `handle`.
pub fn emit(
    handle: SinkHandle,
    name: Option<&[u8]>,
    payload: Option<&[u8]>,
    lane: i32,
) -> SinkStatus {
    with_open_sink(handle, |sink, emitter| {
        sink.on_emit(emitter, name, payload, lane)
    })
}

/// Calls, in this process, through handles whose sink is gone: unknown
/// values, or slots given to another sink since.
pub fn stale_calls() -> u64 {
    STALE_CALLS.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DrainLimits, Filter, Hub, HubConfig, SinkFormat};

    fn raw_sink() -> Arc<Sink> {
        Arc::new(Sink::new(SinkFormat::Raw, Some("frame")).unwrap())
    }

    /// The table is process-wide and `open` reuses the slot closed longest
    /// ago: a test that opens sinks while another still calls a closed one
    /// would take that slot and turn the other's later calls stale (seen
    /// under valgrind, where the calling threads outlive the close). Each
    /// test here holds this for its whole run.
    static TABLE: Mutex<()> = Mutex::new(());

    fn table_to_myself() -> MutexGuard<'static, ()> {
        TABLE.lock().unwrap_or_else(|p| p.into_inner())
    }

    #[test]
    fn calls_reach_the_open_sink_and_are_refused_after_close() {
        let _table = table_to_myself();
        let hub = Hub::new(HubConfig::default()).unwrap();
        hub.registry().add(Filter::Any).unwrap();
        let sink = raw_sink();
        let handle = open(sink.clone(), hub.emitter()).unwrap();
        assert_ne!(handle.as_user_data(), 0);
        assert_eq!(deliver(handle, 0, Some(&[1])), SinkStatus::Accepted);
        assert!(close(handle));
        assert!(!close(handle));
        assert_eq!(deliver(handle, 0, Some(&[1])), SinkStatus::Closed);
        let stats = sink.stats();
        assert_eq!((stats.accepted, stats.closed), (1, 1));
        let mut out = Vec::new();
        hub.drain(&mut out, DrainLimits::default());
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn garbage_and_reused_handles_are_stale_no_ops() {
        let _table = table_to_myself();
        let hub = Hub::new(HubConfig::default()).unwrap();
        hub.registry().add(Filter::Any).unwrap();
        let before = stale_calls();
        assert_eq!(
            deliver(SinkHandle::from_user_data(0), 0, Some(&[])),
            SinkStatus::Closed
        );
        assert_eq!(
            deliver(SinkHandle::from_user_data(usize::MAX), 0, Some(&[])),
            SinkStatus::Closed
        );
        assert!(stale_calls() >= before + 2);
        let first = open(raw_sink(), hub.emitter()).unwrap();
        assert!(close(first));
        // Open and close sinks until `first`'s slot is given out again (the
        // table is shared with tests running beside this one).
        let mut reused = None;
        for _ in 0..MAX_SINKS {
            let sink = raw_sink();
            let handle = open(sink.clone(), hub.emitter()).unwrap();
            if handle.index() == first.index() {
                reused = Some((handle, sink));
                break;
            }
            close(handle);
        }
        let (handle, sink) = reused.expect("the closed slot was given out again");
        assert_ne!(handle, first, "a new generation, not the old handle");
        // The old handle reaches neither the slot's new sink nor its hub.
        let stale_before = stale_calls();
        assert_eq!(deliver(first, 0, Some(&[])), SinkStatus::Closed);
        assert!(stale_calls() > stale_before);
        assert_eq!(sink.stats().calls, 0);
        assert_eq!(deliver(handle, 0, Some(&[])), SinkStatus::Accepted);
        assert_eq!(sink.stats().accepted, 1);
        close(handle);
    }

    #[test]
    fn close_returns_while_a_caller_is_parked_inside_the_call() {
        let _table = table_to_myself();
        let hub = Hub::new(HubConfig::default()).unwrap();
        hub.registry().add(Filter::Any).unwrap();
        let sink = raw_sink();
        let handle = open(sink.clone(), hub.emitter()).unwrap();
        let (inside_tx, inside_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let parked = std::thread::spawn(move || {
            with_open_sink(handle, |sink, emitter| {
                inside_tx.send(()).unwrap();
                // Parked until the main thread has closed the sink and
                // opened another: a close that waited would never return.
                release_rx.recv().unwrap();
                sink.on_callback(emitter, 0, Some(&[1]))
            })
        });
        inside_rx.recv().unwrap();
        assert!(close(handle));
        assert!(!is_open(handle));
        // A call that starts now is refused; the table serves another
        // hub's sinks meanwhile.
        assert_eq!(deliver(handle, 0, Some(&[2])), SinkStatus::Closed);
        let other_hub = Hub::new(HubConfig::default()).unwrap();
        other_hub.registry().add(Filter::Any).unwrap();
        let other = open(raw_sink(), other_hub.emitter()).unwrap();
        assert_eq!(deliver(other, 0, Some(&[3])), SinkStatus::Accepted);
        assert!(close(other));
        release_tx.send(()).unwrap();
        // The parked call loaded the open sink before the close: it ends
        // as it began, and is counted once.
        assert_eq!(parked.join().unwrap(), SinkStatus::Accepted);
        let stats = sink.stats();
        assert_eq!((stats.calls, stats.accepted, stats.closed), (2, 1, 1));
        let mut out = Vec::new();
        while hub.drain(&mut out, DrainLimits::default()).events > 0 {}
        assert_eq!(out.len(), 1, "the parked call's event");
        out.clear();
        while other_hub.drain(&mut out, DrainLimits::default()).events > 0 {}
        assert_eq!(out.len(), 1, "the other hub's event");
    }

    #[test]
    fn a_panic_inside_a_call_leaves_the_slot_usable() {
        let _table = table_to_myself();
        let hub = Hub::new(HubConfig::default()).unwrap();
        hub.registry().add(Filter::Any).unwrap();
        let handle = open(raw_sink(), hub.emitter()).unwrap();
        let panicked = std::panic::catch_unwind(|| {
            with_open_sink(handle, |_, _| panic!("a call that panics"))
        });
        assert!(panicked.is_err());
        // Another hub's sink opens at once.
        let other_hub = Hub::new(HubConfig::default()).unwrap();
        let other = open(raw_sink(), other_hub.emitter()).unwrap();
        assert!(close(other));
        assert_eq!(deliver(handle, 0, Some(&[1])), SinkStatus::Accepted);
        assert!(close(handle));
        // Its slot is reused and works; nothing stayed counted inside.
        let again = open(raw_sink(), hub.emitter()).unwrap();
        assert_eq!(deliver(again, 0, Some(&[1])), SinkStatus::Accepted);
        assert!(close(again));
    }

    #[test]
    fn close_while_16_threads_call_flat_out_returns_and_every_call_is_counted_once() {
        let _table = table_to_myself();
        let hub = Hub::new(HubConfig {
            capacity: 1 << 10,
            ..HubConfig::default()
        })
        .unwrap();
        hub.registry().add(Filter::Any).unwrap();
        let sink = raw_sink();
        let handle = open(sink.clone(), hub.emitter()).unwrap();
        let stale_before = stale_calls();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let started = Arc::new(std::sync::Barrier::new(17));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (stop, started) = (stop.clone(), started.clone());
                std::thread::spawn(move || {
                    started.wait();
                    let mut calls = 0u64;
                    let mut accepted = 0u64;
                    while !stop.load(Ordering::Relaxed) || calls < 1_000 {
                        calls += 1;
                        accepted +=
                            u64::from(deliver(handle, 0, Some(&[7])) == SinkStatus::Accepted);
                    }
                    (calls, accepted)
                })
            })
            .collect();
        started.wait();
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(close(handle));
        // Another hub's sink opens and closes while the calls go on.
        let other_hub = Hub::new(HubConfig::default()).unwrap();
        let other = open(raw_sink(), other_hub.emitter()).unwrap();
        assert!(close(other));
        stop.store(true, Ordering::Relaxed);
        let (calls, accepted) = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .fold((0, 0), |(c, a), (tc, ta)| (c + tc, a + ta));
        // Once the other sink took the closed slot, the old handle is
        // stale: those calls are counted by the table, not by the sink.
        let stale = stale_calls() - stale_before;
        let stats = sink.stats();
        assert_eq!(stats.calls + stale, calls);
        assert_eq!(stats.accepted, accepted);
        assert_eq!(stats.accepted + stats.refused + stats.closed, stats.calls);
        assert!(stats.closed + stale > 0, "calls went on after the close");
        let hub_stats = hub.stats();
        assert_eq!(hub_stats.emitted, stats.accepted + stats.refused);
    }

    #[test]
    fn every_call_racing_a_close_is_either_taken_or_refused() {
        let _table = table_to_myself();
        let hub = Hub::new(HubConfig {
            capacity: 1 << 16,
            ..HubConfig::default()
        })
        .unwrap();
        let sink = raw_sink();
        let handle = open(sink.clone(), hub.emitter()).unwrap();
        hub.registry().add(Filter::Any).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(move || {
                    (0..5_000)
                        .filter(|_| deliver(handle, 0, Some(&[7])) == SinkStatus::Accepted)
                        .count()
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(1));
        assert!(close(handle));
        let accepted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        let stats = sink.stats();
        assert_eq!(stats.calls, 20_000);
        assert_eq!(stats.accepted as usize, accepted);
        assert_eq!(stats.accepted + stats.closed, 20_000);
        let mut out = Vec::new();
        while hub.drain(&mut out, DrainLimits::default()).events > 0 {}
        assert_eq!(out.len(), accepted);
    }
}
