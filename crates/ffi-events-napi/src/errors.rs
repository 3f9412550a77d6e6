//! How refusals and failures reach JavaScript.

use ffi_events::{ConfigError, EmitError, SpawnError};
use napi::bindgen_prelude::*;
use napi_derive::napi;

/// Why an emit was refused; returned (negated) instead of a sequence number
/// so that the hot path creates no error objects. `index.ts` turns each into
/// `false` or a typed error.
#[napi]
#[derive(Debug, PartialEq, Eq)]
pub enum EmitRefusal {
    /// The ring was full under `overflow: 'reject'`; the offer is counted as refused.
    Full = 1,
    /// The hub is closed.
    Closed = 2,
    /// The name is empty, longer than 255 bytes or contains NUL.
    InvalidName = 3,
    /// The event is larger than `maxEventBytes`.
    TooLarge = 4,
}

/// Maps an emit result to the number `emitCbor`/`emitRaw` return: the
/// sequence number, or the negated [`EmitRefusal`].
pub(crate) fn emit_outcome(result: std::result::Result<u64, EmitError>) -> f64 {
    let refusal = match result {
        Ok(seq) => return seq as f64,
        Err(EmitError::Full { .. }) => EmitRefusal::Full,
        Err(EmitError::Closed) => EmitRefusal::Closed,
        Err(EmitError::InvalidName(_)) => EmitRefusal::InvalidName,
        // The binding only emits pre-encoded payloads, which cannot fail to encode.
        Err(EmitError::TooLarge { .. }) | Err(EmitError::Encode(_)) => EmitRefusal::TooLarge,
    };
    -(refusal as i32 as f64)
}

pub(crate) fn config_error(err: ConfigError) -> Error {
    Error::new(Status::InvalidArg, err.to_string())
}

pub(crate) fn spawn_error(err: SpawnError) -> Error {
    match err {
        SpawnError::Closed => Error::new(Status::GenericFailure, "the hub is closed"),
        SpawnError::Os(err) => Error::new(
            Status::GenericFailure,
            format!("could not start a thread: {err}"),
        ),
    }
}

pub(crate) fn invalid_arg(message: impl Into<String>) -> Error {
    Error::new(Status::InvalidArg, message.into())
}
