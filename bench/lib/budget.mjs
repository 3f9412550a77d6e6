// Memory budgets for comparing (e) and ffi-events at equal memory: the
// bytes a full ffi-events ring holds for a scenario's events, given to (e)'s
// pending batch as a cap, and the ring capacity that holds (e)'s largest
// batch, given to the hub.

/** Bytes the ring allocates per slot of capacity, up front (`ffi_events::SLOT_BYTES`). */
export const SLOT_BYTES = 104
/** Bytes of name and payload an event keeps inside its slot (`ffi_events::INLINE_BYTES`). */
export const INLINE_BYTES = 72
/** The spare buffer sizes of events past the slot (`crates/ffi-events/src/spare.rs`). */
const SPARE_SIZES = [128, 256, 512]
/** The capacity of a hub with defaults, and the largest one a hub accepts. */
export const DEFAULT_CAPACITY = 1024
export const MAX_CAPACITY = 1 << 22

/**
 * Bytes an event of `len` bytes of name and payload holds outside its slot
 * while queued: none when it fits the slot; else the smallest spare buffer
 * that holds it, up to 512 bytes; past that, a raw event allocates exactly
 * its length, and a serde-encoded CBOR event (the bench's CBOR payloads)
 * the power of two its vector grew to when the payload's byte string was
 * appended.
 */
export function outOfSlotBytes(encoding, len) {
  if (len <= INLINE_BYTES) return 0
  const spare = SPARE_SIZES.find((size) => len <= size)
  if (spare) return spare
  return encoding === 'raw' ? len : 2 ** Math.ceil(Math.log2(len))
}

/**
 * What a full ring of `capacity` slots holds for events of `payloadLen`
 * bytes named 'e' (1 byte): its slots plus each event's bytes outside them.
 * For the raw rows up to 64 B this is `capacity × SLOT_BYTES` (106,496
 * bytes at the default 1024).
 */
export function ringBytes(encoding, payloadLen, capacity = DEFAULT_CAPACITY) {
  return capacity * (SLOT_BYTES + outOfSlotBytes(encoding, 1 + payloadLen))
}

/** A ring capacity that holds `events` (at least the default, at most the hub's maximum). */
export function capacityFor(events) {
  return Math.min(MAX_CAPACITY, Math.max(DEFAULT_CAPACITY, Math.ceil(events)))
}
