import test, { type ExecutionContext } from 'ava'
import { Decoder, Encoder, type Options } from 'cbor-x'
import { EventHub, type NativeSink } from 'ffi-events'

import { callOnce } from './fixtures/foreign/foreign.mjs'
import { Random, seedFromEnv } from './random'

// The promise under test: an event's decoded value depends on its own bytes
// only, whatever batch it is delivered in. cbor-x keeps state between the
// items of one decoding call (shared references, bundled strings, record
// definitions, packed values, the map tag), so a payload must never be
// decoded as part of a sequence that holds other events' payloads.
//
// Several events reach one batch when they are queued while the JS thread is
// busy: the tests call the sinks' C callback (ffi_events_sink_callback,
// through the koffi-loaded fixture) and `hub.emitCbor` synchronously, one
// after the other, and the hub delivers them with its next wake-up. Each
// delivery checks that it took exactly one batch (`stats().batches`, as
// batching.spec.ts does) and matches every outcome to its event by seq.
//
// The reference for an event is what it gets alone: sent by itself, its
// delivery (or its ERR_EVENT_DECODE report) awaited before the next one.

/** The hub's decoder options, as lib/dispatch.ts builds its decoder. */
const HUB_DECODER_OPTIONS = { mapsAsObjects: true, useRecords: false, copyBuffers: true } as const

// ── seeded randomness ──────────────────────────────────────────────────────

const RUNS = 2000
const MIN_EVENTS = 2
const MAX_EVENTS = 8

const SEED = seedFromEnv()
const REPLAY = `seed ${SEED} (replay: FFI_EVENTS_SEED=${SEED} npx ava __test__/isolation-property.spec.ts)`

/** Run `run`'s own stream: a run's events do not depend on the runs before it. */
function runRandom(seed: number, run: number): Random {
  return new Random(Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(run + 1, 0xc2b2ae35))
}

// ── CBOR, byte by byte ─────────────────────────────────────────────────────

type Bytes = number[]
type Width = 0 | 1 | 2 | 4 | 8

const ADDITIONAL: Record<Exclude<Width, 0>, number> = { 1: 24, 2: 25, 4: 26, 8: 27 }

function minimalWidth(n: bigint): Width {
  return n < 24n ? 0 : n < 0x100n ? 1 : n < 0x10000n ? 2 : n < 0x100000000n ? 4 : 8
}

/** A head of `major` with argument `arg`, in `width` bytes (default: the shortest form). */
function head(major: number, arg: number | bigint, width?: Width): Bytes {
  const n = BigInt(arg)
  const w = width ?? minimalWidth(n)
  if (w === 0) return [(major << 5) | Number(n)]
  const out = [(major << 5) | ADDITIONAL[w]]
  for (let i = w - 1; i >= 0; i--) out.push(Number((n >> BigInt(8 * i)) & 0xffn))
  return out
}

const uint = (n: number | bigint): Bytes => head(0, n)
/** The negative integer -1 - n. */
const nint = (n: number | bigint): Bytes => head(1, n)
const bstr = (bytes: Bytes): Bytes => [...head(2, bytes.length), ...bytes]
const utf8 = (s: string): Bytes => [...Buffer.from(s, 'utf8')]
const tstr = (s: string): Bytes => [...head(3, Buffer.byteLength(s, 'utf8')), ...utf8(s)]
const arr = (items: Bytes[]): Bytes => [...head(4, items.length), ...items.flat()]
const map = (pairs: Array<[Bytes, Bytes]>): Bytes => [...head(5, pairs.length), ...pairs.flat(2)]
const tagged = (tag: number | bigint, content: Bytes): Bytes => [...head(6, tag), ...content]

function float64(x: number): Bytes {
  const b = Buffer.alloc(8)
  b.writeDoubleBE(x)
  return [0xfb, ...b]
}

function float32(x: number): Bytes {
  const b = Buffer.alloc(4)
  b.writeFloatBE(x)
  return [0xfa, ...b]
}

const hex = (bytes: ArrayLike<number>): string => Buffer.from(Uint8Array.from(bytes)).toString('hex').replace(/(..)(?!$)/g, '$1 ')

// ── payloads ───────────────────────────────────────────────────────────────

// cbor-x's extension tags (lib/dispatch.ts decodes with cbor-x).
const TAG_PACKED_REFERENCE = 6
const TAG_PACKED_TABLE = 51
const TAG_LEGACY_RECORD = 105
const TAG_BUNDLED_STRINGS = 0xdff9
const TAG_RECORD_DEFINITIONS = 0xdffe
const TAG_RECORD_INLINE = 0xdfff
const TAG_RECORD_FIRST = 0xe000
/** Prefix and suffix tags of packed values. */
const PACKED_RANGES: ReadonlyArray<readonly [number, number]> = [
  [216, 223],
  [225, 255],
  [27647, 28671],
  [28704, 32767],
]

/** What a run leans towards: one family of stateful tags, so that producers and consumers of that state meet in one batch. */
type Theme = 'records' | 'shared' | 'packed' | 'bundles' | 'plain'
const THEMES: readonly Theme[] = ['records', 'shared', 'packed', 'bundles', 'plain']

type PayloadKind = 'item' | 'encoded' | 'truncated' | 'garbage' | 'two items' | 'broken envelope'

