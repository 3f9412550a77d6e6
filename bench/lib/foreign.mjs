// Contender (d): a foreign C library reporting events from its own threads,
// the way nim-ffi libraries do (`void callback(int ret, const char *msg,
// size_t len, void *user_data)`, msg a CBOR envelope { eventType, payload }
// valid only during the call). The library is __test__/fixtures/foreign/foreign.c,
// loaded through koffi; it times every callback call with CLOCK_MONOTONIC.
//
// Two hosts for the same library, threads and payloads ({ eventType: 'e',
// payload: { thread, i } }):
// - ffi-events: hub.nativeSink(); the callback copies the event into the
//   hub's ring and returns; the JS thread drains batches;
// - koffi: koffi.register() of a JS function of the callback's shape; koffi
//   queues every call to the JS thread and the library's thread waits until
//   the JS function returned (one JS call per event).
//
// The library cannot retry (the callback returns nothing), so the lossless
// rows give the hub a ring that holds the whole run; the 'default ring' row
// shows what a 1024-event ring does with a library flat out. Three last runs
// time the sink's calls: the library flat out with the JS thread blocked for
// the whole run, and paced (20 µs of sleep after each event) with the JS
// thread blocked, then free.

import { ForeignLibrary, loadForeign } from '../../__test__/fixtures/foreign/foreign.mjs'
import { LIB_ROOT, Peak, gc, makeListeners, median, newState, now, require, sleep } from './common.mjs'

const { EventHub } = require(LIB_ROOT)
const { Decoder } = require('cbor-x')

// The decoder options the EventHub uses (lib/hub.ts).
const decoder = new Decoder({ mapsAsObjects: true, useRecords: false, copyBuffers: true })

const NAME = 'e'
const nextPow2 = (n) => 2 ** Math.ceil(Math.log2(Math.max(2, n)))

/** Waits (event loop free) until the library's threads are done, then joins them. */
async function finished(lib) {
  while (!lib.done) await sleep(1)
  lib.join()
}

/** ffi-events: count events from `threads` library threads through a sink; ring of `capacity` (default: holds the run). */
async function sinkOnce(threads, count, capacity = nextPow2(count)) {
  gc()
  const peak = new Peak()
  const hub = new EventHub({ capacity })
  const sink = hub.nativeSink()
  const state = newState(count)
  for (const fn of makeListeners('cbor', 1, state, peak)) hub.on(NAME, fn)
  const lib = new ForeignLibrary()
  try {
    lib.addEventListener(NAME, sink.callback, sink.userData)
    const perThread = Math.ceil(count / threads)
    state.target = perThread * threads
    const t0 = now()
    lib.start(NAME, { threads, perThread })
    await finished(lib)
    const librarySeconds = now() - t0
    const s = sink.stats()
    // Lossless rows wait for the last event; with a small ring, for the ring to drain.
    if (s.accepted === state.target) await state.finished
    else while (hub.stats().queued > 0 || state.n < s.accepted) await sleep(1)
    const seconds = (state.tEnd || now()) - t0
    return {
      rate: state.n / seconds,
      events: state.n,
      seconds,
      // How fast the library got rid of its events (it never waits for JS).
      libraryRate: s.calls / librarySeconds,
      calls: s.calls,
      refused: s.refused,
      refusedFraction: s.refused / s.calls,
      cost: lib.callCost(),
      peakMB: peak.deltaMB,
    }
  } finally {
    lib.destroy()
    await hub.close()
  }
}

/**
 * The sink's calls with the library flat out or sleeping `intervalNs` after
 * each event (a library that reports events rather than saturating its
 * CPUs), while the JS thread is blocked for the whole run (`blockJs`:
 * nothing drains) or free (then a sparse library finds the ring drained at
 * almost every call, and the call that refills it wakes the JS thread).
 */
