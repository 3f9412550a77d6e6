//! Loom models of ffi-events' concurrent parts, run on the shipped source
//! files themselves.
//!
//! # What is modelled
//! - `src/wakeup.rs`, the wake-up handshake: a producer claims the wake-up
//!   after its push; a drain releases it, fences and looks again; `linger`
//!   keeps it after a drain that took more than one event; `rearm` hands it
//!   back without draining.
//! - `src/gate.rs`, the close gate: `enter`, the pass, `close`.
//! - `src/room.rs`, producers parked until a drain frees room or the hub
//!   closes: no wake-up is lost.
//! - `src/sink_slot.rs`, a sink-table slot: a call, `open`, `close`, with
//!   [`slot_models::ModelCell`] standing in for `arc-swap`'s cell (a
//!   mutex-guarded `Option<Arc<_>>`: loads and swaps are linearizable, and a
//!   loaded entry lives as long as the caller holds it, which is the contract
//!   the table takes from `arc-swap`).
//! - `src/registry.rs` and `src/liveness.rs`: the registry and the liveness
//!   latch (in the full run only, see below).
//!
//! These files are compiled a second time here, inside modules whose
//! `std::sync`, `std::thread` and `std::hint` are loom's, so loom explores
//! the interleavings of the shipped code, not of a copy. Three things here
//! are not shipped code:
//! - **The ring.** `src/ring.rs` keeps its values in `std`'s `UnsafeCell`,
//!   whose accesses loom cannot track, so [`ring::Ring`] stands in for it:
//!   the same code (`push`, `force_push`, `claim`, `take`, `is_empty`) on
//!   loom's atomics and `UnsafeCell`, step for step and with the same
//!   orderings. Same contract: bounded, FIFO, a full ring hands the value
//!   back at once, a claim takes every ready value with one CAS,
//!   `force_push` takes the oldest unclaimed out. The model `ring: ...`
//!   checks it on its own; a change to `src/ring.rs` has to be made here
//!   too.
//! - **The hub's glue.** [`harness::ModelHub`] repeats, in the same order,
//!   the steps of `Shared::offer`, `Shared::wake`, `Hub::drain` and
//!   `Hub::rearm` (`src/hub.rs`) that touch the gate, the ring, the
//!   liveness latch and the wake-up, and calls the shipped `Gate` and
//!   `Wakeup` for them. Counters that only feed `Stats` are left out. A
//!   change of order in hub.rs has to be made here too.
//! - **The consumer.** `Notify` is a mailbox that also keeps a ghost count
//!   of who holds the wake-up (a sent notification until the consumer's
//!   drain gives it back, the consumer while a drain says `more`); a second
//!   holder fails the model at once. The consumer sleeps until a wake-up,
//!   then drains until `more == false`, like the binding's JS thread. When
//!   all producers are done and no wake-up is pending, the ring must be
//!   empty: an event left there is one the real consumer would never be
//!   woken for.
//!
//! # Two runs, and neither is silent
//! - **`cargo test`** (so `npm test` and CI): loom is an ordinary
//!   dev-dependency and this binary runs the wake-up, gate and ring models
//!   in every `cargo test`, with at most 2 preemptions per execution (lost
//!   wake-ups and gate races need fewer), in debug, in seconds. It does not
//!   say "skipped": it either runs them or fails. The registry and liveness
//!   models need copies of their files without `//!` lines (`include!`
//!   refuses inner attributes), which only `stress/loom.sh` makes; this run
//!   names them as not run, and fails instead when
//!   `FFI_EVENTS_LOOM_REQUIRED=1` asks for every model.
//! - **`stress/loom.sh`** (`npm run test:stress`): `--cfg loom`, release
//!   build, the copies, `FFI_EVENTS_LOOM_REQUIRED=1`, and every model at its
//!   full bound (printed per model; `LOOM_MAX_PREEMPTIONS` overrides it).
//!
//! Every model runs even after one failed; any failure, or a control that
//! did not fail, makes the binary exit 1. Models named `control: ...` are
//! deliberate bugs the checks must catch: they pass only when loom finds the
//! failure, so a check that cannot fail shows up as a failing control.
//!
//! `cargo test --test loom_model -- <text>` runs the models whose name
//! contains `<text>`.
#![allow(unexpected_cfgs)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
use std::time::Instant;

/// One model: a name (a sentence), its preemption bound in the quick run and
/// in the full run (`None`: exhaustive), and whether it must fail.
struct Model {
    name: &'static str,
    quick: Option<usize>,
    full: Option<usize>,
    control: bool,
    run: fn(),
}

/// Executions explored by the model running now (each one calls its body).
static EXECUTIONS: StdAtomicUsize = StdAtomicUsize::new(0);
/// Executions of the model running now in which a lingering drain kept the
/// wake-up (see `harness::consume`): a linger model where none did would
/// check nothing about the linger.
static LINGERED: StdAtomicUsize = StdAtomicUsize::new(0);
/// The bound the model running now uses, set by `main`.
static BOUND: StdAtomicUsize = StdAtomicUsize::new(usize::MAX);

/// Fails the model running now unless a lingering drain kept the wake-up in
/// at least one of its executions.
fn assert_lingered() {
    assert!(
        LINGERED.load(StdOrdering::Relaxed) > 0,
        "no execution had a lingering drain: the model checks nothing about the linger"
    );
}

/// Runs `body` under loom with the current model's preemption bound.
fn check<F: Fn() + Sync + Send + 'static>(body: F) {
    let mut builder = loom::model::Builder::new();
    // The consumer's idle loop and the ring's busy waits make long
    // executions; loom's default of 1,000 branches cuts some of them off.
    if std::env::var_os("LOOM_MAX_BRANCHES").is_none() {
        builder.max_branches = 10_000;
    }
    if builder.preemption_bound.is_none() {
        let bound = BOUND.load(StdOrdering::Relaxed);
        builder.preemption_bound = (bound != usize::MAX).then_some(bound);
    }
    builder.check(move || {
        EXECUTIONS.fetch_add(1, StdOrdering::Relaxed);
        gate::restart_stripe_assignment();
        body();
    });
}

