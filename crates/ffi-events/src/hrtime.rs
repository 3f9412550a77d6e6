//! The clock behind Node's `process.hrtime.bigint()`, read from Rust.
//!
//! libuv's `uv_hrtime()` reads `CLOCK_MONOTONIC` on Linux and Android and
//! `mach_continuous_time()` on macOS and iOS, which `CLOCK_MONOTONIC_RAW`
//! returns there in nanoseconds (both keep counting while the machine
//! sleeps). Reading the same clock lets native timestamps and JS timestamps
//! be subtracted with no offset to estimate and no drift.

#[cfg(any(target_os = "linux", target_os = "android"))]
const CLOCK: libc::clockid_t = libc::CLOCK_MONOTONIC;
#[cfg(any(target_os = "macos", target_os = "ios"))]
const CLOCK: libc::clockid_t = libc::CLOCK_MONOTONIC_RAW;

/// Nanoseconds on the clock of `process.hrtime.bigint()` (libuv's
/// `uv_hrtime()`), or `None` on platforms where this crate does not read it
/// (Windows and others: there `HubConfig::clock_origin_ns` and the standard
/// library's `Instant` align the hub's clock instead).
#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios"
))]
pub fn hrtime_ns() -> Option<u64> {
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

/// Nanoseconds on the clock of `process.hrtime.bigint()` (libuv's
/// `uv_hrtime()`), or `None` on platforms where this crate does not read it
/// (Windows and others: there `HubConfig::clock_origin_ns` and the standard
/// library's `Instant` align the hub's clock instead).
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios"
)))]
pub fn hrtime_ns() -> Option<u64> {
    None
}
