// Delivery of one batch to the listeners on the JS thread: routes from the
// native registry, one decode per event for all decoding listeners, error
// isolation per listener and per event, and reports to `onError`.

import { decoder, faultCause, quietErrors, quietTypeError } from './decode'

import { Batch, LANE_CBOR, LANE_JSON, LANE_MALFORMED, LANE_NATIVE_ERROR, LANE_RAW, LANE_REPLY, LANE_REPORTS_LOST } from './batch'
import { MISMATCH, Template } from './templates'
import { EventHubError, type EventHubErrorCode, type EventHubErrorOptions, type ReportingSink } from './errors'
import type { EventMeta, Lane } from './types'

export const enum Kind {
  On,
  Once,
  Raw,
  Any,
  /** `onRawSpan`: the batch's bytes and the event's offsets, no view made. */
  RawSpan,
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
  return fn.length === 0 || fn.length >= (kind === Kind.RawSpan ? 4 : kind === Kind.Any ? 3 : 2)
}

/** The live entries an event name reaches, and whether any of them decodes. */
interface Route {
  entries: Entry[]
  decodes: boolean
}

/** A route kept across batches, with the listener ids it was built from. */
interface KnownRoute extends Route {
  ids: number[]
}

/** Names whose routes are kept across batches (past it, a route is built per batch). */
const MAX_KNOWN_ROUTES = 1024

/** Per event of the decoded run (`Dispatcher#run`): decoded, or failed (its error kept). */
const DECODED = 1
const FAILED = 2

/** The longest run of events decoded with one `decodeMultiple` call, ahead of their listeners. */
const MAX_RUN = 256

/** Event names per hub that get a template of their own (see templates.ts). */
const MAX_TEMPLATES = 256
const NO_TEMPLATE = Template.never()

/** The first window of a run decoded after a value failed; each clean window doubles the next. */
const WINDOW_AFTER_FAILURE = 8

/** What `decode` returns for an event it could not decode (any CBOR value, `undefined` included, is a payload). */
const DECODE_FAILED = Symbol('decode failed')

/**
 * What the cbor-x paths return for an event that did not decode, its error
 * left in `#failure`: a value, not a throw, because V8 charges about a
 * microsecond for each throw and the error already cost one.
 */
