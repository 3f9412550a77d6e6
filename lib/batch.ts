// Reads the batch buffer laid out by `ffi_events::BatchEncoder` (see
// crates/ffi-events/src/wire.rs): a 16-byte header, then f64 seqs, u32
// payload ends, u32 tags (name index << 8 | flags | lane), u32 name ends,
// u32 route ends, f64 listener ids (each name's route), names, payloads.
// Buffers are allocated by V8; one may be longer than its batch, and the
// hub drains the next batch into the same buffer when nothing outside the
// hub was handed a view of this one (see `Batch#lent`).

import { endianness } from 'node:os'

if (endianness() !== 'LE') throw new Error('ffi-events supports little-endian platforms only')

const FLAG_MORE = 1
const TAG_SELF_CONTAINED = 0x80
const LANE_MASK = 0x07
const FAULT_SHIFT = 3
const FAULT_MASK = 0x0f

/** Why the native scan found a CBOR payload malformed, by `Malformed::code` (crates/ffi-events/src/foreign.rs). */
const FAULTS: readonly string[] = [
  '',
  'not an envelope: expected a CBOR map',
  'truncated CBOR',
  'CBOR is not well-formed',
  'CBOR nests deeper than 256 levels',
  'bytes follow the CBOR data item',
  'envelope has no eventType',
  'envelope has no payload',
  'eventType is not a text string',
  'eventType is not a valid name',
  'text is not valid UTF-8',
]

/** Lanes, as in `ffi_events::Lane`. */
export const LANE_CBOR = 0
export const LANE_RAW = 1
export const LANE_JSON = 2
/** A sink's report of malformed input; the bytes are the reason. */
export const LANE_MALFORMED = 3
/** A foreign library's error (`ret != 0`); the bytes are a report header, then its message. */
export const LANE_NATIVE_ERROR = 4
/** Reports lost to a full ring and reserve: u64 count, then the last lost report's bytes. */
export const LANE_REPORTS_LOST = 5
/** A request's reply: request id (u64 LE), ret (i32 LE), flags (u8), then the library's bytes. */
export const LANE_REPLY = 6
const REPLY_HEADER_BYTES = 13
/** Bytes of a report's header: the sink's format code (u8), the library's `ret` (i32 LE). */
export const REPORT_HEADER_BYTES = 5

/** What a report carries (see `Batch#report`). */
export interface Report {
  /** The reporting sink's format code: 0 envelope, 1 cbor, 2 raw, 3 json. */
  format: number
  /** The library's `ret`; 0 for a malformed input. */
  ret: number
  /** The library's message, or the reason the input was malformed. */
  text: string
  /** Reports lost (on `LANE_REPORTS_LOST`); 0 otherwise. */
  lost: number
}

/**
 * A decoded view of one batch. Its tables are read through one `DataView`
 * of the whole buffer (which the compiled decoders read payloads through
 * too) at offsets computed from the header, not one view per table or
 * element size: a batch is made for every wake-up, and at a few hundred
 * events per second each is a one-event batch, so what it allocates is paid
 * per event. For the same reason a batch whose buffer is drained into again
 * is loaded again (`load`) rather than made anew.
 */
export class Batch {
  count = 0
  more = false
  payloadStart = 0
  /** Where the batch ends in `bytes`: the buffer may be longer. */
  length = 0
  /**
   * Whether a view of the buffer went to a listener or a request (`payload`,
   * `reply`, `lendBytes`): then the buffer must never be written again.
   */
  lent = false
  /** The buffer, as a `Buffer` (same bytes and offsets as `bytes`). */
  readonly buffer: Buffer
  /** The whole buffer, for its tables and the compiled decoders. */
  readonly dataView: DataView
  /** The `ArrayBuffer` under `buffer`, and where the buffer starts in it. */
  readonly #arrayBuffer: ArrayBufferLike
  readonly #base: number
  /** Where each table starts, in bytes. */
  #endsAt = 0
  #tagsAt = 0
  #routeEndsAt = 0
  #routeIdsAt = 0
  #names: string[] = lastNames
  /** Per name: the envelope header `{ eventType: name, payload: ` as CBOR, made on first use. */
  #headers: Array<Uint8Array | undefined> | undefined
  #bytes: Uint8Array | undefined
  /** `bytes` cut to the batch, as lent out. */
  #lentBytes: Uint8Array | undefined

  constructor(buffer: Buffer) {
    const { buffer: ab, byteOffset: base } = buffer
    this.buffer = buffer
    this.dataView = new DataView(ab, base, buffer.length)
    this.#arrayBuffer = ab
    this.#base = base
    this.load()
  }

