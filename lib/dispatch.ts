// Delivery of one batch to the listeners on the JS thread: routes from the
// native registry, one decode per event for all decoding listeners, error
// isolation per listener and per event, and reports to `onError`.

import { Decoder } from 'cbor-x'

import { Batch, LANE_JSON, LANE_MALFORMED, LANE_NATIVE_ERROR, LANE_RAW } from './batch'
import { EventHubError, type EventHubErrorCode } from './errors'
import type { EventMeta, Lane } from './types'

export const enum Kind {
  On,
  Once,
  Raw,
  Any,
}

export interface Entry {
  readonly id: number
  readonly kind: Kind
  /** The event name it listens to; `null` for `onAny`. */
  readonly name: string | null
  readonly fn: (...args: never[]) => unknown
  /** False from the moment it is removed, so a dispatch in progress skips it. */
  live: boolean
}

// Byte strings are copied out of the batch so that a payload a listener keeps
// never pins (or aliases) the batch buffer.
const decoder = new Decoder({ mapsAsObjects: true, useRecords: false, copyBuffers: true })

/** What `decode` returns for an event it could not decode (any CBOR value, `undefined` included, is a payload). */
const DECODE_FAILED = Symbol('decode failed')

const LANE_NAMES: readonly Lane[] = ['cbor', 'raw', 'json']

/** The hub's side of dispatch: which listener ids an event name reaches, and how to remove a `once` listener. */
export interface Registry {
  snapshot(name: string): number[]
  off(id: number): boolean
}

/** Listener entries, routes and delivery-error reporting of one hub. */
export class Dispatcher {
  readonly entries = new Map<number, Entry>()
  readonly errorHandlers = new Set<(error: EventHubError) => void>()
  listenerErrors = 0
  decodeErrors = 0
  /** Listeners per event name, rebuilt from the native registry after any change. */
  readonly #routes = new Map<string, Entry[]>()
  readonly #registry: Registry

  constructor(registry: Registry) {
    this.#registry = registry
  }

  add(entry: Entry): void {
    this.entries.set(entry.id, entry)
    this.#routes.clear()
  }

  /** Marks `entry` removed; returns whether it was live. */
  remove(id: number): boolean {
    const entry = this.entries.get(id)
    if (entry === undefined) return false
    entry.live = false
    this.entries.delete(id)
    this.#routes.clear()
    return true
  }

  /** Removes every entry that `match` selects. */
  removeWhere(match: (entry: Entry) => boolean): void {
    for (const entry of this.entries.values()) {
      if (!match(entry)) continue
      entry.live = false
      this.entries.delete(entry.id)
    }
    this.#routes.clear()
  }

