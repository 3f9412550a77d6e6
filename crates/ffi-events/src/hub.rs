//! The hub: one registry, one ring, one consumer.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use crossbeam_queue::SegQueue;
use crossbeam_utils::CachePadded;

use crate::clock::Clock;
use crate::config::{HubConfig, Overflow};
use crate::drain::DrainState;
use crate::emitter::Emitter;
use crate::error::{ConfigError, EmitError, SpawnError};
use crate::event::{Event, Lane};
use crate::gate::Gate;
use crate::liveness::Liveness;
use crate::registry::Registry;
use crate::ring::Ring;
use crate::room::RoomWaiters;
use crate::stats::Stats;
use crate::wakeup::Wakeup;
use crate::workers::{StopToken, Workers};

/// Reports a hub keeps when its ring is full, beyond which a report is lost
/// (counted, and announced with the last lost report's text).
pub const REPORT_RESERVE: usize = 64;

/// Wakes the consumer; implemented by the binding (a Node threadsafe
/// function) or by a test.
///
/// The hub calls it at most once per idle-to-busy transition: after a wake-up
/// the consumer is expected to call [`Hub::drain`] until it returns
/// `more == false`, and no further wake-up arrives before that.
pub trait Notify: Send + Sync {
    /// Schedules a drain on the consumer's thread. Returns false when the
    /// consumer is gone or shutting down; the hub counts that in
    /// [`Stats::wake_failures`].
    fn notify(&self) -> bool;
}

/// How much one [`Hub::drain`] takes at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainLimits {
    /// Events per drain (liveness events not counted).
    pub max_events: usize,
    /// Bytes per drain; a single larger event is still taken whole.
    pub max_bytes: usize,
    /// Stay awake after a drain that took more than one event, even when it
    /// emptied the ring: [`Drained::more`] is then true, and only a drain
    /// that takes at most one event and leaves none behind lets the next
    /// event wake the consumer. Under sustained load drains take many
    /// events, producers skip the wake-up entirely and batches grow; the
    /// cost is one empty drain at the end of each busy period. A drain that
    /// took a single event does not linger: under a slow paced producer
    /// every drain takes one, and the extra poll would find nothing after
    /// each of them (at 10,000 paced events/s, lingering after every drain
    /// put the p99 latency at 470–991 µs; this rule, at 113–370 µs).
    /// Liveness events and the lost-reports notice do not count; ring events
    /// nobody hears, and spilled reports and replies, do.
    pub linger: bool,
}

impl Default for DrainLimits {
    fn default() -> Self {
        DrainLimits {
            max_events: 4096,
            max_bytes: 4 << 20,
            linger: false,
        }
    }
}

/// What [`Hub::drain`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Events appended to the output, liveness events included.
    pub events: usize,
    /// True when the caller must drain again (soon, but it may yield to
    /// other work first): events remain, or [`DrainLimits::linger`] kept the
    /// consumer awake. No wake-up comes until it does.
    pub more: bool,
}

/// Counters the consumer writes on every drain, on a cache line of their own
/// so that producers' atomics (gate, sequence numbers) never share it.
#[derive(Default)]
pub(crate) struct DrainCounters {
    pub(crate) delivered: AtomicU64,
    /// Of `delivered`: events no listener heard, left out of the batch.
    pub(crate) unheard: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) high_water: AtomicUsize,
}

