//! A monotonic nanosecond clock that can be aligned with the consumer's.

use std::time::Instant;

/// Nanoseconds on a monotonic clock whose zero the hub's owner chooses.
///
/// The Node binding sets the origin to `process.hrtime.bigint()` so that
/// native timestamps and JS timestamps can be subtracted directly.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    origin: Instant,
    origin_ns: u64,
}

impl Clock {
    pub(crate) fn new(origin_ns: u64) -> Clock {
        Clock {
            origin: Instant::now(),
            origin_ns,
        }
    }

    pub(crate) fn now_ns(&self) -> u64 {
        let elapsed = self.origin.elapsed().as_nanos();
        self.origin_ns
            .saturating_add(u64::try_from(elapsed).unwrap_or(u64::MAX))
    }
}
