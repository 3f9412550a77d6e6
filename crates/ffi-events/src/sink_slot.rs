// The protocol of one slot of the sink table: how a call, `open` and
// `close` meet without anyone waiting for anyone.
//
// (Plain comments rather than `//!`: `tests/loom_model.rs` compiles this file
// a second time with `include!`, which refuses inner attributes, and runs it
// under loom with a mutex-guarded stand-in for the cell.)
//
// A slot holds its current `Entry` in a cell that hands out references
// (`arc-swap` in the shipped table). A call loads the entry, which keeps it
// alive for the whole call, and reads nothing else: a different generation
// means the handle is stale; the same generation with an emitter means the
// sink is open; without one, closed. `close` swaps in a closed entry of the
// same generation and returns at once; `open` stores an entry of the next
// generation. The entry a call loaded (with the hub's emitter) is freed
// when the last call that loaded it returns, on whichever thread that is.
// So the consumer never waits for a library's threads, a caller that never
// returns pins one entry and nothing else, and no cell is read before the
// generation that guards it has been checked: the generation and what it
// guards are one immutable value.

use std::sync::Arc;

/// What a slot holds for one generation of its handle.
pub(crate) struct Entry<S, E> {
    /// The generation of the handle this entry answers.
    pub(crate) generation: u32,
    /// The sink: counts every call of this generation, open or closed.
    pub(crate) sink: S,
    /// The hub's emitter while the sink is open; `None` once closed.
    pub(crate) emitter: Option<E>,
}

/// A cell that hands out its current entry by reference.
pub(crate) trait EntryCell<T> {
    /// Runs `f` with the current entry, which stays alive until `f`
    /// returns even if the cell changes meanwhile.
    fn with_current<R>(&self, f: impl FnOnce(Option<&T>) -> R) -> R;
    /// The current entry.
    fn current(&self) -> Option<Arc<T>>;
    /// Replaces the entry; for `open`, the slot's only writer.
    fn store(&self, new: Option<Arc<T>>);
    /// Replaces the entry if it still is `current`; false when another
    /// writer came first.
    fn replace(&self, current: &Option<Arc<T>>, new: Option<Arc<T>>) -> bool;
}

/// Runs a call with handle generation `generation`: `open` when it names
/// the open sink, `closed` when it names the sink after its close. `None`
/// when the handle is stale (another generation, or a slot never opened).
pub(crate) fn call_slot<S, E, R, C>(
    cell: &C,
    generation: u32,
    open: impl FnOnce(&S, &E) -> R,
    closed: impl FnOnce(&S) -> R,
) -> Option<R>
where
    C: EntryCell<Entry<S, E>>,
{
    cell.with_current(|entry| match entry {
        Some(entry) if entry.generation == generation => Some(match &entry.emitter {
            Some(emitter) => open(&entry.sink, emitter),
            None => closed(&entry.sink),
        }),
        _ => None,
    })
}

/// Opens the slot for `sink` and `emitter`; returns the new generation.
/// The slot must be the caller's: never opened, or closed and taken from
/// the free list, so that no other `open` or `close` writes it meanwhile.
pub(crate) fn open_slot<S, E, C>(cell: &C, sink: S, emitter: E) -> u32
where
    C: EntryCell<Entry<S, E>>,
{
    let generation = cell
        .current()
        .map_or(1, |entry| entry.generation.wrapping_add(1));
    cell.store(Some(Arc::new(Entry {
        generation,
        sink,
        emitter: Some(emitter),
    })));
    generation
}

/// Closes the sink of `generation`: later calls with it get `closed`.
/// Returns at once, whatever calls are in progress; false when that
/// generation is not open.
pub(crate) fn close_slot<S: Clone, E, C>(cell: &C, generation: u32) -> bool
where
    C: EntryCell<Entry<S, E>>,
{
    loop {
        let current = cell.current();
        let sink = match &current {
            Some(entry) if entry.generation == generation && entry.emitter.is_some() => {
                entry.sink.clone()
            }
            _ => return false,
        };
        let closed = Arc::new(Entry {
            generation,
            sink,
            emitter: None,
        });
        // Only another close of the same handle can come first; the next
        // turn then sees it closed.
        if cell.replace(&current, Some(closed)) {
            return true;
        }
    }
}
