//! The latency rows' three transports, each fed by a [`Pacer`]:
//!
//! - `runPacedSink`: a native thread hands each tick to an ffi-events hub
//!   through its C entry (`ffi_events_emit` of `hub.nativeSink()`, CBOR
//!   lane), as a foreign library's thread would;
//! - `runPacedTsfn`, contender (a): a native thread calls one
//!   `ThreadsafeFunction` per tick (`NonBlocking`, unbounded napi queue,
//!   payload a `Buffer` from a `Vec<u8>`), as `runBurst` does;
//! - `PacedTicks`, contender (b): the pacer on the calling thread (a
//!   worker's), one tick per `next()`, which the worker posts.

use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::JsDeferred;
use napi_derive::napi;

use crate::pacer::{PacedOptions, PacedResult, Pacer};
use crate::EventFn;

/// `ffi_events_emit` (include/ffi_events.h).
type EmitFn =
    unsafe extern "C" fn(*mut c_void, *const c_char, usize, *const u8, usize, c_int) -> c_int;

/// `FFI_EVENTS_FULL`: the ring was full, the tick is refused and counted.
const FFI_EVENTS_FULL: c_int = 1;
/// `FFI_EVENTS_LANE_CBOR`: the payload is one CBOR data item.
const FFI_EVENTS_LANE_CBOR: c_int = 0;

type Resolver = Box<dyn FnOnce(Env) -> Result<PacedResult> + Send>;

/// Runs `pacer` on a new thread, handing each tick to `send` (true when
/// the transport took it, false when it refused it, `None` to stop), and
/// resolves the returned promise with what happened.
fn spawn_paced<'env>(
    env: &'env Env,
    mut pacer: Pacer,
    mut send: impl FnMut(&[u8]) -> Option<bool> + Send + 'static,
) -> Result<Object<'env>> {
    let (deferred, promise) = env.create_deferred::<PacedResult, Resolver>()?;
    let deferred: JsDeferred<PacedResult, Resolver> = deferred;
    std::thread::Builder::new()
        .name("paced-producer".into())
        .spawn(move || {
            let clock = pacer.clock();
            while let Some(bytes) = pacer.next_tick() {
                let started = clock.now_ns();
                let Some(accepted) = send(bytes) else { break };
                let took = clock.now_ns().saturating_sub(started);
                pacer.record(accepted, took);
            }
            let result = pacer.result();
            deferred.resolve(Box::new(move |_env| Ok(result)));
        })
        .map_err(|e| Error::from_reason(format!("could not start a thread: {e}")))?;
    Ok(promise)
}

/// Sends paced `{ n, at }` ticks named `name` into an ffi-events hub from
/// a native thread through the C entry of one of its sinks: `emit` and
/// `userData` as `hub.nativeSink()` gives them. A full ring refuses the
/// tick (counted); the producer keeps its pace. Stops early when the sink
/// closes.
#[napi(ts_return_type = "Promise<PacedResult>")]
pub fn run_paced_sink<'env>(
    env: &'env Env,
    emit: BigInt,
    user_data: BigInt,
    name: String,
    options: PacedOptions,
) -> Result<Object<'env>> {
    let pacer = Pacer::new(&options)?;
    let (_, address, _) = emit.get_u64();
    let (_, user_data, _) = user_data.get_u64();
    if address == 0 {
        return Err(crate::invalid(
            "emit must be the address of ffi_events_emit".into(),
        ));
    }
    // SAFETY: the caller passes `sink.emit`, the address of `ffi_events_emit`
    // in the ffi-events addon, which Node never unloads; its signature is
    // `EmitFn`. A stale `user_data` is refused by the callee, never used.
    let emit = unsafe { std::mem::transmute::<usize, EmitFn>(address as usize) };
    spawn_paced(env, pacer, move |bytes| {
        // SAFETY: `name` and `bytes` are readable for their lengths during
        // the call, as `ffi_events_emit` requires.
        let status = unsafe {
            emit(
                user_data as usize as *mut c_void,
                name.as_ptr().cast(),
                name.len(),
                bytes.as_ptr(),
                bytes.len(),
                FFI_EVENTS_LANE_CBOR,
            )
        };
        match status {
            0 => Some(true),
            FFI_EVENTS_FULL => Some(false),
            _ => None,
        }
    })
}

/// Contender (a): sends paced `{ n, at }` ticks from a native thread, one
/// `ThreadsafeFunction` call each; `callback(buffer)` runs once per tick.
#[napi(ts_return_type = "Promise<PacedResult>")]
pub fn run_paced_tsfn<'env>(
    env: &'env Env,
    callback: Function<'_, Buffer, Unknown<'static>>,
    options: PacedOptions,
) -> Result<Object<'env>> {
    let pacer = Pacer::new(&options)?;
    let tsfn: Arc<EventFn> = Arc::new(
        callback
            .build_threadsafe_function::<Buffer>()
            .callee_handled::<false>()
            .build()?,
    );
    spawn_paced(env, pacer, move |bytes| {
        match tsfn.call(
            Buffer::from(bytes.to_vec()),
            ThreadsafeFunctionCallMode::NonBlocking,
        ) {
            Status::Ok => Some(true),
            _ => None,
        }
    })
}

/// Contender (b)'s producer: the pacer on the calling thread. A worker
/// calls `next()` in a loop and posts each tick's bytes.
#[napi]
pub struct PacedTicks {
    pacer: Pacer,
}

#[napi]
impl PacedTicks {
    /// A schedule of `options.count` ticks at `options.rate`; it starts at
    /// the first `next()`.
    #[napi(constructor)]
    pub fn new(options: PacedOptions) -> Result<Self> {
        Ok(PacedTicks {
            pacer: Pacer::new(&options)?,
        })
    }

    /// Blocks this thread until the next tick is due, then returns its
    /// bytes (a new `Buffer` of exactly their length), or `null` after the
    /// last tick.
    #[napi(ts_return_type = "Buffer | null")]
    pub fn next<'env>(&mut self, env: &'env Env) -> Result<Option<BufferSlice<'env>>> {
        let Some(bytes) = self.pacer.next_tick() else {
            return Ok(None);
        };
        let buffer = BufferSlice::copy_from(env, bytes)?;
        // The worker posts what it gets (postMessage never refuses) and
        // times its own sends.
        self.pacer.record(true, 0);
        Ok(Some(buffer))
    }

    /// What the producer did so far (`slowSends` and `maxSendUs` are the
    /// worker's to fill in).
    #[napi]
    pub fn result(&self) -> PacedResult {
        self.pacer.result()
    }
}
