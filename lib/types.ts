/** Payload of the hub's own `not_responding` and `responding` events. */
export interface LivenessPayload {
  /** `queue_full`: the ring overflowed. `stalled`: a heartbeating producer went quiet. */
  reason: 'queue_full' | 'stalled'
  /** Events in the ring when the event was made. */
  queued: number
  /**
   * The hub's overflow losses when the event was made: offers refused plus
   * events discarded because the ring was full (`refused + discarded` of
   * `stats()` at that moment).
   */
  overflowed: number
}

/** Events every hub may deliver, whatever its own event map says. */
export interface BuiltinEvents {
  not_responding: LivenessPayload
  responding: LivenessPayload
}

/**
 * An event map: event name to payload type, declared as an interface or a
 * type alias. Declare an event as `Uint8Array` (or `unknown`) to emit it on
 * the raw lane.
 *
 * @example
 * interface Events { tick: { n: number }; frame: Uint8Array }
 */
export type EventMap = object

/** The names the hub reserves for its own liveness events. */
export type LivenessEventName = keyof BuiltinEvents

/** The user's events plus the built-in liveness events (which win a name clash). */
export type AllEvents<E extends EventMap> = Omit<E, LivenessEventName> & BuiltinEvents

/** Names a listener can subscribe to. */
export type EventName<E extends EventMap> = Extract<keyof AllEvents<E>, string>

/** Names `emit` accepts: the map's own, never a liveness name. */
export type EmitName<E extends EventMap> = Exclude<Extract<keyof E, string>, LivenessEventName>

/**
 * Names `emitRaw` accepts: those whose payload type admits a `Uint8Array`
 * (declared `Uint8Array`, or `unknown`), since raw-lane events reach
 * listeners as bytes.
 */
export type RawEventName<E extends EventMap> = {
  [K in EmitName<E>]: Uint8Array extends E[K & keyof E] ? K : never
}[EmitName<E>]

/** Which lane an event came through. */
export type Lane = 'cbor' | 'raw' | 'json'

/** What a listener learns about the event besides its payload. */
export interface EventMeta<K extends string = string> {
  /** The event name. */
  name: K
  /**
   * Hub-unique sequence number taken at emit, accepted or not: a gap at a
   * listener that hears everything is an event refused (`'reject'`) or
   * discarded (`'dropOldest'`). 0 for liveness events.
   */
  seq: number
  /** `'cbor'`: emitted as a value; `'raw'`: emitted as bytes; `'json'`: JSON text from a native sink. */
  lane: Lane
}

/**
 * A listener of decoded payloads. It may be async: a returned promise that
 * rejects is reported to `onError` like a synchronous throw.
 */
export type Listener<P, K extends string = string> = (payload: P, meta: EventMeta<K>) => void

/** A listener of the exact bytes emitted. */
export type RawListener<K extends string = string> = (bytes: Uint8Array, meta: EventMeta<K>) => void

/**
 * An `onRawSpan` listener: the event's bytes are `bytes[start, end)`, where
 * `bytes` is the whole batch (shared by every event of the batch, never
 * reused). On the CBOR lane the span is the payload's CBOR data item, not
 * the envelope `onRaw` gets.
 */
export type RawSpanListener<K extends string = string> = (bytes: Uint8Array, start: number, end: number, meta: EventMeta<K>) => void

/**
 * The arguments of an `onAny` listener: one `[name, payload, meta]` tuple
 * per event, so that checking `name` narrows `payload`.
 */
export type AnyEventArgs<E extends EventMap> = {
  [K in EventName<E>]: [name: K, payload: AllEvents<E>[K], meta: EventMeta<K>]
}[EventName<E>]

/** `AnyEventArgs` without `meta`, for listeners that take two parameters. */
type AnyEventPair<E extends EventMap> = {
  [K in EventName<E>]: [name: K, payload: AllEvents<E>[K]]
}[EventName<E>]

/** `AnyEventArgs` with the name only. */
type AnyEventName<E extends EventMap> = {
  [K in EventName<E>]: [name: K]
}[EventName<E>]

/**
 * A listener of every event, taking `(name, payload, meta)` or fewer
 * parameters; checking `name` narrows `payload` and `meta`. (One function
 * type per arity: TypeScript narrows a rest union only when the listener
 * declares as many parameters as its tuples have.)
 *
 * @example
 * hub.onAny((name, payload) => {
 *   if (name === 'tick') console.log(payload.n) // payload is Events['tick'] here
 * })
 */
export type AnyListener<E extends EventMap> = string extends EventName<E>
  ? // A map with a string index signature (the default): nothing to narrow.
    (name: string, payload: unknown, meta: EventMeta<string>) => unknown
  :
      | ((...args: AnyEventArgs<E>) => unknown)
      | ((...args: AnyEventPair<E>) => unknown)
      | ((...args: AnyEventName<E>) => unknown)

/** Options of `new EventHub()`. */
export interface EventHubOptions {
  /**
   * Events the ring holds (default 1024, at most 4,194,304). The ring is
   * allocated up front at 104 bytes per slot (104 KiB by default, 416 MiB
   * at the maximum); events larger than 72 bytes of name and payload
   * use a recycled buffer of 128, 256 or 512 bytes (a process-wide pool
   * keeps at most 4,096 of each size, 3.5 MiB), and events over 512 bytes
   * allocate their bytes.
   */
  capacity?: number
  /** On a full ring: refuse the new event (`'reject'`, default) or drop the oldest (`'dropOldest'`). */
  overflow?: 'reject' | 'dropOldest'
  /** A heartbeating producer quiet this long (ms) triggers `not_responding`; 0 disables (default 5000). */
  stallTimeoutMs?: number
  /** Largest event in bytes (default 16 MiB, at most 1 GiB). */
  maxEventBytes?: number
  /** Most events per batch handed to JS (default 4096). */
  maxBatchEvents?: number
}

