import type { BurstResult, SourceControl } from '../binding'
import { internalsOf, type EventHub } from './hub'
import type { EventMap } from './types'
import {
  validateInteger,
  validateName,
  validateNumber,
  validateObject,
  validateOneOf,
} from './validate'
import { closedError } from './errors'

export type { BurstResult, SourceControl }

/** Options of `sources.ticker`. */
export interface TickerOptions {
  /** Event name; the payload is `{ n: number, at: bigint }`, `at` on `process.hrtime.bigint()`'s clock. */
  name: string
  /** Period in ms; fractions allowed (0.01 is 100,000 events/s). */
  intervalMs: number
  /** Ticks before stopping; unlimited when omitted. */
  count?: number
  /** Call `heartbeat()` before each tick, so the hub watches the ticker for stalls. */
  heartbeat?: boolean
}

/** Options of `sources.burst`. */
export interface BurstOptions {
  /** Event name. */
  name: string
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
  encoding?: 'raw' | 'cbor' | 'tick'
  /**
   * `'drop'` (default): a refused event is counted in the result's `lost`
   * and skipped, as a producer that must never wait does. `'retry'`: the
   * thread yields, then sleeps 50 µs between attempts, and emits the same
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
  ticker<E extends EventMap>(hub: EventHub<E>, options: TickerOptions): SourceControl {
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
  burst<E extends EventMap>(hub: EventHub<E>, options: BurstOptions): Promise<BurstResult> {
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