const NOT_DECODED = Symbol('not decoded')

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
  /**
   * Routes by name, reused by every batch whose route ids for that name are
   * the same: a route is built only when the listeners change, not per
   * batch (at a few hundred events per second each batch is one event).
   * Emptied when a listener is added or removed.
   */
  readonly #knownRoutes = new Map<string, KnownRoute>()
  /** Per event name: its payloads' template (learning, compiled, or given up). */
  readonly #templates = new Map<string, Template>()
  /** The batch's templates, by name index. */
  #batchTemplates: Array<Template | undefined> = []
  /** The batch being dispatched, while it is. */
  #runBatch: Batch | undefined
  /** The decoded run: events `#runFrom` to `#runTo` (exclusive), their values, states and errors, by offset in the run. */
  #runFrom = 0
  #runTo = 0
  #runValues: unknown[] = []
  #runState = new Uint8Array(MAX_RUN)
  readonly #runErrors = new Map<number, unknown>()
  /** cbor-x's error for the event the last `NOT_DECODED` was about; taken by the one who got it. */
  #failure: unknown = undefined
  /** The window `decodeMultiple` is filling: next event, end, and whether it yielded a value too many. */
  #windowAt = 0
  #windowTo = 0
  #windowOverflow = false
  readonly #registry: Registry

  constructor(registry: Registry) {
    this.#registry = registry
  }

  add(entry: Entry): void {
    this.entries.set(entry.id, entry)
    this.#changed = true
    this.#liveRoutes.clear()
    this.#knownRoutes.clear()
  }

  /** Marks `entry` removed; returns whether it was live. */
  remove(id: number): boolean {
    const entry = this.entries.get(id)
    if (entry === undefined) return false
    // A removed entry is skipped where a route still holds it.
    entry.live = false
    this.entries.delete(id)
    this.#knownRoutes.clear()
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
      route = this.#knownRoute(batch, j)
      this.#batchRoutes[j] = route
    }
    return route
  }

  /** The route of name index `j` of `batch`: the known one when its ids are the batch's, else a new one. */
  #knownRoute(batch: Batch, j: number): Route {
    const name = batch.nameOf(j)
    const from = batch.routeStart(j)
    const to = batch.routeEnd(j)
    const known = this.#knownRoutes.get(name)
    if (known !== undefined && sameIds(known.ids, batch, from, to)) return known
    const ids: number[] = []
    for (let at = from; at < to; at++) ids.push(batch.routeId(at))
    const route = this.#routeOf(ids)
    if (known !== undefined || this.#knownRoutes.size < MAX_KNOWN_ROUTES) this.#knownRoutes.set(name, route)
    return route
  }

  #liveRoute(name: string): Route {
    let route = this.#liveRoutes.get(name)
    if (route === undefined) {
      route = this.#routeOf(this.#registry.snapshot(name))
      this.#liveRoutes.set(name, route)
    }
    return route
  }

  #routeOf(ids: number[]): KnownRoute {
    const entries: Entry[] = []
    let decodes = false
    for (const id of ids) {
      const entry = this.entries.get(id)
      if (entry === undefined) continue
      entries.push(entry)
      if (entry.kind !== Kind.Raw && entry.kind !== Kind.RawSpan) decodes = true
    }
    return { entries, decodes, ids }
  }

  /**
   * Delivers `batch` in one pass: per event, its route (looked up once per
   * name per batch), its value (decoded just before its listeners run, once
   * for all of them), the listener calls. Not reentrant.
   */
  dispatch(batch: Batch): void {
    // Its per-batch state is the dispatcher's own: the hub never starts a
    // dispatch from inside one (a close from a listener waits for the batch).
    if (this.#runBatch !== undefined) throw new Error('ffi-events: a batch was dispatched from inside another')
    // Per-batch tables are emptied in place (not reallocated): a batch is
    // made per wake-up, so what dispatch allocates per batch is paid per
    // event at low rates.
    const k = batch.nameCount
    for (let j = 0; j < k; j++) {
      this.#batchRoutes[j] = undefined
      this.#batchTemplates[j] = undefined
    }
    this.#changed = false
    if (this.#liveRoutes.size > 0) this.#liveRoutes.clear()
    this.#runBatch = batch
    this.#runFrom = 0
    this.#runTo = 0
    try {
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
        const route = this.#route(batch, i)
        if (route.entries.length === 0) continue
        this.#dispatchOne(batch, i, batch.name(i), lane, route.entries)
      }
    } finally {
      // Neither the batch's bytes nor its values are kept alive by the next
      // idle period.
      this.#runValues.fill(undefined, 0, this.#runTo - this.#runFrom)
      if (this.#runErrors.size > 0) this.#runErrors.clear()
      this.#runTo = this.#runFrom
      this.#runBatch = undefined
    }
  }

  /**
   * Decodes CBOR-lane event `i` for its decoding listeners: with its name's
   * compiled decoder when it has one (templates.ts); else from the decoded
   * run it is in, decoding the run first when `i` starts one. A run is the
   * events from `i` on that are self-contained (no tag whose meaning cbor-x
   * carries from one item to the next, see crates/ffi-events/src/cbor_scan.rs),
   * heard by a decoding listener and not taken by a compiled decoder: their
   * payloads follow each other in the batch, so one `decodeMultiple` call
   * decodes them all, and each value is what its bytes decode to alone.
   */
  #decodeCbor(batch: Batch, i: number): unknown {
    if (!batch.selfContained(i)) return this.#decodeOne(batch, i)
    const template = this.#templateOf(batch, i)
    const decode = template.decoder
    if (decode !== undefined) {
      const value = decode(batch, batch.start(i), batch.end(i))
      template.record(value !== MISMATCH)
      if (value !== MISMATCH) {
        this.compiledDecodes++
        return value
      }
    }
    if (i < this.#runFrom || i >= this.#runTo) this.#decodeRunFrom(batch, i)
    if (this.#runState[i - this.#runFrom] === FAILED) {
      this.#failure = this.#runErrors.get(i)
      return NOT_DECODED
    }
    return this.#runValues[i - this.#runFrom]
  }

  /**
   * Whether event `i` can join a run of cbor-x decodes (see `#decodeCbor`).
   * An event whose name has a compiled decoder ends the run without being
   * decoded here: it is decoded once, by that decoder, when its turn comes
   * (and starts a run of its own if its payload does not match).
   */
  #runs(batch: Batch, i: number): boolean {
    return (
      batch.lane(i) === LANE_CBOR &&
      batch.selfContained(i) &&
      this.#route(batch, i).decodes &&
      this.#templateOf(batch, i).decoder === undefined
    )
  }

  /**
   * Decodes the run that starts at event `i` (at most `MAX_RUN` events), in
   * windows: a value that fails to decode fails alone, and the run goes on
   * from the next event in windows that start small and double while they
   * decode cleanly, so that a hostile event costs about what decoding a few
   * events costs.
   */
  #decodeRunFrom(batch: Batch, from: number): void {
    let to = from + 1
    const limit = Math.min(batch.count, from + MAX_RUN)
    while (to < limit && this.#runs(batch, to)) to++
    // Values of the previous run are not kept alive by this one.
    this.#runValues.fill(undefined, 0, this.#runTo - this.#runFrom)
    this.#runFrom = from
    this.#runTo = to
    if (this.#runErrors.size > 0) this.#runErrors.clear()
    if (this.#runState.length < to - from) this.#runState = new Uint8Array(Math.max(MAX_RUN, to - from))
    this.#runState.fill(0, 0, to - from)
    let next = from
    let window = to - from
    while (next < to) {
      const end = Math.min(to, next + window)
      const stopped = this.#decodeWindow(batch, next, end)
      window = stopped === end ? window * 2 : WINDOW_AFTER_FAILURE
      next = stopped
    }
    this.#learn(batch, from, to)
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
  #learn(batch: Batch, from: number, to: number): void {
    for (let i = from; i < to; i++) {
      if (this.#runState[i - from] !== DECODED) continue
      const template = this.#templateOf(batch, i)
      if (template.decoder === undefined) template.learn(batch.bytes, batch.start(i), batch.end(i))
    }
  }

  /** `decodeMultiple`'s callback: the next value of the window being decoded. */
  readonly #takeValue = (value: unknown): boolean => {
    if (this.#windowAt === this.#windowTo) {
      this.#windowOverflow = true
      return false
    }
    const at = this.#windowAt++ - this.#runFrom
    this.#runValues[at] = value
    this.#runState[at] = DECODED
    return true
  }

  /**
   * Decodes events `from` to `to` (exclusive) of the run as one sequence.
   * Returns `to`, or the event after the one that failed. When the values
   * do not match the events one for one (the native scan and cbor-x
   * disagree on where an item ends), every event of the window is decoded
   * alone.
   */
  #decodeWindow(batch: Batch, from: number, to: number): number {
    this.#windowAt = from
    this.#windowTo = to
    this.#windowOverflow = false
    const stackTraceLimit = quietErrors()
    try {
      decoder.decodeMultiple(batch.bytes.subarray(batch.start(from), batch.end(to - 1)), this.#takeValue)
    } catch (error) {
      // cbor-x says where the item that threw began: when that is where
      // event `at` begins, the events before it decoded and `at` failed.
      // Otherwise (or when every event already had its value) the
      // boundaries disagree: each event of the window is decoded alone.
      const at = this.#windowAt
      const began = (error as { lastPosition?: unknown } | null)?.lastPosition
      if (at < to && began === batch.start(at) - batch.start(from)) {
        this.#runState[at - this.#runFrom] = FAILED
        this.#runErrors.set(at, error)
        return at + 1
      }
      this.#windowOverflow = true
    } finally {
      Error.stackTraceLimit = stackTraceLimit
    }
    if (this.#windowOverflow || this.#windowAt !== to) {
      for (let i = from; i < to; i++) this.#decodeAlone(batch, i)
    }
    return to
  }

  #decodeAlone(batch: Batch, i: number): void {
    const at = i - this.#runFrom
    const value = this.#decodeOne(batch, i)
    if (value === NOT_DECODED) {
      this.#runState[at] = FAILED
      this.#runErrors.set(i, this.#takeFailure())
    } else {
      this.#runValues[at] = value
      this.#runState[at] = DECODED
    }
  }

  /** cbor-x's value for event `i` alone, or `NOT_DECODED` with cbor-x's error in `#failure`. */
  #decodeOne(batch: Batch, i: number): unknown {
    const stackTraceLimit = quietErrors()
    try {
      return decoder.decode(batch.readPayload(i))
    } catch (error) {
      this.#failure = error
      return NOT_DECODED
    } finally {
      Error.stackTraceLimit = stackTraceLimit
    }
  }

  #takeFailure(): unknown {
    const failure = this.#failure
    this.#failure = undefined
    return failure
  }

  #reportFromSink(batch: Batch, i: number, lane: number): void {
    const name = batch.name(i)
    const { format, ret, text, lost } = batch.report(i)
    const sink: ReportingSink = { name: name === '' ? undefined : name, format: SINK_FORMATS[format] ?? 'envelope' }
    const meta: EventMeta = { name, seq: batch.seq(i), lane: 'raw' }
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
    this.#report('ERR_EVENT_DECODE', `${what} (seq ${meta.seq}) is malformed`, meta, quietTypeError(text), { sink })
  }

  #dispatchOne(batch: Batch, i: number, name: string, lane: number, route: Entry[]): void {
    const raw = lane === LANE_RAW
    const seq = batch.seq(i)
    // Made on first use: meta only for a listener that takes it (or an
    // error report), the bytes only for raw listeners (or the raw lane), the
    // decoded value once for all decoding listeners.
    let meta: EventMeta | undefined
    let bytes: Uint8Array | undefined
    let payload: unknown = DECODE_FAILED
    for (let j = 0; j < route.length; j++) {
      const entry = route[j]
      if (!entry.live) continue
      if (entry.kind === Kind.RawSpan) {
        if (entry.wantsMeta) meta ??= metaFor(name, seq, lane)
        this.#call(entry, name, batch.lendBytes(), meta, seq, lane, batch.start(i), batch.end(i))
        continue
      }
      let value: unknown
      if (raw) {
        value = bytes ??= batch.payload(i)
      } else if (entry.kind === Kind.Raw) {
        value = bytes ??= rawBytes(batch, i, lane)
      } else {
        if (payload === DECODE_FAILED) {
          payload = this.#payloadOf(batch, i, lane)
          if (payload === DECODE_FAILED) {
            return this.#deliverRawOnly(route, j + 1, batch, i, lane, meta ?? metaFor(name, seq, lane))
          }
        }
        value = payload
      }
      if (entry.wantsMeta) meta ??= metaFor(name, seq, lane)
      this.#call(entry, name, value, meta, seq, lane)
    }
  }

  /** After a decode failure only the remaining raw listeners (from `route[from]` on) get the event. */
  #deliverRawOnly(route: Entry[], from: number, batch: Batch, i: number, lane: number, meta: EventMeta): void {
    let bytes: Uint8Array | undefined
    for (let j = from; j < route.length; j++) {
      const entry = route[j]
      if (!entry.live) continue
      if (entry.kind === Kind.Raw) {
        bytes ??= rawBytes(batch, i, lane)
        this.#call(entry, meta.name, bytes, meta, meta.seq, lane)
      } else if (entry.kind === Kind.RawSpan) {
        this.#call(entry, meta.name, batch.lendBytes(), meta, meta.seq, lane, batch.start(i), batch.end(i))
      }
    }
  }

  /** The decoded payload of event `i`; reports failures. */
  #payloadOf(batch: Batch, i: number, lane: number): unknown {
    if (lane === LANE_JSON) return this.#parseJson(batch, i)
    let cause: unknown
    const fault = batch.fault(i)
    if (fault !== undefined) {
      // The native scan found it malformed: cbor-x is not asked (a payload
      // nested 100,000 deep would cost it a stack overflow).
      cause = faultCause(fault)
    } else {
      const value = this.#decodeCbor(batch, i)
      if (value !== NOT_DECODED) return value
      cause = this.#takeFailure()
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
    const meta = metaFor(batch.name(i), batch.seq(i), lane)
    this.#report('ERR_EVENT_DECODE', `Event "${meta.name}" (seq ${meta.seq}) ${what}`, meta, cause)
  }

  /** Calls one listener; `start` and `end` are an `onRawSpan` listener's offsets into `value`, the batch's bytes. */
  #call(entry: Entry, name: string, value: unknown, meta: EventMeta | undefined, seq: number, lane: number, start = 0, end = 0): void {
    try {
      if (entry.kind === Kind.Once) this.#registry.off(entry.id)
      const fn = entry.fn as (...args: unknown[]) => unknown
      const kind = entry.kind
      const result =
        kind === Kind.Any ? fn(name, value, meta) : kind === Kind.RawSpan ? fn(value, start, end, meta) : fn(value, meta)
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

/** Whether `ids` are the batch's route ids from `from` to `to`. */
function sameIds(ids: number[], batch: Batch, from: number, to: number): boolean {
  if (ids.length !== to - from) return false
  for (let at = from; at < to; at++) if (ids[at - from] !== batch.routeId(at)) return false
  return true
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

/**
 * A dispatcher and a template kept for the life of the process, for the
 * reason `KEEP_BATCH_MAP` (batch.ts) is: with no hub alive, a full GC would
 * collect their maps and throw away the optimized dispatch code, which a
 * process that closes one hub and opens the next would then recompile.
 */
export const KEEP_DISPATCH_MAPS: readonly [Dispatcher, Template] = [
  new Dispatcher({ snapshot: () => [], off: () => false }),
  new Template(),
]