/**
 * Counters of a hub. At a quiescent point (no emit in flight, no drain in
 * progress) `emitted === delivered + refused + discarded + queued`, and
 * `unheard <= delivered`.
 */
export interface EventHubStats {
  capacity: number
  /** Events in the ring now, reports waiting in the report reserve included. */
  queued: number
  highWater: number
  /** Valid emits, accepted or not. */
  emitted: number
  /** Events taken from the ring, `unheard` ones included. */
  delivered: number
  /** Of `delivered`: events whose name had no listener (and no `onAny`) when drained; they never cross into JS. */
  unheard: number
  /**
   * Offers refused because the ring was full under `overflow: 'reject'`,
   * one per attempt: a producer that retries counts one per refusal.
   */
  refused: number
  /**
   * Accepted events that never reached JS: pushed out by
   * `overflow: 'dropOldest'`, or drained while the environment was
   * shutting down.
   */
  discarded: number
  /**
   * Reports of a native sink (library errors, malformed input) lost because
   * the ring and the 64-slot report reserve were both full; each is also
   * counted in `refused` (or in `discarded`, when `'dropOldest'` pushed it
   * out of the ring).
   */
  reportsLost: number
  /**
   * Calls to requests that were not their reply: a second call, or one
   * after the request settled, timed out, was aborted or was refused.
   */
  repliesIgnored: number
  /** Requests waiting for their reply. */
  requestsPending: number
  batches: number
  wakeups: number
  wakeFailures: number
  stuck: boolean
  closed: boolean
  runningThreads: number
  /** Listener calls that threw. */
  listenerErrors: number
  /** Events that did not decode (CBOR or JSON), and malformed input from native sinks. */
  decodeErrors: number
  /** CBOR events a compiled decoder read (the fast path for payloads of one shape), not cbor-x. */
  compiledDecodes: number
}

/** Options of `hub.nativeSink()`. */
export interface NativeSinkOptions {
  /**
   * What the library passes as `msg`:
   * - `'envelope'` (default): a CBOR map `{ eventType, payload }` as nim-ffi
   *   libraries send; each event is named by its `eventType`.
   * - `'cbor'`: one bare CBOR value, the payload of an event named `name`.
   * - `'raw'`: bytes, delivered as a `Uint8Array` copy.
   * - `'json'`: UTF-8 JSON text, parsed on the JS thread.
   */
  format?: 'envelope' | 'cbor' | 'raw' | 'json'
  /** The name of every event of a `'cbor'`, `'raw'` or `'json'` sink; not allowed with `'envelope'`. */
  name?: string
}

/** Counters of a native sink; `calls` is the sum of the outcomes. */
export interface NativeSinkStats {
  /** Every call through the sink's handle while it was open or closed. */
  calls: number
  /** Events the ring took (reports of library errors and malformed input included). */
  accepted: number
  /** Refused: the ring was full (also counted in the hub's `refused`). */
  refused: number
  /** Refused: the sink or its hub was closed. */
  closed: number
  /** Refused: longer than `maxEventBytes`. */
  tooLarge: number
  /** Refused: `msg` NULL with a length, or a bad name or lane given to `ffi_events_emit`. */
  invalid: number
  /** Calls with `ret != 0`: delivered to `onError` as `ERR_NATIVE_ERROR`. */
  nativeErrors: number
  /** Inputs the native side found malformed: delivered to `onError` as `ERR_EVENT_DECODE`. */
  malformed: number
}

/** Options of `waitFor`. */
export interface WaitForOptions {
  /** Rejects with the signal's reason when aborted. */
  signal?: AbortSignal
  /** Rejects with `ERR_WAIT_TIMEOUT` after this many ms. */
  timeoutMs?: number
  /** Resolve with `{ payload, meta }` instead of the payload alone. */
  meta?: boolean
}

/** What `waitFor(name, { meta: true })` resolves with. */
export interface Delivered<P, K extends string = string> {
  payload: P
  meta: EventMeta<K>
}

/** Options of `request`. */
export interface RequestOptions {
  /**
   * How to read the reply's bytes: `'cbor'` (default: one CBOR item),
   * `'json'` (UTF-8 JSON text) or `'raw'` (a `Uint8Array` copy). An empty
   * reply is `undefined` (`'cbor'`, `'json'`) or a zero-length array (`'raw'`).
   */
  format?: 'cbor' | 'json' | 'raw'
  /** Rejects with `ERR_WAIT_TIMEOUT` when no reply came within this many ms. */
  timeoutMs?: number
  /** Rejects with the signal's reason when aborted. */
  signal?: AbortSignal
  /**
   * Whether the function's return value means the library took the
   * request. Default: a number or bigint is a status, 0 accepted, anything
   * else refused; any other value (a context pointer object, `undefined`)
   * counts as accepted.
   */
  accepted?: (returned: unknown) => boolean
}

/** Options of `events`. */
export interface EventsOptions {
  /** Ends the iteration with the signal's reason when aborted. */
  signal?: AbortSignal
}
