//! Spare buffers for events too large for a ring slot but not large: the
//! consumer hands them back, producers take them again.
//!
//! Without this, every such event was one `malloc` on its producer thread
//! and one `free` on the consumer's: an allocator call on each side, and a
//! free of another thread's memory, which glibc pays for with that arena's
//! lock and which made the process's resident set creep up under load.
//! With it, a busy hub's events of up to [`SPARE_BYTES`] circulate through
//! a fixed set of buffers: an event takes one when it is built and gives it
//! back when it is dropped (after the consumer copied it into a batch), and
//! no allocator call is made in between.
//!
//! Buffers come in three sizes (128, 256 and 512 bytes) and an event takes
//! the smallest that holds it. The pool is process-wide, shared by every
//! hub: at most [`SPARE_COUNT`] buffers of each size wait in it, so what it
//! keeps is bounded (3.5 MiB) however many hubs there are. A buffer given
//! back to a full stock is freed; a take from an empty one allocates.

use std::sync::OnceLock;

use crossbeam_queue::ArrayQueue;

/// The largest spare buffer: events of up to this many bytes of name and
/// payload (and more than [`crate::INLINE_BYTES`]) use one. Larger events
/// allocate exactly what they need, and free it when dropped.
pub const SPARE_BYTES: usize = 512;

/// The sizes of spare buffers: an event takes the smallest that holds it,
/// so that a queued 80-byte event holds 128 bytes, not 512.
const CLASSES: [usize; 3] = [128, 256, SPARE_BYTES];

/// How many spare buffers of each size the pool keeps at most (3.5 MiB of
/// buffers in all).
pub const SPARE_COUNT: usize = 4096;

/// Bounded stocks of spare buffers, one per size.
struct Spares {
    stocks: [ArrayQueue<Vec<u8>>; CLASSES.len()],
}

impl Spares {
    fn new(count: usize) -> Spares {
        Spares {
            stocks: std::array::from_fn(|_| ArrayQueue::new(count)),
        }
    }

    fn take(&self, len: usize) -> Vec<u8> {
        let Some(class) = CLASSES.iter().position(|&size| len <= size) else {
            return Vec::with_capacity(len);
        };
        match self.stocks[class].pop() {
            Some(mut buffer) => {
                buffer.clear();
                buffer
            }
            None => Vec::with_capacity(CLASSES[class]),
        }
    }

    fn give(&self, buffer: Vec<u8>) {
        if let Some(class) = CLASSES.iter().position(|&size| buffer.capacity() == size) {
            // A full stock hands the buffer back, and it is dropped here.
            let _ = self.stocks[class].push(buffer);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.stocks.iter().map(ArrayQueue::len).sum()
    }
}

fn spares() -> &'static Spares {
    static SPARES: OnceLock<Spares> = OnceLock::new();
    SPARES.get_or_init(|| Spares::new(SPARE_COUNT))
}

/// An empty buffer with room for `len` bytes: a spare one of the smallest
/// size that holds `len` when `len` fits in [`SPARE_BYTES`], a new one
/// otherwise (or when none of that size is spare).
pub(crate) fn take(len: usize) -> Vec<u8> {
    spares().take(len)
}

/// Hands `buffer` back when its capacity is exactly one of the spare sizes
/// and the pool has room for it; frees it otherwise.
pub(crate) fn give(buffer: Vec<u8>) {
    spares().give(buffer);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_gets_the_smallest_spare_size_that_holds_it() {
        let spares = Spares::new(4);
        assert_eq!(spares.take(73).capacity(), 128);
        assert_eq!(spares.take(128).capacity(), 128);
        assert_eq!(spares.take(129).capacity(), 256);
        assert_eq!(spares.take(300).capacity(), SPARE_BYTES);
        assert_eq!(spares.take(SPARE_BYTES).capacity(), SPARE_BYTES);
        assert!(spares.take(SPARE_BYTES + 1).capacity() > SPARE_BYTES);
    }

    #[test]
    fn a_given_back_buffer_is_taken_again_empty() {
        let spares = Spares::new(4);
        let mut buffer = spares.take(10);
        buffer.extend_from_slice(b"left over");
        let at = buffer.as_ptr();
        spares.give(buffer);
        assert_eq!(spares.len(), 1);
        let again = spares.take(100);
        assert_eq!(again.as_ptr(), at);
        assert!(again.is_empty());
        assert_eq!(spares.len(), 0);
    }

    #[test]
    fn grown_buffers_and_a_full_stock_keep_nothing() {
        let spares = Spares::new(1);
        let mut grown = spares.take(10);
        grown.extend_from_slice(&[0; SPARE_BYTES + 1]);
        spares.give(grown);
        spares.give(Vec::with_capacity(100));
        assert_eq!(spares.len(), 0);
        let (first, second) = (spares.take(1), spares.take(1));
        spares.give(first);
        spares.give(second);
        assert_eq!(spares.len(), 1);
    }
}
