//! Producer cost: `Emitter::emit_raw` and `Emitter::emit` of a 64-byte
//! payload, from 1 thread (uncontended) and from 4 threads contending, with
//! no consumer (the ring stays full: every emit takes the reject path) and
//! with one consumer thread draining with `Hub::drain`.
//!
//! Run: `cargo bench -p ffi-events --bench emit` (also run by `npm run bench`).
//! With 4 threads the reported time is the wall time of one emit as seen by
//! each thread while all four emit at once (each thread does `iters` emits;
//! the slowest thread's elapsed time is divided by `iters`).

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ffi_events::{DrainLimits, Emitter, Hub, HubConfig, Notify};

const PAYLOAD: [u8; 64] = [0xab; 64];
const NAME: &str = "frame";

/// Stands in for the Node binding's threadsafe function: the hub always has
/// a consumer attached in practice, so wake-ups cost what they cost.
struct NoopWake;

impl Notify for NoopWake {
    fn notify(&self) -> bool {
        true
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Raw,
    Cbor,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Raw => "emit_raw_64B",
            Op::Cbor => "emit_64B",
        }
    }

    #[inline]
    fn run(self, emitter: &Emitter) {
        let result = match self {
            Op::Raw => emitter.emit_raw(NAME, black_box(&PAYLOAD)),
            Op::Cbor => emitter.emit(NAME, serde_bytes::Bytes::new(black_box(&PAYLOAD))),
        };
        // Ok or Full: both are the cost being measured.
        let _ = black_box(result);
    }
}

#[derive(Clone, Copy, Debug)]
enum Consumer {
    /// Nobody drains: the ring is filled first, so every emit is refused.
    None,
    /// One thread drains in a loop, as the JS thread would.
    Draining,
}

struct Setup {
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
        hub.attach(Arc::new(NoopWake));
        let stop = Arc::new(AtomicBool::new(false));
        let drainer = match consumer {
            Consumer::None => {
                let emitter = hub.emitter();
                while emitter.emit_raw(NAME, &PAYLOAD).is_ok() {}
                None
            }
            Consumer::Draining => {
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
        Setup { hub, stop, drainer }
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(drainer) = self.drainer.take() {
            let _ = drainer.join();
        }
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
    for op in [Op::Raw, Op::Cbor] {
        let mut group = c.benchmark_group(op.name());
        for consumer in [Consumer::None, Consumer::Draining] {
            let label = match consumer {
                Consumer::None => "ring_full",
                Consumer::Draining => "drained",
            };
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
