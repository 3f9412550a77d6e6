/*
 * ffi_events.h: the C ABI of an ffi-events native sink.
 *
 * A JavaScript application makes a sink with `hub.nativeSink(options)` and
 * hands a foreign library three values, as BigInt addresses:
 *
 *   sink.callback  the address of ffi_events_sink_callback
 *   sink.emit      the address of ffi_events_emit
 *   sink.userData  an opaque handle (never 0) to pass as `user_data`
 *
 * Both functions copy the event into the hub's bounded ring and return at
 * once: they never block, never wait for JavaScript and never call into it,
 * and any number of threads may call them at the same time. The event
 * reaches the hub's listeners on the JavaScript thread later, in a batch.
 *
 * The handle is not a pointer: it is a slot index and a generation in a
 * process-wide table inside the addon, which Node never unloads. A call
 * that starts after the sink was closed, after its hub closed or was
 * garbage-collected, after the worker thread that made it exited, or after
 * process.exit() (every sink is closed from the main thread's 'exit'
 * event, before C exit handlers run) is a refused no-op
 * (FFI_EVENTS_CLOSED), never a use of freed memory. Closing never waits
 * for a call in progress: what that call uses stays alive until it
 * returns, and its event is delivered (unless the hub closed too: then it
 * is refused like any call after the close).
 *
 * The functions are exported by the ffi-events addon (`ffi-events.*.node`).
 * Code that links the addon, or a C/C++ addon built with the
 * `ffi-events-napi` crate, may call them by name; a library loaded by other
 * means receives their addresses from JavaScript.
 */
#ifndef FFI_EVENTS_H
#define FFI_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What ffi_events_emit returns (and what a callback call counts as). */
enum ffi_events_status {
    /* The ring took the event (or the report of an error or of malformed
     * input). */
    FFI_EVENTS_ACCEPTED = 0,
    /* The ring was full: the event is refused and counted (the hub's
     * `stats().refused`, the sink's `stats().refused`); the hub delivers a
     * `not_responding` event to JavaScript, then `responding` once it
     * drained. A callback call with ret != 0 (an error report) is not
     * refused while the hub's 64-slot report reserve has room. */
    FFI_EVENTS_FULL = 1,
    /* The sink or its hub is closed, or the handle is stale. */
    FFI_EVENTS_CLOSED = 2,
    /* Arguments not valid: NULL bytes with a non-zero length, a name that
     * is empty, longer than 255 bytes, not UTF-8 or contains NUL, an unknown
     * lane, or a payload that is not what its lane says. */
    FFI_EVENTS_INVALID = 3,
    /* Larger than the hub's `maxEventBytes` (16 MiB by default). */
    FFI_EVENTS_TOO_LARGE = 4
};

/* Lanes of ffi_events_emit: what `payload` holds. */
enum ffi_events_lane {
    /* One CBOR data item; listeners get it decoded. */
    FFI_EVENTS_LANE_CBOR = 0,
    /* Bytes; listeners get a Uint8Array copy (a zero-length one when
     * `len` is 0). */
    FFI_EVENTS_LANE_RAW = 1,
    /* UTF-8 JSON text; listeners get it parsed. */
    FFI_EVENTS_LANE_JSON = 2
};

/*
 * The callback, in the shape nim-ffi libraries (and go-waku, status-go)
 * call their host's event callbacks with.
 *
 *   ret == 0: `msg` holds an event in the sink's format:
 *     "envelope" (the default): a CBOR map { "eventType": text,
 *                 "payload": any }, keys in any order; the event is named
 *                 by eventType;
 *     "cbor":     one bare CBOR data item, named by the sink's name;
 *     "raw":      bytes, named by the sink's name;
 *     "json":     UTF-8 JSON text, named by the sink's name.
 *   ret != 0: `msg` holds the library's UTF-8 error text; JavaScript
 *     receives it as an EventHubError with code ERR_NATIVE_ERROR carrying
 *     `ret` as given and the sink's name and format. On a full ring it
 *     takes the hub's report reserve (64); past that the loss is counted
 *     and JavaScript gets ERR_REPORTS_LOST with the last text.
 *
 * CBOR is scanned without recursion and refused as malformed past 256
 * levels of nesting (arrays, maps, tags, chunked strings), so a library
 * thread with a small stack survives any input.
 *
 * `msg` is read only during the call; the library may reuse its buffer as
 * soon as the call returns. msg == NULL with len == 0 is an empty payload;
 * msg == NULL with len > 0 is refused (counted as invalid). Input that is
 * not what the format says (not a map, truncated CBOR, an eventType that is
 * not a valid name, text that is not UTF-8) reaches JavaScript as an
 * ERR_EVENT_DECODE error and is counted in `stats().decodeErrors`; nothing
 * else is lost because of it.
 */
typedef void (*ffi_events_callback)(int ret, const char *msg, size_t len, void *user_data);

void ffi_events_sink_callback(int ret, const char *msg, size_t len, void *user_data);

/*
 * Emits one event named `name` (`name_len` bytes of UTF-8, not
 * NUL-terminated) on `lane` through the sink of `user_data`, whatever that
 * sink's format. Returns an ffi_events_status. `payload` may be NULL when
 * `len` is 0.
 */
typedef int (*ffi_events_emit_fn)(void *user_data, const char *name, size_t name_len,
                                  const uint8_t *payload, size_t len, int lane);

int ffi_events_emit(void *user_data, const char *name, size_t name_len,
                    const uint8_t *payload, size_t len, int lane);

#ifdef __cplusplus
}
#endif

#endif /* FFI_EVENTS_H */
