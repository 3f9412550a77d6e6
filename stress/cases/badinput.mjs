// Case 7: bad input. Every public method with wrong types, undefined, null,
// huge or empty names, names with NUL, lone surrogates (the JS form of
// non-UTF-8), oversized payloads, BigInt and circular objects; then at least
// 100,000 seeded random, truncated and mutated CBOR payloads delivered to
// `on` listeners. Each call gets a TypeError/RangeError (or an EventHubError
// where the hub is closed); each corrupt event gets exactly one
// ERR_EVENT_DECODE to the error handlers (or a decoded call if it happens to
// be valid CBOR). The process never crashes and the hub works afterwards.
import { encode } from 'cbor-x'
import { Check, EventHub, EventHubError, fmt, prng, sources, until } from '../lib.mjs'

const badNames = [undefined, null, 42, {}, [], Symbol('s'), 10n, () => {}, '', 'a\0b', '\0', 'x'.repeat(256), 'é'.repeat(128), 'x'.repeat(1 << 20), '\ud800', 'a\udc00b']
const badFns = [undefined, null, 1, 'fn', {}, [], Symbol('f'), 1n]
const badBytes = [undefined, null, 'bytes', 42, [1, 2, 3], {}, new ArrayBuffer(4), new DataView(new ArrayBuffer(4)), new Uint16Array(2), 1n]
const badIds = [undefined, null, 'x', '1', NaN, -1, 0, 1.5, Infinity, -Infinity, 2 ** 60, {}, [], 1n, Symbol('i')]
const badOptions = [null, 'x', 1, [], () => {}]

function circular() {
  const a = { b: {} }
  a.b.a = a
  return a
}

