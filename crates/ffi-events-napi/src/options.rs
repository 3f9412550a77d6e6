//! `NativeHub` constructor options.

use std::time::Duration;

use ffi_events::{HubConfig, Overflow};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::errors::invalid_arg;

/// Options of `new NativeHub(options, deliver)`; every field is optional.
#[napi(object)]
#[derive(Debug, Default)]
pub struct HubOptions {
    /// Ring capacity in events (default 1024).
    pub capacity: Option<u32>,
    /// `'reject'` (default) or `'dropOldest'`.
    pub overflow: Option<String>,
    /// Stall timeout for heartbeating producers in ms; 0 disables (default 5000).
    pub stall_timeout_ms: Option<f64>,
    /// Largest event in bytes (default 16 MiB).
    pub max_event_bytes: Option<u32>,
    /// Most events per batch handed to JS (default 4096).
    pub max_batch_events: Option<u32>,
    /// `process.hrtime.bigint()` at construction, so native timestamps share
    /// its clock. Used only where the core cannot read that clock itself
    /// (`ffi_events::hrtime_ns`; Linux and macOS read it directly).
    pub clock_origin_ns: Option<BigInt>,
}

impl HubOptions {
    pub(crate) fn to_config(&self) -> Result<HubConfig> {
        let defaults = HubConfig::default();
        let overflow = match self.overflow.as_deref() {
            None | Some("reject") => Overflow::Reject,
            Some("dropOldest") => Overflow::DropOldest,
            Some(other) => {
                return Err(invalid_arg(format!(
                    "overflow must be 'reject' or 'dropOldest', got '{other}'"
                )))
            }
        };
        let stall_timeout = match self.stall_timeout_ms {
            None => defaults.stall_timeout,
            Some(0.0) => None,
            Some(ms) if ms.is_finite() && ms > 0.0 => Some(Duration::from_secs_f64(ms / 1000.0)),
            Some(ms) => {
                return Err(invalid_arg(format!(
                    "stallTimeoutMs must be a positive number or 0, got {ms}"
                )))
            }
        };
        let clock_origin_ns = match &self.clock_origin_ns {
            Some(big) => {
                let (negative, value, lossless) = big.get_u64();
                if negative || !lossless {
                    return Err(invalid_arg(
                        "clockOriginNs must fit in an unsigned 64-bit integer",
                    ));
                }
                value
            }
            None => 0,
        };
        Ok(HubConfig {
            capacity: self.capacity.map_or(defaults.capacity, |c| c as usize),
            overflow,
            stall_timeout,
            max_event_bytes: self
                .max_event_bytes
                .map_or(defaults.max_event_bytes, |b| b as usize),
            clock_origin_ns,
            // Timestamps are `process.hrtime.bigint()` readings where the
            // core can read that clock; elsewhere they count from the JS
            // reading above.
            clock_hrtime: true,
        })
    }
}
