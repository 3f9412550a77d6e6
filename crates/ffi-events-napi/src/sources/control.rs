//! The JS handle of a running source.

use ffi_events::SourceHandle;
use napi_derive::napi;

/// A running native source.
#[napi]
pub struct SourceControl {
    handle: SourceHandle,
}

impl SourceControl {
    pub(crate) fn new(handle: SourceHandle) -> SourceControl {
        SourceControl { handle }
    }
}

#[napi]
impl SourceControl {
    /// Stops the source's thread and joins it; false when it had already
    /// finished.
    #[napi]
    pub fn stop(&self) -> bool {
        self.handle.stop()
    }

    /// Whether the source's thread is still running.
    #[napi(getter)]
    pub fn running(&self) -> bool {
        self.handle.is_running()
    }
}
