// The latency rows: paced `{ n, at }` ticks, time from the producer's stamp
// to the listener's entry, for ffi-events, (a) and (b) alike.
//
// One producer for all three (bench/napi-baseline pacer.rs): tick n is due
// n / rate seconds after the first; the producer's thread sleeps until
// 500 µs before a deadline, then spins (yielding) until it; it stamps `at`
// on the clock of `process.hrtime.bigint()` (CLOCK_MONOTONIC, read natively),
// encodes `{ n, at }` as CBOR and hands the bytes over:
// - ffi-events: from a native thread into `hub.nativeSink()`'s C entry
//   (`ffi_events_emit`, CBOR lane, name 'tick'); the hub decodes, the
//   listener is `hub.on('tick')`;
// - (a): from a native thread, one ThreadsafeFunction call per tick; the JS
//   callback decodes with the hub's decoder options and calls the listener;
// - (b): a worker's own thread runs the pacer and posts each tick's bytes;
//   `worker.on('message')` decodes them likewise and calls the listener.
// The listener reads the clock first thing.
//
// The machine is shared, so a row is run in slices: the contenders take
// turns (the first one rotating), `slices` turns each, and each contender's
// samples are pooled over its slices. A burst of load from elsewhere then
// falls on all three alike instead of on whichever ran at the time. Before
// the turns: one full GC, then each contender's warm-up, the same for all
// (WARMUP_TICKS untimed ticks at WARMUP_RATE), so that every slice times
// optimized code: the hub's path is about twenty JS functions, which V8
// takes thousands of calls to optimize (5 s of ticks at 1,000/s), where
// (a)'s is a decode and a call. No GC is forced between slices: a full GC
// deoptimizes some of the hub's functions (V8: "weak objects") and each
// slice would time their recompilation (bench/README.md, Latency). The
// first 5 % of each slice's samples are dropped. A turn after which the
// machine probe read the two CPUs as far apart is done again (probe.mjs).

import { once } from 'node:events'
import { Worker } from 'node:worker_threads'

import { BASELINE_NODE, LIB_ROOT, gc, percentiles, require, sleep } from './common.mjs'
import { MachineGuard } from './probe.mjs'

const { EventHub } = require(LIB_ROOT)
const baseline = require(BASELINE_NODE)
const { Decoder } = require('cbor-x')

// The decoder options the EventHub uses (lib/decode.ts).
const decoder = new Decoder({ mapsAsObjects: true, useRecords: false, copyBuffers: true })
const WORKER_URL = new URL('./worker-paced.mjs', import.meta.url)
const NAME = 'tick'
const WARMUP = 0.05
/** Each contender's warm-up before a row: untimed ticks, and their rate. */
const WARMUP_TICKS = 20_000
const WARMUP_RATE = 100_000

/**
 * One slice's samples: `now - at` per tick in ns, `now` read first thing at
 * listener entry. `finished` resolves when `target` ticks arrived (the
 * target drops to what the transport took once the producer is done).
 */
class Slice {
  constructor(count) {
    this.samples = new Float64Array(count)
    this.k = 0
    this.target = count
    this.finished = new Promise((resolve) => (this.done = resolve))
    this.listener = (tick) => {
      const t = process.hrtime.bigint()
      const at = typeof tick.at === 'bigint' ? tick.at : BigInt(tick.at)
      this.samples[this.k++] = Number(t - at)
      if (this.k === this.target) this.done()
    }
  }

  /** Waits for the producer, then for the last tick it got through; gives up after twice the slice's length plus 2 s. */
  async settle(paced, rate) {
    const giveUp = sleep((this.samples.length / rate) * 2e3 + 2000).then(() => undefined)
    const done = await Promise.race([paced, giveUp])
    if (done === undefined) return { sent: this.k, refused: 0, late: NaN, maxLateUs: NaN, slowSends: NaN, maxSendUs: NaN }
    this.target = done.sent
    if (this.k < done.sent) await Promise.race([this.finished, giveUp])
    return done
  }

  /** The samples after the warm-up. */
  kept() {
    return this.samples.subarray(Math.min(Math.round(this.samples.length * WARMUP), this.k >> 1), this.k)
  }
}

/** ffi-events: one hub and one native sink for the whole row. */
function ffiContender() {
  const hub = new EventHub()
  let slice
  hub.on(NAME, (tick) => slice.listener(tick))
  const sink = hub.nativeSink()
  return {
    async run(rate, s) {
      slice = s
      const before = hub.stats()
      const done = await s.settle(baseline.runPacedSink(sink.emit, sink.userData, NAME, { rate, count: s.samples.length, originNs: process.hrtime.bigint() }), rate)
      const after = hub.stats()
      return { ...done, batches: after.batches - before.batches, wakeups: after.wakeups - before.wakeups }
    },
    async close() {
      await hub.close()
    },
  }
}

