import { Decoder, Encoder } from 'cbor-x'

import { EmitRefusal, type NativeHub } from '../binding'
import { Batch } from './batch'
import { abortError, closedError, EventHubError, type EventHubErrorCode } from './errors'
import { defaultBinding, type BindingModule } from './load'
import type {
  AllEvents,
  AnyListener,
  EventHubOptions,
  EventHubStats,
  EventMap,
  EventMeta,
  EventName,
  EventsOptions,
  Listener,
  RawListener,
  WaitForOptions,
} from './types'
import {
  invalidValue,
  outOfRange,
  validateBytes,
  validateFunction,
  validateInteger,
  validateName,
  validateNumber,
  validateObject,
  validateOneOf,
  validateSignal,
} from './validate'

const enum Kind {
  On,
  Once,
  Raw,
  Any,
}

interface Entry {
  readonly id: number
  readonly kind: Kind
  readonly fn: (...args: never[]) => unknown
  /** False from the moment `off` removes it, so a dispatch in progress skips it. */
  live: boolean
}

// Byte strings are copied out of the batch so that a payload a listener keeps
// never pins (or aliases) the batch buffer.
const decoder = new Decoder({ mapsAsObjects: true, useRecords: false, copyBuffers: true })
const encoder = new Encoder({ useRecords: false, variableMapSize: true })

/** Mirrors `HubConfig::default().max_event_bytes`, for error messages. */
const DEFAULT_MAX_EVENT_BYTES = 16 * 1024 * 1024

/** What `#decode` returns for an event it could not decode (any CBOR value, `undefined` included, is a payload). */
const DECODE_FAILED = Symbol('decode failed')

/** Each hub's native side and the binding it came from (the built-in sources must use the same one). */
const internals = new WeakMap<EventHub<EventMap>, { native: NativeHub; binding: BindingModule }>()

/** The native hub of `hub` and the binding it came from; a `TypeError` for anything but an EventHub. */
export function internalsOf<Events extends EventMap>(hub: EventHub<Events>): { native: NativeHub; binding: BindingModule } {
  const found = internals.get(hub as unknown as EventHub<EventMap>)
  if (found === undefined) throw new TypeError('The "hub" argument must be an instance of EventHub')
  return found
}

/**
 * The native hub behind `hub`, for the built-in sources and for addons that
 * embed ffi-events: pass it to your addon's functions, which take a
 * `NativeHub` and hand `Emitter`s to their threads.
 */
export function nativeHubOf<Events extends EventMap>(hub: EventHub<Events>): NativeHub {
  return internalsOf(hub).native
}


/** Second argument of `new EventHub()`, for addons that embed ffi-events. */
export interface EventHubBindingOptions {
  /**
   * The binding module to build the hub over (default: this package's own).
   * An addon that links `ffi-events-napi` as an rlib exports its own
   * `NativeHub`; pass that addon's module so that the addon's native code
   * receives hubs of its own class (see examples/embed).
   */
  binding?: BindingModule
}


/**
 * Typed events from native threads, delivered on this JS thread in batches.
 *
 * Listeners are called in subscription order; one that throws does not stop
 * the others, and its error goes to `onError` handlers (or, with none, is
 * rethrown asynchronously as an uncaught exception). Promise continuations
 * started by a listener run after the whole batch, not after each event.
 */
export class EventHub<Events extends EventMap = EventMap> {
  readonly #native: NativeHub
  readonly #entries = new Map<number, Entry>()
  /** Listeners per event name, rebuilt from the native registry after any change. */
  readonly #routes = new Map<string, Entry[]>()
  readonly #errorHandlers = new Set<(error: EventHubError) => void>()
  /** Called once when the hub closes: pending `waitFor`s and `events()` iterators. */
  readonly #onClose = new Set<() => void>()
  #closing: Promise<void> | undefined
  #dispatching = false
  #pumpScheduled = false
  #listenerErrors = 0
  #decodeErrors = 0
  readonly #maxEventBytes: number