async function sinkCalls(threads, count, { intervalNs = 0, blockJs = true } = {}) {
  gc()
  const hub = new EventHub({ capacity: nextPow2(count) })
  const sink = hub.nativeSink()
  let delivered = 0
  hub.on(NAME, () => {
    delivered++
  })
  const lib = new ForeignLibrary()
  try {
    lib.addEventListener(NAME, sink.callback, sink.userData)
    lib.start(NAME, { threads, perThread: Math.ceil(count / threads), intervalNs })
    const t0 = now()
    if (blockJs) {
      while (!lib.done) {
        /* the JS thread is blocked: no batch is drained while the library runs */
      }
      lib.join()
    } else {
      await finished(lib)
    }
    const seconds = now() - t0
    const deliveredDuringRun = delivered
    const s = sink.stats()
    return { calls: s.calls, accepted: s.accepted, deliveredDuringRun, seconds, intervalNs, blockJs, cost: lib.callCost() }
  } finally {
    lib.destroy()
    await hub.close()
  }
}

/** koffi: count events, one registered JS callback call per event, the library's thread waiting for each. */
async function koffiOnce(threads, count) {
  gc()
  const { koffi, FFICallBack } = loadForeign()
  const peak = new Peak()
  const state = newState(count)
  const [listener] = makeListeners('cbor', 1, state, peak)
  let errors = 0
  // What a host writes with koffi: view the bytes (valid during the call), decode the envelope, route by eventType.
  const address = koffi.register((ret, msg, len) => {
    if (ret !== 0) {
      errors++
      return
    }
    const envelope = decoder.decode(new Uint8Array(koffi.view(msg, Number(len))))
    if (envelope.eventType === NAME) listener(envelope.payload)
  }, koffi.pointer(FFICallBack))
  const lib = new ForeignLibrary()
  try {
    lib.addEventListener(NAME, address, 0n)
    const perThread = Math.ceil(count / threads)
    state.target = perThread * threads
    const t0 = now()
    lib.start(NAME, { threads, perThread })
    // A registered callback does not keep the event loop alive: hold it while the library runs.
    const keepAlive = setInterval(() => {}, 1000)
    await state.finished
    clearInterval(keepAlive)
    await finished(lib)
    const seconds = state.tEnd - t0
    return { rate: state.n / seconds, events: state.n, seconds, calls: lib.stat('calls'), errors, cost: lib.callCost(), peakMB: peak.deltaMB }
  } finally {
    // Joined above (or here): no library thread may call the callback after it is unregistered.
    lib.destroy()
    koffi.unregister(address)
  }
}

const pick = (list) => {
  const rate = median(list.map((r) => r.rate))
  return { ...(list.find((r) => r.rate === rate) ?? list[0]), rate, rates: list.map((r) => r.rate) }
}

/**
 * One scenario: `threads` library threads, every host interleaved, `reps`
 * repetitions, medians. Fixed counts (the sink's run must be long enough for
 * start-up and the last wake-up not to dominate): `sinkEvents` for the sink
 * runs, `koffiEvents` for koffi (about 15-80 k/s).
 */
export async function foreign(job) {
  const { threads, reps, sinkEvents, koffiEvents, pacedEvents } = job
  const runs = { sink: [], koffi: [], small: [], blocked: [], pacedBlocked: [], pacedFree: [] }
  for (let rep = 0; rep < reps; rep++) {
    runs.sink.push(await sinkOnce(threads, sinkEvents))
    await sleep(20)
    runs.koffi.push(await koffiOnce(threads, koffiEvents))
    await sleep(20)
    runs.small.push(await sinkOnce(threads, sinkEvents, 1024))
    await sleep(20)
    runs.blocked.push(await sinkCalls(threads, sinkEvents))
    await sleep(20)
    runs.pacedBlocked.push(await sinkCalls(threads, pacedEvents, { intervalNs: 20_000 }))
    await sleep(20)
    runs.pacedFree.push(await sinkCalls(threads, pacedEvents, { intervalNs: 20_000, blockJs: false }))
    await sleep(20)
  }
  // The call-cost runs with the highest mean are reported: the target must hold in the worst repetition.
  const worst = (list) => list.reduce((a, b) => (b.cost.meanNs > a.cost.meanNs ? b : a))
  return {
    threads,
    sink: pick(runs.sink),
    koffi: pick(runs.koffi),
    small: pick(runs.small),
    blocked: worst(runs.blocked),
    pacedBlocked: worst(runs.pacedBlocked),
    pacedFree: worst(runs.pacedFree),
  }
}