const TEXTS = [
  '',
  'a',
  'x',
  'k',
  'hello',
  'secret',
  'é',
  'naïve café',
  '日本語',
  '🙂🙃',
  'ключ',
  'ü'.repeat(40),
  'long ascii text '.repeat(5),
  '__proto__',
  'constructor',
] as const
const KEYS = ['k', 'a', 'b', 'name', 'list', '__proto__', 'x y', 'ключ', '1'] as const
const SHAPES: ReadonlyArray<readonly string[]> = [['k'], ['a', 'b'], ['name', 'list', 'a'], ['ключ', 'x y']]
const DATES = ['2024-02-29T12:34:56Z', '1970-01-01T00:00:00.000Z', 'not a date', '', '2024-13-45T99:00:00Z']
const GARBAGE = [0xff, 0x1c, 0x1d, 0x1e, 0x3c, 0x5f, 0x7f, 0x9f, 0xbf, 0xdf, 0xd9, 0xf9, 0xf8, 0xfc, 0x18, 0x1b, 0x00, 0x80, 0xa0, 0xe0]

/** Encoders of cbor-x itself, for payloads that use its extensions the way it writes them. */
const ENCODER_OPTIONS: ReadonlyArray<() => Options> = [
  () => ({ structuredClone: true }),
  () => ({ pack: true }),
  () => ({ bundleStrings: true }),
  () => ({ useRecords: true }),
  () => ({ useRecords: false, tagUint8Array: true }),
]

/** Makes the payloads of one run; records which tags it wrote. */
class Payloads {
  readonly r: Random
  readonly theme: Theme
  readonly #tagsSeen: Set<number | bigint>
  /** cbor-x's sequential mode: later payloads use record definitions written in earlier ones. */
  readonly #sequential = new Encoder({ useRecords: true, sequential: true })

  constructor(r: Random, theme: Theme, tagsSeen: Set<number | bigint>) {
    this.r = r
    this.theme = theme
    this.#tagsSeen = tagsSeen
  }

  payload(): { kind: PayloadKind; bytes: Bytes } {
    const r = this.r
    const roll = r.next()
    if (roll < 0.45) return { kind: 'item', bytes: this.top() }
    if (roll < 0.6) return { kind: 'encoded', bytes: this.encoded() }
    if (roll < 0.72) {
      const whole = r.chance(0.7) ? this.top() : this.encoded()
      return { kind: 'truncated', bytes: whole.slice(0, r.int(0, whole.length - 1)) }
    }
    if (roll < 0.84) return { kind: 'garbage', bytes: this.garbage() }
    return { kind: 'two items', bytes: [...this.top(), ...(r.chance(0.5) ? this.top() : this.scalar())] }
  }

  /** Bytes an envelope sink finds malformed. */
  brokenEnvelope(): Bytes {
    switch (this.r.int(0, 3)) {
      case 0:
        return this.garbage()
      case 1:
        return this.scalar()
      case 2:
        return map([[tstr('payload'), this.top()]])
      default:
        return map([
          [tstr('eventType'), uint(5)],
          [tstr('payload'), uint(1)],
        ])
    }
  }

  top(): Bytes {
    return this.r.chance(0.6) ? this.tagged(0) : this.value(0)
  }

  garbage(): Bytes {
    const r = this.r
    return Array.from({ length: r.int(1, 10) }, () => (r.chance(0.5) ? r.pick(GARBAGE) : r.int(0, 255)))
  }

  value(depth: number): Bytes {
    if (depth >= 3) return this.scalar()
    const roll = this.r.next()
    if (roll < 0.35) return this.scalar()
    if (roll < 0.5) return this.array(depth)
    if (roll < 0.65) return this.map(depth)
    return this.tagged(depth)
  }

  scalar(): Bytes {
    const r = this.r
    if (this.theme === 'packed' && r.chance(0.3)) return this.packedSimple()
    switch (r.int(0, 13)) {
      case 0:
        return uint(r.int(0, 23))
      case 1:
        return uint(r.pick([24, 255, 256, 65535, 65536, 2 ** 32 - 1]))
      case 2:
        return uint(r.pick([2n ** 32n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n]))
      case 3:
        return nint(r.pick<number | bigint>([0, 23, 24, 1000, 2 ** 31, 2n ** 53n, 2n ** 64n - 1n]))
      case 4:
        return r.chance(0.5) ? [0xf9, ...r.bytes(2)] : [0xf9, ...r.pick([[0x7e, 0x00], [0x7c, 0x00], [0x80, 0x00], [0x00, 0x01], [0x3c, 0x00]])]
      case 5:
        return r.chance(0.5) ? [0xfa, ...r.bytes(4)] : float32(r.pick([1.5, -0.25, 3.4e38, NaN]))
      case 6:
        return r.chance(0.3) ? [0xfb, ...r.bytes(8)] : float64(r.pick([0.1, -0, NaN, Infinity, -Infinity, 1e300, 5e-324, 1.5e9]))
      case 7:
        return tstr(r.pick(TEXTS))
      case 8:
        return tstr(String.fromCharCode(...Array.from({ length: r.int(0, 20) }, () => r.int(0x20, 0x7e))))
      case 9: {
        // Text that is not UTF-8.
        const bytes = Array.from({ length: r.int(1, 6) }, () => r.pick([0x61, 0xff, 0xc3, 0xed, 0xa0, 0x80, 0xf0, 0x9f]))
        return [...head(3, bytes.length), ...bytes]
      }
      case 10:
        return bstr(r.bytes(r.int(0, 12)))
      case 11:
        return [r.pick([0xf4, 0xf5, 0xf6, 0xf7])]
      case 12:
        return this.packedSimple()
      default:
        // Chunked strings (cbor-x refuses them).
        return r.chance(0.5) ? [0x5f, ...bstr(r.bytes(2)), 0xff] : [0x7f, ...tstr('ab'), ...tstr('ç'), 0xff]
    }
  }

