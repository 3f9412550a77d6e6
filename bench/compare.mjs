// `node bench/compare.mjs <before.json> <after.json>`: the ratios the hot-path
// targets judge, side by side for two full runs, as Markdown. Absolute rates
// of two runs are not compared: this VM's speed moves between days, ratios
// measured inside one run move less. The 64 B raw rows are also given for
// the hub with onRawSpan listeners (no view per event), '—' for a run
// without them.
import { readFileSync } from 'node:fs'

import { bestPeer } from './lib/report.mjs'

const [beforeFile, afterFile] = process.argv.slice(2)
if (!beforeFile || !afterFile) throw new TypeError('usage: node bench/compare.mjs <before.json> <after.json>')
const load = (f) => JSON.parse(readFileSync(f, 'utf8'))
const before = load(beforeFile)
const after = load(afterFile)

const find = (r, payload, threads = 1, listeners = 1) =>
  r.throughput.find((t) => t.scenario.payload === payload && t.scenario.threads === threads && t.scenario.listeners === listeners)?.result
const ratio = (r, payload, other, own = 'ffi') => {
  const t = find(r, payload)
  return t && t[own] && t[other] ? t[own].rate / t[other].rate : undefined
}
const fourVsOne = (r) => {
  let lowest
  for (const t of r.throughput) {
    if (t.scenario.threads !== 4) continue
    const one = find(r, t.scenario.payload, 1, t.scenario.listeners)
    if (!one) continue
    const x = t.result.ffi.rate / one.ffi.rate
    if (lowest === undefined || x < lowest.x) lowest = { x, label: `${t.scenario.payload} · ${t.scenario.listeners} lis` }
  }
  return lowest
}
const cbor = (r) => {
  const xs = r.throughput.filter((t) => t.scenario.encoding !== 'raw' && t.result.batched).map((t) => t.result.ffi.rate / t.result.batched.rate)
  return xs.length ? Math.min(...xs) : undefined
}
const crit = (r, id) => r.criterion?.find((c) => c.id === id)?.mean
/** ffi-events' latency p99 at `rate` and the better peer's, as `ffi / peer (label)`. */
const latency = (r, rate) => {
  const row = r.latency?.find((l) => l.rate === rate)?.result
  if (!row) return '—'
  const best = bestPeer(row)
  return `${us(row.ffi.p99)} / ${us(best.p99)} ${best.label}`
}
const x = (v) => (v === undefined ? '—' : `${v.toFixed(2)}x`)
const ns = (v) => (v === undefined ? '—' : `${v.toFixed(1)} ns`)
const us = (v) => (v === undefined ? '—' : v >= 1000 ? `${(v / 1000).toFixed(2)} ms` : `${v.toFixed(1)} µs`)
const mb = (v) => (v === undefined ? '—' : `${v >= 0 ? '+' : ''}${v.toFixed(1)} MB`)

const rows = [
  ['`{ n, at }` 1×1 vs (a)', '≥ 6x', (r) => x(ratio(r, 'tick', 'napi'))],
  ['`{ n, at }` 1×1 vs (b)', '≥ 5x', (r) => x(ratio(r, 'tick', 'worker'))],
  ['`{ n, at }` 1×1 vs (c)', '(≥ 0.5x)', (r) => x(ratio(r, 'tick', 'js'))],
  ['64 B raw 1×1 vs (a)', '≥ 12x', (r) => x(ratio(r, 'raw64', 'napi'))],
  ['64 B raw 1×1 vs (a), onRawSpan', '≥ 12x', (r) => x(ratio(r, 'raw64', 'napi', 'ffiSpan'))],
  ['64 B raw 1×1 vs (c)', '≥ 0.4x', (r) => x(ratio(r, 'raw64', 'js'))],
  ['64 B raw 1×1 vs (c), onRawSpan', '≥ 0.4x', (r) => x(ratio(r, 'raw64', 'js', 'ffiSpan'))],
  ['64 B raw 1×1 vs (e)', '≥ 1.2x', (r) => x(ratio(r, 'raw64', 'batched'))],
  ['64 B raw 1×1 vs (e), onRawSpan', '≥ 1.2x', (r) => x(ratio(r, 'raw64', 'batched', 'ffiSpan'))],
  ['every CBOR row vs (e), lowest', '≥ 1x', (r) => x(cbor(r))],
  ['4 producers / 1 producer, lowest row', '≥ 1x', (r) => { const l = fourVsOne(r); return l ? `${x(l.x)} (${l.label})` : '—' }],
  ['`emit_raw` 64 B, drained (criterion)', '< 100 ns', (r) => ns(crit(r, 'emit_raw_64B/1_thread/drained'))],
  ['refused `emit_raw` / `emit` (criterion)', '< 30 ns', (r) => `${ns(crit(r, 'emit_raw_64B/1_thread/ring_full'))} / ${ns(crit(r, 'emit_64B/1_thread/ring_full'))}`],
  ['RSS growth over 10 M events', '< 2 MB', (r) => mb(r.memory?.growthMB)],
  ...[1000, 10000, 100000].map((rate) => [`latency p99 at ${rate.toLocaleString('en-US')}/s (ffi / best peer)`, '≤ 1x', (r) => latency(r, rate)]),
]
const date = (r) => r.machine?.date?.slice(0, 10) ?? '?'
console.log(`| what | target | before (${date(before)}) | after (${date(after)}) |`)
console.log('| --- | --- | ---: | ---: |')
for (const [what, target, f] of rows) console.log(`| ${what} | ${target} | ${f(before)} | ${f(after)} |`)