/** Every (call, expectation) pair; expectations: 'error' (TypeError or RangeError), 'false', 'closed', 'either'. */
function catalogue(hub, closedHub) {
  const cases = []
  const add = (what, expect, call) => cases.push({ what, expect, call })
  for (const o of [...badOptions, { capacity: 0 }, { capacity: 2 ** 25 }, { capacity: 1.5 }, { capacity: '8' }, { capacity: NaN }, { overflow: 'drop' }, { overflow: 1 }, { stallTimeoutMs: -1 }, { stallTimeoutMs: NaN }, { stallTimeoutMs: Infinity }, { stallTimeoutMs: 'x' }, { maxEventBytes: 0 }, { maxEventBytes: 2 ** 31 }, { maxEventBytes: 1.5 }, { maxBatchEvents: 0 }, { maxBatchEvents: -1 }, { capacity: 10n }]) {
    add(`new EventHub(${describe(o)})`, 'error', () => new EventHub(o))
  }
  for (const method of ['on', 'once', 'onRaw']) {
    for (const n of badNames) add(`${method}(${describe(n)}, fn)`, 'error', () => hub[method](n, () => {}))
    for (const f of badFns) add(`${method}('e', ${describe(f)})`, 'error', () => hub[method]('e', f))
    add(`${method} on a closed hub`, 'closed', () => closedHub[method]('e', () => {}))
  }
  for (const f of badFns) add(`onAny(${describe(f)})`, 'error', () => hub.onAny(f))
  for (const f of badFns) add(`onError(${describe(f)})`, 'error', () => hub.onError(f))
  // off(id) is false for anything that is not a live id; a string is a
  // name, and off(name, listener) wants the listener (a TypeError, as on
  // Node's EventEmitter).
  for (const id of badIds) add(`off(${describe(id)})`, typeof id === 'string' ? 'error' : 'false', () => hub.off(id))
  for (const f of badFns) add(`off('e', ${describe(f)})`, 'error', () => hub.off('e', f))
  for (const n of badNames.filter((n) => typeof n !== 'number')) add(`off(${describe(n)}, fn)`, 'error', () => hub.off(n, () => {}))
  for (const n of badNames.filter((n) => n !== undefined)) add(`listenerCount(${describe(n)})`, 'error', () => hub.listenerCount(n))
  for (const n of badNames) {
    add(`emit(${describe(n)}, 1)`, 'error', () => hub.emit(n, 1))
    add(`emitRaw(${describe(n)}, bytes)`, 'error', () => hub.emitRaw(n, new Uint8Array(1)))
    add(`emitCbor(${describe(n)}, bytes)`, 'error', () => hub.emitCbor(n, new Uint8Array([0])))
    add(`waitFor(${describe(n)})`, 'error', () => hub.waitFor(n))
    add(`events(${describe(n)})`, 'error', () => hub.events(n))
  }
  for (const b of badBytes) {
    add(`emitRaw('e', ${describe(b)})`, 'error', () => hub.emitRaw('e', b))
    add(`emitCbor('e', ${describe(b)})`, 'error', () => hub.emitCbor('e', b))
  }
  add(`emit('e', circular)`, 'error', () => hub.emit('e', circular()))
  add(`emit('e', [circular])`, 'error', () => hub.emit('e', [circular()]))
  add(`emit('e', 2n ** 64n)`, 'either', () => hub.emit('e', 2n ** 64n))
  add(`emit('e', 10n)`, 'either', () => hub.emit('e', 10n))
  add(`emit('e', Symbol())`, 'either', () => hub.emit('e', Symbol('p')))
  add(`emit('e', fn)`, 'either', () => hub.emit('e', () => {}))
  add(`emit('e', deep nesting)`, 'either', () => {
    let v = 0
    for (let i = 0; i < 100_000; i++) v = [v]
    return hub.emit('e', v)
  })
  add(`emit('e', over maxEventBytes)`, 'error', () => hub.emit('e', 'x'.repeat(70_000)))
  add(`emitRaw('e', over maxEventBytes)`, 'error', () => hub.emitRaw('e', new Uint8Array(70_000)))
  add(`emitCbor('e', over maxEventBytes)`, 'error', () => hub.emitCbor('e', new Uint8Array(70_000)))
  add(`emitRaw on a closed hub`, 'closed', () => closedHub.emitRaw('e', new Uint8Array(1)))
  add(`emit on a closed hub`, 'closed', () => closedHub.emit('e', 1))
  for (const o of [...badOptions, { timeoutMs: -1 }, { timeoutMs: 'x' }, { timeoutMs: NaN }, { timeoutMs: 2 ** 40 }, { signal: {} }, { signal: 'x' }]) {
    add(`waitFor('e', ${describe(o)})`, 'error', () => hub.waitFor('e', o))
  }
  add(`waitFor on a closed hub`, 'closed', () => closedHub.waitFor('e'))
  for (const o of [...badOptions, { signal: {} }]) add(`events('e', ${describe(o)})`, 'error', () => hub.events('e', o))
  const tickerBad = [...badOptions, undefined, {}, { name: '' }, { name: 't' }, { name: 't', intervalMs: -1 }, { name: 't', intervalMs: NaN }, { name: 't', intervalMs: 'x' }, { name: 't', intervalMs: 1, count: -1 }, { name: 't', intervalMs: 1, count: 1.5 }, { name: 'a\0', intervalMs: 1 }]
  for (const o of tickerBad) add(`sources.ticker(hub, ${describe(o)})`, 'error', () => sources.ticker(hub, o))
  const burstBad = [...badOptions, undefined, {}, { name: 't' }, { name: 't', count: -1 }, { name: 't', count: 1.5 }, { name: 't', count: 1, threads: 0 }, { name: 't', count: 1, threads: 65 }, { name: 't', count: 1, payloadBytes: -1 }, { name: 't', count: 1, encoding: 'json' }, { name: '', count: 1 }]
  for (const o of burstBad) add(`sources.burst(hub, ${describe(o)})`, 'error', () => sources.burst(hub, o))
  for (const h of [undefined, null, {}, 1, 'hub']) {
    add(`sources.ticker(${describe(h)}, ok)`, 'error', () => sources.ticker(h, { name: 't', intervalMs: 1 }))
    add(`sources.burst(${describe(h)}, ok)`, 'error', () => sources.burst(h, { name: 't', count: 1 }))
  }
  add(`sources.burst on a closed hub`, 'closed', () => sources.burst(closedHub, { name: 't', count: 1 }))
  add(`sources.ticker on a closed hub`, 'closed', () => sources.ticker(closedHub, { name: 't', intervalMs: 1 }))
  return cases
}

function describe(v) {
  if (typeof v === 'string') return v.length > 12 ? `'${JSON.stringify(v.slice(0, 8)).slice(1, -1)}…'(${v.length})` : `'${JSON.stringify(v).slice(1, -1)}'`
  if (typeof v === 'bigint') return `${v}n`
  if (typeof v === 'symbol' || typeof v === 'function') return typeof v
  try {
    return JSON.stringify(v) ?? String(v)
  } catch {
    return Object.prototype.toString.call(v)
  }
}

async function outcome(call) {
  try {
    const value = call()
    if (value && typeof value.then === 'function') {
      // Promise-returning methods: a rejection counts as a throw.
      const guarded = Promise.race([value, new Promise((resolve) => setTimeout(() => resolve('pending'), 20))])
      value.catch(() => {})
      return { value: await guarded }
    }
    if (value && typeof value.return === 'function') await value.return()
    if (value && typeof value.stop === 'function') value.stop()
    return { value }
  } catch (error) {
    return { error }
  }
}

