//! Node-API binding of `ffi-events`: the `NativeHub` class that the
//! TypeScript `EventHub` wraps, and the built-in native sources.
//!
//! This crate only translates: options in, core calls, results out. The
//! semantics live in the `ffi-events` crate; the typed API, argument
//! validation and listener dispatch live in `index.ts`.
//!
//! # Embedding
//! A napi-rs addon of your own can depend on this crate (as an `rlib`) and
//! accept a `NativeHub` from JavaScript: [`NativeHub::emitter`] gives the
//! [`ffi_events::Emitter`] to hand to your threads, and [`NativeHub::spawn`]
//! starts threads the hub joins when it closes.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod batch;
mod errors;
mod hub;
mod options;
mod sources;
mod teardown;
mod wake;

pub use errors::EmitRefusal;
pub use hub::{HubStats, NativeHub};
pub use options::HubOptions;
pub use sources::{
    start_burst, start_ticker, BurstOptions, BurstResult, SourceControl, TickerOptions,
};