  /** Simple values, which cbor-x reads as packed values. */
  packedSimple(): Bytes {
    const r = this.r
    return r.chance(0.8) ? [0xe0 + r.int(0, 19)] : [0xf8, r.int(0, 255)]
  }

  array(depth: number): Bytes {
    const items = Array.from({ length: this.r.int(0, 4) }, () => this.value(depth + 1))
    return this.r.chance(0.1) ? [0x9f, ...items.flat(), 0xff] : arr(items)
  }

  key(depth: number): Bytes {
    const r = this.r
    switch (r.int(0, 9)) {
      case 6:
        return uint(r.int(0, 300))
      case 7:
        return nint(r.int(0, 5))
      case 8:
        return r.pick([[0xf4], [0xf5], [0xf6], [0xf7], float64(1.5), float64(NaN), tagged(2, bstr([1, 0]))])
      case 9:
        return r.chance(0.5) ? this.array(depth + 1) : bstr(r.bytes(2))
      default:
        return tstr(r.pick(KEYS))
    }
  }

  map(depth: number): Bytes {
    const pairs = Array.from({ length: this.r.int(0, 3) }, (): [Bytes, Bytes] => [this.key(depth), this.value(depth + 1)])
    return this.r.chance(0.1) ? [0xbf, ...pairs.flat(2), 0xff] : map(pairs)
  }

  keyArray(): Bytes {
    return arr(Array.from({ length: this.r.int(1, 3) }, () => (this.r.chance(0.9) ? tstr(this.r.pick(KEYS)) : uint(this.r.int(0, 3)))))
  }

  recordId(): Bytes {
    const r = this.r
    // Mostly the first record ids; 0xfff9 takes the slot that tag 0xdff9 also reads.
    return r.chance(0.85) ? uint(TAG_RECORD_FIRST + r.int(0, 2)) : r.pick([uint(0xfff9), uint(5), tstr('id')])
  }

  tag(): number | bigint {
    const r = this.r
    if (r.chance(0.5)) {
      switch (this.theme) {
        case 'records':
          return r.pick([TAG_RECORD_INLINE, TAG_RECORD_INLINE, TAG_RECORD_DEFINITIONS, TAG_LEGACY_RECORD, TAG_RECORD_FIRST, TAG_RECORD_FIRST + 1, 0x1e000])
        case 'shared':
          return r.pick([28, 29])
        case 'packed': {
          if (r.chance(0.5)) return r.pick([TAG_PACKED_TABLE, TAG_PACKED_REFERENCE])
          const [lo, hi] = r.pick(PACKED_RANGES)
          return r.int(lo, hi)
        }
        case 'bundles':
          return r.pick([TAG_BUNDLED_STRINGS, TAG_BUNDLED_STRINGS, 14, 15])
        case 'plain':
          break
      }
    }
    switch (r.int(0, 8)) {
      case 0:
        return r.int(0, 5)
      case 1:
        return r.pick([TAG_PACKED_REFERENCE, 14, 15, 27, 28, 29, TAG_PACKED_TABLE, TAG_LEGACY_RECORD, 258, 259, 55799])
      case 2:
        return r.int(64, 87)
      case 3: {
        const [lo, hi] = r.pick(PACKED_RANGES)
        return r.chance(0.5) ? r.pick([lo, hi]) : r.int(lo, hi)
      }
      case 4:
        return r.pick([TAG_BUNDLED_STRINGS, TAG_RECORD_DEFINITIONS, TAG_RECORD_INLINE])
      case 5:
        return TAG_RECORD_FIRST + r.int(0, 3)
      case 6:
        // Next to the ranges, and tags that land on record slots.
        return r.pick([224, 28672, 28703, 0xdffa, 0xdffd, 0xffff, 0x1e000, 0x1e001])
      case 7:
        return r.pick([7, 13, 16, 26, 30, 32, 100, 256, 257, 260, 1000, 2 ** 32 - 1])
      default:
        return r.pick([2n ** 32n, 2n ** 64n - 1n, 2n ** 32n + 0xe000n])
    }
  }

  tagged(depth: number): Bytes {
    const r = this.r
    const tag = this.tag()
    this.#tagsSeen.add(tag)
    const content = r.chance(0.75) ? this.plausible(tag, depth + 1) : this.value(depth + 1)
    if (typeof tag === 'number' && r.chance(0.05)) {
      // A longer head than needed: the same tag to a decoder.
      const min = minimalWidth(BigInt(tag))
      const wider = ([1, 2, 4, 8] as const).filter((w) => w > min)
      return [...head(6, tag, r.pick(wider)), ...content]
    }
    return [...head(6, tag), ...content]
  }