fn main() {
    let full = cfg!(loom);
    let required = std::env::var("FFI_EVENTS_LOOM_REQUIRED").is_ok_and(|v| v == "1");
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let env_bound = std::env::var("LOOM_MAX_PREEMPTIONS").ok();

    let selected: Vec<&Model> = core_models::ALL
        .iter()
        .chain(slot_models::ALL)
        .chain(room_models::ALL)
        .chain(FULL_ONLY)
        .filter(|m| filters.is_empty() || filters.iter().any(|f| m.name.contains(f.as_str())))
        .collect();

    let started = Instant::now();
    let (mut passed, mut failed) = (0, 0);
    for model in &selected {
        let bound = if full { model.full } else { model.quick };
        BOUND.store(bound.unwrap_or(usize::MAX), StdOrdering::Relaxed);
        EXECUTIONS.store(0, StdOrdering::Relaxed);
        LINGERED.store(0, StdOrdering::Relaxed);
        let shown = match (&env_bound, bound) {
            (Some(b), _) => format!("max {b} preemptions (LOOM_MAX_PREEMPTIONS)"),
            (None, Some(b)) => format!("max {b} preemptions"),
            (None, None) => "exhaustive".to_string(),
        };
        let t = Instant::now();
        let outcome = if model.control {
            // The failure is expected: keep loom's report of it off stderr.
            let hook = std::panic::take_hook();
            std::panic::set_hook(Box::new(|_| {}));
            let r = catch_unwind(AssertUnwindSafe(model.run));
            std::panic::set_hook(hook);
            r
        } else {
            catch_unwind(AssertUnwindSafe(model.run))
        };
        let executions = EXECUTIONS.load(StdOrdering::Relaxed);
        let secs = t.elapsed().as_secs_f64();
        let verdict = match (model.control, outcome.is_ok()) {
            (false, true) => Ok("ok"),
            (true, false) => Ok("ok, the deliberate bug was caught"),
            (false, false) => Err("FAILED"),
            (true, true) => Err("FAILED: the deliberate bug went unnoticed"),
        };
        let (word, ok) = match verdict {
            Ok(w) => (w, true),
            Err(w) => (w, false),
        };
        println!(
            "loom_model: {} ... {word} ({secs:.2}s, {executions} executions, {shown})",
            model.name
        );
        if ok {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    println!(
        "loom_model: {passed} passed, {failed} failed ({:.1}s)",
        started.elapsed().as_secs_f64()
    );

    let mut exit = i32::from(failed > 0);
    if selected.is_empty() {
        println!("loom_model: no model matches {filters:?}");
        exit = 1;
    }
    if !full {
        println!(
            "loom_model: not run here: the registry and liveness models \
             (stress/loom.sh runs them with --cfg loom)"
        );
        if required {
            eprintln!(
                "loom_model: FFI_EVENTS_LOOM_REQUIRED=1 but this binary was built without \
                 --cfg loom; run stress/loom.sh"
            );
            exit = 1;
        }
    }
    std::process::exit(exit);
}

/// Models that need `--cfg loom` (see the header).
#[cfg(loom)]
const FULL_ONLY: &[Model] = full_models::ALL;
#[cfg(not(loom))]
const FULL_ONLY: &[Model] = &[];

/// What `std` means inside the re-compiled modules: the real one, except
/// `std::sync`, `std::thread` and `std::hint`, which are loom's.
#[allow(unused_imports)]
mod loom_std {
    pub use std::*;
    pub mod sync {
        pub use loom::sync::*;
        pub mod atomic {
            pub use loom::sync::atomic::*;
        }
    }
    pub mod thread {
        pub use loom::thread::*;
    }
    pub use loom::thread_local;
    pub mod hint {
        pub use loom::hint::*;
    }
}

mod prelude {
    pub use std::prelude::rust_2021::*;
}

/// A file of `src/` compiled again here, with loom's `std::sync`,
/// `std::thread` and `std::hint` (see `loom_std`).
macro_rules! shipped_file {
    ($module:ident, $file:literal) => {
        #[no_implicit_prelude]
        #[allow(dead_code, unused, clippy::all)]
        mod $module {
            use crate::loom_std as std;
            use crate::prelude::*;
            ::core::include!(::core::concat!(
                ::core::env!("CARGO_MANIFEST_DIR"),
                "/src/",
                $file
            ));
        }
    };
}

shipped_file!(gate, "gate.rs");
shipped_file!(wakeup, "wakeup.rs");
shipped_file!(sink_slot, "sink_slot.rs");
shipped_file!(room, "room.rs");

/// Models of producers waiting for room (`src/room.rs`). Loom's
/// `Condvar::wait_timeout` never times out, so a wake-up that is lost
/// leaves the waiter blocked for good, which loom reports as a deadlock
/// (and aborts on: no control model here, as a deadlock cannot be caught;
/// removing either fence of `room.rs` makes the first model abort).
mod room_models {
    use std::time::Duration;

    use loom::sync::atomic::{AtomicBool, Ordering};
    use loom::sync::Arc;
    use loom::thread;

    use crate::room::{RoomWaiters, Waited};
    use crate::{check, Model};

    pub const ALL: &[Model] = &[
        Model {
            name: "room: a producer that parks while a drain frees room is always woken",
            quick: None,
            full: None,
            control: false,
            run: freed_room_wakes_the_waiter,
        },
        Model {
            name: "room: closing wakes every parked producer",
            quick: Some(2),
            full: Some(4),
            control: false,
            run: close_wakes_the_waiters,
        },
    ];

    /// A waiter, and a "drain" that frees room and then notifies, as
    /// `Hub::drain` does after releasing slots.
    fn race() -> Waited {
        let waiters = Arc::new(RoomWaiters::default());
        let room = Arc::new(AtomicBool::new(false));
        let closed = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (waiters, room, closed) = (waiters.clone(), room.clone(), closed.clone());
            thread::spawn(move || {
                waiters.wait(
                    Duration::from_secs(1),
                    || room.load(Ordering::Acquire),
                    || closed.load(Ordering::Acquire),
                )
            })
        };
        room.store(true, Ordering::Release);
        waiters.notify();
        waiter.join().unwrap()
    }

    fn freed_room_wakes_the_waiter() {
        check(|| assert_eq!(race(), Waited::Room));
    }

    fn close_wakes_the_waiters() {
        check(|| {
            let waiters = Arc::new(RoomWaiters::default());
            let closed = Arc::new(AtomicBool::new(false));
            let parked: Vec<_> = (0..2)
                .map(|_| {
                    let (waiters, closed) = (waiters.clone(), closed.clone());
                    thread::spawn(move || {
                        waiters.wait(
                            Duration::from_secs(1),
                            || false,
                            || closed.load(Ordering::Acquire),
                        )
                    })
                })
                .collect();
            closed.store(true, Ordering::Release);
            waiters.notify();
            for waiter in parked {
                assert_eq!(waiter.join().unwrap(), Waited::Closed);
            }
        });
    }
}

/// Models of the sink-table slot protocol (`src/sink_slot.rs`).
mod slot_models {
    use loom::cell::UnsafeCell;
    use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use loom::sync::{Arc, Mutex, Notify};
    use loom::thread;

    use crate::sink_slot::{call_slot, close_slot, open_slot, Entry, EntryCell};
    use crate::{check, Model};

    /// `arc-swap`'s contract, on loom's primitives: a load clones the
    /// current `Arc` (so it lives while the caller holds it); a swap
    /// replaces it. The lock is never held while the caller's code runs.
    pub struct ModelCell<T>(Mutex<Option<Arc<T>>>);

    impl<T> ModelCell<T> {
        fn new() -> Self {
            ModelCell(Mutex::new(None))
        }
    }

    impl<T> EntryCell<T> for ModelCell<T> {
        fn with_current<R>(&self, f: impl FnOnce(Option<&T>) -> R) -> R {
            let current = self.0.lock().unwrap().clone();
            f(current.as_deref())
        }
        fn current(&self) -> Option<Arc<T>> {
            self.0.lock().unwrap().clone()
        }
        fn store(&self, new: Option<Arc<T>>) {
            let old = std::mem::replace(&mut *self.0.lock().unwrap(), new);
            drop(old);
        }
        fn replace(&self, current: &Option<Arc<T>>, new: Option<Arc<T>>) -> bool {
            let mut slot = self.0.lock().unwrap();
            let same = match (&*slot, current) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            };
            if same {
                let old = std::mem::replace(&mut *slot, new);
                drop(slot);
                drop(old);
            }
            same
        }
    }

    /// A sink's counters: calls that reached it open, and closed.
    #[derive(Default)]
    pub struct Counts {
        open: AtomicUsize,
        closed: AtomicUsize,
    }

    /// The hub's emitter: counts the offers made through it.
    #[derive(Default)]
    pub struct Hub {
        offered: AtomicUsize,
    }

    type Cell = ModelCell<Entry<Arc<Counts>, Arc<Hub>>>;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Outcome {
        Taken,
        Closed,
        Stale,
    }

    fn call(cell: &Cell, generation: u32) -> Outcome {
        call_slot(
            cell,
            generation,
            |counts: &Arc<Counts>, hub: &Arc<Hub>| {
                hub.offered.fetch_add(1, Ordering::Relaxed);
                counts.open.fetch_add(1, Ordering::Relaxed);
                Outcome::Taken
            },
            |counts| {
                counts.closed.fetch_add(1, Ordering::Relaxed);
                Outcome::Closed
            },
        )
        .unwrap_or(Outcome::Stale)
    }

    pub const ALL: &[Model] = &[
        Model {
            name: "sink slot: close returns while a caller is parked inside the call",
            quick: Some(3),
            full: None,
            control: false,
            run: close_with_a_parked_caller,
        },
        Model {
            name: "sink slot: a stale handle never reaches the slot's next sink, and every call counts once",
            quick: Some(2),
            full: Some(4),
            control: false,
            run: stale_never_reaches_next,
        },
        Model {
            name: "sink slot: of two closes of one handle exactly one closes it",
            quick: Some(3),
            full: None,
            control: false,
            run: two_closes,
        },
        Model {
            name: "control: a close that waits for callers to leave never returns past a parked caller",
            quick: Some(2),
            full: Some(2),
            control: true,
            run: control_close_waits_for_callers,
        },
        Model {
            name: "control: a call that reads the emitter before its guard races the close",
            quick: Some(2),
            full: Some(2),
            control: true,
            run: control_read_before_guard,
        },
    ];

    fn close_with_a_parked_caller() {
        check(|| {
            let cell = Arc::new(Cell::new());
            let counts = Arc::new(Counts::default());
            let hub = Arc::new(Hub::default());
            let generation = open_slot(&*cell, counts.clone(), hub.clone());
            let release = Arc::new(Notify::new());
            let closed = Arc::new(AtomicBool::new(false));
            let caller = {
                let (cell, release, closed) = (cell.clone(), release.clone(), closed.clone());
                thread::spawn(move || {
                    call_slot(
                        &*cell,
                        generation,
                        |_: &Arc<Counts>, hub: &Arc<Hub>| {
                            // Parked inside the call until close returned
                            // (loom's `Notify` may wake spuriously).
                            while !closed.load(Ordering::Acquire) {
                                release.wait();
                            }
                            hub.offered.fetch_add(1, Ordering::Relaxed);
                            Outcome::Taken
                        },
                        |_| Outcome::Closed,
                    )
                })
            };
            assert!(close_slot(&*cell, generation));
            closed.store(true, Ordering::Release);
            assert_eq!(call(&cell, generation), Outcome::Closed);
            release.notify();
            let outcome = caller.join().unwrap();
            assert!(matches!(
                outcome,
                Some(Outcome::Taken) | Some(Outcome::Closed)
            ));
            // The caller's entry outlived the close; the hub got its offer.
            let offered = hub.offered.load(Ordering::Relaxed);
            assert_eq!(offered, usize::from(outcome == Some(Outcome::Taken)));
        });
    }

    fn stale_never_reaches_next() {
        check(|| {
            let cell = Arc::new(Cell::new());
            let first = Arc::new(Counts::default());
            let hub = Arc::new(Hub::default());
            let old = open_slot(&*cell, first.clone(), hub.clone());
            let caller = {
                let cell = cell.clone();
                thread::spawn(move || [call(&cell, old), call(&cell, old)])
            };
            assert!(close_slot(&*cell, old));
            let second = Arc::new(Counts::default());
            let new = open_slot(&*cell, second.clone(), hub.clone());
            assert_ne!(new, old);
            assert_eq!(call(&cell, new), Outcome::Taken);
            let outcomes = caller.join().unwrap();
            // The old handle's calls: taken or closed by the first sink, or
            // stale; never the second sink's.
            assert_eq!(second.open.load(Ordering::Relaxed), 1);
            assert_eq!(second.closed.load(Ordering::Relaxed), 0);
            let count = |o| outcomes.iter().filter(|&&x| x == o).count();
            assert_eq!(first.open.load(Ordering::Relaxed), count(Outcome::Taken));
            assert_eq!(first.closed.load(Ordering::Relaxed), count(Outcome::Closed));
            assert_eq!(
                hub.offered.load(Ordering::Relaxed),
                count(Outcome::Taken) + 1
            );
            // Once stale, stays stale: a call never goes back to the open sink.
            if outcomes[0] == Outcome::Stale {
                assert_eq!(outcomes[1], Outcome::Stale);
            }
        });
    }

    fn two_closes() {
        check(|| {
            let cell = Arc::new(Cell::new());
            let generation = open_slot(
                &*cell,
                Arc::new(Counts::default()),
                Arc::new(Hub::default()),
            );
            let other = {
                let cell = cell.clone();
                thread::spawn(move || close_slot(&*cell, generation))
            };
            let mine = close_slot(&*cell, generation);
            let theirs = other.join().unwrap();
            assert!(mine ^ theirs, "closed by {mine} and {theirs}");
            assert_eq!(call(&cell, generation), Outcome::Closed);
        });
    }

    /// The protocol this file replaced: callers count themselves in, and
    /// close waits until none is inside.
    fn control_close_waits_for_callers() {
        check(|| {
            let inside = Arc::new(AtomicUsize::new(0));
            let open = Arc::new(AtomicBool::new(true));
            let release = Arc::new(Notify::new());
            let caller = {
                let (inside, open, release) = (inside.clone(), open.clone(), release.clone());
                thread::spawn(move || {
                    inside.fetch_add(1, Ordering::AcqRel);
                    if open.load(Ordering::Acquire) {
                        // Parked until close returned, as in the model above.
                        release.wait();
                    }
                    inside.fetch_sub(1, Ordering::AcqRel);
                })
            };
            open.store(false, Ordering::Release);
            while inside.load(Ordering::Acquire) != 0 {
                thread::yield_now();
            }
            release.notify();
            caller.join().unwrap();
        });
    }

    /// The data race of the protocol this file replaced: the caller reads
    /// the emitter cell before it checks the open flag, while close takes
    /// what is in the cell.
    fn control_read_before_guard() {
        struct Slot {
            open: AtomicBool,
            emitter: UnsafeCell<Option<usize>>,
        }
        // SAFETY: the point of the control: loom tracks every access to the
        // cell and must report the unordered pair.
        unsafe impl Sync for Slot {}
        unsafe impl Send for Slot {}
        check(|| {
            let slot = Arc::new(Slot {
                open: AtomicBool::new(true),
                emitter: UnsafeCell::new(Some(7)),
            });
            let caller = {
                let slot = slot.clone();
                thread::spawn(move || {
                    // SAFETY: the racy read under test.
                    let emitter = slot.emitter.with(|p| unsafe { *p });
                    slot.open
                        .load(Ordering::Acquire)
                        .then_some(emitter)
                        .flatten()
                })
            };
            slot.open.store(false, Ordering::Release);
            // SAFETY: the racy write under test.
            slot.emitter.with_mut(|p| unsafe { *p = None });
            caller.join().unwrap();
        });
    }
}

