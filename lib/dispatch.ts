// Delivery of one batch to the listeners on the JS thread: routes from the
// native registry, one decode per event for all decoding listeners, error
// isolation per listener and per event, and reports to `onError`.

import { decoder, quietErrors } from './decode'

import { Batch, LANE_CBOR, LANE_JSON, LANE_MALFORMED, LANE_NATIVE_ERROR, LANE_RAW, LANE_REPLY, LANE_REPORTS_LOST } from './batch'
import { MISMATCH, Template } from './templates'
import { EventHubError, type EventHubErrorCode, type EventHubErrorOptions, type ReportingSink } from './errors'
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
  /**
   * Whether the function declares the `meta` parameter (or takes its
   * arguments as a rest parameter): only then is a meta object made for it.
   */
  readonly wantsMeta: boolean
  /** False from the moment it is removed, so a dispatch in progress skips it. */
  live: boolean
}

/** Whether `fn`, a listener of `kind`, takes `meta` (by `Function#length`; 0 means a rest parameter or `arguments`). */
export function takesMeta(kind: Kind, fn: (...args: never[]) => unknown): boolean {
  return fn.length === 0 || fn.length >= (kind === Kind.Any ? 3 : 2)
}

/** The live entries an event name reaches, and whether any of them decodes. */
interface Route {
  entries: Entry[]
  decodes: boolean
}

const DECODED = 1
const FAILED = 2
/** Waits for its run's `decodeMultiple` (no compiled decoder took it). */
const QUEUED = 3

/** What `#decodeRuns` found for each event of a batch. */
interface Decoded {
  /** Made by the first run decoded: a batch without one (raw lanes) allocates nothing. */
  values: unknown[] | undefined
  /** Per event: 0 not decoded yet, `QUEUED` for a run, `DECODED`, or `FAILED` (its error in `errors`). */
  state: Uint8Array | undefined
  errors: Map<number, unknown> | undefined
}


/** Event names per hub that get a template of their own (see templates.ts). */
const MAX_TEMPLATES = 256
const NO_TEMPLATE = Template.never()

/** The first window of a run decoded after a value failed; each clean window doubles the next. */
const WINDOW_AFTER_FAILURE = 8

/** What `decode` returns for an event it could not decode (any CBOR value, `undefined` included, is a payload). */
const DECODE_FAILED = Symbol('decode failed')

const LANE_NAMES: readonly Lane[] = ['cbor', 'raw', 'json']

/** Sink formats by the code a report's header carries. */
const SINK_FORMATS: readonly ReportingSink['format'][] = ['envelope', 'cbor', 'raw', 'json']

/** The hub's side of dispatch: which listener ids an event name reaches, and how to remove a `once` listener. */
export interface Registry {
  snapshot(name: string): number[]
  off(id: number): boolean
}

/** Listener entries, routes and delivery-error reporting of one hub. */
export class Dispatcher {
  readonly entries = new Map<number, Entry>()
  readonly errorHandlers = new Set<(error: EventHubError) => unknown>()
  listenerErrors = 0
  decodeErrors = 0
  /** Events a compiled decoder (templates.ts) decoded: the fast path. */
  compiledDecodes = 0
  /** Where replies to requests go (set by the hub). */
  onReply: ((id: number, ret: number, flags: number, bytes: Uint8Array) => void) | undefined
  /**
   * Routes of the batch being dispatched, by name index, built from the
   * listener ids the batch carries (the native registry's, read when the
   * batch was drained).
   */
  #batchRoutes: Array<Route | undefined> = []
  /**
   * Set when a listener is added while a batch is dispatched: its routes
   * are stale, and the rest of it asks the native registry per name
   * (cached here until the next change or batch).
   */
  #changed = false
  readonly #liveRoutes = new Map<string, Route>()
  /** Per event name: its payloads' template (learning, compiled, or given up). */
  readonly #templates = new Map<string, Template>()
  /** The batch's templates, by name index. */
  #batchTemplates: Array<Template | undefined> = []
  readonly #registry: Registry

  constructor(registry: Registry) {
    this.#registry = registry
  }

