//! Waking the JS thread: a weak Node threadsafe function that calls the
//! hub's `deliver()`, which drains.

use std::sync::Arc;

use ffi_events::Notify;
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{
    ThreadsafeCallContext, ThreadsafeFunction, ThreadsafeFunctionCallMode,
};

/// The delivery function as a threadsafe function: payload `()` (a bare
/// wake-up), called with `undefined`, no error-first argument,
/// weak (unreferenced) at creation, and an unbounded napi queue: the ring is
/// the bound, and a refused napi call would leak its payload.
type DeliverFn =
    ThreadsafeFunction<(), Unknown<'static>, napi::sys::napi_value, Status, false, true, 0>;

/// The hub's [`Notify`]: one napi call per wake-up, never per event.
pub(crate) struct TsfnWake {
    deliver: DeliverFn,
}

impl TsfnWake {
    /// Wraps the JS `deliver()` function, which drains on the JS thread (into
    /// a batch buffer of its own when the last one can be written again).
    pub(crate) fn new(
        deliver: &Function<'_, Unknown<'static>, Unknown<'static>>,
    ) -> Result<TsfnWake> {
        let deliver = deliver
            .build_threadsafe_function::<()>()
            .callee_handled::<false>()
            .weak::<true>()
            .max_queue_size::<0>()
            .build_callback(|ctx: ThreadsafeCallContext<()>| Ok(undefined_value(ctx.env.raw())))?;
        Ok(TsfnWake { deliver })
    }

    /// Makes the delivery function keep the event loop alive (`true`) or
    /// not. Must be called on the JS thread.
    pub(crate) fn set_referenced(&self, env: &Env, referenced: bool) -> Result<()> {
        if self.deliver.aborted() {
            return Ok(());
        }
        let raw = self.deliver.raw();
        // SAFETY: `raw` is live (not aborted, checked above on the JS
        // thread, the only thread that finalizes it) and `env` is the env it
        // was created in.
        let status = unsafe {
            if referenced {
                napi::sys::napi_ref_threadsafe_function(env.raw(), raw)
            } else {
                napi::sys::napi_unref_threadsafe_function(env.raw(), raw)
            }
        };
        if status == napi::sys::Status::napi_ok {
            Ok(())
        } else {
            Err(Error::new(
                Status::from(status),
                "could not change the hub's reference on the event loop",
            ))
        }
    }
}

impl Notify for TsfnWake {
    fn notify(&self) -> bool {
        self.deliver
            .call((), ThreadsafeFunctionCallMode::NonBlocking)
            == Status::Ok
    }
}

fn undefined_value(env: napi::sys::napi_env) -> napi::sys::napi_value {
    let mut value = std::ptr::null_mut();
    // SAFETY: called on the JS thread with its env. On failure `value`
    // stays null, which napi passes on as `undefined` too.
    unsafe { napi::sys::napi_get_undefined(env, &mut value) };
    value
}

/// Shares one wake-up between the hub (as its [`Notify`]) and `NativeHub`
/// (for ref/unref).
pub(crate) fn shared(wake: TsfnWake) -> Arc<TsfnWake> {
    Arc::new(wake)
}
