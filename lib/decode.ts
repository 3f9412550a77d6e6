// The one CBOR decoder of the package, and what decoding around it shares:
// events (lib/dispatch.ts) and replies (lib/requests.ts) decode with the
// same options, so a payload means the same whichever way it came.

import { Decoder } from 'cbor-x'

/**
 * Maps as plain objects, no records; byte strings are copied out of the
 * batch so that a payload a listener keeps never pins (or aliases) the
 * batch buffer. Each `decode` call starts from a clean state.
 */
export const decoder = new Decoder({ mapsAsObjects: true, useRecords: false, copyBuffers: true })

/**
 * Turns stack capture off and returns the limit to restore. For decodes: a
 * failing payload's error (the `cause` of its `ERR_EVENT_DECODE`) would
 * only point into cbor-x, and capturing that stack costs more than
 * decoding the event.
 */
export function quietErrors(): number {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  return limit
}

/** A `TypeError` without a stack: what went wrong is in its message, and its stack would only show the dispatch loop. */
export function quietTypeError(message: string): TypeError {
  const limit = quietErrors()
  try {
    return new TypeError(message)
  } finally {
    Error.stackTraceLimit = limit
  }
}

const faultCauses = new Map<string, TypeError>()

/**
 * The `cause` of a report about a payload the native scan found malformed:
 * one frozen, stackless `TypeError` per reason (a fixed set), shared by
 * every such report. Nothing threw, so there is nothing event-specific to
 * keep, and building an error per event would cost as much as the report.
 */
export function faultCause(reason: string): TypeError {
  let cause = faultCauses.get(reason)
  if (cause === undefined) {
    cause = Object.freeze(quietTypeError(reason))
    faultCauses.set(reason, cause)
  }
  return cause
}

/** `bytes` as UTF-8 text (invalid sequences become U+FFFD). */
export function utf8(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')
}
