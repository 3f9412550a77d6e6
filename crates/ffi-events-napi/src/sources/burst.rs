//! A burst: `count` events as fast as `threads` threads can emit them.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use ffi_events::{EmitError, Emitter, StopToken};
use napi::bindgen_prelude::*;
use napi::JsDeferred;
use napi_derive::napi;
use serde::Serialize;

use crate::batch::Consumer;
use crate::errors::invalid_arg;
use crate::hub::NativeHub;
use crate::sources::ticker::Tick;

/// Options of `startBurst`.
#[napi(object)]
#[derive(Debug)]
pub struct BurstOptions {
    /// Event name.
    pub name: String,
    /// Events in all, split evenly across the threads.
    pub count: f64,
    /// Producer threads (1 to 64).
    pub threads: u32,
    /// Bytes of payload per event.
    pub payload_bytes: u32,
    /// `'raw'`: `u32 thread, u32 index` (little-endian) then zeros up to
    /// `payloadBytes`. `'cbor'`: `{ thread, i, data }` with `data` a byte
    /// string of `payloadBytes` bytes. `'tick'`: the ticker's `{ n, at }`
    /// (`payloadBytes` ignored).
    pub encoding: String,
    /// `'drop'` (default): a refused event is counted and skipped, as a
    /// producer that must never wait does. `'retry'`: the thread yields (16
    /// refusals in a row), then waits for room (`Emitter::wait_for_room`,
    /// woken by the consumer's next drain), and emits the same event again
    /// until the ring takes it, as a lossless producer does; every refusal
    /// still counts as refused in the hub's stats.
    pub on_full: Option<String>,
    /// Time every emit and report the slowest in `maxEmitNs` (costs a clock
    /// read per emit).
    pub measure_latency: Option<bool>,
}

/// What a burst did.
#[napi(object)]
#[derive(Debug, Clone, Copy, Default)]
pub struct BurstResult {
    /// Events accepted by the hub.
    pub emitted: f64,
    /// Events lost for good: refused because the ring was full, and not
    /// retried (`onFull: 'drop'`).
    pub lost: f64,
    /// Refusals followed by a retry (`onFull: 'retry'`).
    pub retried: f64,
    /// Events not attempted because the hub closed or the burst was stopped.
    pub skipped: f64,
    /// The slowest single emit in nanoseconds, when `measureLatency` was set; 0 otherwise.
    pub max_emit_ns: f64,
}

#[derive(Serialize)]
struct Item<'a> {
    thread: u32,
    i: u64,
    #[serde(with = "serde_bytes")]
    data: &'a [u8],
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Raw,
    Cbor,
    Tick,
}

/// What a burst thread does when the ring is full.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OnFull {
    Drop,
    Retry,
}

type Resolver = Box<dyn FnOnce(Env) -> Result<BurstResult> + Send>;

/// Shared by the burst's threads; the last one to finish resolves.
struct Progress {
    emitted: AtomicU64,
    lost: AtomicU64,
    retried: AtomicU64,
    skipped: AtomicU64,
    max_emit_ns: AtomicU64,
    threads_left: AtomicUsize,
    /// Set when a thread's job panicked: the promise then rejects.
    panicked: AtomicBool,
    /// The hub's consumer, to tell a teardown of the environment (no
    /// promise left to settle) from an ordinary end.
    consumer: Weak<Consumer>,
    deferred: Mutex<Option<JsDeferred<BurstResult, Resolver>>>,
}

/// Finishes its thread's share of a burst when dropped, so that a job that
/// panics still settles the promise (it rejects).
struct FinishOnDrop<'a>(&'a Progress);

impl Drop for FinishOnDrop<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.panicked.store(true, Ordering::Release);
        }
        self.0.finish_thread();
    }
}

impl Progress {
    fn finish_thread(&self) {
        if self.threads_left.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        let panicked = self.panicked.load(Ordering::Acquire);
        let torn_down = self
            .consumer
            .upgrade()
            .map_or(true, |c| c.torn_down.load(Ordering::Acquire));
        let result = BurstResult {
            emitted: self.emitted.load(Ordering::Acquire) as f64,
            lost: self.lost.load(Ordering::Acquire) as f64,
            retried: self.retried.load(Ordering::Acquire) as f64,
            skipped: self.skipped.load(Ordering::Acquire) as f64,
            max_emit_ns: self.max_emit_ns.load(Ordering::Acquire) as f64,
        };
        let deferred = self
            .deferred
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match deferred {
            // The environment is gone with its promise: settling would only
            // queue a call it refuses (and whose data it would not free).
            Some(deferred) if torn_down => drop(deferred),
            Some(deferred) if panicked => deferred.reject(Error::new(
                Status::GenericFailure,
                "a burst thread panicked; its events were not all emitted",
            )),
            Some(deferred) => deferred.resolve(Box::new(move |_env| Ok(result))),
            None => {}
        }
    }
}

