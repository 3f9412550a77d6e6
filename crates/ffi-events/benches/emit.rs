//! Producer cost: `Emitter::emit_raw` and `Emitter::emit` of a 64-byte
//! payload (in the ring slot), and `emit_raw` of 200 bytes (in a spare
//! buffer, with the draining consumer only), from 1 thread (uncontended) and
//! from 4 threads contending, with three consumers:
//! - `ring_full`: nobody drains (the ring stays full: every emit takes the
//!   reject path);
//! - `drained`: a consumer thread woken like the JS thread (the hub's
//!   `Notify` unparks it), which drains with `linger` as the Node binding
//!   does, into one buffer per batch with `Hub::drain_batch` (the
//!   binding's per-batch work), and yields between polls;
//! - `spinning`: a consumer thread calling `Hub::drain` in a tight loop on
//!   a mostly empty ring, the worst case for cache-line traffic between
//!   producer and consumer.
//!
//! Run: `cargo bench -p ffi-events --bench emit` (also run by `npm run bench`).
//! With 4 threads the reported time is the wall time of one emit as seen by
//! each thread while all four emit at once (each thread does `iters` emits;
//! the slowest thread's elapsed time is divided by `iters`).

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ffi_events::{DrainLimits, Emitter, Hub, HubConfig, Notify};

const PAYLOAD: [u8; 64] = [0xab; 64];
/// Too large for a ring slot, small enough for a spare buffer (`spare.rs`).
const SPARE_PAYLOAD: [u8; 200] = [0xcd; 200];
const NAME: &str = "frame";

/// Stands in for the Node binding's threadsafe function: the hub always has
/// a consumer attached in practice, so wake-ups cost what they cost.
struct NoopWake;

impl Notify for NoopWake {
    fn notify(&self) -> bool {
        true
    }
}

/// Wakes a consumer thread the way the threadsafe function wakes the JS
/// thread: one call per idle-to-busy transition.
struct UnparkWake(OnceLock<Thread>);

impl Notify for UnparkWake {
    fn notify(&self) -> bool {
        if let Some(thread) = self.0.get() {
            thread.unpark();
        }
        true
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Raw,
    Cbor,
    /// `emit_raw` of 200 bytes: the spare-buffer path.
    RawSpare,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Raw => "emit_raw_64B",
            Op::Cbor => "emit_64B",
            Op::RawSpare => "emit_raw_200B",
        }
    }

    #[inline]
    fn run(self, emitter: &Emitter) {
        let result = match self {
            Op::Raw => emitter.emit_raw(NAME, black_box(&PAYLOAD)),
            Op::Cbor => emitter.emit(NAME, serde_bytes::Bytes::new(black_box(&PAYLOAD))),
            Op::RawSpare => emitter.emit_raw(NAME, black_box(&SPARE_PAYLOAD)),
        };
        // Ok or Full: both are the cost being measured.
        let _ = black_box(result);
    }
}

#[derive(Clone, Copy, Debug)]
enum Consumer {
    /// Nobody drains: the ring is filled first, so every emit is refused.
    None,
    /// Woken by the hub, drains and encodes batches, as the JS thread does.
    Batched,
    /// One thread drains in a tight loop.
    Spinning,
}

impl Consumer {
    fn label(self) -> &'static str {
        match self {
            Consumer::None => "ring_full",
            Consumer::Batched => "drained",
            Consumer::Spinning => "spinning",
        }
    }
}

struct Setup {
    label: &'static str,
    hub: Arc<Hub>,
    stop: Arc<AtomicBool>,
    drainer: Option<std::thread::JoinHandle<()>>,
}