  constructor(options: EventHubOptions = {}, advanced: EventHubBindingOptions = {}) {
    validateObject(options, 'options')
    validateObject(advanced, 'advanced')
    const binding = (advanced as EventHubBindingOptions).binding ?? defaultBinding()
    if (typeof (binding as { NativeHub?: unknown } | null)?.NativeHub !== 'function') {
      throw invalidValue('advanced.binding', 'must be a binding module exporting NativeHub', binding)
    }
    validateInteger(options.capacity, 'options.capacity', 1, 1 << 24)
    validateOneOf(options.overflow, 'options.overflow', ['reject', 'dropOldest'] as const)
    validateNumber(options.stallTimeoutMs, 'options.stallTimeoutMs', 0, 2 ** 31)
    validateInteger(options.maxEventBytes, 'options.maxEventBytes', 1, 2 ** 30)
    validateInteger(options.maxBatchEvents, 'options.maxBatchEvents', 1, 2 ** 24)
    this.#maxEventBytes = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES
    this.#native = new binding.NativeHub(
      {
        capacity: options.capacity,
        overflow: options.overflow,
        stallTimeoutMs: options.stallTimeoutMs,
        maxEventBytes: options.maxEventBytes,
        maxBatchEvents: options.maxBatchEvents,
        clockOriginNs: process.hrtime.bigint(),
      },
      (batch) => this.#deliver(batch),
    )
    internals.set(this as EventHub<EventMap>, { native: this.#native, binding })
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closing !== undefined || this.#native.closed
  }

  #assertOpen(method: string): void {
    if (this.closed) throw closedError(method)
  }

