// Tables (terminal and Markdown) and the SVG chart. No dependencies.
// Raw rows also show "ffi-events, onRawSpan" (the hub's offset listeners, no
// view per event): its rate and its ratios to (a), (c), (e) and (e) bounded;
// rows without it show '—'.

import { SLOT_BYTES } from './budget.mjs'
import { CONTENDERS, PAYLOADS, PRODUCERS, median } from './common.mjs'

export const fmtRate = (r) => (r >= 1e6 ? `${(r / 1e6).toFixed(2)} M/s` : r >= 1e3 ? `${(r / 1e3).toFixed(1)} k/s` : `${r.toFixed(0)} /s`)
export const fmtRatio = (x) => (Number.isFinite(x) ? `${x >= 10 ? x.toFixed(1) : x.toFixed(2)}x` : 'n/a')
export const fmtUs = (us) => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(1)} µs`)
const fmtMB = (mb) => `${mb >= 0 ? '+' : ''}${mb.toFixed(1)} MB`
const pct = (f) => `${(f * 100).toFixed(f < 0.01 && f > 0 ? 2 : 0)}%`
// Results written before the hub's counters were renamed carry `dropped` and
// `dropFraction` where newer ones carry `refused` and `refusedFraction`.
const overloadRefused = (o) => o.refusedFraction ?? o.dropFraction

export function scenarioTitle(sc) {
  const payload = PAYLOADS.find((p) => p.id === sc.payload)
  return `${sc.threads} producer${sc.threads > 1 ? 's' : ''} · ${payload.label} · ${sc.listeners} listener${sc.listeners > 1 ? 's' : ''}`
}

/**
 * ffi-events' rate over each contender's, in one scenario: `eBounded` over
 * (e) capped at the ring's bytes, `eWide` the hub with its ring sized to
 * (e)'s backlog over (e), `one` N producers over 1 producer (multi-producer
 * rows); `spanA`, `spanC`, `spanE`, `spanEBounded` the same hub with
 * onRawSpan listeners (raw rows) over (a), (c), (e) and (e) bounded; NaN
 * where a run (an older results file, a CBOR row) lacks the contender.
 */
export function ratios(result) {
  const ffi = result.ffi.rate
  const span = result.ffiSpan?.rate ?? NaN
  return {
    a: ffi / result.napi.rate,
    b: ffi / result.worker.rate,
    c: ffi / result.js.rate,
    e: ffi / result.batched.rate,
    eBounded: ffi / (result.batchedBounded?.rate ?? NaN),
    eWide: (result.ffiWide?.rate ?? NaN) / result.batched.rate,
    one: ffi / (result.ffiOne?.rate ?? NaN),
    spanA: span / result.napi.rate,
    spanC: span / result.js.rate,
    spanE: span / result.batched.rate,
    spanEBounded: span / (result.batchedBounded?.rate ?? NaN),
  }
}

function table(headers, rows, align) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)))
  const line = (cells) =>
    cells.map((c, i) => (align[i] === 'r' ? String(c).padStart(widths[i]) : String(c).padEnd(widths[i]))).join('  ')
  return [line(headers), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

function markdown(headers, rows, align) {
  const sep = align.map((a) => (a === 'r' ? '---:' : '---'))
  return [headers, sep, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n')
}

const fmtCount = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e4 ? `${(n / 1e3).toFixed(0)}k` : `${n}`)
const ffiNote = (r) => `${r.events} events, none lost; ${r.retried} refusals retried, ${r.eventsPerBatch.toFixed(0)} events/batch, ${r.wakeups} wake-ups`

/** One terminal table per scenario: rate, ratio of ffi-events to it, memory, notes. */
export function scenarioTable(sc, result) {
  const rows = CONTENDERS.filter(({ id }) => result[id]).map(({ id, label }) => {
    const r = result[id]
    const ratio = id === 'ffi' ? '—' : fmtRatio(result.ffi.rate / r.rate)
    let note = ''
    if (id === 'ffi') note = ffiNote(r)
    if (id === 'ffiSpan') note = `hub.onRawSpan listeners (batch bytes and offsets, no view per event); ${ffiNote(r)}`
    if (id === 'napi' || id === 'worker') note = `${r.events} events queued up front`
    if (id === 'js') note = sc.encoding === 'raw' ? `views of ${r.perCall} payloads, looped` : `decodeMultiple over a sequence of ${r.perCall} payloads, looped`
    if (id === 'batched') note = `${r.events} events, none lost; ${r.eventsPerBatch.toFixed(0)} events/batch, largest ${fmtCount(r.peakEvents)}`
    if (id === 'batchedBounded')
      note = `batch capped at ${r.maxBytes} B (a full default ring's): ${r.eventsPerBatch.toFixed(0)} events/batch, largest ${fmtCount(r.peakEvents)}; ${r.retried} refusals retried`
    if (id === 'ffiWide')
      note = `capacity ${fmtCount(r.capacity)} (${((r.capacity * SLOT_BYTES) / 1e6).toFixed(1)} MB of slots; (e)'s largest batch ${fmtCount(r.sizedFrom)}), high water ${fmtCount(r.highWater)}; ${ffiNote(r)}`
    return [label, fmtRate(r.rate), ratio, fmtMB(r.peakMB), note]
  })
  const o = result.overload
  rows.splice(1, 0, ['ffi-events, overload', fmtRate(o.rate), '', '', `producers flat out, never waiting: ${pct(overloadRefused(o))} of ${fmtRate(o.attemptRate)} attempts refused`])
  const one = result.ffiOne
  if (one) rows.splice(2, 0, ['ffi-events, 1 producer', fmtRate(one.rate), fmtRatio(result.ffi.rate / one.rate), fmtMB(one.peakMB), `beside the ${sc.threads}-producer runs; ${ffiNote(one)}`])
  const others = typeof result.othersCpu === 'number' ? `  (other processes kept ${result.othersCpu.toFixed(2)} CPUs busy meanwhile)` : ''
  return `── ${scenarioTitle(sc)} ──${others}${probeNote(result.machine)}\n${table(['contender', 'events/s', 'ffi-events / x', 'peak ΔRSS', 'notes'], rows, ['l', 'r', 'r', 'r', 'l'])}`
}

