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
