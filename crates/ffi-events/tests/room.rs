//! Producers that wait for room (`Emitter::wait_for_room`) instead of
//! losing an event: every event arrives, in each producer's order, every
//! wait ends with room (none reaches its timeout, which is how a lost
//! wake-up would show: the consumer here calls nothing but `drain` or
//! `drain_batch`, which wake waiters only after they freed slots), and
//! closing the hub ends the waits at once.

use std::thread;
use std::time::Duration;

use ffi_events::{DrainLimits, EmitError, Overflow};

mod common;

const PRODUCERS: u32 = 4;
const PER_PRODUCER: u32 = 5_000;
/// Far longer than any wait here should take: reaching it fails the test.
const PATIENCE: Duration = Duration::from_secs(20);

#[test]
fn producers_that_wait_for_room_lose_nothing_and_every_wait_ends_with_room() {
    let hub = common::hub_hearing_all(8, Overflow::Reject);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let emitter = hub.emitter();
            thread::spawn(move || {
                let mut waits = 0u32;
                for i in 0..PER_PRODUCER {
                    let bytes = common::stamp(p, i);
                    loop {
                        match emitter.emit_raw("e", &bytes) {
                            Ok(_) => break,
                            Err(EmitError::Full { .. }) => {
                                waits += 1;
                                assert_eq!(
                                    emitter.wait_for_room(PATIENCE),
                                    Ok(true),
                                    "a wait timed out"
                                );
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
                waits
            })
        })
        .collect();
    let mut next = vec![0u32; PRODUCERS as usize];
    let mut received = 0u32;
    let mut batch = Vec::new();
    let mut drains = 0u64;
    let mut drain = |max_events: usize| {
        hub.drain(
            &mut batch,
            DrainLimits {
                max_events,
                ..DrainLimits::default()
            },
        );
        for event in batch.drain(..).filter(|e| e.name() == "e") {
            let (p, i) = common::read_stamp(event.bytes());
            assert_eq!(i, next[p], "producer {p}: an event lost or out of order");
            next[p] += 1;
            received += 1;
        }
    };
    // Until every producer is done (or gave up: a wait that timed out
    // panics, and the join below fails the test).
    while !producers.iter().all(|p| p.is_finished()) {
        // Small drains, with the consumer sometimes slower than the
        // producers and sometimes faster.
        drain([1, 3, 8][(drains % 3) as usize]);
        drains += 1;
        if drains % 7 == 0 {
            thread::yield_now();
        }
    }
    let waits: u32 = producers.into_iter().map(|p| p.join().unwrap()).sum();
    drain(usize::MAX);
    assert_eq!(received, PRODUCERS * PER_PRODUCER);
    assert!(waits > 0, "the ring never filled: nothing waited");
    assert_eq!(hub.stats().refused, u64::from(waits));
    assert_eq!(hub.stats().delivered, u64::from(PRODUCERS * PER_PRODUCER));
}

#[test]
fn drain_batch_wakes_waiting_producers_too() {
    let hub = common::hub_hearing_all(2, Overflow::Reject);
    let emitter = hub.emitter();
    let producer = thread::spawn(move || {
        for i in 0..2_000u32 {
            if let Err(EmitError::Full { .. }) = emitter.emit_raw("e", &i.to_le_bytes()) {
                assert_eq!(
                    emitter.wait_for_room(PATIENCE),
                    Ok(true),
                    "a wait timed out"
                );
                // The only producer: the room the wait saw is still there.
                emitter
                    .emit_raw("e", &i.to_le_bytes())
                    .expect("the wait said there was room");
            }
        }
    });
    let mut buffer = Vec::new();
    let mut drain = || {
        let drained = hub.drain_batch(DrainLimits::default(), |len| {
            buffer.resize(len, 0);
            Ok::<_, ()>(&mut buffer[..])
        });
        assert!(drained.is_ok());
    };
    // `delivered` counts ring events only (a batch also holds the hub's
    // liveness events). A producer that gave up (its wait timed out) ends
    // the loop, and its panic fails the test.
    while hub.stats().delivered < 2_000 && !producer.is_finished() {
        drain();
    }
    producer.join().unwrap();
    while hub.stats().delivered < 2_000 {
        drain();
    }
}

#[test]
fn closing_the_hub_ends_every_wait_with_closed() {
    let hub = common::hub_hearing_all(1, Overflow::Reject);
    hub.emitter().emit_raw("e", b"fills the ring").unwrap();
    let waiting: Vec<_> = (0..3)
        .map(|_| {
            let emitter = hub.emitter();
            thread::spawn(move || emitter.wait_for_room(PATIENCE))
        })
        .collect();
    // Gives the threads time to park; closing before they do is tested too
    // (they then find the hub closed), so this is no assertion on timing.
    thread::sleep(Duration::from_millis(20));
    hub.close_now();
    for thread in waiting {
        assert_eq!(thread.join().unwrap(), Err(EmitError::Closed));
    }
    assert_eq!(
        hub.emitter().wait_for_room(PATIENCE),
        Err(EmitError::Closed)
    );
}

#[test]
fn a_wait_nobody_drains_for_times_out_and_drop_oldest_never_waits() {
    let hub = common::hub_hearing_all(1, Overflow::Reject);
    let emitter = hub.emitter();
    emitter.emit_raw("e", b"fills the ring").unwrap();
    assert_eq!(emitter.wait_for_room(Duration::from_millis(10)), Ok(false));
    let mut batch = Vec::new();
    hub.drain(&mut batch, DrainLimits::default());
    assert_eq!(emitter.wait_for_room(Duration::ZERO), Ok(true));

    let dropping = common::hub_hearing_all(1, Overflow::DropOldest);
    let emitter = dropping.emitter();
    emitter.emit_raw("e", b"fills the ring").unwrap();
    assert_eq!(emitter.wait_for_room(PATIENCE), Ok(true));
}
