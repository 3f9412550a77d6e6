//! Hub configuration.

use std::time::Duration;

use crate::error::ConfigError;

/// The largest ring capacity accepted: 4,194,304 events. The ring is
/// allocated up front at [`SLOT_BYTES`] per event (416 MiB at this maximum).
pub const MAX_CAPACITY: usize = 1 << 22;
/// Bytes the ring allocates per slot of capacity: a 96-byte event plus the
/// slot's stamp.
pub const SLOT_BYTES: usize = 104;
/// The largest `max_event_bytes` accepted (1 GiB).
pub const MAX_EVENT_BYTES: usize = 1 << 30;

/// What `emit` does when the ring is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Refuse the new event: `emit` returns [`EmitError::Full`](crate::EmitError::Full).
    #[default]
    Reject,
    /// Drop the oldest queued event to make room; `emit` succeeds.
    DropOldest,
}

/// How a [`Hub`](crate::Hub) is built.
///
/// # Examples
/// ```
/// use ffi_events::{HubConfig, Overflow};
/// let config = HubConfig { capacity: 64, overflow: Overflow::DropOldest, ..HubConfig::default() };
/// assert_eq!(config.stall_timeout, Some(std::time::Duration::from_secs(5)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubConfig {
    /// Events the ring holds before `emit` overflows; 1 to [`MAX_CAPACITY`].
    pub capacity: usize,
    /// What happens on overflow.
    pub overflow: Overflow,
    /// How long a producer that called `heartbeat()` may go quiet before
    /// `not_responding` fires; `None` disables the watchdog.
    pub stall_timeout: Option<Duration>,
    /// Largest event accepted, in bytes of envelope (CBOR lane) or payload
    /// (raw lane); 1 to [`MAX_EVENT_BYTES`].
    pub max_event_bytes: usize,
    /// Reading of the consumer's monotonic clock, in nanoseconds, at the
    /// moment the hub is built; [`Emitter::now_ns`](crate::Emitter::now_ns)
    /// counts from it (unless `clock_hrtime` applies).
    pub clock_origin_ns: u64,
    /// Where [`hrtime_ns`](crate::hrtime_ns) reads the clock of Node's
    /// `process.hrtime.bigint()` (Linux, macOS),
    /// [`Emitter::now_ns`](crate::Emitter::now_ns) returns its readings as
    /// they are, exactly comparable with the JS side's; `clock_origin_ns`
    /// then serves only on other platforms. Default `false`.
    pub clock_hrtime: bool,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            capacity: 1024,
            overflow: Overflow::Reject,
            stall_timeout: Some(Duration::from_secs(5)),
            max_event_bytes: 16 << 20,
            clock_origin_ns: 0,
            clock_hrtime: false,
        }
    }
}

impl HubConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.capacity == 0 || self.capacity > MAX_CAPACITY {
            return Err(ConfigError::Capacity(self.capacity));
        }
        if self.max_event_bytes == 0 || self.max_event_bytes > MAX_EVENT_BYTES {
            return Err(ConfigError::MaxEventBytes(self.max_event_bytes));
        }
        Ok(())
    }
}
