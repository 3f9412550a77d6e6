// Case 6: close() under fire. 4 native producers emit at full speed; close()
// resolves, every event accepted before it is delivered, every emit after
// it is refused with Closed, and no event is delivered twice.
import { Check, EventHub, SeqSet, fmt, sleep, sources, until } from '../lib.mjs'

const THREADS = 4

export async function run({ reduced }) {
  const check = new Check()
  const rounds = reduced ? 3 : 20
  const count = 200_000_000 // never finishes: close() stops it
  let acceptedTotal = 0
  let skippedTotal = 0
  let deliveredTotal = 0
  let closeMsMax = 0
  for (let round = 0; round < rounds; round++) {
    const hub = new EventHub({ capacity: 1 << 14, stallTimeoutMs: 0 })
    const seen = new SeqSet(count)
    hub.onRaw('e', (_bytes, meta) => {
      seen.add(meta.seq)
    })
    const burst = sources.burst(hub, { name: 'e', count, threads: THREADS, payloadBytes: 16, encoding: 'raw' })
    await until(() => hub.stats().delivered >= 10_000 * (round + 1), 'first deliveries')
    if (round % 2) await sleep(round)
    const t = performance.now()
    await hub.close()
    const closeMs = performance.now() - t
    closeMsMax = Math.max(closeMsMax, closeMs)
    const s = hub.stats()
    const result = await burst
    let jsEmit = 'accepted'
    try {
      hub.emit('e', 1)
    } catch (error) {
      jsEmit = error?.code ?? String(error)
    }
    await sleep(20)
    const later = hub.stats()
    const tag = `round ${round + 1}`
    check.eq(result.emitted, seen.size, `${tag}: accepted == delivered to the listener`)
    check.eq(s.delivered, result.emitted, `${tag}: stats.delivered == accepted`)
    check.eq(seen.duplicates, 0, `${tag}: events delivered twice`)
    check.eq(s.emitted, s.delivered + s.refused + s.discarded + s.queued, `${tag}: emitted == delivered + refused + discarded + queued`)
    check.eq(s.discarded, 0, `${tag}: discarded`)
    check.eq(s.refused, result.lost, `${tag}: hub refused == burst lost`)
    check.eq(s.emitted, result.emitted + result.lost, `${tag}: seqs taken == accepted + lost`)
    check.eq(result.emitted + result.lost + result.skipped, count, `${tag}: burst accounted for every event`)
    check.that(result.skipped > 0, `${tag}: the burst was not cut short by close()`)
    check.eq(later.emitted, s.emitted, `${tag}: seqs taken after close() resolved`)
    check.eq(s.runningThreads, 0, `${tag}: producer threads after close()`)
    check.eq(jsEmit, 'ERR_HUB_CLOSED', `${tag}: emit() after close()`)
    acceptedTotal += result.emitted
    skippedTotal += result.skipped
    deliveredTotal += seen.size
  }
  return {
    figures: { rounds, accepted: acceptedTotal, delivered: deliveredTotal, closeMsMax: Math.round(closeMsMax) },
    line: `${rounds} closes under ${THREADS} producers: ${fmt(acceptedTotal)} accepted = ${fmt(deliveredTotal)} delivered, 0 twice, every later emit Closed (${fmt(skippedTotal)} native emits refused or not attempted), close() resolved in <= ${Math.round(closeMsMax)} ms`,
    violations: check.violations,
  }
}