/**
 * What the machine probe (bench/lib/probe.mjs) saw during a row: its
 * median round trip, and the repetitions done again or kept while the two
 * CPUs were far apart.
 */
export function probeNote(machine) {
  if (!machine?.readings?.length) return ''
  let note = `\n  probe: median round trip ${median(machine.readings).toFixed(0)} ns`
  if (machine.redone) note += `; ${machine.redone} repetition(s) done again, CPUs far apart (waited ${(machine.waitedMs / 1e3).toFixed(1)} s in all)`
  else if (machine.waitedMs >= 1000) note += `; waited ${(machine.waitedMs / 1e3).toFixed(1)} s for close CPUs`
  if (machine.distantKept) note += `; ${machine.distantKept} repetition(s) kept with CPUs far apart (no more redos allowed)`
  return note
}

/**
 * The machine probe over a run: per throughput row and latency rate, the
 * median round trip after the kept runs, the repetitions (latency: turns)
 * done again because the CPUs were far apart, the time waited for close
 * CPUs, and those kept far apart once no redo was left.
 */
export function probeTable(results, md = false) {
  const rows = []
  const add = (what, machine) => {
    if (!machine?.readings?.length) return
    rows.push([what, `${median(machine.readings).toFixed(0)} ns`, `${Math.max(...machine.readings).toFixed(0)} ns`, `${machine.redone}`, `${(machine.waitedMs / 1e3).toFixed(1)} s`, `${machine.distantKept}`])
  }
  for (const { scenario, result } of results.throughput ?? []) add(scenarioTitle(scenario), result.machine)
  for (const { rate, result } of results.latency ?? []) add(`latency, ${rate.toLocaleString('en-US')}/s`, result.machine)
  if (!rows.length) return undefined
  return (md ? markdown : table)(
    ['row', 'round trip (median)', 'round trip (highest)', 'redone, CPUs far apart', 'waited', 'kept far apart'],
    rows,
    ['l', 'r', 'r', 'r', 'r', 'r'],
  )
}

