import test from 'ava'
import { Encoder } from 'cbor-x'
import { EventHub, EventHubError, sources } from 'ffi-events'

import { until } from './helpers'

type Events = {
  tick: { n: number; at: bigint }
  blob: { data: Uint8Array }
  frame: Uint8Array
  bad: unknown
}

test('a CBOR-lane event is decoded once and the same payload reaches every listener', async (t) => {
  const hub = new EventHub<Events>()
  const payloads: unknown[] = []
  const metas: unknown[] = []
  for (let i = 0; i < 3; i++) hub.on('tick', (p, meta) => (payloads.push(p), metas.push(meta)))
  hub.onAny((_name, p) => payloads.push(p))
  sources.ticker(hub, { name: 'tick', intervalMs: 0, count: 1 })
  await until(() => payloads.length === 4)
  t.true(payloads.every((p) => p === payloads[0]), 'one decoded object, shared')
  const tick = payloads[0] as Events['tick']
  t.is(tick.n, 0)
  t.is(typeof tick.at, 'bigint')
  t.like(metas[0] as object, { name: 'tick', lane: 'cbor', seq: 1 })
  await hub.close()
})

test('onRaw gets the envelope bytes of a CBOR-lane event unchanged', async (t) => {
  const hub = new EventHub<Events>()
  const raws: Uint8Array[] = []
  hub.onRaw('tick', (bytes) => raws.push(bytes))
  hub.onRaw('tick', (bytes) => raws.push(bytes))
  hub.emit('tick', { n: 5, at: 9n })
  await until(() => raws.length === 2)
  t.is(raws[0], raws[1], 'encoded once: both listeners get the same bytes')
  const expected = new Encoder({ useRecords: false, variableMapSize: true }).encode({ n: 5, at: 9n })
  // map(2) "eventType" "tick" "payload" <payload>
  const header = Buffer.from([0xa2, 0x69, ...Buffer.from('eventType'), 0x64, ...Buffer.from('tick'), 0x67, ...Buffer.from('payload')])
  t.deepEqual(Buffer.from(raws[0]), Buffer.concat([header, expected]))
  await hub.close()
})

test('raw-lane listeners of every kind get the exact bytes, and an empty payload is a zero-length Uint8Array', async (t) => {
  const hub = new EventHub<Events>()
  const got: Array<[string, unknown, string]> = []
  hub.on('frame', (p, meta) => got.push(['on', p, meta.lane]))
  hub.onRaw('frame', (p, meta) => got.push(['raw', p, meta.lane]))
  hub.onAny((_n, p, meta) => got.push(['any', p, meta.lane]))
  hub.emitRaw('frame', new Uint8Array([1, 2, 255]))
  hub.emitRaw('frame', new Uint8Array(0))
  await until(() => got.length === 6)
  for (const [kind, payload, lane] of got) {
    t.true(payload instanceof Uint8Array, kind)
    t.is(lane, 'raw')
  }
  t.deepEqual([...(got[0][1] as Uint8Array)], [1, 2, 255])
  t.is((got[3][1] as Uint8Array).length, 0)
  t.not(got[3][1], null)
  await hub.close()
})

test('native raw events with an empty payload arrive as zero-length Uint8Arrays', async (t) => {
  const hub = new EventHub()
  const got: Uint8Array[] = []
  hub.on('empty', (p) => got.push(p as Uint8Array))
  await sources.burst(hub, { name: 'empty', count: 10, payloadBytes: 0, encoding: 'raw' })
  await until(() => got.length === 10)
  t.true(got.every((p) => p instanceof Uint8Array && p.length === 0))
  await hub.close()
})

