//! The clock behind `process.hrtime.bigint()`, read from Rust.
//!
//! libuv's `uv_hrtime()` reads `CLOCK_MONOTONIC` on Linux and Android and
//! `mach_absolute_time()` (`CLOCK_UPTIME_RAW`) on macOS and iOS. Reading the
//! same clock here lets native timestamps and JS timestamps be subtracted
//! with no offset to estimate.

/// Nanoseconds on the clock of `process.hrtime.bigint()`, or `None` where
/// this build cannot read it (the caller then uses the JS reading).
#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios"
))]
pub(crate) fn now_ns() -> Option<u64> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    const CLOCK: libc::clockid_t = libc::CLOCK_MONOTONIC;
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    const CLOCK: libc::clockid_t = libc::CLOCK_UPTIME_RAW;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    if unsafe { libc::clock_gettime(CLOCK, &mut ts) } != 0 {
        return None;
    }
    let secs = u64::try_from(ts.tv_sec).ok()?;
    let nanos = u64::try_from(ts.tv_nsec).ok()?;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// Nanoseconds on the clock of `process.hrtime.bigint()`, or `None` where
/// this build cannot read it (the caller then uses the JS reading).
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios"
)))]
pub(crate) fn now_ns() -> Option<u64> {
    None
}
