import test, { type ExecutionContext } from 'ava'
import { Encoder } from 'cbor-x'
import { EventHub, EventHubError, type EventHubOptions, type EventMap, type LivenessPayload } from 'ffi-events'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

import { Case, ForeignLibrary, callOnce, emitOnce, errorText, nowNs, registerKoffiCallback } from './fixtures/foreign/foreign.mjs'
import { burstHeader, root, runNode, until } from './helpers'

// A C library shaped like a nim-ffi library (fixtures/foreign/foreign.c),
// loaded through koffi, reports events from its own threads through a
// hub.nativeSink(). Its threads reuse and overwrite one buffer per thread
// right after each call, so a sink that keeps the pointer instead of
// copying delivers garbage.

type Point = { thread: number; i: number }
type Sink = ReturnType<EventHub['nativeSink']>

const FOREIGN_MODULE = pathToFileURL(join(root, '__test__', 'fixtures', 'foreign', 'foreign.mjs')).href
const cbor = new Encoder({ useRecords: false, variableMapSize: true })

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

// A failed assertion ends a test at once: hubs (which keep the process alive
// while they have listeners) and the library's threads are released in
// teardowns, which run either way.

/** A hub closed when the test ends. */
function openHub<E extends EventMap = Record<string, unknown>>(t: ExecutionContext, options?: EventHubOptions): EventHub<E> {
  const hub = new EventHub<E>(options)
  t.teardown(() => hub.close())
  return hub
}

/** A context of the C library, its threads stopped and joined when the test ends. */
function openLibrary(t: ExecutionContext): ForeignLibrary {
  const lib = new ForeignLibrary()
  t.teardown(() => lib.destroy())
  return lib
}

/** Checks that `points` holds, per thread, exactly i = 0..perThread-1 in order. */
function assertEveryPointInOrder(t: ExecutionContext, points: Point[], threads: number, perThread: number): void {
  const next = new Array<number>(threads).fill(0)
  const outOfOrder: string[] = []
  for (const p of points) {
    if (p.i !== next[p.thread]) outOfOrder.push(`thread ${p.thread}: got ${p.i}, expected ${next[p.thread]}`)
    next[p.thread] = p.i + 1
  }
  t.deepEqual(outOfOrder.slice(0, 5), [], 'per-thread order')
  t.deepEqual(next, new Array<number>(threads).fill(perThread), 'every event of every thread')
}