/// Starts a burst on `hub`; the promise resolves when every thread is done.
#[napi(ts_return_type = "Promise<BurstResult>")]
pub fn start_burst<'env>(
    env: &'env Env,
    hub: &NativeHub,
    options: BurstOptions,
) -> Result<Object<'env>> {
    let encoding = match options.encoding.as_str() {
        "raw" => Encoding::Raw,
        "cbor" => Encoding::Cbor,
        "tick" => Encoding::Tick,
        other => {
            return Err(invalid_arg(format!(
                "encoding must be 'raw', 'cbor' or 'tick', got '{other}'"
            )))
        }
    };
    let on_full = match options.on_full.as_deref() {
        None | Some("drop") => OnFull::Drop,
        Some("retry") => OnFull::Retry,
        Some(other) => {
            return Err(invalid_arg(format!(
                "onFull must be 'drop' or 'retry', got '{other}'"
            )))
        }
    };
    if !(1..=64).contains(&options.threads) {
        return Err(invalid_arg(format!(
            "threads must be between 1 and 64, got {}",
            options.threads
        )));
    }
    let count = options.count;
    if !(count.is_finite() && count >= 0.0 && count.fract() == 0.0) {
        return Err(invalid_arg(format!(
            "count must be a non-negative integer, got {count}"
        )));
    }
    let count = count as u64;
    let (deferred, promise) = env.create_deferred::<BurstResult, Resolver>()?;
    let threads = options.threads as u64;
    let progress = Arc::new(Progress {
        emitted: AtomicU64::new(0),
        lost: AtomicU64::new(0),
        retried: AtomicU64::new(0),
        skipped: AtomicU64::new(0),
        max_emit_ns: AtomicU64::new(0),
        threads_left: AtomicUsize::new(threads as usize),
        panicked: AtomicBool::new(false),
        consumer: hub.consumer_weak(),
        deferred: Mutex::new(Some(deferred)),
    });
    let name: Arc<str> = options.name.into();
    let payload_bytes = options.payload_bytes as usize;
    let measure = options.measure_latency.unwrap_or(false);
    for thread in 0..threads {
        let share = count / threads + u64::from(thread < count % threads);
        let (shared, name) = (progress.clone(), name.clone());
        let started = hub.spawn("ffi-events-burst", move |emitter, stop| {
            let job = Job {
                thread: thread as u32,
                share,
                name: &name,
                encoding,
                on_full,
                payload_bytes,
                measure,
            };
            let _finish = FinishOnDrop(&shared);
            job.run(&emitter, &stop, &shared);
        });
        if let Err(err) = started {
            // Threads not started count as finished, having skipped their share.
            let not_started = threads - thread;
            for t in thread..threads {
                let share = count / threads + u64::from(t < count % threads);
                progress.skipped.fetch_add(share, Ordering::AcqRel);
            }
            for _ in 0..not_started {
                progress.finish_thread();
            }
            return if thread == 0 { Err(err) } else { Ok(promise) };
        }
    }
    Ok(promise)
}

struct Job<'a> {
    thread: u32,
    share: u64,
    name: &'a str,
    encoding: Encoding,
    on_full: OnFull,
    payload_bytes: usize,
    measure: bool,
}

/// Refusals in a row answered by yielding before the thread parks until
/// the consumer frees room: room often comes within a few yields, and
/// parking at once (a wake-up per drain for every producer) made 4
/// producers of 64 B raw events slower (7.7–8.4 M/s against 10.7–13.2 M/s,
/// alternating runs).
const RETRY_YIELDS: u32 = 16;
/// How long a retrying producer waits for room before it looks whether it
/// was asked to stop (closing the hub ends the wait at once).
const RETRY_WAIT: Duration = Duration::from_millis(20);

impl Job<'_> {
    fn run(&self, emitter: &Emitter, stop: &StopToken, progress: &Progress) {
        let mut raw = vec![0u8; self.payload_bytes];
        let data = vec![0u8; self.payload_bytes];
        let (mut emitted, mut lost, mut retried) = (0u64, 0u64, 0u64);
        let mut refused_in_a_row = 0u32;
        let mut i = 0u64;
        let mut slowest = 0u64;
        while i < self.share {
            if stop.is_stopped() {
                break;
            }
            let started = self.measure.then(Instant::now);
            let result = match self.encoding {
                Encoding::Raw => {
                    let mut header = [0u8; 8];
                    header[..4].copy_from_slice(&self.thread.to_le_bytes());
                    header[4..].copy_from_slice(&(i as u32).to_le_bytes());
                    let n = raw.len().min(8);
                    raw[..n].copy_from_slice(&header[..n]);
                    emitter.emit_raw(self.name, &raw)
                }
                Encoding::Cbor => emitter.emit(
                    self.name,
                    &Item {
                        thread: self.thread,
                        i,
                        data: &data,
                    },
                ),
                Encoding::Tick => emitter.emit(
                    self.name,
                    &Tick {
                        n: i,
                        at: emitter.now_ns(),
                    },
                ),
            };
            if let Some(started) = started {
                slowest =
                    slowest.max(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX));
            }
            match result {
                Ok(_) => {
                    emitted += 1;
                    refused_in_a_row = 0;
                }
                Err(EmitError::Full { .. }) if self.on_full == OnFull::Retry => {
                    retried += 1;
                    refused_in_a_row += 1;
                    // Not reset after a wait: a producer that another one
                    // beat to the room parks again at once.
                    if refused_in_a_row <= RETRY_YIELDS {
                        std::thread::yield_now();
                    } else if emitter.wait_for_room(RETRY_WAIT).is_err() {
                        // Closed.
                        break;
                    }
                    continue;
                }
                Err(EmitError::Full { .. }) => lost += 1,
                Err(_) => break,
            }
            i += 1;
        }
        progress.emitted.fetch_add(emitted, Ordering::AcqRel);
        progress.lost.fetch_add(lost, Ordering::AcqRel);
        progress.retried.fetch_add(retried, Ordering::AcqRel);
        progress.skipped.fetch_add(self.share - i, Ordering::AcqRel);
        progress.max_emit_ns.fetch_max(slowest, Ordering::AcqRel);
    }
}