/// A stand-in for `src/ring.rs`; see the file's header.
mod ring {
    use loom::cell::UnsafeCell;
    use loom::sync::atomic::{AtomicUsize, Ordering};

    struct Slot<T> {
        /// `pos` while free for position `pos`, `pos + 1` once written,
        /// `pos + one_lap` once taken (`src/ring.rs`'s stamp protocol).
        stamp: AtomicUsize,
        /// Written by the pusher that moved `tail` past this slot, read by
        /// the claimer that moved `head` past it; loom checks that the stamp
        /// protocol keeps the two apart.
        value: UnsafeCell<Option<T>>,
    }

    /// `src/ring.rs`'s `Ring` on loom.
    pub struct Ring<T> {
        head: AtomicUsize,
        tail: AtomicUsize,
        buffer: Box<[Slot<T>]>,
        cap: usize,
        one_lap: usize,
    }

    // SAFETY: as for the shipped ring: a slot's value is touched only by the
    // one thread that won it through the `head`/`tail` CAS, and the stamp's
    // release/acquire hands it from pusher to claimer (loom checks exactly
    // this on every access).
    unsafe impl<T: Send> Sync for Ring<T> {}

    impl<T> Ring<T> {
        pub fn new(cap: usize) -> Ring<T> {
            assert!(cap > 0);
            let buffer = (0..cap)
                .map(|i| Slot {
                    stamp: AtomicUsize::new(i),
                    value: UnsafeCell::new(None),
                })
                .collect();
            Ring {
                head: AtomicUsize::new(0),
                tail: AtomicUsize::new(0),
                buffer,
                cap,
                one_lap: (cap + 1).next_power_of_two(),
            }
        }

        pub fn next(&self, pos: usize) -> usize {
            let index = pos & (self.one_lap - 1);
            if index + 1 < self.cap {
                pos + 1
            } else {
                (pos & !(self.one_lap - 1)).wrapping_add(self.one_lap)
            }
        }

        fn slot(&self, pos: usize) -> &Slot<T> {
            &self.buffer[pos & (self.one_lap - 1)]
        }

        /// `Ring::push`: `Err(value)` when full, never waiting.
        pub fn push(&self, value: T) -> Result<(), T> {
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
                            // SAFETY: the CAS gave this thread the slot; the
                            // claimer reads it only after the stamp below.
                            slot.value.with_mut(|p| unsafe { *p = Some(value) });
                            slot.stamp.store(tail + 1, Ordering::Release);
                            return Ok(());
                        }
                        Err(t) => tail = t,
                    }
                } else if stamp < tail {
                    return Err(value);
                } else {
                    tail = self.tail.load(Ordering::Relaxed);
                }
            }
        }

        /// `Ring::force_push`.
        pub fn force_push(&self, mut value: T, mut pushed_out: impl FnMut(T)) -> Result<(), T> {
            loop {
                match self.push(value) {
                    Ok(()) => return Ok(()),
                    Err(back) => value = back,
                }
                let (start, len) = self.claim(1);
                if len == 0 {
                    return Err(value);
                }
                pushed_out(self.take(start));
            }
        }

        /// `Ring::claim`: `(start, len)`.
        pub fn claim(&self, max: usize) -> (usize, usize) {
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
                        return (0, 0);
                    }
                    head = self.head.load(Ordering::Acquire);
                    continue;
                }
                match self
                    .head
                    .compare_exchange(head, end, Ordering::SeqCst, Ordering::Acquire)
                {
                    Ok(_) => return (head, len),
                    Err(current) => head = current,
                }
            }
        }

        /// `Ring::take` of a claimed position.
        pub fn take(&self, pos: usize) -> T {
            let slot = self.slot(pos);
            // SAFETY: claimed by this thread, written (the claim saw its
            // stamp); loom checks it.
            let value = slot.value.with_mut(|p| unsafe { (*p).take() });
            slot.stamp
                .store(pos.wrapping_add(self.one_lap), Ordering::Release);
            value.expect("a claimed slot holds a value")
        }

        /// A claim of one, taken: the oldest value, if any.
        pub fn pop(&self) -> Option<T> {
            let (start, len) = self.claim(1);
            (len == 1).then(|| self.take(start))
        }

        /// `Ring::is_empty`.
        pub fn is_empty(&self) -> bool {
            let head = self.head.load(Ordering::SeqCst);
            let tail = self.tail.load(Ordering::SeqCst);
            tail == head
        }
    }
}

/// The hub's glue around the shipped `Gate` and `Wakeup`, and the consumer.
mod harness {
    use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use loom::thread::yield_now;

    use crate::gate::Gate;
    use crate::ring::Ring;
    use crate::wakeup::Wakeup;

