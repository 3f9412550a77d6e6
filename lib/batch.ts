// Reads the batch buffer laid out by `ffi_events::BatchEncoder` (see
// crates/ffi-events/src/wire.rs): a 16-byte header, then f64 seqs, u32
// payload ends, u32 tags (name index << 8 | lane), u32 name ends, names,
// payloads. One buffer per batch, never reused, allocated by V8.

import { endianness } from 'node:os'

if (endianness() !== 'LE') throw new Error('ffi-events supports little-endian platforms only')

const FLAG_MORE = 1

/** Lanes, as in `ffi_events::Lane`. */
export const LANE_CBOR = 0
export const LANE_RAW = 1
export const LANE_JSON = 2
/** A sink's report of malformed input; the bytes are the reason. */
export const LANE_MALFORMED = 3
/** A foreign library's error (`ret != 0`); the bytes are its message. */
export const LANE_NATIVE_ERROR = 4

/** A decoded view of one batch; `payload(i)` is a view into the batch. */
export class Batch {
  readonly count: number
  readonly more: boolean
  readonly seqs: Float64Array
  private readonly ends: Uint32Array
  private readonly tags: Uint32Array
  private readonly names: string[]
  /** Per name: where the payload value starts in a CBOR-lane event (after the envelope's header). */
  private readonly valueStarts: number[]
  private readonly bytes: Uint8Array
  private readonly buffer: Buffer
  private readonly payloadStart: number

  constructor(buffer: Buffer) {
    // The tables are read through typed arrays, which need aligned offsets;
    // napi allocates each batch on its own, so this copy never happens in practice.
    const aligned = buffer.byteOffset % 8 === 0 ? buffer : Buffer.from(new Uint8Array(buffer))
    const { buffer: ab, byteOffset: base } = aligned
    const head = new Uint32Array(ab, base, 4)
    const n = head[0]
    const k = head[1]
    this.count = n
    this.more = (head[2] & FLAG_MORE) !== 0
    this.seqs = new Float64Array(ab, base + 16, n)
    this.ends = new Uint32Array(ab, base + 16 + 8 * n, n)
    this.tags = new Uint32Array(ab, base + 16 + 12 * n, n)
    const nameEnds = new Uint32Array(ab, base + 16 + 16 * n, k)
    const namesStart = 16 + 16 * n + 4 * k
    this.names = new Array<string>(k)
    this.valueStarts = new Array<number>(k)
    let at = namesStart
    for (let j = 0; j < k; j++) {
      const end = namesStart + nameEnds[j]
      this.names[j] = aligned.toString('utf8', at, end)
      this.valueStarts[j] = envelopeHeaderBytes(end - at)
      at = end
    }
    this.payloadStart = namesStart + head[3]
    this.bytes = new Uint8Array(ab, base, aligned.length)
    this.buffer = aligned
  }

  name(i: number): string {
    return this.names[this.tags[i] >>> 8]
  }

  /** The event's lane: one of the `LANE_*` values. */
  lane(i: number): number {
    return this.tags[i] & 0xff
  }

  /** The event's bytes as UTF-8 text (JSON, reasons, library messages); invalid sequences become U+FFFD. */
  text(i: number): string {
    return this.buffer.toString('utf8', this.start(i), this.payloadStart + this.ends[i])
  }

  /** The event's bytes: a view that stays valid (the batch is never reused). */
  payload(i: number): Uint8Array {
    return this.bytes.subarray(this.start(i), this.payloadStart + this.ends[i])
  }

  /**
   * The payload value of CBOR-lane event `i`, for decoding: its bytes past
   * the envelope's header (map of two, "eventType", the name, "payload"),
   * which the native side writes with a fixed layout, so it is skipped
   * rather than decoded. `undefined` when the bytes do not start like an
   * envelope.
   */
  value(i: number): Uint8Array | undefined {
    const start = this.start(i)
    const valueStart = start + this.valueStarts[this.tags[i] >>> 8]
    const end = this.payloadStart + this.ends[i]
    if (valueStart >= end || this.bytes[start] !== ENVELOPE_MAP_HEADER) return undefined
    return this.bytes.subarray(valueStart, end)
  }

  private start(i: number): number {
    return this.payloadStart + (i === 0 ? 0 : this.ends[i - 1])
  }
}

/** CBOR map(2) header byte that starts every envelope. */
const ENVELOPE_MAP_HEADER = 0xa2

/**
 * Bytes of the envelope before the payload value for a name of `nameBytes`
 * UTF-8 bytes (at most 255): map(2), text "eventType", the name as text,
 * text "payload". Mirrors `header_len` in crates/ffi-events/src/envelope.rs.
 */
export function envelopeHeaderBytes(nameBytes: number): number {
  return 1 + 1 + 9 + (nameBytes < 24 ? 1 : 2) + nameBytes + 1 + 7
}
