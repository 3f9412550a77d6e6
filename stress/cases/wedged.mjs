// Case 3: a wedged JS thread. The main thread busy-loops for 2 s while 4
// native producers emit at full speed and finish. Producers never block (they
// complete every emit while the consumer is wedged), the ring holds exactly
// its capacity, and once the thread is back exactly one not_responding
// (queue_full, queued == capacity) arrives, then exactly one responding
// after the drain. Producers finish while the thread is blocked, so no later
// episode can start and the counts are exact.
import { Check, EventHub, fmt, rate, sources, until } from '../lib.mjs'

const THREADS = 4

export async function run({ reduced }) {
  const check = new Check()
  const capacity = 4096
  const count = reduced ? 400_000 : 4_000_000
  const blockMs = reduced ? 300 : 2_000
  const hub = new EventHub({ capacity, stallTimeoutMs: 0 })
  let delivered = 0
  hub.onRaw('e', () => {
    delivered++
  })
  const liveness = []
  const onLiveness = (name) => (payload, meta) => liveness.push({ name, seq: meta.seq, ...payload, atDelivered: delivered })
  hub.on('not_responding', onLiveness('not_responding'))
  hub.on('responding', onLiveness('responding'))

  const burst = sources.burst(hub, { name: 'e', count, threads: THREADS, payloadBytes: 16, encoding: 'raw', measureLatency: true })
  // Wedge the JS thread: no event-loop turn until both the 2 s are over and
  // every producer is done (stats() is a plain native call, safe to poll).
  const t0 = performance.now()
  let producersDoneMs = -1
  let polls = 0
  let queuedAtEnd = -1
  for (;;) {
    const now = performance.now()
    if (producersDoneMs < 0 && (polls++ & 1023) === 0) {
      if (hub.stats().emitted === count) producersDoneMs = now - t0
    }
    if (now - t0 >= blockMs && producersDoneMs >= 0) break
    if (now - t0 > 120_000) break // hang guard
  }
  const blockedMs = performance.now() - t0
  const during = hub.stats()
  queuedAtEnd = during.queued
  check.that(producersDoneMs >= 0, 'producers did not finish while the JS thread was blocked (they block?)')
  check.eq(during.emitted, count, 'emits completed while wedged')
  check.eq(during.queued, capacity, 'ring holds its capacity while wedged')
  check.eq(during.delivered, 0, 'nothing delivered while wedged')
  check.eq(during.refused, count - capacity, 'refused while wedged')
  check.eq(during.discarded, 0, 'discarded while wedged')
  check.eq(during.emitted, during.delivered + during.refused + during.discarded + during.queued, 'emitted == delivered + refused + discarded + queued while wedged')
  check.that(during.stuck, 'hub reports stuck while wedged')

  const result = await burst
  await until(() => liveness.some((l) => l.name === 'responding'), 'responding after the drain', 60_000)
  // Give a straggling duplicate every chance to show up.
  await new Promise((resolve) => setTimeout(resolve, 50))
  const after = hub.stats()
  await hub.close()
  const nr = liveness.filter((l) => l.name === 'not_responding')
  const r = liveness.filter((l) => l.name === 'responding')
  check.eq(nr.length, 1, 'not_responding events')
  check.eq(r.length, 1, 'responding events')
  check.that(liveness[0]?.name === 'not_responding', 'not_responding comes first')
  check.eq(nr[0]?.reason, 'queue_full', 'not_responding reason')
  check.eq(nr[0]?.queued, capacity, 'not_responding.queued')
  check.eq(nr[0]?.seq, 0, 'not_responding meta.seq')
  check.eq(nr[0]?.atDelivered, 0, 'not_responding arrives before the backlog')
  check.eq(r[0]?.reason, 'queue_full', 'responding reason')
  check.eq(r[0]?.atDelivered, capacity, 'responding arrives after the whole backlog')
  check.eq(r[0]?.overflowed, count - capacity, 'responding.overflowed')
  check.eq(after.delivered, capacity, 'delivered after the wedge')
  check.eq(after.emitted, after.delivered + after.refused + after.discarded + after.queued, 'emitted == delivered + refused + discarded + queued')
  check.eq(after.queued, 0, 'queued after the drain')
  check.eq(result.emitted, capacity, 'burst accepted')
  check.eq(result.lost, count - capacity, 'burst lost')
  check.that(!after.stuck, 'hub still stuck after the drain')
  return {
    figures: { count, capacity, maxEmitNs: result.maxEmitNs, blockedMs: Math.round(blockedMs), producersDoneMs: Math.round(producersDoneMs), queuedAtEnd, highWater: after.highWater, refused: after.refused, notResponding: nr.length, responding: r.length },
    line: `JS blocked ${Math.round(blockedMs)} ms; ${THREADS} producers finished ${fmt(count)} emits ${Math.round(producersDoneMs)} ms into the block (${rate(count, producersDoneMs)}, slowest single emit ${fmt(Math.round(result.maxEmitNs / 1000))} µs, none blocked); ring held ${fmt(queuedAtEnd)}/${fmt(capacity)}; refused ${fmt(after.refused)}; not_responding ${nr.length}, responding ${r.length}`,
    violations: check.violations,
  }
}
