// One benchmark job in a fresh process (forked by bench/index.mjs with
// --expose-gc): every contender of a scenario runs here, side by side and
// interleaved, so their ratios share the machine's state of the moment.
// Raw rows add "ffi-events, onRawSpan": the same hub and producers with
// `hub.onRawSpan` listeners, which get offsets into the batch instead of a
// view per event.

import { once } from 'node:events'
import { Worker } from 'node:worker_threads'

import {
  BASELINE_NODE,
  CONTENDERS,
  Peak,
  cpuReading,
  LIB_ROOT,
  gc,
  makeListeners,
  makeSpanListeners,
  median,
  newState,
  now,
  othersCpu,
  require,
  sleep,
} from './common.mjs'
import { capacityFor, ringBytes } from './budget.mjs'
import { foreign } from './foreign.mjs'
import { latency } from './latency.mjs'
import { malformedCost } from './malformed.mjs'
import { MachineGuard } from './probe.mjs'
import { requests } from './requests.mjs'

const { EventHub, sources } = require(LIB_ROOT)
const baseline = require(BASELINE_NODE)
const { Decoder } = require('cbor-x')

// The decoder options the EventHub uses (lib/dispatch.ts), for (a), (c) and (e) too.
const decoder = new Decoder({ mapsAsObjects: true, useRecords: false, copyBuffers: true })
/** Where the payload value starts in an envelope of the event named 'e'. */
const VALUE_START = require(`${LIB_ROOT}/dist/lib/batch.js`).envelopeHeaderBytes(Buffer.byteLength('e'))
const WORKER_URL = new URL('./worker-producer.mjs', import.meta.url)
/** Producers of (a) and (b) never block: their queues hold the backlog. Keep it under this. */
const BACKLOG_BUDGET = 768e6
/** Far more than any run emits: the burst runs until the hub closes. */
const ENDLESS = 2 ** 52

// ── ffi-events ──────────────────────────────────────────────────────────────
//
// Count-based, like (a) and (b): `count` events must all reach the listener,
// and the rate is count / time until the listener saw the last one. The hub
// keeps its defaults (capacity 1024, overflow 'reject'); the producers are
// `sources.burst` with `onFull: 'retry'`, i.e. what a lossless producer does
// with a bounded ring: on a refusal it yields (16 times in a row), then
// waits for room (`Emitter::wait_for_room`), and emits the same event
// again. (a) and (b) need no retry: their queues are unbounded, so their
// producers finish early and memory holds the backlog.
// `options.capacity` gives the hub a larger ring (the row "ring = (e)'s
// backlog"), `options.threads` overrides the scenario's producer count (the
// 1-producer run beside a multi-producer row). `options.span` (raw rows)
// subscribes with `hub.onRawSpan` instead of `hub.on`: the listeners get the
// batch's bytes and the event's offsets, no view per event (the row
// "onRawSpan").
async function ffiOnce(sc, count, options = {}) {
  gc()
  const peak = new Peak()
  const hub = new EventHub(options.capacity ? { capacity: options.capacity } : {})
  const state = newState(count)
  if (options.span) for (const fn of makeSpanListeners(sc.listeners, state, peak)) hub.onRawSpan('e', fn)
  else for (const fn of makeListeners(sc.encoding, sc.listeners, state, peak)) hub.on('e', fn)
  const s0 = hub.stats()
  const t0 = now()
  const burst = sources.burst(hub, {
    name: 'e',
    count,
    threads: options.threads ?? sc.threads,
    payloadBytes: sc.bytes,
    encoding: sc.encoding,
    onFull: 'retry',
  })
  await state.finished
  const seconds = state.tEnd - t0
  const s1 = hub.stats()
  const produced = await burst
  await hub.close()
  return {
    rate: count / seconds,
    events: count,
    seconds,
    capacity: s1.capacity,
    highWater: s1.highWater,
    retried: produced.retried,
    eventsPerBatch: (s1.delivered - s0.delivered) / Math.max(1, s1.batches - s0.batches),
    wakeups: s1.wakeups - s0.wakeups,
    peakMB: peak.deltaMB,
  }
}