    /// `Overflow` of the real hub.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub enum Overflow {
        Reject,
        DropOldest,
    }

    /// Why `offer` refused (the model's `EmitError`).
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub enum Refused {
        Closed,
        Full(u64),
    }

    /// The liveness latch as `Hub` uses it. No-op in the quick run; the real
    /// `Liveness` in the full run.
    pub trait Side: Default + Send + Sync + 'static {
        fn on_overflow(&self, capacity: usize, dropped: u64) -> bool;
        fn on_drained(&self, dropped: u64) -> bool;
        fn has_pending(&self) -> bool;
        fn take_pending(&self, out: &mut Vec<String>);
    }

    /// No liveness events.
    #[derive(Default)]
    pub struct NoSide;

    impl Side for NoSide {
        fn on_overflow(&self, _: usize, _: u64) -> bool {
            false
        }
        fn on_drained(&self, _: u64) -> bool {
            false
        }
        fn has_pending(&self) -> bool {
            false
        }
        fn take_pending(&self, _: &mut Vec<String>) {}
    }

    /// The consumer's `Notify`: a mailbox of wake-ups, plus a ghost count of
    /// who holds the wake-up.
    #[derive(Default)]
    pub struct Wakes {
        /// Wake-ups sent and not yet taken. Release/acquire, as a real
        /// notification synchronises (a threadsafe-function call goes
        /// through a mutex).
        mailbox: AtomicUsize,
        /// Ghost: a sent wake-up until the consumer's next drain starts,
        /// the consumer while a drain said `more`. Relaxed, so that the
        /// bookkeeping adds no synchronisation the shipped code lacks; RMWs
        /// of one location still see each other in order.
        holders: AtomicUsize,
    }

    impl Wakes {
        /// `Notify::notify`.
        fn send(&self) {
            let before = self.holders.fetch_add(1, Ordering::Relaxed);
            assert_eq!(
                before, 0,
                "a wake-up was sent while another one was outstanding"
            );
            self.mailbox.fetch_add(1, Ordering::Release);
        }

        /// Takes a wake-up, if one was sent.
        fn take(&self) -> bool {
            if self.mailbox.load(Ordering::Acquire) == 0 {
                return false;
            }
            self.mailbox.fetch_sub(1, Ordering::Acquire);
            true
        }

        fn pending(&self) -> bool {
            self.mailbox.load(Ordering::Acquire) > 0
        }

        /// Before a drain (or a rearm): it may hand the wake-up back.
        fn give_back(&self) {
            self.holders.fetch_sub(1, Ordering::Relaxed);
        }

        /// After a drain that said `more`: the consumer holds the wake-up,
        /// and nobody else may.
        fn keep(&self) {
            let before = self.holders.fetch_add(1, Ordering::Relaxed);
            assert_eq!(
                before, 0,
                "a drain kept the wake-up (more == true) while another wake-up was sent"
            );
        }

        pub fn holders(&self) -> usize {
            self.holders.load(Ordering::Relaxed)
        }
    }

    /// The ring, gate and wake-up parts of `Shared` and `Hub`.
    pub struct ModelHub<S: Side = NoSide> {
        pub ring: Ring<u64>,
        pub gate: Gate,
        wakeup: Wakeup,
        next_seq: AtomicU64,
        pub dropped: AtomicU64,
        pub side: S,
        pub wakes: Wakes,
        overflow: Overflow,
        capacity: usize,
        /// Control only: wake without claiming the wake-up.
        pub wake_unclaimed: bool,
        /// Control only: claim the wake-up without the fence.
        pub claim_without_fence: bool,
    }

    impl ModelHub {
        pub fn new(capacity: usize, overflow: Overflow) -> Self {
            ModelHub::with_side(capacity, overflow)
        }
    }

    impl<S: Side> ModelHub<S> {
        pub fn with_side(capacity: usize, overflow: Overflow) -> Self {
            ModelHub {
                ring: Ring::new(capacity),
                gate: Gate::default(),
                wakeup: Wakeup::default(),
                next_seq: AtomicU64::new(1),
                dropped: AtomicU64::new(0),
                side: S::default(),
                wakes: Wakes::default(),
                overflow,
                capacity,
                wake_unclaimed: false,
                claim_without_fence: false,
            }
        }

        /// `Shared::offer`, from the gate on (one event: its seq).
        pub fn offer(&self) -> Result<u64, Refused> {
            let _pass = self.gate.enter().ok_or(Refused::Closed)?;
            let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
            match self.overflow {
                Overflow::Reject => match self.ring.push(seq) {
                    Ok(()) => {
                        self.wake();
                        Ok(seq)
                    }
                    Err(_refused) => {
                        if self.on_drop() {
                            self.wake();
                        }
                        Err(Refused::Full(seq))
                    }
                },
                Overflow::DropOldest => {
                    let mut dropped = 0;
                    if self.ring.force_push(seq, |_| dropped += 1).is_err() {
                        dropped += 1;
                    }
                    for _ in 0..dropped {
                        self.on_drop();
                    }
                    self.wake();
                    Ok(seq)
                }
            }
        }

        /// `Shared::on_drop`, without the high-water mark: whether a
        /// liveness event is now pending.
        fn on_drop(&self) -> bool {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            self.side.on_overflow(self.capacity, dropped)
        }

        /// `Shared::wake`.
        fn wake(&self) {
            if self.wake_unclaimed {
                self.wakes.send();
                return;
            }
            let claimed = if self.claim_without_fence {
                self.wakeup.claim_without_fence()
            } else {
                self.wakeup.claim()
            };
            if claimed {
                self.wakes.send();
            }
        }

        /// `Shared::waiting`.
        fn waiting(&self) -> bool {
            !self.ring.is_empty() || self.side.has_pending()
        }

        /// `Hub::drain` with `max_bytes` unbounded: appends ring events to
        /// `out` and liveness events to `side_out`; returns (events, ring
        /// events taken, more).
        pub fn drain(
            &self,
            out: &mut Vec<u64>,
            side_out: &mut Vec<String>,
            max_events: usize,
            linger: bool,
        ) -> (usize, usize, bool) {
            let start = out.len() + side_out.len();
            self.side.take_pending(side_out);
            let mut taken = 0usize;
            while taken < max_events.max(1) {
                let (mut pos, len) = self.ring.claim(max_events.max(1) - taken);
                if len == 0 {
                    break;
                }
                for _ in 0..len {
                    out.push(self.ring.take(pos));
                    pos = self.ring.next(pos);
                }
                taken += len;
            }
            if self.ring.is_empty() && self.side.on_drained(self.dropped.load(Ordering::Relaxed)) {
                self.side.take_pending(side_out);
            }
            let events = out.len() + side_out.len() - start;
            // Lingers only after more than one ring event; liveness events
            // do not count (`Shared::finish_plan`).
            let busy = !self.ring.is_empty() || (linger && taken > 1);
            let more = self.wakeup.end_of_drain(busy, || self.waiting());
            (events, taken, more)
        }

        /// `Hub::rearm`.
        pub fn rearm(&self) {
            if self.wakeup.rearm(|| self.waiting()) {
                self.wakes.send();
            }
        }
    }

    /// What the consumer does after the first lingering drain that took
    /// more than one event.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub enum GiveUp {
        /// Keeps draining.
        Never,
        /// Gives the batch up and calls `rearm`, as the binding's
        /// `Consumer::next_batch` does when it cannot allocate the batch.
        Rearm,
        /// Control only: gives up without `rearm`.
        Abandon,
    }

    /// How the consumer drains.
    #[derive(Clone, Copy, Debug)]
    pub struct Consumer {
        pub max_events: usize,
        pub linger: bool,
        pub give_up: GiveUp,
    }

    /// What the consumer took.
    #[derive(Default, Debug)]
    pub struct Taken {
        pub events: Vec<u64>,
        pub liveness: Vec<String>,
        pub busy_periods: usize,
        /// Lingering drains that took more than one event and kept the
        /// wake-up.
        pub lingered: usize,
    }

    /// Runs the consumer on this thread: it sleeps until woken, then drains
    /// until `more == false`. Returns once `done` reached `producers` and no
    /// wake-up is pending, after checking that nothing was left behind.
    pub fn consume<S: Side>(
        hub: &ModelHub<S>,
        done: &AtomicUsize,
        producers: usize,
        how: Consumer,
    ) -> Taken {
        let mut taken = Taken::default();
        let mut gave_up = false;
        loop {
            if hub.wakes.take() {
                taken.busy_periods += 1;
                loop {
                    hub.wakes.give_back();
                    let (events, from_ring, more) = hub.drain(
                        &mut taken.events,
                        &mut taken.liveness,
                        how.max_events,
                        how.linger,
                    );
                    if !more {
                        if how.linger {
                            assert!(
                                from_ring <= 1,
                                "a lingering drain that took more than one event went idle"
                            );
                        }
                        break;
                    }
                    hub.wakes.keep();
                    let lingering = how.linger && from_ring > 1;
                    taken.lingered += usize::from(lingering);
                    if events == 0 {
                        // Nothing ready yet (a push between its CAS and its
                        // write): the JS thread polls again on a later turn
                        // of its event loop, and others run meanwhile.
                        yield_now();
                    }
                    if lingering && !gave_up && how.give_up != GiveUp::Never {
                        gave_up = true;
                        if how.give_up == GiveUp::Rearm {
                            hub.wakes.give_back();
                            hub.rearm();
                        }
                        break;
                    }
                }
                continue;
            }
            // Everything the producers did happens before this load.
            if done.load(Ordering::Acquire) == producers && !hub.wakes.pending() {
                break;
            }
            // Asleep: waits for a wake-up (loom runs the others first).
            yield_now();
        }
        assert!(
            hub.ring.is_empty(),
            "an event was stranded: the consumer sleeps, no wake-up is pending, the ring holds \
             events (taken: {:?})",
            taken.events
        );
        assert!(
            !hub.side.has_pending(),
            "a liveness event was stranded (taken: {:?})",
            taken.liveness
        );
        if taken.lingered > 0 {
            crate::LINGERED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        taken
    }
}