/** (a): a threadsafe function per slice, its callback decoding each tick. */
function napiContender() {
  return {
    async run(rate, s) {
      const paced = baseline.runPacedTsfn((bytes) => s.listener(decoder.decode(bytes)), { rate, count: s.samples.length, originNs: process.hrtime.bigint() })
      return s.settle(paced, rate)
    },
    async close() {},
  }
}

/** (b): one worker for the whole row; it answers each slice's job with its ticks, then `{ done }`. */
async function workerContender() {
  const worker = new Worker(WORKER_URL)
  const [ready] = await once(worker, 'message')
  if (!ready?.ready) throw new Error(`(b): the worker said ${JSON.stringify(ready)} before it was ready`)
  let slice
  let finish
  worker.on('message', (m) => (ArrayBuffer.isView(m) ? slice.listener(decoder.decode(m)) : finish(m.done)))
  return {
    async run(rate, s) {
      slice = s
      const paced = new Promise((resolve) => (finish = resolve))
      worker.postMessage({ rate, count: s.samples.length })
      return s.settle(paced, rate)
    },
    async close() {
      await worker.terminate()
    },
  }
}

const CONTENDERS = { ffi: ffiContender, napi: napiContender, worker: workerContender }

/** A contender's counts over its timed slices. */
function tally() {
  return { sent: 0, refused: 0, late: 0, maxLateUs: 0, slowSends: 0, maxSendUs: 0, sliceP99: [] }
}

/**
 * One rate: `job.seconds` of ticks per contender in `job.slices` turns each.
 * Returns `{ ffi, napi, worker }`, each with its percentiles (µs) over the
 * pooled samples, each slice's p99 (`sliceP99`, in turn order) and what its
 * producer did (summed over the slices); ffi-events also with its batches
 * and wake-ups.
 */
export async function latency(job) {
  const guard = await MachineGuard.start(job.probeWaitBudgetMs)
  try {
    return { ...(await guardedLatency(job, guard)), machine: guard.report }
  } finally {
    await guard.stop()
  }
}

async function guardedLatency(job, guard) {
  const ids = Object.keys(CONTENDERS)
  const slices = job.slices ?? 10
  const perSlice = Math.max(20, Math.round((job.rate * job.seconds) / slices))
  const open = {}
  for (const id of ids) open[id] = await CONTENDERS[id]()
  gc()
  for (const id of ids) await open[id].run(WARMUP_RATE, new Slice(WARMUP_TICKS))
  const kept = Object.fromEntries(ids.map((id) => [id, []]))
  const counts = Object.fromEntries(ids.map((id) => [id, tally()]))
  for (let turn = 0; turn < slices; ) {
    // A turn with a probe reading of distant CPUs after one of its slices
    // is done again (probe.mjs, MachineGuard).
    await guard.settle()
    const ran = []
    for (let j = 0; j < ids.length; j++) {
      const id = ids[(turn + j) % ids.length]
      await sleep(20)
      const slice = new Slice(perSlice)
      ran.push({ id, slice, done: await open[id].run(job.rate, slice) })
      guard.after()
    }
    if (!guard.keep()) continue
    for (const { id, slice, done } of ran) {
      kept[id].push(slice.kept())
      const c = counts[id]
      c.sliceP99.push(percentiles(slice.kept()).p99)
      c.sent += done.sent
      c.refused += done.refused
      c.late += done.late
      c.maxLateUs = Math.max(c.maxLateUs, done.maxLateUs)
      c.slowSends += done.slowSends
      c.maxSendUs = Math.max(c.maxSendUs, done.maxSendUs)
      if (done.batches !== undefined) {
        c.batches = (c.batches ?? 0) + done.batches
        c.wakeups = (c.wakeups ?? 0) + done.wakeups
      }
    }
    turn++
  }
  const out = {}
  for (const id of ids) {
    await open[id].close()
    const samples = new Float64Array(kept[id].reduce((n, s) => n + s.length, 0))
    kept[id].reduce((at, s) => (samples.set(s, at), at + s.length), 0)
    const c = counts[id]
    out[id] = { ...percentiles(samples), ...c, slices, ...(c.batches === undefined ? {} : { eventsPerBatch: c.sent / Math.max(1, c.batches) }) }
  }
  return out
}
