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
//! A slot's `state` packs `generation << 32 | OPEN | callers inside`.
//! A caller adds one to the callers inside, then looks: a different
//! generation means a stale handle (it leaves at once, touching nothing
//! else); the same generation means the slot's `sink` and `emitter` are
//! the ones its handle was given for, and stay so until it leaves. `close`
//! clears `OPEN` and waits until the callers inside have left before it
//! drops the emitter; a new `open` of the slot first moves the generation
//! on, then waits for the callers of the old one, then installs its sink.
//! Callers never wait: only `open` and `close` (on the consumer's thread)
//! do, for at most one call in progress.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use crate::emitter::Emitter;
use crate::sink::{Sink, SinkError, SinkStatus};

const SLOTS_PER_SEGMENT: usize = 1024;
const SEGMENTS: usize = 64;
/// The most sinks open at once in one process.
pub const MAX_SINKS: usize = SLOTS_PER_SEGMENT * SEGMENTS;

const OPEN: u64 = 1 << 31;
const INSIDE_MASK: u64 = OPEN - 1;
const GENERATION_SHIFT: u32 = 32;

struct Slot {
    /// `generation << 32 | OPEN | callers inside`; see the module docs.
    state: AtomicU64,
    /// Written only by `open`, while no caller of the slot's current
    /// generation is inside and none of the new one exists yet.
    sink: UnsafeCell<Option<Arc<Sink>>>,
    /// Written by `open` as `sink` is, and cleared by `close` once `OPEN` is
    /// clear and no caller is inside; read only by callers that saw `OPEN`.
    emitter: UnsafeCell<Option<Emitter>>,
}

// SAFETY: the cells are written only under the protocol in the module docs,
// which keeps every write apart from every read of the same cell.
unsafe impl Sync for Slot {}

impl Slot {
    fn new() -> Slot {
        Slot {
            state: AtomicU64::new(0),
            sink: UnsafeCell::new(None),
            emitter: UnsafeCell::new(None),
        }
    }

    /// Waits until no caller is inside. Callers never block, so this lasts
    /// as long as the slowest call in progress.
    fn wait_until_empty(&self) {
        let mut spins = 0u32;
        while self.state.load(Ordering::Acquire) & INSIDE_MASK != 0 {
            if spins < 64 {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
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
        .get_or_init(|| (0..SLOTS_PER_SEGMENT).map(|_| Slot::new()).collect());
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

    fn index(self) -> Option<usize> {
        usize::try_from(self.0 >> 32).ok()?.checked_sub(1)
    }

    fn generation(self) -> u64 {
        self.0 & 0xffff_ffff
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
    let mut free = free_slots();
    let index = match free.closed.pop_front() {
        Some(index) => index,
        None if free.never_used < MAX_SINKS => {
            free.never_used += 1;
            free.never_used - 1
        }
        None => return Err(SinkError::TooManySinks),
    };
    let Some(slot) = slot_or_new(index) else {
        return Err(SinkError::TooManySinks);
    };
    let before = slot
        .state
        .fetch_add(1 << GENERATION_SHIFT, Ordering::AcqRel);
    slot.wait_until_empty();
    // SAFETY: the generation just moved on, so callers that enter now leave
    // without reading the cells; those of the old one have left; the new
    // generation is not handed out yet; `FREE_SLOTS` keeps `open` and
    // `close` apart.
    unsafe {
        *slot.sink.get() = Some(sink);
        *slot.emitter.get() = Some(emitter);
    }
    slot.state.fetch_or(OPEN, Ordering::Release);
    let generation = (before >> GENERATION_SHIFT).wrapping_add(1) & 0xffff_ffff;
    Ok(SinkHandle(((index as u64 + 1) << 32) | generation))
}

/// Closes the sink of `handle`: later calls with it are refused and counted
/// as closed, and the hub's emitter is released. Waits for a call in
/// progress. False when it was not open.
pub fn close(handle: SinkHandle) -> bool {
    let Some(index) = handle.index() else {
        return false;
    };
    let Some(slot) = slot(index) else {
        return false;
    };
    let mut free = free_slots();
    let state = slot.state.load(Ordering::Acquire);
    if state >> GENERATION_SHIFT != handle.generation() || state & OPEN == 0 {
        return false;
    }
    slot.state.fetch_and(!OPEN, Ordering::AcqRel);
    slot.wait_until_empty();
    // SAFETY: `OPEN` is clear and the callers that saw it set have left;
    // later callers read only `sink`.
    let emitter = unsafe { (*slot.emitter.get()).take() };
    free.closed.push_back(index);
    drop(free);
    drop(emitter);
    true
}

/// Whether `handle` names an open sink.
pub fn is_open(handle: SinkHandle) -> bool {
    handle.index().and_then(slot).is_some_and(|slot| {
        let state = slot.state.load(Ordering::Acquire);
        state >> GENERATION_SHIFT == handle.generation() && state & OPEN != 0
    })
}

/// Runs `call` with the sink and emitter of `handle` if it is open; counts
/// the refusal otherwise.
fn with_open_sink(
    handle: SinkHandle,
    call: impl FnOnce(&Sink, &Emitter) -> SinkStatus,
) -> SinkStatus {
    let Some(slot) = handle.index().and_then(slot) else {
        STALE_CALLS.fetch_add(1, Ordering::Relaxed);
        return SinkStatus::Closed;
    };
    let state = slot.state.fetch_add(1, Ordering::Acquire);
    let status = if state >> GENERATION_SHIFT != handle.generation() {
        STALE_CALLS.fetch_add(1, Ordering::Relaxed);
        SinkStatus::Closed
    } else {
        // SAFETY: inside with the slot's generation: `open` does not write
        // the cells until we leave (see the module docs).
        let sink = unsafe { &*slot.sink.get() };
        // SAFETY: as above; `OPEN` was set when we entered, so `close` has
        // not taken the emitter and will not until we leave.
        let emitter = unsafe { &*slot.emitter.get() };
        match (sink, emitter) {
            (Some(sink), Some(emitter)) if state & OPEN != 0 => call(sink, emitter),
            (Some(sink), _) => sink.refuse_closed(),
            (None, _) => SinkStatus::Closed,
        }
    };
    slot.state.fetch_sub(1, Ordering::Release);
    status
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
