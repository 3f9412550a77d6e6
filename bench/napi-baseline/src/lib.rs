//! Benchmark baseline (a): what a napi-rs user writes without ffi-events.
//!
//! Each producer thread calls one `ThreadsafeFunction` once per event with
//! `NonBlocking` on napi's default unbounded queue, handing over the payload
//! as a `Buffer` built from a `Vec<u8>`; the JS callback decodes the CBOR
//! with cbor-x. The payloads are byte for byte the ones the built-in
//! ffi-events sources produce, so the two sides do the same work per event:
//!
//! - `'raw'`: `u32 thread, u32 index` (little-endian), then zeros up to
//!   `payloadBytes` (as `sources.burst` with `encoding: 'raw'`);
//! - `'cbor'`: `{ thread, i, data }` with `data` a byte string of
//!   `payloadBytes` bytes (as `sources.burst` with `encoding: 'cbor'`);
//! - `'tick'`: `{ n, at }`, `at` in nanoseconds on `process.hrtime.bigint()`'s
//!   clock (as `sources.ticker`).
//!
//! This crate is not shipped; it is built into `bench/napi-baseline/` by
//! `bench/index.mjs`.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::JsDeferred;
use napi_derive::napi;
use serde::Serialize;

/// One call per event: payload `Buffer`, no error-first argument, strong,
/// unbounded queue (napi-rs's defaults except `CalleeHandled`).
type EventFn = ThreadsafeFunction<Buffer, Unknown<'static>, Buffer, Status, false>;

/// Options of `runBurst`.
#[napi(object)]
#[derive(Debug)]
pub struct BurstOptions {
    /// Events in all, split evenly across the threads.
    pub count: f64,
    /// Producer threads (1 to 64).
    pub threads: u32,
    /// Bytes of payload (`'raw'`, `'cbor'`); ignored for `'tick'`.
    pub payload_bytes: u32,
    /// `'raw'`, `'cbor'` or `'tick'`.
    pub encoding: String,
    /// `process.hrtime.bigint()` now, for `'tick'` timestamps.
    pub origin_ns: BigInt,
}

/// Options of `runTicker`.
#[napi(object)]
#[derive(Debug)]
pub struct TickerOptions {
    /// Period in milliseconds (0.01 is 100,000 events/s).
    pub interval_ms: f64,
    /// Ticks to emit.
    pub count: f64,
    /// `process.hrtime.bigint()` now.
    pub origin_ns: BigInt,
}

/// What the producers did.
#[napi(object)]
#[derive(Debug, Clone, Copy, Default)]
pub struct RunResult {
    /// Calls napi accepted.
    pub queued: f64,
    /// Calls napi refused (never with an unbounded queue while the env lives).
    pub failed: f64,
}

#[derive(Serialize)]
struct Item<'a> {
    thread: u32,
    i: u64,
    #[serde(with = "serde_bytes")]
    data: &'a [u8],
}

#[derive(Serialize)]
struct Tick {
    n: u64,
    at: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Raw,
    Cbor,
    Tick,
}

/// Nanoseconds on `process.hrtime.bigint()`'s clock.
#[derive(Clone, Copy)]
struct Clock {
    origin: Instant,
    origin_ns: u64,
}

impl Clock {
    fn new(origin_ns: &BigInt) -> Clock {
        Clock {
            origin: Instant::now(),
            origin_ns: origin_ns.get_u64().1,
        }
    }

    /// The clock ffi-events stamps with, so that both contenders' latencies
    /// are measured alike: `process.hrtime.bigint()`'s own clock where it can
    /// be read, else the JS reading plus the time elapsed since.
    fn now_ns(&self) -> u64 {
        ffi_events::hrtime_ns().unwrap_or_else(|| {
            self.origin_ns
                .saturating_add(u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX))
        })
    }
}

type Resolver = Box<dyn FnOnce(Env) -> Result<RunResult> + Send>;

struct Progress {
    queued: AtomicU64,
    failed: AtomicU64,
    threads_left: AtomicUsize,
    deferred: Mutex<Option<JsDeferred<RunResult, Resolver>>>,
}

impl Progress {
    fn new(threads: usize, deferred: JsDeferred<RunResult, Resolver>) -> Arc<Progress> {
        Arc::new(Progress {
            queued: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            threads_left: AtomicUsize::new(threads),
            deferred: Mutex::new(Some(deferred)),
        })
    }

