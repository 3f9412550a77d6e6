// The entry gate: counts emits in flight and lets `close` wait them out.
//
// (Plain comments rather than `//!`: `tests/loom_model.rs` compiles this file
// a second time with `include!`, which refuses inner attributes, and runs it
// under loom in every `cargo test`.)

use std::sync::atomic::{AtomicUsize, Ordering};

const CLOSED: usize = 1;
const ONE_IN_FLIGHT: usize = 2;

/// Bit 0: closed. Bits 1..: emits between `enter` and the guard's drop.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    state: AtomicUsize,
}

/// Held by an emit while it touches the ring.
pub(crate) struct Pass<'a>(&'a Gate);

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        self.0.state.fetch_sub(ONE_IN_FLIGHT, Ordering::Release);
    }
}

impl Gate {
    /// Lets an emit in, or `None` once the gate is closed.
    pub(crate) fn enter(&self) -> Option<Pass<'_>> {
        let before = self.state.fetch_add(ONE_IN_FLIGHT, Ordering::SeqCst);
        if before & CLOSED != 0 {
            self.state.fetch_sub(ONE_IN_FLIGHT, Ordering::Release);
            return None;
        }
        Some(Pass(self))
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Closes the gate and waits until no emit is in flight. Emits never
    /// block, so the wait lasts as long as the slowest one in progress.
    pub(crate) fn close(&self) {
        self.state.fetch_or(CLOSED, Ordering::SeqCst);
        let mut spins = 0u32;
        while self.state.load(Ordering::Acquire) >= ONE_IN_FLIGHT {
            if spins < 64 {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_gate_lets_nobody_in() {
        let gate = Gate::default();
        assert!(gate.enter().is_some());
        gate.close();
        assert!(gate.is_closed());
        assert!(gate.enter().is_none());
    }

    #[test]
    fn close_waits_for_the_emit_in_flight() {
        use std::sync::atomic::AtomicBool;
        use std::sync::Arc;
        let gate = Arc::new(Gate::default());
        let finished = Arc::new(AtomicBool::new(false));
        let pass_taken = Arc::new(std::sync::Barrier::new(2));
        let worker = {
            let (gate, finished, pass_taken) = (gate.clone(), finished.clone(), pass_taken.clone());
            std::thread::spawn(move || {
                let pass = gate.enter();
                pass_taken.wait();
                std::thread::sleep(std::time::Duration::from_millis(50));
                finished.store(true, Ordering::SeqCst);
                drop(pass);
            })
        };
        pass_taken.wait();
        gate.close();
        assert!(finished.load(Ordering::SeqCst));
        worker.join().unwrap();
    }
}
