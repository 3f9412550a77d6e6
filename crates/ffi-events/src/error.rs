//! Typed errors, one enum per operation.

use std::fmt;

/// Why an event name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// The name is the empty string.
    Empty,
    /// The name is longer than [`MAX_NAME_BYTES`](crate::MAX_NAME_BYTES) bytes of UTF-8.
    TooLong {
        /// Length of the refused name in bytes.
        len: usize,
    },
    /// The name contains a NUL byte, which C hosts cannot represent.
    ContainsNul,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => f.write_str("event name is empty"),
            NameError::TooLong { len } => write!(
                f,
                "event name is {len} bytes long, the limit is {}",
                crate::MAX_NAME_BYTES
            ),
            NameError::ContainsNul => f.write_str("event name contains a NUL byte"),
        }
    }
}

impl std::error::Error for NameError {}

/// Why [`Emitter::emit`](crate::Emitter::emit) and its siblings refused an event.
///
/// Only [`Full`](EmitError::Full) consumes a sequence number: it is a valid
/// event that was refused, and it is counted in [`Stats::refused`](crate::Stats::refused).
/// The other variants are refused before the event exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmitError {
    /// The ring was full and the hub's overflow policy is
    /// [`Overflow::Reject`](crate::Overflow::Reject).
    Full {
        /// The sequence number the refused event was given.
        seq: u64,
    },
    /// The hub was closed; nothing will be delivered any more.
    Closed,
    /// The event name is not valid.
    InvalidName(NameError),
    /// The encoded event is larger than the hub's `max_event_bytes`.
    TooLarge {
        /// Size of the encoded event in bytes.
        len: usize,
        /// The hub's limit in bytes.
        max: usize,
    },
    /// The payload could not be encoded as CBOR.
    Encode(String),
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmitError::Full { seq } => write!(f, "event {seq} refused: the ring is full"),
            EmitError::Closed => f.write_str("the hub is closed"),
            EmitError::InvalidName(err) => write!(f, "invalid event name: {err}"),
            EmitError::TooLarge { len, max } => {
                write!(f, "event is {len} bytes, the limit is {max} bytes")
            }
            EmitError::Encode(msg) => write!(f, "payload could not be encoded as CBOR: {msg}"),
        }
    }
}

impl std::error::Error for EmitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EmitError::InvalidName(err) => Some(err),
            _ => None,
        }
    }
}

impl From<NameError> for EmitError {
    fn from(err: NameError) -> Self {
        EmitError::InvalidName(err)
    }
}

/// Why a [`HubConfig`](crate::HubConfig) was refused by [`Hub::new`](crate::Hub::new).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// `capacity` is 0 or above [`MAX_CAPACITY`](crate::MAX_CAPACITY).
    Capacity(usize),
    /// `max_event_bytes` is 0 or above [`MAX_EVENT_BYTES`](crate::MAX_EVENT_BYTES).
    MaxEventBytes(usize),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Capacity(n) => write!(
                f,
                "capacity must be between 1 and {}, got {n}",
                crate::MAX_CAPACITY
            ),
            ConfigError::MaxEventBytes(n) => write!(
                f,
                "max_event_bytes must be between 1 and {}, got {n}",
                crate::MAX_EVENT_BYTES
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Why [`Hub::spawn`](crate::Hub::spawn) could not start a thread.
#[derive(Debug)]
pub enum SpawnError {
    /// The hub was closed; no new threads are started.
    Closed,
    /// The operating system refused to create the thread.
    Os(std::io::Error),
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::Closed => f.write_str("the hub is closed"),
            SpawnError::Os(err) => write!(f, "could not start a thread: {err}"),
        }
    }
}

impl std::error::Error for SpawnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SpawnError::Os(err) => Some(err),
            SpawnError::Closed => None,
        }
    }
}
