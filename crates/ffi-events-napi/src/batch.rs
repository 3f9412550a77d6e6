//! Turning a drain into one JS-owned buffer.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};

use ffi_events::sink_table::{self, SinkHandle};
use ffi_events::{DrainLimits, Hub};
use napi::bindgen_prelude::*;

/// The consumer side of a hub: drains on the JS thread.
pub(crate) struct Consumer {
    pub(crate) hub: Hub,
    limits: DrainLimits,
    /// Set by the env cleanup hook once it has run (and consumed its data).
    pub(crate) torn_down: AtomicBool,
    /// Sinks (and requests) opened on this hub; closed with it.
    sinks: Mutex<OpenSinks>,
    /// Calls to this hub's requests that were not their reply: a second
    /// call, or one after the request was settled or given up.
    pub(crate) replies_ignored: Arc<AtomicU64>,
}

/// The handles to close with the hub. Handles closed on their own are
/// forgotten in sweeps whose cost is spread over the opens (a sweep when
/// the list doubled), so thousands of requests in flight open in O(1).
#[derive(Default)]
struct OpenSinks {
    handles: Vec<SinkHandle>,
    sweep_at: usize,
}

impl Consumer {
    pub(crate) fn new(hub: Hub, limits: DrainLimits) -> Consumer {
        Consumer {
            hub,
            limits,
            torn_down: AtomicBool::new(false),
            sinks: Mutex::default(),
            replies_ignored: Arc::default(),
        }
    }

    /// Remembers a sink, to close it when the hub closes.
    pub(crate) fn add_sink(&self, handle: SinkHandle) {
        let mut sinks = self.sinks.lock().unwrap_or_else(|p| p.into_inner());
        if sinks.handles.len() >= sinks.sweep_at {
            sinks.handles.retain(|&h| sink_table::is_open(h));
            sinks.sweep_at = (2 * sinks.handles.len()).max(64);
        }
        sinks.handles.push(handle);
    }

    /// Closes the hub's sinks and then the hub (stopping and joining its
    /// threads). Idempotent.
    pub(crate) fn close(&self) {
        let sinks =
            std::mem::take(&mut self.sinks.lock().unwrap_or_else(|p| p.into_inner()).handles);
        for handle in sinks {
            sink_table::close(handle);
        }
        // Never waits for a producer thread; JS polls `is_settled`.
        self.hub.close_now();
    }

    /// Drains one batch, into `arena` when it fits there (and returns
    /// `arena`), else into a new `Buffer` allocated by V8 (never an external
    /// one), which it returns. `None` when there is nothing to deliver and
    /// no more to come. Must run on the JS thread of `env`, and nothing may
    /// read `arena` while it is written.
    pub(crate) fn next_batch(
        &self,
        env: napi::sys::napi_env,
        mut arena: Option<BufferSlice<'_>>,
    ) -> Result<Option<napi::sys::napi_value>> {
        let mut fresh = std::ptr::null_mut();
        let arena_len = arena.as_ref().map_or(0, |a| a.len());
        let drained = self.hub.drain_batch(self.limits, |len| {
            if let Some(arena) = arena.as_deref_mut().filter(|a| a.len() >= len) {
                return Ok(&mut arena[..len]);
            }
            let capacity = fresh_capacity(len, arena_len);
            let mut data = std::ptr::null_mut();
            // SAFETY: JS thread of `env`; on success napi hands back
            // `capacity` writable bytes owned by the new buffer, which
            // nothing else references until it is handed to JS.
            let status =
                unsafe { napi::sys::napi_create_buffer(env, capacity, &mut data, &mut fresh) };
            if status != napi::sys::Status::napi_ok || (data.is_null() && capacity > 0) {
                return Err(Error::new(
                    Status::from(status),
                    "could not allocate a batch buffer",
                ));
            }
            // SAFETY: as above; `len <= capacity`.
            Ok(unsafe { std::slice::from_raw_parts_mut(data.cast::<u8>(), len) })
        })?;
        match (drained, arena) {
            (None, _) => Ok(None),
            _ if !fresh.is_null() => Ok(Some(fresh)),
            // SAFETY: the caller's buffer, a live value of this env.
            (Some(_), Some(arena)) => unsafe { ToNapiValue::to_napi_value(env, &arena) }.map(Some),
            (Some(_), None) => Err(Error::from_reason("a batch was drained into no buffer")),
        }
    }
}

/// The largest arena that a batch too big for the caller's arena doubles
/// it to; the JS side keeps no arena larger than this either
/// (`ARENA_MAX_BYTES` in lib/hub.ts).
const ARENA_MAX_BYTES: usize = 256 << 10;

/// The size of a new batch buffer for `len` bytes: exactly `len`, unless it
/// replaces an arena of `arena_len` bytes that was too small, which it then
/// doubles (up to [`ARENA_MAX_BYTES`]) so that growing batches reach a
/// size that fits them in a few steps instead of one new arena per batch.
fn fresh_capacity(len: usize, arena_len: usize) -> usize {
    if arena_len == 0 {
        len
    } else {
        len.max(arena_len.saturating_mul(2).min(ARENA_MAX_BYTES))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_buffer_is_exact_without_an_arena_and_doubles_a_small_one_up_to_the_cap() {
        assert_eq!(fresh_capacity(100, 0), 100);
        assert_eq!(fresh_capacity(100, 80), 160);
        assert_eq!(fresh_capacity(500, 80), 500);
        assert_eq!(fresh_capacity(1000, 200 << 10), ARENA_MAX_BYTES);
        assert_eq!(fresh_capacity(300 << 10, 200 << 10), 300 << 10);
    }
}
