import test from 'ava'
import { EventHub, EventHubError, sources } from 'ffi-events'

import { runNode, until } from './helpers'

type Events = { tick: { n: number; at: bigint }; x: number }

test('waitFor resolves with the next payload and leaves no listener behind', async (t) => {
  const hub = new EventHub<Events>()
  const next = hub.waitFor('tick')
  t.is(hub.listenerCount('tick'), 1)
  sources.ticker(hub, { name: 'tick', intervalMs: 0, count: 1 })
  const tick = await next
  t.is(tick.n, 0)
  t.is(typeof tick.at, 'bigint')
  t.is(hub.listenerCount('tick'), 0)
  await hub.close()
})

test('the ticker stamps events with process.hrtime.bigint() clock readings', async (t) => {
  const hub = new EventHub<Events>()
  const before = process.hrtime.bigint()
  const tickPromise = hub.waitFor('tick')
  sources.ticker(hub, { name: 'tick', intervalMs: 0, count: 1 })
  const tick = await tickPromise
  const after = process.hrtime.bigint()
  t.true(tick.at >= before && tick.at <= after, `${before} <= ${tick.at} <= ${after}`)
  await hub.close()
})

test('waitFor rejects on timeout, on abort and on close', async (t) => {
  const hub = new EventHub<Events>()
  const timeout = await t.throwsAsync(hub.waitFor('x', { timeoutMs: 10 }), { instanceOf: EventHubError })
  t.is(timeout?.code, 'ERR_WAIT_TIMEOUT')
  const controller = new AbortController()
  const aborted = hub.waitFor('x', { signal: controller.signal })
  controller.abort(new Error('stop waiting'))
  await t.throwsAsync(aborted, { message: 'stop waiting' })
  const preAborted = await hub.waitFor('x', { signal: AbortSignal.abort() }).catch((e: unknown) => e)
  t.is((preAborted as { name?: string }).name, 'AbortError')
  const closing = hub.waitFor('x')
  await hub.close()
  const closed = await t.throwsAsync(closing, { instanceOf: EventHubError })
  t.is(closed?.code, 'ERR_HUB_CLOSED')
  t.is(hub.listenerCount(), 0)
})

test('events() iterates payloads in order and ends when the hub closes', async (t) => {
  const hub = new EventHub<Events>()
  const got: number[] = []
  const loop = (async () => {
    for await (const n of hub.events('x')) got.push(n)
  })()
  for (let i = 0; i < 5; i++) hub.emit('x', i)
  await until(() => got.length === 5)
  await hub.close()
  await loop
  t.deepEqual(got, [0, 1, 2, 3, 4])
})

test('events() stops on abort with the reason and unsubscribes on break', async (t) => {
  const hub = new EventHub<Events>()
  const controller = new AbortController()
  const loop = (async () => {
    for await (const n of hub.events('x', { signal: controller.signal })) {
      if (n === 1) controller.abort(new Error('enough'))
    }
  })()
  hub.emit('x', 0)
  hub.emit('x', 1)
  await t.throwsAsync(loop, { message: 'enough' })
  t.is(hub.listenerCount('x'), 0)
  const iterator = hub.events('x')
  hub.emit('x', 7)
  hub.emit('x', 8)
  for await (const n of iterator) {
    t.is(n, 7)
    break
  }
  t.is(hub.listenerCount('x'), 0, 'break unsubscribed')
  await hub.close()
})

test('emit refuses payloads it cannot encode or that exceed maxEventBytes, and the hub keeps working', async (t) => {
  const hub = new EventHub<{ x: unknown }>({ maxEventBytes: 100 })
  const circular: Record<string, unknown> = {}
  circular.self = circular
  t.throws(() => hub.emit('x', circular), { instanceOf: TypeError, message: /"payload" argument must not contain circular references/ })
  t.throws(() => hub.emit('x', 'y'.repeat(200)), { instanceOf: RangeError, message: /"payload" is out of range/ })
  t.throws(() => hub.emitRaw('x', new Uint8Array(101)), { instanceOf: RangeError })
  t.throws(() => hub.emitRaw('x', 'text' as unknown as Uint8Array), { instanceOf: TypeError, message: /"bytes" argument must be an instance of Uint8Array/ })
  t.throws(() => hub.emitCbor('x', null as unknown as Uint8Array), { instanceOf: TypeError, message: /"payload".*Received null/ })
  const got: unknown[] = []
  hub.on('x', (p) => got.push(p))
  t.true(hub.emit('x', { big: 2n ** 63n, small: 1n }))
  await until(() => got.length === 1)
  t.deepEqual(got[0], { big: 2n ** 63n, small: 1n })
  t.is(hub.stats().emitted, 1, 'refused emits took no sequence number')
  await hub.close()
})

