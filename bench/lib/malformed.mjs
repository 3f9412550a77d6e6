// What one hostile event costs the JS thread, against a good one: batches of
// 1,024 pre-encoded CBOR payloads (`{ n, at }`), queued from this thread
// with emitCbor and then delivered; the time measured is from the last emit
// to the last listener call (drain, decode, dispatch). Some payloads are
// replaced by a malformed one of two kinds, each failing alone and reaching
// onError:
// - "cbor-x throws": an item the native scan takes as one self-contained
//   item but cbor-x cannot decode (tag 27 `["RegExp", "("]`: cbor-x calls
//   `RegExp("(")`, which throws);
// - "scan": a truncated `{ n, at }`, which the native scan flags, so cbor-x
//   is never asked.
//
// cost per malformed event = (t(batch with k bad) - t(all good)) / k + the
// cost of the good event it replaced, reported as a multiple of a good
// event's cost.

import { Decoder, Encoder } from 'cbor-x'

import { EventHub } from '../../dist/index.js'

const BATCH = 1024
const encoder = new Encoder({ useRecords: false })
const good = (i) => encoder.encode({ n: i, at: 1_700_000_000_000_000_000n + BigInt(i) })
// tag 27 (cbor-x: a call of a named global), ["RegExp", "("]: RegExp('(') throws.
const BAD = Uint8Array.from([0xd8, 0x1b, 0x82, 0x66, ...Buffer.from('RegExp'), 0x61, 0x28])
const TRUNCATED = good(0).subarray(0, 12)
/** The malformed payloads, by kind. */
const KINDS = [
  { id: 'cborx', label: 'cbor-x throws (tag 27)', bytes: BAD },
  { id: 'scan', label: 'truncated (native scan)', bytes: TRUNCATED },
]

const now = () => Number(process.hrtime.bigint()) / 1e9

/** Seconds to deliver one batch whose payloads are `payloads` (each event to one listener or to onError). */
async function deliver(hub, state, payloads) {
  state.left = payloads.length
  const finished = new Promise((resolve) => (state.done = resolve))
  for (const p of payloads) hub.emitCbor('e', p)
  const t0 = now()
  await finished
  return now() - t0
}

function batch(badEvery, bad) {
  return Array.from({ length: BATCH }, (_, i) => (badEvery > 0 && i % badEvery === badEvery - 1 ? bad : good(i)))
}

/** Median of `reps` deliveries of each mix, interleaved. */
export async function malformedCost({ reps = 200 } = {}) {
  const hub = new EventHub({ capacity: 4 * BATCH, maxBatchEvents: BATCH })
  const state = { left: 0, done: () => {}, errors: 0 }
  const seen = () => {
    if (--state.left === 0) state.done()
  }
  hub.on('e', seen)
  hub.onError((error) => {
    if (error.code !== 'ERR_EVENT_DECODE') throw error
    state.errors++
    seen()
  })
  const mixes = [{ id: 'good', label: '1,024 good', kind: null, badEvery: 0, bytes: null }]
  for (const kind of KINDS) {
    mixes.push(
      { id: `${kind.id} dense`, label: '1 malformed in 16', kind, badEvery: 16 },
      { id: `${kind.id} half`, label: '1 malformed in 2', kind, badEvery: 2 },
      { id: `${kind.id} all`, label: '1,024 malformed', kind, badEvery: 1 },
    )
  }
  const times = Object.fromEntries(mixes.map((m) => [m.id, []]))
  const batches = Object.fromEntries(mixes.map((m) => [m.id, batch(m.badEvery, m.kind?.bytes)]))
  // Interleaved, the order rotated every repetition, so that no mix always
  // runs first (after a pause) or last.
  for (let r = 0; r < reps; r++) {
    for (let k = 0; k < mixes.length; k++) {
      const m = mixes[(r + k) % mixes.length]
      times[m.id].push(await deliver(hub, state, batches[m.id]))
    }
  }
  await hub.close()
  const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1]
  const goodNs = (median(times.good) / BATCH) * 1e9
  const alone = decodeAlone(batches.good.slice(0, 64), reps)
  const rows = mixes.map((m) => {
    const bad = m.badEvery === 0 ? 0 : Math.floor(BATCH / m.badEvery)
    const batchNs = median(times[m.id]) * 1e9
    const perBadNs = bad === 0 ? null : (batchNs - goodNs * BATCH) / bad + goodNs
    const aloneNs = m.kind === null ? null : alone.malformedNs[m.kind.id]
    return {
      id: m.id,
      label: m.kind === null ? m.label : `${m.label}, ${m.kind.label}`,
      kind: m.kind?.id ?? null,
      bad,
      batchUs: batchNs / 1e3,
      perEventNs: batchNs / BATCH,
      perBadNs,
      badVsGood: perBadNs === null ? null : perBadNs / goodNs,
      badVsAlone: perBadNs === null ? null : perBadNs / aloneNs,
    }
  })
  return { batch: BATCH, reps, goodNs, alone, errors: state.errors, rows }
}

/**
 * What decoding each payload alone costs a plain loop (a fresh `decode` per
 * payload, the error caught, with the stack trace V8 captures for it): the
 * reference for "a failure costs about what decoding that event alone
 * costs".
 */
function decodeAlone(goods, reps) {
  const decoder = new Decoder({ mapsAsObjects: true, useRecords: false, copyBuffers: true })
  const time = (payloads) => {
    const rounds = []
    for (let r = 0; r < Math.max(5, reps >> 3); r++) {
      const t0 = now()
      for (const p of payloads) {
        try {
          decoder.decode(p)
        } catch {
          // counted by the time it took
        }
      }
      rounds.push(((now() - t0) / payloads.length) * 1e9)
    }
    return rounds.sort((a, b) => a - b)[rounds.length >> 1]
  }
  return { goodNs: time(goods), malformedNs: Object.fromEntries(KINDS.map((k) => [k.id, time(goods.map(() => k.bytes))])) }
}
