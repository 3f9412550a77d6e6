import test from 'ava'

import { runCase } from './reliability'

test('reliability (reduced) 1. accounting under load (4 producers, slow listener, reject and dropOldest)', (t) => {
  t.timeout(110000 + 10_000)
  const r = runCase('accounting', 110000)
  t.log(r.line)
  t.false(r.timedOut, 'hang guard fired')
  t.is(r.signal, null, r.stderr)
  t.is(r.status, 0, r.stderr)
  t.deepEqual(r.violations, [])
})
