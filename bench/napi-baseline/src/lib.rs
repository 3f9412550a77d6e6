//! Benchmark baselines: what a napi-rs user writes without ffi-events.
//!
//! (a) `runBurst`: each producer thread calls one `ThreadsafeFunction` once
//! per event with `NonBlocking` on napi's default unbounded queue, handing
//! over the payload as a `Buffer` built from a `Vec<u8>`; the JS callback
//! decodes the CBOR with cbor-x.
//!
//! (e) `runBatched`: the obvious batching design. Producer threads take one
//! `Mutex`, copy the event's bytes into one growing `Vec<u8>` and push its
//! end offset; the first producer after the JS side took the batch wakes it
//! with one `ThreadsafeFunction` call (later ones see the wake-up pending and
//! only append). On the JS thread the callback swaps the batch out under the
//! lock and hands it over as one `Buffer` copied into V8 memory plus a
//! `Uint32Array` of end offsets; JS slices and decodes each event. With
//! `maxBytes` the batch is bounded: a producer that finds it full backs off
//! and tries again, as an ffi-events producer with `onFull: 'retry'` does
//! on a full ring (the same memory budget as the hub's ring, see
//! `bench/lib/budget.mjs`).
//!
//! The payloads are byte for byte the ones the built-in ffi-events sources
//! produce, so every side does the same work per event:
//!
//! - `'raw'`: `u32 thread, u32 index` (little-endian), then zeros up to
//!   `payloadBytes` (as `sources.burst` with `encoding: 'raw'`);
//! - `'cbor'`: `{ thread, i, data }` with `data` a byte string of
//!   `payloadBytes` bytes (as `sources.burst` with `encoding: 'cbor'`);
//! - `'tick'`: `{ n, at }`, `at` in nanoseconds on `process.hrtime.bigint()`'s
//!   clock (as `sources.ticker`).
//!
//! (e) sends CBOR payloads inside the envelope `{ eventType, payload }`
//! (the bytes `ffi_events::encode_envelope` makes, which is what the hub
//! hands an `onRaw` listener), raw payloads as they are.
//!
//! The latency rows' producers (`paced.rs`): one paced `{ n, at }` ticker
//! (`pacer.rs`) feeding an ffi-events hub through its C entry
//! (`runPacedSink`), (a) through a `ThreadsafeFunction` (`runPacedTsfn`),
//! and (b) on a worker's own thread (`PacedTicks`).
//!
//! This crate is not shipped; it is built into `bench/napi-baseline/` by
//! `bench/index.mjs`.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod paced;
pub mod pacer;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{
    ThreadsafeCallContext, ThreadsafeFunction, ThreadsafeFunctionCallMode,
};
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
    /// `runBatched` only: the most bytes the pending batch may hold, counted
    /// as each event's bytes plus 4 for its end offset. A producer whose
    /// event does not fit yields (16 refusals in a row), then waits until JS
    /// took the batch, as an ffi-events producer with `onFull: 'retry'`
    /// does, and tries again; a batch always takes one event, however large.
    /// Unbounded when absent.
    pub max_bytes: Option<f64>,
}

/// What the producers did.
#[napi(object)]
#[derive(Debug, Clone, Copy, Default)]
pub struct RunResult {
    /// Calls napi accepted.
    pub queued: f64,
    /// Calls napi refused (never with an unbounded queue while the env lives).
    pub failed: f64,
    /// `runBatched` with `maxBytes`: appends refused because the batch was
    /// full, each followed by a retry.
    pub retried: f64,
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

/// The envelope `{ eventType, payload }` (field order and keys as the
/// hub's envelope, so the bytes are the same).
#[derive(Serialize)]
struct Envelope<'a, T> {
    #[serde(rename = "eventType")]
    event_type: &'a str,
    payload: T,
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
    retried: AtomicU64,
    threads_left: AtomicUsize,
    deferred: Mutex<Option<JsDeferred<RunResult, Resolver>>>,
}

