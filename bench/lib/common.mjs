// Shared definitions of the benchmark: payloads, listeners, timing helpers.
// Raw rows also have the contender "ffi-events, onRawSpan": the hub's
// offset listeners (`makeSpanListeners`), no view made per event.

import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const BENCH_DIR = join(dirname(fileURLToPath(import.meta.url)), '..')
export const ROOT = join(BENCH_DIR, '..')
/** The ffi-events package under test; FFI_EVENTS_BENCH_LIB points at another build (A/B runs). */
export const LIB_ROOT = process.env.FFI_EVENTS_BENCH_LIB ?? ROOT
export const BASELINE_DIR = join(BENCH_DIR, 'napi-baseline')
export const BASELINE_NODE = join(BASELINE_DIR, 'baseline.node')

export const require = createRequire(import.meta.url)

/**
 * The payload shapes, identical byte for byte across contenders:
 * - raw: `u32 thread, u32 index` (LE) then zeros (`sources.burst` encoding 'raw');
 * - tick: `{ n, at }` (`sources.ticker`), the "small CBOR object";
 * - cbor: `{ thread, i, data }`, `data` a byte string of `bytes` bytes
 *   (`sources.burst` encoding 'cbor').
 */
export const PAYLOADS = [
  { id: 'raw0', label: '0 B raw', encoding: 'raw', bytes: 0 },
  { id: 'raw64', label: '64 B raw', encoding: 'raw', bytes: 64 },
  { id: 'tick', label: '{ n, at } CBOR', encoding: 'tick', bytes: 0 },
  { id: 'cbor512', label: '512 B CBOR', encoding: 'cbor', bytes: 512 },
  { id: 'cbor4k', label: '4 KiB CBOR', encoding: 'cbor', bytes: 4096 },
  { id: 'cbor64k', label: '64 KiB CBOR', encoding: 'cbor', bytes: 65536 },
]

export const CONTENDERS = [
  { id: 'ffi', label: 'ffi-events' },
  // Raw rows only: the same hub with `onRawSpan` listeners (batch bytes and
  // offsets, no view per event); absent from the results of other rows.
  { id: 'ffiSpan', label: 'ffi-events, onRawSpan' },
  { id: 'napi', label: '(a) napi-rs TSFN per event' },
  { id: 'worker', label: '(b) worker postMessage' },
  { id: 'js', label: '(c) JS-only ceiling' },
  { id: 'batched', label: '(e) naive batching' },
  // At equal memory (bench/lib/budget.mjs), one way and the other.
  { id: 'batchedBounded', label: "(e) bounded to the ring's bytes" },
  { id: 'ffiWide', label: "ffi-events, ring = (e)'s backlog" },
]

/** Producer threads of the throughput rows. */
export const PRODUCERS = [1, 2, 4]

export const now = () => Number(process.hrtime.bigint()) / 1e9

/**
 * CPU seconds the machine has spent busy (all CPUs, from /proc/stat in
 * USER_HZ = 100 ticks; null where there is none), this process's own CPU
 * seconds (every thread), and the time: two readings give the CPU other
 * processes took meanwhile (`othersCpu`).
 */
export function cpuReading() {
  let machine = null
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number)
    machine = (f.reduce((a, b) => a + b, 0) - f[3] - f[4]) / 100
  } catch {}
  const r = process.resourceUsage()
  return { machine, own: (r.userCPUTime + r.systemCPUTime) / 1e6, wall: now() }
}

/** CPUs other processes kept busy on average between two `cpuReading()`s (null when unknown). */
export function othersCpu(a, b) {
  return a.machine === null || b.machine === null ? null : (b.machine - a.machine - (b.own - a.own)) / (b.wall - a.wall)
}
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
export const rssBytes = () => process.memoryUsage.rss()

/** Tracks the peak RSS seen while a run goes, sampled from the listener. */
export class Peak {
  constructor() {
    this.start = rssBytes()
    this.peak = this.start
  }
  sample() {
    const rss = rssBytes()
    if (rss > this.peak) this.peak = rss
  }
  /** Peak growth over the start of the run, in MB. */
  get deltaMB() {
    this.sample()
    return (this.peak - this.start) / 1e6
  }
}

/**
 * `count` listeners for one event: each touches one field of the payload
 * (so no contender can skip decoding); the first also counts events, samples
 * RSS every 4096 events, and calls `state.done()` when `state.target` is
 * reached.
 */
export function makeListeners(encoding, count, state, peak) {
  let sink = 0
  const touch =
    encoding === 'raw' ? (p) => (sink += p.length) : encoding === 'tick' ? (p) => (sink += p.n) : (p) => (sink += p.i)
  const counted = counter(state, peak)
  const first = (p) => {
    touch(p)
    counted()
  }
  const fns = [first]
  for (let i = 1; i < count; i++) fns.push((p) => touch(p))
  state.sink = () => sink
  return fns
}

/**
 * `makeListeners` for `hub.onRawSpan` on raw rows: each listener gets the
 * batch's bytes and the event's `start` and `end`, and touches the event's
 * length (`end - start`) as the raw listeners touch `p.length`; the first
 * also counts events, samples RSS every 4096 events, and calls
 * `state.done()` when `state.target` is reached.
 */
export function makeSpanListeners(count, state, peak) {
  let sink = 0
  const touch = (start, end) => (sink += end - start)
  const counted = counter(state, peak)
  const first = (bytes, start, end) => {
    touch(start, end)
    counted()
  }
  const fns = [first]
  for (let i = 1; i < count; i++) fns.push((bytes, start, end) => touch(start, end))
  state.sink = () => sink
  return fns
}

/** The first listener's bookkeeping: counts the event, samples RSS every 4096 events, ends the run at `state.target`. */
function counter(state, peak) {
  return () => {
    const n = ++state.n
    if ((n & 4095) === 0) peak.sample()
    if (n === state.target) state.done()
  }
}

export function newState(target = Infinity) {
  const state = { n: 0, target, tEnd: 0, done: () => {} }
  state.finished = new Promise((resolve) => {
    state.done = () => {
      state.tEnd = now()
      resolve()
    }
  })
  return state
}

export function gc() {
  if (typeof globalThis.gc === 'function') globalThis.gc()
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** Percentiles of latencies in ns, reported in µs. */
export function percentiles(ns) {
  const sorted = Float64Array.from(ns).sort()
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] / 1e3
  return {
    samples: sorted.length,
    p50: at(0.5),
    p99: at(0.99),
    p999: at(0.999),
    max: sorted[sorted.length - 1] / 1e3,
  }
}
