import test from 'ava'
import { Decoder, Encoder } from 'cbor-x'

import { EventHub } from 'ffi-events'

import { compile, compiled, type DecodeSource, float16, MISMATCH, shapeOf, Template } from '../lib/templates'
import { until } from './helpers'

// Compiled payload decoders against cbor-x, differentially: every value a
// compiled decoder returns must be exactly what cbor-x (with the hub's
// options) returns for the same bytes, and every payload it cannot read
// exactly must come back as MISMATCH (left to cbor-x).

const decoder = new Decoder({ mapsAsObjects: true, useRecords: false, copyBuffers: true })

function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const SEED = Number(process.env.FFI_EVENTS_SEED ?? 20261203)

/** A compiled decoder's three views of `u8`'s bytes, as a batch has them. */
function sourceOf(u8: Uint8Array): DecodeSource {
  return {
    buffer: Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength),
    dataView: new DataView(u8.buffer, u8.byteOffset, u8.byteLength),
    bytes: u8,
  }
}

/** Exactly equal: same types, same keys in the same order, numbers by Object.is, BigInt by value. */
function same(a: unknown, b: unknown): boolean {
  if (typeof a !== typeof b) return false
  if (typeof a === 'number') return Object.is(a, b)
  if (a === null || typeof a !== 'object') return a === b
  if (b === null || typeof b !== 'object') return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  if (ka.length !== kb.length || ka.some((k, i) => k !== kb[i])) return false
  return ka.every((k) => same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
}

function head(major: number, value: number | bigint, width?: 0 | 1 | 2 | 4 | 8): number[] {
  const v = BigInt(value)
  const w = width ?? (v < 24n ? 0 : v < 0x100n ? 1 : v < 0x10000n ? 2 : v < 0x100000000n ? 4 : 8)
  const info = w === 0 ? Number(v) : w === 1 ? 24 : w === 2 ? 25 : w === 4 ? 26 : 27
  const out = [(major << 5) | info]
  for (let i = w - 1; i >= 0; i--) out.push(Number((v >> BigInt(8 * i)) & 0xffn))
  return out
}

type Kind = 'u' | 'n' | 'U' | 'N' | 'h' | 'f' | 'd' | 'b' | 'z' | 'x' | 's' | 'y' | 'map' | 'array'
interface Shape {
  kind: Kind
  keys?: string[]
  items?: Shape[]
  /** A container's count in this many bytes after its head byte (cbor-x writes maps so), or in the head byte (0). */
  countWidth?: 0 | 1 | 2 | 4
}

function randomShape(rand: () => number, depth: number): Shape {
  const kinds: Kind[] = ['u', 'n', 'U', 'N', 'h', 'f', 'd', 'b', 'z', 'x', 's', 'y']
  if (depth < 3 && rand() < 0.35) {
    const count = Math.floor(rand() * 5)
    const countWidth = rand() < 0.7 ? 0 : ([1, 2, 4] as const)[Math.floor(rand() * 3)]
    if (rand() < 0.6) {
      const keys = Array.from({ length: count }, (_, i) => (rand() < 0.1 ? String(i) : `k${Math.floor(rand() * 4)}${'abcdefgh'.slice(0, Math.floor(rand() * 8))}`))
      return { kind: 'map', keys, items: keys.map(() => randomShape(rand, depth + 1)), countWidth }
    }
    return { kind: 'array', items: Array.from({ length: count }, () => randomShape(rand, depth + 1)), countWidth }
  }
  return { kind: kinds[Math.floor(rand() * kinds.length)] }
}

const ascii = (rand: () => number, n: number) => Array.from({ length: n }, () => 32 + Math.floor(rand() * 95))

/** A payload of `shape` with random values (and random integer widths within the kind). */
function encode(shape: Shape, rand: () => number): number[] {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]
  switch (shape.kind) {
    case 'u':
    case 'n': {
      const value = pick([0, 1, 23, 24, 255, 256, 65535, 65536, 0xffffffff, Math.floor(rand() * 1e9)])
      return head(shape.kind === 'u' ? 0 : 1, value, value < 24 && rand() < 0.3 ? 1 : undefined)
    }
    case 'U':
    case 'N': {
      const value = pick([0n, 5n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 64n - 1n, BigInt(Math.floor(rand() * 1e15))])
      return head(shape.kind === 'U' ? 0 : 1, value, 8)
    }
    case 'h':
      return [0xf9, Math.floor(rand() * 256), Math.floor(rand() * 256)]
    case 'f': {
      const dv = new DataView(new ArrayBuffer(4))
      dv.setUint32(0, Math.floor(rand() * 2 ** 32))
      return [0xfa, ...new Uint8Array(dv.buffer)]
    }
    case 'd': {
      const dv = new DataView(new ArrayBuffer(8))
      dv.setUint32(0, Math.floor(rand() * 2 ** 32))
      dv.setUint32(4, Math.floor(rand() * 2 ** 32))
      return [0xfb, ...new Uint8Array(dv.buffer)]
    }
    case 'b':
      return [rand() < 0.5 ? 0xf4 : 0xf5]
    case 'z':
      return [0xf6]
    case 'x':
      return [0xf7]
    case 's': {
      const n = pick([0, 1, 5, 23, 24, 40, 300])
      return [...head(3, n), ...ascii(rand, n)]
    }
    case 'y': {
      const n = pick([0, 1, 23, 24, 64, 300])
      return [...head(2, n), ...Array.from({ length: n }, () => Math.floor(rand() * 256))]
    }
    case 'map':
      return [
        ...head(5, shape.keys?.length ?? 0, shape.countWidth),
        ...(shape.keys ?? []).flatMap((k, i) => [...head(3, k.length), ...Buffer.from(k), ...encode((shape.items ?? [])[i], rand)]),
      ]
    case 'array':
      return [...head(4, shape.items?.length ?? 0, shape.countWidth), ...(shape.items ?? []).flatMap((s) => encode(s, rand))]
  }
}

