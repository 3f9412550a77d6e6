//! The hub's ring: a bounded queue for many producers and one consumer,
//! whose consumer reads events where they lie.
//!
//! Vyukov's bounded queue, laid out as `crossbeam_queue::ArrayQueue` lays
//! it out (a position is `lap + index`; each slot's stamp says which
//! position it is free for, or holds), with three differences that the hub
//! needs:
//! - **Claims.** The consumer takes every ready slot from the head with one
//!   compare-and-swap per drain ([`Ring::claim`]), not one per event. It
//!   then reads the claimed events in place ([`Ring::value`]) while it lays
//!   out a batch, and frees each slot after copying it
//!   ([`Ring::release`]): events are never moved out of the ring.
//! - **Full means full.** A push that finds its slot not yet freed (held by
//!   the consumer, or still being written by a slower producer) fails at
//!   once. A producer never spins on another thread's progress.
//! - **Pushing the oldest out** ([`Ring::force_push`]) takes the oldest
//!   unclaimed event with its own claim of one; when the consumer has
//!   claimed everything, the new event is the one that does not fit.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

struct Slot<T> {
    /// `pos` while the slot is free for position `pos`; `pos + 1` once the
    /// value pushed at `pos` is written. Freeing it for the next lap stores
    /// `pos + one_lap`.
    stamp: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

/// A bounded multi-producer queue with one consumer that claims, reads in
/// place and releases (see the module documentation).
pub(crate) struct Ring<T> {
    /// The next position to claim.
    head: CachePadded<AtomicUsize>,
    /// The next position to push to.
    tail: CachePadded<AtomicUsize>,
    slots: Box<[Slot<T>]>,
    cap: usize,
    /// A power of two above `cap`: positions are `lap + index`.
    one_lap: usize,
}

// SAFETY: a slot's value is written only by the producer whose CAS on
// `tail` won its position, and read or dropped only by the thread whose CAS
// on `head` claimed it; the stamp's release/acquire pair hands it over.
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Ring<T> {}

// As for crossbeam's queues: a panic cannot leave a slot half-handed-over
// (a value is written or read whole before its stamp moves).
impl<T> std::panic::UnwindSafe for Ring<T> {}
impl<T> std::panic::RefUnwindSafe for Ring<T> {}

/// Positions a claim took: `len` of them, from `start` on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Claim {
    pub(crate) start: usize,
    pub(crate) len: usize,
}

