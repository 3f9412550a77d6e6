// Type tests, checked by `npm run typecheck` (part of `npm test`): each
// `@ts-expect-error` fails the check if the line below it compiles, so
// misuse that type-checks is caught as surely as use that does not.
import {
  EventHub,
  nativeHubOf,
  sources,
  type BurstResult,
  type EventHubError,
  type EventHubStats,
  type EventHubErrorCode,
  type EventMeta,
  type NativeSink,
  type NativeSinkStats,
} from 'ffi-events'

interface Events {
  tick: { n: number }
  status: { s: string }
  frame: Uint8Array
}

// An interface is an event map (TS2344 before).
const hub = new EventHub<Events>()

// A type alias is one too, and the default map takes any name.
const aliased = new EventHub<{ tick: { n: number } }>()
aliased.on('tick', (tick) => tick.n.toFixed())
const untyped = new EventHub()
untyped.on('anything', (payload: unknown) => payload)
untyped.onAny((name: string, payload: unknown, meta: EventMeta) => [name, payload, meta.seq])

// Listeners get the declared payload, liveness events included.
hub.on('tick', (tick, meta) => {
  const n: number = tick.n
  const name: 'tick' = meta.name
  return [n, name]
})
hub.on('not_responding', (payload) => payload.reason satisfies 'queue_full' | 'stalled')
hub.on('responding', (payload) => payload.overflowed + payload.queued)
// @ts-expect-error the liveness payload counts `overflowed`, not `dropped`
hub.on('responding', (payload) => payload.dropped)
// @ts-expect-error a tick has no `s`
hub.on('tick', (tick) => tick.s)
// @ts-expect-error no such event
hub.on('tock', () => {})
// Async listeners are accepted (a rejection reaches onError).
hub.on('tick', async (tick) => {
  await Promise.resolve(tick.n)
})

// onAny narrows the payload on the name, with one, two or three parameters.
hub.onAny((name, payload) => {
  if (name === 'tick') return payload.n.toFixed()
  if (name === 'status') return payload.s.toUpperCase()
  if (name === 'frame') return payload.byteLength
  return payload.reason
})
hub.onAny((name, payload, meta) => {
  if (name === 'tick') {
    const seq: number = meta.seq
    const tickName: 'tick' = meta.name
    return [payload.n, seq, tickName]
  }
})
hub.onAny((name) => name.length)
hub.onAny(() => undefined)
hub.onAny((name, payload) => {
  // @ts-expect-error a tick has no `s`
  if (name === 'tick') return payload.s
})

// Raw-lane events are declared as bytes: emitRaw takes only those names.
hub.emitRaw('frame', new Uint8Array(1))
hub.on('frame', (bytes) => bytes.byteLength)
// @ts-expect-error a tick is not bytes
hub.emitRaw('tick', new Uint8Array(1))
untyped.emitRaw('anything', new Uint8Array(1))

// emit takes the map's payload type and never a liveness name.
hub.emit('tick', { n: 1 })
// @ts-expect-error wrong payload type
hub.emit('tick', { n: 'one' })
// @ts-expect-error only the hub emits liveness events
hub.emit('not_responding', { reason: 'queue_full', queued: 0, overflowed: 0 })
// @ts-expect-error only the hub emits liveness events
hub.emitCbor('responding', new Uint8Array(1))
// @ts-expect-error only the hub emits liveness events
hub.emitRaw('responding', new Uint8Array(1))

// removeAllListeners takes an optional name, as Node's does.
hub.removeAllListeners('tick')
hub.removeAllListeners()
// @ts-expect-error no such event
hub.removeAllListeners('tock')

// Error codes include the loader's and the native sink's.
const codes: EventHubErrorCode[] = ['ERR_FFI_EVENTS_NO_BINDING', 'ERR_NATIVE_ERROR', 'ERR_EVENT_DECODE']
hub.onError((error: EventHubError) => codes.includes(error.code))

// nativeHubOf hands out an opaque handle, not the native hub's methods.
const handle = nativeHubOf(hub)
// @ts-expect-error drain is not the application's to call
handle.drain()
// @ts-expect-error release is not the application's to call
handle.release()

// Native sinks: formats, names and counters are typed.
const sink: NativeSink = hub.nativeSink()
const json = hub.nativeSink({ format: 'json', name: 'status' })
const stats: NativeSinkStats = json.stats()
const sinkRefused: number = stats.refused
// @ts-expect-error a sink counts refusals as `refused`
void stats.dropped
const addresses: bigint[] = [sink.callback, sink.emit, sink.userData]
// @ts-expect-error unknown format
hub.nativeSink({ format: 'xml', name: 'status' })
void [stats, sinkRefused, addresses]

