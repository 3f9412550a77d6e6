//! Counters a hub keeps, and the snapshot it reports.

/// A snapshot of a hub's counters.
///
/// `emitted == delivered + dropped + queued` holds whenever no emit is in
/// flight; the fields are read one after another, so a snapshot taken while
/// producers run may be off by the emits in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// The ring's capacity.
    pub capacity: usize,
    /// Events in the ring now.
    pub queued: usize,
    /// The deepest the ring has been seen: at the start of a drain, or
    /// `capacity` once an event was dropped.
    pub high_water: usize,
    /// Valid emits, accepted or not; each took a sequence number.
    pub emitted: u64,
    /// Events taken from the ring by the consumer, `unheard` ones included.
    pub delivered: u64,
    /// Of `delivered`: events whose name had no listener (and no listener
    /// of every event) when they were drained; they were left out of the
    /// batch instead of being handed over.
    pub unheard: u64,
    /// Events refused on a full ring or pushed out by `DropOldest`.
    pub dropped: u64,
    /// Non-empty drains; each is one call into the consumer.
    pub batches: u64,
    /// Times the consumer was woken up.
    pub wakeups: u64,
    /// Wake-ups the consumer's notifier refused (it was shutting down).
    pub wake_failures: u64,
    /// Whether a liveness episode is on.
    pub stuck: bool,
    /// Whether the hub is closed.
    pub closed: bool,
}
