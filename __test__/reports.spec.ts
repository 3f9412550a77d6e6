import test, { type ExecutionContext } from 'ava'
import { EventHub, type EventHubError } from 'ffi-events'

import { Case, ForeignLibrary, callOnce, emitOnce, type CaseKind } from './fixtures/foreign/foreign.mjs'
import { until } from './helpers'

// What a native library says is wrong (ret != 0) reaches onError with its
// ret and the sink it came through, even while its events overflow the ring:
// reports that find the ring full take the hub's report reserve (64), and
// past that the loss is counted and announced with the last report's text.

const RESERVE = 64

function openHub(t: ExecutionContext, capacity: number): { hub: EventHub; errors: EventHubError[] } {
  const hub = new EventHub({ capacity })
  t.teardown(() => hub.close())
  const errors: EventHubError[] = []
  hub.onError((error) => errors.push(error))
  return { hub, errors }
}

function openLibrary(t: ExecutionContext): ForeignLibrary {
  const lib = new ForeignLibrary()
  t.teardown(() => lib.destroy())
  return lib
}

/** Keeps the JS thread busy (no batch is delivered) until `done()`. */
function wedgeUntil(done: () => boolean): void {
  const deadline = Date.now() + 60_000
  while (!done()) {
    if (Date.now() > deadline) throw new Error('the library threads did not finish')
  }
}

test.serial("4 library threads flood a 1,024-slot hub, then each reports ret = 1: every report reaches onError, with its ret and sink", async (t) => {
  const { hub, errors } = openHub(t, 1024)
  let events = 0
  hub.on('tick', () => events++)
  const sink = hub.nativeSink()
  const libraries = [0, 1, 2, 3].map(() => openLibrary(t))
  const flood: CaseKind[] = [...Array.from({ length: 2000 }, () => Case.envelope), Case.error]
  for (const lib of libraries) {
    lib.addEventListener('tick', sink.callback, sink.userData)
    lib.startCases('tick', flood)
  }
  // No batch reaches JS until every thread has flooded and reported.
  wedgeUntil(() => libraries.every((lib) => lib.done))
  const during = hub.stats()
  t.true(during.refused > 0, 'the ring overflowed')
  t.is(during.reportsLost, 0)
  await until(() => errors.length === 4)
  t.is(errors.length, 4)
  for (const error of errors) {
    t.is(error.code, 'ERR_NATIVE_ERROR')
    t.is(error.ret, 1)
    t.deepEqual(error.sink, { name: undefined, format: 'envelope' })
  }
  t.like(sink.stats(), { nativeErrors: 4 })
  await until(() => hub.stats().queued === 0)
  const s = hub.stats()
  t.is(s.emitted, s.delivered + s.refused + s.discarded + s.queued)
  t.is(events + 4, s.delivered - s.unheard)
})

test('a warning and a failure are told apart by ret, and a named sink names itself', async (t) => {
  const { hub, errors } = openHub(t, 1024)
  const envelope = hub.nativeSink()
  const json = hub.nativeSink({ format: 'json', name: 'status' })
  const lib = openLibrary(t)
  lib.addEventListener('tick', envelope.callback, envelope.userData)
  lib.startCases('tick', [Case.staleWarn, Case.error])
  callOnce(json.callback, -7, new TextEncoder().encode('negative status'), json.userData)
  await until(() => errors.length === 3)
  const byRet = new Map(errors.map((e) => [e.ret, e]))
  t.like(byRet.get(3), { code: 'ERR_NATIVE_ERROR', sink: { name: undefined, format: 'envelope' } })
  t.like(byRet.get(1), { code: 'ERR_NATIVE_ERROR', sink: { name: undefined, format: 'envelope' } })
  t.like(byRet.get(-7), { code: 'ERR_NATIVE_ERROR', message: 'negative status', eventName: 'status', sink: { name: 'status', format: 'json' } })
})

test('reports past the reserve are counted and announced once, with how many and the last text', async (t) => {
  const capacity = 8
  const { hub, errors } = openHub(t, capacity)
  hub.on('x', () => {})
  const sink = hub.nativeSink({ format: 'raw', name: 'x' })
  const text = (i: number) => new TextEncoder().encode(`error ${i}`)
  // All from this thread, before any batch can be delivered.
  for (let i = 0; i < capacity; i++) t.is(emitOnce(sink.emit, sink.userData, 'x', new Uint8Array([i]), 1), 0)
  const reports = RESERVE + 5
  for (let i = 0; i < reports; i++) callOnce(sink.callback, 2, text(i), sink.userData)
  const during = hub.stats()
  t.is(during.reportsLost, 5)
  t.is(during.queued, capacity + RESERVE)
  t.like(sink.stats(), { nativeErrors: reports, accepted: capacity + RESERVE, refused: 5 })
  await until(() => errors.length === RESERVE + 1)
  const native = errors.filter((e) => e.code === 'ERR_NATIVE_ERROR')
  t.deepEqual(
    native.map((e) => e.message),
    Array.from({ length: RESERVE }, (_, i) => `error ${i}`),
    'the reserved reports, in order',
  )
  const lost = errors.filter((e) => e.code === 'ERR_REPORTS_LOST')
  t.is(lost.length, 1)
  t.like(lost[0], { lost: 5, ret: 2, sink: { name: 'x', format: 'raw' } })
  t.regex(lost[0].message, /5 report\(s\).*error 68$/)
  const s = hub.stats()
  t.is(s.emitted, s.delivered + s.refused + s.discarded + s.queued)
})