impl Progress {
    fn new(threads: usize, deferred: JsDeferred<RunResult, Resolver>) -> Arc<Progress> {
        Arc::new(Progress {
            queued: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            retried: AtomicU64::new(0),
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
            retried: self.retried.load(Ordering::Acquire) as f64,
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

/// Checks the options of a burst: its encoding and event count.
fn burst_plan(options: &BurstOptions) -> Result<(Encoding, u64)> {
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
    Ok((encoding, count_of(options.count)?))
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
    let (encoding, count) = burst_plan(&options)?;
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
                            let mut raw = Vec::with_capacity(payload_bytes);
                            write_raw(&mut raw, payload_bytes, thread, i);
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

// ── (e) the obvious batching design ────────────────────────────────────────

/// One wake-up per batch: no payload (the batch is taken from [`Batches`]
/// on the JS thread), JS arguments `(buffer, ends)` built by the callback,
/// no error-first argument, strong, unbounded napi queue.
type BatchFn = ThreadsafeFunction<
    (),
    Unknown<'static>,
    FnArgs<(napi::sys::napi_value, napi::sys::napi_value)>,
    Status,
    false,
>;

/// Events appended since the JS side last took them.
#[derive(Default)]
struct Pending {
    /// Every event's bytes, one after another.
    bytes: Vec<u8>,
    /// End offset of each event in `bytes`.
    ends: Vec<u32>,
    /// A wake-up is on its way to the JS thread (set by the producer that
    /// calls the threadsafe function, cleared when JS takes the batch).
    woken: bool,
    /// Producers parked until JS takes the batch (see `Batches::wait_taken`).
    waiting: usize,
}

/// The shared batch, and the JS thread's spare buffers that are swapped in
/// when it takes the batch (so the producers keep appending into memory
/// already grown, and the JS thread reuses the other pair).
#[derive(Default)]
struct Batches {
    pending: Mutex<Pending>,
    /// Signalled when JS took the batch and a producer waits for that.
    taken: Condvar,
    spare: Mutex<(Vec<u8>, Vec<u32>)>,
}

impl Pending {
    /// Whether an event of `len` bytes may be appended: the batch is empty,
    /// or it stays within `max_bytes` (each event's bytes plus 4 for its
    /// offset) and its offsets within `u32`.
    fn fits(&self, len: usize, max_bytes: usize) -> bool {
        let offsets_fit = self.bytes.len() + len <= u32::MAX as usize;
        self.ends.is_empty()
            || (offsets_fit && self.bytes.len() + 4 * self.ends.len() + len + 4 <= max_bytes)
    }
}

impl Batches {
    /// Appends one event; returns whether the caller must wake the JS
    /// thread, or `None` when the batch cannot take it yet: it holds events
    /// and this one would take it past `max_bytes` (each event's bytes plus
    /// 4 for its offset), or its offsets would pass `u32::MAX`. The JS side
    /// must take the batch first; a wake-up is already on its way, since
    /// the batch is not empty.
    fn push(&self, event: &[u8], max_bytes: usize) -> Option<bool> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if !pending.fits(event.len(), max_bytes) {
            return None;
        }
        let end = u32::try_from(pending.bytes.len() + event.len()).ok()?;
        pending.bytes.extend_from_slice(event);
        pending.ends.push(end);
        let wake = !pending.woken;
        pending.woken = true;
        Some(wake)
    }

    /// Parks the calling producer until the batch can take an event of
    /// `len` bytes (JS took it): what an ffi-events `sources.burst` thread
    /// with `onFull: 'retry'` does on a full ring after `RETRY_YIELDS`
    /// refusals in a row (`Emitter::wait_for_room`), so that the bounded (e)
    /// and the hub wait alike. JS takes the batch
    /// when its wake-up, on its way since the batch is not empty, runs.
    fn wait_taken(&self, len: usize, max_bytes: usize) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.waiting += 1;
        while !pending.fits(len, max_bytes) {
            pending = self.taken.wait(pending).unwrap_or_else(|p| p.into_inner());
        }
        pending.waiting -= 1;
    }

    /// On the JS thread: takes every event appended so far and hands them
    /// to JS as a `Buffer` copied into V8 memory and a `Uint32Array` of end
    /// offsets.
    fn take(&self, env: &Env) -> Result<FnArgs<(napi::sys::napi_value, napi::sys::napi_value)>> {
        let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
        let (bytes, ends) = &mut *spare;
        bytes.clear();
        ends.clear();
        {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::swap(&mut pending.bytes, bytes);
            std::mem::swap(&mut pending.ends, ends);
            pending.woken = false;
            if pending.waiting > 0 {
                self.taken.notify_all();
            }
        }
        let buffer = BufferSlice::copy_from(env, &*bytes)?.raw();
        let ends = Uint32ArraySlice::copy_from(env, &*ends)?.raw();
        Ok(FnArgs::from((buffer, ends)))
    }
}

/// Refusals in a row a producer of (e) answers by yielding before it waits
/// for JS to take the batch: an ffi-events `sources.burst` thread's
/// `RETRY_YIELDS`.
const RETRY_YIELDS: u32 = 16;

/// Contender (e): emits `count` events from `threads` threads as fast as
/// they can; each event's bytes (the CBOR envelope `{ eventType: 'e',
/// payload }` for `'cbor'` and `'tick'`, the payload itself for `'raw'`) are
/// encoded into a reused per-thread buffer, then copied under one `Mutex`
/// into a shared batch. The first producer after JS took the batch calls
/// the threadsafe function; `callback(buffer, ends)` gets every event
/// appended until it ran, `ends[k]` the end offset of event `k` in `buffer`
/// (the first starts at 0). Nothing is dropped: without `maxBytes` the
/// batch grows as needed; with it, a producer whose event does not fit
/// yields, then waits until JS took the batch, and appends the same bytes
/// again (counted in `retried`).
/// Resolves when every thread has appended its share; `queued` counts the
/// wake-ups napi accepted.
#[napi(ts_return_type = "Promise<RunResult>")]
pub fn run_batched<'env>(
    env: &'env Env,
    #[napi(ts_arg_type = "(buffer: Buffer, ends: Uint32Array) => unknown")] callback: Function<
        '_,
        FnArgs<(Buffer, Uint32Array)>,
        Unknown<'static>,
    >,
    options: BurstOptions,
) -> Result<Object<'env>> {
    let (encoding, count) = burst_plan(&options)?;
    let max_bytes = match options.max_bytes {
        None => usize::MAX,
        Some(max) if max.is_finite() && max >= 1.0 && max.fract() == 0.0 => max as usize,
        Some(max) => {
            return Err(invalid(format!(
                "maxBytes must be a positive integer, got {max}"
            )))
        }
    };
    let batches = Arc::new(Batches::default());
    let taker = batches.clone();
    let tsfn: Arc<BatchFn> = Arc::new(
        callback
            .build_threadsafe_function::<()>()
            .callee_handled::<false>()
            .build_callback(move |ctx: ThreadsafeCallContext<()>| taker.take(&ctx.env))?,
    );
    let clock = Clock::new(&options.origin_ns);
    let (deferred, promise) = env.create_deferred::<RunResult, Resolver>()?;
    let threads = u64::from(options.threads);
    let progress = Progress::new(threads as usize, deferred);
    let payload_bytes = options.payload_bytes as usize;
    for thread in 0..threads {
        let share = count / threads + u64::from(thread < count % threads);
        let (tsfn, progress, batches) = (tsfn.clone(), progress.clone(), batches.clone());
        let started = std::thread::Builder::new()
            .name("baseline-batched".into())
            .spawn(move || {
                let data = vec![0u8; payload_bytes];
                let mut scratch = Vec::with_capacity(payload_bytes + 64);
                let mut retried = 0u64;
                let mut refused_in_a_row = 0u32;
                let mut i = 0;
                while i < share {
                    scratch.clear();
                    match encoding {
                        Encoding::Raw => write_raw(&mut scratch, payload_bytes, thread, i),
                        Encoding::Cbor => {
                            let item = Item {
                                thread: thread as u32,
                                i,
                                data: &data,
                            };
                            scratch = encode_into(scratch, &envelope(&item));
                        }
                        Encoding::Tick => {
                            let tick = Tick {
                                n: i,
                                at: clock.now_ns(),
                            };
                            scratch = encode_into(scratch, &envelope(&tick));
                        }
                    }
                    // The same bytes again until the batch takes them.
                    loop {
                        match batches.push(&scratch, max_bytes) {
                            Some(wake) => {
                                if wake {
                                    let status =
                                        tsfn.call((), ThreadsafeFunctionCallMode::NonBlocking);
                                    progress.record(status);
                                }
                                refused_in_a_row = 0;
                                break;
                            }
                            None => {
                                retried += 1;
                                refused_in_a_row += 1;
                                if refused_in_a_row <= RETRY_YIELDS {
                                    std::thread::yield_now();
                                } else {
                                    batches.wait_taken(scratch.len(), max_bytes);
                                }
                            }
                        }
                    }
                    i += 1;
                }
                progress.retried.fetch_add(retried, Ordering::Relaxed);
                drop(tsfn);
                progress.finish_thread();
            });
        if let Err(e) = started {
            return Err(Error::from_reason(format!("could not start a thread: {e}")));
        }
    }
    Ok(promise)
}

fn envelope<T>(payload: T) -> Envelope<'static, T> {
    Envelope {
        event_type: "e",
        payload,
    }
}

/// Encodes `value` into `buffer` (cleared), keeping its allocation.
/// The raw payload, byte for byte the one `sources.burst` emits: `u32
/// thread, u32 index` (little-endian, cut to `len`), then zeros, written
/// over `out`'s contents.
fn write_raw(out: &mut Vec<u8>, len: usize, thread: u64, i: u64) {
    out.clear();
    out.resize(len, 0);
    let mut header = [0u8; 8];
    header[..4].copy_from_slice(&(thread as u32).to_le_bytes());
    header[4..].copy_from_slice(&(i as u32).to_le_bytes());
    let n = len.min(8);
    out[..n].copy_from_slice(&header[..n]);
}

fn encode_into<T: Serialize>(buffer: Vec<u8>, value: &T) -> Vec<u8> {
    // Encoding into a Vec cannot fail for these types; an empty event
    // would fail to decode in JS, loudly.
    cbor4ii::serde::to_vec(buffer, value).unwrap_or_default()
}
