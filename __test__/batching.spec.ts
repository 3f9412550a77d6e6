import test from 'ava'
import { EventHub, sources } from 'ffi-events'

import { until } from './helpers'

test('a synchronous burst of emits costs one wake-up and one batch', async (t) => {
  const hub = new EventHub({ capacity: 4096 })
  let heard = 0
  hub.on('x', () => heard++)
  for (let i = 0; i < 1000; i++) hub.emit('x', i)
  await until(() => heard === 1000)
  t.like(hub.stats(), { wakeups: 1, batches: 1, delivered: 1000 })
  await hub.close()
})

test('native bursts on four threads are delivered in far fewer batches than events', async (t) => {
  const hub = new EventHub({ capacity: 1 << 16 })
  let heard = 0
  hub.onRaw('load', () => heard++)
  await sources.burst(hub, { name: 'load', count: 200_000, threads: 4, payloadBytes: 64, encoding: 'raw' })
  await until(() => hub.stats().queued === 0)
  const stats = hub.stats()
  t.is(heard, stats.delivered)
  // Wake-ups happen only on an idle-to-busy transition, batches are whole drains.
  t.true(stats.wakeups <= stats.batches, `${stats.wakeups} wake-ups, ${stats.batches} batches`)
  t.true(stats.batches * 10 <= stats.delivered, `${stats.batches} batches for ${stats.delivered} events`)
  await hub.close()
})

test('a backlog larger than one batch is delivered across several batches without loss', async (t) => {
  const hub = new EventHub({ capacity: 10_000, maxBatchEvents: 100 })
  const seqs: number[] = []
  hub.on('x', (_p, meta) => seqs.push(meta.seq))
  for (let i = 0; i < 10_000; i++) hub.emit('x', i)
  await until(() => seqs.length === 10_000)
  t.deepEqual(seqs, Array.from({ length: 10_000 }, (_, i) => i + 1))
  t.is(hub.stats().batches, 100)
  t.is(hub.stats().wakeups, 1)
  await hub.close()
})

test('events nobody listens to never cross into JS: they count as delivered and unheard', async (t) => {
  const hub = new EventHub({ capacity: 4096 })
  t.teardown(() => hub.close())
  const heard: number[] = []
  hub.on('heard', (n: unknown) => heard.push(n as number))
  const raw = hub.onRaw('raw only', () => heard.push(-1))
  for (let i = 0; i < 100; i++) {
    hub.emit('heard', i)
    hub.emit('nobody', i)
    hub.emitRaw('raw only', new Uint8Array(1))
  }
  await until(() => hub.stats().queued === 0 && heard.length === 200)
  let stats = hub.stats()
  t.is(stats.unheard, 100)
  t.is(stats.delivered, 300)
  t.is(stats.emitted, stats.delivered + stats.refused + stats.discarded + stats.queued)
  // Once an onAny listener exists, every name is heard.
  hub.off(raw)
  const any: string[] = []
  hub.onAny((name) => any.push(name))
  hub.emit('nobody', 1)
  hub.emitRaw('raw only', new Uint8Array(1))
  await until(() => any.length === 2)
  stats = hub.stats()
  t.deepEqual(any, ['nobody', 'raw only'])
  t.is(stats.unheard, 100)
  t.is(stats.emitted, stats.delivered + stats.refused + stats.discarded + stats.queued)
})

test('an event is heard by the listeners its name had when its batch was drained, and by those added before its turn', async (t) => {
  const hub = new EventHub({ capacity: 64 })
  t.teardown(() => hub.close())
  const heard: string[] = []
  hub.on('a', () => {
    heard.push('a')
    // 'b' had a listener at drain time: one added now is called for it too.
    hub.on('b', () => heard.push('b, added during a'))
    // 'c' had none: its event was left out of the batch, counted as unheard.
    hub.on('c', () => heard.push('c, added during a'))
  })
  hub.on('b', () => heard.push('b'))
  hub.emit('a', 1)
  hub.emit('b', 2)
  hub.emit('c', 3)
  await until(() => hub.stats().queued === 0 && heard.length === 3)
  t.deepEqual(heard, ['a', 'b', 'b, added during a'])
  t.like(hub.stats(), { delivered: 3, unheard: 1, batches: 1 })
})

test('every event keeps its own name across batches whose names change, repeat, reorder or differ in a byte (seeded)', async (t) => {
  // The batch reader reuses the last batch's name strings while the names'
  // bytes are the same: this breaks if it reuses one whose bytes differ.
  const SEED = Number(process.env.FFI_EVENTS_SEED ?? 20261203)
  let state = SEED >>> 0
  const rand = (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let x = Math.imul(state ^ (state >>> 15), 1 | state)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
  // Pairs of names of the same length and first byte, which differ later.
  const twins = new Map<string, string>()
  for (const [a, b] of [['ab', 'aa'], ['é', 'è'], ['e\u0301', 'e\u0300'], ['日本', '日付'], ['x'.repeat(200), `${'x'.repeat(199)}y`], ['tick', 'tock']]) {
    twins.set(a, b).set(b, a)
  }
  const pool = [...twins.keys(), 'a', 'b']
  const pick = (): string => pool[Math.floor(rand() * pool.length)]
  const hub = new EventHub({ capacity: 4096 })
  const heard: string[] = []
  hub.onAny((name, _payload, meta) => heard.push(`${name}|${meta.name}`))
  let names: string[] = []
  let twinRounds = 0
  for (let round = 0; round < 400; round++) {
    const kind = names.length === 0 ? 2 : Math.floor(rand() * 3)
    if (kind === 0) {
      // The last batch's names again.
    } else if (kind === 1 && names.some((name) => twins.has(name))) {
      // The last batch's names with one replaced by its twin.
      const at = names.findIndex((name, i) => twins.has(name) && (i === names.length - 1 || rand() < 0.5))
      names = names.map((name, i) => (i === at ? (twins.get(name) as string) : name))
      twinRounds++
    } else {
      names = Array.from({ length: 1 + Math.floor(rand() * 6) }, pick)
    }
    heard.length = 0
    for (const name of names) hub.emitRaw(name, new Uint8Array([round & 0xff]))
    await until(() => heard.length === names.length)
    t.deepEqual(heard, names.map((name) => `${name}|${name}`), `seed ${SEED}, round ${round}`)
  }
  t.true(twinRounds > 50, `seed ${SEED}: ${twinRounds} rounds changed one name for its twin`)
  // 'é' is the bytes c3 a9, the code units of 'Ã©': a batch of 'é' after a
  // batch of 'Ã©' (and back) must not reuse the other's string.
  for (const name of ['Ã©', 'é', 'Ã©', 'tick', 'é']) {
    heard.length = 0
    hub.emitRaw(name, new Uint8Array(0))
    await until(() => heard.length === 1)
    t.deepEqual(heard, [`${name}|${name}`])
  }
  await hub.close()
})
