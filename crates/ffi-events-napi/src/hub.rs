//! The `NativeHub` class.

use std::sync::Arc;

use ffi_events::{
    sink_table, DrainLimits, Emitter, Filter, Hub, Notify, Sink, SinkFormat, SourceHandle,
    StopToken,
};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::batch::Consumer;
use crate::errors::{config_error, emit_outcome, spawn_error};
use crate::options::HubOptions;
use crate::sink::NativeSink;
use crate::teardown::Hook;
use crate::wake::{self, TsfnWake};

/// Largest listener id JS numbers hold exactly.
const MAX_SAFE_ID: f64 = 9_007_199_254_740_991.0;

/// A snapshot of the hub's counters (see `ffi_events::Stats`).
#[napi(object)]
#[derive(Debug)]
pub struct HubStats {
    /// Ring capacity.
    pub capacity: u32,
    /// Events in the ring now, reserved reports included.
    pub queued: u32,
    /// Deepest the ring was seen.
    pub high_water: u32,
    /// Valid emits, accepted or not.
    pub emitted: f64,
    /// Events taken from the ring, `unheard` ones included.
    pub delivered: f64,
    /// Of `delivered`: events no listener heard, never copied into JS.
    pub unheard: f64,
    /// Offers refused because the ring was full (one per attempt).
    pub refused: f64,
    /// Accepted events that never reached JS (`dropOldest`, teardown).
    pub discarded: f64,
    /// Reports lost because the ring and the report reserve were full.
    pub reports_lost: f64,
    /// Calls to requests that were not their reply (a second call, or one
    /// after the request settled, timed out or was aborted).
    pub replies_ignored: f64,
    /// Batches handed to JS.
    pub batches: f64,
    /// Wake-ups of the JS thread.
    pub wakeups: f64,
    /// Wake-ups refused because the environment was shutting down.
    pub wake_failures: f64,
    /// Whether a liveness episode is on.
    pub stuck: bool,
    /// Whether the hub is closed.
    pub closed: bool,
    /// Native threads the hub owns that are still running.
    pub running_threads: u32,
}

/// One hub: registry, ring and delivery to this JS thread. Wrapped by the
/// TypeScript `EventHub`, which validates arguments before calling here.
#[napi(custom_finalize)]
pub struct NativeHub {
    consumer: Arc<Consumer>,
    /// For emits from JS, made once rather than per call.
    emitter: Emitter,
    /// `None` once released.
    wake: Option<Arc<TsfnWake>>,
    /// `None` once released.
    hook: Option<Hook>,
    /// What `ref()`/`unref()` asked for; the event loop is held only while
    /// this is true, listeners exist and the hub is open.
    wants_ref: bool,
    /// Whether the delivery function currently holds the event loop.
    holds_loop: bool,
    /// Whether requests wait for their reply: they hold the event loop as
    /// listeners do.
    requests_pending: bool,
    /// Bytes of native memory (the ring) reported to V8, so that its
    /// garbage collector counts what a forgotten hub keeps alive; given
    /// back when the object is finalized.
    external_bytes: i64,
}

#[napi]
impl NativeHub {
    /// Creates a hub that delivers batches to `deliver` on this thread.
    #[napi(constructor, ts_args_type = "options: HubOptions, deliver: () => void")]
    pub fn new(
        env: Env,
        options: HubOptions,
        deliver: Function<'_, Unknown<'static>, Unknown<'static>>,
    ) -> Result<Self> {
        let config = options.to_config()?;
        crate::trim::adapt_thresholds();
        let limits = DrainLimits {
            max_events: options
                .max_batch_events
                .map_or(DrainLimits::default().max_events, |n| n.max(1) as usize),
            // The JS side polls again with setImmediate while events keep
            // coming, so that busy producers make no wake-up call at all.
            linger: true,
            ..DrainLimits::default()
        };
        let hub = Hub::new(config).map_err(config_error)?;
        let consumer = Arc::new(Consumer::new(hub, limits));
        let wake = wake::shared(TsfnWake::new(&deliver)?);
        consumer.hub.attach(wake.clone());
        let hook = Hook::install(&env, &consumer)?;
        let ring_bytes = consumer.hub.config().capacity * ffi_events::SLOT_BYTES;
        let ring_bytes = i64::try_from(ring_bytes).unwrap_or(i64::MAX);
        // Only a hint to the collector: a hub works without it.
        let external_bytes = match env.adjust_external_memory(ring_bytes) {
            Ok(_) => ring_bytes,
            Err(_) => 0,
        };
        Ok(NativeHub {
            external_bytes,
            emitter: consumer.hub.emitter(),
            consumer,
            wake: Some(wake),
            hook: Some(hook),
            wants_ref: true,
            holds_loop: false,
            requests_pending: false,
        })
    }