/** A rate, or '—' for a contender the run lacks. */
const rateOf = (r) => (r ? fmtRate(r.rate) : '—')
const ratioOf = (x) => (Number.isNaN(x) ? '—' : fmtRatio(x))
const mbOf = (r, digits = 0) => (r ? r.peakMB.toFixed(digits) : '—')

function summaryRows(throughput) {
  return throughput.map(({ scenario, result }) => {
    const q = ratios(result)
    const wide = result.ffiWide
    return [
      String(scenario.threads),
      PAYLOADS.find((p) => p.id === scenario.payload).label,
      String(scenario.listeners),
      fmtRate(result.ffi.rate),
      rateOf(result.ffiSpan),
      fmtRate(result.napi.rate),
      fmtRate(result.worker.rate),
      fmtRate(result.js.rate),
      fmtRate(result.batched.rate),
      rateOf(result.batchedBounded),
      wide ? `${fmtRate(wide.rate)} (${fmtCount(wide.capacity)})` : '—',
      fmtRatio(q.a),
      fmtRatio(q.b),
      fmtRatio(q.c),
      fmtRatio(q.e),
      ratioOf(q.eBounded),
      ratioOf(q.eWide),
      ratioOf(q.spanA),
      ratioOf(q.spanC),
      ratioOf(q.spanE),
      ratioOf(q.spanEBounded),
      scenario.threads > 1 ? ratioOf(q.one) : '—',
      `${fmtRate(result.overload.rate)} (${pct(overloadRefused(result.overload))})`,
      [mbOf(result.ffi, 1), mbOf(result.napi), mbOf(result.worker), mbOf(result.batched), mbOf(result.batchedBounded, 1), mbOf(wide)].join(' / '),
    ]
  })
}
const SUMMARY_HEADERS = [
  'prod',
  'payload',
  'lis',
  'ffi-events',
  'ffi onRawSpan',
  '(a) napi',
  '(b) worker',
  '(c) JS-only',
  '(e) batching',
  '(e) bounded',
  'ffi ring=(e) (capacity)',
  'ffi/(a)',
  'ffi/(b)',
  'ffi/(c)',
  'ffi/(e)',
  'ffi/(e) bounded',
  'ffi ring=(e) / (e)',
  'onRawSpan/(a)',
  'onRawSpan/(c)',
  'onRawSpan/(e)',
  'onRawSpan/(e) bounded',
  'N prod / 1 prod',
  'ffi overload (refused)',
  'peak ΔRSS MB ffi/(a)/(b)/(e)/(e) bounded/ffi ring=(e)',
]
const SUMMARY_ALIGN = ['r', 'l', ...SUMMARY_HEADERS.slice(2).map(() => 'r')]

export function summaryTable(throughput, md = false) {
  return (md ? markdown : table)(SUMMARY_HEADERS, summaryRows(throughput), SUMMARY_ALIGN)
}

/**
 * ffi-events with N producers over 1 producer, per row of N producers:
 * `side` from the 1-producer run in the same process (rows that have one),
 * `across` against the 1-producer row of the same payload and listeners
 * (another process, run minutes apart).
 */
export function producerRatios(throughput, threads) {
  return throughput
    .filter((t) => t.scenario.threads === threads)
    .map((t) => {
      const one = throughput.find(
        (u) => u.scenario.threads === 1 && u.scenario.payload === t.scenario.payload && u.scenario.listeners === t.scenario.listeners,
      )
      const reps = t.result.ffiOne?.rates ?? []
      return {
        title: scenarioTitle(t.scenario),
        side: ratios(t.result).one,
        across: one ? t.result.ffi.rate / one.result.ffi.rate : NaN,
        // How far the 1-producer runs of the row spread (fastest / slowest): the noise of one figure.
        spread: reps.length > 1 ? Math.max(...reps) / Math.min(...reps) : NaN,
      }
    })
}