  /** Reads the header of the batch just drained into the buffer. */
  load(): void {
    const dv = this.dataView
    const n = dv.getUint32(0, true)
    const k = dv.getUint32(4, true)
    this.count = n
    this.more = (dv.getUint32(8, true) & FLAG_MORE) !== 0
    this.lent = false
    this.#headers = undefined
    this.#lentBytes = undefined
    // Layout (wire.rs): 16-byte header, f64 seqs[n], u32 ends[n], u32
    // tags[n], u32 nameEnds[k], u32 routeEnds[k], f64 routeIds[...] (its
    // offset, 16 + 16n + 8k, is a multiple of 8), names, payloads.
    this.#endsAt = 16 + 8 * n
    this.#tagsAt = 16 + 12 * n
    const nameEndsAt = 16 + 16 * n
    this.#routeEndsAt = nameEndsAt + 4 * k
    this.#routeIdsAt = nameEndsAt + 8 * k
    const routes = k === 0 ? 0 : dv.getUint32(this.#routeEndsAt + 4 * (k - 1), true)
    const namesStart = this.#routeIdsAt + 8 * routes
    this.#names = namesOf(this.buffer, dv, nameEndsAt, k, namesStart)
    this.payloadStart = namesStart + dv.getUint32(12, true)
    this.length = n === 0 ? this.payloadStart : this.end(n - 1)
  }

  /** The whole buffer, for reads on the JS thread now, never handed out (see `lendBytes`). Made on first use: a batch of raw events delivered as views never needs it. */
  get bytes(): Uint8Array {
    return (this.#bytes ??= new Uint8Array(this.#arrayBuffer, this.#base, this.buffer.length))
  }

  /** The batch's bytes for a listener that may keep them (`onRawSpan`); payloads sit at `payloadStart + ...`. */
  lendBytes(): Uint8Array {
    this.lent = true
    return (this.#lentBytes ??= new Uint8Array(this.#arrayBuffer, this.#base, this.length))
  }

  /** Event `i`'s tag: name index << 8, fault, self-contained flag, lane. */
  #tag(i: number): number {
    return this.dataView.getUint32(this.#tagsAt + 4 * i, true)
  }

  /** Event `i`'s sequence number. */
  seq(i: number): number {
    // The seqs follow the 16-byte header: 8-byte word 2 on.
    return this.dataView.getFloat64(16 + 8 * i, true)
  }

  name(i: number): string {
    return this.#names[this.#tag(i) >>> 8]
  }

  /** Name index `j`'s name. */
  nameOf(j: number): string {
    return this.#names[j]
  }

  /** The index of event `i`'s name among the batch's names. */
  nameIndex(i: number): number {
    return this.#tag(i) >>> 8
  }

  /** Where the route of name index `j` starts and ends among the route ids (see `routeId`). */
  routeStart(j: number): number {
    return j === 0 ? 0 : this.dataView.getUint32(this.#routeEndsAt + 4 * (j - 1), true)
  }

  routeEnd(j: number): number {
    return this.dataView.getUint32(this.#routeEndsAt + 4 * j, true)
  }

  /** Listener id `at` of the routes, one name's route after the other (the native registry's, read when the batch was drained). */
  routeId(at: number): number {
    return this.dataView.getFloat64(this.#routeIdsAt + 8 * at, true)
  }

  /** The number of distinct names in the batch. */
  get nameCount(): number {
    return this.#names.length
  }

  /** The event's lane: one of the `LANE_*` values. */
  lane(i: number): number {
    return this.#tag(i) & LANE_MASK
  }

  /**
   * Whether a CBOR-lane event's bytes are known to be exactly one
   * well-formed data item with no tag whose meaning reaches past it (see
   * crates/ffi-events/src/cbor_scan.rs): such items decode as a sequence.
   */
  selfContained(i: number): boolean {
    return (this.#tag(i) & TAG_SELF_CONTAINED) !== 0
  }

  /** Why the native scan found a CBOR-lane payload malformed (not decoded then), or `undefined`. */
  fault(i: number): string | undefined {
    const code = (this.#tag(i) >>> FAULT_SHIFT) & FAULT_MASK
    return code === 0 ? undefined : (FAULTS[code] ?? 'malformed CBOR')
  }

  /** Where event `i`'s bytes start in `bytes`. */
  start(i: number): number {
    return this.payloadStart + (i === 0 ? 0 : this.dataView.getUint32(this.#endsAt + 4 * (i - 1), true))
  }

  /** Where event `i`'s bytes end in `bytes`. */
  end(i: number): number {
    return this.payloadStart + this.dataView.getUint32(this.#endsAt + 4 * i, true)
  }

  /** The event's bytes (on the CBOR lane, the payload's data item), for a listener: a view that stays valid, since the buffer is not written again. */
  payload(i: number): Uint8Array {
    this.lent = true
    return this.readPayload(i)
  }

  /** The event's bytes, for a read now on the JS thread: never to be handed out (see `payload`). */
  readPayload(i: number): Uint8Array {
    // A view made from the buffer directly: `subarray` looks up the species
    // constructor and costs about 1.6x as much per event.
    const start = this.start(i)
    return new Uint8Array(this.#arrayBuffer, this.#base + start, this.end(i) - start)
  }

  /** The event's bytes as UTF-8 text (JSON, reasons, library messages); invalid sequences become U+FFFD. */
  text(i: number): string {
    return this.buffer.toString('utf8', this.start(i), this.end(i))
  }

  /** A report's parts: on `LANE_REPORTS_LOST` the lost count and the last lost report's, else the report's own (`lost` 0). */
  report(i: number): Report {
    let at = this.start(i)
    let lost = 0
    if (this.lane(i) === LANE_REPORTS_LOST) {
      lost = Number(this.buffer.readBigUInt64LE(at))
      at += 8
    }
    const format = this.buffer[at]
    const ret = this.buffer.readInt32LE(at + 1)
    const text = this.buffer.toString('utf8', at + REPORT_HEADER_BYTES, this.end(i))
    return { format, ret, text, lost }
  }

  /** A reply's parts; `bytes` is a view into the batch. */
  reply(i: number): { id: number; ret: number; flags: number; bytes: Uint8Array } {
    const at = this.start(i)
    this.lent = true
    return {
      id: Number(this.buffer.readBigUInt64LE(at)),
      ret: this.buffer.readInt32LE(at + 8),
      flags: this.buffer[at + 12],
      bytes: this.bytes.subarray(at + REPLY_HEADER_BYTES, this.end(i)),
    }
  }

  /** A CBOR-lane event as its envelope `{ eventType, payload }`: a new buffer, header then payload. */
  envelope(i: number): Uint8Array {
    const j = this.nameIndex(i)
    const headers = (this.#headers ??= new Array<Uint8Array | undefined>(this.#names.length))
    const header = (headers[j] ??= envelopeHeader(this.#names[j]))
    const payload = this.payload(i)
    const out = new Uint8Array(header.length + payload.length)
    out.set(header)
    out.set(payload, header.length)
    return out
  }
}

/**
 * The names of the last batch that had other names than the one before:
 * consecutive batches mostly carry the same names, which are then neither
 * decoded nor allocated again (a one-event batch made a string and an
 * array per event).
 */
let lastNames: string[] = []

/** The `k` names of a batch, whose UTF-8 bytes start at `namesStart` and end where the u32 table at `nameEndsAt` says. */
function namesOf(buffer: Buffer, dv: DataView, nameEndsAt: number, k: number, namesStart: number): string[] {
  if (k === lastNames.length) {
    let at = namesStart
    let j = 0
    for (; j < k; j++) {
      const end = namesStart + dv.getUint32(nameEndsAt + 4 * j, true)
      if (!isAsciiOf(buffer, at, end, lastNames[j])) break
      at = end
    }
    if (j === k) return lastNames
  }
  const names = new Array<string>(k)
  let at = namesStart
  for (let j = 0; j < k; j++) {
    const end = namesStart + dv.getUint32(nameEndsAt + 4 * j, true)
    names[j] = buffer.toString('utf8', at, end)
    at = end
  }
  lastNames = names
  return names
}

/**
 * Whether `buffer[from, to)` is `name`, written in ASCII. A name with other
 * characters is never matched here (it is decoded again): its UTF-8 bytes
 * could equal the code units of another string of that many characters.
 */
function isAsciiOf(buffer: Buffer, from: number, to: number, name: string): boolean {
  if (to - from !== name.length) return false
  for (let i = 0; i < name.length; i++) {
    const byte = buffer[from + i]
    if (byte >= 0x80 || byte !== name.charCodeAt(i)) return false
  }
  return true
}

/**
 * An empty batch kept for the life of the process. A `Batch`'s fields give
 * it a map of its own that V8 reaches only through its instances and the
 * code optimized for them; between two batches no instance is alive, so a
 * full GC would collect that map and throw away the optimized code of every
 * function that reads a batch ("weak objects"), to be recompiled on the
 * next ones. This instance keeps the map.
 */
export const KEEP_BATCH_MAP: Batch = new Batch(Buffer.alloc(16))
// Its lazily made fields hold values from the start, so that the first
// batch to make them does not change their types under optimized code.
void KEEP_BATCH_MAP.bytes
KEEP_BATCH_MAP.lendBytes()

/**
 * Bytes of the envelope before the payload value for a name of `nameBytes`
 * UTF-8 bytes (at most 255): map(2), text "eventType", the name as text,
 * text "payload". Mirrors `header_len` in crates/ffi-events/src/envelope.rs.
 */
export function envelopeHeaderBytes(nameBytes: number): number {
  return 1 + 1 + 9 + (nameBytes < 24 ? 1 : 2) + nameBytes + 1 + 7
}

/** The envelope header for `name`, as `push_header` in crates/ffi-events/src/envelope.rs writes it. */
function envelopeHeader(name: string): Uint8Array {
  const nameBytes = Buffer.from(name, 'utf8')
  const out = Buffer.alloc(envelopeHeaderBytes(nameBytes.length))
  let at = 0
  out[at++] = 0xa2
  out[at++] = 0x69
  at += out.write('eventType', at, 'latin1')
  if (nameBytes.length < 24) out[at++] = 0x60 | nameBytes.length
  else {
    out[at++] = 0x78
    out[at++] = nameBytes.length
  }
  at += nameBytes.copy(out, at)
  out[at++] = 0x67
  out.write('payload', at, 'latin1')
  return new Uint8Array(out.buffer, out.byteOffset, out.length)
}