    fn hub(&self) -> &Hub {
        &self.consumer.hub
    }

    /// The hub's consumer, for code that must learn from another thread
    /// whether the environment tore the hub down (`Consumer::torn_down`).
    pub(crate) fn consumer_weak(&self) -> std::sync::Weak<crate::batch::Consumer> {
        Arc::downgrade(&self.consumer)
    }

    /// A producer handle for native threads (for addons that embed the hub).
    pub fn emitter(&self) -> Emitter {
        self.emitter.clone()
    }

    /// Starts a thread the hub stops and joins on close (for addons that
    /// embed the hub).
    ///
    /// # Errors
    /// When the hub is closed or the OS refuses the thread.
    pub fn spawn<F>(&self, name: &str, body: F) -> Result<SourceHandle>
    where
        F: FnOnce(Emitter, StopToken) + Send + 'static,
    {
        self.hub().spawn(name, body).map_err(spawn_error)
    }

    fn update_loop_hold(&mut self, env: &Env) -> Result<()> {
        let hold = self.wants_ref
            && !self.hub().is_closed()
            && (self.requests_pending || self.hub().registry().total() > 0);
        if hold != self.holds_loop {
            if let Some(wake) = &self.wake {
                wake.set_referenced(env, hold)?;
            }
            self.holds_loop = hold;
        }
        Ok(())
    }

    /// Subscribes a listener to `name` (or to every event when `name` is
    /// null) and returns its id.
    #[napi]
    pub fn add_listener(&mut self, env: Env, name: Option<String>) -> Result<f64> {
        let filter = name.map_or(Filter::Any, |n| Filter::Name(n.into_boxed_str()));
        let id = self
            .hub()
            .registry()
            .add(filter)
            .map_err(|e| Error::new(Status::InvalidArg, e.to_string()))?;
        self.update_loop_hold(&env)?;
        Ok(id.get() as f64)
    }

    /// Unsubscribes listener `id`; false for an unknown or removed id.
    #[napi]
    pub fn remove_listener(&mut self, env: Env, id: f64) -> Result<bool> {
        if !((1.0..=MAX_SAFE_ID).contains(&id) && id.fract() == 0.0) {
            return Ok(false);
        }
        let removed = self.hub().registry().remove(id as u64);
        self.update_loop_hold(&env)?;
        Ok(removed)
    }

    /// Unsubscribes every listener; returns how many there were.
    #[napi]
    pub fn remove_all_listeners(&mut self, env: Env) -> Result<u32> {
        let removed = self.hub().registry().clear();
        self.update_loop_hold(&env)?;
        Ok(removed as u32)
    }

    /// Unsubscribes the listeners of `name` (not those of every event);
    /// returns how many there were.
    #[napi]
    pub fn remove_listeners_of(&mut self, env: Env, name: String) -> Result<u32> {
        let removed = self.hub().registry().remove_name(&name);
        self.update_loop_hold(&env)?;
        Ok(removed as u32)
    }

    /// Opens a sink for foreign libraries: `format` is `'envelope'`,
    /// `'cbor'`, `'raw'` or `'json'`; `name` is required for all but
    /// `'envelope'`, which refuses it.
    #[napi]
    pub fn open_sink(&self, format: String, name: Option<String>) -> Result<NativeSink> {
        let format = match format.as_str() {
            "envelope" => SinkFormat::Envelope,
            "cbor" => SinkFormat::Cbor,
            "raw" => SinkFormat::Raw,
            "json" => SinkFormat::Json,
            other => {
                return Err(Error::new(
                    Status::InvalidArg,
                    format!("format must be 'envelope', 'cbor', 'raw' or 'json', got '{other}'"),
                ))
            }
        };
        let sink = Arc::new(
            Sink::new(format, name.as_deref())
                .map_err(|e| Error::new(Status::InvalidArg, e.to_string()))?,
        );
        let handle = self.open_handle(sink.clone())?;
        Ok(NativeSink::new(handle, sink))
    }