  /** What a writer of `tag` would put in it (or something close to it). */
  plausible(tag: number | bigint, depth: number): Bytes {
    const r = this.r
    if (typeof tag === 'bigint') return this.value(depth)
    if (tag >= 64 && tag <= 87) return bstr(r.bytes(r.pick([0, 1, 2, 3, 4, 8, 16])))
    if (PACKED_RANGES.some(([lo, hi]) => tag >= lo && tag <= hi)) {
      return r.pick([() => tstr(r.pick(TEXTS)), () => this.array(depth), () => this.map(depth)])()
    }
    if (tag === TAG_BUNDLED_STRINGS) return this.bundle()
    if (tag === TAG_RECORD_INLINE) {
      const keys = Array.from({ length: r.int(0, 3) }, () => tstr(r.pick(KEYS)))
      const values = Array.from({ length: keys.length + (r.chance(0.1) ? 1 : 0) }, () => this.value(depth + 1))
      return arr([this.recordId(), arr(keys), ...values])
    }
    if (tag === TAG_RECORD_DEFINITIONS) {
      const structures = Array.from({ length: r.int(1, 2) }, () => this.keyArray())
      return arr([this.recordId(), ...structures, this.value(depth + 1)])
    }
    if (tag >= 0xdffa) {
      // A record: the values of a structure defined earlier.
      return arr(Array.from({ length: r.int(1, 3) }, () => this.value(depth + 1)))
    }
    switch (tag) {
      case 0:
        return tstr(r.pick(DATES))
      case 1:
        return r.pick([() => uint(r.int(0, 2e9)), () => float64(1.5e9 + r.next()), () => float64(NaN), () => float64(1e300), () => nint(5), () => uint(2n ** 60n)])()
      case 2:
      case 3:
        return bstr(r.bytes(r.int(0, 12)))
      case 4:
      case 5:
        return arr([r.chance(0.5) ? uint(r.int(0, 5)) : nint(r.int(0, 5)), r.pick([uint(r.int(0, 1000)), nint(7), tagged(2, bstr([1, 0, 0])), float64(2.5)])])
      case TAG_PACKED_REFERENCE:
        return r.chance(0.8) ? uint(r.int(0, 20)) : nint(r.int(0, 3))
      case 14:
      case 15:
        return uint(r.int(0, 8))
      case 27: {
        const parts = [tstr(r.pick(['Error', 'RegExp', 'TypeError', 'constructor', 'toString'])), tstr(r.pick(['boom', 'a+b', '^é$', '(', '']))]
        if (r.chance(0.5)) parts.push(r.chance(0.5) ? tstr(r.pick(['g', 'gi', 'u', 'zz'])) : map([[tstr('cause'), this.value(depth + 1)]]))
        return arr(parts)
      }
      case 28: {
        // Often with references to itself inside (cycles).
        const inner = (): Bytes => (r.chance(0.4) ? tagged(29, uint(r.int(0, 1))) : this.value(depth + 1))
        return r.pick([
          () => arr(Array.from({ length: r.int(1, 3) }, inner)),
          () => map([[tstr(r.pick(KEYS)), inner()]]),
          () => tstr('secret'),
          () => this.value(depth),
        ])()
      }
      case 29:
        return uint(r.int(0, 2))
      case TAG_PACKED_TABLE: {
        const values = arr(Array.from({ length: r.int(1, 20) }, () => (r.chance(0.6) ? tstr(r.pick(TEXTS)) : this.scalar())))
        const affixes = (): Bytes => arr(Array.from({ length: r.int(0, 3) }, () => tstr(r.pick(['pre-', 'https://', 'é', '-suf']))))
        // cbor-x wants the four parts as one array: values, prefixes, suffixes, then the value that uses them.
        const rump = this.value(depth)
        return r.chance(0.9) ? [0x84, ...values, ...affixes(), ...affixes(), ...rump] : [0x83, ...values, ...affixes(), ...rump]
      }
      case TAG_LEGACY_RECORD: {
        const keys = Array.from({ length: r.int(0, 3) }, () => tstr(r.pick(KEYS)))
        return arr([this.recordId(), arr(keys), ...keys.map(() => this.value(depth + 1))])
      }
      case 258:
        return this.array(depth)
      case 259: {
        const pairs = Array.from({ length: r.int(0, 3) }, (): [Bytes, Bytes] => [this.key(depth), this.value(depth + 1)])
        return map(pairs)
      }
      default:
        return this.value(depth)
    }
  }

  /**
   * Bundled strings: [offset, data], the data's tags 14/15 slicing two
   * strings that sit `offset` bytes after the offset's first byte.
   */
  bundle(): Bytes {
    const r = this.r
    const pieces = Array.from({ length: r.int(1, 3) }, () => tagged(r.pick([14, 15]), uint(r.int(0, 4))))
    const strings = [...tstr(r.pick(['ab', 'héllo', 'x'])), ...tstr(r.pick(['', 'cd', 'ü']))]
    const offsetTo = (distance: number): Bytes => uint(distance + 1 < 24 ? distance + 1 : distance + 2)
    switch (r.int(0, 2)) {
      case 0: {
        // As cbor-x writes it: the strings follow the tagged item (so the payload is not one item).
        const data = pieces.length === 1 ? pieces[0] : arr(pieces)
        return [...arr([offsetTo(data.length), data]), ...strings]
      }
      case 1: {
        // The strings would lie past the end of the item: in whatever follows it.
        const data = pieces.length === 1 ? pieces[0] : arr(pieces)
        return arr([offsetTo(data.length + r.int(0, 3)), data])
      }
      default: {
        // The strings inside the data, after the pieces (or one byte into them).
        const data = arr([...pieces, tstr('ab'), tstr('cd')])
        return arr([offsetTo(data.length - 6 + r.int(0, 1)), data])
      }
    }
  }