/** One line per producer count: the lowest and median N/1 ratios, side by side and across rows. */
export function producersSummary(throughput) {
  const lines = []
  const describe = (rows, key) => {
    const xs = rows.filter((r) => !Number.isNaN(r[key]))
    if (!xs.length) return 'n/a'
    const sorted = xs.map((r) => r[key]).sort((a, b) => a - b)
    const worst = xs.reduce((w, r) => (r[key] < w[key] ? r : w))
    const mid = sorted.length >> 1
    const med = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    return `lowest ${fmtRatio(worst[key])} (${worst.title}), median ${fmtRatio(med)}, ${sorted.filter((x) => x >= 1).length} of ${sorted.length} rows ≥ 1x`
  }
  for (const threads of PRODUCERS.filter((n) => n > 1)) {
    const rows = producerRatios(throughput, threads)
    if (!rows.length) continue
    const spreads = rows.map((r) => r.spread).filter((x) => !Number.isNaN(x)).sort((a, b) => a - b)
    const spread = spreads.length ? `; the 1-producer runs of a row spread by ${fmtRatio(spreads[spreads.length >> 1])} (fastest / slowest, median row)` : ''
    lines.push(`${threads} producers vs 1, side by side: ${describe(rows, 'side')}; across rows: ${describe(rows, 'across')}${spread}`)
  }
  return lines.join('\n')
}

/** The latency rows' contenders, in table order. */
const LATENCY_LABELS = [
  ['ffi', 'ffi-events'],
  ['napi', '(a) napi-rs TSFN'],
  ['worker', '(b) worker postMessage'],
]

/** The better peer of a latency row by p99: `{ id, label, p99 }` of (a) or (b). */
export function bestPeer(result) {
  const peers = LATENCY_LABELS.filter(([id]) => id !== 'ffi' && result[id])
  const [id, label] = peers.reduce((best, peer) => (result[peer[0]].p99 < result[best[0]].p99 ? peer : best))
  return { id, label: label.split(' ')[0], p99: result[id].p99 }
}

/**
 * Latency rows: percentiles per contender and rate over all its slices;
 * "slice p99 (median)" is the median of its slices' own p99s (the figure a
 * burst of load from elsewhere moves least); "refused" counts ticks a full
 * ring turned away, "late" ticks the producer stamped an interval or more
 * after their deadline (their latency is still measured from the stamp),
 * "sends ≥ 50 µs" the transport calls on the producer's thread that took
 * that long (and the longest); "ffi p99 / best" is ffi-events' p99 over the
 * better peer's.
 */