    /// Gives `sink` a handle into this hub, closed with the hub.
    fn open_handle(&self, sink: Arc<Sink>) -> Result<sink_table::SinkHandle> {
        if self.hub().is_closed() {
            return Err(Error::new(Status::GenericFailure, "the hub is closed"));
        }
        let handle = sink_table::open(sink, self.emitter.clone())
            .map_err(|e| Error::new(Status::GenericFailure, e.to_string()))?;
        self.consumer.add_sink(handle);
        // A close that raced this open: the hub's sink list was already
        // taken, so close this one here.
        if self.hub().is_closed() {
            sink_table::close(handle);
        }
        Ok(handle)
    }

    /// Opens the one-shot sink of request `id` (see `ffi_events::Sink::request`)
    /// and returns its handle, the `user_data` to pass with
    /// `requestCallback`. Its first call is the reply; later ones are
    /// counted in `repliesIgnored`.
    #[napi]
    pub fn open_request(&self, id: f64) -> Result<BigInt> {
        let ignored = self.consumer.replies_ignored.clone();
        let handle = self.open_handle(Arc::new(Sink::request(id as u64, ignored)))?;
        Ok(BigInt::from(handle.as_user_data() as u64))
    }

    /// Closes a request's sink (settled, timed out, aborted): later calls
    /// through its handle are counted in `repliesIgnored`. False when it
    /// was not open.
    #[napi]
    pub fn close_request(&self, user_data: BigInt) -> bool {
        let (_, value, lossless) = user_data.get_u64();
        lossless && sink_table::close(sink_table::SinkHandle::from_user_data(value as usize))
    }

    /// Tells the hub whether requests wait for their reply: like a pending
    /// socket read, they keep the event loop alive (unless `unref()`ed),
    /// and the hub polls for their replies on the JS thread's own turns.
    #[napi]
    pub fn hold_for_requests(&mut self, env: Env, pending: bool) -> Result<()> {
        self.requests_pending = pending;
        self.update_loop_hold(&env)
    }

    /// Address of `ffi_events_sink_callback`, the `callback` of every
    /// request.
    #[napi(getter)]
    pub fn request_callback(&self) -> BigInt {
        crate::sink::callback_address()
    }

    /// Listeners of `name`, or of all names and every event when omitted.
    #[napi]
    pub fn listener_count(&self, name: Option<String>) -> u32 {
        let registry = self.hub().registry();
        let count = name.map_or_else(|| registry.total(), |n| registry.count(&n));
        count as u32
    }

    /// Names that have at least one listener.
    #[napi]
    pub fn event_names(&self) -> Vec<String> {
        self.hub().registry().names()
    }

    /// Ids of the listeners an event named `name` reaches, in order.
    #[napi]
    pub fn snapshot(&self, name: String) -> Vec<f64> {
        self.hub()
            .registry()
            .snapshot(&name)
            .into_iter()
            .map(|id| id.get() as f64)
            .collect()
    }

    /// Emits a pre-encoded CBOR payload on the CBOR lane. Returns the
    /// sequence number, or a negated `EmitRefusal`.
    #[napi]
    pub fn emit_cbor(&self, name: String, payload: Uint8ArraySlice) -> f64 {
        emit_outcome(self.emitter.emit_cbor(&name, &payload))
    }

    /// Emits bytes on the raw lane. Returns the sequence number, or a
    /// negated `EmitRefusal`.
    #[napi]
    pub fn emit_raw(&self, name: String, payload: Uint8ArraySlice) -> f64 {
        emit_outcome(self.emitter.emit_raw(&name, &payload))
    }