/** Counts, per producer, the events whose seq is not above the previous one of the same producer. */
class SeqOrder {
  readonly #last = new Map<string, number>()
  readonly seen = new Set<number>()
  backwards = 0
  add(producer: string, seq: number): void {
    if (seq <= (this.#last.get(producer) ?? 0)) this.backwards++
    this.#last.set(producer, seq)
    this.seen.add(seq)
  }
}

/** Every call through the sink is accounted for exactly once. */
function assertSinkConservation(t: ExecutionContext, sink: Sink): void {
  const s = sink.stats()
  t.is(s.calls, s.accepted + s.refused + s.closed + s.tooLarge + s.invalid, 'calls = accepted + refused + closed + tooLarge + invalid')
}

/** The hub's own books balance. */
function assertHubConservation(t: ExecutionContext, hub: EventHub<any>): void {
  const s = hub.stats()
  t.is(s.emitted, s.delivered + s.refused + s.discarded + s.queued, 'hub: emitted = delivered + refused + discarded + queued')
  t.true(s.unheard <= s.delivered, 'hub: unheard <= delivered')
  t.true(s.reportsLost <= s.refused, 'hub: every lost report is also a refusal')
}

test.serial('nim-ffi envelopes from the library threads reach typed listeners, routed by eventType', async (t) => {
  const hub = openHub<{ peer_connected: Point; message_received: Point }>(t, { capacity: 1 << 16 })
  const sink = hub.nativeSink()
  t.is(sink.format, 'envelope')
  t.is(sink.name, undefined)
  t.false(sink.closed)
  t.is(typeof sink.callback, 'bigint')
  t.is(typeof sink.emit, 'bigint')
  t.is(typeof sink.userData, 'bigint')
  t.not(sink.userData, 0n)

  const peers: Point[] = []
  const messages: Point[] = []
  const seqs = new SeqOrder()
  const names = new Set<string>()
  hub.on('peer_connected', (p, meta) => {
    peers.push(p)
    seqs.add(`a${p.thread}`, meta.seq)
    names.add(meta.name)
  })
  hub.on('message_received', (p, meta) => {
    messages.push(p)
    seqs.add(`b${p.thread}`, meta.seq)
    names.add(meta.name)
  })

  // Two libraries, one sink: each registers the pair for the event it reports, as with nim-ffi.
  const a = openLibrary(t)
  const b = openLibrary(t)
  try {
    a.addEventListener('peer_connected', sink.callback, sink.userData)
    b.addEventListener('message_received', sink.callback, sink.userData)
    a.start('peer_connected', { threads: 2, perThread: 2000 })
    b.start('message_received', { threads: 1, perThread: 3000 })
    await Promise.all([a.finished(), b.finished()])
    await until(() => peers.length + messages.length === 7000, 20_000, 'every event delivered')

    assertEveryPointInOrder(t, peers, 2, 2000)
    assertEveryPointInOrder(t, messages, 1, 3000)
    t.deepEqual([...names].sort(), ['message_received', 'peer_connected'])
    t.is(seqs.backwards, 0, 'seq increases along each library thread')
    t.is(seqs.seen.size, 7000, 'every seq distinct')
    t.like(sink.stats(), { calls: 7000, accepted: 7000, refused: 0, closed: 0, tooLarge: 0, invalid: 0, nativeErrors: 0, malformed: 0 })
    t.like(hub.stats(), { emitted: 7000, delivered: 7000, refused: 0, discarded: 0, decodeErrors: 0 })
  } finally {
    a.destroy()
    b.destroy()
  }
  await hub.close()
})

test.serial('an envelope listener gets the same payload as for an event emitted by the hub itself', async (t) => {
  const hub = openHub<{ p: Point }>(t)
  const sink = hub.nativeSink()
  const got: Array<[Point, string]> = []
  const raws: Uint8Array[] = []
  hub.on('p', (p, meta) => { got.push([p, meta.lane]) })
  hub.onRaw('p', (bytes) => { raws.push(bytes) })
  hub.emit('p', { thread: 0, i: 0 })
  const lib = openLibrary(t)
  try {
    lib.addEventListener('p', sink.callback, sink.userData)
    lib.startCases('p', [Case.envelope])
    await lib.finished()
    await until(() => got.length === 2)
    t.deepEqual(got[1], got[0], 'decoded payload and lane alike')
    t.deepEqual(Buffer.from(raws[1]), Buffer.from(raws[0]), 'nim-ffi and the hub write the same envelope bytes')
  } finally {
    lib.destroy()
  }
  await hub.close()
})

for (const format of ['cbor', 'json', 'raw'] as const) {
  test.serial(`a '${format}' sink delivers every event under its fixed name`, async (t) => {
    const hub = openHub<{ point: Point; bytes: Uint8Array }>(t, { capacity: 1 << 16 })
    const name = format === 'raw' ? 'bytes' : 'point'
    const sink = hub.nativeSink({ name, format })
    t.is(sink.format, format)
    t.is(sink.name, name)
    const points: Point[] = []
    if (format === 'raw') {
      hub.on('bytes', (bytes, meta) => {
        t.true(bytes instanceof Uint8Array)
        t.is(meta.lane, 'raw')
        points.push(burstHeader(bytes))
      })
    } else {
      hub.on('point', (p) => { points.push(p) })
    }
    const lib = openLibrary(t)
    try {
      // The library's own event name is not the hub's: the sink's fixed name wins.
      lib.addEventListener('lib_event', sink.callback, sink.userData)
      lib.start('lib_event', { format, threads: 2, perThread: 5000 })
      await lib.finished()
      await until(() => points.length === 10_000)
      assertEveryPointInOrder(t, points, 2, 5000)
      t.like(sink.stats(), { calls: 10_000, accepted: 10_000, malformed: 0, invalid: 0 })
      t.like(hub.stats(), { delivered: 10_000, decodeErrors: 0 })
    } finally {
      lib.destroy()
    }
    await hub.close()
  })
}

test.serial('nativeSink validates its options', async (t) => {
  const hub = openHub(t)
  t.throws(() => hub.nativeSink({ format: 'cbor' }), { instanceOf: TypeError }, 'cbor needs a name')
  t.throws(() => hub.nativeSink({ format: 'raw' }), { instanceOf: TypeError }, 'raw needs a name')
  t.throws(() => hub.nativeSink({ format: 'json' }), { instanceOf: TypeError }, 'json needs a name')
  t.throws(() => hub.nativeSink({ name: 'x', format: 'envelope' }), { instanceOf: TypeError }, 'envelope refuses a name')
  t.throws(() => hub.nativeSink({ name: 'x' }), { instanceOf: TypeError }, 'the default format is envelope')
  t.throws(() => hub.nativeSink({ name: 'x', format: 'xml' as 'raw' }), { instanceOf: TypeError })
  t.throws(() => hub.nativeSink({ name: '', format: 'raw' }), { instanceOf: TypeError })
  await hub.close()
  t.throws(() => hub.nativeSink(), { instanceOf: EventHubError }, 'a closed hub makes no sink')
})

test.serial('ret != 0 reaches onError as ERR_NATIVE_ERROR with the library text, between the events around it', async (t) => {
  const hub = openHub<{ node: Point }>(t)
  const sink = hub.nativeSink()
  const order: string[] = []
  const errors: EventHubError[] = []
  hub.on('node', (p) => { order.push(`event ${p.i}`) })
  hub.onError((e) => {
    errors.push(e)
    order.push(`error ${e.code}`)
  })
  const lib = openLibrary(t)
  try {
    lib.addEventListener('node', sink.callback, sink.userData)
    lib.startCases('node', [Case.envelope, Case.error, Case.envelope, Case.staleWarn, Case.envelope])
    await lib.finished()
    await until(() => order.length === 5)
  } finally {
    lib.destroy()
  }
  t.deepEqual(order, ['event 0', 'error ERR_NATIVE_ERROR', 'event 2', 'error ERR_NATIVE_ERROR', 'event 4'])
  t.true(errors[0] instanceof EventHubError)
  t.is(errors[0].message, errorText())
  t.is(errorText(), 'connection refused by peer 10.0.0.7 (düsseldorf), retrying')
  t.is(errors[1].message, '5000')
  t.like(sink.stats(), { calls: 5, accepted: 5, nativeErrors: 2, malformed: 0 })
  t.like(hub.stats(), { decodeErrors: 0, listenerErrors: 0 })
  assertHubConservation(t, hub)
  await hub.close()
})

test.serial('malformed envelopes reach onError as ERR_EVENT_DECODE and count as decode errors; the events around them arrive', async (t) => {
  const hub = openHub<{ node: Point }>(t)
  const sink = hub.nativeSink()
  const points: Point[] = []
  const errors: EventHubError[] = []
  hub.on('node', (p) => { points.push(p) })
  hub.onError((e) => errors.push(e))
  const malformed = [
    Case.notAMap,
    Case.truncated,
    Case.eventTypeNotText,
    Case.eventTypeBadUtf8,
    Case.eventTypeMissing,
    Case.eventTypeEmpty,
    Case.eventTypeTooLong,
  ]
  const script = [Case.envelope, ...malformed.flatMap((c) => [c, Case.envelope])]
  const lib = openLibrary(t)
  try {
    lib.addEventListener('node', sink.callback, sink.userData)
    lib.startCases('node', script)
    await lib.finished()
    await until(() => points.length + errors.length === script.length)
  } finally {
    lib.destroy()
  }
  t.deepEqual(
    points.map((p) => p.i),
    script.flatMap((c, k) => (c === Case.envelope ? [k] : [])),
    'every valid envelope, in order',
  )
  t.is(errors.length, malformed.length)
  t.true(errors.every((e) => e instanceof EventHubError && e.code === 'ERR_EVENT_DECODE'))
  t.like(sink.stats(), { calls: script.length, accepted: script.length, malformed: malformed.length, nativeErrors: 0, invalid: 0 })
  t.is(hub.stats().decodeErrors, malformed.length)
  assertHubConservation(t, hub)
  await hub.close()
})

test.serial('JSON text: bad syntax is a decode error on the JS thread, invalid UTF-8 is caught natively', async (t) => {
  const hub = openHub<{ doc: Point }>(t)
  const sink = hub.nativeSink({ name: 'doc', format: 'json' })
  const points: Point[] = []
  const errors: EventHubError[] = []
  hub.on('doc', (p) => { points.push(p) })
  hub.onError((e) => errors.push(e))
  const script = [Case.json, Case.jsonBadSyntax, Case.json, Case.jsonBadUtf8, Case.json]
  const lib = openLibrary(t)
  try {
    lib.addEventListener('doc', sink.callback, sink.userData)
    lib.startCases('doc', script)
    await lib.finished()
    await until(() => points.length + errors.length === script.length)
  } finally {
    lib.destroy()
  }
  t.deepEqual(points, [0, 2, 4].map((i) => ({ thread: 0, i })))
  t.deepEqual(errors.map((e) => e.code), ['ERR_EVENT_DECODE', 'ERR_EVENT_DECODE'])
  t.like(sink.stats(), { calls: 5, accepted: 5, malformed: 1 })
  t.is(hub.stats().decodeErrors, 2)
  await hub.close()
})

test.serial('an event longer than maxEventBytes is refused and counted as tooLarge; nothing else is lost', async (t) => {
  const hub = openHub<{ node: Point }>(t, { maxEventBytes: 512 })
  const sink = hub.nativeSink()
  const points: Point[] = []
  const errors: EventHubError[] = []
  hub.on('node', (p) => { points.push(p) })
  hub.onError((e) => errors.push(e))
  const lib = openLibrary(t)
  try {
    lib.addEventListener('node', sink.callback, sink.userData)
    lib.startCases('node', [Case.envelope, Case.envelopeBig, Case.envelope])
    await lib.finished()
    await until(() => points.length === 2)
  } finally {
    lib.destroy()
  }
  t.deepEqual(points.map((p) => p.i), [0, 2])
  t.deepEqual(errors, [])
  t.like(sink.stats(), { calls: 3, accepted: 2, tooLarge: 1, refused: 0, invalid: 0 })
  t.like(hub.stats(), { delivered: 2, refused: 0, discarded: 0 })
  assertSinkConservation(t, sink)
  assertHubConservation(t, hub)
  await hub.close()
})

test.serial('NULL with len 0 (and nim-ffi empty "" with len 0) is a zero-length Uint8Array; NULL with len > 0 is refused as invalid', async (t) => {
  const hub = openHub<{ frame: Uint8Array }>(t)
  const sink = hub.nativeSink({ name: 'frame', format: 'raw' })
  const frames: Uint8Array[] = []
  hub.on('frame', (bytes) => { frames.push(bytes) })
  const lib = openLibrary(t)
  try {
    lib.addEventListener('frame', sink.callback, sink.userData)
    lib.startCases('frame', [Case.nullEmpty, Case.nullNonEmpty, Case.empty, Case.raw])
    await lib.finished()
    await until(() => frames.length === 3)
  } finally {
    lib.destroy()
  }
  t.true(frames[0] instanceof Uint8Array)
  t.is(frames[0].length, 0)
  t.true(frames[1] instanceof Uint8Array)
  t.is(frames[1].length, 0)
  t.deepEqual(burstHeader(frames[2]), { thread: 0, i: 3 })
  t.like(sink.stats(), { calls: 4, accepted: 3, invalid: 1 })
  t.like(hub.stats(), { emitted: 3, delivered: 3 })
  await hub.close()
})

test.serial('4 threads x 100k events: per-thread order and exact accounting, lossless', async (t) => {
  const threads = 4
  const perThread = 100_000
  const hub = openHub<{ load: Point }>(t, { capacity: 1 << 19 })
  const sink = hub.nativeSink()
  const next = new Array<number>(threads).fill(0)
  let delivered = 0
  let outOfOrder = 0
  hub.on('load', (p) => {
    if (p.i !== next[p.thread]) outOfOrder++
    next[p.thread] = p.i + 1
    delivered++
  })
  const lib = openLibrary(t)
  try {
    lib.addEventListener('load', sink.callback, sink.userData)
    lib.start('load', { threads, perThread })
    await lib.finished()
    await until(() => delivered === threads * perThread, 60_000, 'every event delivered')
  } finally {
    lib.destroy()
  }
  t.is(outOfOrder, 0)
  t.deepEqual(next, new Array<number>(threads).fill(perThread))
  t.like(sink.stats(), { calls: 400_000, accepted: 400_000, refused: 0, closed: 0, tooLarge: 0, invalid: 0 })
  t.like(hub.stats(), { emitted: 400_000, delivered: 400_000, refused: 0, discarded: 0, queued: 0 })
  await hub.close()
})

test.serial('4 threads x 100k events into a full ring: exactly capacity accepted, the rest refused and counted, one liveness episode', async (t) => {
  const threads = 4
  const perThread = 100_000
  const capacity = 1024
  const hub = openHub<{ load: Point }>(t, { capacity, overflow: 'reject' })
  const sink = hub.nativeSink()
  const next = new Array<number>(threads).fill(0)
  const seqs = new SeqOrder()
  let delivered = 0
  let decreasing = 0
  const liveness: Array<[string, LivenessPayload]> = []
  hub.on('load', (p, meta) => {
    if (p.i < next[p.thread]) decreasing++
    next[p.thread] = p.i + 1
    seqs.add(String(p.thread), meta.seq)
    delivered++
  })
  hub.on('not_responding', (p) => { liveness.push(['not_responding', p]) })
  hub.on('responding', (p) => { liveness.push(['responding', p]) })
  const lib = openLibrary(t)
  try {
    lib.addEventListener('load', sink.callback, sink.userData)
    lib.start('load', { threads, perThread })
    // Hold the JS thread until the library is done: nothing drains, so the
    // ring takes exactly `capacity` events and refuses every other one.
    while (!lib.done) {
      /* wedged on purpose */
    }
    lib.join()
    await until(() => delivered === capacity && liveness.length === 2, 20_000, 'the ring drained')
  } finally {
    lib.destroy()
  }
  const total = threads * perThread
  t.like(sink.stats(), { calls: total, accepted: capacity, refused: total - capacity, closed: 0, invalid: 0, tooLarge: 0 })
  t.like(hub.stats(), { emitted: total, delivered: capacity, refused: total - capacity, discarded: 0, reportsLost: 0, queued: 0 })
  t.is(decreasing, 0, 'per-thread order among the accepted')
  t.is(seqs.backwards, 0, 'seq increases along each library thread')
  t.is(seqs.seen.size, capacity, 'every seq distinct')
  t.true([...seqs.seen].every((seq) => seq >= 1 && seq <= total), 'seqs taken from the calls, accepted or not')
  t.deepEqual(liveness.map(([name]) => name), ['not_responding', 'responding'])
  t.is(liveness[0][1].reason, 'queue_full')
  await hub.close()
})

/** Busy-waits the JS thread for `ms`; returns the wedge's start and end on the library's clock. */
function wedge(ms: number): { start: bigint; end: bigint } {
  const start = nowNs()
  const deadline = process.hrtime.bigint() + BigInt(ms) * 1_000_000n
  while (process.hrtime.bigint() < deadline) {
    /* the JS thread is busy: no delivery, no koffi callback can run */
  }
  return { start, end: nowNs() }
}

test.serial('a 300 ms wedged JS thread: library calls go on during the wedge and none waits for it', async (t) => {
  const hub = openHub<{ tick: Point }>(t, { capacity: 1 << 16 })
  const sink = hub.nativeSink()
  let delivered = 0
  hub.on('tick', () => {
    delivered++
  })
  const lib = openLibrary(t)
  let w = { start: 0n, end: 0n }
  let deliveredDuringWedge = -1
  let events = 0
  try {
    lib.addEventListener('tick', sink.callback, sink.userData)
    // Two threads, one event per 100 µs each, until stopped.
    lib.start('tick', { threads: 2, perThread: 0, intervalNs: 100_000 })
    await until(() => delivered > 0, 20_000, 'first delivery')
    const before = delivered
    w = wedge(300)
    deliveredDuringWedge = delivered - before
    await sleep(20)
    lib.stop()
    await lib.finished()
    events = lib.stat('events')
    await until(() => delivered === events, 30_000, 'every event delivered')
  } finally {
    lib.stop()
    lib.join()
  }
  t.is(deliveredDuringWedge, 0, 'nothing was delivered while the JS thread was wedged')
  const during = lib.callsWithin(w.start, w.end)
  t.true(during.endedInside > 0, 'calls started and completed while the JS thread was wedged')
  // A call that waited for JS would have lasted from its start until the
  // wedge ended: at least 200 ms for one started in the first 100 ms. (A
  // library thread descheduled in the middle of a call on a loaded machine
  // makes calls of a few tens of ms: not what this looks for.)
  const early = lib.callsWithin(w.start, w.start + 100_000_000n, w.end)
  t.true(early.endedInside + early.endedAfter > 0, 'calls started in the first 100 ms of the wedge')
  t.is(early.endedAfter, 0, 'none of them was still running when the wedge ended')
  const cost = lib.callCost()
  t.is(cost.recorded, cost.calls, 'every call was timed')
  t.true(cost.maxNs < 100e6, `longest call ${(cost.maxNs / 1e6).toFixed(3)} ms, well below the 300 ms wedge`)
  t.like(sink.stats(), { calls: events, accepted: events, refused: 0 })
  lib.destroy()
  await hub.close()
})

test.serial('the wedge measurement catches a host that waits: a koffi registered callback blocks the library for the whole wedge', async (t) => {
  let calls = 0
  const koffiCallback = registerKoffiCallback(() => {
    calls++
  })
  const lib = openLibrary(t)
  let w = { start: 0n, end: 0n }
  try {
    lib.addEventListener('tick', koffiCallback.address, 0n)
    lib.start('tick', { threads: 1, perThread: 0, intervalNs: 1_000_000 })
    await until(() => calls > 0, 20_000, 'first call')
    w = wedge(300)
  } finally {
    // Joining from here while a library thread waits for this thread would
    // deadlock: let the loop run until the threads are done, then unregister.
    lib.stop()
    await lib.finished()
    koffiCallback.unregister()
  }
  // Calls that started from 100 ms before the wedge until 50 ms before its end.
  const early = lib.callsWithin(w.start - 100_000_000n, w.end - 50_000_000n)
  t.is(early.endedAfter, 1, 'one call was in flight: it waited for the end of the wedge')
  t.is(lib.callsWithin(w.start, w.end).endedInside, 0, 'no call started during the wedge could complete in it')
  t.true(lib.callCost().maxNs >= 250e6, 'the library thread was held for most of the wedge')
  lib.destroy()
})

test.serial('ffi_events_emit called from C: each lane and each return code', async (t) => {
  const hub = openHub<{ value: { x: number }; bytes: Uint8Array; doc: { y: number }; empty: Uint8Array }>(t, {
    capacity: 4,
    maxEventBytes: 64,
  })
  const sink = hub.nativeSink()
  const got: Array<[string, unknown, string]> = []
  for (const name of ['value', 'bytes', 'doc', 'empty'] as const) {
    hub.on(name, (p, meta) => {
      got.push([name, p, meta.lane])
    })
  }
  const { emit, userData } = sink
  const OK = 0
  const FULL = 1
  const CLOSED = 2
  const INVALID = 3
  const TOO_LARGE = 4

  // Refusals that must not take a slot.
  t.is(emitOnce(emit, userData, 'value', cbor.encode({ x: 1 }), 7), INVALID, 'unknown lane')
  t.is(emitOnce(emit, userData, 'value', cbor.encode({ x: 1 }), -1), INVALID, 'negative lane')
  t.is(emitOnce(emit, userData, '', cbor.encode({ x: 1 }), 0), INVALID, 'empty name')
  t.is(emitOnce(emit, userData, null, cbor.encode({ x: 1 }), 0), INVALID, 'NULL name')
  t.is(emitOnce(emit, userData, new Uint8Array([0x61, 0xff]), cbor.encode({ x: 1 }), 0), INVALID, 'name not UTF-8')
  t.is(emitOnce(emit, userData, 'x'.repeat(256), cbor.encode({ x: 1 }), 0), INVALID, 'name too long')
  t.is(emitOnce(emit, userData, 'bytes', null, 1, 16), INVALID, 'NULL payload with len > 0')
  t.is(emitOnce(emit, userData, 'value', Uint8Array.of(0xa1, 0x61), 0), INVALID, 'CBOR lane: truncated CBOR')
  t.is(emitOnce(emit, userData, 'doc', Uint8Array.of(0x22, 0xff, 0x22), 2), INVALID, 'JSON lane: not UTF-8')
  t.is(emitOnce(emit, userData, 'bytes', new Uint8Array(65), 1), TOO_LARGE)

  // Four accepted fill the ring (nothing drains while this test holds the JS thread).
  t.is(emitOnce(emit, userData, 'value', cbor.encode({ x: 1 }), 0), OK)
  t.is(emitOnce(emit, userData, 'bytes', new Uint8Array([1, 2, 3]), 1), OK)
  t.is(emitOnce(emit, userData, 'doc', Buffer.from('{"y":2}'), 2), OK)
  t.is(emitOnce(emit, userData, 'empty', null, 1), OK, 'NULL with len 0 is an empty payload')
  t.is(emitOnce(emit, userData, 'value', cbor.encode({ x: 5 }), 0), FULL)

  await until(() => got.length === 4)
  t.deepEqual(got[0], ['value', { x: 1 }, 'cbor'])
  t.is(got[1][0], 'bytes')
  t.deepEqual([...(got[1][1] as Uint8Array)], [1, 2, 3])
  t.is(got[1][2], 'raw')
  t.deepEqual(got[2].slice(0, 2), ['doc', { y: 2 }])
  t.is(got[3][0], 'empty')
  t.true(got[3][1] instanceof Uint8Array)
  t.is((got[3][1] as Uint8Array).length, 0)

  sink.close()
  t.true(sink.closed)
  t.is(emitOnce(emit, userData, 'value', cbor.encode({ x: 1 }), 0), CLOSED)
  t.like(sink.stats(), { calls: 16, accepted: 4, refused: 1, closed: 1, tooLarge: 1, invalid: 9 })
  t.like(hub.stats(), { delivered: 4, refused: 1, discarded: 0 })
  assertSinkConservation(t, sink)
  assertHubConservation(t, hub)
  await hub.close()
})

test.serial('ffi_events_emit from the library threads on each lane, with the library overwriting its buffer after each call', async (t) => {
  const hub = openHub<{ emitted: Point | Uint8Array }>(t, { capacity: 1 << 16 })
  const sink = hub.nativeSink()
  const lanes = { cbor: 'cbor', json: undefined, raw: 'raw', envelope: 'cbor' } as const
  for (const format of ['envelope', 'cbor', 'json', 'raw'] as const) {
    const points: Point[] = []
    const off = hub.on('emitted', (p, meta) => {
      if (lanes[format] !== undefined) t.is(meta.lane, lanes[format])
      points.push(p instanceof Uint8Array ? burstHeader(p) : p)
    })
    const lib = openLibrary(t)
    try {
      lib.addEmitter(sink.emit, sink.userData)
      lib.start('emitted', { format, threads: 2, perThread: 2000 })
      await lib.finished()
      await until(() => points.length === 4000, 20_000, `${format} delivered`)
      assertEveryPointInOrder(t, points, 2, 2000)
      t.like(lib.emitReturns(), { 0: 4000, 1: 0, 2: 0, 3: 0, 4: 0, other: 0 }, format)
    } finally {
      lib.destroy()
      hub.off(off)
    }
  }
  t.like(sink.stats(), { calls: 16_000, accepted: 16_000 })
  await hub.close()
})

/** Starts the library calling `sink` from 2 threads until stopped; returns it. */
function lingering(t: ExecutionContext, name: string, callback: bigint, userData: bigint): ForeignLibrary {
  const lib = openLibrary(t)
  lib.addEventListener(name, callback, userData)
  lib.start(name, { threads: 2, perThread: 0, intervalNs: 20_000 })
  return lib
}

test.serial('a handle outliving sink.close(): every later call is a refused no-op, counted, and the hub goes on', async (t) => {
  const hub = openHub<{ tick: Point; other: number }>(t)
  const sink = hub.nativeSink()
  let delivered = 0
  hub.on('tick', () => { delivered++ })
  const lib = lingering(t, 'tick', sink.callback, sink.userData)
  let callsAfterClose = 0
  let libraryCalls = 0
  try {
    await until(() => delivered > 100)
    sink.close()
    sink.close()
    t.true(sink.closed)
    lib.hostClosed()
    await until(() => lib.stat('callsAfterHostClosed') >= 500, 20_000, 'calls after close')
    lib.stop()
    lib.join()
    callsAfterClose = lib.stat('callsAfterHostClosed')
    libraryCalls = lib.stat('calls')
    // The stored pair called once more from C on this thread, both shapes.
    callOnce(sink.callback, 0, Buffer.from([0xa0]), sink.userData)
    t.is(emitOnce(sink.emit, sink.userData, 'tick', cbor.encode({ thread: 9, i: 9 }), 0), 2, 'emit returns closed')
  } finally {
    lib.destroy()
  }
  const s = sink.stats()
  t.true(s.closed >= callsAfterClose + 2, `${s.closed} refused as closed, ${callsAfterClose} + 2 made after close`)
  t.is(s.calls, libraryCalls + 2, 'every call counted')
  assertSinkConservation(t, sink)
  await until(() => delivered === s.accepted, 20_000, 'every accepted event delivered')
  // The hub itself is still open.
  const others: number[] = []
  hub.on('other', (n) => { others.push(n) })
  t.true(hub.emit('other', 1))
  await until(() => others.length === 1)
  assertHubConservation(t, hub)
  await hub.close()
})

test.serial('[Symbol.dispose] closes the sink', async (t) => {
  const hub = openHub(t)
  const sink = hub.nativeSink()
  {
    using scoped = sink
    t.false(scoped.closed)
    t.is(emitOnce(sink.emit, sink.userData, 'x', new Uint8Array(1), 1), 0)
  }
  t.true(sink.closed)
  t.is(emitOnce(sink.emit, sink.userData, 'x', new Uint8Array(1), 1), 2)
  t.like(sink.stats(), { calls: 2, accepted: 1, closed: 1 })
  await hub.close()
})

test.serial('a handle outliving hub.close(): later calls are refused no-ops, counted', async (t) => {
  const hub = openHub<{ tick: Point }>(t)
  const sink = hub.nativeSink()
  let delivered = 0
  hub.on('tick', () => { delivered++ })
  const lib = lingering(t, 'tick', sink.callback, sink.userData)
  let callsAfterClose = 0
  try {
    await until(() => delivered > 100)
    await hub.close()
    const deliveredAtClose = delivered
    lib.hostClosed()
    await until(() => lib.stat('callsAfterHostClosed') >= 500, 20_000, 'calls after close')
    lib.stop()
    lib.join()
    callsAfterClose = lib.stat('callsAfterHostClosed')
    t.is(emitOnce(sink.emit, sink.userData, 'tick', cbor.encode({ thread: 9, i: 9 }), 0), 2, 'emit returns closed')
    callOnce(sink.callback, 1, Buffer.from('late error'), sink.userData)
    await sleep(20)
    t.is(delivered, deliveredAtClose, 'nothing delivered after close resolved')
  } finally {
    lib.destroy()
  }
  const s = sink.stats()
  t.true(s.closed >= callsAfterClose + 2, `${s.closed} refused as closed, ${callsAfterClose} + 2 made after close`)
  t.is(s.accepted, delivered, 'everything accepted before close was delivered by close')
  assertSinkConservation(t, sink)
  assertHubConservation(t, hub)
})

// Crash paths run in a child process: a use-after-free there would be a
// signal or a non-zero exit, not a failed assertion.

test.serial('a handle outliving a garbage-collected hub: calls are refused no-ops, counted, no crash', (t) => {
  // A hub without listeners that nothing references is collected and closed;
  // the sink object itself does not keep its hub alive.
  const result = runNode(
    `
    const { EventHub } = require('ffi-events')
    ;(async () => {
      const { ForeignLibrary } = await import(${JSON.stringify(FOREIGN_MODULE)})
      const lib = new ForeignLibrary()
      let finalized = false
      const registry = new FinalizationRegistry(() => { finalized = true })
      let sink
      ;(() => {
        const hub = new EventHub()
        sink = hub.nativeSink()
        lib.addEventListener('tick', sink.callback, sink.userData)
        registry.register(hub, 'hub')
      })()
      // The library reports through the sink while the hub lives...
      lib.start('tick', { threads: 2, perThread: 500 })
      await lib.finished()
      const before = sink.stats()
      // ...then the hub goes away while the library keeps the pair.
      // The hub is closed by the package's own FinalizationRegistry, whose
      // callback V8 may run after this test's: wait for both (bounded).
      for (let round = 0; round < 200 && !(finalized && sink.closed); round++) {
        globalThis.gc()
        await new Promise((r) => setTimeout(r, 10))
      }
      const closedAfterGc = sink.closed
      lib.start('tick', { threads: 2, perThread: 0, intervalNs: 20000 })
      lib.hostClosed()
      while (lib.stat('callsAfterHostClosed') < 2000) {
        globalThis.gc()
        await new Promise((r) => setTimeout(r, 2))
      }
      lib.stop()
      lib.join()
      const callsAfter = lib.stat('callsAfterHostClosed')
      const secondRun = lib.stat('calls')
      lib.destroy()
      console.log(JSON.stringify({ finalized, closedAfterGc, before, after: sink.stats(), callsAfter, secondRun }))
    })().catch((e) => { console.error(e); process.exit(1) })
    `,
    60_000,
    ['--expose-gc'],
  )
  t.is(result.signal, null, result.stderr)
  t.is(result.status, 0, result.stderr)
  const out = JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}')
  t.true(out.finalized, 'the hub was collected')
  t.true(out.closedAfterGc, 'its sink reports closed')
  t.like(out.before, { calls: 1000, accepted: 1000, closed: 0 })
  t.true(out.callsAfter >= 2000)
  t.is(out.after.calls, 1000 + out.secondRun, 'every call counted')
  t.is(out.after.accepted, 1000, 'nothing accepted after the hub was collected')
  t.is(out.after.closed, out.secondRun, 'every later call refused as closed')
})

test.serial('library threads calling through the sink while the process exits: a clean exit, no crash', (t) => {
  // process.exit() on the main thread runs no cleanup hooks: the hub is
  // never closed and its sink stays open while the library's threads keep
  // calling, during and after the environment's teardown. (The library pins
  // itself loaded, as a host must keep a library whose threads still run.)
  const result = runNode(
    `
    const { EventHub } = require('ffi-events')
    ;(async () => {
      const { ForeignLibrary } = await import(${JSON.stringify(FOREIGN_MODULE)})
      const lib = new ForeignLibrary()
      const hub = new EventHub()
      const sink = hub.nativeSink()
      let heard = 0
      hub.on('tick', () => heard++)
      lib.addEventListener('tick', sink.callback, sink.userData)
      lib.start('tick', { threads: 4, perThread: 0, intervalNs: 1000 })
      while (heard < 1000) await new Promise((r) => setTimeout(r, 2))
      console.log(JSON.stringify({ heard: heard >= 1000, calling: lib.stat('calls') > 0 }))
      process.exit(0)
    })().catch((e) => { console.error(e); process.exit(1) })
    `,
    60_000,
  )
  t.is(result.signal, null, result.stderr)
  t.is(result.status, 0, result.stderr)
  t.deepEqual(JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}'), { heard: true, calling: true })
})

test.serial('a C exit handler calling through an open sink after process.exit() is refused, not delivered', (t) => {
  // process.exit() runs the 'exit' listeners, then the C exit handlers: by
  // then every sink is closed, so the library's late emit gets status 2
  // (closed) and its late error report is a refused no-op.
  const result = runNode(
    `
    const { EventHub } = require('ffi-events')
    ;(async () => {
      const { callAtExit, emitOnce } = await import(${JSON.stringify(FOREIGN_MODULE)})
      const hub = new EventHub()
      const sink = hub.nativeSink()
      hub.on('late', () => {})
      // Open and accepting until the exit.
      const before = emitOnce(sink.emit, sink.userData, 'late', new Uint8Array([1]), 1)
      callAtExit(sink.emit, sink.callback, sink.userData)
      console.log(JSON.stringify({ before }))
      process.exit(0)
    })().catch((e) => { console.error(e); process.exit(1) })
    `,
    60_000,
  )
  t.is(result.signal, null, result.stderr)
  t.is(result.status, 0, result.stderr)
  t.deepEqual(JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}'), { before: 0 })
  t.regex(result.stderr, /atexit emit status 2\n/)
})

test.serial('a handle outliving the worker that made its hub: calls are refused no-ops, no crash', (t) => {
  const result = runNode(
    `
    const { Worker } = require('node:worker_threads')
    const entry = require.resolve('ffi-events')
    ;(async () => {
      const { ForeignLibrary } = await import(${JSON.stringify(FOREIGN_MODULE)})
      const lib = new ForeignLibrary()
      const worker = new Worker(
        \`
        const { parentPort } = require('node:worker_threads')
        const { EventHub } = require(\${JSON.stringify(entry)})
        const hub = new EventHub()
        let got = 0
        hub.on('tick', () => {
          if (++got === 100) parentPort.postMessage({ got, stats: hub.stats().delivered })
        })
        const sink = hub.nativeSink()
        parentPort.postMessage({ callback: sink.callback, userData: sink.userData })
        parentPort.on('message', () => process.exit(0))
        \`,
        { eval: true },
      )
      const messages = []
      worker.on('message', (m) => {
        messages.push(m)
        if (m.callback !== undefined) {
          lib.addEventListener('tick', m.callback, m.userData)
          lib.start('tick', { threads: 2, perThread: 0, intervalNs: 20000 })
        } else {
          worker.postMessage('exit')
        }
      })
      const code = await new Promise((resolve) => worker.on('exit', resolve))
      lib.hostClosed()
      while (lib.stat('callsAfterHostClosed') < 2000) await new Promise((r) => setTimeout(r, 2))
      lib.stop()
      lib.join()
      console.log(JSON.stringify({ code, delivered: messages[1]?.got, callsAfter: lib.stat('callsAfterHostClosed') }))
      lib.destroy()
    })().catch((e) => { console.error(e); process.exit(1) })
    `,
    60_000,
  )
  t.is(result.signal, null, result.stderr)
  t.is(result.status, 0, result.stderr)
  const out = JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}')
  t.is(out.code, 0, 'the worker exited by itself')
  t.is(out.delivered, 100, 'the worker heard the library before exiting')
  t.true(out.callsAfter >= 2000)
})

