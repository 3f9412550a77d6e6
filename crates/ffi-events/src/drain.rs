//! The consumer's side of the hub: one pass from the ring to a batch.
//!
//! A drain claims ring events with one CAS ([`Ring::claim`]), plans the
//! batch while it reads them where they lie (names, routes and whether
//! anyone hears each, under one registry lock), asks its caller for a
//! buffer of the exact size, writes the events into it and frees their
//! slots. Nothing is moved out of the ring and, once warm, nothing is
//! allocated. Claimed events past the drain's limits stay claimed for the
//! next drain.

use std::sync::atomic::Ordering;
use std::sync::MutexGuard;

use crate::event::Event;
use crate::hub::{DrainLimits, Drained, Hub, Shared};
use crate::liveness::Liveness;
use crate::registry::Routes;
use crate::ring::Claim;
use crate::wire::BatchEncoder;

/// One event of a planned drain, in delivery order.
#[derive(Debug, Clone, Copy)]
enum Item {
    /// A ring event at this claimed position, in the batch.
    Ring(usize),
    /// A ring event nobody hears: taken, counted, not in the batch.
    Unheard(usize),
    /// The next of the drain's other events (`DrainState::extras`): liveness
    /// events, spilled reports and replies, a lost-reports notice.
    Extra,
}

/// What only the consumer touches, kept from drain to drain.
#[derive(Default)]
pub(crate) struct DrainState {
    /// Claimed ring events not yet taken: the oldest is at `start`.
    held: Claim,
    items: Vec<Item>,
    extras: Vec<Event>,
    encoder: BatchEncoder,
}

impl DrainState {
    /// Plans `event` into the batch when anyone hears it (or `always`).
    fn keep(&mut self, event: &Event, always: bool, routes: &Routes<'_>) -> bool {
        plan_event(&mut self.encoder, event, always, routes)
    }

    /// Plans one of the drain's other events; it is always delivered.
    fn keep_extra(&mut self, event: Event, routes: &Routes<'_>) {
        self.keep(&event, true, routes);
        self.extras.push(event);
        self.items.push(Item::Extra);
    }

    /// Plans the liveness events waiting in `liveness`.
    fn keep_liveness(&mut self, liveness: &Liveness, routes: &Routes<'_>) {
        let from = self.extras.len();
        liveness.take_pending(&mut self.extras);
        for event in &self.extras[from..] {
            plan_event(&mut self.encoder, event, true, routes);
            self.items.push(Item::Extra);
        }
    }
}

/// Adds `event` to the batch `encoder` plans when anyone hears its name (or
/// `always`); whether it was added.
fn plan_event(
    encoder: &mut BatchEncoder,
    event: &Event,
    always: bool,
    routes: &Routes<'_>,
) -> bool {
    let Some(index) = encoder.name_index(event.name_bytes(), always, routes) else {
        return false;
    };
    encoder.push(index, event.bytes().len());
    true
}

