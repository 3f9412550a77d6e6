import test from 'ava'
import { EventHub, sources, type LivenessPayload } from 'ffi-events'

import { burstHeader, until } from './helpers'

/** Blocks the JS thread (no event loop turns) until `done()` or a hang guard. */
function blockUntil(done: () => boolean): void {
  const guard = Date.now() + 20_000
  while (!done() && Date.now() < guard) {
    // keep the JS thread away from the event loop
  }
}

test('a full ring rejects, counts the refusal, and conservation holds', async (t) => {
  const hub = new EventHub({ capacity: 8 })
  hub.on('x', () => {})
  const accepted: boolean[] = []
  for (let i = 0; i < 20; i++) accepted.push(hub.emit('x', i))
  t.deepEqual(accepted, [...Array(8).fill(true), ...Array(12).fill(false)])
  const before = hub.stats()
  t.like(before, { emitted: 20, refused: 12, discarded: 0, queued: 8, delivered: 0, highWater: 8 })
  await until(() => hub.stats().queued === 0)
  const after = hub.stats()
  t.is(after.emitted, after.delivered + after.refused + after.discarded + after.queued)
  await hub.close()
})

test('dropOldest keeps the newest events and counts the ones pushed out', async (t) => {
  const hub = new EventHub<{ x: number }>({ capacity: 4, overflow: 'dropOldest' })
  const got: number[] = []
  hub.on('x', (n) => got.push(n))
  for (let i = 0; i < 10; i++) t.true(hub.emit('x', i))
  await until(() => got.length === 4)
  t.deepEqual(got, [6, 7, 8, 9])
  t.like(hub.stats(), { emitted: 10, refused: 0, discarded: 6, delivered: 4, queued: 0 })
  await hub.close()
})

test('native producers on a full ring never block and the books balance after close', async (t) => {
  const hub = new EventHub({ capacity: 16 })
  let heard = 0
  hub.onRaw('load', () => heard++)
  const result = await sources.burst(hub, { name: 'load', count: 100_000, threads: 4, payloadBytes: 64, encoding: 'raw' })
  await hub.close()
  const stats = hub.stats()
  t.true(result.lost > 0)
  t.is(stats.emitted, 100_000)
  t.is(stats.refused, result.lost)
  t.is(stats.emitted, stats.delivered + stats.refused + stats.discarded + stats.queued)
  t.is(stats.queued, 0)
  t.is(heard, stats.delivered)
})

test('one not_responding and one responding per overflow episode, with the reason', async (t) => {
  const hub = new EventHub({ capacity: 4 })
  const liveness: Array<[string, LivenessPayload, number]> = []
  hub.on('not_responding', (p, meta) => liveness.push(['not_responding', p, meta.seq]))
  hub.on('responding', (p, meta) => liveness.push(['responding', p, meta.seq]))
  hub.on('x', () => {})
  for (let episode = 0; episode < 2; episode++) {
    for (let i = 0; i < 10; i++) hub.emit('x', i)
    t.true(hub.stats().stuck)
    await until(() => liveness.length === 2 * (episode + 1))
    t.false(hub.stats().stuck)
  }
  t.deepEqual(
    liveness.map(([name, p, seq]) => [name, p.reason, seq]),
    [
      ['not_responding', 'queue_full', 0],
      ['responding', 'queue_full', 0],
      ['not_responding', 'queue_full', 0],
      ['responding', 'queue_full', 0],
    ],
  )
  t.like(liveness[0][1], { queued: 4, overflowed: 1 })
  t.like(liveness[1][1], { queued: 0, overflowed: 6 })
  await hub.close()
})

test('not_responding bypasses the full ring and is delivered before the queued events', async (t) => {
  const hub = new EventHub({ capacity: 4 })
  const order: string[] = []
  hub.onAny((name) => order.push(name))
  for (let i = 0; i < 6; i++) hub.emit('x', i)
  await until(() => order.length === 6)
  t.deepEqual(order, ['not_responding', 'x', 'x', 'x', 'x', 'responding'])
  await hub.close()
})

