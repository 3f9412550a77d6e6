import test from 'ava'
import { EventHub, sources } from 'ffi-events'

import { burstHeader, until } from './helpers'

test('events from each native producer thread arrive in emit order with unique, increasing seqs', async (t) => {
  // Room for the whole burst, so every thread is heard in full.
  const hub = new EventHub({ capacity: 1 << 18 })
  const lastIndex = new Map<number, number>()
  const seqs = new Set<number>()
  let outOfOrder = 0
  const lastSeqPerThread = new Map<number, number>()
  hub.onRaw('load', (bytes, meta) => {
    const { thread, i } = burstHeader(bytes)
    if ((lastIndex.get(thread) ?? -1) >= i) outOfOrder++
    if ((lastSeqPerThread.get(thread) ?? 0) >= meta.seq) outOfOrder++
    lastIndex.set(thread, i)
    lastSeqPerThread.set(thread, meta.seq)
    seqs.add(meta.seq)
  })
  const result = await sources.burst(hub, { name: 'load', count: 200_000, threads: 4, payloadBytes: 16, encoding: 'raw' })
  await until(() => hub.stats().queued === 0)
  await hub.close()
  const stats = hub.stats()
  t.is(outOfOrder, 0)
  t.is(seqs.size, stats.delivered, 'every delivered seq is unique')
  t.is(result.emitted, 200_000)
  t.like(stats, { emitted: 200_000, delivered: 200_000, refused: 0, discarded: 0 })
  t.deepEqual([...lastIndex.entries()].sort(), [[0, 49_999], [1, 49_999], [2, 49_999], [3, 49_999]])
})

test('seqs missing at a listener that hears everything are exactly the refused events', async (t) => {
  const hub = new EventHub({ capacity: 64 })
  const seen: number[] = []
  hub.onRaw('load', (_b, meta) => seen.push(meta.seq))
  const result = await sources.burst(hub, { name: 'load', count: 50_000, threads: 4, payloadBytes: 8, encoding: 'raw' })
  await until(() => hub.stats().queued === 0)
  await hub.close()
  const stats = hub.stats()
  t.true(stats.refused > 0, 'the small ring overflowed')
  t.is(stats.refused, result.lost)
  t.is(stats.discarded, 0)
  const seenSet = new Set(seen)
  let missing = 0
  for (let seq = 1; seq <= stats.emitted; seq++) if (!seenSet.has(seq)) missing++
  t.is(missing, stats.refused)
  t.is(seen.length, stats.delivered)
})
