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