test('a heartbeating native producer that stops triggers one stalled episode, ended by its next beat', async (t) => {
  const hub = new EventHub({ stallTimeoutMs: 50 })
  const liveness: Array<[string, string]> = []
  hub.on('not_responding', (p) => liveness.push(['not_responding', p.reason]))
  hub.on('responding', (p) => liveness.push(['responding', p.reason]))
  let ticks = 0
  hub.on('tick', () => ticks++)
  // Each ticker beats once and goes quiet. With a single beat there is no gap
  // between beats that a loaded machine could stretch past the timeout: the
  // only silence is the one after the beat, however late it comes.
  sources.ticker(hub, { name: 'tick', intervalMs: 5, count: 1, heartbeat: true })
  await until(() => ticks === 1)
  await until(() => liveness.length === 1, 20_000, 'not_responding')
  t.deepEqual(liveness, [['not_responding', 'stalled']])
  t.true(hub.stats().stuck, 'the episode lasts until the next beat')
  sources.ticker(hub, { name: 'tick', intervalMs: 5, count: 1, heartbeat: true })
  await until(() => liveness.length >= 2, 20_000, 'responding')
  t.deepEqual(liveness[1], ['responding', 'stalled'])
  // The ticker beats, then emits: its tick can land after the responding
  // event, and close() stops a source that has not emitted yet.
  await until(() => ticks === 2, 20_000, 'the second tick')
  await hub.close()
  t.is(ticks, 2)
  // The second producer goes quiet after its beat as well. When close() comes
  // later than stallTimeoutMs after that beat, the silence is a new episode,
  // begun and never ended; nothing else may follow.
  const after = liveness.slice(2)
  t.deepEqual(after, after.length === 0 ? [] : [['not_responding', 'stalled']], JSON.stringify(liveness))
})

// Serial: it wedges this worker's JS thread, which no concurrent test should share.
test.serial('a wedged JS thread: producers keep their pace, the ring holds capacity, and one episode is reported', async (t) => {
  const hub = new EventHub({ capacity: 32 })
  const liveness: string[] = []
  hub.on('not_responding', () => liveness.push('not_responding'))
  hub.on('responding', () => liveness.push('responding'))
  let heard = 0
  hub.onRaw('load', () => heard++)
  const burst = sources.burst(hub, { name: 'load', count: 5_000, threads: 2, payloadBytes: 8, encoding: 'raw' })
  // The whole burst happens while the JS thread is wedged.
  blockUntil(() => hub.stats().emitted === 5_000)
  const during = hub.stats()
  t.is(during.queued, 32)
  const result = await burst
  await until(() => liveness.length === 2)
  t.deepEqual(liveness, ['not_responding', 'responding'])
  t.is(result.emitted, 32)
  t.is(heard, 32)
  await hub.close()
})

test("a burst with onFull: 'retry' loses nothing through a small ring; 'tick' bursts carry { n, at }", async (t) => {
  const hub = new EventHub<{ b: Uint8Array; t: { n: number; at: bigint } }>({ capacity: 16 })
  const next = new Map<number, number>()
  let inOrder = true
  hub.onRaw('b', (bytes) => {
    const { thread, i } = burstHeader(bytes)
    if ((next.get(thread) ?? 0) !== i) inOrder = false
    next.set(thread, i + 1)
  })
  const result = await sources.burst(hub, { name: 'b', count: 50_000, threads: 2, payloadBytes: 8, encoding: 'raw', onFull: 'retry' })
  await until(() => hub.stats().queued === 0)
  t.is(result.emitted, 50_000)
  t.is(result.lost, 0)
  t.is(result.skipped, 0)
  t.true(inOrder, 'every producer thread in order')
  t.is([...next.values()].reduce((a, b) => a + b, 0), 50_000, 'nothing missing at the listener')
  const s = hub.stats()
  t.is(s.refused, result.retried, 'each refused attempt is counted once by the hub')
  t.is(s.discarded, 0)
  t.is(s.delivered, 50_000)
  t.is(s.emitted, s.delivered + s.refused + s.discarded + s.queued)

  const ticks: { n: number; at: bigint }[] = []
  hub.on('t', (tick) => ticks.push(tick))
  const before = process.hrtime.bigint()
  await sources.burst(hub, { name: 't', count: 100, encoding: 'tick', onFull: 'retry' })
  await until(() => ticks.length === 100)
  t.deepEqual(ticks.map((tick) => tick.n), [...Array(100).keys()])
  t.true(ticks.every((tick) => typeof tick.at === 'bigint' && tick.at >= before))
  t.throws(() => sources.burst(hub, { name: 'b', count: 1, encoding: 'raw', onFull: 'block' as 'drop' }), { instanceOf: TypeError, message: /"options\.onFull"/ })
  await hub.close()
})