impl<T> Ring<T> {
    /// An empty ring of `cap` slots (at least 1).
    pub(crate) fn new(cap: usize) -> Ring<T> {
        let cap = cap.max(1);
        let slots = (0..cap)
            .map(|i| Slot {
                stamp: AtomicUsize::new(i),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        Ring {
            head: CachePadded::new(AtomicUsize::new(0)),
            tail: CachePadded::new(AtomicUsize::new(0)),
            slots,
            cap,
            one_lap: (cap + 1).next_power_of_two(),
        }
    }

    /// The position after `pos`.
    #[inline]
    pub(crate) fn next(&self, pos: usize) -> usize {
        let index = pos & (self.one_lap - 1);
        if index + 1 < self.cap {
            pos + 1
        } else {
            (pos & !(self.one_lap - 1)).wrapping_add(self.one_lap)
        }
    }

    #[inline]
    fn slot(&self, pos: usize) -> &Slot<T> {
        &self.slots[pos & (self.one_lap - 1)]
    }

    /// Appends `value`, or hands it back when the ring is full.
    pub(crate) fn push(&self, value: T) -> Result<(), T> {
        let mut tail = self.tail.load(Ordering::Relaxed);
        loop {
            let slot = self.slot(tail);
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == tail {
                match self.tail.compare_exchange_weak(
                    tail,
                    self.next(tail),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: the CAS gave this thread position `tail`;
                        // nobody reads the slot before the stamp below.
                        unsafe { (*slot.value.get()).write(value) };
                        slot.stamp.store(tail + 1, Ordering::Release);
                        return Ok(());
                    }
                    Err(current) => tail = current,
                }
            } else if stamp < tail {
                // Not yet freed from the previous lap: full.
                return Err(value);
            } else {
                // Another producer took this position: look again.
                tail = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// Appends `value`; when the ring is full, takes the oldest unclaimed
    /// events out to make room, handing each to `pushed_out`. Hands `value`
    /// back when there is nothing to take (the consumer claimed it all, or
    /// the oldest is still being written).
    pub(crate) fn force_push(&self, mut value: T, mut pushed_out: impl FnMut(T)) -> Result<(), T> {
        loop {
            match self.push(value) {
                Ok(()) => return Ok(()),
                Err(back) => value = back,
            }
            let claim = self.claim(1);
            if claim.len == 0 {
                return Err(value);
            }
            // SAFETY: claimed just now by this thread.
            pushed_out(unsafe { self.take(claim.start) });
        }
    }

    /// Claims up to `max` ready events from the head, oldest first, with
    /// one CAS: they stay in their slots, readable with [`Ring::value`],
    /// until [`Ring::release`] or [`Ring::take`] frees each. The claimer
    /// owns them, whichever thread it is.
    pub(crate) fn claim(&self, max: usize) -> Claim {
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            let mut end = head;
            let mut len = 0;
            while len < max && self.slot(end).stamp.load(Ordering::Acquire) == end + 1 {
                end = self.next(end);
                len += 1;
            }
            if len == 0 {
                let stamp = self.slot(head).stamp.load(Ordering::Acquire);
                if stamp <= head + 1 {
                    // Nothing pushed at `head` yet, or a push still writing
                    // it (the ring's oldest): nothing to claim now.
                    return Claim::default();
                }
                // The slot moved on: `head` was stale. The stamp's acquire
                // makes the claim that moved it visible.
                head = self.head.load(Ordering::Acquire);
                continue;
            }
            // Head only moves forward: if it is still where the count began,
            // nobody claimed any of these slots meanwhile, and a slot that
            // was ready stays ready until its claimer frees it.
            match self
                .head
                .compare_exchange(head, end, Ordering::SeqCst, Ordering::Acquire)
            {
                Ok(_) => return Claim { start: head, len },
                Err(current) => head = current,
            }
        }
    }

    /// The event at a claimed position.
    ///
    /// # Safety
    /// `pos` was claimed by the caller and not yet released or taken.
    #[inline]
    pub(crate) unsafe fn value(&self, pos: usize) -> &T {
        // SAFETY: claimed and written (the claim saw its stamp).
        unsafe { (*self.slot(pos).value.get()).assume_init_ref() }
    }

    /// Drops the event at a claimed position and frees its slot.
    ///
    /// # Safety
    /// As for [`Ring::value`]; the position is not used again.
    pub(crate) unsafe fn release(&self, pos: usize) {
        // SAFETY: the caller owns the claimed value.
        drop(unsafe { self.take(pos) });
    }

    /// Moves the event at a claimed position out and frees its slot.
    ///
    /// # Safety
    /// As for [`Ring::release`].
    pub(crate) unsafe fn take(&self, pos: usize) -> T {
        let slot = self.slot(pos);
        // SAFETY: the caller owns the claimed, written value.
        let value = unsafe { (*slot.value.get()).assume_init_read() };
        slot.stamp
            .store(pos.wrapping_add(self.one_lap), Ordering::Release);
        value
    }

    /// Events pushed and not yet claimed (a snapshot).
    pub(crate) fn len(&self) -> usize {
        let head = self.head.load(Ordering::SeqCst);
        let tail = self.tail.load(Ordering::SeqCst);
        let laps =
            (tail & !(self.one_lap - 1)).wrapping_sub(head & !(self.one_lap - 1)) / self.one_lap;
        let len =
            (laps * self.cap + (tail & (self.one_lap - 1))).wrapping_sub(head & (self.one_lap - 1));
        len.min(self.cap)
    }

    /// Whether a push would find the ring full now (a snapshot).
    pub(crate) fn is_full(&self) -> bool {
        let tail = self.tail.load(Ordering::Relaxed);
        self.slot(tail).stamp.load(Ordering::Acquire) < tail
    }

    /// Whether nothing is pushed and unclaimed (a snapshot).
    pub(crate) fn is_empty(&self) -> bool {
        self.head.load(Ordering::SeqCst) == self.tail.load(Ordering::SeqCst)
    }

    /// Number of slots.
    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }
}

impl<T> Drop for Ring<T> {
    /// Drops what is still in the slots: pushed events nobody took,
    /// claimed ones included.
    fn drop(&mut self) {
        let mask = self.one_lap - 1;
        for (index, slot) in self.slots.iter_mut().enumerate() {
            // A written slot's stamp is its position + 1; a free one's, its
            // position.
            if *slot.stamp.get_mut() & mask == index + 1 {
                // SAFETY: written and never taken; `&mut self` excludes
                // every other access.
                unsafe { slot.value.get_mut().assume_init_drop() };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn drain_all(ring: &Ring<u64>) -> Vec<u64> {
        let mut out = Vec::new();
        loop {
            let claim = ring.claim(usize::MAX);
            if claim.len == 0 {
                return out;
            }
            let mut pos = claim.start;
            for _ in 0..claim.len {
                // SAFETY: claimed above.
                out.push(unsafe { ring.take(pos) });
                pos = ring.next(pos);
            }
        }
    }

    #[test]
    fn pushes_fill_it_and_a_claim_reads_them_in_order() {
        for cap in [1, 2, 3, 5, 8] {
            let ring = Ring::new(cap);
            for lap in 0..4u64 {
                for i in 0..cap as u64 {
                    assert_eq!(ring.push(lap * 100 + i), Ok(()));
                }
                assert_eq!(ring.push(999), Err(999));
                assert_eq!(ring.len(), cap);
                let want: Vec<u64> = (0..cap as u64).map(|i| lap * 100 + i).collect();
                assert_eq!(drain_all(&ring), want);
                assert!(ring.is_empty());
            }
        }
    }

    #[test]
    fn claimed_slots_stay_full_until_released() {
        let ring = Ring::new(2);
        ring.push(1).unwrap();
        ring.push(2).unwrap();
        let claim = ring.claim(8);
        assert_eq!(claim.len, 2);
        assert_eq!(ring.len(), 0);
        assert_eq!(ring.push(3), Err(3), "claimed slots are not free yet");
        // SAFETY: claimed above.
        unsafe {
            assert_eq!(*ring.value(claim.start), 1);
            ring.release(claim.start);
        }
        assert_eq!(ring.push(3), Ok(()));
        // SAFETY: still claimed.
        unsafe { ring.release(ring.next(claim.start)) };
        assert_eq!(drain_all(&ring), vec![3]);
    }

    #[test]
    fn force_push_pushes_the_oldest_out_but_not_what_the_consumer_holds() {
        let ring = Ring::new(3);
        for i in 0..3 {
            ring.push(i).unwrap();
        }
        let mut out = Vec::new();
        assert_eq!(ring.force_push(3, |old| out.push(old)), Ok(()));
        assert_eq!(out, vec![0]);
        let claim = ring.claim(8);
        assert_eq!(claim.len, 3);
        assert_eq!(ring.force_push(4, |old| out.push(old)), Err(4));
        let mut pos = claim.start;
        for want in [1, 2, 3] {
            // SAFETY: claimed above.
            assert_eq!(unsafe { ring.take(pos) }, want);
            pos = ring.next(pos);
        }
    }

    #[test]
    fn dropping_it_drops_every_value_left_claimed_or_not() {
        let marker = Arc::new(());
        {
            let ring = Ring::new(4);
            for _ in 0..4 {
                ring.push(Arc::clone(&marker)).unwrap();
            }
            let claim = ring.claim(2);
            // SAFETY: claimed above.
            unsafe { ring.release(claim.start) };
            assert_eq!(Arc::strong_count(&marker), 4);
        }
        assert_eq!(Arc::strong_count(&marker), 1);
    }

    #[test]
    fn many_producers_and_one_consumer_lose_and_reorder_nothing() {
        let ring = Arc::new(Ring::new(64));
        let producers: Vec<_> = (0..4u64)
            .map(|t| {
                let ring = Arc::clone(&ring);
                std::thread::spawn(move || {
                    for i in 0..20_000u64 {
                        let mut value = (t << 32) | i;
                        while let Err(back) = ring.push(value) {
                            value = back;
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        let mut next = [0u64; 4];
        let mut seen = 0;
        while seen < 80_000 {
            for value in drain_all(&ring) {
                let (t, i) = ((value >> 32) as usize, value & 0xffff_ffff);
                assert_eq!(i, next[t], "thread {t} out of order");
                next[t] += 1;
                seen += 1;
            }
        }
        for producer in producers {
            producer.join().unwrap();
        }
        assert!(ring.is_empty());
    }
}
