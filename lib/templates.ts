// Compiled payload decoders: for an event name whose payloads keep one
// shape (a map with the same ASCII keys in the same order, values of the
// same kinds), a decoder generated for that shape reads the bytes with a
// DataView and checks every fixed byte. Any payload that does not match
// (another shape, a wider integer encoding, a non-ASCII string, a tag,
// anything else) is left to cbor-x, so a value never differs from what
// cbor-x gives for the same bytes: 8-byte integers stay BigInt, floats stay
// floats, keys keep their order. A compiled decoder reads only its event's
// bytes and keeps no state between events.

/** What a compiled decoder returns for a payload that does not match its shape. */
export const MISMATCH: unique symbol = Symbol('payload does not match the template')

/**
 * The bytes a compiled decoder reads: three views of the same memory at the
 * same offsets. A `Batch` is one.
 */
export interface DecodeSource {
  /** For byte reads and text strings. */
  readonly buffer: Buffer
  /** For integers and floats. */
  readonly dataView: DataView
  /** A plain view, read only to copy a byte string out (a batch makes it on first use). */
  readonly bytes: Uint8Array
}

/** A compiled decoder: the value of the payload at `[start, end)` of `src`, or `MISMATCH`. */
export type CompiledDecoder = (src: DecodeSource, start: number, end: number) => unknown

/** Payloads of one shape seen in a row before a decoder is compiled for it. */
const LEARN_AFTER = 4
/** Attempts after which a decoder that mismatches more often than it matches is dropped for good. */
const JUDGE_AFTER = 64
/** Nesting the templates follow (deeper payloads are left to cbor-x). */
const MAX_DEPTH = 8
/** Map pairs and array items a template follows. */
const MAX_ITEMS = 23

/** One event name's template: learning, compiled, or given up. */
export class Template {
  #shape: string | undefined
  #seen = 0
  #decoder: CompiledDecoder | undefined
  #hits = 0
  #misses = 0
  #givenUp = false

  /** A template that never compiles (for names past a hub's limit). */
  static never(): Template {
    const template = new Template()
    template.#givenUp = true
    return template
  }

  /** The compiled decoder, once there is one and it earns its keep. */
  get decoder(): CompiledDecoder | undefined {
    return this.#givenUp ? undefined : this.#decoder
  }