/// Models of the shipped wake-up handshake and close gate, run by every
/// `cargo test`.
mod core_models {
    use loom::cell::UnsafeCell;
    use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use loom::sync::Arc;
    use loom::thread;

    use crate::check;
    use crate::gate::Gate;
    use crate::harness::{consume, Consumer, GiveUp, ModelHub, Overflow, Refused};
    use crate::ring::Ring;
    use crate::Model;

    pub const ALL: &[Model] = &[
        Model {
            name: "wake-up: a push after a drain released the wake-up is always announced or seen",
            quick: Some(2),
            full: Some(6),
            control: false,
            run: no_lost_wakeup,
        },
        Model {
            name: "wake-up: racing producers send one wake-up per idle-to-busy transition",
            quick: Some(1),
            full: Some(3),
            control: false,
            run: one_wakeup_per_transition,
        },
        Model {
            name: "wake-up: a lingering consumer stays awake until a drain takes at most one event",
            quick: Some(2),
            full: Some(6),
            control: false,
            run: linger_hands_back_when_empty,
        },
        Model {
            name: "wake-up: rearm after a lingering drain lets later events wake the consumer",
            quick: Some(2),
            full: Some(6),
            control: false,
            run: rearm_after_linger,
        },
        Model {
            name: "conservation: 2 producers x 2 events, ring of 1: delivered + refused == emitted",
            quick: Some(1),
            full: Some(1),
            control: false,
            run: conservation_reject,
        },
        Model {
            name: "conservation: 2 producers x 1 event, ring of 1: delivered + refused == emitted",
            quick: Some(1),
            full: Some(1),
            control: false,
            run: conservation_reject_short,
        },
        Model {
            name: "conservation: drop-oldest, delivered + dropped == emitted, no seq twice",
            // At 1 preemption the executions run into the millions: loom
            // explores every stale read of a slot's stamp by a consumer
            // that polls until a producer's write becomes visible to it.
            quick: Some(0),
            full: Some(0),
            control: false,
            run: conservation_drop_oldest,
        },
        Model {
            name: "gate: close returns after every pass dropped, no enter succeeds after it",
            quick: Some(1),
            full: Some(3),
            control: false,
            run: gate_close_waits,
        },
        Model {
            name: "gate: every event accepted before close returned is in the ring",
            quick: Some(2),
            full: Some(4),
            control: false,
            run: close_under_fire,
        },
        Model {
            name: "ring: the stand-in loses, duplicates and reorders nothing",
            quick: Some(2),
            full: Some(4),
            control: false,
            run: ring_stand_in,
        },
        Model {
            name: "ring: force_push against a claim hands each value to exactly one place",
            quick: Some(2),
            full: Some(4),
            control: false,
            run: ring_force_push_against_claim,
        },
        Model {
            name: "gate: close_now never waits; after in_flight says false no pass is held",
            quick: Some(2),
            full: Some(3),
            control: false,
            run: gate_close_now_then_in_flight,
        },
        Model {
            name: "control: a consumer that drops a lingering batch without rearm strands events",
            quick: Some(2),
            full: Some(2),
            control: true,
            run: control_abandon_without_rearm,
        },
        Model {
            name: "control: a producer that wakes without claiming the wake-up is caught",
            quick: Some(1),
            full: Some(1),
            control: true,
            run: control_wake_unclaimed,
        },
        Model {
            name: "control: a producer that claims the wake-up without the fence strands an event",
            quick: Some(2),
            full: Some(2),
            control: true,
            run: control_claim_without_fence,
        },
    ];

    const EAGER: Consumer = Consumer {
        max_events: 4096,
        linger: false,
        give_up: GiveUp::Never,
    };

    /// The binding's consumer: it lingers.
    const LINGERING: Consumer = Consumer {
        max_events: 4096,
        linger: true,
        give_up: GiveUp::Never,
    };

    /// Spawns `producers` threads that offer `each` events, then count
    /// themselves done. Returns their join handles (each yields its
    /// results).
    fn produce<S: crate::harness::Side>(
        hub: &Arc<ModelHub<S>>,
        done: &Arc<AtomicUsize>,
        producers: usize,
        each: usize,
    ) -> Vec<thread::JoinHandle<Vec<Result<u64, Refused>>>> {
        (0..producers)
            .map(|_| {
                let (hub, done) = (hub.clone(), done.clone());
                thread::spawn(move || {
                    let results = (0..each).map(|_| hub.offer()).collect();
                    done.fetch_add(1, Ordering::Release);
                    results
                })
            })
            .collect()
    }

    fn accepted(results: &[Vec<Result<u64, Refused>>]) -> Vec<u64> {
        let mut seqs: Vec<u64> = results.iter().flatten().filter_map(|r| r.ok()).collect();
        seqs.sort_unstable();
        seqs
    }

    /// The consumer got each producer's events in the order it offered
    /// them (seqs are taken before the push, so not in global seq order).
    fn in_producer_order(events: &[u64], results: &[Vec<Result<u64, Refused>>]) {
        for mine in results {
            let mine: Vec<u64> = mine.iter().filter_map(|r| r.ok()).collect();
            let got: Vec<u64> = events
                .iter()
                .copied()
                .filter(|e| mine.contains(e))
                .collect();
            let expected: Vec<u64> = mine.iter().copied().filter(|e| got.contains(e)).collect();
            assert_eq!(
                got, expected,
                "a producer's events out of order: {events:?}"
            );
        }
    }

    /// One producer, two events: the second push may land anywhere in the
    /// consumer's drain, including right after it released the wake-up.
    fn no_lost_wakeup() {
        check(|| {
            let hub = Arc::new(ModelHub::new(4, Overflow::Reject));
            let done = Arc::new(AtomicUsize::new(0));
            let producers = produce(&hub, &done, 1, 2);
            let taken = consume(&hub, &done, 1, EAGER);
            let results: Vec<_> = producers.into_iter().map(|p| p.join().unwrap()).collect();
            assert_eq!(taken.events, accepted(&results));
            assert_eq!(taken.events, vec![1, 2]);
            assert!(taken.busy_periods >= 1);
            assert_eq!(hub.wakes.holders(), 0);
        });
    }

    /// Two producers, one event each, race for the wake-up: at most one wins
    /// per transition (the ghost count fails the model otherwise), and
    /// every wake-up led to exactly one busy period.
    fn one_wakeup_per_transition() {
        check(|| {
            let hub = Arc::new(ModelHub::new(4, Overflow::Reject));
            let done = Arc::new(AtomicUsize::new(0));
            let producers = produce(&hub, &done, 2, 1);
            let taken = consume(&hub, &done, 2, EAGER);
            for p in producers {
                p.join().unwrap();
            }
            // One wake-up per busy period: one when the second push landed
            // while the consumer was busy, two when it landed after the first
            // busy period ended.
            assert!((1..=2).contains(&taken.busy_periods), "{taken:?}");
            let mut events = taken.events;
            events.sort_unstable();
            assert_eq!(events, vec![1, 2]);
        });
    }

    /// One producer, three events: a drain that took two lingers, and the
    /// third push may land anywhere around the drain that finds nothing and
    /// releases the wake-up; a drain that took one goes idle at once.
    fn linger_hands_back_when_empty() {
        check(|| {
            let hub = Arc::new(ModelHub::new(4, Overflow::Reject));
            let done = Arc::new(AtomicUsize::new(0));
            let producers = produce(&hub, &done, 1, 3);
            // `consume` checks that no drain that took more than one event
            // goes idle, and that nothing is left behind.
            let taken = consume(&hub, &done, 1, LINGERING);
            for p in producers {
                p.join().unwrap();
            }
            assert_eq!(taken.events, vec![1, 2, 3]);
            assert_eq!(hub.wakes.holders(), 0);
        });
        crate::assert_lingered();
    }