  /** A value written by one of cbor-x's encoders. */
  encoded(): Bytes {
    const r = this.r
    let value = r.chance(0.5) ? this.shaped(1) : this.jsValue(0)
    const choice = r.int(0, ENCODER_OPTIONS.length)
    if (choice === 0 && typeof value === 'object' && value !== null && r.chance(0.5)) {
      // A cycle and a shared value: what structured cloning is for.
      value = Array.isArray(value) ? [value, value] : Object.assign(value, { self: value })
    }
    try {
      const encoder = choice === ENCODER_OPTIONS.length ? this.#sequential : new Encoder(ENCODER_OPTIONS[choice]())
      return [...encoder.encode(value)]
    } catch {
      return this.top()
    }
  }

  shaped(depth: number): Record<string, unknown> {
    return Object.fromEntries(this.r.pick(SHAPES).map((k) => [k, this.jsValue(depth)]))
  }

  jsValue(depth: number): unknown {
    const r = this.r
    switch (r.int(0, depth >= 2 ? 6 : 11)) {
      case 0:
        return r.int(-1000, 1000)
      case 1:
        return r.pick([0.5, -0, NaN, Infinity, 1e300, 2 ** 40 + 0.25, r.next()])
      case 2:
        return r.pick(TEXTS)
      case 3:
        return r.pick([2n ** 64n + 5n, -(2n ** 70n), 12345678901234567890n, 7n])
      case 4:
        return r.pick([true, false, null, undefined])
      case 5:
        return new Date(r.pick([0, 1.7e12, NaN, -1]))
      case 6:
        return r.pick([
          () => new Float32Array([1.5, r.next()]),
          () => new Uint16Array([1, 65535]),
          () => Uint8Array.from(r.bytes(r.int(0, 6))),
          () => new BigInt64Array([-5n]),
          () => new Int8Array([-1, 2]),
        ])()
      case 7:
        return new Set([this.jsValue(depth + 1), this.jsValue(depth + 1)])
      case 8:
        return new Map([[this.jsValue(depth + 1), this.jsValue(depth + 1)]])
      case 9:
        return Array.from({ length: r.int(0, 3) }, () => this.jsValue(depth + 1))
      case 10:
        return r.chance(0.5) ? new Error(r.pick(TEXTS)) : new RegExp(r.pick(['a+', '^x$', 'é']), r.pick(['', 'g', 'i']))
      default:
        return this.shaped(depth + 1)
    }
  }
}

// ── events ─────────────────────────────────────────────────────────────────

type Via = 'envelope A' | 'envelope B' | 'cbor sink' | 'emitCbor'
const VIAS: readonly Via[] = ['envelope A', 'envelope B', 'cbor sink', 'emitCbor']
const CBOR_SINK_NAME = 'bare'
const NAMES = ['alpha', 'beta', 'gamma', 'δέλτα', CBOR_SINK_NAME] as const

interface TestEvent {
  via: Via
  /** What the hub names it; `undefined` for a malformed envelope (reported without a name). */
  name: string | undefined
  kind: PayloadKind
  /** The payload's bytes: what the listener's value is decoded from. */
  payload: Uint8Array
  /** What the library passes to the sink (an envelope around the payload, or the payload). */
  msg: Uint8Array
}

/** `{ "eventType": name, "payload": <payload> }`, the way nim-ffi writes it. */
function envelope(name: string, payload: ArrayLike<number>): Uint8Array {
  return Uint8Array.from([0xa2, ...tstr('eventType'), ...tstr(name), ...tstr('payload'), ...Array.from(payload)])
}

function makeEvent(p: Payloads): TestEvent {
  const r = p.r
  const via = r.pick(VIAS)
  if (via === 'envelope A' || via === 'envelope B') {
    if (r.chance(0.05)) {
      const msg = Uint8Array.from(p.brokenEnvelope())
      return { via, name: undefined, kind: 'broken envelope', payload: msg, msg }
    }
    const { kind, bytes } = p.payload()
    const name = r.pick(NAMES)
    const payload = Uint8Array.from(bytes)
    return { via, name, kind, payload, msg: envelope(name, payload) }
  }
  const { kind, bytes } = p.payload()
  const payload = Uint8Array.from(bytes)
  return { via, name: via === 'cbor sink' ? CBOR_SINK_NAME : r.pick(NAMES), kind, payload, msg: payload }
}

function describeEvent(e: TestEvent): string {
  const name = e.name === undefined ? 'unnamed' : JSON.stringify(e.name)
  return `${e.via} ${name} (${e.kind}): ${e.via.startsWith('envelope') && e.kind !== 'broken envelope' ? 'payload' : 'bytes'} ${hex(e.payload)}`
}

// ── comparable values ──────────────────────────────────────────────────────

type Canon = null | boolean | number | string | Canon[] | { [key: string]: Canon }

/**
 * A plain, JSON-able form of what cbor-x returns, compared instead of the
 * value itself because ava's deepEqual cannot tell some of them apart or
 * apart from nothing:
 * - it ignores an Error's `cause` (tag 27 makes errors with one);
 * - record definitions hang a reader function and a counter on the array
 *   of keys, and a value can reach that array through a shared reference
 *   (tags 28/29): two decodes make two functions, never deepEqual;
 * - cbor-x's Tag class exists twice (the hub requires cbor-x's CommonJS
 *   build, this file imports its ES module build), and deepEqual compares
 *   constructors;
 * - which objects are shared or cyclic (tags 28/29) is part of the value:
 *   each object is written once, later occurrences as `{ ref }`.
 * Invalid dates, NaN, -0, BigInt, typed arrays, maps and sets get explicit
 * forms (-0 and NaN would not survive JSON).
 */
