import test from 'ava'
import { EventHub, EventHubError } from 'ffi-events'

import { reliabilityTest } from './reliability'

reliabilityTest('7. bad input: bad calls and 5,000 fuzzed envelopes', 'badinput')

// Regression test for what the fuzzing found: raw listeners before the first
// decoding listener used to be called again after a decode failure.
test('an undecodable event reaches a raw listener subscribed before an on listener exactly once', async (t) => {
  const hub = new EventHub()
  let raw = 0
  const errors: EventHubError[] = []
  hub.onRaw('x', () => raw++)
  hub.on('x', () => {})
  hub.onError((e) => errors.push(e))
  t.true(hub.emitCbor('x', Uint8Array.of(0xff)))
  await hub.close()
  t.is(errors.length, 1)
  t.is(errors[0].code, 'ERR_EVENT_DECODE')
  t.is(raw, 1)
})

test("a payload the native scan finds malformed is reported with the scan's reason as a frozen TypeError cause, every time", async (t) => {
  const hub = new EventHub()
  const errors: EventHubError[] = []
  let heard = 0
  hub.on('x', () => heard++)
  hub.onError((e) => errors.push(e))
  // A map of one pair cut after its key: truncated.
  for (let i = 0; i < 3; i++) t.true(hub.emitCbor('x', Uint8Array.of(0xa1, 0x61, 0x6b)))
  t.true(hub.emitCbor('x', Uint8Array.of(0xa1, 0x61, 0x6b, 0x01)))
  // Two items where one is expected: another reason, another cause.
  t.true(hub.emitCbor('x', Uint8Array.of(0x01, 0x02)))
  await hub.close()
  t.is(heard, 1)
  t.is(errors.length, 4)
  const other = errors.pop()
  t.is((other?.cause as TypeError).message, 'bytes follow the CBOR data item')
  t.true(Object.isFrozen(other?.cause))
  t.is(other?.seq, 5)
  for (const [k, error] of errors.entries()) {
    t.is(error.code, 'ERR_EVENT_DECODE')
    t.is(error.seq, k + 1)
    t.true(error.cause instanceof TypeError)
    t.is((error.cause as TypeError).message, 'truncated CBOR')
    t.true(Object.isFrozen(error.cause))
    t.regex(error.message, /truncated CBOR$/)
  }
})
