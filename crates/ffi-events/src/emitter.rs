//! The producer handle.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::config::Overflow;
use crate::envelope;
use crate::error::EmitError;
use crate::event::Event;
use crate::hub::Shared;
use crate::name::validate_name;
use crate::room::Waited;

/// A producer's handle to a hub: cheap to clone, `Send + Sync`; emits never block.
///
/// Every method but [`Emitter::wait_for_room`] returns at once. An accepted event gets a hub-unique
/// sequence number; a full ring refuses it with [`EmitError::Full`] (it is
/// counted as refused, and the hub's liveness event `not_responding` tells
/// the consumer), and a closed hub with [`EmitError::Closed`]. Events from
/// one thread reach the consumer in the order that thread emitted them.
///
/// # Examples
/// ```
/// use ffi_events::{DrainLimits, EmitError, Filter, Hub, HubConfig};
/// use serde::Serialize;
///
/// #[derive(Serialize)]
/// struct PeerConnected<'a> { id: &'a str }
///
/// let hub = Hub::new(HubConfig { capacity: 2, ..HubConfig::default() }).unwrap();
/// hub.registry().add(Filter::Any).unwrap();
/// let emitter = hub.emitter();
/// let worker = std::thread::spawn(move || {
///     let first = emitter.emit("peer_connected", &PeerConnected { id: "a1" })?;
///     let second = emitter.emit_raw("frame", &[0xde, 0xad])?;
///     assert_eq!((first, second), (1, 2));
///     // The ring holds two events: the third is refused, not waited for.
///     assert_eq!(emitter.emit_raw("frame", &[]), Err(EmitError::Full { seq: 3 }));
///     Ok::<_, EmitError>(())
/// });
/// worker.join().unwrap().unwrap();
///
/// let mut batch = Vec::new();
/// hub.drain(&mut batch, DrainLimits::default());
/// // The liveness event comes first, then the two accepted events; the ring
/// // is empty again, so the episode ends with `responding`.
/// let names: Vec<_> = batch.iter().map(|e| e.name()).collect();
/// assert_eq!(names, ["not_responding", "peer_connected", "frame", "responding"]);
/// assert_eq!(hub.stats().refused, 1);
/// ```
#[derive(Clone)]
pub struct Emitter {
    shared: Arc<Shared>,
}

