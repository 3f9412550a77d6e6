import type { BurstResult, SourceControl } from '../binding'
import { internalsOf, type EventHub } from './hub'
import type { EmitName, EventMap } from './types'
import {
  validateInteger,
  validateName,
  validateNumber,
  validateObject,
  validateOneOf,
} from './validate'
import { closedError } from './errors'

export type { BurstResult, SourceControl }

/**
 * The names of event map `E` a source that produces payloads of type `P`
 * may emit: those whose declared payload a `P` satisfies (so that its
 * listeners get what their type says). Any name on an untyped hub.
 */
export type SourceName<E extends EventMap, P> = string extends EmitName<E>
  ? string
  : { [K in EmitName<E>]: P extends E[K & keyof E] ? K : never }[EmitName<E>]

/** Options of `sources.ticker`. */
export interface TickerOptions<N extends string = string> {
  /**
   * Event name; the payload is `{ n: number, at: bigint }`, `at` on
   * `process.hrtime.bigint()`'s clock. On a typed hub, only names declared
   * with a payload type that `Tick` satisfies.
   */
  name: N
  /** Period in ms; fractions allowed (0.01 is 100,000 events/s). */
  intervalMs: number
  /** Ticks before stopping; unlimited when omitted. */
  count?: number
  /** Call `heartbeat()` before each tick, so the hub watches the ticker for stalls. */
  heartbeat?: boolean
}

/** What a burst emits: `'raw'` bytes, `'cbor'` `{ thread, i, data }` items, or `'tick'` ticks. */
export type BurstEncoding = 'raw' | 'cbor' | 'tick'

/** The payload of a `'cbor'` burst's events. */
export interface BurstItem {
  /** The producer thread's index. */
  thread: number
  /** The event's index in its thread. */
  i: number
  /** `payloadBytes` bytes. */
  data: Uint8Array
}

/** The payload type of each burst encoding. */
export interface BurstPayloads {
  raw: Uint8Array
  cbor: BurstItem
  tick: Tick
}

/** Options of `sources.burst`. */
export interface BurstOptions<N extends string = string, Enc extends BurstEncoding = BurstEncoding> {
  /**
   * Event name. On a typed hub, only names declared with a payload type
   * that the encoding's payload satisfies (`Uint8Array` for `'raw'`,
   * `BurstItem` for `'cbor'`, `Tick` for `'tick'`).
   */
  name: N
  /** Events in all, split evenly across the threads. */
  count: number
  /** Producer threads, 1 to 64 (default 1). */
  threads?: number
  /** Payload size in bytes (default 64). */
  payloadBytes?: number
  /**
   * `'raw'`: bytes, starting with the thread index and the event's index in
   * that thread as little-endian u32s. `'cbor'` (default): `{ thread, i, data }`
   * with `data` a byte string of `payloadBytes`. `'tick'`: the ticker's
   * `{ n, at }` (`payloadBytes` ignored).
   */
  encoding?: Enc
  /**
   * `'drop'` (default): a refused event is counted in the result's `lost`
   * and skipped, as a producer that must never wait does. `'retry'`: the
   * thread yields (16 refusals in a row), then waits until the JS thread's
   * next drain frees room (`Emitter::wait_for_room`), and emits the same
   * event again until the ring takes it, as a lossless producer does;
   * `lost` is 0 and each refusal is counted in `retried` (and in the hub's
   * `refused`, one per attempt).
   */
  onFull?: 'drop' | 'retry'
  /** Time every emit and report the slowest as `maxEmitNs` (costs a clock read per emit). */
  measureLatency?: boolean
}

/** The payload of a ticker event. */
export interface Tick {
  n: number
  at: bigint
}

function openHub(hub: EventHub<EventMap>, source: string) {
  const internals = internalsOf(hub)
  if (hub.closed) throw closedError(source)
  return internals
}

/**
 * Built-in native sources: Rust threads that emit into a hub, as a library
 * would. The hub stops and joins them when it closes.
 */
export const sources = {
  /** Emits `{ n, at }` every `intervalMs` from a native thread. */
  ticker<E extends EventMap>(hub: EventHub<E>, options: TickerOptions<SourceName<E, Tick>>): SourceControl {
    validateObject(options, 'options')
    validateName(options.name, 'options.name')
    validateNumber(options.intervalMs, 'options.intervalMs', 0, 2 ** 31)
    if (options.intervalMs === undefined) validateNumber(Number.NaN, 'options.intervalMs', 0, 2 ** 31)
    validateInteger(options.count, 'options.count', 0, Number.MAX_SAFE_INTEGER)
    const { native, binding } = openHub(hub as unknown as EventHub<EventMap>, 'sources.ticker')
    return binding.startTicker(native, {
      name: options.name,
      intervalMs: options.intervalMs,
      count: options.count,
      heartbeat: options.heartbeat === true,
    })
  },

  /**
   * Emits `count` events as fast as `threads` native threads can; resolves
   * with what happened: `{ emitted, lost, retried, skipped, maxEmitNs }`.
   */
  burst<E extends EventMap, Enc extends BurstEncoding = 'cbor'>(
    hub: EventHub<E>,
    options: BurstOptions<SourceName<E, BurstPayloads[Enc]>, Enc>,
  ): Promise<BurstResult> {
    validateObject(options, 'options')
    validateName(options.name, 'options.name')
    validateInteger(options.count, 'options.count', 0, Number.MAX_SAFE_INTEGER)
    if (options.count === undefined) validateInteger(Number.NaN, 'options.count', 0, Number.MAX_SAFE_INTEGER)
    validateInteger(options.threads, 'options.threads', 1, 64)
    validateInteger(options.payloadBytes, 'options.payloadBytes', 0, 2 ** 30)
    validateOneOf(options.encoding, 'options.encoding', ['raw', 'cbor', 'tick'] as const)
    validateOneOf(options.onFull, 'options.onFull', ['drop', 'retry'] as const)
    const { native, binding } = openHub(hub as unknown as EventHub<EventMap>, 'sources.burst')
    return binding.startBurst(native, {
      name: options.name,
      count: options.count,
      threads: options.threads ?? 1,
      payloadBytes: options.payloadBytes ?? 64,
      encoding: options.encoding ?? 'cbor',
      onFull: options.onFull ?? 'drop',
      measureLatency: options.measureLatency === true,
    })
  },
}
