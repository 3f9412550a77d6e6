import test from 'ava'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { EventHub, nativeHubOf, sources, type BindingModule } from 'ffi-events'

import { root, runNode } from './helpers'

type Events = { tick: { n: number; at: bigint }; b: { thread: number; i: number; data: Uint8Array } }

const stock = createRequire(import.meta.url)(join(root, 'binding.js')) as BindingModule

test('an EventHub can be built over a given binding module, and its sources run in that binding', async (t) => {
  const calls: string[] = []
  const binding: BindingModule = {
    NativeHub: class extends stock.NativeHub {
      constructor(...args: ConstructorParameters<typeof stock.NativeHub>) {
        super(...args)
        calls.push('NativeHub')
      }
    },
    startTicker: (hub, options) => {
      calls.push('startTicker')
      return stock.startTicker(hub, options)
    },
    startBurst: (hub, options) => {
      calls.push('startBurst')
      return stock.startBurst(hub, options)
    },
  }
  const hub = new EventHub<Events>({}, { binding })
  t.true(nativeHubOf(hub) instanceof binding.NativeHub)
  const tick = hub.waitFor('tick', { timeoutMs: 5000 })
  sources.ticker(hub, { name: 'tick', intervalMs: 0, count: 1 })
  t.is((await tick).n, 0)
  await sources.burst(hub, { name: 'b', count: 10 })
  t.deepEqual(calls, ['NativeHub', 'startTicker', 'startBurst'])

  const plain = new EventHub<Events>()
  const plainTick = plain.waitFor('tick', { timeoutMs: 5000 })
  sources.ticker(plain, { name: 'tick', intervalMs: 0, count: 1 })
  t.is((await plainTick).n, 0)
  t.is(calls.length, 3, 'a hub over the default binding does not use the other one')
  await Promise.all([hub.close(), plain.close()])
})

test('the binding option is validated with errors naming it', (t) => {
  t.throws(() => new EventHub({}, null as never), { instanceOf: TypeError, message: /"advanced" argument must be of type object/ })
  t.throws(() => new EventHub({}, { binding: {} as BindingModule }), {
    instanceOf: TypeError,
    message: /"advanced\.binding".*must be a binding module exporting NativeHub/,
  })
  t.throws(() => nativeHubOf({} as EventHub), { instanceOf: TypeError, message: /"hub" argument/ })
})

test('without a native binding, the error names the platform package to install', (t) => {
  // The package's own loader fails the way it does when the platform package is missing.
  const result = runNode(`
    const Module = require('node:module')
    const resolve = Module._resolveFilename
    Module._resolveFilename = function (request, ...rest) {
      if (/[\\\\/]binding$/.test(request)) throw Object.assign(new Error('Cannot find native binding'), { code: 'MODULE_NOT_FOUND' })
      return resolve.call(this, request, ...rest)
    }
    const { EventHub } = require('ffi-events')
    try { new EventHub(); console.log('constructed') } catch (error) {
      console.log(JSON.stringify({ name: error.name, code: error.code, message: error.message, cause: error.cause && error.cause.message }))
    }`)
  t.is(result.status, 0, result.stderr)
  const error = JSON.parse(result.stdout) as { name: string; code: string; message: string; cause: string }
  const { platform, arch } = process
  const version = (createRequire(import.meta.url)(join(root, 'package.json')) as { version: string }).version
  t.is(error.name, 'EventHubError')
  t.is(error.code, 'ERR_FFI_EVENTS_NO_BINDING')
  t.regex(error.message, new RegExp(`no native binding for ${platform}-${arch}`))
  t.true(error.message.includes(`npm install ffi-events-${platform}-${arch}`), error.message)
  t.true(error.message.includes(`@${version}`), error.message)
  t.is(error.cause, 'Cannot find native binding')
})

test('a native binding that is present but fails to load is reported as such', (t) => {
  const result = runNode(`
    const Module = require('node:module')
    const resolve = Module._resolveFilename
    Module._resolveFilename = function (request, ...rest) {
      if (/[\\\\/]binding$/.test(request)) {
        const dlopen = Object.assign(new Error('libc.musl-x86_64.so.1: cannot open shared object file'), { code: 'ERR_DLOPEN_FAILED' })
        throw Object.assign(new Error('Cannot find native binding'), { cause: dlopen })
      }
      return resolve.call(this, request, ...rest)
    }
    const { EventHub } = require('ffi-events')
    try { new EventHub(); console.log('constructed') } catch (error) {
      console.log(JSON.stringify({ code: error.code, message: error.message }))
    }`)
  t.is(result.status, 0, result.stderr)
  const error = JSON.parse(result.stdout) as { code: string; message: string }
  t.is(error.code, 'ERR_FFI_EVENTS_NO_BINDING')
  t.regex(error.message, /found a native binding for .* but could not load it: libc\.musl-x86_64\.so\.1: cannot open shared object file/)
  t.regex(error.message, /Reinstall ffi-events-/)
})
