//! The one paced producer of the latency rows.
//!
//! Every contender of a latency row gets its ticks from a [`Pacer`]: the
//! same schedule (tick `n` is due `n * interval` after the first), the same
//! wait (sleep until 500 µs before the deadline, then spin with
//! `yield_now`, as `sources.ticker` does), the same clock for the schedule
//! and the stamp (`process.hrtime.bigint()`'s, `CLOCK_MONOTONIC` on Linux),
//! and the same payload: `{ n, at }` encoded as CBOR, `at` read right
//! after the wait, before the encoding and the send. Only what happens to
//! the bytes next differs (`paced.rs`).

use std::time::Duration;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde::Serialize;

use crate::{invalid, Clock};

/// The last stretch before a deadline that is spun rather than slept: the
/// kernel's timer slack (50 µs by default) and a wake-up fit well inside.
const SPIN_NS: u64 = 500_000;

/// Options of the paced producers.
#[napi(object)]
#[derive(Debug)]
pub struct PacedOptions {
    /// Ticks per second (1 to 10,000,000).
    pub rate: f64,
    /// Ticks to send.
    pub count: f64,
    /// `process.hrtime.bigint()` now (only used where the native side
    /// cannot read that clock itself).
    pub origin_ns: BigInt,
}

/// What a paced producer did.
#[napi(object)]
#[derive(Debug, Clone, Copy, Default)]
pub struct PacedResult {
    /// Ticks handed to the transport.
    pub sent: f64,
    /// Ticks the transport refused (a full ring; never for the unbounded
    /// queues).
    pub refused: f64,
    /// Ticks stamped a whole interval or more after their deadline (the
    /// producer's thread did not run in time; their latency is still
    /// measured from the stamp).
    pub late: f64,
    /// The latest stamp after its deadline, in microseconds.
    pub max_late_us: f64,
    /// Sends (the transport's call on the producer's thread) that took
    /// 50 µs or more.
    pub slow_sends: f64,
    /// The longest send, in microseconds.
    pub max_send_us: f64,
}

/// A send at least this long counts as slow.
const SLOW_SEND_NS: u64 = 50_000;

/// The payload: the ticker's `{ n, at }`.
#[derive(Serialize)]
struct Tick {
    n: u64,
    at: u64,
}

/// A schedule of ticks and the buffer their bytes are encoded into.
pub(crate) struct Pacer {
    clock: Clock,
    interval_ns: u64,
    count: u64,
    /// The next tick's index.
    n: u64,
    /// The first tick's deadline, set when it is asked for.
    start_ns: Option<u64>,
    bytes: Vec<u8>,
    sent: u64,
    refused: u64,
    late: u64,
    max_late_ns: u64,
    slow_sends: u64,
    max_send_ns: u64,
}

impl Pacer {
    /// Checks the options; the schedule starts at the first [`Pacer::next_tick`].
    pub(crate) fn new(options: &PacedOptions) -> Result<Pacer> {
        if !(options.rate.is_finite() && (1.0..=1e7).contains(&options.rate)) {
            return Err(invalid(format!(
                "rate must be between 1 and 10,000,000 per second, got {}",
                options.rate
            )));
        }
        let count = crate::count_of(options.count)?;
        Ok(Pacer {
            clock: Clock::new(&options.origin_ns),
            interval_ns: (1e9 / options.rate).round() as u64,
            count,
            n: 0,
            start_ns: None,
            bytes: Vec::with_capacity(24),
            sent: 0,
            refused: 0,
            late: 0,
            max_late_ns: 0,
            slow_sends: 0,
            max_send_ns: 0,
        })
    }

    /// Waits until the next tick is due, stamps it and encodes it; its
    /// bytes, or `None` after the last tick.
    pub(crate) fn next_tick(&mut self) -> Option<&[u8]> {
        if self.n >= self.count {
            return None;
        }
        let start = *self.start_ns.get_or_insert_with(|| self.clock.now_ns());
        let deadline = start.saturating_add(self.interval_ns.saturating_mul(self.n));
        self.wait_until(deadline);
        let at = self.clock.now_ns();
        let late = at.saturating_sub(deadline);
        if late >= self.interval_ns {
            self.late += 1;
        }
        self.max_late_ns = self.max_late_ns.max(late);
        let tick = Tick { n: self.n, at };
        self.n += 1;
        self.bytes.clear();
        // Encoding two integers into a Vec cannot fail.
        self.bytes =
            cbor4ii::serde::to_vec(std::mem::take(&mut self.bytes), &tick).unwrap_or_default();
        Some(&self.bytes)
    }

    /// Counts what the transport did with the last tick, and how long its
    /// send took (0 when the send is not timed here).
    pub(crate) fn record(&mut self, accepted: bool, send_ns: u64) {
        if accepted {
            self.sent += 1;
        } else {
            self.refused += 1;
        }
        if send_ns >= SLOW_SEND_NS {
            self.slow_sends += 1;
        }
        self.max_send_ns = self.max_send_ns.max(send_ns);
    }

    /// The pacer's clock, to time a send with.
    pub(crate) fn clock(&self) -> Clock {
        self.clock
    }

    pub(crate) fn result(&self) -> PacedResult {
        PacedResult {
            sent: self.sent as f64,
            refused: self.refused as f64,
            late: self.late as f64,
            max_late_us: self.max_late_ns as f64 / 1e3,
            slow_sends: self.slow_sends as f64,
            max_send_us: self.max_send_ns as f64 / 1e3,
        }
    }

    /// Sleeps until `SPIN_NS` before `deadline`, then spins, yielding the
    /// CPU between clock reads.
    fn wait_until(&self, deadline: u64) {
        let ahead = deadline.saturating_sub(self.clock.now_ns());
        if ahead > SPIN_NS {
            std::thread::sleep(Duration::from_nanos(ahead - SPIN_NS));
        }
        while self.clock.now_ns() < deadline {
            std::thread::yield_now();
        }
    }
}