  /** Counts a compiled decode that matched (true) or fell back (false), until the template is judged. */
  record(matched: boolean): void {
    if (this.#hits + this.#misses === JUDGE_AFTER) return
    if (matched) this.#hits++
    else this.#misses++
    if (this.#hits + this.#misses === JUDGE_AFTER && this.#misses > this.#hits) this.#givenUp = true
  }

  /** Learns from a payload decoded by cbor-x; compiles once one shape repeats. */
  learn(u8: Uint8Array, start: number, end: number): void {
    if (this.#decoder !== undefined || this.#givenUp) return
    const shape = shapeOf(u8, start, end)
    if (shape === undefined) {
      this.#seen = 0
      this.#shape = undefined
      return
    }
    if (shape !== this.#shape) {
      this.#shape = shape
      this.#seen = 0
    }
    if (++this.#seen >= LEARN_AFTER) this.#decoder = compiled(shape)
  }
}

// ── shapes ─────────────────────────────────────────────────────────────────
// A shape is a string: `{k1:v1,k2:v2}` for a map (keys as hex of their
// ASCII bytes), `[v1,v2]` for an array (either opened with `#1`, `#2` or
// `#4` when its count is written in that many bytes after the head byte),
// and for a value: `u` unsigned
// integer of up to 4 bytes, `U` unsigned 8-byte, `n`/`N` the same negative,
// `h`/`f`/`d` float16/32/64, `b` boolean, `z` null, `x` undefined, `s` ASCII
// text of up to 4-byte length, `y` a byte string of up to 4-byte length.

/** The shape of the one item at `[start, end)`, or `undefined` when templates do not cover it. */
export function shapeOf(u8: Uint8Array, start: number, end: number): string | undefined {
  const out: string[] = []
  const at = shapeItem(u8, start, end, 0, out)
  return at === end ? out.join('') : undefined
}

function shapeItem(u8: Uint8Array, at: number, end: number, depth: number, out: string[]): number {
  if (at >= end || depth > MAX_DEPTH) return -1
  const initial = u8[at++]
  const major = initial >> 5
  const info = initial & 0x1f
  switch (major) {
    case 0:
    case 1: {
      const width = argumentWidth(info)
      if (width < 0 || at + width > end) return -1
      out.push(info === 27 ? (major === 0 ? 'U' : 'N') : major === 0 ? 'u' : 'n')
      return at + width
    }
    case 2:
    case 3: {
      // Byte strings, and text of ASCII characters only.
      const width = argumentWidth(info)
      if (width < 0 || info === 27 || at + width > end) return -1
      const length = readArgument(u8, at, info)
      at += width
      if (at + length > end || (major === 3 && !isAscii(u8, at, at + length))) return -1
      out.push(major === 2 ? 'y' : 's')
      return at + length
    }
    case 4:
    case 5: {
      // The count's head may be wider than it needs (cbor-x writes a map's
      // count in two bytes): the shape keeps its width, so that the
      // compiled decoder checks the same head bytes.
      const width = argumentWidth(info)
      if (width < 0 || info === 27 || at + width > end) return -1
      const count = readArgument(u8, at, info)
      if (count > MAX_ITEMS) return -1
      at += width
      out.push(major === 4 ? '[' : '{')
      if (width > 0) out.push(`#${width}`)
      for (let i = 0; i < count; i++) {
        if (i > 0) out.push(',')
        if (major === 5) {
          // Keys: short ASCII text, never `__proto__` (cbor-x renames it).
          const head = at < end ? u8[at] : 0
          if (head >> 5 !== 3 || (head & 0x1f) >= 24) return -1
          const length = head & 0x1f
          if (at + 1 + length > end || !isAscii(u8, at + 1, at + 1 + length)) return -1
          if (length === 9 && asciiOf(u8, at + 1, at + 10) === '__proto__') return -1
          out.push(hexOf(u8, at, at + 1 + length), ':')
          at += 1 + length
        }
        at = shapeItem(u8, at, end, depth + 1, out)
        if (at < 0) return -1
      }
      out.push(major === 4 ? ']' : '}')
      return at
    }
    case 7: {
      const kind = initial === 0xf9 ? 'h' : initial === 0xfa ? 'f' : initial === 0xfb ? 'd' : initial === 0xf4 || initial === 0xf5 ? 'b' : initial === 0xf6 ? 'z' : initial === 0xf7 ? 'x' : undefined
      if (kind === undefined) return -1
      const width = kind === 'h' ? 2 : kind === 'f' ? 4 : kind === 'd' ? 8 : 0
      if (at + width > end) return -1
      out.push(kind)
      return at + width
    }
    default:
      return -1
  }
}

/** Bytes after the initial byte that hold the argument; -1 for indefinite or reserved. */
function argumentWidth(info: number): number {
  if (info < 24) return 0
  if (info <= 27) return 1 << (info - 24)
  return -1
}

function readArgument(u8: Uint8Array, at: number, info: number): number {
  if (info < 24) return info
  let value = 0
  for (let i = 0; i < 1 << (info - 24); i++) value = value * 256 + u8[at + i]
  return value
}

function isAscii(u8: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (u8[i] >= 0x80) return false
  return true
}

function asciiOf(u8: Uint8Array, from: number, to: number): string {
  let s = ''
  for (let i = from; i < to; i++) s += String.fromCharCode(u8[i])
  return s
}

function hexOf(u8: Uint8Array, from: number, to: number): string {
  let s = ''
  for (let i = from; i < to; i++) s += u8[i].toString(16).padStart(2, '0')
  return s
}

// ── code generation ────────────────────────────────────────────────────────

/** Half-precision floats, exactly as cbor-x's `getFloat16` reads them. */
const f32 = new Float32Array(1)
const f32Bytes = new Uint8Array(f32.buffer)
export function float16(byte0: number, byte1: number): number {
  const exponent = (byte0 & 0x7f) >> 2
  if (exponent === 0x1f) {
    if (byte1 || byte0 & 3) return NaN
    return byte0 & 0x80 ? -Infinity : Infinity
  }
  if (exponent === 0) {
    const abs = (((byte0 & 3) << 8) | byte1) / (1 << 24)
    return byte0 & 0x80 ? -abs : abs
  }
  f32Bytes[3] = (byte0 & 0x80) | ((exponent >> 1) + 56)
  f32Bytes[2] = ((byte0 & 7) << 5) | (byte1 >> 3)
  f32Bytes[1] = byte1 << 5
  f32Bytes[0] = 0
  return f32[0]
}

/** The check of a container's head: major type `major`, `count` items, the count in `countWidth` bytes after the head byte (0: in the head byte). */
function headCheck(major: number, count: number, countWidth: number): string {
  const bytes = [(major << 5) | (countWidth === 0 ? count : 24 + Math.log2(countWidth))]
  for (let i = countWidth - 1; i >= 0; i--) bytes.push(Math.floor(count / 256 ** i) % 256)
  return `if (p + ${bytes.length} > e${bytes.map((byte, i) => ` || u8[p + ${i}] !== ${byte}`).join('')}) return M; p += ${bytes.length}`
}

/** Shapes whose decoders are kept for every hub of the process. */
const MAX_SHARED_DECODERS = 512
const sharedDecoders = new Map<string, CompiledDecoder>()

/**
 * The decoder of `shape`, one per shape for the whole process (decoders
 * keep no state): hubs made one after another reuse the function V8 has
 * already optimized, and the call site that runs it sees one function, not
 * one per hub.
 */
export function compiled(shape: string): CompiledDecoder {
  let decode = sharedDecoders.get(shape)
  if (decode === undefined) {
    decode = compile(shape)
    if (sharedDecoders.size < MAX_SHARED_DECODERS) sharedDecoders.set(shape, decode)
  }
  return decode
}

/** Generates the decoder of `shape` (see `shapeOf`). */
export function compile(shape: string): CompiledDecoder {
  let next = 0
  let code = ''
  let at = 0
  const emit = (line: string): void => {
    code += `${line}\n`
  }
  /** Generates the reading of a head of major type `major` whose argument takes at most 4 bytes, into `t`. */
  const emitHead = (major: number): void => {
    emit(`if (p >= e) return M; b = u8[p++]; if ((b >> 5) !== ${major}) return M; t = b & 31;`)
    emit('if (t === 24) { if (p + 1 > e) return M; t = u8[p++] } else if (t === 25) { if (p + 2 > e) return M; t = dv.getUint16(p); p += 2 } else if (t === 26) { if (p + 4 > e) return M; t = dv.getUint32(p); p += 4 } else if (t > 26) return M')
  }
  /** Generates the reading of the value at `shape[at]`; returns the name of the variable holding it. */
  const value = (): string => {
    const v = `v${next++}`
    const kind = shape[at++]
    switch (kind) {
      case 'u':
      case 'n':
        emitHead(kind === 'u' ? 0 : 1)
        emit(kind === 'u' ? `const ${v} = t` : `const ${v} = -1 - t`)
        return v
      case 'U':
      case 'N':
        emit(`if (p + 9 > e || u8[p] !== ${kind === 'U' ? 0x1b : 0x3b}) return M;`)
        emit(`const ${v} = ${kind === 'U' ? '' : '~'}dv.getBigUint64(p + 1); p += 9`)
        return v
      case 'h':
        emit(`if (p + 3 > e || u8[p] !== 0xf9) return M; const ${v} = f16(u8[p + 1], u8[p + 2]); p += 3`)
        return v
      case 'f':
        emit(`if (p + 5 > e || u8[p] !== 0xfa) return M; const ${v} = dv.getFloat32(p + 1); p += 5`)
        return v
      case 'd':
        emit(`if (p + 9 > e || u8[p] !== 0xfb) return M; const ${v} = dv.getFloat64(p + 1); p += 9`)
        return v
      case 'b':
        emit(`if (p >= e) return M; b = u8[p++]; if (b !== 0xf4 && b !== 0xf5) return M; const ${v} = b === 0xf5`)
        return v
      case 'z':
        emit(`if (p >= e || u8[p++] !== 0xf6) return M; const ${v} = null`)
        return v
      case 'x':
        emit(`if (p >= e || u8[p++] !== 0xf7) return M; const ${v} = undefined`)
        return v
      case 's':
        emitHead(3)
        emit('if (p + t > e) return M; for (let i = p; i < p + t; i++) if (u8[i] >= 0x80) return M;')
        emit(`const ${v} = t === 0 ? '' : u8.toString('latin1', p, p + t); p += t`)
        return v
      case 'y':
        emitHead(2)
        // A copy, as cbor-x's `copyBuffers` makes it: a plain Uint8Array of
        // its own (sliced from a plain view: `buf`'s `slice` would make a
        // Buffer, and `ArrayBuffer#slice` costs 13x as much for 64 bytes).
        emit(`if (p + t > e) return M; const ${v} = slice.call(src.bytes, p, p + t); p += t`)
        return v
      case '[':
      case '{':
        return container(kind, v)
      default:
        throw new Error(`unknown template kind ${kind}`)
    }
  }
  const container = (open: string, v: string): string => {
    // Count the items first, for the one-byte head.
    const items: Array<{ key: string | undefined; value: string }> = []
    const close = open === '[' ? ']' : '}'
    const parts: string[] = []
    let heads = 0
    let countWidth = 0
    if (shape[at] === '#') {
      countWidth = Number(shape[at + 1])
      at += 2
    }
    // The head's bytes are known once the items are counted: a placeholder now.
    emit(`HEAD_${v}`)
    while (shape[at] !== close) {
      if (heads > 0) at++ // ','
      let key: string | undefined
      if (open === '{') {
        const colon = shape.indexOf(':', at)
        const hex = shape.slice(at, colon)
        at = colon + 1
        const bytes = hex.match(/../g)?.map((h) => Number.parseInt(h, 16)) ?? []
        emit(`if (p + ${bytes.length} > e${bytes.map((byte, i) => ` || u8[p + ${i}] !== ${byte}`).join('')}) return M; p += ${bytes.length}`)
        key = bytes.slice(1).map((byte) => String.fromCharCode(byte)).join('')
      }
      items.push({ key, value: value() })
      heads++
    }
    at++ // close
    code = code.replace(`HEAD_${v}`, headCheck(open === '[' ? 4 : 5, heads, countWidth))
    if (open === '[') {
      emit(`const ${v} = [${items.map((item) => item.value).join(', ')}]`)
    } else {
      for (const item of items) parts.push(`${JSON.stringify(item.key)}: ${item.value}`)
      // A repeated key keeps its last value, as cbor-x's assignments do.
      emit(`const ${v} = { ${parts.join(', ')} }`)
    }
    return v
  }
  const result = value()
  const body = `let p = s, b = 0, t = 0\n${code}return p === e ? ${result} : M`
  const factory = new Function('M', 'f16', 'slice', `return function compiledDecoder(src, s, e) {\nconst u8 = src.buffer, dv = src.dataView\n${body}\n}`) as (
    mismatch: typeof MISMATCH,
    f16: typeof float16,
    slice: typeof Uint8Array.prototype.slice,
  ) => CompiledDecoder
  return factory(MISMATCH, float16, Uint8Array.prototype.slice)
}