impl Shared {
    fn drain_state(&self) -> MutexGuard<'_, DrainState> {
        // Only the consumer locks it; a panic mid-drain leaves nothing a
        // later drain cannot start over from.
        self.drain_state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Plans one drain into `state`: which events it takes, in order, and
    /// the batch they make. Returns `(taken, unheard)`.
    fn plan(&self, state: &mut DrainState, limits: DrainLimits) -> (usize, u64) {
        state.items.clear();
        state.extras.clear();
        state.encoder.reset();
        let queued = self.ring.len() + state.held.len;
        if self.drains.high_water.load(Ordering::Relaxed) < queued {
            self.drains.high_water.fetch_max(queued, Ordering::Relaxed);
        }
        let routes = self.registry.routes();
        state.keep_liveness(&self.liveness, &routes);
        let (max_events, max_bytes) = (limits.max_events.max(1), limits.max_bytes.max(1));
        let mut taken = 0usize;
        let mut unheard = 0u64;
        let mut bytes = 0usize;
        let mut spilled = None;
        while taken < max_events && bytes < max_bytes {
            if state.held.len == 0 {
                state.held = self.ring.claim(max_events - taken);
                if state.held.len == 0 {
                    break;
                }
            }
            let pos = state.held.start;
            // SAFETY: claimed by this consumer, not yet taken.
            let event = unsafe { self.ring.value(pos) };
            // What spilled goes before the first ring event with a later
            // sequence number. The spill queue is looked at again for every
            // ring event: a thread whose report spilled during this drain
            // and whose next event took the ring sees them in that order.
            loop {
                spilled = spilled.or_else(|| self.pop_spilled());
                match spilled.take_if(|e| e.seq() < event.seq()) {
                    Some(early) => {
                        state.keep_extra(early, &routes);
                        taken += 1;
                    }
                    None => break,
                }
            }
            state.held.start = self.ring.next(pos);
            state.held.len -= 1;
            bytes += event.bytes().len();
            taken += 1;
            if state.keep(event, event.lane().is_report(), &routes) {
                state.items.push(Item::Ring(pos));
            } else {
                state.items.push(Item::Unheard(pos));
                unheard += 1;
            }
        }
        // The spill queue holds at most `REPORT_RESERVE` reports and the
        // replies of the requests in flight: take it whole.
        while let Some(early) = spilled.take().or_else(|| self.pop_spilled()) {
            state.keep_extra(early, &routes);
            taken += 1;
        }
        if let Some(notice) = self.take_lost_notice() {
            state.keep_extra(notice, &routes);
        }
        self.held.store(state.held.len, Ordering::Relaxed);
        if state.held.len == 0
            && self.ring.is_empty()
            && self.liveness.on_drained(self.overflowed())
        {
            state.keep_liveness(&self.liveness, &routes);
        }
        (taken, unheard)
    }

    /// Counts a planned drain and ends it: whether the consumer must drain
    /// again (see [`Drained::more`]).
    fn finish_plan(
        &self,
        state: &DrainState,
        taken: usize,
        unheard: u64,
        limits: DrainLimits,
    ) -> Drained {
        self.drains
            .delivered
            .fetch_add(taken as u64, Ordering::Relaxed);
        if unheard > 0 {
            self.drains.unheard.fetch_add(unheard, Ordering::Relaxed);
        }
        let events = state.encoder.events();
        if events > 0 {
            self.drains.batches.fetch_add(1, Ordering::Relaxed);
        }
        // Lingers only after more than one event (see `DrainLimits::linger`).
        // `taken`, not `events`: a liveness event or the lost-reports notice
        // next to one ring event must not make it linger; unheard ring events
        // (not in `events`) count.
        let busy = state.held.len > 0 || !self.ring.is_empty() || (limits.linger && taken > 1);
        let more = self.wakeup.end_of_drain(busy, || self.waiting());
        Drained { events, more }
    }
}

impl Hub {
    /// Moves waiting events into `out`: liveness events first, then ring
    /// events oldest first, within `limits`. Ring events whose name has no
    /// listener in the [`Registry`](crate::Registry) (and no listener of
    /// every event) are taken but left out: they count as delivered and as
    /// [`Stats::unheard`](crate::Stats::unheard). Reports from sinks are
    /// always handed over: the ones that found the ring full (the report
    /// reserve) all go in this drain, each before the first ring event with
    /// a later sequence number, and a notice of lost reports follows them.
    ///
    /// Call it from one thread at a time (the consumer's). When the ring is
    /// left empty, a queue-full episode ends and its `responding` event is
    /// appended last. [`Hub::drain_batch`] does the same into one buffer in
    /// the batch format, without moving events out of the ring.
    pub fn drain(&self, out: &mut Vec<Event>, limits: DrainLimits) -> Drained {
        let hub = &*self.shared;
        let mut state = hub.drain_state();
        let (taken, unheard) = hub.plan(&mut state, limits);
        let drained = hub.finish_plan(&state, taken, unheard, limits);
        let DrainState { items, extras, .. } = &mut *state;
        let mut extras = extras.drain(..);
        let mut freed = false;
        for item in items.drain(..) {
            freed |= !matches!(item, Item::Extra);
            match item {
                // SAFETY: claimed and planned by this drain, taken once.
                Item::Ring(pos) => out.push(unsafe { hub.ring.take(pos) }),
                // SAFETY: as above.
                Item::Unheard(pos) => unsafe { hub.ring.release(pos) },
                Item::Extra => out.extend(extras.next()),
            }
        }
        if freed {
            hub.room.notify();
        }
        drained
    }

