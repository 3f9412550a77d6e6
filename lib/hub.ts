import { Encoder } from 'cbor-x'

import { EmitRefusal, type NativeHub } from '../binding'
import { Batch } from './batch'
import { Dispatcher, Kind, rethrowLater, takesMeta } from './dispatch'
import { closedError, EventHubError } from './errors'
import { track, untrack } from './lifetime'
import { closeSinksAtExit, defaultBinding, type BindingModule } from './load'
import { Requests } from './requests'
import { NativeSink } from './sink'
import type {
  AllEvents,
  AnyListener,
  Delivered,
  EmitName,
  EventHubOptions,
  EventHubStats,
  EventMap,
  EventName,
  EventsOptions,
  Listener,
  LivenessEventName,
  NativeSinkOptions,
  RawEventName,
  RawListener,
  RawSpanListener,
  RequestOptions,
  WaitForOptions,
} from './types'
import {
  invalidValue,
  outOfRange,
  validateBoolean,
  validateBytes,
  validateFunction,
  validateInteger,
  validateName,
  validateNumber,
  validateObject,
  validateOneOf,
  validateSignal,
} from './validate'
import { iterate, waitFor, type Subscribable } from './waiting'

const encoder = new Encoder({ useRecords: false, variableMapSize: true })

/** Mirrors `HubConfig::default().max_event_bytes`, for error messages. */
const DEFAULT_MAX_EVENT_BYTES = 16 * 1024 * 1024
/**
 * The largest batch buffer kept to drain the next batch into (as
 * `ARENA_MAX_BYTES` in crates/ffi-events-napi/src/batch.rs): reusing it
 * spares V8 a buffer, a view and a batch object per batch, which at a
 * steady rate otherwise survive scavenges and make V8 enlarge its young
 * generation.
 */
const ARENA_MAX_BYTES = 256 * 1024
/** How long `close()` keeps looking for emits that got in before it to land. */
const SETTLE_GIVE_UP_MS = 1000

const LIVENESS_NAMES: ReadonlySet<string> = new Set<LivenessEventName>(['not_responding', 'responding'])

/**
 * The native hub behind an `EventHub`, as `nativeHubOf` hands it out: an
 * opaque value to pass to an addon's own functions (which take it as their
 * binding's `NativeHub`). It offers no methods to call from JavaScript.
 */
export interface NativeHubHandle {
  readonly __nativeHubHandle: never
}

/**
 * How the delivery function the native side holds (strongly, for as long as
 * the native hub lives) reaches its hub. `held` is the hub while it has
 * listeners or pending requests: that is what keeps a listening hub alive
 * like a ref'd Node handle, and spares the delivery a `WeakRef.deref()`.
 * Otherwise only `weak` reaches it, so that a hub without listeners that
 * nothing else references is collected (see `lifetime.ts`).
 */
interface HubLink {
  held: EventHub<EventMap> | undefined
  readonly weak: WeakRef<EventHub<EventMap>>
}

interface Internals {
  native: NativeHub
  binding: BindingModule
}

/** Each hub's native side and the binding it came from (the built-in sources must use the same one). */
const internals = new WeakMap<object, Internals>()

/** The native hub of `hub` and the binding it came from; a `TypeError` for anything but an EventHub. */
export function internalsOf(hub: object): Internals {
  const found = internals.get(hub)
  if (found === undefined) throw new TypeError('The "hub" argument must be an instance of EventHub')
  return found
}

/**
 * The native hub behind `hub`, for addons that embed ffi-events: pass it to
 * your addon's functions, which take a `NativeHub` and hand `Emitter`s to
 * their threads.
 */