    /// The consumer takes one lingering batch (two events or more), then
    /// gives it up (as when the batch buffer cannot be allocated) and calls
    /// `rearm` while the producer goes on pushing: it is woken again for
    /// what remains.
    fn rearm_after_linger() {
        check(|| {
            let hub = Arc::new(ModelHub::new(4, Overflow::Reject));
            let done = Arc::new(AtomicUsize::new(0));
            let producers = produce(&hub, &done, 1, 3);
            let how = Consumer {
                give_up: GiveUp::Rearm,
                ..LINGERING
            };
            let taken = consume(&hub, &done, 1, how);
            for p in producers {
                p.join().unwrap();
            }
            assert_eq!(taken.events, vec![1, 2, 3]);
            assert_eq!(hub.wakes.holders(), 0);
        });
        crate::assert_lingered();
    }

    /// `rearm_after_linger` without the `rearm`: the consumer keeps the
    /// wake-up it will never use, and the third event is never announced.
    fn control_abandon_without_rearm() {
        check(|| {
            let hub = Arc::new(ModelHub::new(4, Overflow::Reject));
            let done = Arc::new(AtomicUsize::new(0));
            let producers = produce(&hub, &done, 1, 3);
            let how = Consumer {
                give_up: GiveUp::Abandon,
                ..LINGERING
            };
            consume(&hub, &done, 1, how);
            for p in producers {
                p.join().unwrap();
            }
        });
    }

    fn control_wake_unclaimed() {
        check(|| {
            let mut hub = ModelHub::new(4, Overflow::Reject);
            hub.wake_unclaimed = true;
            let hub = Arc::new(hub);
            let done = Arc::new(AtomicUsize::new(0));
            let producers = produce(&hub, &done, 2, 1);
            consume(&hub, &done, 2, EAGER);
            for p in producers {
                p.join().unwrap();
            }
        });
    }

    /// `no_lost_wakeup` with the producer's fence left out: nothing orders
    /// its read of the flag after its push, and the consumer may release the
    /// wake-up and find the ring empty while the producer still sees the
    /// wake-up taken.
    fn control_claim_without_fence() {
        check(|| {
            let mut hub = ModelHub::new(4, Overflow::Reject);
            hub.claim_without_fence = true;
            let hub = Arc::new(hub);
            let done = Arc::new(AtomicUsize::new(0));
            let producers = produce(&hub, &done, 1, 2);
            let taken = consume(&hub, &done, 1, EAGER);
            let results: Vec<_> = producers.into_iter().map(|p| p.join().unwrap()).collect();
            assert_eq!(taken.events, accepted(&results));
        });
    }

    /// Two producers offer two events each into a ring of one while the
    /// binding's (lingering) consumer drains one event per batch: taking one
    /// event at a time, it never lingers and hands the wake-up back after
    /// every drain.
    fn conservation_reject() {
        check(|| conserves_with_reject(2));
    }

    /// The same with one event each: the second offer is refused while the
    /// first is still in the ring.
    fn conservation_reject_short() {
        check(|| conserves_with_reject(1));
    }

    /// Every seq is delivered or refused, exactly once, and the consumer
    /// gets each producer's events in order.
    fn conserves_with_reject(each: usize) {
        {
            let hub = Arc::new(ModelHub::new(1, Overflow::Reject));
            let done = Arc::new(AtomicUsize::new(0));
            let producers = produce(&hub, &done, 2, each);
            let how = Consumer {
                max_events: 1,
                ..LINGERING
            };
            let taken = consume(&hub, &done, 2, how);
            let results: Vec<_> = producers.into_iter().map(|p| p.join().unwrap()).collect();
            let mut refused: Vec<u64> = results
                .iter()
                .flatten()
                .filter_map(|r| match r {
                    Err(Refused::Full(seq)) => Some(*seq),
                    _ => None,
                })
                .collect();
            assert_eq!(refused.len() as u64, hub.dropped.load(Ordering::Relaxed));
            let mut delivered = taken.events.clone();
            delivered.sort_unstable();
            assert_eq!(delivered, accepted(&results));
            let mut all = delivered;
            all.append(&mut refused);
            all.sort_unstable();
            let emitted: Vec<u64> = (1..=2 * each as u64).collect();
            assert_eq!(all, emitted);
            in_producer_order(&taken.events, &results);
        }
    }

    fn conservation_drop_oldest() {
        check(|| {
            let hub = Arc::new(ModelHub::new(1, Overflow::DropOldest));
            let done = Arc::new(AtomicUsize::new(0));
            let producers = produce(&hub, &done, 2, 2);
            let how = Consumer {
                max_events: 1,
                ..LINGERING
            };
            let taken = consume(&hub, &done, 2, how);
            let results: Vec<_> = producers.into_iter().map(|p| p.join().unwrap()).collect();
            assert!(results.iter().flatten().all(|r| r.is_ok()));
            let dropped = hub.dropped.load(Ordering::Relaxed);
            assert_eq!(taken.events.len() as u64 + dropped, 4);
            let mut delivered = taken.events.clone();
            delivered.sort_unstable();
            delivered.dedup();
            assert_eq!(delivered.len(), taken.events.len(), "{:?}", taken.events);
            assert!(delivered.iter().all(|s| (1..=4).contains(s)));
            in_producer_order(&taken.events, &results);
        });
    }

    /// A value only the thread holding a pass writes; `close` returning must
    /// order every such write before the caller's read, which loom checks
    /// as a data race otherwise.
    struct Witness(UnsafeCell<u32>);

    // SAFETY: the point of the model: loom tracks every access to the cell
    // and fails on any two that are not ordered by happens-before.
    unsafe impl Sync for Witness {}

    fn gate_close_waits() {
        check(|| {
            let gate = Arc::new(Gate::default());
            let closed = Arc::new(AtomicBool::new(false));
            let witnesses = Arc::new([Witness(UnsafeCell::new(0)), Witness(UnsafeCell::new(0))]);
            let threads: Vec<_> = (0..2)
                .map(|i| {
                    let (gate, closed, witnesses) =
                        (gate.clone(), closed.clone(), witnesses.clone());
                    thread::spawn(move || {
                        let mut entered = 0;
                        for _ in 0..2 {
                            let after_close = closed.load(Ordering::Acquire);
                            let Some(pass) = gate.enter() else { continue };
                            assert!(!after_close, "enter succeeded after close returned");
                            // SAFETY: loom checks this write against the
                            // reads after `close`.
                            witnesses[i].0.with_mut(|p| unsafe { *p += 1 });
                            entered += 1;
                            drop(pass);
                        }
                        entered
                    })
                })
                .collect();
            gate.close();
            closed.store(true, Ordering::Release);
            assert!(gate.is_closed());
            assert!(gate.enter().is_none());
            // SAFETY: as above: a pass still held would race with this read.
            let seen: Vec<u32> = witnesses
                .iter()
                .map(|w| w.0.with(|p| unsafe { *p }))
                .collect();
            let entered: Vec<u32> = threads.into_iter().map(|t| t.join().unwrap()).collect();
            // Nothing entered between `close` returning and the join.
            assert_eq!(seen, entered);
        });
    }

    /// `close_now` returns at once; once `in_flight` says false, every
    /// pass has been dropped and what its holder wrote is visible.
    fn gate_close_now_then_in_flight() {
        check(|| {
            let gate = Arc::new(Gate::default());
            let witnesses = Arc::new([Witness(UnsafeCell::new(0)), Witness(UnsafeCell::new(0))]);
            let threads: Vec<_> = (0..2)
                .map(|i| {
                    let (gate, witnesses) = (gate.clone(), witnesses.clone());
                    thread::spawn(move || {
                        let Some(pass) = gate.enter() else { return 0 };
                        // SAFETY: loom checks this write against the read
                        // after `in_flight` said false.
                        witnesses[i].0.with_mut(|p| unsafe { *p += 1 });
                        drop(pass);
                        1
                    })
                })
                .collect();
            gate.close_now();
            assert!(gate.enter().is_none());
            while gate.in_flight() {
                thread::yield_now();
            }
            // SAFETY: as above: a pass still held would race with this read.
            let seen: Vec<u32> = witnesses
                .iter()
                .map(|w| w.0.with(|p| unsafe { *p }))
                .collect();
            let entered: Vec<u32> = threads.into_iter().map(|t| t.join().unwrap()).collect();
            assert_eq!(seen, entered);
        });
    }