test('constructor options are validated with errors naming the option', (t) => {
  t.throws(() => new EventHub({ capacity: 0 }), { instanceOf: RangeError, message: /"options\.capacity" is out of range/ })
  t.throws(() => new EventHub({ capacity: 1.5 }), { instanceOf: RangeError })
  t.throws(() => new EventHub({ capacity: '8' as unknown as number }), { instanceOf: TypeError, message: /"options\.capacity" argument must be of type number/ })
  t.throws(() => new EventHub({ overflow: 'block' as 'reject' }), { instanceOf: TypeError, message: /"options\.overflow".*'reject', 'dropOldest'/ })
  t.throws(() => new EventHub({ stallTimeoutMs: -1 }), { instanceOf: RangeError })
  t.throws(() => new EventHub(null as unknown as object), { instanceOf: TypeError, message: /"options" argument must be of type object/ })
})

test('source options are validated', async (t) => {
  const hub = new EventHub()
  t.throws(() => sources.ticker(hub, { name: '', intervalMs: 1 }), { instanceOf: TypeError, message: /"options\.name"/ })
  t.throws(() => sources.ticker(hub, { name: 't' } as never), { instanceOf: RangeError, message: /"options\.intervalMs"/ })
  t.throws(() => sources.burst(hub, { name: 'b', count: 1, threads: 0 }), { instanceOf: RangeError, message: /"options\.threads"/ })
  t.throws(() => sources.burst(hub, { name: 'b', count: 1, encoding: 'json' as 'raw' }), { instanceOf: TypeError })
  t.throws(() => sources.ticker({} as EventHub, { name: 't', intervalMs: 1 }), { instanceOf: TypeError, message: /"hub"/ })
  await hub.close()
})

test('the package loads with require() and with import', (t) => {
  const cjs = runNode(`const m = require('ffi-events'); console.log(typeof m.EventHub, typeof m.sources.ticker, typeof m.EventHubError)`)
  t.is(cjs.stdout.trim(), 'function function function', cjs.stderr)
  const esm = runNode(`import('ffi-events').then((m) => console.log(typeof m.EventHub, typeof m.sources.burst))`)
  t.is(esm.stdout.trim(), 'function function', esm.stderr)
  const esmStatic = runNode(
    `import { EventHub, sources } from 'ffi-events'
     const hub = new EventHub()
     hub.on('tick', (p) => { console.log(p.n); hub.close() })
     sources.ticker(hub, { name: 'tick', intervalMs: 0, count: 1 })`,
    30_000,
    ['--input-type=module'],
  )
  t.is(esmStatic.stdout.trim(), '0', esmStatic.stderr)
})

test('native timestamps stay on the process.hrtime.bigint() clock whatever the ring size', async (t) => {
  // A large ring takes milliseconds to allocate; the clock must not start late by that much.
  for (const capacity of [1, 1 << 18]) {
    const hub = new EventHub<Events>({ capacity })
    const before = process.hrtime.bigint()
    const tickPromise = hub.waitFor('tick')
    sources.ticker(hub, { name: 'tick', intervalMs: 0, count: 1 })
    const tick = await tickPromise
    const after = process.hrtime.bigint()
    t.true(tick.at >= before && tick.at <= after, `capacity ${capacity}: ${before} <= ${tick.at} <= ${after}`)
    await hub.close()
  }
})

test('only the hub emits liveness events: emit, emitRaw and emitCbor refuse their names', async (t) => {
  const hub = new EventHub()
  const payload = { reason: 'queue_full', queued: 0, overflowed: 0 }
  for (const name of ['not_responding', 'responding']) {
    t.throws(() => hub.emit(name, payload), { instanceOf: RangeError, message: /must not be '.*': only the hub emits liveness events/ })
    t.throws(() => hub.emitRaw(name, new Uint8Array(1)), { instanceOf: RangeError })
    t.throws(() => hub.emitCbor(name, new Uint8Array([0])), { instanceOf: RangeError })
  }
  t.is(hub.stats().emitted, 0)
  await hub.close()
})