function fuzzPayload(random) {
  const sample = () => {
    switch (random.int(6)) {
      case 0: return random.int(1 << 30) - (1 << 29)
      case 1: return 'ab€\u{1F600}'.repeat(random.int(5))
      case 2: return random.bytes(random.int(16))
      case 3: return { a: random.int(9), b: [1, 'x', null, true, 1.5], c: { d: random.bytes(3) } }
      case 4: return [random(), -0, NaN, Infinity, 2n ** 70n]
      default: return new Map([[1, 'one'], ['k', [1, 2]]])
    }
  }
  const kind = random.int(10)
  let bytes
  switch (kind) {
    case 0: bytes = random.bytes(random.int(48)); break
    case 1: { const v = encode(sample()); bytes = v.subarray(0, random.int(v.length)); break }
    case 2: { const v = new Uint8Array(encode(sample())); for (let k = 0, n = 1 + random.int(3); k < n; k++) v[random.int(v.length)] = random.int(256); bytes = v; break }
    case 3: bytes = encode(sample()); break
    case 4: { const depth = 1 + random.int(20_000); bytes = new Uint8Array(depth + 1).fill(random.int(2) ? 0x81 : 0xa1); bytes[depth] = random.int(2) ? 0x00 : 0xff; break }
    case 5: bytes = Uint8Array.of(0x9f, ...random.bytes(random.int(8))); break
    case 6: bytes = Uint8Array.of([0x5b, 0x7b, 0x9b, 0xbb][random.int(4)], 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, random.int(256), ...random.bytes(random.int(8))); break
    case 7: bytes = Uint8Array.of(0xd8, random.int(256), ...random.bytes(random.int(24))); break
    case 8: bytes = new Uint8Array(0); break
    default: bytes = Uint8Array.of(0x62, 0xff, 0xfe); break // text string of non-UTF-8 bytes
  }
  return { kind, bytes: new Uint8Array(bytes) }
}

