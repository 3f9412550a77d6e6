// Contender (d), requests: round trips to a foreign C library shaped like a
// nim-ffi library (__test__/fixtures/foreign/foreign.c, loaded through
// koffi). `foreign_echo(ctx, callback, user_data, req, len)` copies the
// request, returns 0 at once, and a thread of the library's reply pool later
// calls `callback(ret, msg, len, user_data)` with the request's bytes as the
// reply. The request is a small CBOR map `{ id: i }`, encoded per request;
// the reply is decoded, and its id checked, on both sides.
//
// Two hosts for the same library, reply threads and requests:
// - ffi-events: `hub.request((callback, userData) => lib.echo(callback,
//   userData, req))`: a one-shot native handle per request; the library's
//   thread copies the reply into the hub and returns, the promise settles
//   when its batch reaches the JS thread;
// - koffi: one `koffi.register` callback of the callback's shape, the
//   request id as user_data, a Map from id to the promise's resolve/reject
//   (what a user writes today); koffi queues every call to the JS thread
//   and the library's thread waits until the JS function returned.
//
// Measured in one process, the hosts interleaved: throughput with a bounded
// window of requests in flight (each reply issues the next request), with 1
// and 4 reply threads; the latency of single round trips at low load (one
// request in flight, about 1 ms of idle event loop between them), from
// before the request is encoded to the code after its `await`. The library
// times every reply call on its thread (time around `callback(...)`).
// Until `hub.request` exists, the ffi-events side reports "not available".

import { ForeignLibrary, loadForeign } from '../../__test__/fixtures/foreign/foreign.mjs'
import { LIB_ROOT, gc, median, now, percentiles, require, sleep } from './common.mjs'

const { EventHub } = require(LIB_ROOT)
const { Decoder, Encoder } = require('cbor-x')

// The decoder options the EventHub uses for replies (lib/requests.ts).
const decoder = new Decoder({ mapsAsObjects: true, useRecords: false, copyBuffers: true })
const encoder = new Encoder({ useRecords: false })

/** Gives up on a run that made no progress for this long (a wedged host), instead of hanging the bench. */
const STALL_MS = 30_000

/** Whether this build of the package has `hub.request`. */
export function requestAvailable() {
  const hub = new EventHub()
  const available = typeof hub.request === 'function'
  void hub.close()
  return available
}

const check = (reply, id) => {
  if (reply?.id !== id) throw new Error(`request ${id}: the reply was ${JSON.stringify(reply)}`)
}

/** ffi-events: a host whose `roundTrip(id)` resolves with the decoded reply. */
function ffiHost(threads) {
  const hub = new EventHub()
  const lib = new ForeignLibrary()
  lib.startReplies(threads)
  return {
    roundTrip: (id) => {
      const req = encoder.encode({ id })
      return hub.request((callback, userData) => lib.echo(callback, userData, req))
    },
    async close() {
      lib.stopReplies()
      const cost = lib.replyCost()
      const stats = hub.stats()
      lib.destroy()
      await hub.close()
      return { cost, repliesIgnored: stats.repliesIgnored }
    },
  }
}

/** koffi: one registered callback, the request id as user_data, a Map of pending promises. */
function koffiHost(threads) {
  const { koffi, FFICallBack } = loadForeign()
  const pending = new Map()
  let unknown = 0
  // What a host writes with koffi: find the request by user_data, view the bytes (valid during the call), decode.
  const address = koffi.register((ret, msg, len, userData) => {
    const id = Number(userData)
    const entry = pending.get(id)
    if (entry === undefined) {
      unknown++
      return
    }
    pending.delete(id)
    const n = Number(len)
    const bytes = n === 0 || msg === null ? new Uint8Array(0) : new Uint8Array(koffi.view(msg, n))
    if (ret !== 0) entry.reject(new Error(`request ${id} failed (${ret}): ${Buffer.from(bytes).toString('utf8')}`))
    else {
      try {
        entry.resolve(decoder.decode(bytes))
      } catch (error) {
        entry.reject(error)
      }
    }
  }, koffi.pointer(FFICallBack))
  const lib = new ForeignLibrary()
  lib.startReplies(threads)
  // A registered callback does not keep the event loop alive: hold it while requests are pending.
  const keepAlive = setInterval(() => {}, 1000)
  return {
    roundTrip: (id) =>
      new Promise((resolve, reject) => {
        const req = encoder.encode({ id })
        pending.set(id, { resolve, reject })
        const rc = lib.echo(address, BigInt(id), req)
        if (rc !== 0) {
          pending.delete(id)
          reject(new Error(`foreign_echo returned ${rc}`))
        }
      }),
    async close() {
      // Every reply arrived (none pending): the pool's threads are idle, joining them cannot wait for JS.
      lib.stopReplies()
      const cost = lib.replyCost()
      lib.destroy()
      koffi.unregister(address)
      clearInterval(keepAlive)
      return { cost, unknown, leftPending: pending.size }
    },
  }
}

