//! Threads a hub owns: started with [`Hub::spawn`](crate::Hub::spawn),
//! stopped and joined when the hub closes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::error::SpawnError;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Debug, Default)]
struct StopSignal {
    stopped: AtomicBool,
    /// Guards nothing but the condition variable's wait.
    lock: Mutex<()>,
    wake: Condvar,
}

/// Tells a hub-owned thread when to stop; cheap to poll.
#[derive(Debug, Clone)]
pub struct StopToken(Arc<StopSignal>);

impl StopToken {
    /// True once the thread has been asked to stop.
    pub fn is_stopped(&self) -> bool {
        self.0.stopped.load(Ordering::Acquire)
    }

    /// Sleeps for `duration` or until asked to stop, whichever comes first.
    /// Returns false when asked to stop.
    pub fn sleep(&self, duration: Duration) -> bool {
        self.sleep_until(Instant::now() + duration)
    }

    /// Sleeps until `deadline` or until asked to stop. Returns false when
    /// asked to stop.
    pub fn sleep_until(&self, deadline: Instant) -> bool {
        let mut guard = lock(&self.0.lock);
        loop {
            if self.is_stopped() {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            guard = match self.0.wake.wait_timeout(guard, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    fn stop(&self) {
        let _guard = lock(&self.0.lock);
        self.0.stopped.store(true, Ordering::Release);
        self.0.wake.notify_all();
    }
}

struct Worker {
    id: u64,
    stop: StopToken,
    handle: JoinHandle<()>,
}

#[derive(Default)]
struct State {
    /// Set by `stop_all`; no thread starts afterwards.
    closed: bool,
    last_id: u64,
    /// Threads not yet joined. Finished ones are reaped on the next spawn.
    running: Vec<Worker>,
}

#[derive(Default)]
pub(crate) struct Workers {
    state: Mutex<State>,
}

impl Workers {
    pub(crate) fn spawn<F>(&self, name: &str, body: F) -> Result<u64, SpawnError>
    where
        F: FnOnce(StopToken) + Send + 'static,
    {
        let mut state = lock(&self.state);
        if state.closed {
            return Err(SpawnError::Closed);
        }
        let finished: Vec<Worker> = {
            let (done, alive) = std::mem::take(&mut state.running)
                .into_iter()
                .partition(|w| w.handle.is_finished());
            state.running = alive;
            done
        };
        let stop = StopToken(Arc::default());
        let token = stop.clone();
        let handle = thread::Builder::new()
            .name(name.to_string())
            .spawn(move || body(token))
            .map_err(SpawnError::Os)?;
        state.last_id += 1;
        let id = state.last_id;
        state.running.push(Worker { id, stop, handle });
        drop(state);
        join_all(finished);
        Ok(id)
    }

    /// Stops and joins one thread; false if it is not running any more.
    pub(crate) fn stop(&self, id: u64) -> bool {
        let worker = {
            let mut state = lock(&self.state);
            let Some(at) = state.running.iter().position(|w| w.id == id) else {
                return false;
            };
            state.running.swap_remove(at)
        };
        worker.stop.stop();
        join_all(vec![worker]);
        true
    }

    /// Whether the thread `id` is still running.
    pub(crate) fn is_running(&self, id: u64) -> bool {
        lock(&self.state)
            .running
            .iter()
            .any(|w| w.id == id && !w.handle.is_finished())
    }

    /// Stops every thread, joins them, and refuses new ones.
    pub(crate) fn stop_all(&self) {
        let workers = {
            let mut state = lock(&self.state);
            state.closed = true;
            std::mem::take(&mut state.running)
        };
        for worker in &workers {
            worker.stop.stop();
        }
        join_all(workers);
    }

    pub(crate) fn running(&self) -> usize {
        lock(&self.state)
            .running
            .iter()
            .filter(|w| !w.handle.is_finished())
            .count()
    }
}

fn join_all(workers: Vec<Worker>) {
    let me = thread::current().id();
    for worker in workers {
        // A hub closed from one of its own threads cannot join that thread;
        // it has been told to stop and ends when its body returns.
        if worker.handle.thread().id() != me {
            // A panic in a source has already been reported by the panic
            // hook; the thread is gone either way.
            let _ = worker.handle.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn stop_all_wakes_sleeping_threads_and_joins_them() {
        let workers = Workers::default();
        let woke = Arc::new(AtomicUsize::new(0));
        for _ in 0..3 {
            let woke = woke.clone();
            workers
                .spawn("sleeper", move |stop| {
                    if !stop.sleep(Duration::from_secs(60)) {
                        woke.fetch_add(1, Ordering::SeqCst);
                    }
                })
                .unwrap();
        }
        let started = Instant::now();
        workers.stop_all();
        assert_eq!(woke.load(Ordering::SeqCst), 3);
        assert!(started.elapsed() < Duration::from_secs(30));
        assert_eq!(workers.running(), 0);
        assert!(matches!(
            workers.spawn("late", |_| {}),
            Err(SpawnError::Closed)
        ));
    }

    #[test]
    fn stopping_one_thread_leaves_the_others_running() {
        let workers = Workers::default();
        let a = workers
            .spawn("a", |stop| while stop.sleep(Duration::from_millis(5)) {})
            .unwrap();
        let b = workers
            .spawn("b", |stop| while stop.sleep(Duration::from_millis(5)) {})
            .unwrap();
        assert!(workers.stop(a));
        assert!(!workers.stop(a));
        assert!(workers.is_running(b));
        workers.stop_all();
        assert!(!workers.is_running(b));
    }
}