    /// Drains like [`Hub::drain`], straight into one buffer in the batch
    /// format (`wire.rs`): `alloc` gets the batch's exact size and returns
    /// the buffer to write, or an error that this returns after counting
    /// the drained events as discarded (and letting the next event wake the
    /// consumer). A batch may hold no event and only say "drain again"
    /// ([`Drained::more`]). `Ok(None)` when there was nothing to deliver and
    /// nothing more is coming: `alloc` was not called.
    ///
    /// # Errors
    /// What `alloc` returned.
    pub fn drain_batch<'b, E>(
        &self,
        limits: DrainLimits,
        alloc: impl FnOnce(usize) -> Result<&'b mut [u8], E>,
    ) -> Result<Option<Drained>, E> {
        let hub = &*self.shared;
        let mut state = hub.drain_state();
        let (taken, unheard) = hub.plan(&mut state, limits);
        let drained = hub.finish_plan(&state, taken, unheard, limits);
        let out = if drained.events == 0 && !drained.more {
            Ok(None)
        } else {
            alloc(state.encoder.len()).map(Some)
        };
        let DrainState {
            items,
            extras,
            encoder,
            ..
        } = &mut *state;
        let result = match out {
            Ok(Some(out)) => {
                let mut extras = extras.iter();
                let events = items.iter().filter_map(|item| match *item {
                    // SAFETY: claimed and planned by this drain, not yet
                    // released.
                    Item::Ring(pos) => Some(unsafe { hub.ring.value(pos) }),
                    Item::Unheard(_) => None,
                    Item::Extra => extras.next(),
                });
                encoder.write(events, drained.more, out);
                Ok(Some(drained))
            }
            Ok(None) => Ok(None),
            Err(error) => {
                let lost = items
                    .iter()
                    .filter(|item| matches!(item, Item::Ring(_)))
                    .count()
                    + extras.iter().filter(|e| e.seq() != 0).count();
                self.report_undelivered(lost);
                // No batch reaches the consumer, so no poll follows: let
                // producers wake it.
                self.rearm();
                Err(error)
            }
        };
        let mut freed = false;
        for item in items.drain(..) {
            if let Item::Ring(pos) | Item::Unheard(pos) = item {
                // SAFETY: claimed and planned by this drain; released once.
                unsafe { hub.ring.release(pos) };
                freed = true;
            }
        }
        if freed {
            hub.room.notify();
        }
        // Event memory is freed here, on the consumer's thread.
        extras.clear();
        result
    }
}

#[cfg(test)]
mod tests {
    use crate::{DrainLimits, EmitError, Filter, Hub, HubConfig, Lane, FLAG_MORE, HEADER_BYTES};

    fn hub(capacity: usize) -> Hub {
        Hub::new(HubConfig {
            capacity,
            stall_timeout: None,
            ..HubConfig::default()
        })
        .unwrap()
    }

