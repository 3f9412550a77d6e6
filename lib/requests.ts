// Requests to a native library: a one-shot native handle per request, its
// reply settled as a promise when its batch arrives. The library's thread
// only copies the reply into the hub (the sink's C function); it never
// waits for JavaScript.

import { decoder, quietErrors, utf8 } from './decode'
import { abortError, EventHubError } from './errors'
import type { RequestOptions } from './types'

/** What the hub's native side offers for requests. */
export interface NativeRequests {
  openRequest(id: number): bigint
  closeRequest(userData: bigint): boolean
  readonly requestCallback: bigint
}

/** Reply flags, as in `ffi_events::REPLY_TOO_LARGE` / `REPLY_NULL_BYTES`. */
const REPLY_TOO_LARGE = 1
const REPLY_NULL_BYTES = 2
/** The bytes are not one well-formed CBOR item (`ffi_events::REPLY_NOT_CBOR`). */
const REPLY_NOT_CBOR = 4


interface Pending {
  readonly format: 'cbor' | 'json' | 'raw'
  readonly userData: bigint
  readonly resolve: (value: unknown) => void
  readonly reject: (reason: unknown) => void
  timer: NodeJS.Timeout | undefined
  signal: AbortSignal | undefined
  onAbort: (() => void) | undefined
}

/**
 * The default `accepted`: a number or bigint is a status, 0 accepted;
 * anything else (a context object, `undefined`) counts as accepted.
 */
function acceptedByDefault(returned: unknown): boolean {
  if (typeof returned === 'number') return returned === 0
  if (typeof returned === 'bigint') return returned === 0n
  return true
}

/** The requests of one hub that wait for their reply. */
export class Requests {
  #nextId = 1
  readonly #pending = new Map<number, Pending>()
  readonly #native: NativeRequests
  /** Called with the number of pending requests whenever it changes. */
  readonly #onCount: (pending: number) => void
  /** Replies that reached JS after their request was settled or given up. */
  ignored = 0

  constructor(native: NativeRequests, onCount: (pending: number) => void) {
    this.#native = native
    this.#onCount = onCount
  }

  /** Requests waiting for their reply. */
  get size(): number {
    return this.#pending.size
  }

  /** Opens a one-shot handle, calls `call` with it, and settles with the reply. */
  start(call: (callback: bigint, userData: bigint) => unknown, options: RequestOptions): Promise<unknown> {
    const { signal } = options
    if (signal?.aborted) return Promise.reject(abortError(signal))
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      let userData: bigint
      try {
        userData = this.#native.openRequest(id)
      } catch (error) {
        // The process-wide handle table is full (65,536 sinks and requests).
        reject(error)
        return
      }
      const entry: Pending = { format: options.format ?? 'cbor', userData, resolve, reject, timer: undefined, signal: undefined, onAbort: undefined }
      this.#pending.set(id, entry)
      this.#onCount(this.#pending.size)
      let returned: unknown
      let accepted: boolean
      try {
        returned = call(this.#native.requestCallback, userData)
        accepted = (options.accepted ?? acceptedByDefault)(returned)
      } catch (error) {
        this.#drop(id, entry)
        reject(error)
        return
      }
      if (!accepted) {
        this.#drop(id, entry)
        const ret = typeof returned === 'number' || typeof returned === 'bigint' ? Number(returned) : undefined
        reject(new EventHubError(`The library refused the request: its function returned ${String(returned)}`, { code: 'ERR_NATIVE_ERROR', ret }))
        return
      }
      if (options.timeoutMs !== undefined) {
        entry.timer = setTimeout(() => {
          this.#drop(id, entry)
          reject(new EventHubError(`No reply within ${options.timeoutMs} ms`, { code: 'ERR_WAIT_TIMEOUT' }))
        }, options.timeoutMs)
        // The hub itself holds the event loop while requests are pending,
        // unless it is unref'd; the timer must not hold it then.
        entry.timer.unref()
      }
      if (signal !== undefined) {
        entry.signal = signal
        entry.onAbort = () => {
          this.#drop(id, entry)
          reject(abortError(signal))
        }
        signal.addEventListener('abort', entry.onAbort, { once: true })
        // Aborted inside `call`, before the listener was there.
        if (signal.aborted) entry.onAbort()
      }
    })
  }

  /** Settles request `id` with its reply (`bytes` is a view into the batch). */
  settle(id: number, ret: number, flags: number, bytes: Uint8Array): void {
    const entry = this.#pending.get(id)
    if (entry === undefined) {
      this.ignored++
      return
    }
    this.#drop(id, entry)
    if (ret !== 0) {
      entry.reject(new EventHubError(utf8(bytes), { code: 'ERR_NATIVE_ERROR', ret }))
      return
    }
    if ((flags & REPLY_TOO_LARGE) !== 0) {
      entry.reject(new EventHubError('The reply was longer than the hub\'s maxEventBytes and was not kept', { code: 'ERR_EVENT_DECODE' }))
      return
    }
    if ((flags & REPLY_NULL_BYTES) !== 0) {
      entry.reject(new EventHubError('The library replied with NULL bytes and a non-zero length', { code: 'ERR_EVENT_DECODE' }))
      return
    }
    if ((flags & REPLY_NOT_CBOR) !== 0 && entry.format === 'cbor' && bytes.length > 0) {
      entry.reject(new EventHubError('The reply is not valid CBOR: not one well-formed data item (nested at most 256 deep)', { code: 'ERR_EVENT_DECODE' }))
      return
    }
    try {
      entry.resolve(decodeReply(entry.format, bytes))
    } catch (cause) {
      entry.reject(new EventHubError(`The reply is not valid ${entry.format === 'json' ? 'JSON' : 'CBOR'}: ${cause instanceof Error ? cause.message : String(cause)}`, { code: 'ERR_EVENT_DECODE', cause }))
    }
  }

  /** Rejects every pending request with `error` (the hub closed). */
  rejectAll(error: () => unknown): void {
    for (const [id, entry] of [...this.#pending]) {
      this.#drop(id, entry)
      entry.reject(error())
    }
  }

  #drop(id: number, entry: Pending): void {
    if (!this.#pending.delete(id)) return
    if (entry.timer !== undefined) clearTimeout(entry.timer)
    if (entry.onAbort !== undefined) entry.signal?.removeEventListener('abort', entry.onAbort)
    // Later calls through the handle are counted and ignored natively.
    this.#native.closeRequest(entry.userData)
    this.#onCount(this.#pending.size)
  }
}

/** A reply's value by `format`; an empty reply is `undefined` (a zero-length copy for `'raw'`). */
function decodeReply(format: 'cbor' | 'json' | 'raw', bytes: Uint8Array): unknown {
  if (format === 'raw') return bytes.slice()
  if (bytes.length === 0) return undefined
  if (format === 'json') return JSON.parse(utf8(bytes))
  // One CBOR item per reply, decoded alone: no state between replies.
  const stackTraceLimit = quietErrors()
  try {
    return decoder.decode(bytes)
  } finally {
    Error.stackTraceLimit = stackTraceLimit
  }
}