// The hub's counters: each means one thing.
const hubStats: EventHubStats = hub.stats()
const books: number = hubStats.delivered + hubStats.refused + hubStats.discarded + hubStats.queued
const lostReports: number = hubStats.reportsLost
// @ts-expect-error `dropped` is gone: `refused` or `discarded`
void hubStats.dropped
void [books, lostReports]

// A burst reports events lost for good as `lost`.
const burst: Promise<BurstResult> = sources.burst(hub, { name: 'frame', count: 1, onFull: 'retry', encoding: 'raw' })
void burst.then((r) => r.lost + r.retried + r.emitted + r.skipped)
// @ts-expect-error `rejected` is now `lost`
void burst.then((r) => r.rejected)

// Sources accept only names whose declared payload matches what they emit.
interface SourceEvents {
  greeting: { text: string }
  frame: Uint8Array
  tick: { n: number; at: bigint }
  item: { thread: number; i: number; data: Uint8Array }
  anything: unknown
}
const typed = new EventHub<SourceEvents>()
sources.ticker(typed, { name: 'tick', intervalMs: 10 })
sources.ticker(typed, { name: 'anything', intervalMs: 10 })
// @ts-expect-error a ticker emits { n, at }, not { text }
sources.ticker(typed, { name: 'greeting', intervalMs: 10 })
// @ts-expect-error a ticker does not emit bytes
sources.ticker(typed, { name: 'frame', intervalMs: 10 })
// @ts-expect-error liveness names belong to the hub
sources.ticker(typed, { name: 'not_responding', intervalMs: 10 })
void sources.burst(typed, { name: 'frame', count: 1, encoding: 'raw' })
void sources.burst(typed, { name: 'item', count: 1 })
void sources.burst(typed, { name: 'item', count: 1, encoding: 'cbor' })
void sources.burst(typed, { name: 'tick', count: 1, encoding: 'tick' })
void sources.burst(typed, { name: 'anything', count: 1, encoding: 'raw' })
// @ts-expect-error a CBOR burst (the default) emits { thread, i, data }, not bytes
void sources.burst(typed, { name: 'frame', count: 1 })
// @ts-expect-error a raw burst emits bytes, not { text }
void sources.burst(typed, { name: 'greeting', count: 1, encoding: 'raw' })
// @ts-expect-error a tick burst emits { n, at }, not { thread, i, data }
void sources.burst(typed, { name: 'item', count: 1, encoding: 'tick' })
// An untyped hub takes any name.
sources.ticker(untyped, { name: 'whatever', intervalMs: 1 })
void sources.burst(untyped, { name: 'whatever', count: 1, encoding: 'raw' })

// Node habits: removal by name and function, counts, waitFor with meta.
const greet = (g: { text: string }) => g.text
typed.on('greeting', greet)
const removedOne: boolean = typed.off('greeting', greet)
const chained: EventHub<SourceEvents> = typed.removeListener('greeting', greet).removeListener('frame', () => {})
const counted: number = typed.listenerCount('greeting', greet) + typed.listenerCount('greeting') + typed.listenerCount()
// @ts-expect-error no such event
typed.off('tock', greet)
const withMeta = typed.waitFor('tick', { meta: true, timeoutMs: 10 })
void withMeta.then(({ payload, meta }) => {
  const at: bigint = payload.at
  const seq: number = meta.seq
  const name: 'tick' = meta.name
  return [at, seq, name]
})
const plain = typed.waitFor('tick')
// @ts-expect-error without `meta: true` it resolves with the payload alone
void plain.then((v) => v.meta)
// An async onError handler is accepted (its rejection is rethrown as an uncaught exception).
typed.onError(async (error) => {
  await Promise.resolve(error.code)
})
void [removedOne, chained, counted]

// onRawSpan: the batch's bytes, the span's offsets, and meta of the event's name.
hub.onRawSpan('tick', (bytes: Uint8Array, start: number, end: number, meta) => {
  const name: 'tick' = meta.name
  void [bytes.subarray(start, end), name]
})
// @ts-expect-error no such event
hub.onRawSpan('nope', () => {})
// @ts-expect-error offsets are numbers
hub.onRawSpan('tick', (_bytes: Uint8Array, _start: string) => {})
