/** Payload of the hub's own `not_responding` and `responding` events. */
export interface LivenessPayload {
  /** `queue_full`: the ring overflowed. `stalled`: a heartbeating producer went quiet. */
  reason: 'queue_full' | 'stalled'
  /** Events in the ring when the event was made. */
  queued: number
  /** The hub's dropped counter when the event was made. */
  dropped: number
}

/** Events every hub may deliver, whatever its own event map says. */
export interface BuiltinEvents {
  not_responding: LivenessPayload
  responding: LivenessPayload
}

/** An event map: event name to payload type. */
export type EventMap = Record<string, unknown>

/** The user's events plus the built-in liveness events. */
export type AllEvents<E extends EventMap> = E & BuiltinEvents

/** Names a listener can subscribe to. */
export type EventName<E extends EventMap> = Extract<keyof AllEvents<E>, string>

/** Which lane an event came through. */
export type Lane = 'cbor' | 'raw'

/** What a listener learns about the event besides its payload. */
export interface EventMeta<K extends string = string> {
  /** The event name. */
  name: K
  /**
   * Hub-unique sequence number taken at emit, accepted or not: a gap at a
   * listener that hears everything is a dropped event. 0 for liveness events.
   */
  seq: number
  /** `'cbor'`: emitted as a value; `'raw'`: emitted as bytes. */
  lane: Lane
}

/** A listener of decoded payloads. */
export type Listener<P, K extends string = string> = (payload: P, meta: EventMeta<K>) => void

/** A listener of the exact bytes emitted. */
export type RawListener<K extends string = string> = (bytes: Uint8Array, meta: EventMeta<K>) => void

/** A listener of every event. */
export type AnyListener<E extends EventMap> = (
  name: EventName<E>,
  payload: AllEvents<E>[EventName<E>],
  meta: EventMeta<EventName<E>>,
) => void

/** Options of `new EventHub()`. */
export interface EventHubOptions {
  /** Events the ring holds (default 1024, at most 16,777,216). */
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

/** Counters of a hub. `emitted === delivered + dropped + queued` whenever no emit is in flight. */
export interface EventHubStats {
  capacity: number
  queued: number
  highWater: number
  emitted: number
  delivered: number
  dropped: number
  batches: number
  wakeups: number
  wakeFailures: number
  stuck: boolean
  closed: boolean
  runningThreads: number
  /** Listener calls that threw. */
  listenerErrors: number
  /** CBOR-lane events that did not decode as an envelope. */
  decodeErrors: number
}

/** Options of `waitFor`. */
export interface WaitForOptions {
  /** Rejects with the signal's reason when aborted. */
  signal?: AbortSignal
  /** Rejects with `ERR_WAIT_TIMEOUT` after this many ms. */
  timeoutMs?: number
}

/** Options of `events`. */
export interface EventsOptions {
  /** Ends the iteration with the signal's reason when aborted. */
  signal?: AbortSignal
}