// Overload: the producers run flat out for a fixed window with the default
// `onFull: 'drop'` (a producer that must never wait); refused events are
// lost and counted (the hub's `refused`). Reported beside the lossless rate:
// events delivered per second, and the share of attempts refused.
async function ffiOverload(sc, cfg) {
  gc()
  const peak = new Peak()
  const hub = new EventHub()
  const state = newState()
  for (const fn of makeListeners(sc.encoding, sc.listeners, state, peak)) hub.on('e', fn)
  const burst = sources.burst(hub, {
    name: 'e',
    count: ENDLESS,
    threads: sc.threads,
    payloadBytes: sc.bytes,
    encoding: sc.encoding,
  })
  await sleep(cfg.warmupMs)
  const n0 = state.n
  const s0 = hub.stats()
  const t0 = now()
  await sleep(cfg.windowMs)
  const n1 = state.n
  const s1 = hub.stats()
  const t1 = now()
  await hub.close()
  await burst
  const attempts = s1.emitted - s0.emitted
  return {
    rate: (n1 - n0) / (t1 - t0),
    attemptRate: attempts / (t1 - t0),
    refusedFraction: attempts > 0 ? (s1.refused - s0.refused) / attempts : 0,
  }
}

// ── (a) hand-written napi-rs: one ThreadsafeFunction call per event ─────────
//
// Count-based: the producers queue `count` events (napi's queue is unbounded,
// NonBlocking never refuses), the rate is count / time until the listener saw
// the last one.
async function napiOnce(sc, count) {
  gc()
  const peak = new Peak()
  const state = newState(count)
  const fns = makeListeners(sc.encoding, sc.listeners, state, peak)
  const L = fns.length
  const callback =
    sc.encoding === 'raw'
      ? (buf) => {
          for (let i = 0; i < L; i++) fns[i](buf)
        }
      : (buf) => {
          const value = decoder.decode(buf)
          for (let i = 0; i < L; i++) fns[i](value)
        }
  const t0 = now()
  const produced = baseline.runBurst(callback, {
    count,
    threads: sc.threads,
    payloadBytes: sc.bytes,
    encoding: sc.encoding,
    originNs: process.hrtime.bigint(),
  })
  await state.finished
  const result = await produced
  return { rate: count / (state.tEnd - t0), events: count, seconds: state.tEnd - t0, failed: result.failed, peakMB: peak.deltaMB }
}

// ── (b) worker_threads + postMessage, one message per event ────────────────
async function startWorkers(n) {
  const workers = []
  for (let t = 0; t < n; t++) {
    const worker = new Worker(WORKER_URL)
    await once(worker, 'online')
    workers.push(worker)
  }
  return workers
}

async function workerOnce(sc, count) {
  const workers = await startWorkers(sc.threads)
  gc()
  const peak = new Peak()
  const state = newState(count)
  const fns = makeListeners(sc.encoding, sc.listeners, state, peak)
  for (const worker of workers) for (const fn of fns) worker.on('message', fn)
  const t0 = now()
  workers.forEach((worker, thread) => {
    const share = Math.floor(count / sc.threads) + (thread < count % sc.threads ? 1 : 0)
    worker.postMessage({ mode: 'burst', thread, count: share, encoding: sc.encoding, payloadBytes: sc.bytes })
  })
  await state.finished
  const result = { rate: count / (state.tEnd - t0), events: count, seconds: state.tEnd - t0, peakMB: peak.deltaMB }
  await Promise.all(workers.map((w) => w.terminate()))
  return result
}

// ── (c) JS-only ceiling: decode the same payloads, already laid out ───────
//
// The bytes are the ones ffi-events delivers, captured once with onRaw from
// the same native source before anything is timed. CBOR lane: onRaw hands a
// CBOR event's envelope (rebuilt per call), so the envelope's fixed-layout
// header is cut off once at capture and the payload items are laid out one
// after another in one buffer: one CBOR sequence, as a run of CBOR events
// sits in a hub batch. The timed loop decodes the whole sequence with one
// `decoder.decodeMultiple(sequence, callback)` call (the hub's decoder
// options), the callback calling the listeners with each value. Raw lane:
// the payloads in one buffer, each event a view (`subarray`) handed to the
// listeners, as the hub hands raw payloads. No transport, no routing, no
// meta, no error isolation: what is left is the decode and the calls.
async function capture(sc) {
  const wanted = Math.max(16, Math.min(1024, Math.floor(32e6 / (sc.bytes + 64))))
  const parts = []
  const hub = new EventHub()
  hub.onRaw('e', (bytes) => {
    if (parts.length < wanted) parts.push(Buffer.from(sc.encoding === 'raw' ? bytes : bytes.subarray(VALUE_START)))
  })
  for (let tries = 0; parts.length < wanted && tries < 100; tries++) {
    await sources.burst(hub, { name: 'e', count: wanted, threads: 1, payloadBytes: sc.bytes, encoding: sc.encoding, onFull: 'retry' })
    await sleep(5)
  }
  await hub.close()
  const all = Buffer.concat(parts)
  const starts = new Uint32Array(parts.length)
  const ends = new Uint32Array(parts.length)
  let at = 0
  parts.forEach((p, j) => {
    starts[j] = at
    at += p.length
    ends[j] = at
  })
  const bytes = new Uint8Array(all.buffer, all.byteOffset, all.length)
  if (sc.encoding !== 'raw') {
    // The payload items must make a sequence of exactly one value each.
    const values = decoder.decodeMultiple(bytes)
    if (values.length !== parts.length) throw new Error(`(c): ${parts.length} payloads captured, ${values.length} values in their sequence`)
  }
  return { bytes, starts, ends, m: parts.length }
}

