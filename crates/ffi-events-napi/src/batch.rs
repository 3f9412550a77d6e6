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

    /// Drains one batch into a new `Buffer` allocated by V8 (never an
    /// external one) and returns it, or `None` when there is nothing to
    /// deliver and no more to come. Must run on the JS thread of `env`.
    pub(crate) fn next_batch(
        &self,
        env: napi::sys::napi_env,
    ) -> Result<Option<napi::sys::napi_value>> {
        let mut buffer = std::ptr::null_mut();
        let drained = self.hub.drain_batch(self.limits, |len| {
            let mut data = std::ptr::null_mut();
            // SAFETY: JS thread of `env`; on success napi hands back `len`
            // writable bytes owned by the new buffer, which nothing else
            // references until it is handed to JS.
            let status = unsafe { napi::sys::napi_create_buffer(env, len, &mut data, &mut buffer) };
            if status != napi::sys::Status::napi_ok || (data.is_null() && len > 0) {
                return Err(Error::new(
                    Status::from(status),
                    "could not allocate a batch buffer",
                ));
            }
            // SAFETY: as above.
            Ok(unsafe { std::slice::from_raw_parts_mut(data.cast::<u8>(), len) })
        })?;
        Ok(drained.map(|_| buffer))
    }
}