function canonical(root: unknown): Canon {
  const seen = new Map<object, number>()
  const props = (o: object): Canon => Object.keys(o).map((k) => [k, walk((o as Record<string, unknown>)[k])])
  const walk = (value: unknown): Canon => {
    switch (typeof value) {
      case 'undefined':
        return { undefined: true }
      case 'boolean':
      case 'string':
        return value
      case 'number':
        return Number.isFinite(value) && !Object.is(value, -0) ? value : { number: Object.is(value, -0) ? '-0' : String(value) }
      case 'bigint':
        return { bigint: value.toString() }
      case 'symbol':
        return { symbol: String(value) }
      case 'function':
        return { function: value.name }
    }
    if (value === null) return null
    const object = value as object
    const id = seen.get(object)
    if (id !== undefined) return { ref: id }
    seen.set(object, seen.size)
    if (Array.isArray(object)) return { array: Array.from(object, walk) }
    if (ArrayBuffer.isView(object)) {
      return { view: object.constructor.name, bytes: hex(new Uint8Array(object.buffer, object.byteOffset, object.byteLength)) }
    }
    if (object instanceof Map) return { map: Array.from(object, ([k, v]) => [walk(k), walk(v)]) }
    if (object instanceof Set) return { set: Array.from(object, walk) }
    if (object instanceof Date) return { date: Number.isNaN(object.getTime()) ? 'invalid' : object.getTime() }
    if (object instanceof RegExp) return { regexp: object.source, flags: object.flags }
    if (object instanceof Error) {
      return { error: object.name, message: object.message, ...('cause' in object ? { cause: walk(object.cause) } : {}), props: props(object) }
    }
    const proto: unknown = Object.getPrototypeOf(object)
    if (proto === Object.prototype || proto === null) return { object: props(object) }
    // A Tag, a boxed primitive (tag 27 can call Object), anything else: its class and own properties.
    const ctor = (proto as { constructor?: { name?: unknown } }).constructor
    return { class: typeof ctor?.name === 'string' ? ctor.name : Object.prototype.toString.call(object), props: props(object) }
  }
  return walk(root)
}

const same = (a: Canon, b: Canon): boolean => JSON.stringify(a) === JSON.stringify(b)

/** What a fresh cbor-x Decoder with the hub's options makes of `bytes`. */
function freshDecode(bytes: Uint8Array): { value: Canon } | { failed: string } {
  try {
    return { value: canonical(new Decoder({ ...HUB_DECODER_OPTIONS }).decode(Uint8Array.from(bytes))) }
  } catch (error) {
    return { failed: error instanceof Error ? error.message : String(error) }
  }
}

// ── delivery ───────────────────────────────────────────────────────────────

/** What one event got: its value (raw and canonical), or the code of its onError report. */
interface Outcome {
  seq: number
  event: string | undefined
  value?: unknown
  canon?: Canon
  failed?: string
  message?: string
}

/** The comparable part of an outcome: who got what. */
const result = (o: Outcome): Canon => (o.failed === undefined ? { event: o.event ?? null, value: o.canon ?? null } : { event: o.event ?? null, failed: o.failed })

/** A hub with two envelope sinks and a 'cbor' sink, and one listener for everything. */
class Delivery {
  readonly hub = new EventHub()
  readonly #sinks: Record<Exclude<Via, 'emitCbor'>, NativeSink>
  #outcomes: Outcome[] = []
  #wake: (() => void) | undefined
  #nextSeq = 1

  constructor() {
    this.#sinks = {
      'envelope A': this.hub.nativeSink({ format: 'envelope' }),
      'envelope B': this.hub.nativeSink({ format: 'envelope' }),
      'cbor sink': this.hub.nativeSink({ format: 'cbor', name: CBOR_SINK_NAME }),
    }
    this.hub.onAny((name, value, meta) => {
      if (meta.seq === 0) return // a liveness event of the hub's own
      this.#push({ seq: meta.seq, event: name, value, canon: canonical(value) })
    })
    this.hub.onError((error) => this.#push({ seq: error.seq ?? -1, event: error.eventName, failed: error.code, message: error.message }))
  }

  close(): Promise<void> {
    return this.hub.close()
  }

