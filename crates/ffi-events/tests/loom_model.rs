//! Loom model of the registry (add / remove / clear / snapshot) and of the
//! liveness latch, run on the shipped source files themselves.
//!
//! `src/registry.rs` and `src/liveness.rs` are compiled a second time here,
//! inside modules whose `std::sync` is loom's, so loom explores every
//! interleaving of the shipped code (not a hand-written copy of it). Only
//! `Event` is replaced by a stand-in that records the name and the CBOR
//! payload. `include!` cannot take a file's inner doc comments (`//!`), so
//! `stress/loom.sh` copies the two files without them into the folder named
//! by `FFI_EVENTS_LOOM_SRC` and runs
//! `RUSTFLAGS="--cfg loom" cargo test -p ffi-events --release --test loom_model`
//! with its own `CARGO_TARGET_DIR`.
//! Without `--cfg loom` this test binary only says it was skipped.
#![allow(unexpected_cfgs)]

#[cfg(not(loom))]
fn main() {
    println!("loom_model: skipped (build with RUSTFLAGS=\"--cfg loom\" to run the loom model)");
}

#[cfg(loom)]
fn main() {
    let started = std::time::Instant::now();
    let mut ran = 0;
    for (name, model) in models::ALL {
        let t = std::time::Instant::now();
        model();
        ran += 1;
        println!(
            "loom_model: {name} ... ok ({:.2}s)",
            t.elapsed().as_secs_f64()
        );
    }
    println!(
        "loom_model: {ran} passed, 0 failed ({:.1}s)",
        started.elapsed().as_secs_f64()
    );
}

/// What `std` means inside the re-compiled modules: the real one, except
/// `std::sync`, which is loom's.
#[cfg(loom)]
mod loom_std {
    pub use std::*;
    pub mod sync {
        pub use loom::sync::*;
        pub mod atomic {
            pub use loom::sync::atomic::*;
        }
    }
}

#[cfg(loom)]
mod prelude {
    pub use std::prelude::rust_2021::*;
}

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
#[allow(dead_code, clippy::all)]
mod registry {
    use crate::loom_std as std;
    #[allow(unused_imports)]
    use crate::prelude::*;
    ::core::include!(::core::concat!(
        ::core::env!("FFI_EVENTS_LOOM_SRC"),
        "/registry.rs"
    ));
}

#[cfg(loom)]
#[no_implicit_prelude]
#[allow(dead_code, clippy::all)]
mod liveness {
    use crate::loom_std as std;
    #[allow(unused_imports)]
    use crate::prelude::*;
    use crate::serde_reexport as serde;
    ::core::include!(::core::concat!(
        ::core::env!("FFI_EVENTS_LOOM_SRC"),
        "/liveness.rs"
    ));
}

#[cfg(loom)]
mod models {
    use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use loom::sync::Arc;
    use loom::thread;

    use crate::event::Event;
    use crate::liveness::{Liveness, NOT_RESPONDING, RESPONDING};
    use crate::registry::{Filter, Registry};

    pub const ALL: &[(&str, fn())] = &[
        (
            "registry: concurrent adds get distinct increasing ids",
            concurrent_adds,
        ),
        (
            "registry: no snapshot after remove returned holds the id",
            no_snapshot_after_remove,
        ),
        (
            "registry: clear races add, the id counter never resets",
            clear_races_add,
        ),
        (
            "registry: a snapshot is ordered and only holds live-at-some-point ids",
            snapshot_is_ordered,
        ),
        (
            "liveness: overflow episodes alternate, one event per transition",
            overflow_latch,
        ),
        (
            "liveness: stall episodes alternate, one event per transition",
            stall_latch,
        ),
        (
            "liveness: the two kinds of episode stay independent",
            independent_kinds,
        ),
        (
            "liveness: a queued event is never missed by the consumer",
            pending_not_missed,
        ),
    ];

    fn name(n: &str) -> Filter {
        Filter::Name(n.into())
    }

    fn concurrent_adds() {
        loom::model(|| {
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
        loom::model(|| {
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
        loom::model(|| {
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
        loom::model(|| {
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
        for (i, n) in names.iter().enumerate() {
            let expected = if i % 2 == 0 {
                NOT_RESPONDING
            } else {
                RESPONDING
            };
            assert_eq!(*n, expected, "{reason} events out of order: {names:?}");
        }
        let nr = names.iter().filter(|n| **n == NOT_RESPONDING).count() as u64;
        let r = names.len() as u64 - nr;
        assert_eq!((nr, r), (starts, ends), "{reason}: {names:?}");
        assert_eq!(
            stuck,
            nr > r,
            "{reason}: latch disagrees with its events {names:?}"
        );
    }

    fn overflow_latch() {
        loom::model(|| {
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
        loom::model(|| {
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
        loom::model(|| {
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
        loom::model(|| {
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
}
