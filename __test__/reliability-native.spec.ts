import test from 'ava'

import { runCase } from './reliability'

test('reliability (reduced) 8. native code: loom model (and valgrind when FFI_EVENTS_VALGRIND=1)', (t) => {
  t.timeout(290000 + 10_000)
  const r = runCase('native', 290000)
  t.log(r.line)
  t.false(r.timedOut, 'hang guard fired')
  t.is(r.signal, null, r.stderr)
  t.is(r.status, 0, r.stderr)
  t.deepEqual(r.violations, [])
})
