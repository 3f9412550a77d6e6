//! Real-thread tests of the public API: accounting with concurrent
//! producers, drains, registry churn and close. They complement the loom
//! model (which checks the registry and liveness latch exhaustively) and are
//! what `stress/valgrind.sh` runs under memcheck alongside the unit tests.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use ffi_events::{
    DrainLimits, Drained, EmitError, Filter, Hub, HubConfig, Overflow, NOT_RESPONDING, RESPONDING,
};

mod common;

const PRODUCERS: u32 = 4;
const PER_PRODUCER: u32 = 2_000;

fn run_accounting(overflow: Overflow) {
    let hub = common::hub_hearing_all(64, overflow);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let emitter = hub.emitter();
            thread::spawn(move || {
                let mut accepted = 0u64;
                for i in 0..PER_PRODUCER {
                    let bytes = common::stamp(p, i);
                    match emitter.emit_raw("e", &bytes) {
                        Ok(_) => accepted += 1,
                        Err(EmitError::Full { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                accepted
            })
        })
        .collect();
    let mut seen = HashSet::new();
    let mut last = vec![None::<u32>; PRODUCERS as usize];
    let (mut starts, mut ends) = (0, 0);
    let mut batch = Vec::new();
    let mut consume = |batch: &mut Vec<ffi_events::Event>| {
        for event in batch.drain(..) {
            match event.name() {
                NOT_RESPONDING => starts += 1,
                RESPONDING => ends += 1,
                _ => {
                    assert!(seen.insert(event.seq()), "seq {} twice", event.seq());
                    let (p, i) = common::read_stamp(event.bytes());
                    assert!(last[p].map_or(true, |l| l < i), "producer {p} out of order");
                    last[p] = Some(i);
                }
            }
        }
    };
    while producers.iter().any(|p| !p.is_finished()) {
        hub.drain(
            &mut batch,
            DrainLimits {
                max_events: 16,
                ..DrainLimits::default()
            },
        );
        consume(&mut batch);
        thread::yield_now();
    }
    let accepted: u64 = producers.into_iter().map(|p| p.join().unwrap()).sum();
    while hub.drain(&mut batch, DrainLimits::default()).events > 0 {
        consume(&mut batch);
    }
    let stats = hub.stats();
    assert_eq!(stats.emitted, u64::from(PRODUCERS * PER_PRODUCER));
    assert_eq!(
        stats.emitted,
        stats.delivered + stats.refused + stats.discarded + stats.queued as u64
    );
    assert_eq!(stats.delivered, seen.len() as u64);
    match overflow {
        Overflow::Reject => {
            assert_eq!(accepted, stats.delivered);
            assert_eq!(stats.discarded, 0);
        }
        Overflow::DropOldest => assert_eq!(stats.refused, 0),
    }
    // Sequence numbers never seen are exactly the refused and discarded ones.
    let lost = stats.refused + stats.discarded;
    assert_eq!(stats.emitted - seen.len() as u64, lost);
    assert!(seen.iter().all(|s| (1..=stats.emitted).contains(s)));
    assert_eq!(starts, ends, "episodes must end once the ring is empty");
    assert_eq!(starts > 0, lost > 0);
    assert!(!stats.stuck);
}

#[test]
fn accounting_holds_with_concurrent_producers_reject() {
    run_accounting(Overflow::Reject);
}

#[test]
fn accounting_holds_with_concurrent_producers_drop_oldest() {
    run_accounting(Overflow::DropOldest);
}

#[test]
fn close_under_fire_delivers_what_was_accepted_and_refuses_the_rest() {
    let hub = Hub::new(HubConfig {
        capacity: 1 << 16,
        stall_timeout: None,
        ..HubConfig::default()
    })
    .unwrap();
    // A listener of every event: drains hand over only events someone hears.
    hub.registry().add(Filter::Any).unwrap();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|_| {
            let emitter = hub.emitter();
            thread::spawn(move || {
                let mut accepted = Vec::new();
                let mut closed_seen = false;
                for _ in 0..20_000 {
                    match emitter.emit_raw("e", &[1, 2, 3]) {
                        Ok(seq) => {
                            assert!(!closed_seen, "accepted after Closed");
                            accepted.push(seq);
                        }
                        Err(EmitError::Closed) => closed_seen = true,
                        Err(EmitError::Full { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                accepted
            })
        })
        .collect();
    thread::sleep(std::time::Duration::from_millis(2));
    hub.close();
    let accepted: HashSet<u64> = producers
        .into_iter()
        .flat_map(|p| p.join().unwrap())
        .collect();
    let mut batch = Vec::new();
    while hub.drain(&mut batch, DrainLimits::default()).events > 0 {}
    let delivered: Vec<u64> = batch.iter().map(|e| e.seq()).filter(|s| *s != 0).collect();
    let unique: HashSet<u64> = delivered.iter().copied().collect();
    assert_eq!(
        unique.len(),
        delivered.len(),
        "an event was delivered twice"
    );
    assert_eq!(unique, accepted);
}

#[test]
fn registry_churn_from_many_threads_stays_consistent() {
    let hub = Hub::new(HubConfig::default()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let hub = Arc::new(hub);
    let keeper = hub.registry().add(Filter::Name("e".into())).unwrap();
    // Snapshots the reader took. Each churner waits, halfway through, until
    // the reader took one more: under valgrind, which runs one thread at a
    // time, the churn could otherwise end before the reader ever ran.
    let taken = Arc::new(AtomicUsize::new(0));
    let churners: Vec<_> = (0..3)
        .map(|t| {
            let (hub, taken) = (hub.clone(), taken.clone());
            thread::spawn(move || {
                for n in 0..2_000 {
                    if n == 1_000 {
                        let before = taken.load(Ordering::Acquire);
                        while taken.load(Ordering::Acquire) == before {
                            thread::yield_now();
                        }
                    }
                    let filter = if n % 3 == 0 {
                        Filter::Any
                    } else {
                        Filter::Name(format!("e{}", t % 2).into())
                    };
                    let id = hub.registry().add(filter).unwrap();
                    assert!(hub.registry().contains(id.get()));
                    assert!(hub.registry().remove(id.get()));
                    assert!(!hub.registry().snapshot("e").contains(&id));
                }
            })
        })
        .collect();
    let reader = {
        let (hub, stop, taken) = (hub.clone(), stop.clone(), taken.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                let snap = hub.registry().snapshot("e");
                assert!(snap.contains(&keeper));
                assert!(snap.windows(2).all(|w| w[0] < w[1]));
                taken.fetch_add(1, Ordering::Release);
                // Leaves the registry's lock to the churners now and then
                // (under valgrind a thread runs until it yields).
                thread::yield_now();
            }
            taken.load(Ordering::Relaxed)
        })
    };
    for c in churners {
        c.join().unwrap();
    }
    stop.store(true, Ordering::Release);
    // The reader took snapshots while the churners ran (each waited for one).
    assert!(reader.join().unwrap() > 0);
    assert_eq!(hub.registry().total(), 1);
    assert_eq!(hub.registry().names(), vec!["e".to_string()]);
    assert_eq!(
        hub.registry().add(Filter::Any).unwrap().get(),
        2 + 3 * 2_000
    );
}

/// Counts wake-ups.
struct CountingWake(std::sync::atomic::AtomicUsize);

impl ffi_events::Notify for CountingWake {
    fn notify(&self) -> bool {
        self.0.fetch_add(1, Ordering::SeqCst);
        true
    }
}

/// Drain limits of a consumer that lingers, as the Node binding's does.
const LINGER: DrainLimits = DrainLimits {
    max_events: 4096,
    max_bytes: 4 << 20,
    linger: true,
};

/// A hub whose wake-ups are counted, with one listener of every event:
/// drains hand over only events someone hears.
fn counted_hub() -> (Hub, Arc<CountingWake>) {
    counted_hub_hearing(Filter::Any)
}

/// A hub whose wake-ups are counted, with one listener: `filter`.
fn counted_hub_hearing(filter: Filter) -> (Hub, Arc<CountingWake>) {
    let hub = Hub::new(HubConfig {
        stall_timeout: None,
        ..HubConfig::default()
    })
    .unwrap();
    hub.registry().add(filter).unwrap();
    let wake = Arc::new(CountingWake(Default::default()));
    hub.attach(wake.clone());
    (hub, wake)
}

#[test]
fn a_lingering_consumer_stays_awake_until_a_drain_takes_at_most_one_event() {
    let (hub, wake) = counted_hub();
    let emitter = hub.emitter();
    let mut batch = Vec::new();

    emitter.emit_raw("e", b"1").unwrap();
    emitter.emit_raw("e", b"2").unwrap();
    assert_eq!(wake.0.load(Ordering::SeqCst), 1);
    let drained = hub.drain(&mut batch, LINGER);
    assert_eq!(
        (drained.events, drained.more),
        (2, true),
        "took more than one event: stays awake"
    );
    // Awake: these emits make no wake-up call.
    emitter.emit_raw("e", b"3").unwrap();
    emitter.emit_raw("e", b"4").unwrap();
    emitter.emit_raw("e", b"5").unwrap();
    assert_eq!(wake.0.load(Ordering::SeqCst), 1);
    let drained = hub.drain(&mut batch, LINGER);
    assert_eq!((drained.events, drained.more), (3, true));
    let drained = hub.drain(&mut batch, LINGER);
    assert_eq!(
        (drained.events, drained.more),
        (0, false),
        "found nothing: goes idle"
    );
    // Idle again: the next event wakes the consumer.
    emitter.emit_raw("e", b"6").unwrap();
    emitter.emit_raw("e", b"7").unwrap();
    assert_eq!(wake.0.load(Ordering::SeqCst), 2);

    // Without linger, a drain that empties the ring goes idle at once,
    // however many events it took.
    let drained = hub.drain(&mut batch, DrainLimits::default());
    assert_eq!((drained.events, drained.more), (2, false));
    emitter.emit_raw("e", b"8").unwrap();
    assert_eq!(wake.0.load(Ordering::SeqCst), 3);
    assert_eq!(batch.len(), 7);
    hub.close();
}

#[test]
fn a_lingering_drain_that_took_one_event_goes_idle() {
    let (hub, wake) = counted_hub();
    let emitter = hub.emitter();
    let mut batch = Vec::new();

    // A paced producer: one event per wake-up. Each drain takes it and goes
    // idle at once, with no empty poll after it.
    for (i, payload) in [b"1", b"2", b"3"].into_iter().enumerate() {
        emitter.emit_raw("e", payload).unwrap();
        assert_eq!(wake.0.load(Ordering::SeqCst), i + 1, "each event woke it");
        let drained = hub.drain(&mut batch, LINGER);
        assert_eq!(
            (drained.events, drained.more),
            (1, false),
            "took one event: goes idle"
        );
    }

    // Two events in the ring: that drain lingers, until a drain that takes
    // at most one event.
    emitter.emit_raw("e", b"4").unwrap();
    emitter.emit_raw("e", b"5").unwrap();
    assert_eq!(wake.0.load(Ordering::SeqCst), 4);
    assert_eq!(
        hub.drain(&mut batch, LINGER),
        Drained {
            events: 2,
            more: true
        }
    );
    emitter.emit_raw("e", b"6").unwrap();
    assert_eq!(wake.0.load(Ordering::SeqCst), 4, "awake: no wake-up call");
    assert_eq!(
        hub.drain(&mut batch, LINGER),
        Drained {
            events: 1,
            more: false
        },
        "took one event: goes idle"
    );
    emitter.emit_raw("e", b"7").unwrap();
    assert_eq!(
        wake.0.load(Ordering::SeqCst),
        5,
        "idle: the next event woke it"
    );
    assert_eq!(hub.drain(&mut batch, LINGER).events, 1);
    assert_eq!(batch.len(), 7);
    hub.close();
}

#[test]
fn liveness_events_do_not_make_a_one_event_drain_linger() {
    let hub = Hub::new(HubConfig {
        capacity: 1,
        stall_timeout: None,
        ..HubConfig::default()
    })
    .unwrap();
    hub.registry().add(Filter::Any).unwrap();
    let wake = Arc::new(CountingWake(Default::default()));
    hub.attach(wake.clone());
    let emitter = hub.emitter();

    emitter.emit_raw("e", b"1").unwrap();
    // The ring is full: refused, and a queue-full episode starts.
    assert!(matches!(
        emitter.emit_raw("e", b"2"),
        Err(EmitError::Full { .. })
    ));
    let mut batch = Vec::new();
    let drained = hub.drain(&mut batch, LINGER);
    let names: Vec<&str> = batch.iter().map(|e| e.name()).collect();
    assert_eq!(names, [NOT_RESPONDING, "e", RESPONDING]);
    assert_eq!(
        (drained.events, drained.more),
        (3, false),
        "one ring event and two liveness events: goes idle"
    );
    emitter.emit_raw("e", b"3").unwrap();
    assert_eq!(
        wake.0.load(Ordering::SeqCst),
        2,
        "idle: the next event woke it"
    );
    hub.close();
}

#[test]
fn rearm_lets_the_next_event_wake_a_consumer_that_gave_up() {
    let (hub, wake) = counted_hub();
    let emitter = hub.emitter();
    let mut batch = Vec::new();
    emitter.emit_raw("e", b"1").unwrap();
    emitter.emit_raw("e", b"2").unwrap();
    assert!(
        hub.drain(&mut batch, LINGER).more,
        "took two events: lingers"
    );
    // The consumer could not take that batch and will not poll again.
    hub.rearm();
    emitter.emit_raw("e", b"3").unwrap();
    assert_eq!(wake.0.load(Ordering::SeqCst), 2, "the next event woke it");
    // With events already waiting, rearm wakes at once.
    hub.rearm();
    assert_eq!(wake.0.load(Ordering::SeqCst), 3);
    hub.close();
}

/// A payload that counts how often serde encodes it.
struct CountsEncodes<'a>(&'a std::sync::atomic::AtomicUsize);

impl serde::Serialize for CountsEncodes<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.fetch_add(1, Ordering::Relaxed);
        serializer.serialize_u8(1)
    }
}

#[test]
fn an_emit_refused_on_a_full_ring_is_never_encoded_but_takes_its_seq() {
    let hub = Hub::new(HubConfig {
        capacity: 1,
        ..HubConfig::default()
    })
    .unwrap();
    let emitter = hub.emitter();
    let encodes = std::sync::atomic::AtomicUsize::new(0);
    assert_eq!(emitter.emit("x", &CountsEncodes(&encodes)), Ok(1));
    assert_eq!(
        emitter.emit("x", &CountsEncodes(&encodes)),
        Err(EmitError::Full { seq: 2 })
    );
    assert_eq!(emitter.emit_raw("x", &[1]), Err(EmitError::Full { seq: 3 }));
    assert_eq!(encodes.load(Ordering::Relaxed), 1);
    let stats = hub.stats();
    assert_eq!((stats.emitted, stats.refused, stats.queued), (3, 2, 1));
    hub.close();
    assert_eq!(emitter.emit_raw("x", &[1]), Err(EmitError::Closed));
}

#[test]
fn ring_events_nobody_hears_count_toward_the_linger() {
    let (hub, wake) = counted_hub_hearing(Filter::Name("x".into()));
    let emitter = hub.emitter();
    let mut batch = Vec::new();

    // Two events of a name nobody hears: taken, left out of the batch, and
    // the drain still took more than one event, so it lingers.
    emitter.emit_raw("e", b"1").unwrap();
    emitter.emit_raw("e", b"2").unwrap();
    assert_eq!(
        hub.drain(&mut batch, LINGER),
        Drained {
            events: 0,
            more: true
        }
    );
    emitter.emit_raw("x", b"3").unwrap();
    assert_eq!(wake.0.load(Ordering::SeqCst), 1, "awake: no wake-up call");
    assert_eq!(
        hub.drain(&mut batch, LINGER),
        Drained {
            events: 1,
            more: false
        }
    );
    assert_eq!(hub.stats().unheard, 2);
    hub.close();
}