test('the identities hold exactly at quiescent points under both overflow policies', async (t) => {
  for (const overflow of ['reject', 'dropOldest'] as const) {
    const hub = new EventHub<{ x: number; nobody: number; b: Uint8Array }>({ capacity: 8, overflow })
    const books = (what: string) => {
      const s = hub.stats()
      t.is(s.emitted, s.delivered + s.refused + s.discarded + s.queued, `${overflow}, ${what}: emitted === delivered + refused + discarded + queued`)
      t.true(s.unheard <= s.delivered, `${overflow}, ${what}: unheard <= delivered`)
      return s
    }
    const xSeqs: number[] = []
    hub.on('x', (_, meta) => xSeqs.push(meta.seq))
    // 20 'x' and 20 'nobody' (no listener) alternating, with no turn of the
    // event loop: the ring of 8 keeps the first 8 ('reject') or the last 8
    // ('dropOldest'), 4 of each name; seqs start at 1.
    for (let i = 0; i < 20; i++) {
      hub.emit('x', i)
      hub.emit('nobody', i)
    }
    const full = books('ring full, nothing drained')
    t.like(full, { emitted: 40, delivered: 0, unheard: 0, queued: 8, reportsLost: 0 })
    t.like(full, overflow === 'reject' ? { refused: 32, discarded: 0 } : { refused: 0, discarded: 32 })
    await until(() => xSeqs.length === 4 && hub.stats().queued === 0)
    const drained = books('drained')
    t.like(drained, { emitted: 40, delivered: 8, unheard: 4, queued: 0 })
    t.deepEqual(xSeqs, overflow === 'reject' ? [1, 3, 5, 7] : [33, 35, 37, 39])

    // A burst through the same small ring, retrying every refusal.
    const count = 20_000
    const next = new Map<number, number>()
    const bSeqs = new Set<number>()
    let inOrder = true
    hub.onRaw('b', (bytes, meta) => {
      const { thread, i } = burstHeader(bytes)
      // In order per thread; 'dropOldest' may leave gaps.
      if (i < (next.get(thread) ?? 0)) inOrder = false
      next.set(thread, i + 1)
      bSeqs.add(meta.seq)
    })
    const burst = sources.burst(hub, { name: 'b', count, threads: 2, payloadBytes: 8, encoding: 'raw', onFull: 'retry' })
    // Keep the JS thread from draining until the ring has overflowed once, so
    // that the burst meets a full ring whatever the machine's speed.
    blockUntil(() => {
      const s = hub.stats()
      return s.refused + s.discarded > drained.refused + drained.discarded
    })
    const result = await burst
    await until(() => bSeqs.size + (hub.stats().discarded - drained.discarded) === count && hub.stats().queued === 0)
    const after = books('after the burst')
    t.is(result.emitted, count)
    t.is(result.lost, 0, 'nothing lost for good')
    t.is(result.skipped, 0)
    t.true(inOrder, 'every producer thread in order')
    t.is(after.unheard, 4, 'burst events all had a listener')
    t.is(after.delivered - after.unheard, xSeqs.length + bSeqs.size, 'every delivered event that had a listener was heard')
    // Every attempt took a seq after the first 40; a seq the listener never
    // saw is a refused attempt ('reject') or a discarded event ('dropOldest').
    const burstSeqs = after.emitted - 40
    t.true([...bSeqs].every((seq) => seq > 40 && seq <= after.emitted))
    if (overflow === 'reject') {
      t.true(after.refused > drained.refused, 'the burst met a full ring')
      t.is(after.refused - drained.refused, result.retried, 'each refused attempt counted once')
      t.is(after.discarded, 0)
      t.is(bSeqs.size, count, 'every event delivered')
      t.is([...next.values()].reduce((a, b) => a + b, 0), count, 'every index of every thread heard')
      t.is(burstSeqs, count + result.retried)
    } else {
      t.is(after.refused, 0, "'dropOldest' refuses nothing")
      t.is(result.retried, 0)
      t.true(after.discarded > drained.discarded, 'the burst overflowed the ring')
      t.is(burstSeqs, count)
      t.is(count - bSeqs.size, after.discarded - drained.discarded, 'the seqs never seen are the discarded events')
    }
    await hub.close()
    const closed = books('after close()')
    t.like(closed, { queued: 0, runningThreads: 0, reportsLost: 0 })
  }
})