  #push(outcome: Outcome): void {
    this.#outcomes.push(outcome)
    this.#wake?.()
  }

  #send(e: TestEvent): void {
    if (e.via === 'emitCbor') {
      if (!this.hub.emitCbor(e.name as string, e.payload)) throw new Error('the ring refused an event')
    } else {
      const sink = this.#sinks[e.via]
      callOnce(sink.callback, 0, e.msg, sink.userData)
    }
  }

  /** Each event by itself, its outcome awaited before the next is sent. */
  async alone(events: readonly TestEvent[]): Promise<Outcome[]> {
    const out: Outcome[] = []
    for (const e of events) out.push(...(await this.together([e])))
    return out
  }

  /** All events sent without yielding, so that they are delivered in one batch; their outcomes by seq. */
  async together(events: readonly TestEvent[]): Promise<Outcome[]> {
    if (this.#outcomes.length > 0) throw new Error(`outcomes of no event: ${JSON.stringify(this.#outcomes.map(result))}`)
    const first = this.#nextSeq
    const batches = this.hub.stats().batches
    for (const e of events) this.#send(e)
    this.#nextSeq += events.length
    const got = await this.#take(events.length)
    const delivered = this.hub.stats().batches - batches
    if (delivered !== 1) throw new Error(`${events.length} events sent without yielding were delivered in ${delivered} batches, not one`)
    const bySeq = new Map(got.map((o) => [o.seq, o]))
    return events.map((e, i) => {
      const o = bySeq.get(first + i)
      if (o === undefined) throw new Error(`no outcome for seq ${first + i} (${describeEvent(e)}); got seqs ${got.map((x) => x.seq).join(', ')}`)
      // A value names its event; a report names it too, except a malformed envelope's (which has none).
      const named = o.event === e.name || (o.failed !== undefined && o.event === undefined && e.via !== 'emitCbor' && e.via !== 'cbor sink')
      if (!named) throw new Error(`the outcome of seq ${o.seq} names ${JSON.stringify(o.event)}, not ${JSON.stringify(e.name)}`)
      return o
    })
  }

  #take(n: number): Promise<Outcome[]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#wake = undefined
        reject(new Error(`waited 10 s for ${n} outcomes, got ${this.#outcomes.length}`))
      }, 10_000)
      this.#wake = () => {
        if (this.#outcomes.length < n) return
        clearTimeout(timer)
        this.#wake = undefined
        resolve(this.#outcomes.splice(0))
      }
      this.#wake()
    })
  }
}

function openDelivery(t: ExecutionContext): Delivery {
  const delivery = new Delivery()
  t.teardown(() => delivery.close())
  return delivery
}

// ── regressions ────────────────────────────────────────────────────────────

/** Events through the two envelope sinks, by turns. */
function envelopeEvents(payloads: Array<[name: string, payload: number[]]>): TestEvent[] {
  return payloads.map(([name, bytes], i) => {
    const payload = Uint8Array.from(bytes)
    return { via: i % 2 === 0 ? 'envelope A' : 'envelope B', name, kind: 'item', payload, msg: envelope(name, payload) }
  })
}

/** Who got what, in a form deepEqual shows well. */
const summary = (outcomes: Outcome[]): unknown[] =>
  outcomes.map((o) => (o.failed === undefined ? { event: o.event, value: o.value } : { event: o.event, failed: o.failed }))

test('bundled strings that point past the end of their event do not read the next event of its batch', async (t) => {
  const delivery = openDelivery(t)
  const events = envelopeEvents([
    ['a', [0xd9, 0xdf, 0xf9, 0x82, 0x04, 0xd8, 0x0e, 0x02]],
    ['b', arr([tstr('x'), tstr('')])],
    ['c', [0x03]],
  ])
  const alone = await delivery.alone(events)
  t.deepEqual(summary(alone), [
    { event: 'a', failed: 'ERR_EVENT_DECODE' },
    { event: 'b', value: ['x', ''] },
    { event: 'c', value: 3 },
  ])
  const together = await delivery.together(events)
  t.deepEqual(summary(together), summary(alone), 'in one batch each event gets what it gets alone')
})

test('a shared reference does not resolve to a value that an earlier event of its batch shared', async (t) => {
  const delivery = openDelivery(t)
  const events = envelopeEvents([
    ['a', tagged(28, tstr('secret'))],
    ['b', tagged(29, uint(0))],
  ])
  const alone = await delivery.alone(events)
  t.deepEqual(summary(alone), [
    { event: 'a', value: 'secret' },
    { event: 'b', failed: 'ERR_EVENT_DECODE' },
  ])
  const together = await delivery.together(events)
  t.deepEqual(summary(together), summary(alone), 'in one batch each event gets what it gets alone')
})

test('a record tag is not read with a record definition from an earlier event of its batch', async (t) => {
  const delivery = openDelivery(t)
  const events = envelopeEvents([
    ['a', tagged(TAG_RECORD_INLINE, arr([uint(TAG_RECORD_FIRST), arr([tstr('k')]), uint(1)]))],
    ['b', [0xd9, 0xe0, 0x00, 0x81, 0x02]],
  ])
  const alone = await delivery.alone(events)
  t.deepEqual(summary(alone)[0], { event: 'a', value: { k: 1 } })
  // Alone, 0xe000 is an unknown tag: cbor-x's Tag wrapping [2].
  t.like(alone[1], { event: 'b', canon: { class: 'Tag', props: [['value', { array: [2] }], ['tag', TAG_RECORD_FIRST]] } })
  const together = await delivery.together(events)
  t.deepEqual(summary(together), summary(alone), 'in one batch each event gets what it gets alone')
})

test('a non-ASCII text decodes the same whether or not a chunked string follows it in its batch', async (t) => {
  // cbor-x extracts strings ahead of the item it reads, up to the end of
  // what it decodes: in a sequence, into the next events' bytes.
  const delivery = openDelivery(t)
  const events = envelopeEvents([
    ['a', tstr('éé')],
    ['b', [0x7f, ...tstr('a'), 0xff]],
  ])
  const alone = await delivery.alone(events)
  t.deepEqual(summary(alone), [
    { event: 'a', value: 'éé' },
    { event: 'b', failed: 'ERR_EVENT_DECODE' },
  ])
  const together = await delivery.together(events)
  t.deepEqual(summary(together), summary(alone), 'in one batch each event gets what it gets alone')
})

