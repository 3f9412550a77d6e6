//! A ticker: `{ n, at }` every `intervalMs`, `at` being the hub's clock.

use std::time::{Duration, Instant};

use ffi_events::{EmitError, Emitter, StopToken};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde::Serialize;

use crate::errors::invalid_arg;
use crate::hub::NativeHub;
use crate::sources::SourceControl;

/// Options of `startTicker`.
#[napi(object)]
#[derive(Debug)]
pub struct TickerOptions {
    /// Event name.
    pub name: String,
    /// Period in milliseconds; fractions allowed (0.01 is 100,000 events/s).
    pub interval_ms: f64,
    /// Events to emit before stopping; unlimited when omitted.
    pub count: Option<f64>,
    /// Call `heartbeat()` before every tick.
    pub heartbeat: Option<bool>,
}

/// One tick; also the payload of `'tick'` bursts.
#[derive(Serialize)]
pub(crate) struct Tick {
    /// 0, 1, 2, ...
    pub(crate) n: u64,
    /// Emit time on the hub's clock (`process.hrtime.bigint()` in ns).
    pub(crate) at: u64,
}

/// Starts a ticker thread on `hub`.
#[napi]
pub fn start_ticker(hub: &NativeHub, options: TickerOptions) -> Result<SourceControl> {
    if !(options.interval_ms.is_finite() && options.interval_ms >= 0.0) {
        return Err(invalid_arg(format!(
            "intervalMs must be a finite number >= 0, got {}",
            options.interval_ms
        )));
    }
    let count = match options.count {
        None => u64::MAX,
        Some(c) if c.is_finite() && c >= 0.0 && c.fract() == 0.0 => c as u64,
        Some(c) => {
            return Err(invalid_arg(format!(
                "count must be a non-negative integer, got {c}"
            )))
        }
    };
    let interval = Duration::from_secs_f64(options.interval_ms / 1000.0);
    let beat = options.heartbeat.unwrap_or(false);
    let name = options.name;
    let handle = hub.spawn("ffi-events-ticker", move |emitter, stop| {
        run(&emitter, &stop, &name, interval, count, beat)
    })?;
    Ok(SourceControl::new(handle))
}

fn run(
    emitter: &Emitter,
    stop: &StopToken,
    name: &str,
    interval: Duration,
    count: u64,
    beat: bool,
) {
    let start = Instant::now();
    for n in 0..count {
        let offset_ns = interval.as_nanos().saturating_mul(u128::from(n));
        let deadline = start + Duration::from_nanos(u64::try_from(offset_ns).unwrap_or(u64::MAX));
        if !sleep_until(stop, deadline) {
            return;
        }
        if beat && emitter.heartbeat().is_err() {
            return;
        }
        let tick = Tick {
            n,
            at: emitter.now_ns(),
        };
        match emitter.emit(name, &tick) {
            // A full ring is counted by the hub; the ticker keeps its pace.
            Ok(_) | Err(EmitError::Full { .. }) => {}
            Err(_) => return,
        }
    }
}

/// Sleeps until `deadline`, precisely for short waits; false when stopped.
fn sleep_until(stop: &StopToken, deadline: Instant) -> bool {
    const SPIN: Duration = Duration::from_micros(500);
    let now = Instant::now();
    if deadline > now + SPIN && !stop.sleep_until(deadline - SPIN) {
        return false;
    }
    while Instant::now() < deadline {
        if stop.is_stopped() {
            return false;
        }
        std::thread::yield_now();
    }
    !stop.is_stopped()
}