async function jsOnce(sc, captured, windowMs) {
  gc()
  const peak = new Peak()
  const state = newState()
  const fns = makeListeners(sc.encoding, sc.listeners, state, peak)
  const L = fns.length
  const { bytes, starts, ends, m } = captured
  const t0 = now()
  const deadline = t0 + windowMs / 1e3
  let t1 = t0
  if (sc.encoding === 'raw') {
    while (t1 < deadline) {
      for (let j = 0; j < m; j++) {
        const view = bytes.subarray(starts[j], ends[j])
        for (let i = 0; i < L; i++) fns[i](view)
      }
      t1 = now()
    }
  } else {
    const deliver = (value) => {
      for (let i = 0; i < L; i++) fns[i](value)
    }
    while (t1 < deadline) {
      decoder.decodeMultiple(bytes, deliver)
      t1 = now()
    }
  }
  return { rate: state.n / (t1 - t0), events: state.n, seconds: t1 - t0, perCall: m, peakMB: peak.deltaMB }
}

// ── (e) the obvious batching design (bench/napi-baseline runBatched) ──────
//
// Producers copy each event's bytes under a Mutex into one growing buffer;
// the first one after JS took the batch wakes JS with one threadsafe-function
// call. JS gets the batch as one Buffer (copied into V8 memory) and the end
// offsets, and for each event takes a view (`subarray`) and decodes it with
// `decoder.decode` (the hub's decoder options): a CBOR event is the envelope
// `{ eventType, payload }`, decoded whole, its listeners looked up by
// `eventType` and called with `.payload`; a raw event's view goes to the
// listeners as is. Count-based and lossless like (a). With
// `options.maxBytes` the pending batch is capped (the row "(e) bounded"):
// a producer that finds it full waits as the hub's `onFull: 'retry'`
// producers do. The largest batch JS got (events, and bytes counted as the
// cap counts them) is (e)'s backlog.
async function batchedOnce(sc, count, options = {}) {
  gc()
  const peak = new Peak()
  const state = newState(count)
  const fns = makeListeners(sc.encoding, sc.listeners, state, peak)
  const L = fns.length
  const routes = new Map([['e', fns]])
  let batches = 0
  let peakEvents = 0
  let peakBytes = 0
  const taken = (buffer, ends) => {
    batches++
    if (ends.length > peakEvents) peakEvents = ends.length
    if (buffer.length + 4 * ends.length > peakBytes) peakBytes = buffer.length + 4 * ends.length
  }
  const callback =
    sc.encoding === 'raw'
      ? (buffer, ends) => {
          taken(buffer, ends)
          let start = 0
          for (let k = 0; k < ends.length; k++) {
            const end = ends[k]
            const view = buffer.subarray(start, end)
            start = end
            for (let i = 0; i < L; i++) fns[i](view)
          }
        }
      : (buffer, ends) => {
          taken(buffer, ends)
          let start = 0
          for (let k = 0; k < ends.length; k++) {
            const end = ends[k]
            const envelope = decoder.decode(buffer.subarray(start, end))
            start = end
            const listeners = routes.get(envelope.eventType)
            if (listeners === undefined) continue
            for (let i = 0; i < listeners.length; i++) listeners[i](envelope.payload)
          }
        }
  const t0 = now()
  const produced = baseline.runBatched(callback, {
    count,
    threads: sc.threads,
    payloadBytes: sc.bytes,
    encoding: sc.encoding,
    originNs: process.hrtime.bigint(),
    maxBytes: options.maxBytes,
  })
  await state.finished
  const seconds = state.tEnd - t0
  const result = await produced
  return {
    rate: count / seconds,
    events: count,
    seconds,
    failed: result.failed,
    retried: result.retried ?? 0,
    maxBytes: options.maxBytes,
    peakEvents,
    peakBytes,
    eventsPerBatch: count / Math.max(1, batches),
    peakMB: peak.deltaMB,
  }
}

