//! Bounded, non-blocking events from native threads to one consumer thread.
//!
//! `ffi-events` is the core of a bridge that carries named events with CBOR
//! payloads from any number of producer threads to a single consumer (in the
//! Node.js binding, the JavaScript thread). It knows nothing of Node: the
//! binding crate plugs in through [`Notify`] and [`Hub::drain`].
//!
//! - An [`Emitter`] encodes the envelope `{ eventType, payload }` once per
//!   event on the producer's thread and pushes it into a bounded ring. An
//!   emit never blocks (a lossless producer may choose to wait for room
//!   after `Full`: [`Emitter::wait_for_room`]).
//! - The first event after the ring went idle wakes the consumer once; the
//!   consumer drains a whole batch per wake-up.
//! - The [`Registry`] holds subscriptions (ids, names) behind one mutex that
//!   is never held while a listener runs.
//!
//! # Loss is counted
//! Every valid emit takes a sequence number from one counter, accepted or
//! not. A full ring refuses the event ([`EmitError::Full`], counted in
//! [`Stats::refused`]) or, with [`Overflow::DropOldest`], pushes the oldest
//! one out (counted in [`Stats::discarded`]), so
//! `emitted == delivered + refused + discarded + queued` whenever no emit
//! or drain is in progress, and the sequence numbers a consumer never saw
//! are exactly the refused, discarded and unheard ones. A sink's reports
//! (a library's error, a malformed input) are not refused by a full ring
//! while the report reserve ([`REPORT_RESERVE`]) has room.
//!
//! # Liveness
//! The first overflow of an episode queues a [`NOT_RESPONDING`] event with
//! reason `queue_full`; when a drain leaves the ring empty, [`RESPONDING`]
//! follows. A producer that calls [`Emitter::heartbeat`] and then goes quiet
//! for the hub's `stall_timeout` causes the same pair with reason `stalled`.
//! Liveness events bypass the ring (it may be what is full) and carry
//! sequence number 0: they are not emits and are not counted in [`Stats`].
//!
//! # Example
//! ```
//! use ffi_events::{DrainLimits, Filter, Hub, HubConfig, Notify};
//! use std::sync::{atomic::{AtomicUsize, Ordering}, Arc};
//!
//! struct CountWakeups(AtomicUsize);
//! impl Notify for CountWakeups {
//!     fn notify(&self) -> bool {
//!         self.0.fetch_add(1, Ordering::SeqCst);
//!         true
//!     }
//! }
//!
//! let hub = Hub::new(HubConfig::default()).unwrap();
//! // Drains hand over only events someone listens to.
//! hub.registry().add(Filter::Any).unwrap();
//! let wakeups = Arc::new(CountWakeups(AtomicUsize::new(0)));
//! hub.attach(wakeups.clone());
//!
//! let emitter = hub.emitter();
//! for n in 0..100u32 {
//!     emitter.emit("tick", &n).unwrap();
//! }
//! // A burst costs one wake-up, not one per event.
//! assert_eq!(wakeups.0.load(Ordering::SeqCst), 1);
//!
//! let mut batch = Vec::new();
//! let drained = hub.drain(&mut batch, DrainLimits::default());
//! assert_eq!((drained.events, drained.more), (100, false));
//! assert_eq!(batch[99].seq(), 100);
//! ```

mod cbor_scan;
mod clock;
mod config;
mod drain;
mod emitter;
mod envelope;
mod error;
mod event;
mod foreign;
mod gate;
mod hrtime;
mod hub;
mod liveness;
mod name;
mod registry;
mod request;
mod ring;
mod room;
mod sink;
mod sink_slot;
pub mod sink_table;
mod spare;
mod stats;
mod wakeup;
mod wire;
mod workers;

pub use cbor_scan::MAX_NESTING;
pub use config::{HubConfig, Overflow, MAX_CAPACITY, MAX_EVENT_BYTES, SLOT_BYTES};
pub use emitter::Emitter;
pub use envelope::encode_envelope;
pub use error::{ConfigError, EmitError, NameError, SpawnError};
pub use event::{Event, Lane, INLINE_BYTES, REPORT_HEADER_BYTES};
pub use foreign::Malformed;
pub use hrtime::hrtime_ns;
pub use hub::{DrainLimits, Drained, Hub, Notify, SourceHandle, REPORT_RESERVE};
pub use liveness::{LivenessPayload, Reason, NOT_RESPONDING, RESPONDING};
pub use name::{validate_name, MAX_NAME_BYTES};
pub use registry::{Filter, ListenerId, Registry};
pub use request::{REPLY_HEADER_BYTES, REPLY_NOT_CBOR, REPLY_NULL_BYTES, REPLY_TOO_LARGE};
pub use sink::{Sink, SinkError, SinkFormat, SinkStats, SinkStatus};
pub use spare::{SPARE_BYTES, SPARE_COUNT};
pub use stats::Stats;
pub use wire::{BatchEncoder, FLAG_MORE, HEADER_BYTES, TAG_FAULT_SHIFT, TAG_SELF_CONTAINED};
pub use workers::StopToken;
