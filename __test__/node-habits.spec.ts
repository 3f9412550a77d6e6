import test from 'ava'
import { EventHub } from 'ffi-events'

import { runNode, until } from './helpers'

// What a user coming from Node's EventEmitter reaches for, beside the
// hub's own id-based API.

test('off(name, listener) removes the most recently added matching listener, once per call', async (t) => {
  const hub = new EventHub<{ x: number; y: number }>()
  t.teardown(() => hub.close())
  const got: string[] = []
  const a = (n: number) => got.push(`a${n}`)
  const b = (n: number) => got.push(`b${n}`)
  const first = hub.on('x', a)
  hub.on('x', b)
  const second = hub.on('x', a)
  hub.on('y', a)
  t.is(hub.listenerCount('x', a), 2)
  t.is(hub.listenerCount('x'), 3)
  t.is(hub.listenerCount(undefined, a), 3)
  t.true(hub.off('x', a), 'the later of the two')
  t.false(hub.off(second), 'its id is gone with it')
  t.is(hub.listenerCount('x', a), 1, 'the earlier one stays')
  hub.emit('x', 1)
  hub.emit('y', 2)
  await until(() => got.length === 3)
  t.deepEqual(got, ['a1', 'b1', 'a2'])
  t.false(hub.off('x', () => {}), 'not a listener of x')
  t.false(hub.off('y', b), 'b listens to x only')
  t.throws(() => hub.off('x', 'nope' as never), { instanceOf: TypeError, message: /"listener"/ })
  t.throws(() => hub.off('' as 'x', a), { instanceOf: TypeError, message: /"name"/ })
})

test('removeListener is off(name, listener) returning the hub, and a once listener is removed by its function', async (t) => {
  const hub = new EventHub<{ x: number }>()
  t.teardown(() => hub.close())
  const got: number[] = []
  const listener = (n: number) => got.push(n)
  hub.once('x', listener)
  hub.on('x', listener)
  t.is(hub.removeListener('x', listener), hub)
  t.is(hub.listenerCount('x', listener), 1, 'the later one (on) went, the once stays')
  hub.removeListener('x', listener).removeListener('x', listener)
  t.is(hub.listenerCount('x'), 0)
  t.deepEqual(hub.eventNames(), [])
  hub.on('x', listener)
  t.deepEqual(hub.eventNames(), ['x'])
  hub.emit('x', 5)
  await until(() => got.length === 1)
  t.deepEqual(got, [5])
})

test('ids keep their meaning beside removal by function: from 1, off(id) true once', (t) => {
  const hub = new EventHub<{ x: number }>()
  t.teardown(() => hub.close())
  const f = () => {}
  const id = hub.on('x', f)
  t.is(id, 1)
  t.true(hub.off('x', f))
  t.false(hub.off(id))
  t.is(hub.on('x', f), 2, 'ids are never reused')
  t.true(hub.off(2))
  t.false(hub.off(2))
})

test("waitFor(name, { meta: true }) resolves with the payload and the event's meta", async (t) => {
  const hub = new EventHub<{ x: { v: number } }>()
  t.teardown(() => hub.close())
  const waiting = hub.waitFor('x', { meta: true, timeoutMs: 5000 })
  hub.emit('x', { v: 1 })
  const { payload, meta } = await waiting
  t.deepEqual(payload, { v: 1 })
  t.like(meta, { name: 'x', seq: 1, lane: 'cbor' })
  const plain = hub.waitFor('x', { meta: false })
  hub.emit('x', { v: 2 })
  t.deepEqual(await plain, { v: 2 })
  t.throws(() => hub.waitFor('x', { meta: 'yes' as unknown as true }), { instanceOf: TypeError, message: /"options\.meta"/ })
})

test('an async onError handler that rejects is an uncaught exception, never an unhandled rejection', (t) => {
  const result = runNode(`
    const { EventHub } = require('ffi-events')
    process.on('unhandledRejection', () => { console.log('unhandledRejection'); process.exit(3) })
    process.on('uncaughtException', (error) => {
      console.log(JSON.stringify({ uncaught: error.message }))
      hub.close()
    })
    const hub = new EventHub()
    hub.on('x', () => { throw new Error('listener') })
    hub.onError(async (error) => { throw new Error('handler saw ' + error.code) })
    hub.emit('x', 1)
  `)
  t.is(result.status, 0, result.stderr)
  t.deepEqual(JSON.parse(result.stdout), { uncaught: 'handler saw ERR_LISTENER_THREW' })
})
