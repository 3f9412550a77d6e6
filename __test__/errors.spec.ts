import test from 'ava'
import { EventHub, EventHubError } from 'ffi-events'

import { runNode, until } from './helpers'

test('a throwing listener does not stop the others and its error goes to onError', async (t) => {
  const hub = new EventHub<{ tick: { n: number } }>()
  const calls: string[] = []
  const errors: EventHubError[] = []
  hub.on('tick', () => calls.push('first'))
  hub.on('tick', () => {
    throw new Error('boom')
  })
  hub.onRaw('tick', () => calls.push('raw'))
  hub.onAny(() => calls.push('any'))
  const stop = hub.onError((e) => errors.push(e))
  hub.emit('tick', { n: 1 })
  await until(() => errors.length === 1 && calls.length === 3)
  t.deepEqual(calls, ['first', 'raw', 'any'])
  t.true(errors[0] instanceof EventHubError)
  t.is(errors[0].code, 'ERR_LISTENER_THREW')
  t.is(errors[0].eventName, 'tick')
  t.is(errors[0].seq, 1)
  t.is((errors[0].cause as Error).message, 'boom')
  t.is(hub.stats().listenerErrors, 1)
  stop()
  await hub.close()
})

test('with no onError handler a listener error surfaces as an uncaught exception', (t) => {
  const result = runNode(`
    const { EventHub } = require('ffi-events')
    const hub = new EventHub()
    let after = 0
    hub.on('tick', () => { throw new Error('listener failed') })
    hub.on('tick', () => { after++ })
    process.on('uncaughtException', (err) => {
      console.log(JSON.stringify({ name: err.name, code: err.code, cause: err.cause.message, after }))
      hub.close()
    })
    hub.emit('tick', 1)
  `)
  t.is(result.status, 0, result.stderr)
  t.deepEqual(JSON.parse(result.stdout), { name: 'EventHubError', code: 'ERR_LISTENER_THREW', cause: 'listener failed', after: 1 })
})

test('an unhandled listener error without an uncaughtException handler exits the process non-zero, not silently', (t) => {
  const result = runNode(`
    const { EventHub } = require('ffi-events')
    const hub = new EventHub()
    hub.on('tick', () => { throw new Error('nobody handles me') })
    hub.emit('tick', 1)
  `)
  t.is(result.status, 1)
  t.regex(result.stderr, /nobody handles me/)
})

test('an error thrown by an onError handler is rethrown asynchronously too', (t) => {
  const result = runNode(`
    const { EventHub } = require('ffi-events')
    const hub = new EventHub()
    hub.on('tick', () => { throw new Error('first') })
    hub.onError(() => { throw new Error('handler failed') })
    process.on('uncaughtException', (err) => { console.log(err.message); hub.close() })
    hub.emit('tick', 1)
  `)
  t.is(result.status, 0, result.stderr)
  t.is(result.stdout.trim(), 'handler failed')
})

test('a listener whose promise rejects reports to onError with the event, like a throw', async (t) => {
  const hub = new EventHub<{ tick: { n: number } }>()
  const errors: EventHubError[] = []
  let after = 0
  hub.on('tick', async (tick) => {
    await Promise.resolve()
    throw new Error(`async boom ${tick.n}`)
  })
  hub.on('tick', () => {
    after++
  })
  hub.onError((e) => errors.push(e))
  hub.emit('tick', { n: 7 })
  await until(() => errors.length === 1)
  t.is(after, 1)
  t.is(errors[0].code, 'ERR_LISTENER_THREW')
  t.is(errors[0].eventName, 'tick')
  t.is(errors[0].seq, 1)
  t.regex(errors[0].message, /A listener of "tick" rejected: async boom 7/)
  t.is((errors[0].cause as Error).message, 'async boom 7')
  t.is(hub.stats().listenerErrors, 1)
  await hub.close()
})

test('a rejected async listener is never an unhandled rejection', (t) => {
  // Node's default for an unhandled rejection is to crash the process.
  const result = runNode(`
    const { EventHub } = require('ffi-events')
    const hub = new EventHub()
    hub.on('x', async () => { throw new Error('rejected') })
    hub.onError((err) => {
      console.log(JSON.stringify({ code: err.code, cause: err.cause.message }))
      setTimeout(() => hub.close(), 20)
    })
    hub.emit('x', 1)
  `)
  t.is(result.status, 0, result.stderr)
  t.deepEqual(JSON.parse(result.stdout), { code: 'ERR_LISTENER_THREW', cause: 'rejected' })
})