  add(entry: Entry): void {
    this.entries.set(entry.id, entry)
    this.#changed = true
    this.#liveRoutes.clear()
  }

  /** Marks `entry` removed; returns whether it was live. */
  remove(id: number): boolean {
    const entry = this.entries.get(id)
    if (entry === undefined) return false
    // A removed entry is skipped where a route still holds it.
    entry.live = false
    this.entries.delete(id)
    return true
  }

  /** Removes every entry that `match` selects. */
  removeWhere(match: (entry: Entry) => boolean): void {
    for (const entry of this.entries.values()) if (match(entry)) this.remove(entry.id)
  }

  /** The listeners event `i` of `batch` reaches. */
  #route(batch: Batch, i: number): Route {
    if (this.#changed) return this.#liveRoute(batch.name(i))
    const j = batch.nameIndex(i)
    let route = this.#batchRoutes[j]
    if (route === undefined) {
      const { routeIds, routeEnds } = batch
      route = this.#routeOf(routeIds, j === 0 ? 0 : routeEnds[j - 1], routeEnds[j])
      this.#batchRoutes[j] = route
    }
    return route
  }

  #liveRoute(name: string): Route {
    let route = this.#liveRoutes.get(name)
    if (route === undefined) {
      const ids = this.#registry.snapshot(name)
      route = this.#routeOf(ids, 0, ids.length)
      this.#liveRoutes.set(name, route)
    }
    return route
  }

  #routeOf(ids: ArrayLike<number>, from: number, to: number): Route {
    const entries: Entry[] = []
    let decodes = false
    for (let at = from; at < to; at++) {
      const entry = this.entries.get(ids[at])
      if (entry === undefined) continue
      entries.push(entry)
      if (entry.kind !== Kind.Raw) decodes = true
    }
    return { entries, decodes }
  }

  dispatch(batch: Batch): void {
    this.#batchRoutes = new Array<Route | undefined>(batch.nameCount)
    this.#batchTemplates = new Array<Template | undefined>(batch.nameCount)
    this.#changed = false
    this.#liveRoutes.clear()
    const decoded = this.#decodeRuns(batch)
    for (let i = 0; i < batch.count; i++) {
      const lane = batch.lane(i)
      if (lane === LANE_REPLY) {
        const { id, ret, flags, bytes } = batch.reply(i)
        this.onReply?.(id, ret, flags, bytes)
        continue
      }
      if (lane === LANE_MALFORMED || lane === LANE_NATIVE_ERROR || lane === LANE_REPORTS_LOST) {
        this.#reportFromSink(batch, i, lane)
        continue
      }
      const name = batch.name(i)
      const route = this.#route(batch, i)
      if (route.entries.length === 0) continue
      this.#dispatchOne(batch, i, name, lane, route.entries, decoded)
    }
  }

  /**
   * Decodes the self-contained CBOR-lane events that decoding listeners
   * wait for: with their name's compiled decoder when it has one
   * (templates.ts), and every run of the rest with one `decodeMultiple`
   * call per run (the
   * payloads follow each other in the batch, so a run is one CBOR
   * sequence). All before any listener runs, so a listener that decodes
   * CBOR itself never interleaves with it.
   *
   * A run holds only items the native side scanned as self-contained (no
   * tag whose meaning cbor-x carries from one item to the next), so each
   * value is what its bytes decode to alone. A value that fails to decode
   * fails alone: the run goes on from the next event, in windows that
   * start small and double while they decode cleanly, so that a hostile
   * event costs about what decoding a few events costs, not a restart over
   * the whole rest of the run.
   */
  #decodeRuns(batch: Batch): Decoded {
    const n = batch.count
    const decoded: Decoded = { values: undefined, state: undefined, errors: undefined }
    // One pass: a compiled decoder takes what it can; the rest is queued
    // for the runs below.
    for (let i = 0; i < n; i++) {
      if (!this.#inRun(batch, i)) continue
      const state = (decoded.state ??= new Uint8Array(n))
      state[i] = QUEUED
      const template = this.#templateOf(batch, i)
      const decode = template.decoder
      if (decode === undefined) continue
      const value = decode(batch.bytes, batch.dataView, batch.buffer, batch.start(i), batch.end(i))
      template.record(value !== MISMATCH)
      if (value === MISMATCH) continue
      ;(decoded.values ??= new Array<unknown>(n))[i] = value
      state[i] = DECODED
      this.compiledDecodes++
    }
    const state = decoded.state
    if (state === undefined) return decoded
    let i = 0
    while (i < n) {
      if (state[i] !== QUEUED) {
        i++
        continue
      }
      let end = i + 1
      while (end < n && state[end] === QUEUED) end++
      this.#decodeRun(batch, i, end, decoded)
      this.#learn(batch, i, end, decoded)
      i = end
    }
    return decoded
  }

  /** The template of event `i`'s name (one lookup per name per batch). */
  #templateOf(batch: Batch, i: number): Template {
    const j = batch.nameIndex(i)
    let template = this.#batchTemplates[j]
    if (template === undefined) {
      const name = batch.name(i)
      template = this.#templates.get(name)
      if (template === undefined) {
        // A library that names its events freely must not grow this map
        // without bound: names past the limit are decoded by cbor-x only.
        template = NO_TEMPLATE
        if (this.#templates.size < MAX_TEMPLATES) {
          template = new Template()
          this.#templates.set(name, template)
        }
      }
      this.#batchTemplates[j] = template
    }
    return template
  }

  /** Shows the payloads cbor-x decoded to their names' templates until they compile. */
  #learn(batch: Batch, from: number, to: number, decoded: Decoded): void {
    for (let i = from; i < to; i++) {
      if (decoded.state?.[i] !== DECODED) continue
      const template = this.#templateOf(batch, i)
      if (template.decoder === undefined) template.learn(batch.bytes, batch.start(i), batch.end(i))
    }
  }

  #inRun(batch: Batch, i: number): boolean {
    return batch.lane(i) === LANE_CBOR && batch.selfContained(i) && this.#route(batch, i).decodes
  }

  #decodeRun(batch: Batch, from: number, to: number, decoded: Decoded): void {
    const n = batch.count
    const values = (decoded.values ??= new Array<unknown>(n))
    const state = (decoded.state ??= new Uint8Array(n))
    let next = from
    let window = to - from
    while (next < to) {
      const end = Math.min(to, next + window)
      const stopped = this.#decodeWindow(batch, next, end, values, state, decoded)
      if (stopped === end) {
        window *= 2
      } else {
        window = WINDOW_AFTER_FAILURE
      }
      next = stopped
    }
  }

  /**
   * Decodes events `from` to `to` (exclusive) as one sequence. Returns
   * `to`, or the event after the one that failed. When the values do not
   * match the events one for one (the native scan and cbor-x disagree on
   * where an item ends), every event of the window is decoded alone.
   */
  #decodeWindow(batch: Batch, from: number, to: number, values: unknown[], state: Uint8Array, decoded: Decoded): number {
    let at = from
    let moreValues = false
    const stackTraceLimit = quietErrors()
    try {
      decoder.decodeMultiple(batch.bytes.subarray(batch.start(from), batch.end(to - 1)), (value: unknown) => {
        if (at === to) {
          moreValues = true
          return false
        }
        values[at] = value
        state[at++] = DECODED
        return true
      })
    } catch (error) {
      // cbor-x says where the item that threw began: when that is where
      // event `at` begins, the events before it decoded and `at` failed.
      // Otherwise (or when every event already had its value) the
      // boundaries disagree: each event of the window is decoded alone.
      const began = (error as { lastPosition?: unknown } | null)?.lastPosition
      if (at < to && began === batch.start(at) - batch.start(from)) {
        state[at] = FAILED
        ;(decoded.errors ??= new Map()).set(at, error)
        return at + 1
      }
      moreValues = true
    } finally {
      Error.stackTraceLimit = stackTraceLimit
    }
    if (moreValues || at !== to) {
      for (let i = from; i < to; i++) this.#decodeAlone(batch, i, values, state, decoded)
    }
    return to
  }

  #decodeAlone(batch: Batch, i: number, values: unknown[], state: Uint8Array, decoded: Decoded): void {
    const stackTraceLimit = quietErrors()
    try {
      values[i] = decoder.decode(batch.payload(i))
      state[i] = DECODED
    } catch (error) {
      state[i] = FAILED
      ;(decoded.errors ??= new Map()).set(i, error)
    } finally {
      Error.stackTraceLimit = stackTraceLimit
    }
  }

  #reportFromSink(batch: Batch, i: number, lane: number): void {
    const name = batch.name(i)
    const { format, ret, text, lost } = batch.report(i)
    const sink: ReportingSink = { name: name === '' ? undefined : name, format: SINK_FORMATS[format] ?? 'envelope' }
    const meta: EventMeta = { name, seq: batch.seqs[i], lane: 'raw' }
    if (lane === LANE_NATIVE_ERROR) {
      this.#report('ERR_NATIVE_ERROR', text, meta, undefined, { ret, sink })
      return
    }
    if (lane === LANE_REPORTS_LOST) {
      const what = `${lost} report(s) from native sinks lost: the ring and the report reserve were full; the last one (ret ${ret}): ${text}`
      this.#report('ERR_REPORTS_LOST', what, undefined, undefined, { ret, sink, lost })
      return
    }
    this.decodeErrors++
    const what = name === '' ? 'An event from a native sink' : `An event "${name}" from a native sink`
    this.#report('ERR_EVENT_DECODE', `${what} (seq ${meta.seq}) is malformed`, meta, new TypeError(text), { sink })
  }

  #dispatchOne(batch: Batch, i: number, name: string, lane: number, route: Entry[], decoded: Decoded): void {
    const raw = lane === LANE_RAW
    // Made on first use: meta only for a listener that takes it (or an
    // error report), the bytes only for raw listeners (or the raw lane), the
    // decoded value once for all decoding listeners.
    let meta: EventMeta | undefined
    let bytes: Uint8Array | undefined
    let payload: unknown = DECODE_FAILED
    for (let j = 0; j < route.length; j++) {
      const entry = route[j]
      if (!entry.live) continue
      let value: unknown
      if (raw) {
        value = bytes ??= batch.payload(i)
      } else if (entry.kind === Kind.Raw) {
        value = bytes ??= rawBytes(batch, i, lane)
      } else {
        if (payload === DECODE_FAILED) {
          payload = this.#payloadOf(batch, i, lane, decoded)
          if (payload === DECODE_FAILED) {
            return this.#deliverRawOnly(route, j + 1, batch, i, lane, meta ?? metaFor(name, batch.seqs[i], lane))
          }
        }
        value = payload
      }
      if (entry.wantsMeta) meta ??= metaFor(name, batch.seqs[i], lane)
      this.#call(entry, name, value, meta, batch.seqs[i], lane)
    }
  }

  /** After a decode failure only the remaining raw listeners (from `route[from]` on) get the event. */
  #deliverRawOnly(route: Entry[], from: number, batch: Batch, i: number, lane: number, meta: EventMeta): void {
    let bytes: Uint8Array | undefined
    for (let j = from; j < route.length; j++) {
      const entry = route[j]
      if (entry.live && entry.kind === Kind.Raw) {
        bytes ??= rawBytes(batch, i, lane)
        this.#call(entry, meta.name, bytes, meta, meta.seq, lane)
      }
    }
  }

  /** The decoded payload of event `i` (decoded with its run, or now); reports failures. */
  #payloadOf(batch: Batch, i: number, lane: number, decoded: Decoded): unknown {
    if (lane === LANE_JSON) return this.#parseJson(batch, i)
    const state = decoded.state?.[i]
    if (state === DECODED) return decoded.values?.[i]
    let cause: unknown
    const fault = batch.fault(i)
    if (state === FAILED) {
      cause = decoded.errors?.get(i)
    } else if (fault !== undefined) {
      // The native scan found it malformed: cbor-x is not asked (a payload
      // nested 100,000 deep would cost it a stack overflow).
      cause = new TypeError(fault)
    } else {
      const stackTraceLimit = quietErrors()
      try {
        return decoder.decode(batch.payload(i))
      } catch (error) {
        cause = error
      } finally {
        Error.stackTraceLimit = stackTraceLimit
      }
    }
    this.#decodeFailed(batch, i, lane, 'is not a valid CBOR payload', cause)
    return DECODE_FAILED
  }

  #parseJson(batch: Batch, i: number): unknown {
    try {
      return JSON.parse(batch.text(i))
    } catch (cause) {
      this.#decodeFailed(batch, i, LANE_JSON, 'is not valid JSON', cause)
      return DECODE_FAILED
    }
  }

  #decodeFailed(batch: Batch, i: number, lane: number, what: string, cause: unknown): void {
    this.decodeErrors++
    const meta = metaFor(batch.name(i), batch.seqs[i], lane)
    this.#report('ERR_EVENT_DECODE', `Event "${meta.name}" (seq ${meta.seq}) ${what}`, meta, cause)
  }

  #call(entry: Entry, name: string, value: unknown, meta: EventMeta | undefined, seq: number, lane: number): void {
    try {
      if (entry.kind === Kind.Once) this.#registry.off(entry.id)
      const fn = entry.fn as (...args: unknown[]) => unknown
      const result = entry.kind === Kind.Any ? fn(name, value, meta) : fn(value, meta)
      if (isThenable(result)) {
        // A rejection reaches `onError` as a throw does, never the process's
        // unhandled-rejection handler.
        const reportTo = meta ?? metaFor(name, seq, lane)
        result.then(undefined, (cause: unknown) => this.#listenerFailed(`A listener of "${name}" rejected`, reportTo, cause))
      }
    } catch (cause) {
      this.#listenerFailed(`A listener of "${name}" threw`, meta ?? metaFor(name, seq, lane), cause)
    }
  }

  #listenerFailed(what: string, meta: EventMeta, cause: unknown): void {
    this.listenerErrors++
    this.#report('ERR_LISTENER_THREW', what, meta, cause)
  }

  /** Reports `what` (and, when there is one, the message of its `cause`). */
  #report(
    code: EventHubErrorCode,
    what: string,
    meta: EventMeta | undefined,
    cause: unknown,
    extra: Pick<EventHubErrorOptions, 'ret' | 'sink' | 'lost'> = {},
  ): void {
    const message = cause === undefined ? what : `${what}: ${describeCause(cause)}`
    // A report's own stack would show only this dispatch loop (what went
    // wrong is in its message, its `cause` and its fields), and capturing
    // it costs more than delivering an event: a flood of bad input must
    // not cost much more than a flood of good input.
    const stackTraceLimit = quietErrors()
    let error: EventHubError
    try {
      error = new EventHubError(message, {
        code,
        eventName: meta === undefined || meta.name === '' ? undefined : meta.name,
        seq: meta?.seq,
        cause,
        ...extra,
      })
    } finally {
      Error.stackTraceLimit = stackTraceLimit
    }
    this.reportError(error)
  }

  /** Hands a delivery error to the `onError` handlers, or rethrows it asynchronously when there are none. */
  reportError(error: unknown): void {
    if (this.errorHandlers.size === 0) return rethrowLater(error)
    for (const handler of [...this.errorHandlers]) {
      try {
        const result = handler(error as EventHubError)
        // An async handler's rejection surfaces as a throw does: an
        // uncaught exception, never an unhandled rejection.
        if (isThenable(result)) result.then(undefined, rethrowLater)
      } catch (handlerError) {
        rethrowLater(handlerError)
      }
    }
  }
}

/** What a raw (`onRaw`) listener gets: a CBOR event's envelope, rebuilt, or the bytes as they came. */
function rawBytes(batch: Batch, i: number, lane: number): Uint8Array {
  return lane === LANE_CBOR ? batch.envelope(i) : batch.payload(i)
}

function metaFor(name: string, seq: number, lane: number): EventMeta {
  return { name, seq, lane: LANE_NAMES[lane] ?? 'cbor' }
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