// ── a scenario: all contenders, interleaved ────────────────────────────────

/**
 * Events for a run of about `windowMs`, within the backlog budget. A short
 * pilot's rate is decided by a run's start-up (threads, the first wake-ups,
 * a hub's first batches) and, early in the process, by code not yet
 * optimized: sized from a 20,000-event pilot alone, ffi-events' timed runs
 * of the fastest rows lasted a sixth of the window, and sized from one more
 * pilot a third of the window long, still 0.03 to 0.05 s in the first rows.
 * So pilots run, each sized from the last one's rate, until one lasts a
 * quarter of the window (at most five).
 */
async function calibrate(run, sc, cfg) {
  const budget = Math.max(200, Math.floor(BACKLOG_BUDGET / (sc.bytes + 128)))
  const fit = (rate, ms) => Math.max(200, Math.min(budget, Math.round((rate * ms) / 1e3)))
  let events = Math.min(cfg.pilotEvents, budget)
  let pilot
  for (let k = 0; k < 5; k++) {
    pilot = await run(sc, events)
    const next = fit(pilot.rate, cfg.windowMs / 3)
    if (pilot.seconds * 1e3 >= cfg.windowMs / 4 || next <= events) break
    events = next
  }
  return fit(pilot.rate, cfg.windowMs)
}

async function throughput(sc, cfg, probeWaitBudgetMs) {
  const guard = await MachineGuard.start(probeWaitBudgetMs)
  try {
    return await guardedThroughput(sc, cfg, guard)
  } finally {
    await guard.stop()
  }
}

async function guardedThroughput(sc, cfg, guard) {
  await guard.settle()
  const captured = await capture(sc)
  const ffiCount = await calibrate(ffiOnce, sc, cfg)
  const napiCount = await calibrate(napiOnce, sc, cfg)
  const workerCount = await calibrate(workerOnce, sc, cfg)
  const batchedCount = await calibrate(batchedOnce, sc, cfg)
  // Equal memory, one way: (e)'s pending batch capped at what a full
  // default ring holds of these events (bench/lib/budget.mjs).
  let longest = 0
  for (let j = 0; j < captured.m; j++) longest = Math.max(longest, captured.ends[j] - captured.starts[j])
  const bounded = { maxBytes: ringBytes(sc.encoding, longest) }
  const boundedCount = await calibrate((s, n) => batchedOnce(s, n, bounded), sc, cfg)
  // The other way: the hub's ring sized to hold (e)'s largest batch in a
  // run as long as the timed ones.
  const sizing = await batchedOnce(sc, batchedCount)
  const wide = { capacity: capacityFor(sizing.peakEvents) }
  const wideCount = await calibrate((s, n) => ffiOnce(s, n, wide), sc, cfg)
  // A multi-producer row also runs 1 producer, so that N vs 1 is a ratio
  // taken in one process like the others.
  const one = sc.threads > 1 ? { threads: 1 } : null
  const oneCount = one ? await calibrate((s, n) => ffiOnce(s, n, one), sc, cfg) : 0
  // A raw row also runs the hub with onRawSpan listeners (default hub, the
  // scenario's producers), beside the runs with views.
  const span = sc.encoding === 'raw' ? { span: true } : null
  const spanCount = span ? await calibrate((s, n) => ffiOnce(s, n, span), sc, cfg) : 0
  const runs = { ffi: [], ffiSpan: [], napi: [], worker: [], js: [], batched: [], batchedBounded: [], ffiWide: [], ffiOne: [] }
  const overload = []
  const cpu0 = cpuReading()
  for (let rep = 0; rep < cfg.reps; ) {
    await guard.settle()
    // Each run is followed by a probe reading; a repetition with a reading
    // of distant CPUs in it is done again (probe.mjs, MachineGuard).
    const repRuns = Object.fromEntries(Object.keys(runs).map((id) => [id, []]))
    const timed = async (list, run) => {
      list.push(await run())
      guard.after()
      await sleep(20)
    }
    // The first run of a repetition follows the last one's largest (the
    // ring sized to (e)'s backlog, or the sizing run) and came out slower:
    // the overload window takes that place. The N-producer, 1-producer and
    // onRawSpan runs follow, back to back, in alternating order.
    const repOverload = []
    await timed(repOverload, () => ffiOverload(sc, cfg))
    const group = [() => timed(repRuns.ffi, () => ffiOnce(sc, ffiCount))]
    if (one) group.push(() => timed(repRuns.ffiOne, () => ffiOnce(sc, oneCount, one)))
    if (span) group.push(() => timed(repRuns.ffiSpan, () => ffiOnce(sc, spanCount, span)))
    if (rep % 2) group.reverse()
    for (const run of group) await run()
    await timed(repRuns.napi, () => napiOnce(sc, napiCount))
    await timed(repRuns.worker, () => workerOnce(sc, workerCount))
    await timed(repRuns.js, () => jsOnce(sc, captured, cfg.windowMs))
    await timed(repRuns.batched, () => batchedOnce(sc, batchedCount))
    await timed(repRuns.batchedBounded, () => batchedOnce(sc, boundedCount, bounded))
    await timed(repRuns.ffiWide, () => ffiOnce(sc, wideCount, wide))
    if (!guard.keep()) continue
    for (const id of Object.keys(runs)) runs[id].push(...repRuns[id])
    overload.push(...repOverload)
    rep++
  }
  const pick = (list) => {
    const rate = median(list.map((r) => r.rate))
    const chosen = list.find((r) => r.rate === rate) ?? list[0]
    return { ...chosen, rate, rates: list.map((r) => r.rate), peakMB: Math.max(...list.map((r) => r.peakMB)) }
  }
  const result = { othersCpu: othersCpu(cpu0, cpuReading()), machine: guard.report }
  // A contender a row does not run (ffiSpan on CBOR rows) stays absent.
  for (const { id } of CONTENDERS) if (runs[id].length) result[id] = pick(runs[id])
  result.batched.peakEvents = Math.max(...runs.batched.map((r) => r.peakEvents))
  result.ffiWide.sizedFrom = sizing.peakEvents
  if (one) result.ffiOne = pick(runs.ffiOne)
  const overloadRate = median(overload.map((r) => r.rate))
  result.overload = { ...(overload.find((r) => r.rate === overloadRate) ?? overload[0]), rate: overloadRate }
  return result
}