/** A near miss: one byte changed, a byte cut or added, a wider integer, non-ASCII text, a tag. */
function mutate(bytes: number[], rand: () => number): number[] {
  const out = bytes.slice()
  const at = Math.floor(rand() * out.length)
  switch (Math.floor(rand() * 6)) {
    case 0:
      out[at] = Math.floor(rand() * 256)
      return out
    case 1:
      return out.slice(0, Math.max(0, out.length - 1 - Math.floor(rand() * 3)))
    case 2:
      return [...out, Math.floor(rand() * 256)]
    case 3:
      out[at] = 0x80 | Math.floor(rand() * 128)
      return out
    case 4:
      return [0xc1, ...out]
    default:
      out.splice(at, 0, Math.floor(rand() * 256))
      return out
  }
}

test('half-precision floats read exactly as cbor-x reads them, all 65,536 of them', (t) => {
  let differ = 0
  for (let bits = 0; bits < 0x10000; bits++) {
    const b0 = bits >> 8
    const b1 = bits & 0xff
    if (!Object.is(float16(b0, b1), decoder.decode(Uint8Array.of(0xf9, b0, b1)))) differ++
  }
  t.is(differ, 0)
})

test('a compiled decoder gives exactly what cbor-x gives, and MISMATCH for everything it cannot read exactly (seeded, differential)', (t) => {
  const rand = mulberry32(SEED)
  let compiled = 0
  let matched = 0
  let mismatched = 0
  for (let s = 0; s < 400; s++) {
    const shape = randomShape(rand, 0)
    const first = Uint8Array.from(encode(shape, rand))
    const template = shapeOf(first, 0, first.length)
    t.not(template, undefined, `shape ${JSON.stringify(shape)} is covered`)
    if (template === undefined) continue
    const decode = compile(template)
    compiled++
    for (let i = 0; i < 60; i++) {
      let bytes = encode(shape, rand)
      if (rand() < 0.5) bytes = mutate(bytes, rand)
      const u8 = Uint8Array.from(bytes)
      // The payload sits inside a larger buffer, as in a batch.
      const padded = new Uint8Array(u8.length + 16)
      padded.set(u8, 7)
      const got = decode(sourceOf(padded), 7, 7 + u8.length)
      let expected: unknown
      let threw = false
      try {
        expected = decoder.decode(u8)
      } catch {
        threw = true
      }
      if (got === MISMATCH) {
        mismatched++
        // Only payloads of another shape may be left to cbor-x.
        t.not(shapeOf(u8, 0, u8.length), template, `seed ${SEED}: a payload of the template's shape fell back: ${Buffer.from(u8).toString('hex')}`)
      } else {
        matched++
        t.false(threw, `seed ${SEED}: compiled decoder accepted what cbor-x refuses: ${Buffer.from(u8).toString('hex')}`)
        if (!same(got, expected)) t.fail(`seed ${SEED}: ${Buffer.from(u8).toString('hex')}: compiled ${String(got)} vs cbor-x ${String(expected)}`)
      }
    }
  }
  t.log(`seed ${SEED}: ${compiled} templates, ${matched} payloads decoded by them, ${mismatched} left to cbor-x`)
  t.true(matched > 10_000 && mismatched > 1_000)
})

