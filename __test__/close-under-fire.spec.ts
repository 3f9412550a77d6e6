import test, { type ExecutionContext } from 'ava'
import { EventHub, staleSinkCalls } from 'ffi-events'

import { ForeignLibrary } from './fixtures/foreign/foreign.mjs'
import { until } from './helpers'

// Closing never waits for a library's threads: sink.close() and hub.close()
// return while 16 threads call through the sink flat out, another hub opens
// sinks meanwhile, and every call is accounted for once the threads stop.
// (How long close() holds the JS thread is measured by the benchmark, not
// judged here.)

const THREADS = 16

function openLibrary(t: ExecutionContext): ForeignLibrary {
  const lib = new ForeignLibrary()
  t.teardown(() => lib.destroy())
  return lib
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

test.serial('sink.close() while 16 library threads call flat out: later calls are refused, every call is counted once', async (t) => {
  const hub = new EventHub({ capacity: 1024 })
  t.teardown(() => hub.close())
  let heard = 0
  hub.on('tick', () => heard++)
  const sink = hub.nativeSink()
  const lib = openLibrary(t)
  lib.addEventListener('tick', sink.callback, sink.userData)
  const staleBefore = staleSinkCalls()
  lib.start('tick', { threads: THREADS, perThread: 0 })
  await until(() => heard > 10_000)
  sink.close()
  t.true(sink.closed)
  // Another hub's sink opens (and may take the closed slot) while the calls go on.
  const other = new EventHub()
  t.teardown(() => other.close())
  const otherSink = other.nativeSink()
  await sleep(20)
  lib.stop()
  await lib.finished()
  const calls = lib.stat('calls')
  const stale = staleSinkCalls() - staleBefore
  const s = sink.stats()
  t.is(s.calls + stale, calls, 'every call reached the sink or was stale')
  t.is(s.calls, s.accepted + s.refused + s.closed + s.tooLarge + s.invalid)
  t.true(s.closed + stale > 0, 'calls went on after the close and were refused')
  t.is(otherSink.stats().calls, 0, "the old handle never reached the other hub's sink")
  await until(() => hub.stats().queued === 0)
  const h = hub.stats()
  t.is(h.emitted, h.delivered + h.refused + h.discarded + h.queued)
  t.is(h.emitted, s.accepted + s.refused)
  t.is(heard, h.delivered - h.unheard)
})

test.serial('hub.close() while 16 library threads call its sinks flat out resolves, and the books balance', async (t) => {
  const hub = new EventHub({ capacity: 1024 })
  let heard = 0
  hub.on('tick', () => heard++)
  const sinks = [hub.nativeSink(), hub.nativeSink()]
  const lib = openLibrary(t)
  for (const sink of sinks) lib.addEventListener('tick', sink.callback, sink.userData)
  lib.start('tick', { threads: THREADS, perThread: 0 })
  await until(() => heard > 10_000)
  const closing = hub.close()
  t.true(hub.closed)
  t.true(sinks.every((sink) => sink.closed))
  const other = new EventHub()
  t.teardown(() => other.close())
  t.false(other.nativeSink().closed, 'another hub opens a sink while the close is under way')
  await closing
  lib.stop()
  await lib.finished()
  const h = hub.stats()
  t.is(h.emitted, h.delivered + h.refused + h.discarded + h.queued)
  t.is(h.queued, 0, 'every accepted event was delivered before close() resolved')
  t.is(heard, h.delivered - h.unheard)
  const accepted = sinks.reduce((sum, sink) => sum + sink.stats().accepted + sink.stats().refused, 0)
  t.is(h.emitted, accepted)
})
