// Contender (b) of the latency rows: this worker's own thread is the
// producer. For each job `{ rate, count }` it runs the same native pacer as
// the other contenders' producer threads (bench/napi-baseline PacedTicks:
// same schedule, same wait, `{ n, at }` stamped on the same clock and
// encoded as the same CBOR bytes) and posts each tick's bytes as one
// message, then a last message `{ done }` with what the pacer did and how
// long its sends (the postMessage calls) took, as the native producers
// report theirs.

import { parentPort } from 'node:worker_threads'

import { BASELINE_NODE, require } from './common.mjs'

const { PacedTicks } = require(BASELINE_NODE)
/** A send at least this long counts as slow (as in pacer.rs). */
const SLOW_SEND_NS = 50_000n

parentPort.on('message', ({ rate, count }) => {
  const ticks = new PacedTicks({ rate, count, originNs: process.hrtime.bigint() })
  let slowSends = 0
  let maxSendNs = 0n
  for (let bytes = ticks.next(); bytes !== null; bytes = ticks.next()) {
    const started = process.hrtime.bigint()
    parentPort.postMessage(bytes)
    const took = process.hrtime.bigint() - started
    if (took >= SLOW_SEND_NS) slowSends++
    if (took > maxSendNs) maxSendNs = took
  }
  parentPort.postMessage({ done: { ...ticks.result(), slowSends, maxSendUs: Number(maxSendNs) / 1e3 } })
})
parentPort.postMessage({ ready: true })