    /// Asks for the next batch through the threadsafe function when the hub
    /// does not hold the event loop (unref'd, no listeners or closed): its
    /// wake-up reaches an idle loop without keeping it alive. Returns false
    /// when it did not ask, and the caller polls with `setImmediate`: the
    /// hub holds the loop, or it has no wake-up any more.
    #[napi]
    pub fn poll_through_wakeup(&self) -> bool {
        !self.holds_loop && self.wake.as_ref().is_some_and(|wake| wake.notify())
    }

    /// Drains one batch now, on this thread: into `arena` (a batch buffer
    /// this hub returned before, which nothing references any more) when
    /// it fits there, and then returns `arena`; else into a new buffer,
    /// which it returns. Null when there is nothing.
    #[napi(ts_return_type = "Buffer | null")]
    pub fn drain<'env>(
        &self,
        env: &'env Env,
        #[napi(ts_arg_type = "Buffer | null")] arena: Option<BufferSlice<'env>>,
    ) -> Result<Unknown<'env>> {
        let Some(value) = self.consumer.next_batch(env.raw(), arena)? else {
            return Null.into_unknown(env);
        };
        // SAFETY: `value` is a live value of this env.
        Ok(unsafe { Unknown::from_napi_value(env.raw(), value)? })
    }

    /// The hub's counters.
    #[napi]
    pub fn stats(&self) -> HubStats {
        let stats = self.hub().stats();
        HubStats {
            capacity: stats.capacity as u32,
            queued: stats.queued as u32,
            high_water: stats.high_water as u32,
            emitted: stats.emitted as f64,
            delivered: stats.delivered as f64,
            unheard: stats.unheard as f64,
            refused: stats.refused as f64,
            discarded: stats.discarded as f64,
            reports_lost: stats.reports_lost as f64,
            replies_ignored: self
                .consumer
                .replies_ignored
                .load(std::sync::atomic::Ordering::Relaxed) as f64,
            batches: stats.batches as f64,
            wakeups: stats.wakeups as f64,
            wake_failures: stats.wake_failures as f64,
            stuck: stats.stuck,
            closed: stats.closed,
            running_threads: self.hub().running_threads() as u32,
        }
    }

    /// Lets the hub keep the event loop alive while it has listeners.
    #[napi(js_name = "ref")]
    pub fn hold(&mut self, env: Env) -> Result<()> {
        self.wants_ref = true;
        self.update_loop_hold(&env)
    }

    /// Stops the hub from keeping the event loop alive.
    #[napi]
    pub fn unref(&mut self, env: Env) -> Result<()> {
        self.wants_ref = false;
        self.update_loop_hold(&env)
    }

    /// Stops accepting events and stops and joins the hub's threads. Events
    /// already accepted stay queued for `drain`. Idempotent.
    #[napi]
    pub fn close(&mut self, env: Env) -> Result<()> {
        self.consumer.close();
        self.update_loop_hold(&env)
    }

    /// After the last `drain`: releases the delivery function and the
    /// cleanup hook. Idempotent; implies `close`. Every step runs even when
    /// an earlier one fails; the first failure is returned.
    #[napi]
    pub fn release(&mut self, env: Env) -> Result<()> {
        let closed = self.close(env);
        self.hub().detach();
        self.wake = None;
        let unhooked = match self.hook.take() {
            Some(hook) => hook.remove(&env, &self.consumer),
            None => Ok(()),
        };
        closed.and(unhooked)
    }

    /// Whether `close` was called (or the environment tore the hub down).
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.hub().is_closed()
    }

    /// After `close`: whether every emit that got in before it has
    /// finished, so that one more drain takes everything. `close` never
    /// waits for producer threads; JS polls this instead.
    #[napi(getter)]
    pub fn settled(&self) -> bool {
        self.hub().is_settled()
    }
}

impl ObjectFinalize for NativeHub {
    fn finalize(mut self, env: Env) -> Result<()> {
        let released = self.release(env);
        let given_back = match self.external_bytes {
            0 => Ok(()),
            bytes => env.adjust_external_memory(-bytes).map(|_| ()),
        };
        let ring_bytes = self.hub().config().capacity * ffi_events::SLOT_BYTES;
        // Frees the ring, unless a Rust producer still holds an emitter.
        drop(self);
        crate::trim::ring_freed(ring_bytes);
        released.and(given_back)
    }
}
