import test from 'ava'
import { EventHub } from 'ffi-events'

import { until } from './helpers'

type Events = { tick: { n: number }; other: { s: string } }

test('listener ids start at 1, increase, are never reused and survive removeAllListeners', async (t) => {
  const hub = new EventHub<Events>()
  const a = hub.on('tick', () => {})
  const b = hub.once('tick', () => {})
  const c = hub.onRaw('other', () => {})
  const d = hub.onAny(() => {})
  t.deepEqual([a, b, c, d], [1, 2, 3, 4])
  t.true(hub.off(b))
  t.is(hub.on('tick', () => {}), 5)
  t.is(hub.removeAllListeners(), 4)
  t.is(hub.on('tick', () => {}), 6)
  await hub.close()
})

test('off is true once and false for 0, unknown and removed ids', async (t) => {
  const hub = new EventHub<Events>()
  const id = hub.on('tick', () => {})
  t.false(hub.off(0))
  t.false(hub.off(999))
  t.false(hub.off(-1))
  t.false(hub.off(Number.NaN))
  t.true(hub.off(id))
  t.false(hub.off(id))
  await hub.close()
})

test('a listener hears only its own event name', async (t) => {
  const hub = new EventHub<Events>()
  const ticks: number[] = []
  const others: string[] = []
  hub.on('tick', (p) => ticks.push(p.n))
  hub.on('other', (p) => others.push(p.s))
  hub.emit('other', { s: 'x' })
  hub.emit('tick', { n: 1 })
  hub.emit('tick', { n: 2 })
  await until(() => ticks.length === 2 && others.length === 1)
  t.deepEqual(ticks, [1, 2])
  t.deepEqual(others, ['x'])
  await hub.close()
})

test('invalid names and listeners throw errors naming the argument and register nothing', async (t) => {
  const hub = new EventHub()
  const cases: Array<[unknown, unknown, new (...args: never[]) => Error, RegExp]> = [
    [42, () => {}, TypeError, /"name" argument must be of type string\. Received type number \(42\)/],
    [undefined, () => {}, TypeError, /"name".*Received undefined/],
    ['', () => {}, TypeError, /"name" argument must not be empty/],
    ['a\0b', () => {}, TypeError, /"name" argument must not contain NUL/],
    ['\ud800', () => {}, TypeError, /"name" argument must be well-formed Unicode/],
    ['x'.repeat(256), () => {}, RangeError, /"name\.length" is out of range.*256 bytes/],
    ['é'.repeat(128), () => {}, RangeError, /256 bytes/],
    ['tick', null, TypeError, /"listener" argument must be of type function\. Received null/],
    ['tick', 'nope', TypeError, /"listener" argument must be of type function/],
  ]
  for (const [name, listener, type, message] of cases) {
    t.throws(() => hub.on(name as string, listener as () => void), { instanceOf: type, message })
    t.throws(() => hub.onRaw(name as string, listener as () => void), { instanceOf: type })
  }
  t.is(hub.listenerCount(), 0)
  t.is(hub.on('x'.repeat(255), () => {}), 1, 'a 255-byte name is accepted and no id was burnt')
  await hub.close()
})

test('listenerCount and eventNames follow subscriptions', async (t) => {
  const hub = new EventHub<Events>()
  const a = hub.on('tick', () => {})
  hub.onRaw('tick', () => {})
  hub.on('other', () => {})
  hub.onAny(() => {})
  t.is(hub.listenerCount('tick'), 2)
  t.is(hub.listenerCount('other'), 1)
  t.is(hub.listenerCount(), 4)
  t.deepEqual(hub.eventNames(), ['tick', 'other'])
  hub.off(a)
  t.is(hub.listenerCount('tick'), 1)
  hub.removeAllListeners()
  t.deepEqual(hub.eventNames(), [])
  await hub.close()
})

