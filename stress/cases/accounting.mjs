// Case 1: accounting under load. 4 native producers emit into a hub whose
// listener is deliberately slow, so the ring overflows. At the end:
// emitted == delivered + refused + discarded + queued, every delivered seq is
// unique, per-producer order holds, and the seqs the listener never saw are
// exactly the refused ('reject') or the discarded ('dropOldest') events.
import { Check, EventHub, SeqSet, fmt, rate, rawHeader, sources } from '../lib.mjs'

const THREADS = 4

async function one(overflow, count, spin, check) {
  const hub = new EventHub({ capacity: 1024, overflow, stallTimeoutMs: 0 })
  const seen = new SeqSet(count)
  const lastIndex = new Float64Array(THREADS).fill(-1)
  let orderBreaks = 0
  let badHeader = 0
  let sink = 0
  let delivered = 0
  hub.onRaw('e', (bytes, meta) => {
    delivered++
    seen.add(meta.seq)
    const { thread, i } = rawHeader(bytes)
    if (thread < 0 || thread >= THREADS) badHeader++
    else if (i <= lastIndex[thread]) orderBreaks++
    else lastIndex[thread] = i
    // The deliberately slow part.
    for (let k = 0; k < spin; k++) sink = (sink * 31 + k) | 0
  })
  const liveness = []
  hub.on('not_responding', (p) => liveness.push(['not_responding', p.reason]))
  hub.on('responding', (p) => liveness.push(['responding', p.reason]))
  const started = performance.now()
  const result = await sources.burst(hub, { name: 'e', count, threads: THREADS, payloadBytes: 16, encoding: 'raw' })
  const producedMs = performance.now() - started
  await hub.close()
  const ms = performance.now() - started
  const s = hub.stats()
  const tag = `[${overflow}]`
  check.eq(s.emitted, count, `${tag} emitted`)
  check.eq(s.emitted, s.delivered + s.refused + s.discarded + s.queued, `${tag} emitted == delivered + refused + discarded + queued`)
  check.eq(s.queued, 0, `${tag} queued after close`)
  check.that(s.unheard <= s.delivered, `${tag} unheard <= delivered`)
  check.eq(delivered, s.delivered, `${tag} listener calls == stats.delivered`)
  check.eq(seen.duplicates, 0, `${tag} duplicate seqs`)
  check.eq(seen.outOfRange, 0, `${tag} seqs outside 1..emitted`)
  check.eq(orderBreaks, 0, `${tag} per-producer order breaks`)
  check.eq(badHeader, 0, `${tag} payloads with a bad header`)
  const missing = seen.missing(s.emitted)
  // What each policy loses: refused offers ('reject'), discarded events ('dropOldest').
  const lost = overflow === 'reject' ? s.refused : s.discarded
  const word = overflow === 'reject' ? 'refused' : 'discarded'
  check.eq(missing, lost, `${tag} seq gaps seen by the listener == ${word}`)
  check.that(lost > 0, `${tag} the slow listener forced no loss (${word} == 0)`)
  if (overflow === 'reject') {
    check.eq(s.discarded, 0, `${tag} discarded`)
    check.eq(result.emitted, s.delivered, `${tag} burst accepted == delivered`)
    check.eq(result.lost, s.refused, `${tag} burst lost == refused`)
  } else {
    check.eq(s.refused, 0, `${tag} refused (dropOldest refuses nothing)`)
    check.eq(result.lost, 0, `${tag} burst lost (dropOldest refuses nothing)`)
    check.eq(result.emitted, count, `${tag} burst accepted (dropOldest accepts all)`)
  }
  const starts = liveness.filter(([n]) => n === 'not_responding').length
  const ends = liveness.filter(([n]) => n === 'responding').length
  check.eq(starts, ends, `${tag} not_responding/responding pairs`)
  check.that(
    liveness.every(([n, r], i) => r === 'queue_full' && n === (i % 2 === 0 ? 'not_responding' : 'responding')),
    `${tag} liveness events alternate: ${JSON.stringify(liveness.slice(0, 6))}`,
  )
  check.that(!s.stuck, `${tag} hub still stuck after the drain`)
  return {
    overflow,
    events: count,
    delivered: s.delivered,
    refused: s.refused,
    discarded: s.discarded,
    gaps: missing,
    episodes: starts,
    produceRate: rate(count, producedMs),
    deliverRate: rate(s.delivered, ms),
    ms: Math.round(ms),
    summary: `${tag} ${fmt(count)} events, delivered ${fmt(s.delivered)}, ${word} ${fmt(lost)} (= gaps ${fmt(missing)}), ${starts} episode(s), produce ${rate(count, producedMs)}, deliver ${rate(s.delivered, ms)}, ${Math.round(ms)} ms`,
  }
}

export async function run({ reduced }) {
  const check = new Check()
  const count = reduced ? 200_000 : 5_000_000
  const spin = 400
  const runs = []
  for (const overflow of ['reject', 'dropOldest']) runs.push(await one(overflow, count, spin, check))
  return {
    figures: { runs },
    line: runs.map((r) => r.summary).join('; '),
    violations: check.violations,
  }
}
