//! Liveness: the `not_responding` / `responding` latch.
//!
//! Two kinds of episode exist side by side: the ring overflowed (the consumer
//! is not keeping up) and a producer that promised heartbeats stopped sending
//! them. Each episode produces exactly one `not_responding` when it starts
//! and one `responding` when it ends. Liveness events wait in a side queue
//! that the consumer empties before the ring, because the ring may be what
//! is wedged.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use serde::Serialize;

use crate::event::Event;

/// Name of the event sent when an episode starts.
pub const NOT_RESPONDING: &str = "not_responding";
/// Name of the event sent when an episode ends.
pub const RESPONDING: &str = "responding";

/// Why an episode started; the `reason` field of both liveness payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The ring was full and an event was overflowed.
    QueueFull,
    /// A producer that called `heartbeat()` stopped calling it for longer
    /// than the stall timeout.
    Stalled,
}

/// The payload of `not_responding` and `responding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LivenessPayload {
    /// Which kind of episode this is.
    pub reason: Reason,
    /// Events in the ring when the event was made.
    pub queued: u64,
    /// The hub's overflow losses when the event was made: offers refused
    /// plus events discarded because the ring was full.
    pub overflowed: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Liveness {
    /// True from the first overflow of an episode until the ring drains.
    /// Changed only with `pending` locked, so flag and queue agree.
    queue_stuck: AtomicBool,
    /// True from a missed heartbeat until the next heartbeat. Changed only
    /// with `pending` locked.
    stalled: AtomicBool,
    /// Liveness events not yet taken by the consumer, oldest first.
    pending: Mutex<Vec<Event>>,
    /// Mirrors `!pending.is_empty()` so the consumer can skip the lock; may
    /// be stale by one transition, which only costs one extra lock.
    has_pending: AtomicBool,
    /// Clock reading of the last heartbeat; 0 until the first one.
    last_beat_ns: AtomicU64,
}

impl Liveness {
    fn lock(&self) -> MutexGuard<'_, Vec<Event>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves `flag` to `to`, queueing one liveness event, unless it is
    /// already there. Returns whether an event was queued.
    fn transition(&self, flag: &AtomicBool, to: bool, payload: LivenessPayload) -> bool {
        if flag.load(Ordering::Acquire) == to {
            return false;
        }
        let mut pending = self.lock();
        if flag.load(Ordering::Acquire) == to {
            return false;
        }
        flag.store(to, Ordering::Release);
        let name = if to { NOT_RESPONDING } else { RESPONDING };
        if let Ok(event) = Event::cbor(name, &payload) {
            pending.push(event);
            self.has_pending.store(true, Ordering::Release);
        }
        true
    }

    /// An event was overflowed: starts a queue-full episode unless one is on.
    pub(crate) fn on_overflow(&self, queued: usize, overflowed: u64) -> bool {
        let payload = LivenessPayload {
            reason: Reason::QueueFull,
            queued: queued as u64,
            overflowed,
        };
        self.transition(&self.queue_stuck, true, payload)
    }

    /// The consumer found the ring empty: ends a queue-full episode.
    pub(crate) fn on_drained(&self, overflowed: u64) -> bool {
        let payload = LivenessPayload {
            reason: Reason::QueueFull,
            queued: 0,
            overflowed,
        };
        self.transition(&self.queue_stuck, false, payload)
    }

    /// A producer beat at `now_ns`: ends a stall episode.
    pub(crate) fn on_beat(&self, now_ns: u64, queued: usize, overflowed: u64) -> bool {
        self.last_beat_ns.store(now_ns.max(1), Ordering::Release);
        let payload = LivenessPayload {
            reason: Reason::Stalled,
            queued: queued as u64,
            overflowed,
        };
        self.transition(&self.stalled, false, payload)
    }

    /// Starts a stall episode if the last beat is older than `timeout_ns`.
    pub(crate) fn check_stall(
        &self,
        now_ns: u64,
        timeout_ns: u64,
        queued: usize,
        overflowed: u64,
    ) -> bool {
        let last = self.last_beat_ns.load(Ordering::Acquire);
        if last == 0 || now_ns.saturating_sub(last) <= timeout_ns {
            return false;
        }
        let payload = LivenessPayload {
            reason: Reason::Stalled,
            queued: queued as u64,
            overflowed,
        };
        self.transition(&self.stalled, true, payload)
    }

    /// Whether an episode of either kind is on.
    pub(crate) fn is_stuck(&self) -> bool {
        self.queue_stuck.load(Ordering::Acquire) || self.stalled.load(Ordering::Acquire)
    }

    pub(crate) fn has_pending(&self) -> bool {
        self.has_pending.load(Ordering::Acquire)
    }

    /// Appends the waiting liveness events to `out`.
    pub(crate) fn take_pending(&self, out: &mut Vec<Event>) {
        if !self.has_pending() {
            return;
        }
        let mut pending = self.lock();
        out.append(&mut pending);
        self.has_pending.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(liveness: &Liveness) -> Vec<String> {
        let mut out = Vec::new();
        liveness.take_pending(&mut out);
        out.iter().map(|e| e.name().to_string()).collect()
    }

    #[test]
    fn one_not_responding_and_one_responding_per_overflow_episode() {
        let liveness = Liveness::default();
        assert!(liveness.on_overflow(8, 1));
        assert!(!liveness.on_overflow(8, 2));
        assert!(liveness.is_stuck());
        assert!(liveness.on_drained(2));
        assert!(!liveness.on_drained(2));
        assert!(!liveness.is_stuck());
        assert_eq!(names(&liveness), vec![NOT_RESPONDING, RESPONDING]);
    }

    #[test]
    fn stall_needs_a_first_beat_and_ends_with_the_next() {
        let liveness = Liveness::default();
        assert!(!liveness.check_stall(10_000, 10, 0, 0));
        liveness.on_beat(100, 0, 0);
        assert!(!liveness.check_stall(105, 10, 0, 0));
        assert!(liveness.check_stall(200, 10, 0, 0));
        assert!(!liveness.check_stall(300, 10, 0, 0));
        assert!(liveness.on_beat(301, 0, 0));
        assert_eq!(names(&liveness), vec![NOT_RESPONDING, RESPONDING]);
    }

    #[test]
    fn the_two_kinds_of_episode_are_independent() {
        let liveness = Liveness::default();
        liveness.on_beat(1, 0, 0);
        assert!(liveness.on_overflow(1, 1));
        assert!(liveness.check_stall(100, 10, 1, 1));
        assert!(liveness.on_drained(1));
        assert!(liveness.is_stuck());
        assert!(liveness.on_beat(101, 0, 1));
        assert!(!liveness.is_stuck());
    }
}
