// Producers waiting for room in a full ring (`Emitter::wait_for_room`).
//
// A producer that must not lose an event and found the ring full parks
// here until the consumer frees slots, the hub closes, or its timeout
// passes. The consumer pays one fence and one load per drain while nobody
// waits, and one lock and `notify_all` per drain while somebody does.
//
// (Plain comments rather than `//!`: `tests/loom_model.rs` compiles this file
// a second time with `include!`, which refuses inner attributes, and runs it
// under loom in every `cargo test`.)

use std::sync::atomic::{fence, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Why [`RoomWaiters::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waited {
    /// The ring had room when it last looked.
    Room,
    /// The hub closed.
    Closed,
    /// The timeout passed with no drain waking the waiter (the ring may
    /// have room by then).
    TimedOut,
}

/// The producers parked until a drain frees slots.
#[derive(Debug, Default)]
pub(crate) struct RoomWaiters {
    /// Producers between announcing themselves and leaving.
    waiting: AtomicUsize,
    lock: Mutex<()>,
    freed: Condvar,
}

impl RoomWaiters {
    /// Parks until `has_room()` or `closed()`, or until `timeout` passes
    /// with no drain waking it.
    pub(crate) fn wait(
        &self,
        timeout: Duration,
        has_room: impl Fn() -> bool,
        closed: impl Fn() -> bool,
    ) -> Waited {
        let deadline = Instant::now().checked_add(timeout);
        self.waiting.fetch_add(1, Ordering::SeqCst);
        // Pairs with the fence in `notify`: either that drain sees this
        // waiter, or the check below sees the slots it freed.
        fence(Ordering::SeqCst);
        let mut guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let waited = loop {
            if closed() {
                break Waited::Closed;
            }
            if has_room() {
                break Waited::Room;
            }
            let left = match deadline {
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => break Waited::TimedOut,
                },
                // A timeout past `Instant`'s range: wait a day at a time.
                None => Duration::from_secs(86_400),
            };
            let (woken, timeout) = match self.freed.wait_timeout(guard, left) {
                Ok(woken) => woken,
                Err(poisoned) => poisoned.into_inner(),
            };
            guard = woken;
            if timeout.timed_out() && deadline.is_some() {
                // No drain woke it: the timeout passed first, whatever the
                // ring holds now. A close at that moment still says so.
                break if closed() {
                    Waited::Closed
                } else {
                    Waited::TimedOut
                };
            }
        };
        drop(guard);
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        waited
    }

    /// Wakes every parked producer when there is one. The consumer calls it
    /// after freeing slots, and `close` after closing the gate.
    ///
    /// While a producer waits, this takes the lock for a moment: a producer
    /// holds it only to look at two atomics before it parks (or returns),
    /// so the consumer can wait for a producer only if the OS preempts one
    /// right there.
    pub(crate) fn notify(&self) {
        // Pairs with the fence in `wait` (see there).
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::Relaxed) > 0 {
            // Taking the lock once is what makes the notify reach a producer
            // between its check and its wait: that producer holds the lock,
            // so after it is released here the producer is parked (and
            // woken below) or looks after the slots were freed. The notify
            // itself is made after releasing it, so that the woken
            // producers do not queue behind the consumer for it.
            drop(self.lock.lock().unwrap_or_else(|p| p.into_inner()));
            self.freed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    #[test]
    fn it_returns_at_once_when_there_is_room_or_the_hub_closed() {
        let waiters = RoomWaiters::default();
        assert_eq!(
            waiters.wait(Duration::from_secs(60), || true, || false),
            Waited::Room
        );
        assert_eq!(
            waiters.wait(Duration::from_secs(60), || false, || true),
            Waited::Closed
        );
        assert_eq!(waiters.waiting.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn it_times_out_when_nothing_frees_room() {
        let waiters = RoomWaiters::default();
        let started = Instant::now();
        let waited = waiters.wait(Duration::from_millis(20), || false, || false);
        assert_eq!(waited, Waited::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(20));
        assert_eq!(waiters.waiting.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_notify_after_room_appears_wakes_every_waiter_long_before_its_timeout() {
        let waiters = Arc::new(RoomWaiters::default());
        let room = Arc::new(AtomicBool::new(false));
        let parked: Vec<_> = (0..4)
            .map(|_| {
                let (waiters, room) = (waiters.clone(), room.clone());
                std::thread::spawn(move || {
                    // A lost wake-up shows as `TimedOut`.
                    waiters.wait(
                        Duration::from_secs(30),
                        || room.load(Ordering::SeqCst),
                        || false,
                    )
                })
            })
            .collect();
        while waiters.waiting.load(Ordering::SeqCst) < 4 {
            std::thread::yield_now();
        }
        room.store(true, Ordering::SeqCst);
        waiters.notify();
        for thread in parked {
            assert_eq!(thread.join().unwrap(), Waited::Room);
        }
    }
}