export function latencyTable(latency, md = false) {
  const rows = []
  for (const { rate, result } of latency) {
    const best = bestPeer(result)
    for (const [id, label] of LATENCY_LABELS) {
      const r = result[id]
      const vsBest = id === 'ffi' ? fmtRatio(r.p99 / best.p99) : ''
      const late = r.late === undefined ? '—' : `${r.late}`
      const slice = r.sliceP99?.length ? fmtUs(median(r.sliceP99)) : '—'
      const slow = r.slowSends === undefined ? '—' : `${r.slowSends} (max ${fmtUs(r.maxSendUs)})`
      rows.push([`${rate.toLocaleString('en-US')}/s`, label, fmtUs(r.p50), fmtUs(r.p99), fmtUs(r.p999), fmtUs(r.max), slice, vsBest, `${r.samples}`, `${r.refused ?? r.dropped ?? 0}`, late, slow])
    }
  }
  return (md ? markdown : table)(
    ['rate', 'contender', 'p50', 'p99', 'p99.9', 'max', 'slice p99 (median)', 'ffi p99 / best', 'samples', 'refused', 'late', 'sends ≥ 50 µs'],
    rows,
    ['r', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  )
}

export function memoryTable(mem, md = false) {
  const rows = mem.samples.map((s) => [
    `${(s.events / 1e6).toFixed(s.events % 1e6 ? 1 : 0)} M`,
    s.rssMB.toFixed(1),
    s.heapTotalMB === undefined ? '—' : s.heapTotalMB.toFixed(1),
    s.heapTotalMB === undefined ? '—' : (s.rssMB - s.heapTotalMB).toFixed(1),
    s.heapUsedMB.toFixed(1),
  ])
  return (md ? markdown : table)(
    ['events delivered', 'RSS MB', 'V8 heap total MB', 'RSS outside V8 heap MB', 'heap used MB'],
    rows,
    ['r', 'r', 'r', 'r', 'r'],
  )
}

/** The malformed-event row: delivery time per event by mix, and what one malformed event costs against a good one. */
export function malformedTable(m, md = false) {
  const rows = m.rows.map((r) => [
    r.label,
    fmtNs(r.perEventNs),
    r.perBadNs === null ? '—' : fmtNs(r.perBadNs),
    r.badVsGood === null ? '—' : `${r.badVsGood.toFixed(1)}x`,
    r.badVsAlone === null ? '—' : `${r.badVsAlone.toFixed(2)}x`,
  ])
  const bad = Object.entries(m.alone.malformedNs)
    .map(([kind, ns]) => `${kind} ${fmtNs(ns)}`)
    .join(', ')
  const note = `decoding alone with cbor-x in a plain loop: good ${fmtNs(m.alone.goodNs)}, malformed ${bad} (each error caught)`
  return `${(md ? markdown : table)(
    ['batch', 'per event', 'per malformed event', 'malformed vs good', 'malformed vs decoding it alone'],
    rows,
    ['l', 'r', 'r', 'r', 'r'],
  )}\n${note}`
}

export function criterionTable(crit, md = false) {
  const rows = crit.map((c) => [c.id, `${c.mean.toFixed(1)} ns`, `${c.low.toFixed(1)}–${c.high.toFixed(1)} ns`])
  return (md ? markdown : table)(['benchmark', 'mean', '95% CI'], rows, ['l', 'r', 'r'])
}

/** Mean duration of the calls under 100 µs (those not descheduled mid-call), when every call was recorded. */
export const meanBelow = (c) => (c.recorded === c.calls && c.calls > c.slowCalls ? (c.meanNs * c.calls - c.slowNs) / (c.calls - c.slowCalls) : NaN)
export const fmtNs = (ns) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(2)} µs` : `${ns.toFixed(0)} ns`)

/** Contender (d): a foreign C library's threads into hub.nativeSink() vs koffi registered callbacks. */
export function foreignTable(foreign, md = false) {
  const rows = []
  for (const f of foreign) {
    const cost = (c) => [fmtNs(c.meanNs), fmtNs(c.p50Ns), fmtNs(c.p99Ns), fmtNs(c.maxNs), `${c.slowCalls} (${fmtNs(c.slowNs)})`]
    rows.push([String(f.threads), 'ffi-events nativeSink()', fmtRate(f.sink.rate), fmtRatio(f.sink.rate / f.koffi.rate), ...cost(f.sink.cost), `${f.sink.events} events, ring holds the run, ${f.sink.refused ?? f.sink.dropped} refused; library done at ${fmtRate(f.sink.libraryRate)}`])
    rows.push([String(f.threads), 'nativeSink(), default ring', fmtRate(f.small.rate), '', ...cost(f.small.cost), `capacity 1024: ${pct(f.small.refusedFraction)} of ${f.small.calls} calls refused (counted)`])
    rows.push([String(f.threads), 'nativeSink(), JS thread blocked', '—', '', ...cost(f.blocked.cost), `${f.blocked.calls} calls in ${fmtUs(f.blocked.seconds * 1e6)}, ${f.blocked.deliveredDuringRun} delivered meanwhile; mean of calls < 100 µs ${fmtNs(meanBelow(f.blocked.cost))}`])
    for (const [label, run] of [
      ['nativeSink(), paced, JS blocked', f.pacedBlocked],
      ['nativeSink(), paced, JS free', f.pacedFree],
    ]) {
      if (run) rows.push([String(f.threads), label, '—', '', ...cost(run.cost), `${run.calls} calls, ${fmtUs(run.intervalNs / 1e3)} of sleep after each, in ${fmtUs(run.seconds * 1e6)}; ${run.deliveredDuringRun} delivered meanwhile`])
    }
    rows.push([String(f.threads), '(d) koffi.register callback', fmtRate(f.koffi.rate), '—', ...cost(f.koffi.cost), `${f.koffi.events} events, library thread waits for each JS call`])
  }
  return (md ? markdown : table)(
    ['threads', 'host', 'events/s', 'vs koffi', 'call mean', 'p50', 'p99', 'max', 'calls ≥ 100 µs (time)', 'notes'],
    rows,
    ['r', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
  )
}

/** Contender (d), requests: round trips through hub.request() vs koffi.register callbacks, and the library's time per reply call. */
export function requestsTable(requests, md = false) {
  const rows = []
  const call = (c) => (c ? [fmtNs(c.p50Ns), fmtNs(c.p99Ns), fmtNs(c.maxNs)] : ['—', '—', '—'])
  const missing = (threads, load) => [String(threads), load, 'ffi-events hub.request()', 'not available', '—', '—', '—', '—', '—', '—', '—', 'this build has no hub.request']
  for (const r of requests) {
    for (const w of r.windows) {
      const load = `${w.window.toLocaleString('en-US')} in flight`
      if (w.ffi) rows.push([String(r.threads), load, 'ffi-events hub.request()', fmtRate(w.ffi.rate), fmtRatio(w.ffi.rate / w.koffi.rate), '—', '—', '—', ...call(w.ffi.cost), `${w.ffi.requests} requests, ${w.ffi.repliesIgnored} replies ignored`])
      else rows.push(missing(r.threads, load))
      rows.push([String(r.threads), load, '(d) koffi.register + Map', fmtRate(w.koffi.rate), '', '—', '—', '—', ...call(w.koffi.cost), `${w.koffi.requests} requests, library thread waits for each JS call`])
    }
    const l = r.latency
    if (l) {
      const load = `1 in flight, ${l.gapMs} ms apart`
      const notes = `${l.samples} round trips each, hosts alternating`
      if (l.ffi) rows.push([String(r.threads), load, 'ffi-events hub.request()', '—', `p50 ${fmtRatio(l.koffi.p50 / l.ffi.p50)}`, fmtUs(l.ffi.p50), fmtUs(l.ffi.p99), fmtUs(l.ffi.max), ...call(l.ffi.cost), notes])
      else rows.push(missing(r.threads, load))
      rows.push([String(r.threads), load, '(d) koffi.register + Map', '—', '', fmtUs(l.koffi.p50), fmtUs(l.koffi.p99), fmtUs(l.koffi.max), ...call(l.koffi.cost), notes])
    }
  }
  return (md ? markdown : table)(
    ['reply threads', 'load', 'host', 'round trips/s', 'vs koffi', 'latency p50', 'p99', 'max', 'reply call p50', 'p99', 'max', 'notes'],
    rows,
    ['r', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
  )
}

export function targetsTable(targets, md = false) {
  const rows = targets.map((t) => [t.name, t.target, t.value, t.met === null ? 'not measured' : t.met ? 'met' : 'MISSED'])
  return (md ? markdown : table)(['target', 'required', 'measured', 'status'], rows, ['l', 'l', 'l', 'l'])
}

// ── SVG: throughput by payload size, log scale, one panel per producer count ──

const COLORS = {
  ffi: '#d9480f',
  ffiSpan: '#a61e4d',
  napi: '#1c7ed6',
  worker: '#37b24d',
  js: '#868e96',
  batched: '#ae3ec9',
  batchedBounded: '#e599f7',
  ffiWide: '#ffa94d',
}
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

export function svgChart(throughput, meta) {
  const panels = PRODUCERS.map((threads) => ({
    threads,
    rows: PAYLOADS.map((p) => throughput.find((t) => t.scenario.payload === p.id && t.scenario.threads === threads && t.scenario.listeners === 1)),
  })).filter((p) => p.rows.every(Boolean))
  // A contender some rows lack (onRawSpan: raw rows only) is drawn where present.
  const contenders = CONTENDERS.filter((c) => panels.some((p) => p.rows.some((r) => r.result[c.id])))
  const W = 920
  const panelH = 300
  const left = 80
  const right = 20
  // The legend wraps onto as many lines as it needs, the panels start below it.
  const legend = []
  let legendX = left
  let legendY = 50
  for (const c of contenders) {
    const width = 30 + Math.ceil(c.label.length * 6.6)
    if (legendX + width > W - right && legendX > left) {
      legendX = left
      legendY += 18
    }
    legend.push(`<rect x="${legendX}" y="${legendY}" width="12" height="12" fill="${COLORS[c.id]}"/><text x="${legendX + 18}" y="${legendY + 10}">${esc(c.label)}</text>`)
    legendX += width
  }
  const top = legendY + 20
  const H = top + panels.length * (panelH + 60) + 20
  const all = panels.flatMap((p) => p.rows.flatMap((r) => contenders.filter((c) => r.result[c.id]).map((c) => r.result[c.id].rate)))
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...all))))
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...all))))
  const out = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12">`)
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`)
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">Events delivered to 1 listener per second, by payload (log scale)</text>`)
  out.push(`<text x="${W / 2}" y="40" text-anchor="middle" fill="#555">${esc(meta)}</text>`)
  out.push(...legend)
  panels.forEach((panel, pi) => {
    const y0 = top + 20 + pi * (panelH + 60)
    const plotW = W - left - right
    const yOf = (v) => y0 + panelH - ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * panelH
    out.push(`<text x="${left}" y="${y0 - 6}" font-weight="bold">${panel.threads} producer thread${panel.threads > 1 ? 's' : ''}</text>`)
    for (let d = lo; d <= hi; d *= 10) {
      const y = yOf(d).toFixed(1)
      out.push(`<line x1="${left}" x2="${W - right}" y1="${y}" y2="${y}" stroke="#ddd"/>`)
      out.push(`<text x="${left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${esc(fmtRate(d).replace(' ', ''))}</text>`)
    }
    const groupW = plotW / PAYLOADS.length
    const barW = (groupW - 24) / contenders.length
    panel.rows.forEach((row, gi) => {
      const gx = left + gi * groupW + 12
      // The row's contenders side by side, centred in the group.
      const present = contenders.filter((c) => row.result[c.id])
      const bx = gx + ((contenders.length - present.length) * barW) / 2
      present.forEach((c, ci) => {
        const v = row.result[c.id].rate
        const y = yOf(v)
        const x = bx + ci * barW
        out.push(
          `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(y0 + panelH - y).toFixed(1)}" fill="${COLORS[c.id]}"><title>${esc(`${c.label}: ${fmtRate(v)}`)}</title></rect>`,
        )
      })
      out.push(`<text x="${(gx + (groupW - 24) / 2).toFixed(1)}" y="${y0 + panelH + 16}" text-anchor="middle">${esc(PAYLOADS[gi].label)}</text>`)
      const q = row.result.ffi.rate / row.result.napi.rate
      out.push(`<text x="${(gx + (groupW - 24) / 2).toFixed(1)}" y="${y0 + panelH + 32}" text-anchor="middle" fill="#555">ffi/(a) ${esc(fmtRatio(q))}</text>`)
    })
    out.push(`<line x1="${left}" x2="${W - right}" y1="${y0 + panelH}" y2="${y0 + panelH}" stroke="#333"/>`)
  })
  out.push('</svg>')
  return out.join('\n') + '\n'
}
