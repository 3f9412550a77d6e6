// The wake-up handshake between producers and the one consumer.
//
// (Plain comments rather than `//!`: `tests/loom_model.rs` compiles this file
// a second time with `include!`, which refuses inner attributes, and runs it
// under loom in every `cargo test`.)
//
// One flag, `scheduled`, is the wake-up itself: whoever turns it from false to
// true owns it. A producer that wins it sends the one notification; the
// consumer owns it from that wake-up until a drain hands it back. Every
// idle-to-busy transition therefore costs one notification, however many
// producers race for it.
//
// The handshake, and why no event is stranded:
//
//   producer                              consumer (end of a drain)
//   make work visible (push, liveness)    scheduled = false
//   fence(SeqCst)                         fence(SeqCst)
//   read scheduled                        look for work (ring, liveness)
//
// Each side writes, fences, then reads what the other wrote (Dekker's
// pattern). The two fences are ordered one way or the other, so at least one
// side sees the other's write: either the producer sees `false` and claims
// the wake-up, or the consumer sees the work and claims the flag back
// (`more == true`). When both see each other, the swap picks one. Without
// either fence both reads may miss (store buffering) and an event would sit
// in the ring with nobody woken for it.
//
// Dropping the producer's fence was tried when the ring was crossbeam-queue's
// `ArrayQueue`: a push's tail update there is itself `SeqCst`, so with a
// `SeqCst` read of the flag the total order of `SeqCst` operations gives the
// same either-or (loom agreed). It was not kept: it rested on an ordering
// inside crossbeam-queue that is not part of its API, and it saved nothing
// measurable: the wait for the event's cache lines that the fence exposed
// moved to the next locked instruction, the gate's exit. The ring is now
// `ring.rs`, whose tail CAS is `SeqCst` too; the fence stays, so the
// handshake does not depend on it.

use std::sync::atomic::{fence, AtomicBool, Ordering};

/// Who owns the consumer's wake-up.
#[derive(Debug, Default)]
pub(crate) struct Wakeup {
    /// True from a wake-up until a drain releases it (it left the ring empty,
    /// or with `linger` took at most one event): while set, producers do not
    /// wake the consumer again. Turned false only by the consumer (`end_of_drain`,
    /// `rearm`) and by `reset`; turned true only by a swap, so exactly one
    /// caller wins each false-to-true change.
    ///
    /// Every write is a swap, even where the old value is not needed: each
    /// write then reads the one before it, so the flag's writes form one
    /// chain. On x86-64 a SeqCst store is the same `xchg` instruction. The
    /// loom model needs it: loom orders a plain store only after the writes
    /// its own thread has seen, and with `store(false)` it reported a
    /// producer reading a `true` older than the consumer's release, which
    /// the C++ memory model rules out (the fences order the two).
    scheduled: AtomicBool,
}

impl Wakeup {
    /// Producer side, after the work is visible (pushed, or queued as a
    /// liveness event). True when this caller won the wake-up and must send
    /// the notification; false when one is already pending or the consumer
    /// is busy and will see the work.
    #[inline]
    pub(crate) fn claim(&self) -> bool {
        // Pairs with the fence in `end_of_drain` and `rearm`: either the
        // consumer sees our work when it looks again, or we see
        // `scheduled == false` here.
        fence(Ordering::SeqCst);
        // A plain read first: under load the flag is set and a swap would
        // bounce the cache line between producers. A stale `true` is fine:
        // the fence above already ordered our work before the consumer's
        // release, whose recheck then sees it.
        !(self.scheduled.load(Ordering::Relaxed) || self.scheduled.swap(true, Ordering::SeqCst))
    }

    /// `claim` without its fence: the bug the loom control model must catch.
    #[cfg(test)]
    #[allow(dead_code)] // used by tests/loom_model.rs only
    pub(crate) fn claim_without_fence(&self) -> bool {
        !(self.scheduled.load(Ordering::Relaxed) || self.scheduled.swap(true, Ordering::SeqCst))
    }

    /// Consumer side, at the end of a drain; returns whether the consumer
    /// must drain again (`Drained::more`).
    ///
    /// `busy`: the drain left events behind, or lingers; the consumer keeps
    /// the wake-up and `waiting` is not called. Otherwise the wake-up is
    /// released, and `waiting` (is any work visible?) is asked once more:
    /// work that arrived meanwhile is either taken back here (`true`) or
    /// announced by its producer's `claim`, never both and never neither.
    #[inline]
    pub(crate) fn end_of_drain(&self, busy: bool, waiting: impl FnOnce() -> bool) -> bool {
        if busy {
            return true;
        }
        self.scheduled.swap(false, Ordering::SeqCst);
        // Pairs with the fence in `claim`.
        fence(Ordering::SeqCst);
        waiting() && !self.scheduled.swap(true, Ordering::SeqCst)
    }

    /// Consumer side, giving back a wake-up it holds without draining (a
    /// batch it could not take after a lingering drain). True when work is
    /// already waiting and this call claimed a new wake-up: the caller must
    /// send the notification.
    #[inline]
    pub(crate) fn rearm(&self, waiting: impl FnOnce() -> bool) -> bool {
        self.scheduled.swap(false, Ordering::SeqCst);
        // Pairs with the fence in `claim`.
        fence(Ordering::SeqCst);
        waiting() && self.claim()
    }

    /// Forgets a wake-up claimed while nobody could be notified (before a
    /// consumer attached); the caller claims it anew.
    #[inline]
    pub(crate) fn reset(&self) {
        self.scheduled.swap(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_claim_wins_until_the_consumer_releases() {
        let wakeup = Wakeup::default();
        assert!(wakeup.claim());
        assert!(!wakeup.claim());
        assert!(!wakeup.end_of_drain(false, || false));
        assert!(wakeup.claim());
    }

    #[test]
    fn a_busy_drain_keeps_the_wake_up_without_looking() {
        let wakeup = Wakeup::default();
        assert!(wakeup.claim());
        assert!(wakeup.end_of_drain(true, || unreachable!("busy drains do not recheck")));
        assert!(!wakeup.claim());
    }

    #[test]
    fn work_seen_by_the_recheck_keeps_the_consumer_awake() {
        let wakeup = Wakeup::default();
        assert!(wakeup.claim());
        assert!(wakeup.end_of_drain(false, || true));
        assert!(!wakeup.claim());
    }

    #[test]
    fn rearm_claims_a_new_wake_up_only_when_work_waits() {
        let wakeup = Wakeup::default();
        assert!(wakeup.claim());
        assert!(!wakeup.rearm(|| false));
        assert!(wakeup.claim());
        assert!(wakeup.rearm(|| true));
        assert!(!wakeup.claim());
    }
}
