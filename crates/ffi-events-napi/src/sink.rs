//! The C entry points foreign libraries call, and the `NativeSink` class
//! that hands their addresses and a handle to JavaScript.
//!
//! Both functions live in this addon, which Node never unloads, and look
//! the handle up in the process-wide table of `ffi_events::sink_table`: a
//! call after the sink, its hub or its worker is gone is a refused no-op.
//! See `include/ffi_events.h` for the C contract.

use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;

use ffi_events::sink_table::{self, SinkHandle};
use ffi_events::{Sink, SinkStatus};
use napi::bindgen_prelude::*;
use napi_derive::napi;

/// `len` bytes at `ptr`, or `None` for NULL with a non-zero length.
///
/// # Safety
/// When `ptr` is not NULL it must point to `len` readable bytes that stay
/// unchanged for `'a`.
unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> Option<&'a [u8]> {
    if ptr.is_null() {
        return (len == 0).then_some(&[][..]);
    }
    if len > isize::MAX as usize {
        return None;
    }
    // SAFETY: non-NULL, and the caller vouches for `len` bytes.
    Some(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// The sink callback, in the shape nim-ffi libraries call:
/// `void (*)(int ret, const char *msg, size_t len, void *user_data)`.
/// Copies the event into the hub's ring and returns; never blocks, never
/// calls into JavaScript.
///
/// # Safety
/// `msg` must be NULL or point to `len` readable bytes for the duration of
/// the call. `user_data` may be any value: only handles of open sinks reach
/// a hub.
#[no_mangle]
pub unsafe extern "C" fn ffi_events_sink_callback(
    ret: c_int,
    msg: *const c_char,
    len: usize,
    user_data: *mut c_void,
) {
    // SAFETY: the caller's contract above.
    let msg = unsafe { bytes(msg.cast(), len) };
    let handle = SinkHandle::from_user_data(user_data as usize);
    // Nothing may unwind into the foreign caller.
    let _ = std::panic::catch_unwind(|| sink_table::deliver(handle, ret, msg));
}

/// Emits a named event through the sink of `user_data`: `lane` 0 takes one
/// CBOR data item, 1 raw bytes, 2 UTF-8 JSON text. Returns a `SinkStatus`
/// (0 accepted, 1 full, 2 closed, 3 invalid, 4 too large).
///
/// # Safety
/// `name` must be NULL or point to `name_len` readable bytes, `payload`
/// NULL or `len` readable bytes, for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn ffi_events_emit(
    user_data: *mut c_void,
    name: *const c_char,
    name_len: usize,
    payload: *const u8,
    len: usize,
    lane: c_int,
) -> c_int {
    // SAFETY: the caller's contract above.
    let (name, payload) = unsafe { (bytes(name.cast(), name_len), bytes(payload, len)) };
    let handle = SinkHandle::from_user_data(user_data as usize);
    std::panic::catch_unwind(|| sink_table::emit(handle, name, payload, lane))
        .unwrap_or(SinkStatus::Invalid) as c_int
}

/// A sink's counters (see `ffi_events::SinkStats`).
#[napi(object)]
#[derive(Debug)]
pub struct NativeSinkStats {
    /// Every call that reached this sink.
    pub calls: f64,
    /// Events the ring took, reports included.
    pub accepted: f64,
    /// Refused: the ring was full (also in the hub's `refused`).
    pub refused: f64,
    /// Refused: the sink or its hub was closed.
    pub closed: f64,
    /// Refused: larger than `maxEventBytes`.
    pub too_large: f64,
    /// Refused: NULL bytes with a length, a bad name or lane.
    pub invalid: f64,
    /// Calls with `ret != 0`.
    pub native_errors: f64,
    /// Inputs found malformed.
    pub malformed: f64,
}

/// A C entry (function addresses and an opaque handle) into one hub.
/// Made by `NativeHub.openSink`; stays open until `close()` or until its
/// hub closes, whether or not JavaScript keeps this object.
#[napi]
pub struct NativeSink {
    handle: SinkHandle,
    sink: Arc<Sink>,
}

impl NativeSink {
    pub(crate) fn new(handle: SinkHandle, sink: Arc<Sink>) -> NativeSink {
        NativeSink { handle, sink }
    }
}

fn address(value: usize) -> BigInt {
    BigInt::from(value as u64)
}

/// Address of `ffi_events_sink_callback`, as JavaScript holds it: every
/// sink's and every request's `callback`.
pub(crate) fn callback_address() -> BigInt {
    address(ffi_events_sink_callback as *const () as usize)
}

#[napi]
impl NativeSink {
    /// Address of `ffi_events_sink_callback`.
    #[napi(getter)]
    pub fn callback(&self) -> BigInt {
        callback_address()
    }

    /// Address of `ffi_events_emit`.
    #[napi(getter)]
    pub fn emit(&self) -> BigInt {
        address(ffi_events_emit as *const () as usize)
    }

    /// The handle to pass as `user_data`.
    #[napi(getter)]
    pub fn user_data(&self) -> BigInt {
        address(self.handle.as_user_data())
    }

    /// `'envelope'`, `'cbor'`, `'raw'` or `'json'`.
    #[napi(getter)]
    pub fn format(&self) -> &'static str {
        self.sink.format().as_str()
    }

    /// The fixed event name; undefined for an envelope sink.
    #[napi(getter)]
    pub fn name(&self) -> Option<String> {
        self.sink.name().map(str::to_owned)
    }

    /// Whether calls through this sink are refused.
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        !sink_table::is_open(self.handle)
    }

    /// The sink's counters.
    #[napi]
    pub fn stats(&self) -> NativeSinkStats {
        let s = self.sink.stats();
        NativeSinkStats {
            calls: s.calls as f64,
            accepted: s.accepted as f64,
            refused: s.refused as f64,
            closed: s.closed as f64,
            too_large: s.too_large as f64,
            invalid: s.invalid as f64,
            native_errors: s.native_errors as f64,
            malformed: s.malformed as f64,
        }
    }

    /// Refuses calls that start after it returns; never waits for a call in
    /// progress. False when it was
    /// already closed.
    #[napi]
    pub fn close(&self) -> bool {
        sink_table::close(self.handle)
    }
}

/// Calls in this process through sink handles whose sink is gone (unknown
/// values, or slots reused since).
#[napi]
pub fn stale_sink_calls() -> f64 {
    sink_table::stale_calls() as f64
}

/// Closes every open sink of the process. For the main thread's process
/// `'exit'` handler: a library thread that calls after `process.exit()`
/// must be refused, not reach a threadsafe function whose environment is
/// going away. Returns how many sinks were open.
#[napi]
pub fn close_all_sinks() -> u32 {
    u32::try_from(sink_table::close_all()).unwrap_or(u32::MAX)
}
