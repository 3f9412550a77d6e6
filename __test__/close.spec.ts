import test from 'ava'
import { EventHub, EventHubError, sources } from 'ffi-events'

import { runNode } from './helpers'

// The tests that run a child process with spawnSync block this worker's event
// loop while the child runs; they run serially, before the concurrent tests.

test('close delivers every accepted event, then refuses on and emit with a clear error', async (t) => {
  const hub = new EventHub<{ x: number; frame: Uint8Array }>()
  const got: number[] = []
  hub.on('x', (n) => got.push(n))
  for (let i = 0; i < 100; i++) hub.emit('x', i)
  await hub.close()
  t.is(got.length, 100, 'delivered before close resolved')
  t.true(hub.closed)
  t.throws(() => hub.on('x', () => {}), { instanceOf: EventHubError, message: /closed EventHub/ })
  t.throws(() => hub.emit('x', 1), { instanceOf: EventHubError, message: /Cannot call emit\(\) on a closed EventHub/ })
  t.throws(() => hub.emitRaw('frame', new Uint8Array(1)), { instanceOf: EventHubError })
  const stats = hub.stats()
  t.is(stats.emitted, stats.delivered + stats.refused + stats.discarded + stats.queued)
})

test('close is idempotent and works through Symbol.asyncDispose', async (t) => {
  const hub = new EventHub()
  const first = hub.close()
  t.is(hub.close(), first)
  await first
  await hub[Symbol.asyncDispose]()
  t.true(hub.closed)
})

test('close stops the built-in sources and joins their threads', async (t) => {
  const hub = new EventHub()
  let ticks = 0
  hub.on('tick', () => ticks++)
  const ticker = sources.ticker(hub, { name: 'tick', intervalMs: 1 })
  const burst = sources.burst(hub, { name: 'load', count: 1e12, threads: 2, payloadBytes: 8, encoding: 'raw' })
  t.true(ticker.running)
  t.true(hub.stats().runningThreads >= 3)
  await hub.close()
  t.false(ticker.running)
  t.is(hub.stats().runningThreads, 0)
  const result = await burst
  t.true(result.skipped > 0, 'the unbounded burst was cut short')
  const afterClose = ticks
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.is(ticks, afterClose, 'nothing is delivered after close resolved')
  t.throws(() => sources.ticker(hub, { name: 'tick', intervalMs: 1 }), { instanceOf: EventHubError })
})

test('close from inside a listener lets the current batch finish first', async (t) => {
  const hub = new EventHub<{ x: number }>()
  const calls: string[] = []
  let closing: Promise<void> | undefined
  hub.on('x', (n) => {
    calls.push(`a${n}`)
    if (n === 0) closing = hub.close()
  })
  hub.on('x', (n) => calls.push(`b${n}`))
  hub.emit('x', 0)
  hub.emit('x', 1)
  await new Promise<void>((resolve) => {
    const check = () => (closing ? closing.then(resolve) : setImmediate(check))
    check()
  })
  t.deepEqual(calls, ['a0', 'b0', 'a1', 'b1'])
})

test.serial('a hub with listeners keeps the process alive, like a socket', (t) => {
  const result = runNode(
    `
    const { EventHub } = require('ffi-events')
    const hub = new EventHub()
    hub.on('tick', () => {})
    setTimeout(() => { console.log('still alive'); hub.close() }, 200)
  `,
  )
  t.is(result.status, 0, result.stderr)
  t.is(result.stdout.trim(), 'still alive')
})

test.serial('a hub keeps nothing alive when closed, unref()ed or without listeners', (t) => {
  for (const setup of [
    `hub.on('tick', () => {}); hub.close()`,
    `hub.on('tick', () => {}); hub.unref()`,
    `const id = hub.on('tick', () => {}); hub.off(id)`,
    ``,
  ]) {
    const result = runNode(
      `
      const { EventHub, sources } = require('ffi-events')
      const hub = new EventHub()
      ${setup}
      if (!hub.closed) sources.ticker(hub, { name: 'tick', intervalMs: 1 })
      process.on('exit', () => console.log('exited'))
    `,
      15_000,
    )
    t.false(result.timedOut, `hung with: ${setup}`)
    t.is(result.status, 0, `${setup}: ${result.stderr}`)
    t.is(result.stdout.trim(), 'exited')
  }
})

test.serial('an unref()ed hub lets the process exit even while every poll finds a new event', (t) => {
  // Each delivery emits the next event, so the JS side never finds the ring
  // empty and keeps polling: that polling must not hold the process either.
  const result = runNode(
    `
    const { EventHub } = require('ffi-events')
    const hub = new EventHub()
    let n = 0
    hub.on('x', () => { n++; hub.emit('x', n) })
    hub.emit('x', 0)
    hub.unref()
    process.on('exit', () => console.log('exited'))
  `,
    15_000,
  )
  t.false(result.timedOut, 'the polling kept the process alive')
  t.is(result.status, 0, result.stderr)
  t.is(result.stdout.trim(), 'exited')
})