pub(crate) struct Shared {
    pub(crate) config: HubConfig,
    /// Padded: its own fields (buffer pointer, capacity) are read by every
    /// push and pop, and must not share a line with the counters and the
    /// notify slot that wake-ups write (unpadded, `emit_raw` with a draining
    /// consumer ran 3–4 times slower in most runs).
    pub(crate) ring: CachePadded<Ring<Event>>,
    /// The consumer's own state (claimed events, scratch space); locked
    /// only by the consumer.
    pub(crate) drain_state: Mutex<DrainState>,
    /// Events the consumer claimed and has not taken yet: still queued.
    pub(crate) held: AtomicUsize,
    gate: Gate,
    /// The next sequence number; `next_seq - 1` is the emitted count.
    next_seq: CachePadded<AtomicU64>,
    /// Offers refused because the ring was full (one per attempt).
    refused: CachePadded<AtomicU64>,
    /// Accepted events that never reached the consumer: pushed out by
    /// `DropOldest`, or drained while the consumer was shutting down.
    discarded: AtomicU64,
    /// Reports (library errors, malformed input) and replies to requests
    /// that the ring would not hold; see [`Shared::spill`].
    spilled: SegQueue<Event>,
    /// Reports in `spilled`, at most [`REPORT_RESERVE`].
    spilled_reports: AtomicUsize,
    /// Reports lost because the ring and the report reserve were both full
    /// (also counted in `refused`, or in `discarded` when `DropOldest`
    /// pushed them out of the ring).
    reports_lost: AtomicU64,
    /// Reports lost since the consumer last heard of it: the count of its
    /// next `ReportsLost` notice.
    reports_unannounced: AtomicU64,
    /// The last lost report, for the notice's text. `try_lock` only: a
    /// producer never waits for it.
    lost_notice: Mutex<Option<Event>>,
    /// The wake-up handshake (`wakeup.rs`): who owns the consumer's
    /// wake-up. Producers claim it after their push, drains release it.
    pub(crate) wakeup: CachePadded<Wakeup>,
    pub(crate) drains: CachePadded<DrainCounters>,
    /// Producers parked in [`Emitter::wait_for_room`](crate::Emitter::wait_for_room).
    pub(crate) room: RoomWaiters,
    wakeups: AtomicU64,
    wake_failures: AtomicU64,
    /// Cleared by `detach` so that a closed hub releases its consumer even
    /// while producers still hold emitters.
    notify: Mutex<Option<Arc<dyn Notify>>>,
    pub(crate) liveness: Liveness,
    pub(crate) registry: Registry,
    workers: Workers,
    watchdog_started: AtomicBool,
    clock: Clock,
}