test('a template compiles after four payloads of one shape, and is given up when it mostly mismatches', (t) => {
  const tick = (n: number) => Uint8Array.from([0xa2, 0x61, 0x6e, ...head(0, n), 0x62, 0x61, 0x74, ...head(0, 2n ** 60n, 8)])
  const template = new Template()
  for (let i = 0; i < 3; i++) template.learn(tick(i), 0, tick(i).length)
  t.is(template.decoder, undefined)
  template.learn(tick(3), 0, tick(3).length)
  const decode = template.decoder
  if (decode === undefined) return t.fail('no decoder after four payloads of one shape')
  const bytes = tick(70_000)
  const value = decode(sourceOf(bytes), 0, bytes.length)
  t.deepEqual(value, { n: 70_000, at: 2n ** 60n })
  t.deepEqual(value, decoder.decode(bytes))
  for (let i = 0; i < 64; i++) template.record(i < 20)
  t.is(template.decoder, undefined, 'given up after 64 attempts, 44 of them mismatches')
  // Keys cbor-x renames, non-ASCII text and counts past 23 are never templated.
  t.is(shapeOf(Uint8Array.from([0xa1, 0x69, ...Buffer.from('__proto__'), 0x01]), 0, 11), undefined)
  t.is(shapeOf(Uint8Array.from([0x62, 0xc3, 0xa9]), 0, 3), undefined)
  t.is(shapeOf(Uint8Array.from([0x98, 24, ...Array.from({ length: 24 }, () => 0)]), 0, 26), undefined)
})

test("payloads as cbor-x's encoder writes them (a map's count in two bytes) compile, and a minimal head does not match them", (t) => {
  const encoder = new Encoder({ useRecords: false })
  const tick = (n: number) => encoder.encode({ n, at: 1_700_000_000_000_000_000n + BigInt(n) })
  t.is(tick(1)[0], 0xb9, "cbor-x writes a map's count in two bytes")
  const template = new Template()
  for (let i = 0; i < 4; i++) template.learn(tick(i), 0, tick(i).length)
  const decode = template.decoder
  if (decode === undefined) return t.fail('no decoder for the payloads cbor-x writes')
  for (const n of [0, 23, 24, 300, 70_000]) {
    const bytes = tick(n)
    t.deepEqual(decode(sourceOf(Uint8Array.from(bytes)), 0, bytes.length), decoder.decode(bytes))
  }
  const minimal = Uint8Array.from([0xa2, ...tick(5).subarray(3)])
  t.deepEqual(decoder.decode(minimal), { n: 5, at: 1_700_000_000_000_000_005n })
  t.is(decode(sourceOf(minimal), 0, minimal.length), MISMATCH)
})

test('through a hub: compiled and cbor-x decodes mixed in one batch give every event its value alone', async (t) => {
  const rand = mulberry32(SEED ^ 0x5eed)
  const hub = new EventHub({ capacity: 8192, maxBatchEvents: 8192 })
  t.teardown(() => hub.close())
  const got = new Map<number, unknown>()
  const failed = new Set<number>()
  hub.on('tick', (value, meta) => got.set(meta.seq, value))
  hub.onError((error) => failed.add(error.seq ?? -1))
  const tick = (n: number, at: bigint) => Uint8Array.from([0xa2, 0x61, 0x6e, ...head(0, n), 0x62, 0x61, 0x74, ...head(0, at, 8)])
  // Teach the template first (batches of one shape), then mix.
  for (let i = 0; i < 8; i++) hub.emitCbor('tick', tick(i, BigInt(i)))
  await until(() => got.size === 8)
  const compiledBefore = hub.stats().compiledDecodes
  const sent = new Map<number, Uint8Array>()
  let seq = hub.stats().emitted
  for (let i = 0; i < 4000; i++) {
    let bytes = tick(Math.floor(rand() * 2 ** 32), BigInt(Math.floor(rand() * 1e15)))
    if (rand() < 0.3) bytes = Uint8Array.from(mutate([...bytes], rand))
    t.true(hub.emitCbor('tick', bytes))
    sent.set(++seq, bytes)
  }
  await until(() => got.size + failed.size === 8 + 4000)
  t.is(hub.stats().batches <= 3, true, 'the mixed events came in few batches')
  let compared = 0
  for (const [s, bytes] of sent) {
    let alone: unknown
    let threw = false
    try {
      alone = decoder.decode(bytes)
    } catch {
      threw = true
    }
    if (threw) t.true(failed.has(s), `seq ${s} failed alone but not in its batch`)
    else if (!same(got.get(s), alone)) t.fail(`seq ${s}: ${Buffer.from(bytes).toString('hex')}: batch ${String(got.get(s))} vs alone ${String(alone)}`)
    else compared++
  }
  t.true(compared > 2000)
  // The mix went through compiled decoders, not only through cbor-x.
  t.true(hub.stats().compiledDecodes - compiledBefore > 2000)
})