    fn record(&self, status: Status) {
        if status == Status::Ok {
            self.queued.fetch_add(1, Ordering::Relaxed);
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn finish_thread(&self) {
        if self.threads_left.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        let result = RunResult {
            queued: self.queued.load(Ordering::Acquire) as f64,
            failed: self.failed.load(Ordering::Acquire) as f64,
        };
        let deferred = self
            .deferred
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(deferred) = deferred {
            deferred.resolve(Box::new(move |_env| Ok(result)));
        }
    }
}

fn invalid(message: String) -> Error {
    Error::new(Status::InvalidArg, message)
}

fn count_of(count: f64) -> Result<u64> {
    if count.is_finite() && count >= 0.0 && count.fract() == 0.0 {
        Ok(count as u64)
    } else {
        Err(invalid(format!(
            "count must be a non-negative integer, got {count}"
        )))
    }
}

fn encode<T: Serialize>(value: &T, capacity: usize) -> Vec<u8> {
    // Encoding into a Vec cannot fail for these types.
    cbor4ii::serde::to_vec(Vec::with_capacity(capacity), value).unwrap_or_default()
}

/// Emits `count` events from `threads` threads as fast as they can, one
/// `ThreadsafeFunction` call each; `callback(buffer)` runs once per event.
/// Resolves when every thread has queued its share (not when JS has seen
/// them all: count calls in the callback for that).
#[napi(ts_return_type = "Promise<RunResult>")]
pub fn run_burst<'env>(
    env: &'env Env,
    callback: Function<'_, Buffer, Unknown<'static>>,
    options: BurstOptions,
) -> Result<Object<'env>> {
    let encoding = match options.encoding.as_str() {
        "raw" => Encoding::Raw,
        "cbor" => Encoding::Cbor,
        "tick" => Encoding::Tick,
        other => {
            return Err(invalid(format!(
                "encoding must be 'raw', 'cbor' or 'tick', got '{other}'"
            )))
        }
    };
    if !(1..=64).contains(&options.threads) {
        return Err(invalid(format!(
            "threads must be between 1 and 64, got {}",
            options.threads
        )));
    }
    let count = count_of(options.count)?;
    let tsfn: Arc<EventFn> = Arc::new(
        callback
            .build_threadsafe_function::<Buffer>()
            .callee_handled::<false>()
            .build()?,
    );
    let clock = Clock::new(&options.origin_ns);
    let (deferred, promise) = env.create_deferred::<RunResult, Resolver>()?;
    let threads = u64::from(options.threads);
    let progress = Progress::new(threads as usize, deferred);
    let payload_bytes = options.payload_bytes as usize;
    for thread in 0..threads {
        let share = count / threads + u64::from(thread < count % threads);
        let (tsfn, progress) = (tsfn.clone(), progress.clone());
        std::thread::Builder::new()
            .name("baseline-burst".into())
            .spawn(move || {
                let data = vec![0u8; payload_bytes];
                for i in 0..share {
                    let bytes = match encoding {
                        Encoding::Raw => {
                            let mut raw = vec![0u8; payload_bytes];
                            let mut header = [0u8; 8];
                            header[..4].copy_from_slice(&(thread as u32).to_le_bytes());
                            header[4..].copy_from_slice(&(i as u32).to_le_bytes());
                            let n = raw.len().min(8);
                            raw[..n].copy_from_slice(&header[..n]);
                            raw
                        }
                        Encoding::Cbor => encode(
                            &Item {
                                thread: thread as u32,
                                i,
                                data: &data,
                            },
                            payload_bytes + 32,
                        ),
                        Encoding::Tick => encode(
                            &Tick {
                                n: i,
                                at: clock.now_ns(),
                            },
                            24,
                        ),
                    };
                    let status =
                        tsfn.call(Buffer::from(bytes), ThreadsafeFunctionCallMode::NonBlocking);
                    progress.record(status);
                }
                drop(tsfn);
                progress.finish_thread();
            })
            .map_err(|e| Error::from_reason(format!("could not start a thread: {e}")))?;
    }
    Ok(promise)
}

/// Emits `{ n, at }` every `intervalMs` from one thread, one
/// `ThreadsafeFunction` call per tick, paced exactly like the ffi-events
/// ticker (sleep, then spin the last 500 µs).
#[napi(ts_return_type = "Promise<RunResult>")]
pub fn run_ticker<'env>(
    env: &'env Env,
    callback: Function<'_, Buffer, Unknown<'static>>,
    options: TickerOptions,
) -> Result<Object<'env>> {
    if !(options.interval_ms.is_finite() && options.interval_ms >= 0.0) {
        return Err(invalid(format!(
            "intervalMs must be a finite number >= 0, got {}",
            options.interval_ms
        )));
    }
    let count = count_of(options.count)?;
    let tsfn: EventFn = callback
        .build_threadsafe_function::<Buffer>()
        .callee_handled::<false>()
        .build()?;
    let clock = Clock::new(&options.origin_ns);
    let interval = Duration::from_secs_f64(options.interval_ms / 1000.0);
    let (deferred, promise) = env.create_deferred::<RunResult, Resolver>()?;
    let progress = Progress::new(1, deferred);
    std::thread::Builder::new()
        .name("baseline-ticker".into())
        .spawn(move || {
            let start = Instant::now();
            for n in 0..count {
                let offset = interval.as_nanos().saturating_mul(u128::from(n));
                let deadline =
                    start + Duration::from_nanos(u64::try_from(offset).unwrap_or(u64::MAX));
                sleep_until(deadline);
                let bytes = encode(
                    &Tick {
                        n,
                        at: clock.now_ns(),
                    },
                    24,
                );
                let status =
                    tsfn.call(Buffer::from(bytes), ThreadsafeFunctionCallMode::NonBlocking);
                progress.record(status);
            }
            drop(tsfn);
            progress.finish_thread();
        })
        .map_err(|e| Error::from_reason(format!("could not start a thread: {e}")))?;
    Ok(promise)
}

/// The ffi-events ticker's pacing: sleep until 500 µs before the deadline,
/// then yield-spin.
fn sleep_until(deadline: Instant) {
    const SPIN: Duration = Duration::from_micros(500);
    let now = Instant::now();
    if deadline > now + SPIN {
        std::thread::sleep(deadline - SPIN - now);
    }
    while Instant::now() < deadline {
        std::thread::yield_now();
    }
}