// ── the property ───────────────────────────────────────────────────────────

interface Mismatch {
  run: number
  index: number
  events: TestEvent[]
  /** What the event got in its batch (or alone), and what it should have got. */
  actual: Canon
  expected: Canon
}

function describeMismatch(m: Mismatch, what: string): string {
  const lines = m.events.map((e, i) => `${i === m.index ? '→' : ' '} ${i + 1}. ${describeEvent(e)}`)
  return [
    `run ${m.run}, event ${m.index + 1} of ${m.events.length}: ${what}`,
    ...lines,
    `  got:      ${JSON.stringify(m.actual)}`,
    `  expected: ${JSON.stringify(m.expected)}`,
  ].join('\n')
}

test('every event decodes in a batch of mixed sources exactly as it does alone, and alone as a fresh cbor-x Decoder decodes its payload', async (t) => {
  t.log(REPLAY)
  const delivery = openDelivery(t)
  const tagsSeen = new Set<number | bigint>()
  const inBatch: Mismatch[] = []
  const againstFresh: Mismatch[] = []
  const runsDiffering = new Set<number>()
  const counts = new Map<string, number>()
  const count = (key: string): void => {
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  let mixedBatches = 0

  for (let run = 0; run < RUNS; run++) {
    const r = runRandom(SEED, run)
    const payloads = new Payloads(r, r.pick(THEMES), tagsSeen)
    const events = Array.from({ length: r.int(MIN_EVENTS, MAX_EVENTS) }, () => makeEvent(payloads))
    if (new Set(events.map((e) => e.via)).size >= 3) mixedBatches++
    let alone: Outcome[]
    let together: Outcome[]
    try {
      alone = await delivery.alone(events)
      together = await delivery.together(events)
    } catch (error) {
      t.fail(`${REPLAY}, run ${run}: ${error instanceof Error ? error.message : String(error)}\n${events.map(describeEvent).join('\n')}`)
      return
    }
    events.forEach((e, i) => {
      count(`via ${e.via}`)
      count(`kind ${e.kind}`)
      count(alone[i].failed === undefined ? `decoded alone via ${e.via}` : `failed alone via ${e.via}`)
      const expected = result(alone[i])
      const actual = result(together[i])
      if (!same(actual, expected)) {
        inBatch.push({ run, index: i, events, actual, expected })
        runsDiffering.add(run)
      }
      if (alone[i].failed === undefined) {
        const fresh = freshDecode(e.payload)
        const aloneValue = { value: alone[i].canon ?? null }
        if (!same(aloneValue, fresh)) againstFresh.push({ run, index: i, events, actual: aloneValue, expected: fresh })
      }
    })
  }

  t.log(`${RUNS} runs, ${mixedBatches} batches with three or more sources; ${[...counts].map(([k, v]) => `${k}: ${v}`).join(', ')}`)

  // The generator covers what it is meant to: every extension tag, every source, values and failures.
  const required: Array<number | readonly [number, number]> = [
    0, 1, 2, 3, 4, 5, TAG_PACKED_REFERENCE, 14, 15, 27, 28, 29, TAG_PACKED_TABLE, TAG_LEGACY_RECORD, 258, 259, 55799,
    TAG_BUNDLED_STRINGS, TAG_RECORD_DEFINITIONS, TAG_RECORD_INLINE, TAG_RECORD_FIRST, ...PACKED_RANGES,
    ...Array.from({ length: 24 }, (_, i) => 64 + i),
  ]
  const tags = [...tagsSeen].filter((x): x is number => typeof x === 'number')
  const missing = required.filter((want) => (typeof want === 'number' ? !tagsSeen.has(want) : !tags.some((x) => x >= want[0] && x <= want[1])))
  t.deepEqual(missing, [], 'tags never generated')
  for (const via of VIAS) {
    t.true((counts.get(`decoded alone via ${via}`) ?? 0) > RUNS / 10, `events that decode, via ${via}`)
    t.true((counts.get(`failed alone via ${via}`) ?? 0) > RUNS / 20, `events that fail, via ${via}`)
  }
  t.true(mixedBatches > RUNS / 4, 'batches mixing sources')

  for (const m of inBatch.slice(0, 5)) t.log(describeMismatch(m, 'in a batch ≠ alone'))
  for (const m of againstFresh.slice(0, 5)) t.log(describeMismatch(m, 'alone ≠ a fresh Decoder'))
  const tally =
    `${inBatch.length} events in ${runsDiffering.size} of ${RUNS} runs get something else in a batch than alone; ` +
    `${againstFresh.length} events decoded alone differ from a fresh Decoder`
  if (inBatch.length > 0) {
    const m = inBatch[0]
    t.deepEqual(m.actual, m.expected, `${REPLAY}: ${tally}. First: ${describeMismatch(m, 'in a batch (actual) ≠ alone (expected)')}`)
  }
  if (againstFresh.length > 0) {
    const m = againstFresh[0]
    t.deepEqual(m.actual, m.expected, `${REPLAY}: ${tally}. First: ${describeMismatch(m, 'alone (actual) ≠ a fresh Decoder (expected)')}`)
  }
  t.is(inBatch.length + againstFresh.length, 0, tally)
})