impl Setup {
    fn new(consumer: Consumer) -> Setup {
        let hub = Arc::new(
            Hub::new(HubConfig {
                stall_timeout: None,
                ..HubConfig::default()
            })
            .expect("default config is valid"),
        );
        // Drains hand over only events someone listens to.
        hub.registry()
            .add(ffi_events::Filter::Any)
            .expect("Any needs no name");
        let stop = Arc::new(AtomicBool::new(false));
        let drainer = match consumer {
            Consumer::None => {
                hub.attach(Arc::new(NoopWake));
                let emitter = hub.emitter();
                while emitter.emit_raw(NAME, &PAYLOAD).is_ok() {}
                None
            }
            Consumer::Batched => {
                let wake = Arc::new(UnparkWake(OnceLock::new()));
                hub.attach(wake.clone());
                let (hub, stop) = (hub.clone(), stop.clone());
                let drainer = std::thread::spawn(move || batched_consumer(&hub, &stop));
                let _ = wake.0.set(drainer.thread().clone());
                Some(drainer)
            }
            Consumer::Spinning => {
                hub.attach(Arc::new(NoopWake));
                let (hub, stop) = (hub.clone(), stop.clone());
                Some(std::thread::spawn(move || {
                    let mut out = Vec::with_capacity(4096);
                    while !stop.load(Ordering::Relaxed) {
                        hub.drain(&mut out, DrainLimits::default());
                        out.clear();
                    }
                }))
            }
        };
        Setup {
            label: consumer.label(),
            hub,
            stop,
            drainer,
        }
    }
}

/// The Node binding's consumer loop without JS: drain (lingering), copy the
/// batch into one buffer, poll again after a yield while events keep
/// coming, sleep until woken once a drain goes idle (it took at most one
/// event and left none).
fn batched_consumer(hub: &Hub, stop: &AtomicBool) {
    let limits = DrainLimits {
        linger: true,
        ..DrainLimits::default()
    };
    let mut buffer = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let drained = hub.drain_batch(limits, |len| {
            buffer.resize(len, 0);
            Ok::<_, ()>(&mut buffer[..])
        });
        black_box(&buffer);
        if matches!(drained, Ok(Some(d)) if d.more) {
            std::thread::yield_now();
        } else {
            std::thread::park_timeout(Duration::from_millis(1));
        }
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(drainer) = self.drainer.take() {
            let _ = drainer.join();
        }
        // How many timed emits took the reject path (a full ring is cheaper).
        let stats = self.hub.stats();
        eprintln!(
            "  [{}] emits {}, refused {} ({:.1}%), batches {}, wake-ups {}",
            self.label,
            stats.emitted,
            stats.refused,
            100.0 * stats.refused as f64 / stats.emitted.max(1) as f64,
            stats.batches,
            stats.wakeups
        );
    }
}

fn contended(emitter: &Emitter, op: Op, threads: usize, iters: u64) -> Duration {
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (emitter, barrier) = (emitter.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let start = Instant::now();
                for _ in 0..iters {
                    op.run(&emitter);
                }
                start.elapsed()
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("producer thread panicked"))
        .max()
        .unwrap_or_default()
}

fn bench_emit(c: &mut Criterion) {
    for op in [Op::Raw, Op::Cbor, Op::RawSpare] {
        let mut group = c.benchmark_group(op.name());
        for consumer in [Consumer::None, Consumer::Batched, Consumer::Spinning] {
            // The spare-buffer path matters where buffers circulate: with
            // a draining consumer, one producer.
            if matches!(op, Op::RawSpare) && !matches!(consumer, Consumer::Batched) {
                continue;
            }
            let label = consumer.label();
            {
                let setup = Setup::new(consumer);
                let emitter = setup.hub.emitter();
                group.bench_function(BenchmarkId::new("1_thread", label), |b| {
                    b.iter(|| op.run(&emitter))
                });
            }
            {
                let setup = Setup::new(consumer);
                let emitter = setup.hub.emitter();
                group.bench_function(BenchmarkId::new("4_threads", label), |b| {
                    b.iter_custom(|iters| contended(&emitter, op, 4, iters))
                });
            }
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = bench_emit
}
criterion_main!(benches);