test.serial('delivery keeps going when the hub does not hold the event loop', (t) => {
  // Between the polls there is nothing else to wake the loop: a ticker every
  // 20 µs, and one timer, a hang guard far longer than the run. After a
  // batch of more than one event the native side lingers, so producers do
  // not wake the JS thread; the next poll must. Were a poll lost, the ticks would wait in the ring
  // until the guard fired. The ring has room for every event the sources
  // here can emit, so the books must balance with nothing lost however
  // loaded the machine is; the test waits for counts, never for time.
  const count = 20_000
  for (const setup of [
    // No listener at first (the hub does not hold the loop; events nobody
    // hears are drained and counted as delivered), then one added while a
    // source is still emitting, then the counted ticks start.
    `hub.ref()
      const pre = sources.ticker(hub, { name: 'pre', intervalMs: 1, count: 60000 })
      waiting = setInterval(() => {
        if (hub.stats().delivered < 20) return
        clearInterval(waiting)
        preRunning = pre.running
        hub.on('tick', onTick)
        sources.ticker(hub, { name: 'tick', intervalMs: 0.02, count: COUNT })
      }, 1)`,
    // unref()ed, with a listener from the start.
    `hub.unref()
      hub.on('tick', onTick)
      sources.ticker(hub, { name: 'tick', intervalMs: 0.02, count: COUNT })`,
  ]) {
    const result = runNode(
      `
      const { EventHub, sources } = require('ffi-events')
      const COUNT = ${count}
      // 131,072 slots: more than the 60,000 'pre' ticks and the COUNT ticks together.
      const hub = new EventHub({ capacity: 1 << 17 })
      let n = 0
      let inOrder = true
      let preRunning = null
      let waiting
      const onTick = (tick) => {
        if (tick.n !== n) inOrder = false
        if (++n === COUNT) finish('all ticks heard')
      }
      function finish(how) {
        clearTimeout(guard)
        clearInterval(waiting)
        hub.close().then(() => {
          const s = hub.stats()
          console.log(JSON.stringify({ how, n, inOrder, preRunning, emitted: s.emitted, delivered: s.delivered, refused: s.refused, discarded: s.discarded, queued: s.queued }))
        })
      }
      const guard = setTimeout(() => finish('hang guard fired'), 30000)
      ${setup}
    `,
      45_000,
    )
    const name = setup.split('\n')[0]
    t.false(result.timedOut, name)
    t.is(result.status, 0, `${name}: ${result.stderr}`)
    const r = JSON.parse(result.stdout) as {
      how: string
      n: number
      inOrder: boolean
      preRunning: boolean | null
      emitted: number
      delivered: number
      refused: number
      discarded: number
      queued: number
    }
    t.is(r.how, 'all ticks heard', `${name}: heard ${r.n} of ${count} before the hang guard`)
    t.is(r.n, count, name)
    t.true(r.inOrder, `${name}: ticks in order`)
    t.is(r.refused, 0, `${name}: the ring has room for everything, so nothing is refused`)
    t.is(r.discarded, 0, `${name}: close() delivered what was accepted, nothing discarded`)
    t.is(r.queued, 0, `${name}: close() delivered what was accepted`)
    t.is(r.emitted, r.delivered + r.refused + r.discarded + r.queued, name)
    if (setup.startsWith('hub.ref')) t.true(r.preRunning, `${name}: the listener was added while events were flowing`)
    else t.is(r.emitted, count, name)
  }
})

test.serial('ref() after unref() holds the process again', (t) => {
  const result = runNode(`
    const { EventHub } = require('ffi-events')
    const hub = new EventHub()
    hub.on('tick', () => {})
    hub.unref().ref()
    setTimeout(() => { console.log('held'); hub.close() }, 200)
  `)
  t.is(result.status, 0, result.stderr)
  t.is(result.stdout.trim(), 'held')
})

test.serial('process.exit() while native sources run does not crash the exit', (t) => {
  const result = runNode(`
    const { EventHub, sources } = require('ffi-events')
    const hub = new EventHub()
    hub.on('tick', () => {})
    sources.ticker(hub, { name: 'tick', intervalMs: 0 })
    sources.burst(hub, { name: 'load', count: 1e12, threads: 2, payloadBytes: 64, encoding: 'raw' })
    setTimeout(() => process.exit(7), 50)
  `)
  t.is(result.signal, null, result.stderr)
  t.is(result.status, 7, result.stderr)
})