test('a CBOR-lane event that does not decode reaches no on listener and reports an EventHubError', async (t) => {
  const hub = new EventHub<Events>()
  const decoded: unknown[] = []
  const raw: Uint8Array[] = []
  const errors: EventHubError[] = []
  hub.on('bad', (p) => decoded.push(p))
  hub.onAny((_n, p) => decoded.push(p))
  hub.onRaw('bad', (b) => raw.push(b))
  hub.onError((e) => errors.push(e))
  t.true(hub.emitCbor('bad', new Uint8Array([0xff])))
  t.true(hub.emitCbor('bad', new Uint8Array([0xa2])))
  t.true(hub.emitCbor('bad', new Uint8Array([0x01, 0x02])))
  t.true(hub.emitCbor('bad', new Uint8Array([0x05])))
  await until(() => hub.stats().delivered === 4)
  t.deepEqual(decoded, [5, 5], 'only the valid event reached decoding listeners')
  t.is(raw.length, 4, 'raw listeners still get the bytes')
  t.is(errors.length, 3)
  for (const [i, error] of errors.entries()) {
    t.true(error instanceof EventHubError)
    t.is(error.code, 'ERR_EVENT_DECODE')
    t.is(error.eventName, 'bad')
    t.is(error.seq, i + 1)
    t.truthy(error.cause)
  }
  t.is(hub.stats().decodeErrors, 3)
  await hub.close()
})

test('what a listener receives stays valid and unchanged after later batches', async (t) => {
  const hub = new EventHub<Events>()
  const kept: Array<{ raw: Uint8Array; blob: Uint8Array; copy: number[] }> = []
  let raw: Uint8Array | undefined
  hub.onRaw('blob', (bytes) => (raw = bytes))
  hub.on('blob', (p) => {
    kept.push({ raw: raw as Uint8Array, blob: p.data, copy: [...(raw as Uint8Array)] })
  })
  for (let round = 0; round < 20; round++) {
    hub.emit('blob', { data: new Uint8Array(32).fill(round) })
    await until(() => kept.length === round + 1)
  }
  t.true(hub.stats().batches >= 20, 'one batch per round')
  for (const [round, { raw: bytes, blob, copy }] of kept.entries()) {
    t.deepEqual([...bytes], copy, `raw bytes of round ${round} unchanged`)
    t.true(blob.every((b) => b === round), `decoded bytes of round ${round} unchanged`)
    t.not(blob.buffer, bytes.buffer, 'decoded byte strings are copies, not views of the batch')
  }
  await hub.close()
})

test('a batch decodes its CBOR run in one call, yet a value that fails to decode costs only its own event', async (t) => {
  const hub = new EventHub<{ v: unknown }>()
  const got: unknown[] = []
  const errors: EventHubError[] = []
  hub.on('v', (p) => got.push(p))
  hub.onError((e) => errors.push(e))
  // Well-formed CBOR that cbor-x refuses to decode: tag 258 (a set) around a number.
  const undecodable = new Uint8Array([0xd9, 0x01, 0x02, 0x01])
  hub.emit('v', 1)
  hub.emit('v', [2, 'two'])
  t.true(hub.emitCbor('v', undecodable))
  hub.emit('v', { three: 3 })
  t.true(hub.emitCbor('v', undecodable))
  hub.emit('v', 4)
  await until(() => got.length === 4 && errors.length === 2)
  t.deepEqual(got, [1, [2, 'two'], { three: 3 }, 4])
  t.deepEqual(
    errors.map((e) => [e.code, e.seq]),
    [
      ['ERR_EVENT_DECODE', 3],
      ['ERR_EVENT_DECODE', 5],
    ],
  )
  t.is(hub.stats().decodeErrors, 2)
  t.is(hub.stats().batches, 1, 'all six in one batch, so the failures were inside one decoded run')
  await hub.close()
})

test('a listener may decode CBOR itself while its batch is being dispatched', async (t) => {
  const { decode, encode } = await import('cbor-x')
  const hub = new EventHub<{ v: { n: number } }>()
  const got: Array<[number, unknown]> = []
  hub.on('v', (p) => got.push([p.n, decode(encode({ inner: p.n }))]))
  for (let n = 0; n < 5; n++) hub.emit('v', { n })
  await until(() => got.length === 5)
  t.deepEqual(
    got,
    [0, 1, 2, 3, 4].map((n) => [n, { inner: n }]),
  )
  await hub.close()
})