export function nativeHubOf<Events extends EventMap>(hub: EventHub<Events>): NativeHubHandle {
  return internalsOf(hub).native as unknown as NativeHubHandle
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
 * Listeners are called in subscription order; one that throws (or returns a
 * promise that rejects) does not stop the others, and its error goes to
 * `onError` handlers (or, with none, is rethrown asynchronously as an
 * uncaught exception). Promise continuations started by a listener run
 * after the whole batch, not after each event.
 *
 * Lifetime: a hub with listeners stays alive (and, unless `unref()`'d,
 * keeps the process alive); a hub without listeners that the application no
 * longer references is garbage-collected and closed.
 */
export class EventHub<Events extends EventMap = Record<string, unknown>> implements AsyncDisposable {
  readonly #native: NativeHub
  /** How the native side's delivery function reaches this hub. */
  readonly #link: HubLink = { held: undefined, weak: new WeakRef(this as unknown as EventHub<EventMap>) }
  readonly #dispatcher: Dispatcher
  /** Called once when the hub closes: pending `waitFor`s and `events()` iterators. */
  readonly #onClose = new Set<() => void>()
  readonly #requests: Requests
  /** Whether the native side was last told that requests are pending. */
  #holdingForRequests = false
  #closing: Promise<void> | undefined
  #dispatching = false
  #pumpScheduled = false
  /** The last batch whose buffer nothing outside the hub references: the next batch is drained into it. */
  #arena: Batch | undefined
  readonly #maxEventBytes: number

  constructor(options: EventHubOptions = {}, advanced: EventHubBindingOptions = {}) {
    validateObject(options, 'options')
    validateObject(advanced, 'advanced')
    const binding = (advanced as EventHubBindingOptions).binding ?? defaultBinding()
    if (typeof (binding as { NativeHub?: unknown } | null)?.NativeHub !== 'function') {
      throw invalidValue('advanced.binding', 'must be a binding module exporting NativeHub', binding)
    }
    closeSinksAtExit(binding)
    validateInteger(options.capacity, 'options.capacity', 1, 1 << 22)
    validateOneOf(options.overflow, 'options.overflow', ['reject', 'dropOldest'] as const)
    validateNumber(options.stallTimeoutMs, 'options.stallTimeoutMs', 0, 2 ** 31)
    validateInteger(options.maxEventBytes, 'options.maxEventBytes', 1, 2 ** 30)
    validateInteger(options.maxBatchEvents, 'options.maxBatchEvents', 1, 2 ** 24)
    this.#maxEventBytes = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES
    const native = new binding.NativeHub(
      {
        capacity: options.capacity,
        overflow: options.overflow,
        stallTimeoutMs: options.stallTimeoutMs,
        maxEventBytes: options.maxEventBytes,
        maxBatchEvents: options.maxBatchEvents,
        clockOriginNs: process.hrtime.bigint(),
      },
      EventHub.#trampoline(this.#link),
    )
    this.#native = native
    this.#dispatcher = new Dispatcher({
      snapshot: (name) => native.snapshot(name),
      off: (id) => this.off(id),
    })
    this.#requests = new Requests(native, () => this.#holdForRequests())
    this.#dispatcher.onReply = (id, ret, flags, bytes) => this.#requests.settle(id, ret, flags, bytes)
    internals.set(this, { native, binding })
    track(this, native)
  }

  /** The delivery function the native side holds for as long as it lives (see `HubLink`). */
  static #trampoline(link: HubLink): () => void {
    return () => {
      // `deref()` keeps its target alive to the end of the job, in a set V8
      // allocates for each job: about 110 bytes per batch, which a listening
      // hub (held anyway) does without.
      const live = link.held ?? link.weak.deref()
      if (live !== undefined) live.#deliver()
    }
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
    this.#dispatcher.add({ id, kind, name, fn, wantsMeta: takesMeta(kind, fn), live: true })
    this.#retain()
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
   * envelope on the CBOR lane, the payload as emitted on the raw lane, the
   * text on the JSON lane. The bytes are a view into the batch buffer,
   * which is never written again once a listener got a view of it, so they
   * may be kept (keeping them keeps that batch's memory alive).
   */
  onRaw<K extends EventName<Events>>(name: K, listener: RawListener<K>): number {
    validateName(name)
    validateFunction(listener, 'listener')
    this.#assertOpen('onRaw')
    return this.#add(name, Kind.Raw, listener)
  }

  /**
   * Like `onRaw`, for high-rate binary data: calls `listener` with the
   * batch's bytes and where the event's bytes start and end in them, so no
   * view is made per event. On the CBOR lane the span is the payload's data
   * item (not the envelope); on the raw lane, the bytes as emitted; on the
   * JSON lane, the text. `bytes` is never written again once a listener got
   * it: it may be kept, and keeping it keeps the batch's memory alive.
   */
  onRawSpan<K extends EventName<Events>>(name: K, listener: RawSpanListener<K>): number {
    validateName(name)
    validateFunction(listener, 'listener')
    this.#assertOpen('onRawSpan')
    return this.#add(name, Kind.RawSpan, listener)
  }

  /** Calls `listener` with the name and decoded payload of every event; checking the name narrows the payload. */
  onAny(listener: AnyListener<Events>): number {
    validateFunction(listener, 'listener')
    this.#assertOpen('onAny')
    return this.#add(null, Kind.Any, listener)
  }

  /**
   * Removes a listener: by the id `on`, `once`, `onRaw` or `onAny` returned
   * (true once, false for 0, unknown or removed ids), or, as Node's
   * `EventEmitter` does, by name and function: the most recently added
   * `on`/`once`/`onRaw` listener of `name` that is `listener` (false when
   * there is none).
   */
  off(id: number): boolean
  off<K extends EventName<Events>>(name: K, listener: (...args: never[]) => unknown): boolean
  off(idOrName: number | string, listener?: (...args: never[]) => unknown): boolean {
    if (typeof idOrName === 'string' || listener !== undefined) return this.#offByFunction(idOrName, listener)
    if (typeof idOrName !== 'number' || !this.#dispatcher.remove(idOrName)) return false
    this.#retain()
    return this.#native.removeListener(idOrName)
  }

  #offByFunction(name: unknown, listener: unknown): boolean {
    validateName(name)
    validateFunction(listener, 'listener')
    let last: number | undefined
    for (const entry of this.#dispatcher.entries.values()) {
      if (entry.name === name && entry.fn === listener && entry.kind !== Kind.Any) last = entry.id
    }
    return last !== undefined && this.off(last)
  }

  /**
   * Node's name for `off(name, listener)`: removes the most recently added
   * listener of `name` that is `listener`, if any, and returns the hub (so
   * calls chain, as on an `EventEmitter`).
   */
  removeListener<K extends EventName<Events>>(name: K, listener: (...args: never[]) => unknown): this {
    this.#offByFunction(name, listener)
    return this
  }

  /**
   * Removes the listeners of `name` (`onAny` ones stay), or every listener
   * when `name` is omitted; ids keep increasing afterwards. Returns how many
   * were removed.
   */
  removeAllListeners(name?: EventName<Events>): number {
    let removed: number
    if (name === undefined) {
      this.#dispatcher.removeWhere(() => true)
      removed = this.#native.removeAllListeners()
    } else {
      validateName(name)
      this.#dispatcher.removeWhere((entry) => entry.name === name)
      removed = this.#native.removeListenersOf(name)
    }
    this.#retain()
    return removed
  }

  /**
   * Listeners of `name` (`onAny` ones not counted), or all listeners when
   * `name` is omitted; with `listener`, only those that are that function
   * (as Node's `listenerCount(name, listener)`).
   */
  listenerCount(name?: EventName<Events>, listener?: (...args: never[]) => unknown): number {
    if (name !== undefined) validateName(name)
    if (listener !== undefined) {
      validateFunction(listener, 'listener')
      let count = 0
      for (const entry of this.#dispatcher.entries.values()) {
        if (entry.fn === listener && entry.kind !== Kind.Any && (name === undefined || entry.name === name)) count++
      }
      return count
    }
    return this.#native.listenerCount(name)
  }

  /** Names with at least one listener, in the order they got their first. */
  eventNames(): Array<EventName<Events>> {
    return this.#native.eventNames() as Array<EventName<Events>>
  }

  /**
   * Calls `handler` with delivery errors: undecodable events, listeners
   * that threw or rejected, errors and malformed input from native sinks.
   * Returns a function that removes it. A handler that throws, or returns
   * a promise that rejects, has its error rethrown asynchronously (an
   * uncaught exception, never an unhandled rejection).
   */
  onError(handler: (error: EventHubError) => unknown): () => void {
    validateFunction(handler, 'handler')
    this.#dispatcher.errorHandlers.add(handler)
    return () => {
      this.#dispatcher.errorHandlers.delete(handler)
    }
  }

  #validateEmitName(name: unknown, method: string): asserts name is string {
    validateName(name)
    if (LIVENESS_NAMES.has(name)) {
      throw Object.assign(
        new RangeError(`The "name" argument must not be '${name}': only the hub emits liveness events (${method})`),
        { code: 'ERR_INVALID_ARG_VALUE' },
      )
    }
    // Only `close()` is checked here: asking the native side whether it
    // closed would cost a second native call per emit, and the emit itself
    // answers `Closed` (thrown as ERR_HUB_CLOSED by `#outcome`).
    if (this.#closing !== undefined) throw closedError(method)
  }

  /**
   * Emits `payload` from JS through the same ring as native events,
   * encoded as CBOR. Returns false when the ring was full (the event is
   * counted in `stats().refused`). Liveness names are refused with a `RangeError`.
   */
  emit<K extends EmitName<Events>>(name: K, payload: Events[K & keyof Events]): boolean {
    this.#validateEmitName(name, 'emit')
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

  /**
   * Emits `bytes` on the raw lane; listeners get exactly these bytes, as a
   * `Uint8Array`. Only names whose payload type admits a `Uint8Array` are
   * accepted. Returns false when the ring was full.
   */
  emitRaw<K extends RawEventName<Events>>(name: K, bytes: Uint8Array): boolean {
    this.#validateEmitName(name, 'emitRaw')
    validateBytes(bytes, 'bytes')
    return this.#outcome(this.#native.emitRaw(name, bytes), 'emitRaw', bytes.length)
  }

  /**
   * Emits an already CBOR-encoded payload on the CBOR lane (one data item;
   * it is not checked: listeners get an `ERR_EVENT_DECODE` error if it is
   * not valid CBOR). Returns false when the ring was full.
   */
  emitCbor<K extends EmitName<Events>>(name: K, payload: Uint8Array): boolean {
    this.#validateEmitName(name, 'emitCbor')
    validateBytes(payload, 'payload')
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

  /**
   * A C entry into this hub for a foreign library (C, C++, Nim, Go, Zig):
   * register `sink.callback` with `sink.userData` as the library's event
   * callback. Calls copy the event into the ring and return at once.
   */
  nativeSink(options: NativeSinkOptions = {}): NativeSink {
    validateObject(options, 'options')
    validateOneOf(options.format, 'options.format', ['envelope', 'cbor', 'raw', 'json'] as const)
    const format = options.format ?? 'envelope'
    const { name } = options
    if (format === 'envelope') {
      if (name !== undefined) {
        throw invalidValue('options.name', "must be omitted with format 'envelope' (each event is named by its eventType)", name)
      }
    } else {
      if (name === undefined) throw invalidValue('options.name', `is required with format '${format}'`, name)
      validateName(name, 'options.name')
      if (LIVENESS_NAMES.has(name)) {
        throw Object.assign(new RangeError(`The "options.name" argument must not be '${name}': only the hub emits liveness events`), {
          code: 'ERR_INVALID_ARG_VALUE',
        })
      }
    }
    this.#assertOpen('nativeSink')
    return new NativeSink(this.#native.openSink(format, name))
  }

  #subscribable<K extends EventName<Events>>(name: K): Subscribable<AllEvents<Events>[K]> {
    const hub = this
    return {
      get closed() {
        return hub.closed
      },
      once: (listener) => this.once(name, listener),
      on: (listener) => this.on(name, listener),
      off: (id) => this.off(id),
      onClose: (fn) => {
        this.#onClose.add(fn)
        return () => this.#onClose.delete(fn)
      },
    }
  }

  /**
   * Resolves with the payload of the next `name` event; with
   * `{ meta: true }`, with `{ payload, meta }` (its `seq` and lane).
   */
  waitFor<K extends EventName<Events>>(name: K, options: WaitForOptions & { meta: true }): Promise<Delivered<AllEvents<Events>[K], K>>
  waitFor<K extends EventName<Events>>(name: K, options?: WaitForOptions & { meta?: false }): Promise<AllEvents<Events>[K]>
  waitFor<K extends EventName<Events>>(name: K, options: WaitForOptions = {}): Promise<unknown> {
    validateName(name)
    validateObject(options, 'options')
    validateSignal(options.signal, 'options.signal')
    validateNumber(options.timeoutMs, 'options.timeoutMs', 0, 2 ** 31 - 1)
    validateBoolean(options.meta, 'options.meta')
    return waitFor(this.#subscribable(name), name, options.signal, options.timeoutMs, options.meta === true)
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
    return iterate(this.#subscribable(name), options.signal)
  }

  /** The hub's counters (see `EventHubStats`). */
  stats(): EventHubStats {
    const { listenerErrors, decodeErrors, compiledDecodes } = this.#dispatcher
    const native = this.#native.stats()
    return {
      ...native,
      repliesIgnored: native.repliesIgnored + this.#requests.ignored,
      requestsPending: this.#requests.size,
      listenerErrors,
      decodeErrors,
      compiledDecodes,
    }
  }

  /** Lets the hub keep the process alive while it has listeners (the default). */
  ref(): this {
    if (!this.closed) this.#native.ref()
    return this
  }

  /** Stops the hub from keeping the process alive (pending requests included). */
  unref(): this {
    if (!this.closed) this.#native.unref()
    return this
  }

  /** Keeps this hub from being collected while it has listeners or pending requests. */
  #retain(): void {
    // A closing hub lets go for good (a waitFor settled by the close must
    // not put it back).
    if (this.#closing !== undefined) return
    const held = this.#dispatcher.entries.size + this.#requests.size > 0
    this.#link.held = held ? (this as unknown as EventHub<EventMap>) : undefined
  }

  /**
   * Like a pending socket read, a pending request keeps the process alive
   * (unless the hub is unref'd: the native side holds the event loop while
   * requests or listeners exist) and keeps the hub from being collected.
   */
  #holdForRequests(): void {
    this.#retain()
    const pending = this.#requests.size > 0
    if (pending !== this.#holdingForRequests && !this.closed) {
      this.#holdingForRequests = pending
      this.#native.holdForRequests(pending)
    }
  }

  /**
   * Calls a native library's asynchronous function and resolves with its
   * reply. `call` gets a fresh one-shot `(callback, userData)` pair (the
   * sink's C function and a handle, BigInt addresses for koffi) and must
   * pass them to the library, synchronously; the library later calls
   * `callback(ret, msg, len, userData)` once, from any thread, and that
   * call only copies the reply and returns. The value `call` returns goes
   * to `options.accepted`. Rejects with what `call` throws, with
   * `ERR_NATIVE_ERROR` (carrying `ret`) when the library refused the
   * request or replied with `ret != 0`, with `ERR_WAIT_TIMEOUT`, with the
   * signal's reason, or with `ERR_HUB_CLOSED` when the hub closes first. A
   * reply after that, or a second one, is counted in
   * `stats().repliesIgnored`.
   */
  request<T = unknown>(call: (callback: bigint, userData: bigint) => unknown, options: RequestOptions = {}): Promise<T> {
    validateFunction(call, 'call')
    validateObject(options, 'options')
    validateOneOf(options.format, 'options.format', ['cbor', 'json', 'raw'] as const)
    validateNumber(options.timeoutMs, 'options.timeoutMs', 0, 2 ** 31 - 1)
    validateSignal(options.signal, 'options.signal')
    if (options.accepted !== undefined) validateFunction(options.accepted, 'options.accepted')
    this.#assertOpen('request')
    return this.#requests.start(call, options) as Promise<T>
  }

  /**
   * Stops accepting events (producers get `Closed`), closes its native
   * sinks, stops and joins the built-in sources, delivers every event
   * accepted before, then resolves. Idempotent: later calls return the same
   * promise.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing
    this.#native.close()
    const closedAt = performance.now()
    this.#closing = new Promise<void>((resolve) => {
      const finish = (): void => {
        this.#drainAll()
        // An emit that got in before close() may still be landing (its
        // thread preempted mid-emit): look again on a later turn instead of
        // waiting for that thread here. A thread that never finishes its
        // emit (stopped in a debugger) is given up on after a second: what
        // it lands later stays counted in `queued`.
        if (this.#native.settled === false && performance.now() - closedAt < SETTLE_GIVE_UP_MS) {
          setTimeout(finish, 1)
          return
        }
        this.#drainAll()
        // Replies that arrived before the close settled their requests in
        // the drains above; the rest never will.
        this.#requests.rejectAll(
          () => new EventHubError('The hub closed before the reply came', { code: 'ERR_HUB_CLOSED' }),
        )
        this.#native.release()
        // A closed hub that stays referenced keeps no batch buffer alive.
        this.#arena = undefined
        untrack(this)
        this.#link.held = undefined
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
      const batch = this.#drain()
      if (batch === null) return
      this.#dispatch(batch)
      this.#recycle(batch)
    }
  }

  /**
   * Drains the next batch, into the arena when there is one and the batch
   * fits (the native side then returns the arena's buffer, and its batch is
   * loaded again), else into a new buffer. Null when there is nothing.
   */
  #drain(): Batch | null {
    const arena = this.#arena
    // Out of reach while it is written and dispatched: a drain started in
    // between (none is, see `#dispatch`) would get a new buffer.
    this.#arena = undefined
    const buffer = this.#native.drain(arena === undefined ? null : arena.buffer)
    if (arena !== undefined && buffer === arena.buffer) {
      arena.load()
      return arena
    }
    // The arena was not written (nothing came, or the batch did not fit).
    this.#arena = arena
    return buffer === null ? null : new Batch(buffer)
  }

  /**
   * After its dispatch: keeps `batch` as the arena the next batch is
   * drained into, unless a listener or a request got a view of its bytes
   * (they stay valid: the buffer is never written again), it is larger than
   * an arena may be, or the arena is larger.
   */
  #recycle(batch: Batch): void {
    if (batch.lent || batch.buffer.length > ARENA_MAX_BYTES) return
    const arena = this.#arena
    if (arena === undefined || arena.buffer.length <= batch.buffer.length) this.#arena = batch
  }

  #dispatch(batch: Batch): void {
    const outer = this.#dispatching
    this.#dispatching = true
    try {
      this.#dispatcher.dispatch(batch)
    } finally {
      this.#dispatching = outer
    }
  }

  /**
   * Drains and dispatches one batch (on the native wake-up, or from the
   * pump) and schedules the next when more is waiting. Must never throw: it
   * runs under a native call, where an exception would be fatal.
   */
  #deliver(): void {
    // Whichever way this batch came, the next one needs a new request.
    this.#pumpScheduled = false
    try {
      const batch = this.#drain()
      if (batch === null) return
      this.#dispatch(batch)
      if (batch.more) this.#schedulePump()
      this.#recycle(batch)
    } catch (error) {
      rethrowLater(error)
    }
  }

  /**
   * Asks for the next batch: for the rest of a backlog, and while events
   * keep coming (after a batch of more than one event the native side
   * lingers until a poll takes at most one, so producers make no wake-up
   * call meanwhile). A `setImmediate` while the
   * hub holds the event loop; otherwise the native side asks through the
   * threadsafe function, whose wake-up reaches an idle loop without holding
   * it (an unref'd immediate would not wake it, and no producer would).
   */
  #schedulePump(): void {
    if (this.#pumpScheduled) return
    this.#pumpScheduled = true
    if (!this.#native.pollThroughWakeup()) setImmediate(this.#pump)
  }

  /** The immediate `#schedulePump` sets: one function for the hub's life, not a closure per batch. */
  readonly #pump = (): void => {
    if (this.#closing !== undefined) return
    this.#deliver()
  }
}
