import test from 'ava'

import { runCase } from './reliability'

test('reliability (reduced) 5. teardown: hubs in sequence, workers exiting without close(), exiting processes', (t) => {
  t.timeout(110000 + 10_000)
  const r = runCase('teardown', 110000)
  t.log(r.line)
  t.false(r.timedOut, 'hang guard fired')
  t.is(r.signal, null, r.stderr)
  t.is(r.status, 0, r.stderr)
  t.deepEqual(r.violations, [])
})