// ── memory: 10 million events through one hub ──────────────────────────────
async function memory(job) {
  const total = job.events
  const step = total / 10
  const hub = new EventHub()
  const samples = []
  const state = newState(total)
  let sink = 0
  let n = 0
  hub.on('e', (p) => {
    sink += p.i
    if (++n % step === 0) {
      const m = process.memoryUsage()
      samples.push({ events: n, rssMB: m.rss / 1e6, heapTotalMB: m.heapTotal / 1e6, heapUsedMB: m.heapUsed / 1e6 })
      if (n === total) state.done()
    }
  })
  const t0 = now()
  const burst = sources.burst(hub, { name: 'e', count: ENDLESS, threads: 1, payloadBytes: 64, encoding: 'cbor' })
  await state.finished
  const seconds = now() - t0
  const stats = hub.stats()
  await hub.close()
  await burst
  const first = samples[0]
  const last = samples[samples.length - 1]
  return {
    events: total,
    payload: '{ thread, i, data: 64 B } CBOR, 1 producer flat out, 1 listener',
    seconds,
    samples,
    firstMB: first.rssMB,
    lastMB: last.rssMB,
    growthMB: last.rssMB - first.rssMB,
    // What V8 reserves for its heap (heapTotal) moves in steps of its own
    // (the young generation grows once enough has survived scavenges); the
    // rest of the resident set is the hub, cbor-x's and Node's native memory.
    heapTotalGrowthMB: last.heapTotalMB - first.heapTotalMB,
    outsideHeapGrowthMB: last.rssMB - last.heapTotalMB - (first.rssMB - first.heapTotalMB),
    peakRssMB: (process.resourceUsage().maxRSS * 1024) / 1e6,
    refused: stats.refused,
    sink,
  }
}

process.once('message', async (job) => {
  try {
    let result
    if (job.kind === 'throughput') result = await throughput(job.scenario, job.cfg, job.probeWaitBudgetMs)
    else if (job.kind === 'latency') result = await latency(job)
    else if (job.kind === 'memory') result = await memory(job)
    else if (job.kind === 'foreign') result = await foreign(job)
    else if (job.kind === 'malformed') result = await malformedCost(job)
    else if (job.kind === 'requests') result = await requests(job)
    else throw new Error(`unknown job ${job.kind}`)
    process.send({ ok: true, result }, () => process.exit(0))
  } catch (error) {
    process.send({ ok: false, error: String(error?.stack ?? error) }, () => process.exit(1))
  }
})
