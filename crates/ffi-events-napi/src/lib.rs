//! Node-API binding of `ffi-events`: the `NativeHub` class that the
//! TypeScript `EventHub` wraps, and the built-in native sources.
//!
//! This crate only translates: options in, core calls, results out. The
//! semantics live in the `ffi-events` crate; the typed API, argument
//! validation and listener dispatch live in `index.ts`.
//!
//! # Embedding
//! A napi-rs addon of your own can feed its native threads' events into the
//! same TypeScript `EventHub` (`examples/embed` is a complete one):
//!
//! 1. Depend on `ffi-events` and on this crate, which builds as an `rlib`
//!    too. Your `.node` then exports `NativeHub`, `startTicker` and
//!    `startBurst` beside your own functions.
//! 2. Take the hub as an `Object` and check
//!    `NativeHub::instance_of(&env, &hub)` before converting it: a
//!    `NativeHub` made by another `.node` (the `ffi-events` package's own)
//!    is a different Rust type that napi-rs cannot tell from yours.
//! 3. Start threads with [`NativeHub::spawn`]: each gets an
//!    [`ffi_events::Emitter`] and an [`ffi_events::StopToken`], and the hub
//!    stops and joins them on `close()` and at environment teardown.
//!    [`NativeHub::emitter`] gives an `Emitter` for threads you manage.
//! 4. In TypeScript, build the hub over your addon's module and pass its
//!    native hub to your function:
//!    `const hub = new EventHub(options, { binding: require('./binding.js') })`,
//!    then `binding.startMySource(nativeHubOf(hub), ...)`.
//!
//! ```no_run
//! use ffi_events_napi::NativeHub;
//! use napi::bindgen_prelude::*;
//! use napi_derive::napi;
//!
//! #[napi]
//! pub fn start_my_source(env: Env, hub: Object) -> Result<()> {
//!     if !NativeHub::instance_of(&env, &hub)? {
//!         return Err(Error::new(Status::InvalidArg, "hub must be a NativeHub of this addon"));
//!     }
//!     // SAFETY: a live value of this env, checked to be this addon's NativeHub.
//!     let hub: ClassInstance<NativeHub> =
//!         unsafe { ClassInstance::from_napi_value(env.raw(), hub.raw())? };
//!     hub.spawn("my-source", |emitter, stop| {
//!         while stop.sleep(std::time::Duration::from_millis(100)) {
//!             if emitter.emit("tick", &42u32).is_err() { break }
//!         }
//!     })?;
//!     Ok(())
//! }
//! # fn main() {}
//! ```

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod batch;
mod errors;
mod hub;
mod options;
mod sink;
mod sources;
mod teardown;
mod trim;
mod wake;

pub use errors::EmitRefusal;
pub use hub::{HubStats, NativeHub};
pub use options::HubOptions;
pub use sink::{
    close_all_sinks, ffi_events_emit, ffi_events_sink_callback, stale_sink_calls, NativeSink,
    NativeSinkStats,
};
pub use sources::{
    start_burst, start_ticker, BurstOptions, BurstResult, SourceControl, TickerOptions,
};