test.serial('examples/c-library builds, type-checks and runs: typed events, the library error and a reply to a request, in order', (t) => {
  const exampleDir = join(root, 'examples', 'c-library')
  const build = spawnSync(process.execPath, [join(exampleDir, 'build.mjs')], { cwd: root, encoding: 'utf8' })
  t.is(build.status, 0, build.stderr)
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(exampleDir, 'tsconfig.json')], {
    cwd: root,
    encoding: 'utf8',
  })
  t.is(tsc.status, 0, tsc.stdout + tsc.stderr)
  const run = spawnSync(process.execPath, ['--import', 'tsx', join(exampleDir, 'main.ts'), build.stdout.trim()], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  })
  t.is(run.signal, null, run.stderr)
  t.is(run.status, 0, run.stderr)
  t.deepEqual(run.stdout.trim().split('\n'), [
    'peer 1 connected from 10.0.0.1:60000',
    '#2 message from peer 1: hello from peer 1',
    'peer 2 connected from 10.0.0.2:60000',
    '#4 message from peer 2: hello from peer 2',
    'peer 3 connected from 10.0.0.3:60000',
    '#6 message from peer 3: hello from peer 3',
    'library error (ERR_NATIVE_ERROR): peer 4: handshake timed out',
    'pong 7 from a library with 3 peers',
    'sink: 7 calls, 7 accepted, 0 refused, 1 library error(s), 0 malformed',
  ])
})