impl fmt::Debug for Emitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emitter")
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl Emitter {
    pub(crate) fn new(shared: Arc<Shared>) -> Emitter {
        Emitter { shared }
    }

    /// Emits `payload` on the CBOR lane: the envelope
    /// `{ eventType: name, payload }` is encoded once, here on the calling
    /// thread, and fanned out to every listener.
    ///
    /// Byte fields encode as CBOR byte strings only when marked with
    /// `#[serde(with = "serde_bytes")]`; a plain `Vec<u8>` is an array of
    /// integers.
    ///
    /// # Errors
    /// [`EmitError::InvalidName`], [`EmitError::Encode`] and
    /// [`EmitError::TooLarge`] refuse the event before it gets a sequence
    /// number; [`EmitError::Closed`] after the hub closed;
    /// [`EmitError::Full`] when the ring is full under `Overflow::Reject`,
    /// decided before the payload is encoded (so on a full ring `Full` wins
    /// over `Encode` and `TooLarge`, and a refused emit costs no encoding).
    pub fn emit<T: Serialize + ?Sized>(&self, name: &str, payload: &T) -> Result<u64, EmitError> {
        if self.shared.is_closed() {
            return Err(EmitError::Closed);
        }
        validate_name(name)?;
        if let Some(refused) = self.shared.refuse_if_full() {
            return Err(refused);
        }
        self.shared.offer(Event::cbor(name, payload)?)
    }

    /// Emits `payload` on the CBOR lane when it is already encoded as one
    /// CBOR data item. The bytes are checked, not refused: if they are not
    /// exactly one well-formed data item, listeners get a decode error
    /// instead of the event (and `onRaw` listeners still get the bytes).
    /// The consumer decodes an item that holds a tag whose meaning reaches
    /// past it (a shared reference, a record definition; see
    /// [`Event::is_self_contained`]) on its own, so that it cannot change
    /// the events around it.
    ///
    /// # Errors
    /// As [`Emitter::emit`], without [`EmitError::Encode`].
    pub fn emit_cbor(&self, name: &str, payload: &[u8]) -> Result<u64, EmitError> {
        self.refuse_early(name, envelope::header_len(name.len()) + payload.len())?;
        let scan = crate::foreign::check_item(payload);
        self.shared.offer(Event::cbor_checked(name, payload, scan))
    }

    /// Emits `bytes` on the raw lane: listeners get exactly these bytes,
    /// a zero-length buffer when `bytes` is empty.
    ///
    /// # Errors
    /// As [`Emitter::emit`], without [`EmitError::Encode`].
    pub fn emit_raw(&self, name: &str, bytes: &[u8]) -> Result<u64, EmitError> {
        self.refuse_early(name, bytes.len())?;
        self.shared.offer(Event::raw(name, bytes))
    }

    /// The refusals an emit of `len` bytes gets before its event is built:
    /// a closed hub, an invalid name, too many bytes, a full ring.
    fn refuse_early(&self, name: &str, len: usize) -> Result<(), EmitError> {
        if self.shared.is_closed() {
            return Err(EmitError::Closed);
        }
        validate_name(name)?;
        let max = self.max_event_bytes();
        if len > max {
            return Err(EmitError::TooLarge { len, max });
        }
        match self.shared.refuse_if_full() {
            Some(refused) => Err(refused),
            None => Ok(()),
        }
    }

    /// Refuses at once, counting a drop, when the ring is full under
    /// `Overflow::Reject`: for producers (sinks) about to build an event.
    pub(crate) fn refuse_if_full(&self) -> Option<EmitError> {
        self.shared.refuse_if_full()
    }

    /// Queues an event built elsewhere in the crate (a sink's, a report, a
    /// reply): the one offer path every producer takes.
    pub(crate) fn offer(&self, event: Event) -> Result<u64, EmitError> {
        self.shared.offer(event)
    }

    /// The hub's `max_event_bytes`.
    pub(crate) fn max_event_bytes(&self) -> usize {
        self.shared.config.max_event_bytes
    }

    /// Waits until the ring has room for an event, the hub closes, or
    /// `timeout` passes: for a producer that must not lose an event and got
    /// [`EmitError::Full`]. It parks the calling thread (no spinning) and is
    /// woken by the consumer's next drain, which frees slots, so the event
    /// it then emits again goes in as soon as it can. Emits themselves never
    /// wait; this is the one call that does, and only when made. Other
    /// producers may take the room first: emit again, and wait again on
    /// `Full`.
    ///
    /// Returns `Ok(true)` when the ring has room, `Ok(false)` when `timeout`
    /// passed first (a consumer that stopped draining: the hub's JS thread
    /// blocked, say). Under `Overflow::DropOldest` a push is never refused,
    /// so this returns `Ok(true)` at once. A [`StopToken`](crate::StopToken)
    /// does not end the wait: a thread started with
    /// [`Hub::spawn`](crate::Hub::spawn) that must stop promptly waits with
    /// a short timeout and looks at its token between waits.
    ///
    /// # Errors
    /// [`EmitError::Closed`] once the hub is closed, including while
    /// waiting.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use ffi_events::{DrainLimits, EmitError, Filter, Hub, HubConfig};
    ///
    /// let hub = Hub::new(HubConfig { capacity: 4, ..HubConfig::default() }).unwrap();
    /// hub.registry().add(Filter::Any).unwrap();
    /// let emitter = hub.emitter();
    /// let producer = std::thread::spawn(move || {
    ///     for i in 0..100u32 {
    ///         // Lossless: on `Full`, wait for the consumer, then emit it again.
    ///         while let Err(EmitError::Full { .. }) = emitter.emit_raw("frame", &i.to_le_bytes()) {
    ///             assert!(emitter.wait_for_room(Duration::from_secs(10))?);
    ///         }
    ///     }
    ///     Ok::<_, EmitError>(())
    /// });
    /// let mut frames = 0;
    /// let mut batch = Vec::new();
    /// while frames < 100 {
    ///     batch.clear();
    ///     hub.drain(&mut batch, DrainLimits::default());
    ///     frames += batch.iter().filter(|e| e.name() == "frame").count();
    /// }
    /// producer.join().unwrap().unwrap();
    /// assert!(hub.stats().refused > 0);
    /// ```
    pub fn wait_for_room(&self, timeout: Duration) -> Result<bool, EmitError> {
        let shared = &*self.shared;
        if shared.config.overflow != Overflow::Reject {
            return if shared.is_closed() {
                Err(EmitError::Closed)
            } else {
                Ok(true)
            };
        }
        let waited = shared
            .room
            .wait(timeout, || !shared.ring.is_full(), || shared.is_closed());
        match waited {
            Waited::Room => Ok(true),
            Waited::TimedOut => Ok(false),
            Waited::Closed => Err(EmitError::Closed),
        }
    }

    /// Tells the hub this producer is alive.
    ///
    /// After the first heartbeat, a gap longer than the hub's
    /// `stall_timeout` starts a stall episode (`not_responding` with reason
    /// `stalled`), and the next heartbeat ends it (`responding`).
    ///
    /// # Errors
    /// [`EmitError::Closed`] after the hub closed.
    pub fn heartbeat(&self) -> Result<(), EmitError> {
        self.shared.heartbeat()
    }

    /// Whether the hub was closed; a producer loop can stop on it.
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// Nanoseconds on the hub's monotonic clock, aligned with the
    /// consumer's (`process.hrtime.bigint()` in the Node binding).
    pub fn now_ns(&self) -> u64 {
        self.shared.now_ns()
    }
}
