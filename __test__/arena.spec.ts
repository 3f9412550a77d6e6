import test from 'ava'
import { EventHub } from 'ffi-events'

import { until } from './helpers'
import { Random, seedFromEnv } from './random'

// The hub drains a batch into the buffer of the one before when nothing
// outside the hub got a view of that one (lib/hub.ts, `#recycle`). The
// promise under test: what a listener was given (an `onRaw` view, an
// `onRawSpan` buffer, a decoded value with its byte strings) stays as it was
// while later batches are written, whatever mix of batches, sizes and
// listeners came before. Rounds are delivered one batch at a time (each
// awaited), most of them CBOR only, whose buffers are reused; a payload of
// tens of kilobytes now and then makes a batch outgrow the reused buffer or
// the largest one the hub keeps.

const ROUNDS = 300
const SEED = seedFromEnv()
const REPLAY = `seed ${SEED} (replay: FFI_EVENTS_SEED=${SEED} npx ava __test__/arena.spec.ts)`

type Events = {
  c: { k: number; s: string; b: Uint8Array }
  r: Uint8Array
  s: Uint8Array
}

test('what listeners were given stays unchanged while later batches reuse the buffer (seeded)', async (t) => {
  t.log(REPLAY)
  const random = new Random(SEED)
  const hub = new EventHub<Events>()
  // What listeners kept, by name, in delivery order; and what was emitted.
  const views: Uint8Array[] = []
  const spans: Array<{ bytes: Uint8Array; start: number; end: number }> = []
  const values: Array<Events['c']> = []
  const expected = { r: [] as Uint8Array[], s: [] as Uint8Array[], c: [] as Array<Events['c']> }
  hub.onRaw('r', (view) => views.push(view))
  hub.onRawSpan('s', (bytes, start, end) => spans.push({ bytes, start, end }))
  hub.on('c', (value) => values.push(value))
  const payloadBytes = (): number => (random.chance(0.03) ? random.int(20_000, 90_000) : random.int(0, 120))
  const bytesOf = (n: number): Uint8Array => Uint8Array.from(random.bytes(n))
  const rounds = { c: 0, cr: 0, cs: 0, crs: 0 }
  for (let round = 0; round < ROUNDS; round++) {
    // Most rounds are CBOR only: their buffers are drained into again. The
    // others also carry events whose listeners get views of the batch, of
    // one kind or both.
    const mix = random.chance(0.55) ? 'c' : random.pick(['cr', 'cs', 'crs'] as const)
    rounds[mix]++
    const names = [...mix] as Array<keyof Events>
    const count = random.int(1, 40)
    const before = views.length + spans.length + values.length
    for (let i = 0; i < count; i++) {
      const name = random.pick(names)
      const n = payloadBytes()
      if (name === 'c') {
        const value = { k: random.int(0, 2 ** 31), s: 'x'.repeat(random.int(0, 30)), b: bytesOf(n) }
        expected.c.push(value)
        t.true(hub.emit('c', value))
      } else {
        const bytes = bytesOf(n)
        expected[name].push(bytes)
        t.true(hub.emitRaw(name, bytes))
      }
    }
    await until(() => views.length + spans.length + values.length === before + count, 20_000, `round ${round}`)
  }
  t.log(`rounds by mix: ${JSON.stringify(rounds)}`)
  t.is(views.length, expected.r.length)
  t.is(spans.length, expected.s.length)
  t.is(values.length, expected.c.length)
  for (const [i, view] of views.entries()) t.deepEqual([...view], [...expected.r[i]], `onRaw view ${i}`)
  for (const [i, { bytes, start, end }] of spans.entries()) {
    t.deepEqual([...bytes.subarray(start, end)], [...expected.s[i]], `onRawSpan span ${i}`)
  }
  for (const [i, got] of values.entries()) {
    const want = expected.c[i]
    t.is(got.k, want.k, `value ${i}`)
    t.is(got.s, want.s, `value ${i}`)
    t.deepEqual([...got.b], [...want.b], `byte string of value ${i}`)
  }
  await hub.close()
})
