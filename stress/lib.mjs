// Helpers shared by the reliability cases. Nothing here asserts on time:
// durations are reported, never compared; timeouts are hang guards only.
import { readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
/** The package under test, loaded by its own name (package self-reference). */
export const { EventHub, sources, EventHubError } = require('ffi-events')

/** Threads of this process (Linux), or -1 where /proc is missing. */
export function threadCount() {
  try {
    return readdirSync('/proc/self/task').length
  } catch {
    return -1
  }
}

/** Resident set size in bytes. */
export function rss() {
  try {
    const status = readFileSync('/proc/self/status', 'utf8')
    const kb = /VmRSS:\s+(\d+)/.exec(status)
    if (kb) return Number(kb[1]) * 1024
  } catch {}
  return process.memoryUsage().rss
}

export const mib = (bytes) => Math.round((bytes / 1048576) * 10) / 10

/** Full GCs, when the process runs with --expose-gc. */
export async function settle() {
  for (let i = 0; i < 3; i++) {
    globalThis.gc?.()
    await new Promise((resolve) => setImmediate(resolve))
  }
}

export const turn = () => new Promise((resolve) => setImmediate(resolve))
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Resolves once `cond()` holds; throws after `timeoutMs` (a hang guard). */
export async function until(cond, what, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`hang guard: timed out waiting for ${what}`)
    await sleep(1)
  }
}

/** Seeded PRNG (mulberry32): the same seed gives the same cases. */
export function prng(seed) {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  next.int = (n) => Math.floor(next() * n)
  next.bytes = (n) => {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = next.int(256)
    return out
  }
  return next
}

/** A set of sequence numbers 1..max as a bitmap; `add` reports duplicates. */
export class SeqSet {
  constructor(max) {
    this.bits = new Uint8Array((max >>> 3) + 2)
    this.max = max
    this.size = 0
    this.duplicates = 0
    this.outOfRange = 0
  }
  add(seq) {
    if (!(seq >= 1 && seq <= this.max)) {
      this.outOfRange++
      return false
    }
    const i = seq >>> 3
    const m = 1 << (seq & 7)
    if (this.bits[i] & m) {
      this.duplicates++
      return false
    }
    this.bits[i] |= m
    this.size++
    return true
  }
  has(seq) {
    return (this.bits[seq >>> 3] & (1 << (seq & 7))) !== 0
  }
  /** Sequence numbers in 1..upTo never added. */
  missing(upTo) {
    let n = 0
    for (let s = 1; s <= upTo; s++) if (!this.has(s)) n++
    return n
  }
}

/** Reads the `u32 thread, u32 index` header of a raw burst payload. */
export function rawHeader(bytes) {
  const thread = bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24)
  const i = (bytes[4] | (bytes[5] << 8) | (bytes[6] << 16) | (bytes[7] << 24)) >>> 0
  return { thread, i }
}

/** Collects violations; each is a sentence naming the broken invariant. */
export class Check {
  constructor() {
    this.violations = []
  }
  that(ok, message) {
    if (!ok) this.violations.push(message)
    return ok
  }
  eq(actual, expected, what) {
    return this.that(actual === expected, `${what}: expected ${expected}, got ${actual}`)
  }
}

export const fmt = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : String(n))
export const rate = (events, ms) => (ms > 0 ? `${(events / ms / 1000).toFixed(2)} M/s` : 'n/a')
