// The entry gate: counts emits in flight and lets `close` wait them out,
// without making producers on different threads share a counter.
//
// (Plain comments rather than `//!`: `tests/loom_model.rs` compiles this file
// a second time with `include!`, which refuses inner attributes, and runs it
// under loom in every `cargo test`.)
//
// The count is striped: each thread enters and leaves on its own stripe, a
// word on a cache line of its own, so producers on different threads never
// bounce a line between them (one shared word cost every emit two contended
// read-modify-writes). Every stripe carries the closed bit, and `close` sets
// it on each stripe before it waits for that stripe's count to reach zero.
// An emit's entering `fetch_add` returns its stripe's closed bit in the same
// atomic step as it counts itself, so there is no window between "counted"
// and "saw the gate open": either the add comes first and `close` waits for
// it, or the `fetch_or` comes first and the emit backs out.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use ::crossbeam_utils::CachePadded;

const CLOSED: usize = 1;
const ONE_IN_FLIGHT: usize = 2;

/// Stripes per gate: more than the cores of most machines that run a hub,
/// few enough that `close` walks them in no time (2 KiB per hub).
const STRIPES: usize = 16;

/// Hands each new thread the next stripe, round robin. Only spreads threads
/// over stripes; correctness never depends on which stripe a thread gets.
/// `core`'s atomic on purpose: under loom it is not part of what is
/// modelled, and loom's atomics cannot be statics.
static NEXT_STRIPE: ::core::sync::atomic::AtomicUsize = ::core::sync::atomic::AtomicUsize::new(0);

const NO_STRIPE: usize = usize::MAX;

std::thread_local! {
    /// This thread's stripe, picked on its first emit.
    // Not `const { .. }`: loom's `thread_local!`, which replaces std's in the
    // model, has no const form.
    #[allow(clippy::missing_const_for_thread_local)]
    static STRIPE: Cell<usize> = Cell::new(NO_STRIPE);
}

/// Starts the round robin again. For loom, which replays executions: a
/// thread must get the same stripe in every replay of the same schedule.
#[cfg(test)]
#[allow(dead_code)] // called by tests/loom_model.rs only
pub(crate) fn restart_stripe_assignment() {
    NEXT_STRIPE.store(0, ::core::sync::atomic::Ordering::Relaxed);
}

/// The calling thread's stripe. A thread whose thread-locals are already
/// destroyed (an emit from another thread-local's destructor) uses stripe 0.
#[inline]
fn this_threads_stripe() -> usize {
    STRIPE
        .try_with(|stripe| {
            let index = stripe.get();
            if index != NO_STRIPE {
                return index;
            }
            let index = NEXT_STRIPE.fetch_add(1, ::core::sync::atomic::Ordering::Relaxed) % STRIPES;
            stripe.set(index);
            index
        })
        .unwrap_or(0)
}

/// Counts emits between `enter` and the pass's drop, per thread stripe.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    /// Set by `close` before any stripe; what `is_closed` reads. A line of
    /// its own that only `close` writes: read on every emit, it must not
    /// share a line with a stripe that some thread writes on every emit.
    closed: CachePadded<AtomicBool>,
    /// Each: bit 0 closed, bits 1.. the emits in flight on that stripe.
    stripes: [CachePadded<AtomicUsize>; STRIPES],
}

/// Held by an emit while it touches the ring.
pub(crate) struct Pass<'a>(&'a AtomicUsize);

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(ONE_IN_FLIGHT, Ordering::Release);
    }
}

impl Gate {
    /// Lets an emit in, or `None` once the gate is closed.
    #[inline]
    pub(crate) fn enter(&self) -> Option<Pass<'_>> {
        let stripe = &self.stripes[this_threads_stripe()];
        // Acquire pairs with `close`'s release when this add reads its
        // closed bit; Release lets `close` see what came before the add.
        let before = stripe.fetch_add(ONE_IN_FLIGHT, Ordering::AcqRel);
        if before & CLOSED != 0 {
            stripe.fetch_sub(ONE_IN_FLIGHT, Ordering::Release);
            return None;
        }
        Some(Pass(stripe))
    }

    /// Whether `close` has started.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Closes the gate without waiting: no emit gets in from now on, but
    /// those already in may still be finishing ([`Gate::in_flight`]).
    pub(crate) fn close_now(&self) {
        self.closed.store(true, Ordering::Release);
        for stripe in &self.stripes {
            stripe.fetch_or(CLOSED, Ordering::AcqRel);
        }
    }

    /// Whether an emit that got in is still in flight. Once it says false
    /// after [`Gate::close_now`], it stays false: nothing touches the ring
    /// through the gate any more.
    pub(crate) fn in_flight(&self) -> bool {
        self.stripes
            .iter()
            .any(|stripe| stripe.load(Ordering::Acquire) >= ONE_IN_FLIGHT)
    }

    /// Closes the gate and waits until no emit is in flight. Emits never
    /// block, but a producer thread the OS preempted inside one holds the
    /// wait for as long as it is off the CPU; a consumer that must not wait
    /// uses [`Gate::close_now`] and polls [`Gate::in_flight`].
    pub(crate) fn close(&self) {
        self.close_now();
        for stripe in &self.stripes {
            let mut spins = 0u32;
            while stripe.load(Ordering::Acquire) >= ONE_IN_FLIGHT {
                if spins < 64 {
                    std::hint::spin_loop();
                    spins += 1;
                } else {
                    std::thread::yield_now();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_gate_lets_nobody_in() {
        let gate = Gate::default();
        assert!(gate.enter().is_some());
        gate.close();
        assert!(gate.is_closed());
        assert!(gate.enter().is_none());
    }

    #[test]
    fn close_now_does_not_wait_and_in_flight_says_when_the_last_pass_left() {
        let gate = Gate::default();
        let pass = gate.enter();
        assert!(pass.is_some());
        gate.close_now();
        assert!(gate.is_closed());
        assert!(gate.enter().is_none());
        assert!(gate.in_flight(), "the pass taken before close_now");
        drop(pass);
        assert!(!gate.in_flight());
    }

    #[test]
    fn threads_spread_over_stripes() {
        let stripes: std::collections::HashSet<usize> = (0..4)
            .map(|_| std::thread::spawn(this_threads_stripe).join().unwrap())
            .collect();
        // Round robin: four threads in a row get four stripes, unless other
        // tests' threads took stripes in between (then still more than one).
        assert!(stripes.len() > 1, "{stripes:?}");
        assert_eq!(this_threads_stripe(), this_threads_stripe());
    }

    #[test]
    fn close_waits_for_the_emits_in_flight_on_every_stripe() {
        use std::sync::atomic::AtomicUsize;
        use std::sync::{Arc, Barrier};
        let gate = Arc::new(Gate::default());
        let finished = Arc::new(AtomicUsize::new(0));
        let passes_taken = Arc::new(Barrier::new(4));
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let (gate, finished, passes_taken) =
                    (gate.clone(), finished.clone(), passes_taken.clone());
                std::thread::spawn(move || {
                    let pass = gate.enter();
                    assert!(pass.is_some());
                    passes_taken.wait();
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    finished.fetch_add(1, Ordering::SeqCst);
                    drop(pass);
                })
            })
            .collect();
        passes_taken.wait();
        gate.close();
        assert_eq!(finished.load(Ordering::SeqCst), 3);
        for worker in workers {
            worker.join().unwrap();
        }
    }
}