    /// `close` while two producers offer: what was accepted is in the ring
    /// when `close` returns, and offers after it are refused.
    fn close_under_fire() {
        check(|| {
            let hub = Arc::new(ModelHub::new(2, Overflow::Reject));
            let done = Arc::new(AtomicUsize::new(0));
            let producers = produce(&hub, &done, 2, 1);
            hub.gate.close();
            let mut delivered = Vec::new();
            while let Some(seq) = hub.ring.pop() {
                delivered.push(seq);
            }
            assert_eq!(hub.offer(), Err(Refused::Closed));
            let results: Vec<_> = producers.into_iter().map(|p| p.join().unwrap()).collect();
            assert!(
                hub.ring.is_empty(),
                "an event was accepted after close returned"
            );
            delivered.sort_unstable();
            assert_eq!(delivered, accepted(&results));
            assert!(results
                .iter()
                .flatten()
                .all(|r| matches!(r, Ok(_) | Err(Refused::Closed))));
        });
    }

    /// A pusher that pushes the oldest out, into a ring of two, while the
    /// consumer claims and takes: every value comes out once, in one place
    /// (taken by the consumer, pushed out, or handed back when the consumer
    /// held everything), and the consumer's values keep their order.
    fn ring_force_push_against_claim() {
        check(|| {
            let ring = Arc::new(Ring::new(2));
            ring.push(0u64).unwrap();
            ring.push(1).unwrap();
            let pusher = {
                let ring = ring.clone();
                thread::spawn(move || {
                    let mut elsewhere = Vec::new();
                    for v in 2..4u64 {
                        if let Err(back) = ring.force_push(v, |old| elsewhere.push(old)) {
                            elsewhere.push(back);
                        }
                    }
                    elsewhere
                })
            };
            let mut taken = Vec::new();
            let (mut pos, len) = ring.claim(2);
            for _ in 0..len {
                taken.push(ring.take(pos));
                pos = ring.next(pos);
            }
            let elsewhere = pusher.join().unwrap();
            while let Some(v) = ring.pop() {
                taken.push(v);
            }
            assert!(
                taken.windows(2).all(|w| w[0] < w[1]),
                "out of order: {taken:?}"
            );
            let mut all: Vec<u64> = taken.iter().chain(&elsewhere).copied().collect();
            all.sort_unstable();
            assert_eq!(
                all,
                vec![0, 1, 2, 3],
                "taken {taken:?}, elsewhere {elsewhere:?}"
            );
        });
    }

    /// Two pushers, two values each, into a ring of two while a popper
    /// takes from it: every accepted value comes out once, each pusher's in
    /// order, refused ones never.
    fn ring_stand_in() {
        check(|| {
            let ring = Arc::new(Ring::new(2));
            let pushers: Vec<_> = (0..2u64)
                .map(|p| {
                    let ring = ring.clone();
                    thread::spawn(move || {
                        (0..2u64)
                            .filter(|i| ring.push(p * 10 + i).is_ok())
                            .map(|i| p * 10 + i)
                            .collect::<Vec<u64>>()
                    })
                })
                .collect();
            let mut out = Vec::new();
            if let Some(v) = ring.pop() {
                out.push(v);
            }
            let pushed: Vec<Vec<u64>> = pushers.into_iter().map(|p| p.join().unwrap()).collect();
            while let Some(v) = ring.pop() {
                out.push(v);
            }
            assert!(ring.is_empty());
            for (p, values) in pushed.iter().enumerate() {
                let mine: Vec<u64> = out.iter().copied().filter(|v| v / 10 == p as u64).collect();
                assert_eq!(&mine, values, "pusher {p}: out {out:?}");
            }
        });
    }
}

// ---------------------------------------------------------------------------
// The full run only (`--cfg loom`, from stress/loom.sh): the registry and the
// liveness latch, from copies of their files without `//!` lines.
// ---------------------------------------------------------------------------

#[cfg(loom)]
mod serde_reexport {
    pub use serde::*;
}

/// The crate paths the shipped files use (`crate::error`, `crate::name`,
/// `crate::event`).
#[cfg(loom)]
mod error {
    pub use ffi_events::NameError;
}

#[cfg(loom)]
mod name {
    pub use ffi_events::validate_name;
}

#[cfg(loom)]
mod event {
    /// Stand-in for the crate's `Event`: the liveness latch only builds
    /// events and hands them over; the model checks their names and reasons.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Event {
        name: String,
        payload: Vec<u8>,
    }

    impl Event {
        pub fn cbor<T: serde::Serialize + ?Sized>(
            name: &str,
            payload: &T,
        ) -> Result<Event, String> {
            let payload =
                cbor4ii::serde::to_vec(Vec::new(), &payload).map_err(|e| e.to_string())?;
            Ok(Event {
                name: name.to_string(),
                payload,
            })
        }

        pub fn name(&self) -> &str {
            &self.name
        }

        /// `queue_full` or `stalled`, read back from the CBOR payload.
        pub fn reason(&self) -> &'static str {
            let has = |needle: &[u8]| self.payload.windows(needle.len()).any(|w| w == needle);
            if has(b"queue_full") {
                "queue_full"
            } else if has(b"stalled") {
                "stalled"
            } else {
                "?"
            }
        }
    }
}

#[cfg(loom)]
#[no_implicit_prelude]
#[allow(dead_code, unused, clippy::all)]
mod registry {
    use crate::loom_std as std;
    use crate::prelude::*;
    ::core::include!(::core::concat!(
        ::core::env!("FFI_EVENTS_LOOM_SRC"),
        "/registry.rs"
    ));
}

#[cfg(loom)]
#[no_implicit_prelude]
#[allow(dead_code, unused, clippy::all)]
mod liveness {
    use crate::loom_std as std;
    use crate::prelude::*;
    use crate::serde_reexport as serde;
    ::core::include!(::core::concat!(
        ::core::env!("FFI_EVENTS_LOOM_SRC"),
        "/liveness.rs"
    ));
}

#[cfg(loom)]
impl harness::Side for liveness::Liveness {
    fn on_overflow(&self, capacity: usize, dropped: u64) -> bool {
        liveness::Liveness::on_overflow(self, capacity, dropped)
    }
    fn on_drained(&self, dropped: u64) -> bool {
        liveness::Liveness::on_drained(self, dropped)
    }
    fn has_pending(&self) -> bool {
        liveness::Liveness::has_pending(self)
    }
    fn take_pending(&self, out: &mut Vec<String>) {
        let mut events = Vec::new();
        liveness::Liveness::take_pending(self, &mut events);
        out.extend(events.iter().map(|e| e.name().to_string()));
    }
}

#[cfg(loom)]
mod full_models {
    use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    use loom::sync::Arc;
    use loom::thread;

    use crate::check;
    use crate::event::Event;
    use crate::harness::{consume, Consumer, GiveUp, ModelHub, Overflow};
    use crate::liveness::{Liveness, NOT_RESPONDING, RESPONDING};
    use crate::registry::{Filter, Registry};
    use crate::Model;

    const fn model(name: &'static str, full: Option<usize>, run: fn()) -> Model {
        Model {
            name,
            quick: full,
            full,
            control: false,
            run,
        }
    }

    pub const ALL: &[Model] = &[
        model(
            "registry: concurrent adds get distinct increasing ids",
            None,
            concurrent_adds,
        ),
        model(
            "registry: no snapshot after remove returned holds the id",
            None,
            no_snapshot_after_remove,
        ),
        model(
            "registry: clear races add, the id counter never resets",
            None,
            clear_races_add,
        ),
        model(
            "registry: a snapshot is ordered and only holds live-at-some-point ids",
            None,
            snapshot_is_ordered,
        ),
        model(
            "liveness: overflow episodes alternate, one event per transition",
            None,
            overflow_latch,
        ),
        model(
            "liveness: stall episodes alternate, one event per transition",
            None,
            stall_latch,
        ),
        model(
            "liveness: the two kinds of episode stay independent",
            None,
            independent_kinds,
        ),
        model(
            "liveness: a queued event is never missed by the consumer",
            None,
            pending_not_missed,
        ),
        model(
            "wake-up + liveness: an overflow's not_responding and its responding reach the consumer",
            Some(4),
            overflow_reaches_consumer,
        ),
    ];

    fn name(n: &str) -> Filter {
        Filter::Name(n.into())
    }

    fn concurrent_adds() {
        check(|| {
            let registry = Arc::new(Registry::new());
            let handles: Vec<_> = (0..2)
                .map(|i| {
                    let registry = registry.clone();
                    thread::spawn(move || {
                        let filter = if i == 0 { name("a") } else { Filter::Any };
                        registry.add(filter).unwrap().get()
                    })
                })
                .collect();
            let mut ids: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            ids.sort_unstable();
            assert_eq!(ids, vec![1, 2]);
            assert_eq!(registry.total(), 2);
            let snapshot: Vec<u64> = registry.snapshot("a").iter().map(|id| id.get()).collect();
            assert_eq!(snapshot, vec![1, 2]);
        });
    }