  #route(name: string): Entry[] {
    let route = this.#routes.get(name)
    if (route === undefined) {
      route = []
      for (const id of this.#registry.snapshot(name)) {
        const entry = this.entries.get(id)
        if (entry !== undefined) route.push(entry)
      }
      this.#routes.set(name, route)
    }
    return route
  }

  dispatch(batch: Batch): void {
    for (let i = 0; i < batch.count; i++) {
      const lane = batch.lane(i)
      if (lane === LANE_MALFORMED || lane === LANE_NATIVE_ERROR) {
        this.#reportFromSink(batch, i, lane)
        continue
      }
      const name = batch.name(i)
      const route = this.#route(name)
      if (route.length === 0) continue
      this.#dispatchOne(batch, i, name, lane, route)
    }
  }

  #reportFromSink(batch: Batch, i: number, lane: number): void {
    const name = batch.name(i)
    const text = batch.text(i)
    const meta: EventMeta = { name, seq: batch.seqs[i], lane: 'raw' }
    if (lane === LANE_NATIVE_ERROR) {
      this.#report('ERR_NATIVE_ERROR', text, meta, undefined)
      return
    }
    this.decodeErrors++
    const what = name === '' ? 'An event from a native sink' : `An event "${name}" from a native sink`
    this.#report('ERR_EVENT_DECODE', `${what} (seq ${meta.seq}) is malformed`, meta, new TypeError(text))
  }

  #dispatchOne(batch: Batch, i: number, name: string, lane: number, route: Entry[]): void {
    const raw = lane === LANE_RAW
    const meta: EventMeta = { name, seq: batch.seqs[i], lane: LANE_NAMES[lane] ?? 'cbor' }
    // Each made on first use: the bytes only for raw listeners (or the raw
    // lane), the decoded value once for all decoding listeners.
    let bytes: Uint8Array | undefined
    let payload: unknown = DECODE_FAILED
    for (let j = 0; j < route.length; j++) {
      const entry = route[j]
      if (!entry.live) continue
      let value: unknown
      if (raw || entry.kind === Kind.Raw) {
        value = bytes ??= batch.payload(i)
      } else {
        if (payload === DECODE_FAILED) {
          payload = lane === LANE_JSON ? this.#parseJson(batch, i, meta) : this.#decode(batch.value(i), meta)
          if (payload === DECODE_FAILED) return this.#deliverRawOnly(route, j + 1, batch.payload(i), meta)
        }
        value = payload
      }
      this.#call(entry, name, value, meta)
    }
  }

  /** After a decode failure only the remaining raw listeners (from `route[from]` on) get the event. */
  #deliverRawOnly(route: Entry[], from: number, bytes: Uint8Array, meta: EventMeta): void {
    for (let j = from; j < route.length; j++) {
      const entry = route[j]
      if (entry.live && entry.kind === Kind.Raw) this.#call(entry, meta.name, bytes, meta)
    }
  }

  /** Decodes the payload value of a CBOR-lane event (`undefined`: not an envelope); reports failures. */
  #decode(value: Uint8Array | undefined, meta: EventMeta): unknown {
    let cause: unknown
    try {
      if (value !== undefined) return decoder.decode(value)
      cause = new TypeError(`expected a map { eventType: '${meta.name}', payload }`)
    } catch (error) {
      cause = error
    }
    this.decodeErrors++
    this.#report('ERR_EVENT_DECODE', `Event "${meta.name}" (seq ${meta.seq}) is not a valid CBOR envelope`, meta, cause)
    return DECODE_FAILED
  }

  #parseJson(batch: Batch, i: number, meta: EventMeta): unknown {
    try {
      return JSON.parse(batch.text(i))
    } catch (cause) {
      this.decodeErrors++
      this.#report('ERR_EVENT_DECODE', `Event "${meta.name}" (seq ${meta.seq}) is not valid JSON`, meta, cause)
      return DECODE_FAILED
    }
  }

  #call(entry: Entry, name: string, value: unknown, meta: EventMeta): void {
    try {
      if (entry.kind === Kind.Once) this.#registry.off(entry.id)
      const fn = entry.fn as (...args: unknown[]) => unknown
      const result = entry.kind === Kind.Any ? fn(name, value, meta) : fn(value, meta)
      if (isThenable(result)) {
        // A rejection reaches `onError` as a throw does, never the process's
        // unhandled-rejection handler.
        result.then(undefined, (cause: unknown) => this.#listenerFailed(`A listener of "${name}" rejected`, meta, cause))
      }
    } catch (cause) {
      this.#listenerFailed(`A listener of "${name}" threw`, meta, cause)
    }
  }

  #listenerFailed(what: string, meta: EventMeta, cause: unknown): void {
    this.listenerErrors++
    this.#report('ERR_LISTENER_THREW', what, meta, cause)
  }

  /** Reports `what` (and, when there is one, the message of its `cause`). */
  #report(code: EventHubErrorCode, what: string, meta: EventMeta, cause: unknown): void {
    const message = cause === undefined ? what : `${what}: ${describeCause(cause)}`
    const error = new EventHubError(message, {
      code,
      eventName: meta.name === '' ? undefined : meta.name,
      seq: meta.seq,
      cause,
    })
    this.reportError(error)
  }

  /** Hands a delivery error to the `onError` handlers, or rethrows it asynchronously when there are none. */
  reportError(error: unknown): void {
    if (this.errorHandlers.size === 0) return rethrowLater(error)
    for (const handler of [...this.errorHandlers]) {
      try {
        handler(error as EventHubError)
      } catch (handlerError) {
        rethrowLater(handlerError)
      }
    }
  }
}

function describeCause(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause)
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  )
}

/** Surfaces an error as an uncaught exception without unwinding through native code. */
export function rethrowLater(error: unknown): void {
  process.nextTick(() => {
    throw error
  })
}
