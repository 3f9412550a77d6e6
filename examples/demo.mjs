#!/usr/bin/env node
// ffi-events live demo: native threads emit, this JS thread listens.
//
//   npm run demo                 about 10 s, redrawn in place on a terminal
//   npm run demo -- --seconds 3  shorter; plain lines when stdout is not a TTY
//
// Uses the built package (`npm run build` first). Sources: two tickers on
// their own native threads (1 kHz and 100 Hz), every second a burst of 4
// native threads emitting 12,500 events as fast as they can, and halfway
// through one flood of 400,000 events that overflows the ring, so that
// refusals and a not_responding/responding episode show up.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { EventHub, sources } = require('..')

function parseSeconds(argv) {
  const i = argv.indexOf('--seconds')
  const raw = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith('--seconds='))?.slice(10)
  if (raw === undefined) return 10
  const n = Number(raw)
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`--seconds must be a positive number, got ${raw}`)
    process.exit(2)
  }
  return n
}

const seconds = parseSeconds(process.argv.slice(2))
const tty = process.stdout.isTTY === true
const CAPACITY = 16_384

const hub = new EventHub({ capacity: CAPACITY, overflow: 'reject', stallTimeoutMs: 1000 })

// Per-name counters for the current interval and for the whole run.
const names = ['fast', 'slow', 'burst']
const interval = new Map(names.map((n) => [n, 0]))
const total = new Map(names.map((n) => [n, 0]))
const count = (name) => {
  interval.set(name, interval.get(name) + 1)
  total.set(name, total.get(name) + 1)
}

// Latency: ticker `at` (ns on process.hrtime.bigint()'s clock) to listener.
const latencies = [] // µs, current interval
const allLatencies = [] // µs, sampled for the summary
const onTick = (name) => (tick) => {
  count(name)
  const us = Number(process.hrtime.bigint() - BigInt(tick.at)) / 1000
  latencies.push(us)
  if (allLatencies.length < 200_000) allLatencies.push(us)
}
hub.on('fast', onTick('fast'))
hub.on('slow', onTick('slow'))
hub.onRaw('burst', () => count('burst'))

let episodes = 0
let stuckNow = false
hub.on('not_responding', () => {
  episodes++
  stuckNow = true
})
hub.on('responding', () => {
  stuckNow = false
})
hub.onError((err) => console.error('delivery error:', err.code, err.message))

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}
const fmtUs = (us) => (Number.isNaN(us) ? '     -' : us >= 10_000 ? `${(us / 1000).toFixed(1)}ms`.padStart(6) : `${us.toFixed(0)}µs`.padStart(6))
const fmtRate = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : `${n.toFixed(0)}`).padStart(7)

// Sources: two tickers, and a burst every second on 4 threads.
const tickers = [
  sources.ticker(hub, { name: 'fast', intervalMs: 1, heartbeat: true }),
  sources.ticker(hub, { name: 'slow', intervalMs: 10 }),
]
const bursts = []
const burstTimer = setInterval(() => {
  bursts.push(sources.burst(hub, { name: 'burst', count: 12_500, threads: 4, payloadBytes: 32, encoding: 'raw' }))
}, 1000)
bursts.push(sources.burst(hub, { name: 'burst', count: 12_500, threads: 4, payloadBytes: 32, encoding: 'raw' }))
const floodTimer = setTimeout(() => {
  bursts.push(sources.burst(hub, { name: 'burst', count: 400_000, threads: 4, payloadBytes: 32, encoding: 'raw' }))
}, seconds * 500)

const started = process.hrtime.bigint()
let last = started
let lastStats = hub.stats()
let frames = 0
const PERIOD_MS = tty ? 250 : 1000

function frame() {
  const now = process.hrtime.bigint()
  const dt = Number(now - last) / 1e9
  last = now
  const st = hub.stats()
  const sorted = latencies.sort((a, b) => a - b)
  const elapsed = Number(now - started) / 1e9
  const rates = names.map((n) => [n, interval.get(n) / dt])
  const refused = st.refused - lastStats.refused
  const lat = `p50 ${fmtUs(percentile(sorted, 50))} p99 ${fmtUs(percentile(sorted, 99))} max ${fmtUs(sorted.at(-1) ?? NaN)}`
  if (tty) {
    const lines = [
      `\x1b[1mffi-events demo\x1b[0m  ${elapsed.toFixed(1)} s / ${seconds} s   native threads: ${st.runningThreads}`,
      '',
      '  event      rate/s      total',
      ...rates.map(([n, r]) => `  ${n.padEnd(8)} ${fmtRate(r)} ${String(total.get(n)).padStart(10)}`),
      '',
      `  queue      ${String(st.queued).padStart(5)} / ${st.capacity}   high water ${st.highWater}`,
      `  refused    ${String(st.refused).padStart(10)}  (+${refused} this frame)   episodes ${episodes}${stuckNow ? '  \x1b[33mNOT RESPONDING\x1b[0m' : ''}`,
      `  batches    ${String(st.batches).padStart(10)}   wake-ups ${st.wakeups}`,
      `  latency    ${lat}  (ticker at -> listener)`,
    ]
    // Move to the frame's top-left corner, then rewrite each line in place.
    if (frames > 0) process.stdout.write(`\x1b[${lines.length}A`)
    process.stdout.write(lines.map((l) => `\r\x1b[2K${l}`).join('\n') + '\n')
  } else {
    const r = rates.map(([n, v]) => `${n}=${v.toFixed(0)}/s`).join(' ')
    console.log(`t=${elapsed.toFixed(1)}s ${r} queued=${st.queued} highWater=${st.highWater} refused=${st.refused} episodes=${episodes} latency ${lat.replace(/\s+/g, ' ')}`)
  }
  frames++
  for (const n of names) interval.set(n, 0)
  latencies.length = 0
  lastStats = st
}

const frameTimer = setInterval(frame, PERIOD_MS)
await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
clearInterval(frameTimer)
clearInterval(burstTimer)
clearTimeout(floodTimer)
frame()

for (const t of tickers) t.stop()
const burstResults = await Promise.all(bursts)
await hub.close()

const st = hub.stats()
const sorted = allLatencies.sort((a, b) => a - b)
const lost = burstResults.reduce((a, b) => a + b.lost, 0)
console.log('')
console.log('summary')
console.log(`  ran ${seconds} s; events per name: ${names.map((n) => `${n} ${total.get(n)}`).join(', ')}`)
const balanced = st.emitted === st.delivered + st.refused + st.discarded + st.queued
console.log(`  emitted ${st.emitted} = delivered ${st.delivered} + refused ${st.refused} + discarded ${st.discarded} + queued ${st.queued}  ${balanced ? '(balanced)' : '(NOT BALANCED)'}`)
console.log(`  bursts: ${burstResults.length}, burst events refused by the full ring and lost: ${lost}; not_responding episodes: ${episodes}`)
console.log(`  batches ${st.batches}, wake-ups ${st.wakeups}, ${(st.delivered / Math.max(1, st.batches)).toFixed(1)} events per batch`)
console.log(`  ticker latency p50 ${fmtUs(percentile(sorted, 50)).trim()}, p90 ${fmtUs(percentile(sorted, 90)).trim()}, p99 ${fmtUs(percentile(sorted, 99)).trim()}, max ${fmtUs(sorted.at(-1) ?? NaN).trim()}`)
console.log(`  hub closed: ${st.closed}, native threads still running: ${st.runningThreads}`)
if (!balanced || st.runningThreads !== 0) process.exitCode = 1