    fn no_snapshot_after_remove() {
        check(|| {
            let registry = Arc::new(Registry::new());
            let keep = registry.add(name("a")).unwrap();
            let gone = registry.add(name("a")).unwrap();
            let removed = Arc::new(AtomicBool::new(false));
            let remover = {
                let (registry, removed) = (registry.clone(), removed.clone());
                thread::spawn(move || {
                    assert!(registry.remove(gone.get()));
                    removed.store(true, Ordering::Release);
                })
            };
            let adder = {
                let registry = registry.clone();
                thread::spawn(move || registry.add(name("a")).unwrap())
            };
            // The dispatcher: once `remove` has returned (as `off` does), no
            // later snapshot may contain the id.
            let was_removed = removed.load(Ordering::Acquire);
            let snapshot = registry.snapshot("a");
            if was_removed {
                assert!(!snapshot.contains(&gone));
            }
            assert!(snapshot.contains(&keep));
            assert!(snapshot.windows(2).all(|w| w[0] < w[1]));
            remover.join().unwrap();
            let added = adder.join().unwrap();
            assert_eq!(registry.snapshot("a"), vec![keep, added]);
            assert_eq!(registry.count("a"), 2);
            assert_eq!(registry.names(), vec!["a".to_string()]);
            assert!(!registry.contains(gone.get()));
        });
    }

    fn clear_races_add() {
        check(|| {
            let registry = Arc::new(Registry::new());
            registry.add(name("a")).unwrap();
            let adder = {
                let registry = registry.clone();
                thread::spawn(move || registry.add(name("b")).unwrap().get())
            };
            let cleared = registry.clear();
            let added = adder.join().unwrap();
            assert_eq!(added, 2);
            // Either clear ran first (the new one survives) or after (both gone).
            match cleared {
                1 => {
                    assert_eq!(registry.total(), 1);
                    assert_eq!(registry.names(), vec!["b".to_string()]);
                }
                2 => {
                    assert_eq!(registry.total(), 0);
                    assert!(registry.names().is_empty());
                }
                n => panic!("clear removed {n}"),
            }
            assert_eq!(registry.add(Filter::Any).unwrap().get(), 3);
        });
    }

    fn snapshot_is_ordered() {
        check(|| {
            let registry = Arc::new(Registry::new());
            let first = registry.add(Filter::Any).unwrap();
            let t = {
                let registry = registry.clone();
                thread::spawn(move || {
                    let id = registry.add(name("x")).unwrap();
                    registry.remove(first.get());
                    registry.add(Filter::Any).unwrap();
                    id
                })
            };
            let snapshot: Vec<u64> = registry.snapshot("x").iter().map(|id| id.get()).collect();
            assert!(snapshot.windows(2).all(|w| w[0] < w[1]), "{snapshot:?}");
            assert!(snapshot.iter().all(|id| (1..=3).contains(id)));
            let id = t.join().unwrap();
            let end: Vec<u64> = registry.snapshot("x").iter().map(|id| id.get()).collect();
            assert_eq!(end, vec![id.get(), 3]);
        });
    }

    /// Checks one kind's events: they alternate, starting with
    /// `not_responding`, and there is one per successful transition.
    fn check_alternation(events: &[Event], reason: &str, starts: u64, ends: u64, stuck: bool) {
        let names: Vec<&str> = events
            .iter()
            .filter(|e| e.reason() == reason)
            .map(|e| e.name())
            .collect();
        check_names(&names, starts, ends);
        let nr = names.iter().filter(|n| **n == NOT_RESPONDING).count();
        assert_eq!(
            stuck,
            nr > names.len() - nr,
            "{reason}: latch disagrees with its events {names:?}"
        );
    }

    /// Liveness event names alternate, starting with `not_responding`, and
    /// count `starts` and `ends`.
    fn check_names(names: &[&str], starts: u64, ends: u64) {
        for (i, n) in names.iter().enumerate() {
            let expected = if i % 2 == 0 {
                NOT_RESPONDING
            } else {
                RESPONDING
            };
            assert_eq!(*n, expected, "events out of order: {names:?}");
        }
        let nr = names.iter().filter(|n| **n == NOT_RESPONDING).count() as u64;
        let r = names.len() as u64 - nr;
        assert_eq!((nr, r), (starts, ends), "{names:?}");
    }

    fn overflow_latch() {
        check(|| {
            let liveness = Arc::new(Liveness::default());
            let starts = Arc::new(AtomicU64::new(0));
            let producers: Vec<_> = (0..2)
                .map(|p| {
                    let (liveness, starts) = (liveness.clone(), starts.clone());
                    thread::spawn(move || {
                        if liveness.on_overflow(8, p + 1) {
                            starts.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            // The consumer: one drain that empties the ring.
            let mut taken = Vec::new();
            liveness.take_pending(&mut taken);
            let mut ends = 0;
            if liveness.on_drained(2) {
                ends += 1;
                liveness.take_pending(&mut taken);
            }
            for p in producers {
                p.join().unwrap();
            }
            liveness.take_pending(&mut taken);
            let stuck = liveness.is_stuck();
            check_alternation(
                &taken,
                "queue_full",
                starts.load(Ordering::Relaxed),
                ends,
                stuck,
            );
            // At least one producer started an episode (the latch was off).
            assert!(starts.load(Ordering::Relaxed) >= 1);
        });
    }

    fn stall_latch() {
        check(|| {
            let liveness = Arc::new(Liveness::default());
            liveness.on_beat(100, 0, 0);
            // The watchdog sees a stale beat while the producer beats again.
            let watchdog = {
                let liveness = liveness.clone();
                thread::spawn(move || u64::from(liveness.check_stall(1_000, 10, 0, 0)))
            };
            let ends = u64::from(liveness.on_beat(1_001, 0, 0));
            let starts = watchdog.join().unwrap();
            let mut taken = Vec::new();
            liveness.take_pending(&mut taken);
            check_alternation(&taken, "stalled", starts, ends, liveness.is_stuck());
            // A beat that ran before the check leaves nothing to end.
            assert!(ends <= starts);
        });
    }

    fn independent_kinds() {
        check(|| {
            let liveness = Arc::new(Liveness::default());
            liveness.on_beat(1, 0, 0);
            let producer = {
                let liveness = liveness.clone();
                thread::spawn(move || u64::from(liveness.on_overflow(4, 1)))
            };
            let stalls = u64::from(liveness.check_stall(100, 10, 4, 1));
            let overflows = producer.join().unwrap();
            assert_eq!((overflows, stalls), (1, 1));
            let mut taken = Vec::new();
            liveness.take_pending(&mut taken);
            check_alternation(&taken, "queue_full", 1, 0, true);
            check_alternation(&taken, "stalled", 1, 0, true);
            assert!(liveness.on_drained(1));
            assert!(liveness.is_stuck());
            assert!(liveness.on_beat(200, 0, 1));
            assert!(!liveness.is_stuck());
        });
    }

    /// A transition that returned true is seen by a `take_pending` that
    /// starts after it: `has_pending` cannot hide it.
    fn pending_not_missed() {
        check(|| {
            let liveness = Arc::new(Liveness::default());
            let done = Arc::new(AtomicBool::new(false));
            let producer = {
                let (liveness, done) = (liveness.clone(), done.clone());
                thread::spawn(move || {
                    assert!(liveness.on_overflow(1, 1));
                    done.store(true, Ordering::Release);
                })
            };
            let mut taken = Vec::new();
            liveness.take_pending(&mut taken);
            let was_done = done.load(Ordering::Acquire);
            liveness.take_pending(&mut taken);
            if was_done {
                assert_eq!(taken.len(), 1);
            }
            producer.join().unwrap();
            liveness.take_pending(&mut taken);
            assert_eq!(taken.len(), 1);
            assert_eq!(taken[0].name(), NOT_RESPONDING);
        });
    }

    /// A ring of one and a lingering consumer (one event per drain, so it
    /// never lingers: liveness events do not count); the producer's second
    /// event may be refused, and the `not_responding` it queues bypasses the
    /// ring and wakes the consumer through the same handshake. Nothing is left
    /// behind, and an episode that started also ended.
    fn overflow_reaches_consumer() {
        check(|| {
            let hub: Arc<ModelHub<Liveness>> = Arc::new(ModelHub::with_side(1, Overflow::Reject));
            let done = Arc::new(AtomicUsize::new(0));
            let producer = {
                let (hub, done) = (hub.clone(), done.clone());
                thread::spawn(move || {
                    let results: Vec<_> = (0..2).map(|_| hub.offer()).collect();
                    done.fetch_add(1, Ordering::Release);
                    results
                })
            };
            let how = Consumer {
                max_events: 1,
                linger: true,
                give_up: GiveUp::Never,
            };
            let taken = consume(&hub, &done, 1, how);
            let results = producer.join().unwrap();
            let refused = results.iter().filter(|r| r.is_err()).count() as u64;
            assert_eq!(refused, hub.dropped.load(Ordering::Relaxed));
            assert_eq!(taken.events.len() as u64 + refused, 2);
            let names: Vec<&str> = taken.liveness.iter().map(String::as_str).collect();
            let episodes = u64::from(refused > 0);
            check_names(&names, episodes, episodes);
        });
    }
}