test('listeners may subscribe and unsubscribe from inside a listener without deadlock', async (t) => {
  const hub = new EventHub<Events>()
  const seen: string[] = []
  let late = 0
  hub.on('tick', (p) => {
    seen.push(`first ${p.n}`)
    if (p.n === 1) {
      hub.on('tick', () => late++)
      hub.off(second)
    }
    if (p.n === 3) hub.removeAllListeners()
  })
  const second = hub.on('tick', (p) => seen.push(`second ${p.n}`))
  for (const n of [1, 2, 3, 4]) hub.emit('tick', { n })
  await until(() => hub.stats().delivered === 4)
  // The listener removed by an earlier listener of the same event is not called for it.
  t.deepEqual(seen, ['first 1', 'first 2', 'first 3'])
  // Added during event 1: not called for event 1, called for 2; removed by
  // the first listener of event 3 before its turn, so not called for 3 or 4.
  t.is(late, 1)
  t.is(hub.listenerCount(), 0)
  await hub.close()
})

test('once is called a single time and off(id) works before it fires', async (t) => {
  const hub = new EventHub<Events>()
  const got: number[] = []
  hub.once('tick', (p) => got.push(p.n))
  const cancelled = hub.once('tick', () => got.push(-1))
  t.true(hub.off(cancelled))
  hub.emit('tick', { n: 1 })
  hub.emit('tick', { n: 2 })
  await until(() => hub.stats().delivered === 2)
  t.deepEqual(got, [1])
  t.is(hub.listenerCount('tick'), 0)
  await hub.close()
})

test('onAny hears every event with its name, in subscription order with the others', async (t) => {
  const hub = new EventHub<Events>()
  const calls: string[] = []
  hub.on('tick', () => calls.push('on'))
  hub.onAny((name, payload) => calls.push(`any ${name} ${JSON.stringify(payload)}`))
  hub.onRaw('tick', () => calls.push('raw'))
  hub.emit('tick', { n: 7 })
  hub.emit('other', { s: 'o' })
  await until(() => calls.length === 4)
  t.deepEqual(calls, ['on', 'any tick {"n":7}', 'raw', 'any other {"s":"o"}'])
  await hub.close()
})

test('removeAllListeners(name) removes only the listeners of that name, as Node does', async (t) => {
  const hub = new EventHub<Events>()
  const heard: string[] = []
  hub.on('tick', () => heard.push('tick'))
  hub.once('tick', () => heard.push('tick once'))
  hub.onRaw('tick', () => heard.push('tick raw'))
  hub.on('other', () => heard.push('other'))
  hub.onAny((name) => heard.push(`any ${name}`))
  t.is(hub.removeAllListeners('tick'), 3)
  t.is(hub.listenerCount('tick'), 0)
  t.is(hub.listenerCount('other'), 1)
  t.is(hub.listenerCount(), 2)
  t.deepEqual(hub.eventNames(), ['other'])
  hub.emit('tick', { n: 1 })
  hub.emit('other', { s: 'x' })
  await until(() => heard.length === 3)
  t.deepEqual(heard, ['any tick', 'other', 'any other'])
  t.is(hub.removeAllListeners('tick'), 0)
  t.throws(() => hub.removeAllListeners('' as 'tick'), { instanceOf: TypeError, message: /"name" argument must not be empty/ })
  await hub.close()
})

test('from one batch to the next, each event reaches exactly the listeners subscribed when its batch was drained', async (t) => {
  // Routes are kept across batches while the listeners stay the same: every
  // change between batches must show in the next one.
  const hub = new EventHub<Events>()
  const heard: string[] = []
  const ids = new Map<string, number>()
  const subscribe = (label: string) => ids.set(label, hub.on('tick', ({ n }) => heard.push(`${label}${n}`)))
  const unsubscribe = (label: string) => hub.off(ids.get(label) ?? 0)
  const steps: Array<[() => void, string[]]> = [
    [() => subscribe('a'), ['a0']],
    [() => {}, ['a1']],
    [() => subscribe('b'), ['a2', 'b2']],
    [() => unsubscribe('a'), ['b3']],
    [() => {}, ['b4']],
    [() => hub.onAny((name) => name === 'tick' && heard.push('any')), ['b5', 'any']],
    [() => unsubscribe('b'), ['any']],
    [() => hub.removeAllListeners(), []],
    [() => subscribe('c'), ['c8']],
  ]
  for (const [n, [change, expected]] of steps.entries()) {
    change()
    heard.length = 0
    hub.emit('tick', { n })
    hub.emit('other', { s: 'x' })
    await until(() => hub.stats().queued === 0 && hub.stats().delivered === 2 * (n + 1))
    await new Promise((resolve) => setImmediate(resolve))
    t.deepEqual(heard, expected, `step ${n}`)
  }
  await hub.close()
})
