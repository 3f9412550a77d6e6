import type { NativeSink as NativeSinkBinding } from '../binding'
import { defaultBinding } from './load'
import type { NativeSinkStats } from './types'

/**
 * Calls in this process through sink handles whose sink is gone: values
 * that never were a handle, or handles of sinks whose slot a newer sink
 * took. Calls through a closed sink's own handle count in its
 * `stats().closed` instead.
 */
export function staleSinkCalls(): number {
  return defaultBinding().staleSinkCalls()
}

/** A sink's format: what the foreign library passes as `msg`. */
export type NativeSinkFormat = 'envelope' | 'cbor' | 'raw' | 'json'

/**
 * A C entry into a hub for foreign libraries: a function pointer and an
 * opaque handle, as BigInt addresses (what koffi 3 takes for pointers).
 *
 * `callback` has nim-ffi's callback shape,
 * `void (*)(int ret, const char *msg, size_t len, void *user_data)`: it
 * copies the event into the hub's ring and returns at once, from any number
 * of threads, never waiting for JavaScript. `emit` is
 * `int ffi_events_emit(void *user_data, const char *name, size_t name_len,
 * const uint8_t *payload, size_t len, int lane)` for C and C++ code that
 * names its events itself (see `include/ffi_events.h`).
 *
 * The sink stays open until `close()` or until its hub closes (or is
 * collected, or its worker exits), whether or not this object is kept.
 * After that, calls through `callback`/`emit` with `userData` are refused
 * no-ops, counted in `stats().closed`; they never touch freed memory.
 */
export class NativeSink implements Disposable {
  /** Address of `ffi_events_sink_callback`, to register with the library. */
  readonly callback: bigint
  /** Address of `ffi_events_emit`. */
  readonly emit: bigint
  /** The opaque value to register as the callback's `user_data` (never 0). */
  readonly userData: bigint
  /** What the library passes as `msg`. */
  readonly format: NativeSinkFormat
  /** The name of every event of this sink; `undefined` for `'envelope'` sinks. */
  readonly name: string | undefined
  readonly #native: NativeSinkBinding

  /** @internal Made by `EventHub#nativeSink`. */
  constructor(native: NativeSinkBinding) {
    this.#native = native
    this.callback = native.callback
    this.emit = native.emit
    this.userData = native.userData
    this.format = native.format as NativeSinkFormat
    this.name = native.name ?? undefined
  }

  /** Whether calls through this sink are refused (it or its hub closed). */
  get closed(): boolean {
    return this.#native.closed
  }

  /** The sink's counters. */
  stats(): NativeSinkStats {
    return this.#native.stats()
  }

  /**
   * Refuses calls that start after it returns. Never waits: a call already
   * in progress on a library thread finishes as it began (its event is
   * accepted and delivered). Idempotent.
   */
  close(): void {
    this.#native.close()
  }

  /** `using sink = hub.nativeSink()` closes it at the end of the scope. */
  [Symbol.dispose](): void {
    this.close()
  }
}