export async function run({ reduced }) {
  const check = new Check()
  const uncaught = []
  const onUncaught = (e) => uncaught.push(String(e?.stack ?? e))
  process.on('uncaughtException', onUncaught)
  process.on('unhandledRejection', onUncaught)

  // Part 1: the call catalogue.
  const hub = new EventHub({ maxEventBytes: 65_536, stallTimeoutMs: 0 })
  const closedHub = new EventHub()
  await closedHub.close()
  const handlerErrors = []
  hub.onError((e) => handlerErrors.push(e))
  const cases = catalogue(hub, closedHub)
  const tally = { TypeError: 0, RangeError: 0, EventHubError: 0, false: 0, accepted: 0 }
  for (const c of cases) {
    const r = await outcome(c.call)
    const e = r.error
    if (e !== undefined) {
      if (e instanceof EventHubError) tally.EventHubError++
      else if (e instanceof RangeError) tally.RangeError++
      else if (e instanceof TypeError) tally.TypeError++
      const clear = typeof e?.message === 'string' && e.message.length > 10
      if (c.expect === 'closed') check.that(e instanceof EventHubError && e.code === 'ERR_HUB_CLOSED', `${c.what}: expected ERR_HUB_CLOSED, got ${e?.name}: ${e?.message}`)
      else if (c.expect === 'false') check.that(false, `${c.what}: expected false, threw ${e?.name}: ${e?.message}`)
      else check.that((e instanceof TypeError || e instanceof RangeError) && !(e instanceof EventHubError) && clear, `${c.what}: expected TypeError/RangeError, got ${e?.constructor?.name}: ${e?.message}`)
    } else if (c.expect === 'false') {
      if (check.that(r.value === false, `${c.what}: expected false, got ${describe(r.value)}`)) tally.false++
    } else if (c.expect === 'either') {
      tally.accepted++
    } else {
      check.that(false, `${c.what}: expected ${c.expect === 'closed' ? 'ERR_HUB_CLOSED' : 'TypeError/RangeError'}, returned ${describe(r.value)}`)
    }
  }
  // Events the catalogue accepted (BigInt, deep nesting) are delivered or reported.
  await until(() => hub.stats().queued === 0, 'catalogue events drained')
  check.eq(hub.listenerCount(), 0, 'listeners registered by bad calls')

  // Part 2: fuzzed CBOR envelopes.
  const total = reduced ? 5_000 : 100_000
  const random = prng(20240607)
  const fuzzHub = new EventHub({ capacity: 8192, stallTimeoutMs: 0 })
  const payloads = new Map()
  const outcomes = new Map()
  let badErrors = 0
  let tailMismatch = 0
  let rawCalls = 0
  let rawTwice = 0
  const rawSeen = new Set()
  fuzzHub.onRaw('f', (bytes, meta) => {
    rawCalls++
    if (rawSeen.has(meta.seq)) rawTwice++
    rawSeen.add(meta.seq)
    const p = payloads.get(meta.seq)
    if (p === undefined || bytes.length < p.length) tailMismatch++
    else for (let k = 0; k < p.length; k++) if (bytes[bytes.length - p.length + k] !== p[k]) { tailMismatch++; break }
  })
  fuzzHub.on('f', (_payload, meta) => outcomes.set(meta.seq, (outcomes.get(meta.seq) ?? 0) + 1))
  fuzzHub.onError((e) => {
    if (!(e instanceof EventHubError) || e.code !== 'ERR_EVENT_DECODE' || e.eventName !== 'f') badErrors++
    outcomes.set(e.seq, (outcomes.get(e.seq) ?? 0) + 1000)
  })
  const byKind = new Array(10).fill(0)
  const validByKind = new Array(10).fill(0)
  const kinds = new Map()
  let refused = 0
  const t = performance.now()
  for (let sent = 0; sent < total; ) {
    const chunk = Math.min(4096, total - sent)
    for (let k = 0; k < chunk; k++) {
      const { kind, bytes } = fuzzPayload(random)
      byKind[kind]++
      const seq = fuzzHub.stats().emitted + 1
      if (fuzzHub.emitCbor('f', bytes)) {
        payloads.set(seq, bytes)
        kinds.set(seq, kind)
      } else refused++
    }
    sent += chunk
    await until(() => fuzzHub.stats().queued === 0, 'fuzz chunk delivered')
    for (const [seq, kind] of kinds) {
      const o = outcomes.get(seq)
      if (o === 1) validByKind[kind]++
      else if (o !== 1000) check.that(false, `fuzz seq ${seq} (kind ${kind}, bytes ${Buffer.from(payloads.get(seq)).toString('hex').slice(0, 40)}): ${o === undefined ? 'neither delivered nor reported' : `outcome code ${o}`}`)
    }
    payloads.clear()
    rawSeen.clear()
    kinds.clear()
    outcomes.clear()
    if (check.violations.length > 20) break
  }
  const fuzzMs = performance.now() - t
  const fs = fuzzHub.stats()
  check.eq(refused, 0, 'fuzz events refused (ring full)')
  check.eq(badErrors, 0, 'fuzz errors that are not ERR_EVENT_DECODE')
  check.eq(tailMismatch, 0, 'raw listener bytes differing from the emitted payload')
  check.eq(rawTwice, 0, 'raw listener (subscribed before an on listener) called twice for an undecodable event')
  check.eq(rawCalls, fs.delivered, 'raw listener calls == delivered')
  check.eq(fs.emitted, fs.delivered + fs.refused + fs.discarded + fs.queued, 'emitted == delivered + refused + discarded + queued')
  check.eq(fs.refused, 0, 'fuzz hub refused (ring full)')
  const decodeErrors = fs.decodeErrors
  // The hub keeps working.
  for (const h of [hub, fuzzHub]) {
    const got = h.waitFor('ok', { timeoutMs: 30_000 })
    h.emit('ok', { fine: true })
    const v = await got
    check.that(v?.fine === true, 'a hub stopped working after bad input')
    await h.close()
  }
  check.eq(uncaught.length, 0, `uncaught exceptions ${uncaught.slice(0, 2).join(' | ')}`)
  check.eq(validByKind[3], byKind[3], 'valid encodings that failed to decode')
  process.off('uncaughtException', onUncaught)
  process.off('unhandledRejection', onUncaught)
  return {
    figures: { calls: cases.length, tally, fuzzCases: total, decodeErrors, decoded: total - decodeErrors, fuzzMs: Math.round(fuzzMs), byKind, validByKind },
    line: `${cases.length} bad calls -> ${tally.TypeError} TypeError, ${tally.RangeError} RangeError, ${tally.EventHubError} ERR_HUB_CLOSED, ${tally.false} false, ${tally.accepted} accepted (BigInt/deep values); ${fmt(total)} fuzzed envelopes (seed 20240607) -> ${fmt(decodeErrors)} ERR_EVENT_DECODE + ${fmt(total - decodeErrors)} decoded, each exactly once, in ${Math.round(fuzzMs)} ms; 0 crashes, hub works after`,
    violations: check.violations,
  }
}
