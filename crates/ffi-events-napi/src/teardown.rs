//! Closing a hub when its environment goes away (a worker exits, the main
//! environment shuts down) without `close()` having been called.

use std::ffi::c_void;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use napi::bindgen_prelude::*;

use crate::batch::Consumer;

/// A registered env cleanup hook. Its data is a `Weak<Consumer>` turned
/// into a raw pointer: either the hook runs and takes it back, or
/// [`Hook::remove`] does, never both.
pub(crate) struct Hook {
    data: *mut c_void,
}

impl Hook {
    /// Registers the hook for `consumer` on `env`.
    pub(crate) fn install(env: &Env, consumer: &Arc<Consumer>) -> Result<Hook> {
        let data = Weak::into_raw(Arc::downgrade(consumer))
            .cast_mut()
            .cast::<c_void>();
        // SAFETY: JS thread of `env`; `data` stays valid until taken back.
        let status =
            unsafe { napi::sys::napi_add_env_cleanup_hook(env.raw(), Some(on_teardown), data) };
        if status != napi::sys::Status::napi_ok {
            // SAFETY: the hook was not registered, so `data` is still ours.
            drop(unsafe { Weak::from_raw(data.cast::<Consumer>()) });
            return Err(Error::new(
                Status::from(status),
                "could not register the env cleanup hook",
            ));
        }
        Ok(Hook { data })
    }

    /// Unregisters the hook unless it already ran.
    ///
    /// # Errors
    /// When Node refuses to remove the hook. Its data is then left to the
    /// hook (a `Weak`, which keeps nothing alive), never freed here: the
    /// hook may still run and take it.
    pub(crate) fn remove(self, env: &Env, consumer: &Consumer) -> Result<()> {
        if consumer.torn_down.load(Ordering::Acquire) {
            return Ok(());
        }
        // SAFETY: JS thread of `env`, the hook is registered with this data.
        let status = unsafe {
            napi::sys::napi_remove_env_cleanup_hook(env.raw(), Some(on_teardown), self.data)
        };
        if status != napi::sys::Status::napi_ok {
            return Err(Error::new(
                Status::from(status),
                "could not remove the env cleanup hook",
            ));
        }
        // SAFETY: the hook was removed and can no longer run, so the data is
        // ours again.
        drop(unsafe { Weak::from_raw(self.data.cast::<Consumer>()) });
        Ok(())
    }
}

unsafe extern "C" fn on_teardown(data: *mut c_void) {
    // SAFETY: `data` came from `Weak::into_raw` in `install` and is taken
    // back exactly once, here or in `remove`.
    let consumer = unsafe { Weak::from_raw(data.cast::<Consumer>()) };
    // Nothing may unwind into Node.
    let _ = std::panic::catch_unwind(move || {
        if let Some(consumer) = consumer.upgrade() {
            consumer.torn_down.store(true, Ordering::Release);
            consumer.close();
            consumer.hub.detach();
        }
    });
}