    fn u32_at(buf: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(buf[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn events_past_max_bytes_stay_claimed_queued_and_come_first_next_time() {
        let hub = hub(4);
        hub.registry().add(Filter::Any).unwrap();
        let emitter = hub.emitter();
        for i in 0..4u8 {
            emitter.emit_raw("e", &[i; 10]).unwrap();
        }
        let limits = DrainLimits {
            max_bytes: 15,
            ..DrainLimits::default()
        };
        let mut out = Vec::new();
        let first = hub.drain(&mut out, limits);
        assert_eq!(
            first.events, 2,
            "the byte limit is checked before each event"
        );
        assert!(first.more, "claimed events remain");
        assert_eq!(hub.stats().queued, 2);
        // The two claimed slots are still taken: two more fit, not four.
        for i in 4..6u8 {
            emitter.emit_raw("e", &[i; 10]).unwrap();
        }
        assert!(matches!(
            emitter.emit_raw("e", &[9; 10]),
            Err(EmitError::Full { .. })
        ));
        let second = hub.drain(&mut out, DrainLimits::default());
        // With the refusal's `not_responding` before them and `responding`
        // after them.
        assert_eq!(second.events, 6);
        let names: Vec<&str> = out[2..].iter().map(|e| e.name()).collect();
        assert_eq!(names, ["not_responding", "e", "e", "e", "e", "responding"]);
        out.retain(|e| e.name() == "e");
        let firsts: Vec<u8> = out.iter().map(|e| e.bytes()[0]).collect();
        assert_eq!(firsts, vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(hub.stats().queued, 0);
    }

    #[test]
    fn drain_batch_writes_what_drain_takes_with_routes_and_leaves_out_the_unheard() {
        let hub = hub(16);
        let a = hub.registry().add(Filter::Name("a".into())).unwrap();
        let emitter = hub.emitter();
        emitter.emit_raw("a", &[1]).unwrap();
        emitter.emit_raw("nobody", &[2]).unwrap();
        emitter.emit("a", &3u8).unwrap();
        let mut buffer = Vec::new();
        let drained = hub
            .drain_batch(DrainLimits::default(), |len| {
                buffer.resize(len, 0xee);
                Ok::<_, ()>(&mut buffer[..])
            })
            .unwrap()
            .unwrap();
        assert_eq!(drained.events, 2);
        assert_eq!([u32_at(&buffer, 0), u32_at(&buffer, 4)], [2, 1], "n, k");
        assert_eq!(u32_at(&buffer, 8) & FLAG_MORE, 0);
        let tags = HEADER_BYTES + 12 * 2;
        assert_eq!(u32_at(&buffer, tags) & 7, Lane::Raw as u32);
        assert_eq!(u32_at(&buffer, tags + 4) & 7, Lane::Cbor as u32);
        let route = HEADER_BYTES + 16 * 2 + 8;
        let id = f64::from_le_bytes(buffer[route..route + 8].try_into().unwrap());
        assert_eq!(id, a.get() as f64);
        assert_eq!(
            &buffer[route + 8..],
            &[b'a', 1, 3],
            "the name, then the payloads"
        );
        let stats = hub.stats();
        assert_eq!((stats.delivered, stats.unheard, stats.queued), (3, 1, 0));
        assert!(hub
            .drain_batch(DrainLimits::default(), |_| Err(()))
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_batch_that_cannot_be_allocated_is_counted_discarded_and_frees_its_slots() {
        let hub = hub(2);
        hub.registry().add(Filter::Any).unwrap();
        let emitter = hub.emitter();
        emitter.emit_raw("e", &[1]).unwrap();
        emitter.emit_raw("e", &[2]).unwrap();
        assert_eq!(
            hub.drain_batch(DrainLimits::default(), |_| Err("no memory")),
            Err("no memory")
        );
        let stats = hub.stats();
        assert_eq!((stats.delivered, stats.discarded, stats.queued), (0, 2, 0));
        emitter.emit_raw("e", &[3]).unwrap();
        emitter.emit_raw("e", &[4]).unwrap();
        let mut out = Vec::new();
        assert_eq!(hub.drain(&mut out, DrainLimits::default()).events, 2);
    }
}