  #add(name: string | null, kind: Kind, fn: (...args: never[]) => unknown): number {
    const id = this.#native.addListener(name)
    this.#entries.set(id, { id, kind, fn, live: true })
    this.#routes.clear()
    return id
  }

  /** Calls `listener` with the decoded payload of every `name` event; returns its id. */
  on<K extends EventName<Events>>(name: K, listener: Listener<AllEvents<Events>[K], K>): number {
    validateName(name)
    validateFunction(listener, 'listener')
    this.#assertOpen('on')
    return this.#add(name, Kind.On, listener)
  }

  /** Like `on`, but removed before its first call. */
  once<K extends EventName<Events>>(name: K, listener: Listener<AllEvents<Events>[K], K>): number {
    validateName(name)
    validateFunction(listener, 'listener')
    this.#assertOpen('once')
    return this.#add(name, Kind.Once, listener)
  }

  /**
   * Calls `listener` with the exact bytes of every `name` event: the CBOR
   * envelope on the CBOR lane, the payload as emitted on the raw lane.
   * The bytes are a view into the batch buffer; it is never reused, so they
   * may be kept (keeping them keeps that batch's memory alive).
   */
  onRaw<K extends EventName<Events>>(name: K, listener: RawListener<K>): number {
    validateName(name)
    validateFunction(listener, 'listener')
    this.#assertOpen('onRaw')
    return this.#add(name, Kind.Raw, listener)
  }

  /** Calls `listener` with the name and decoded payload of every event. */
  onAny(listener: AnyListener<Events>): number {
    validateFunction(listener, 'listener')
    this.#assertOpen('onAny')
    return this.#add(null, Kind.Any, listener)
  }

  /** Removes a listener; true once, false for 0, unknown or removed ids. */
  off(id: number): boolean {
    if (typeof id !== 'number') return false
    const entry = this.#entries.get(id)
    if (entry === undefined) return false
    entry.live = false
    this.#entries.delete(id)
    this.#routes.clear()
    return this.#native.removeListener(id)
  }

  /** Removes every listener; ids keep increasing afterwards. Returns how many were removed. */
  removeAllListeners(): number {
    for (const entry of this.#entries.values()) entry.live = false
    this.#entries.clear()
    this.#routes.clear()
    return this.#native.removeAllListeners()
  }

  /** Listeners of `name` (`onAny` ones not counted), or all listeners when omitted. */
  listenerCount(name?: EventName<Events>): number {
    if (name !== undefined) validateName(name)
    return this.#native.listenerCount(name)
  }

  /** Names with at least one listener, in the order they got their first. */
  eventNames(): Array<EventName<Events>> {
    return this.#native.eventNames() as Array<EventName<Events>>
  }

  /** Calls `handler` with delivery errors (undecodable events, throwing listeners). Returns a function that removes it. */
  onError(handler: (error: EventHubError) => void): () => void {
    validateFunction(handler, 'handler')
    this.#errorHandlers.add(handler)
    return () => {
      this.#errorHandlers.delete(handler)
    }
  }

  /**
   * Emits `payload` from JS through the same ring as native events,
   * encoded as CBOR. Returns false when the ring was full (the event is
   * counted as dropped).
   */
  emit<K extends EventName<Events>>(name: K, payload: AllEvents<Events>[K]): boolean {
    validateName(name)
    this.#assertOpen('emit')
    let bytes: Uint8Array
    try {
      bytes = encoder.encode(payload)
    } catch (cause) {
      const reason =
        cause instanceof RangeError && /call stack/i.test(cause.message)
          ? 'must not contain circular references or nest too deeply'
          : `could not be encoded as CBOR (${cause instanceof Error ? cause.message : String(cause)})`
      throw invalidValue('payload', reason, payload, cause)
    }
    return this.#outcome(this.#native.emitCbor(name, bytes), 'emit', bytes.length)
  }

  /** Emits `bytes` on the raw lane; listeners get exactly these bytes. Returns false when the ring was full. */
  emitRaw<K extends EventName<Events>>(name: K, bytes: Uint8Array): boolean {
    validateName(name)
    validateBytes(bytes, 'bytes')
    this.#assertOpen('emitRaw')
    return this.#outcome(this.#native.emitRaw(name, bytes), 'emitRaw', bytes.length)
  }

  /**
   * Emits an already CBOR-encoded payload on the CBOR lane (one data item;
   * it is not checked: listeners get an `ERR_EVENT_DECODE` error if it is
   * not valid CBOR). Returns false when the ring was full.
   */
  emitCbor<K extends EventName<Events>>(name: K, payload: Uint8Array): boolean {
    validateName(name)
    validateBytes(payload, 'payload')
    this.#assertOpen('emitCbor')
    return this.#outcome(this.#native.emitCbor(name, payload), 'emitCbor', payload.length)
  }

  #outcome(result: number, method: string, size: number): boolean {
    if (result > 0) return true
    switch (-result) {
      case EmitRefusal.Full:
        return false
      case EmitRefusal.Closed:
        throw closedError(method)
      case EmitRefusal.TooLarge:
        throw outOfRange('payload', `at most ${this.#maxEventBytes} bytes once encoded (maxEventBytes)`, `${size} bytes`)
      default:
        throw new TypeError(`${method}() was refused by the native hub (code ${result})`)
    }
  }

  /** Resolves with the payload of the next `name` event. */
  waitFor<K extends EventName<Events>>(name: K, options: WaitForOptions = {}): Promise<AllEvents<Events>[K]> {
    validateName(name)
    validateObject(options, 'options')
    validateSignal(options.signal, 'options.signal')
    validateNumber(options.timeoutMs, 'options.timeoutMs', 0, 2 ** 31 - 1)
    const { signal, timeoutMs } = options
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(closedError('waitFor'))
      if (signal?.aborted) return reject(abortError(signal))
      let timer: NodeJS.Timeout | undefined
      const settle = (): void => {
        this.off(id)
        if (timer !== undefined) clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        this.#onClose.delete(onClose)
      }
      const onAbort = (): void => {
        settle()
        reject(abortError(signal as AbortSignal))
      }
      const onClose = (): void => {
        settle()
        reject(closedError('waitFor'))
      }
      const id = this.once(name, (payload) => {
        settle()
        resolve(payload)
      })
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          settle()
          reject(new EventHubError(`No "${name}" event within ${timeoutMs} ms`, { code: 'ERR_WAIT_TIMEOUT', eventName: name }))
        }, timeoutMs)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#onClose.add(onClose)
    })
  }

  /**
   * Iterates over the payloads of `name` events until the hub closes (the
   * loop ends) or `signal` aborts (the loop throws its reason). Events are
   * buffered while the loop body runs; the buffer is unbounded.
   */
  events<K extends EventName<Events>>(name: K, options: EventsOptions = {}): AsyncIterableIterator<AllEvents<Events>[K]> {
    validateName(name)
    validateObject(options, 'options')
    validateSignal(options.signal, 'options.signal')
    this.#assertOpen('events')
    type P = AllEvents<Events>[K]
    const { signal } = options
    const queue: P[] = []
    let head = 0
    let wake: (() => void) | undefined
    let ended = false
    let failure: { reason: unknown } | undefined
    const notify = (): void => {
      const w = wake
      wake = undefined
      w?.()
    }
    const id = this.on(name, (payload) => {
      queue.push(payload)
      notify()
    })
    const onClose = (): void => {
      ended = true
      notify()
    }
    const onAbort = (): void => {
      failure = { reason: abortError(signal as AbortSignal) }
      notify()
    }
    const cleanup = (): void => {
      ended = true
      this.off(id)
      this.#onClose.delete(onClose)
      signal?.removeEventListener('abort', onAbort)
      queue.length = 0
      head = 0
      notify()
    }
    this.#onClose.add(onClose)
    if (signal?.aborted) onAbort()
    else signal?.addEventListener('abort', onAbort, { once: true })

    const iterator: AsyncIterableIterator<P> = {
      next: async (): Promise<IteratorResult<P>> => {
        for (;;) {
          if (failure !== undefined) {
            const { reason } = failure
            cleanup()
            failure = undefined
            throw reason
          }
          if (head < queue.length) {
            const value = queue[head++]
            if (head > 1024 && head * 2 > queue.length) {
              queue.splice(0, head)
              head = 0
            }
            return { value, done: false }
          }
          if (ended) {
            cleanup()
            return { value: undefined, done: true }
          }
          await new Promise<void>((resolve) => {
            wake = resolve
          })
        }
      },
      return: async (): Promise<IteratorResult<P>> => {
        cleanup()
        return { value: undefined, done: true }
      },
      [Symbol.asyncIterator]() {
        return iterator
      },
    }
    return iterator
  }

  /** The hub's counters (see `EventHubStats`). */
  stats(): EventHubStats {
    return { ...this.#native.stats(), listenerErrors: this.#listenerErrors, decodeErrors: this.#decodeErrors }
  }

  /** Lets the hub keep the process alive while it has listeners (the default). */
  ref(): this {
    if (!this.closed) this.#native.ref()
    return this
  }

  /** Stops the hub from keeping the process alive. */
  unref(): this {
    if (!this.closed) this.#native.unref()
    return this
  }

  /**
   * Stops accepting events (producers get `Closed`), stops and joins the
   * built-in sources, delivers every event accepted before, then resolves.
   * Idempotent: later calls return the same promise.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing
    this.#native.close()
    this.#closing = new Promise<void>((resolve) => {
      const finish = (): void => {
        this.#drainAll()
        this.#native.release()
        for (const onClose of [...this.#onClose]) onClose()
        resolve()
      }
      // Closing from inside a listener: let the current batch finish first,
      // so the remaining listeners of this event are not overtaken.
      if (this.#dispatching) setImmediate(finish)
      else finish()
    })
    return this.#closing
  }

  /** `await using hub = new EventHub()` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  #drainAll(): void {
    for (;;) {
      const batch = this.#native.drain()
      if (batch === null) return
      this.#dispatch(new Batch(batch))
    }
  }

  /**
   * Dispatches one batch (from the native wake-up, or drained by the pump)
   * and schedules the next when more is waiting. Must never throw: it runs
   * under a native call, where an exception would be fatal.
   */
  #deliver(buffer: Buffer | null): void {
    // Whichever way this batch came, the next one needs a new request.
    this.#pumpScheduled = false
    try {
      if (buffer === null) return
      const batch = new Batch(buffer)
      this.#dispatch(batch)
      if (batch.more) this.#schedulePump()
    } catch (error) {
      this.#rethrowLater(error)
    }
  }

  /**
   * Asks for the next batch: for the rest of a backlog, and while events
   * keep coming (the native side lingers until a poll finds nothing, so
   * producers make no wake-up call meanwhile). A `setImmediate` while the
   * hub holds the event loop; otherwise the native side asks through the
   * threadsafe function, whose wake-up reaches an idle loop without holding
   * it (an unref'd immediate would not wake it, and no producer would).
   */
  #schedulePump(): void {
    if (this.#pumpScheduled) return
    this.#pumpScheduled = true
    if (!this.#native.pollThroughWakeup()) setImmediate(() => this.#pump())
  }

  #pump(): void {
    if (this.#closing !== undefined) return
    let buffer: Buffer | null
    try {
      buffer = this.#native.drain()
    } catch (error) {
      this.#pumpScheduled = false
      this.#rethrowLater(error)
      return
    }
    this.#deliver(buffer)
  }

  #route(name: string): Entry[] {
    let route = this.#routes.get(name)
    if (route === undefined) {
      route = []
      for (const id of this.#native.snapshot(name)) {
        const entry = this.#entries.get(id)
        if (entry !== undefined) route.push(entry)
      }
      this.#routes.set(name, route)
    }
    return route
  }

  #dispatch(batch: Batch): void {
    const outer = this.#dispatching
    this.#dispatching = true
    try {
      for (let i = 0; i < batch.count; i++) {
        const name = batch.name(i)
        const route = this.#route(name)
        if (route.length === 0) continue
        this.#dispatchOne(batch, i, name, route)
      }
    } finally {
      this.#dispatching = outer
    }
  }

  #dispatchOne(batch: Batch, i: number, name: string, route: Entry[]): void {
    const raw = batch.isRaw(i)
    const meta: EventMeta = { name, seq: batch.seqs[i], lane: raw ? 'raw' : 'cbor' }
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
          payload = this.#decode(batch.value(i), meta)
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
    this.#decodeErrors++
    this.#report('ERR_EVENT_DECODE', `Event "${meta.name}" (seq ${meta.seq}) is not a valid CBOR envelope`, meta, cause)
    return DECODE_FAILED
  }

  #call(entry: Entry, name: string, value: unknown, meta: EventMeta): void {
    try {
      if (entry.kind === Kind.Once) this.off(entry.id)
      const fn = entry.fn as (...args: unknown[]) => unknown
      if (entry.kind === Kind.Any) fn(name, value, meta)
      else fn(value, meta)
    } catch (cause) {
      this.#listenerErrors++
      this.#report('ERR_LISTENER_THREW', `A listener of "${name}" threw`, meta, cause)
    }
  }

  /** Hands a delivery error to the `onError` handlers, or rethrows it asynchronously when there are none. */
  #report(code: EventHubErrorCode, what: string, meta: EventMeta, cause: unknown): void {
    const reason = cause instanceof Error ? cause.message : String(cause)
    const error = new EventHubError(`${what}: ${reason}`, { code, eventName: meta.name, seq: meta.seq, cause })
    if (this.#errorHandlers.size === 0) return this.#rethrowLater(error)
    for (const handler of [...this.#errorHandlers]) {
      try {
        handler(error)
      } catch (handlerError) {
        this.#rethrowLater(handlerError)
      }
    }
  }

  /** Surfaces an error as an uncaught exception without unwinding through native code. */
  #rethrowLater(error: unknown): void {
    process.nextTick(() => {
      throw error
    })
  }
}