test('a byte string decodes to a copy of its own, as cbor-x copies it, never a view of the batch', (t) => {
  const payload = Uint8Array.from([0xa1, 0x61, 0x64, 0x58, 30, ...Array.from({ length: 30 }, (_, i) => i + 1)])
  const shape = shapeOf(payload, 0, payload.length)
  if (shape === undefined) return t.fail('a map with a byte string is not templated')
  const batch = new Uint8Array(100)
  batch.set(payload, 11)
  const value = compile(shape)(sourceOf(batch), 11, 11 + payload.length) as { d: Uint8Array }
  const expected = decoder.decode(payload) as { d: Uint8Array }
  t.is(Object.getPrototypeOf(value.d), Object.getPrototypeOf(expected.d))
  t.deepEqual([...value.d], [...expected.d])
  t.not(value.d.buffer, batch.buffer)
  t.is(value.d.byteOffset, 0)
  t.is(value.d.buffer.byteLength, 30)
  batch.fill(0)
  t.is(value.d[29], 30, 'the value outlives the batch bytes')
})

test('templates of one shape share one decoder, for the whole process', (t) => {
  const tick = (n: number) => Uint8Array.from([0xa2, 0x61, 0x6e, ...head(0, n), 0x62, 0x61, 0x74, ...head(0, 2n ** 60n, 8)])
  const first = new Template()
  const second = new Template()
  for (let i = 0; i < 4; i++) {
    first.learn(tick(i), 0, tick(i).length)
    second.learn(tick(i + 100), 0, tick(i + 100).length)
  }
  const decoder = first.decoder
  if (decoder === undefined) return t.fail('no decoder after four payloads of one shape')
  t.is(second.decoder, decoder)
  const shape = shapeOf(tick(1), 0, tick(1).length) ?? ''
  t.is(compiled(shape), decoder)
  t.not(compile(shape), decoder, 'compile itself makes a new function')
})

test('through a hub: text and byte strings decoded by a compiled decoder are what cbor-x gives, each byte string a plain copy of its own', async (t) => {
  const hub = new EventHub()
  t.teardown(() => hub.close())
  const got: Array<{ s: string; d: Uint8Array }> = []
  hub.on('blob', (value) => got.push(value as { s: string; d: Uint8Array }))
  const encoder = new Encoder({ useRecords: false })
  // A Buffer encodes as a plain byte string (cbor-x tags a Uint8Array: tag 64).
  const sent = Array.from({ length: 40 }, (_, i) => ({ s: `name-${i}`, d: Buffer.from(Array.from({ length: 5 + (i % 70) }, (_, k) => (k * 7 + i) & 0xff)) }))
  // One batch at a time, so that the template compiles after the first few.
  for (const value of sent) {
    hub.emitCbor('blob', encoder.encode(value))
    const before = got.length
    await until(() => got.length === before + 1)
  }
  t.true(hub.stats().compiledDecodes >= 30, `${hub.stats().compiledDecodes} compiled decodes`)
  for (let i = 0; i < sent.length; i++) {
    // From a plain Uint8Array, as the hub hands cbor-x its bytes (sliced from a Buffer, a copy is a Buffer).
    const expected = decoder.decode(Uint8Array.from(encoder.encode(sent[i]))) as { s: string; d: Uint8Array }
    t.true(same(got[i], expected), `event ${i}`)
    t.is(Object.getPrototypeOf(got[i].d), Uint8Array.prototype, `event ${i}: a plain Uint8Array, not a Buffer`)
    t.is(got[i].d.byteOffset, 0)
    t.is(got[i].d.buffer.byteLength, sent[i].d.length, `event ${i}: a buffer of its own, not the batch's`)
  }
})
