//! Counters a hub keeps, and the snapshot it reports.

/// A snapshot of a hub's counters.
///
/// Every emit that took a sequence number ends in exactly one of
/// `delivered`, `refused`, `discarded` or `queued`, so
/// `emitted == delivered + refused + discarded + queued` holds whenever no
/// emit is in flight and no drain is in progress (events a drain has taken
/// are in none of them until it returns). The fields are read one after
/// another, so a snapshot taken while producers run may be off by the emits
/// in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// The ring's capacity.
    pub capacity: usize,
    /// Events in the ring now, reports in the report reserve included.
    pub queued: usize,
    /// The deepest the ring has been seen: at the start of a drain, or
    /// `capacity` once an offer was refused or an event discarded.
    pub high_water: usize,
    /// Valid emits, accepted or not; each took a sequence number.
    pub emitted: u64,
    /// Events taken from the ring by the consumer, `unheard` ones included.
    pub delivered: u64,
    /// Of `delivered`: events whose name had no listener (and no listener
    /// of every event) when they were drained; they were left out of the
    /// batch instead of being handed over.
    pub unheard: u64,
    /// Offers refused because the ring was full (`Overflow::Reject`). It
    /// counts attempts: a producer that retries after
    /// [`EmitError::Full`](crate::EmitError::Full) counts one refusal per
    /// attempt, though it loses nothing in the end.
    pub refused: u64,
    /// Accepted events that never reached the consumer: pushed out by
    /// `Overflow::DropOldest`, or drained while the consumer was shutting
    /// down. Each is lost for good.
    pub discarded: u64,
    /// Reports (a library's error, a malformed input) lost because the ring
    /// and the report reserve ([`REPORT_RESERVE`](crate::REPORT_RESERVE))
    /// were both full; each is also in `refused` (or, pushed out of the
    /// ring by `DropOldest`, in `discarded`). The consumer hears of them
    /// with the last one's text.
    pub reports_lost: u64,
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