test('meta is made only for listeners that declare it or take rest arguments', async (t) => {
  const hub = new EventHub<{ v: number }>()
  const seen: unknown[] = []
  hub.on('v', function (this: unknown, _p: number) {
    // eslint-disable-next-line prefer-rest-params
    seen.push(['one parameter', arguments[1]])
  })
  hub.on('v', (_p, meta) => seen.push(['two parameters', meta.seq, meta.lane]))
  hub.on('v', (...args: unknown[]) => seen.push(['rest', (args[1] as { seq: number }).seq]))
  hub.onAny((_name, _p, meta) => seen.push(['any', meta.seq]))
  hub.emit('v', 1)
  await until(() => seen.length === 4)
  t.deepEqual(seen, [
    ['one parameter', undefined],
    ['two parameters', 1, 'cbor'],
    ['rest', 1],
    ['any', 1],
  ])
  await hub.close()
})

test('onRaw of a CBOR-lane event gets the envelope, byte for byte as Rust encodes it', async (t) => {
  const hub = new EventHub<{ tick: { n: number }; [name: string]: unknown }>()
  const raws: Uint8Array[] = []
  const long = 'n'.repeat(200)
  hub.onRaw('tick', (b) => raws.push(b))
  hub.onRaw(long, (b) => raws.push(b))
  hub.emit('tick', { n: 1 })
  hub.emit(long, 7)
  await until(() => raws.length === 2)
  const { decode } = await import('cbor-x')
  t.deepEqual(decode(raws[0]), { eventType: 'tick', payload: { n: 1 } })
  t.deepEqual(decode(raws[1]), { eventType: long, payload: 7 })
  t.is(raws[1][11], 0x78, 'a name of 24 bytes or more has a one-byte length')
  await hub.close()
})

test('onRawSpan gets the batch bytes and each event span: the raw bytes, the CBOR payload item; meta as onRaw', async (t) => {
  const hub = new EventHub<Events>()
  const spans: Array<[Uint8Array, number, number, string]> = []
  const views: Uint8Array[] = []
  hub.onRawSpan('frame', (bytes, start, end, meta) => spans.push([bytes, start, end, meta.lane]))
  hub.onRaw('frame', (bytes) => views.push(bytes))
  hub.onRawSpan('tick', (bytes, start, end, meta) => spans.push([bytes, start, end, meta.lane]))
  hub.emitRaw('frame', new Uint8Array([1, 2, 255]))
  hub.emitRaw('frame', new Uint8Array(0))
  hub.emit('tick', { n: 5, at: 9n })
  await until(() => spans.length === 3)
  const [a, b, c] = spans
  t.deepEqual([...a[0].subarray(a[1], a[2])], [1, 2, 255])
  t.is(a[3], 'raw')
  t.is(b[2] - b[1], 0, 'an empty payload is an empty span')
  t.deepEqual(Buffer.from(a[0].subarray(a[1], a[2])), Buffer.from(views[0]), 'the same bytes onRaw gets')
  const expected = new Encoder({ useRecords: false, variableMapSize: true }).encode({ n: 5, at: 9n })
  t.deepEqual(Buffer.from(c[0].subarray(c[1], c[2])), Buffer.from(expected), 'the CBOR payload item, not the envelope')
  t.is(c[3], 'cbor')
  t.is(a[0], c[0], 'one batch: one bytes object for every span')
  await hub.close()
})

test('onRawSpan listeners are removed by off and counted by listenerCount, and still get an event whose payload fails to decode', async (t) => {
  const hub = new EventHub<Events>()
  const span = (_bytes: Uint8Array, start: number, end: number) => got.push(end - start)
  const got: number[] = []
  const errors: unknown[] = []
  hub.onError((e) => errors.push(e))
  hub.on('bad', () => got.push(-1))
  hub.onRawSpan('bad', span)
  t.is(hub.listenerCount('bad', span), 1)
  hub.emitCbor('bad', new Uint8Array([0x1c]))
  await until(() => got.length === 1 && errors.length === 1)
  t.deepEqual(got, [1])
  t.true(hub.off('bad', span))
  t.is(hub.listenerCount('bad'), 1)
  await hub.close()
})