impl Shared {
    fn notify_slot(&self) -> MutexGuard<'_, Option<Arc<dyn Notify>>> {
        self.notify.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.gate.is_closed()
    }

    pub(crate) fn now_ns(&self) -> u64 {
        self.clock.now_ns()
    }

    /// Wakes the consumer unless a wake-up is already pending. Called after
    /// the work it announces is visible (see `Wakeup::claim`).
    fn wake(&self) {
        if self.wakeup.claim() {
            self.send_wakeup();
        }
    }

    /// Sends the wake-up this thread claimed.
    fn send_wakeup(&self) {
        let notify = self.notify_slot().clone();
        if let Some(notify) = notify {
            self.wakeups.fetch_add(1, Ordering::Relaxed);
            if !notify.notify() {
                self.wake_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Whether anything waits for the consumer: ring events, reserved
    /// reports or liveness events. What the consumer looks at after
    /// releasing its wake-up.
    pub(crate) fn waiting(&self) -> bool {
        self.held.load(Ordering::Relaxed) > 0
            || !self.ring.is_empty()
            || !self.spilled.is_empty()
            || self.liveness.has_pending()
            || self.lost_notice_pending()
    }

    /// The notice of the reports lost since the last notice, if any.
    pub(crate) fn take_lost_notice(&self) -> Option<Event> {
        let lost = self.reports_unannounced.swap(0, Ordering::Acquire);
        if lost == 0 {
            return None;
        }
        let last = self
            .lost_notice
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        Some(Event::reports_lost(lost, last.as_ref()))
    }

    fn lost_notice_pending(&self) -> bool {
        self.reports_unannounced.load(Ordering::Acquire) > 0
    }

    /// Overflow losses so far (refused offers and discarded events): what
    /// liveness events report.
    pub(crate) fn overflowed(&self) -> u64 {
        self.refused.load(Ordering::Relaxed) + self.discarded.load(Ordering::Relaxed)
    }

    /// Queues a built event; the common tail of every emit, reports and
    /// replies included.
    ///
    /// What the ring cannot hold is refused (`Reject`) or pushes the oldest
    /// out (`DropOldest`), except reports and replies: they spill into the
    /// spill queue (see [`Shared::spill`]) instead of being refused or
    /// pushed out, and a reply never pushes an event out either. Reports
    /// and replies are sized by their producers (a report's text is cut, a
    /// reply too large is flagged), so the size limit is for events only.
    pub(crate) fn offer(&self, mut event: Event) -> Result<u64, EmitError> {
        let lane = event.lane();
        let len = event.wire_len();
        if !lane.is_report() && len > self.config.max_event_bytes {
            return Err(EmitError::TooLarge {
                len,
                max: self.config.max_event_bytes,
            });
        }
        let _pass = self.gate.enter().ok_or(EmitError::Closed)?;
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        event.set_seq(seq);
        if self.config.overflow == Overflow::DropOldest && lane != Lane::Reply {
            let pushed = self.ring.force_push(event, |oldest| {
                if !self.spill(oldest) {
                    self.discarded.fetch_add(1, Ordering::Relaxed);
                    self.on_overflow();
                }
            });
            // The consumer holds every queued event: this one is the
            // oldest that can go.
            if let Err(newest) = pushed {
                if !self.spill(newest) {
                    self.discarded.fetch_add(1, Ordering::Relaxed);
                    self.on_overflow();
                }
            }
        } else if let Err(refused) = self.ring.push(event) {
            if !self.spill(refused) {
                return Err(self.refuse(seq));
            }
        }
        self.wake();
        Ok(seq)
    }

    /// Keeps a report or a reply the ring would not hold (or pushed out):
    /// into the spill queue, which drains take whole, each before the first
    /// ring event with a later sequence number. Replies always fit (each
    /// request replies once, so they never outnumber the requests in
    /// flight); reports up to [`REPORT_RESERVE`] at a time, past which a
    /// report is lost (counted, and announced with its text). False for an
    /// event, or a lost report: the caller counts it.
    fn spill(&self, event: Event) -> bool {
        match event.lane() {
            Lane::Reply => {}
            lane if lane.is_report() => {
                if self.spilled_reports.fetch_add(1, Ordering::AcqRel) >= REPORT_RESERVE {
                    self.spilled_reports.fetch_sub(1, Ordering::AcqRel);
                    self.lose_report(event);
                    return false;
                }
            }
            _ => return false,
        }
        self.spilled.push(event);
        true
    }

    /// The next spilled report or reply, if any.
    pub(crate) fn pop_spilled(&self) -> Option<Event> {
        // A drain asks once per ring event, and the queue is nearly always
        // empty: `is_empty` is two loads where `pop` starts with a full
        // fence. A report spilled before its thread's later ring push is
        // seen here: the drain acquired that push's slot stamp.
        if self.spilled.is_empty() {
            return None;
        }
        let event = self.spilled.pop()?;
        if event.lane() != Lane::Reply {
            self.spilled_reports.fetch_sub(1, Ordering::AcqRel);
        }
        Some(event)
    }

    /// Counts a report lost for want of room anywhere, and keeps its text
    /// for the notice (best effort: a producer never waits for the lock;
    /// the count is exact either way).
    fn lose_report(&self, lost: Event) {
        self.reports_lost.fetch_add(1, Ordering::Relaxed);
        self.reports_unannounced.fetch_add(1, Ordering::Release);
        if let Ok(mut last) = self.lost_notice.try_lock() {
            *last = Some(lost);
        }
    }

    /// Refuses an emit at once when the ring is full under
    /// `Overflow::Reject`, before its event is built: an overloaded producer
    /// then pays no encoding, no allocation and no copy. It passes the gate
    /// like any emit, takes its sequence number and counts as refused.
    /// `None` when the emit should go on; `Closed` once the hub is closed
    /// (its ring may stay full).
    pub(crate) fn refuse_if_full(&self) -> Option<EmitError> {
        if self.config.overflow != Overflow::Reject || !self.ring.is_full() {
            return None;
        }
        // The gate still: a refused emit takes a sequence number, and no
        // number may be taken once `close` returned.
        let Some(_pass) = self.gate.enter() else {
            return Some(EmitError::Closed);
        };
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        Some(self.refuse(seq))
    }

    /// Counts the emit numbered `seq` as refused on a full ring and returns
    /// its `Full`. The events that fill the ring were announced by their
    /// producers; only a liveness event this refusal queues needs a
    /// wake-up.
    fn refuse(&self, seq: u64) -> EmitError {
        self.refused.fetch_add(1, Ordering::Relaxed);
        if self.on_overflow() {
            self.wake();
        }
        EmitError::Full { seq }
    }

    /// Notes an overflow loss (already counted); true when it started a
    /// queue-full episode (a liveness event is now pending).
    fn on_overflow(&self) -> bool {
        let overflowed = self.overflowed();
        let capacity = self.ring.capacity();
        // A read first: under overload every emit drops, and an unconditional
        // read-modify-write would bounce this cache line between producers.
        if self.drains.high_water.load(Ordering::Relaxed) < capacity {
            self.drains
                .high_water
                .fetch_max(capacity, Ordering::Relaxed);
        }
        self.liveness.on_overflow(capacity, overflowed)
    }

    pub(crate) fn heartbeat(self: &Arc<Self>) -> Result<(), EmitError> {
        if self.is_closed() {
            return Err(EmitError::Closed);
        }
        if self
            .liveness
            .on_beat(self.now_ns(), self.ring.len(), self.overflowed())
        {
            self.wake();
        }
        if let Some(timeout) = self.config.stall_timeout {
            if !self.watchdog_started.load(Ordering::Acquire)
                && !self.watchdog_started.swap(true, Ordering::AcqRel)
                && self.start_watchdog(timeout).is_err()
            {
                // Try again on the next beat.
                self.watchdog_started.store(false, Ordering::Release);
            }
        }
        Ok(())
    }

    fn start_watchdog(self: &Arc<Self>, timeout: Duration) -> Result<u64, SpawnError> {
        let hub = Arc::downgrade(self);
        let period = (timeout / 4).clamp(Duration::from_millis(1), Duration::from_millis(250));
        self.workers.spawn("ffi-events-watchdog", move |stop| {
            watch_for_stalls(&hub, &stop, timeout, period)
        })
    }
}

fn watch_for_stalls(hub: &Weak<Shared>, stop: &StopToken, timeout: Duration, period: Duration) {
    let timeout_ns = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
    while stop.sleep(period) {
        let Some(hub) = hub.upgrade() else { return };
        if hub
            .liveness
            .check_stall(hub.now_ns(), timeout_ns, hub.ring.len(), hub.overflowed())
        {
            hub.wake();
        }
    }
}

/// A bounded, non-blocking event hub with a single consumer.
///
/// Producers hold [`Emitter`]s whose emits never block: a full ring refuses (or, with
/// [`Overflow::DropOldest`], replaces) an event and counts it. The consumer is
/// woken through a [`Notify`] once per idle-to-busy transition and takes
/// events in batches with [`Hub::drain`].
///
/// # Closing
/// [`Hub::close`] stops accepting events (emits return
/// [`EmitError::Closed`]), waits for emits in flight, and stops and joins
/// every thread started with [`Hub::spawn`]. Events accepted before that are
/// still in the ring for the consumer's last drains. Dropping the `Hub`
/// closes it.
///
/// # Examples
/// ```
/// use ffi_events::{DrainLimits, Filter, Hub, HubConfig};
/// let hub = Hub::new(HubConfig::default()).unwrap();
/// hub.registry().add(Filter::Name("tick".into())).unwrap();
/// let emitter = hub.emitter();
/// std::thread::spawn(move || {
///     emitter.emit("tick", &1u32)?;
///     // Nobody listens to "tock": drained, counted, not handed over.
///     emitter.emit("tock", &2u32)
/// })
/// .join()
/// .unwrap()
/// .unwrap();
/// let mut batch = Vec::new();
/// let drained = hub.drain(&mut batch, DrainLimits::default());
/// assert_eq!((drained.events, drained.more), (1, false));
/// assert_eq!(batch[0].name(), "tick");
/// let stats = hub.stats();
/// assert_eq!((stats.delivered, stats.unheard), (2, 1));
/// hub.close();
/// ```
pub struct Hub {
    pub(crate) shared: Arc<Shared>,
}

impl Hub {
    /// Builds a hub with an empty ring and registry and no consumer yet.
    ///
    /// # Errors
    /// [`ConfigError`] when `capacity` or `max_event_bytes` is out of range.
    pub fn new(config: HubConfig) -> Result<Hub, ConfigError> {
        // First: `clock_origin_ns` was read just before this call, and a
        // large ring takes milliseconds to allocate.
        let clock = Clock::new(config.clock_origin_ns, config.clock_hrtime);
        config.validate()?;
        let shared = Shared {
            ring: CachePadded::new(Ring::new(config.capacity)),
            drain_state: Mutex::default(),
            held: AtomicUsize::new(0),
            clock,
            config,
            gate: Gate::default(),
            next_seq: CachePadded::new(AtomicU64::new(1)),
            refused: CachePadded::default(),
            discarded: AtomicU64::new(0),
            spilled: SegQueue::new(),
            spilled_reports: AtomicUsize::new(0),
            reports_lost: AtomicU64::new(0),
            reports_unannounced: AtomicU64::new(0),
            lost_notice: Mutex::new(None),
            wakeup: CachePadded::default(),
            drains: CachePadded::default(),
            room: RoomWaiters::default(),
            wakeups: AtomicU64::new(0),
            wake_failures: AtomicU64::new(0),
            notify: Mutex::new(None),
            liveness: Liveness::default(),
            registry: Registry::new(),
            workers: Workers::default(),
            watchdog_started: AtomicBool::new(false),
        };
        Ok(Hub {
            shared: Arc::new(shared),
        })
    }

    /// Sets the consumer's wake-up; events queued before this are announced
    /// by the first emit after it.
    pub fn attach(&self, notify: Arc<dyn Notify>) {
        *self.shared.notify_slot() = Some(notify);
        if self.shared.waiting() {
            self.shared.wakeup.reset();
            self.shared.wake();
        }
    }

    /// Drops the consumer's wake-up; no more wake-ups are sent.
    pub fn detach(&self) {
        let notify = self.shared.notify_slot().take();
        drop(notify);
    }

    /// A new producer handle.
    pub fn emitter(&self) -> Emitter {
        Emitter::new(self.shared.clone())
    }

    /// The hub's listener registry.
    pub fn registry(&self) -> &Registry {
        &self.shared.registry
    }

    /// The configuration the hub was built with.
    pub fn config(&self) -> &HubConfig {
        &self.shared.config
    }

    /// Lets the next event wake the consumer again. For a consumer that
    /// gives up on a drain it was woken for (it could not take the batch):
    /// after a lingering drain no wake-up would come otherwise. Wakes it at
    /// once if events are already waiting.
    pub fn rearm(&self) {
        let hub = &*self.shared;
        if hub.wakeup.rearm(|| hub.waiting()) {
            hub.send_wakeup();
        }
    }

    /// Records that `events` drained events never reached the consumer (it
    /// failed to take them, for example while shutting down): they move
    /// from `delivered` to `discarded`, so the books still balance.
    pub fn report_undelivered(&self, events: usize) {
        let events = events as u64;
        self.shared
            .drains
            .delivered
            .fetch_sub(events, Ordering::Relaxed);
        self.shared.discarded.fetch_add(events, Ordering::Relaxed);
    }

    /// Starts a thread the hub owns. It gets a new [`Emitter`] and a
    /// [`StopToken`]; [`Hub::close`] (or [`SourceHandle::stop`]) asks it to
    /// stop and joins it.
    ///
    /// # Errors
    /// [`SpawnError::Closed`] after `close`, [`SpawnError::Os`] when the OS
    /// refuses a thread.
    pub fn spawn<F>(&self, name: &str, body: F) -> Result<SourceHandle, SpawnError>
    where
        F: FnOnce(Emitter, StopToken) + Send + 'static,
    {
        let emitter = self.emitter();
        let id = self
            .shared
            .workers
            .spawn(name, move |stop| body(emitter, stop))?;
        Ok(SourceHandle {
            hub: Arc::downgrade(&self.shared),
            id,
        })
    }

    /// Threads started with [`Hub::spawn`] that have not finished.
    pub fn running_threads(&self) -> usize {
        self.shared.workers.running()
    }

    /// Stops accepting events, waits for emits in flight, and stops and
    /// joins the hub's threads. Idempotent. Events already accepted stay
    /// queued for [`Hub::drain`].
    ///
    /// An emit never blocks, but a producer thread the OS preempted in the
    /// middle of one keeps this waiting until it runs again. A consumer that
    /// must never wait for producer threads (the Node binding's JS thread)
    /// calls [`Hub::close_now`] instead.
    pub fn close(&self) {
        self.shared.gate.close();
        self.shared.room.notify();
        self.shared.workers.stop_all();
    }

    /// Stops accepting events and stops and joins the hub's threads, without
    /// waiting for emits in flight: an emit that got in before this call may
    /// still land in the ring after it returns. [`Hub::is_settled`] says
    /// when none can any more; drain after that to take everything.
    /// Idempotent.
    ///
    /// # Examples
    /// ```
    /// use ffi_events::{DrainLimits, Hub, HubConfig};
    /// let hub = Hub::new(HubConfig::default()).unwrap();
    /// hub.close_now();
    /// // Poll (without blocking) until no emit is in flight, then drain.
    /// while !hub.is_settled() {
    ///     std::thread::yield_now();
    /// }
    /// let mut last = Vec::new();
    /// hub.drain(&mut last, DrainLimits::default());
    /// ```
    pub fn close_now(&self) {
        self.shared.gate.close_now();
        self.shared.room.notify();
        self.shared.workers.stop_all();
    }

    /// After [`Hub::close_now`] (or [`Hub::close`]): whether every emit that
    /// got in has finished, so that nothing more will reach the ring. False
    /// while the hub is open.
    pub fn is_settled(&self) -> bool {
        self.shared.is_closed() && !self.shared.gate.in_flight()
    }

    /// Whether [`Hub::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// A snapshot of the hub's counters.
    pub fn stats(&self) -> Stats {
        let hub = &*self.shared;
        // Read the outcomes before `next_seq` so that a concurrent emit can
        // only make `emitted` look larger, never smaller.
        let delivered = hub.drains.delivered.load(Ordering::Acquire);
        let refused = hub.refused.load(Ordering::Acquire);
        let discarded = hub.discarded.load(Ordering::Acquire);
        let queued = hub.ring.len() + hub.held.load(Ordering::Relaxed) + hub.spilled.len();
        Stats {
            capacity: hub.ring.capacity(),
            queued,
            high_water: hub.drains.high_water.load(Ordering::Relaxed),
            emitted: hub.next_seq.load(Ordering::Acquire) - 1,
            delivered,
            unheard: hub.drains.unheard.load(Ordering::Relaxed),
            refused,
            discarded,
            reports_lost: hub.reports_lost.load(Ordering::Relaxed),
            batches: hub.drains.batches.load(Ordering::Relaxed),
            wakeups: hub.wakeups.load(Ordering::Relaxed),
            wake_failures: hub.wake_failures.load(Ordering::Relaxed),
            stuck: hub.liveness.is_stuck(),
            closed: hub.is_closed(),
        }
    }
}

impl Drop for Hub {
    /// Closes without waiting for emits in flight: nobody drains a dropped
    /// hub, and a producer still inside an emit holds the shared state it
    /// uses.
    fn drop(&mut self) {
        self.close_now();
        self.detach();
    }
}

/// A thread started with [`Hub::spawn`].
#[derive(Debug, Clone)]
pub struct SourceHandle {
    hub: Weak<Shared>,
    id: u64,
}

impl SourceHandle {
    /// Asks the thread to stop and joins it. False when it had already
    /// finished or the hub is gone.
    pub fn stop(&self) -> bool {
        self.hub
            .upgrade()
            .is_some_and(|hub| hub.workers.stop(self.id))
    }

    /// Whether the thread is still running.
    pub fn is_running(&self) -> bool {
        self.hub
            .upgrade()
            .is_some_and(|hub| hub.workers.is_running(self.id))
    }
}
