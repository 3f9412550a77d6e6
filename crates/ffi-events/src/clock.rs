//! A monotonic nanosecond clock that can be aligned with the consumer's.

use std::time::Instant;

use crate::hrtime::hrtime_ns;

/// Nanoseconds on a monotonic clock whose zero the hub's owner chooses, or
/// the clock of `process.hrtime.bigint()` itself.
///
/// An aligned clock counts from `origin_ns` at construction. Where
/// [`hrtime_ns`] reads the clock of `process.hrtime.bigint()`, time is
/// measured on that clock, so it never drifts from it (on macOS `Instant`
/// stops while the machine sleeps and libuv's clock does not); elsewhere on
/// `Instant`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Clock {
    /// `hrtime_ns()` readings as they are.
    Hrtime,
    /// `origin_ns` plus the time elapsed since construction.
    Aligned {
        origin: Instant,
        hrtime_origin: Option<u64>,
        origin_ns: u64,
    },
}

impl Clock {
    /// The hrtime clock itself when `hrtime` is set and this platform reads
    /// it, else a clock counting from `origin_ns`.
    pub(crate) fn new(origin_ns: u64, hrtime: bool) -> Clock {
        let hrtime_origin = hrtime_ns();
        if hrtime && hrtime_origin.is_some() {
            return Clock::Hrtime;
        }
        Clock::Aligned {
            origin: Instant::now(),
            hrtime_origin,
            origin_ns,
        }
    }

    pub(crate) fn now_ns(&self) -> u64 {
        match *self {
            Clock::Hrtime => hrtime_ns().unwrap_or_default(),
            Clock::Aligned {
                origin,
                hrtime_origin,
                origin_ns,
            } => {
                let elapsed = match hrtime_origin.zip(hrtime_ns()) {
                    Some((start, now)) => now.saturating_sub(start),
                    None => u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX),
                };
                origin_ns.saturating_add(elapsed)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(any(target_os = "linux", target_os = "macos"))]
    #[test]
    fn the_hrtime_clock_reads_hrtime() {
        let clock = Clock::new(0, true);
        let before = hrtime_ns().expect("this platform reads the hrtime clock");
        let now = clock.now_ns();
        let after = hrtime_ns().expect("hrtime");
        assert!(
            before <= now && now <= after,
            "{before} <= {now} <= {after}"
        );
    }

    #[test]
    fn a_clock_counts_from_its_origin() {
        let clock = Clock::new(5_000_000_000, false);
        let first = clock.now_ns();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = clock.now_ns();
        assert!(first >= 5_000_000_000);
        assert!(second >= first + 2_000_000, "{first} then {second}");
    }
}