/** `total` round trips, at most `window` in flight (each reply issues the next request); round trips per second. */
function windowed(host, window, total) {
  return new Promise((resolve, reject) => {
    let issued = 0
    let done = 0
    let failed = false
    let lastProgress = Date.now()
    const watchdog = setInterval(() => {
      if (Date.now() - lastProgress > STALL_MS) fail(new Error(`no reply for ${STALL_MS} ms (${done} of ${total} done, window ${window})`))
    }, 1000)
    const fail = (error) => {
      if (failed) return
      failed = true
      clearInterval(watchdog)
      reject(error)
    }
    const t0 = now()
    const next = () => {
      if (issued >= total || failed) return
      const id = ++issued // ids from 1: user_data 0 would be NULL
      host.roundTrip(id).then((reply) => {
        check(reply, id)
        lastProgress = Date.now()
        if (++done === total) {
          clearInterval(watchdog)
          resolve(total / (now() - t0))
        } else next()
      }, fail).catch(fail)
    }
    for (let k = 0; k < window && k < total; k++) next()
  })
}

/**
 * One throughput run of `make(threads)`'s host; the library's reply-call
 * figures with it. A failed run is not closed (a koffi host's library
 * threads may be waiting for JS, joining them would wait forever): the
 * error ends the job's process.
 */
async function throughputOnce(make, threads, window, total) {
  gc()
  const host = make(threads)
  const rate = await windowed(host, window, total)
  return { rate, requests: total, ...(await host.close()) }
}

/** Requests for a run of about `ms`, from a pilot run; at least 4 windows' worth. */
async function calibrate(make, threads, window, ms, pilot) {
  const { rate } = await throughputOnce(make, threads, window, Math.max(pilot, 2 * window))
  return Math.max(4 * window, Math.round((rate * ms) / 1e3))
}

/** Single round trips, one in flight, `gapMs` of idle event loop between them; hosts alternate request by request. */
async function latencyRun(makers, samples, gapMs) {
  const hosts = Object.fromEntries(Object.entries(makers).map(([id, make]) => [id, make(1)]))
  const ns = Object.fromEntries(Object.keys(makers).map((id) => [id, []]))
  const ids = Object.keys(makers)
  const warmup = Math.min(20, samples >> 2)
  for (let k = 0; k < warmup + samples; k++) {
    for (const id of ids) {
      await sleep(gapMs)
      const t0 = process.hrtime.bigint()
      const reply = await hosts[id].roundTrip(k + 1)
      const t1 = process.hrtime.bigint()
      check(reply, k + 1)
      if (k >= warmup) ns[id].push(Number(t1 - t0))
    }
  }
  const out = {}
  for (const id of ids) out[id] = { ...(await hosts[id].close()), ...percentiles(ns[id]) }
  return out
}

const pick = (list) => {
  const rate = median(list.map((r) => r.rate))
  return { ...(list.find((r) => r.rate === rate) ?? list[0]), rate, rates: list.map((r) => r.rate) }
}

/**
 * One job: `threads` reply threads; for each window, every host interleaved,
 * `reps` repetitions, medians (runs sized by a pilot to last about `runMs`).
 * With `latencySamples` > 0, also the low-load latency (1 reply thread).
 */
export async function requests(job) {
  const { threads, windows, reps, runMs, pilot, latencySamples = 0, gapMs = 1 } = job
  const available = requestAvailable()
  const makers = available ? { ffi: ffiHost, koffi: koffiHost } : { koffi: koffiHost }
  const out = { threads, available, windows: [], latency: null }
  for (const window of windows) {
    const counts = {}
    for (const [id, make] of Object.entries(makers)) counts[id] = await calibrate(make, threads, window, runMs, pilot)
    const runs = Object.fromEntries(Object.keys(makers).map((id) => [id, []]))
    for (let rep = 0; rep < reps; rep++) {
      for (const [id, make] of Object.entries(makers)) {
        runs[id].push(await throughputOnce(make, threads, window, counts[id]))
        await sleep(20)
      }
    }
    out.windows.push({ window, ffi: available ? pick(runs.ffi) : null, koffi: pick(runs.koffi) })
  }
  if (latencySamples > 0) {
    gc()
    const lat = await latencyRun(makers, latencySamples, gapMs)
    out.latency = { samples: latencySamples, gapMs, ffi: lat.ffi ?? null, koffi: lat.koffi }
  }
  return out
}
