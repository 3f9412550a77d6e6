import test, { type ExecutionContext } from 'ava'
import { Encoder } from 'cbor-x'
import { EventHub, EventHubError, type EventHubOptions, staleSinkCalls } from 'ffi-events'

import { ForeignLibrary, REFUSE_STATUS } from './fixtures/foreign/foreign.mjs'
import { runNode, until } from './helpers'

// hub.request against a C library shaped like a nim-ffi library
// (fixtures/foreign/foreign.c): every request function takes (ctx,
// callback, user_data, bytes, len), returns a status at once, and a
// library thread calls back later.

const cbor = new Encoder({ useRecords: false })
const bytes = (value: unknown) => cbor.encode(value)

function openHub(t: ExecutionContext, options?: EventHubOptions): EventHub {
  const hub = new EventHub(options)
  t.teardown(() => hub.close())
  return hub
}

function openLibrary(t: ExecutionContext, replyThreads = 1): ForeignLibrary {
  const lib = new ForeignLibrary()
  lib.startReplies(replyThreads)
  t.teardown(() => lib.destroy())
  return lib
}

test('a reply from a library thread resolves the request with its value', async (t) => {
  const hub = openHub(t)
  const lib = openLibrary(t)
  const value = await hub.request<{ id: number; text: string }>((callback, userData) => lib.echo(callback, userData, bytes({ id: 7, text: 'ü' })), {
    timeoutMs: 10_000,
  })
  t.deepEqual(value, { id: 7, text: 'ü' })
  const raw = await hub.request<Uint8Array>((callback, userData) => lib.echo(callback, userData, new Uint8Array([1, 2, 3])), { format: 'raw' })
  t.true(raw instanceof Uint8Array)
  t.deepEqual([...raw], [1, 2, 3])
  const json = await hub.request((callback, userData) => lib.echo(callback, userData, new TextEncoder().encode('{"ok":true}')), { format: 'json' })
  t.deepEqual(json, { ok: true })
  const empty = await hub.request<Uint8Array>((callback, userData) => lib.echo(callback, userData, new Uint8Array()), { format: 'raw' })
  t.is(empty.length, 0)
  t.like(hub.stats(), { requestsPending: 0, repliesIgnored: 0 })
})

test('a reply with ret != 0 rejects with ERR_NATIVE_ERROR carrying ret and the text', async (t) => {
  const hub = openHub(t)
  const lib = openLibrary(t)
  const error = await t.throwsAsync(hub.request((callback, userData) => lib.fail(callback, userData, new TextEncoder().encode('ping'))), {
    instanceOf: EventHubError,
  })
  t.like(error, { code: 'ERR_NATIVE_ERROR', ret: 1, message: 'echo failed: ping' })
})

// A handle's slot goes back to the process-wide table when its request
// settles; once another test's request takes it, a late call counts in
// staleSinkCalls() instead of the hub's repliesIgnored. Either way it is
// counted once: the tests that check it run serially and add both.

test.serial('a non-zero status rejects at once with ret, and the reply that comes anyway is counted and ignored', async (t) => {
  const hub = openHub(t)
  const lib = openLibrary(t)
  const staleBefore = staleSinkCalls()
  const error = await t.throwsAsync(hub.request((callback, userData) => lib.refuse(callback, userData, bytes(1))), { instanceOf: EventHubError })
  t.like(error, { code: 'ERR_NATIVE_ERROR', ret: REFUSE_STATUS })
  await until(() => lib.replyCost().replies === 1)
  await until(() => hub.stats().repliesIgnored + (staleSinkCalls() - staleBefore) === 1)
  t.is(hub.stats().requestsPending, 0)
})

test('a function that throws rejects the request with its error; a custom accepted takes a context pointer', async (t) => {
  const hub = openHub(t)
  const boom = new Error('boom')
  await t.throwsAsync(
    hub.request(() => {
      throw boom
    }),
    { is: boom },
  )
  const lib = openLibrary(t)
  // <lib>_create returns the context, not a status: accept any non-null one.
  const context = { pointer: 1 }
  const value = await hub.request(
    (callback, userData) => {
      lib.echo(callback, userData, bytes('created'))
      return context
    },
    { accepted: (returned) => returned === context },
  )
  t.is(value, 'created')
  t.like(hub.stats(), { requestsPending: 0 })
})

test.serial('a second reply on the same handle is counted and ignored', async (t) => {
  const hub = openHub(t)
  const lib = openLibrary(t)
  const staleBefore = staleSinkCalls()
  t.deepEqual(await hub.request((callback, userData) => lib.twice(callback, userData, bytes('first'))), 'first')
  await until(() => lib.replyCost().replies === 2)
  await until(() => hub.stats().repliesIgnored + (staleSinkCalls() - staleBefore) === 1)
  t.pass()
})

test.serial('a timeout rejects with ERR_WAIT_TIMEOUT, and the late reply is a counted no-op', async (t) => {
  const hub = openHub(t)
  const lib = openLibrary(t)
  const staleBefore = staleSinkCalls()
  const error = await t.throwsAsync(hub.request((callback, userData) => lib.echoAfter(callback, userData, bytes('late'), 200_000), { timeoutMs: 20 }), {
    instanceOf: EventHubError,
  })
  t.is(error?.code, 'ERR_WAIT_TIMEOUT')
  await until(() => lib.replyCost().replies === 1)
  await until(() => hub.stats().repliesIgnored + (staleSinkCalls() - staleBefore) === 1)
  t.is(hub.stats().requestsPending, 0)
})

test('a request that never gets a reply rejects on abort with the reason, and on close with ERR_HUB_CLOSED', async (t) => {
  const hub = new EventHub()
  const lib = openLibrary(t)
  const controller = new AbortController()
  const aborted = hub.request((callback, userData) => lib.never(callback, userData, bytes(1)), { signal: controller.signal })
  const reason = new Error('no longer needed')
  controller.abort(reason)
  await t.throwsAsync(aborted, { is: reason })
  const already = hub.request(() => 0, { signal: controller.signal })
  await t.throwsAsync(already, { is: reason })
  const pending = [1, 2, 3].map((i) => hub.request((callback, userData) => lib.never(callback, userData, bytes(i))))
  t.is(hub.stats().requestsPending, 3)
  await hub.close()
  for (const p of pending) await t.throwsAsync(p, { instanceOf: EventHubError, code: 'ERR_HUB_CLOSED' } as never)
  t.is(hub.stats().requestsPending, 0)
  t.throws(() => hub.request(() => 0), { instanceOf: EventHubError, message: /closed/ })
})

test('10,000 requests in flight at once all resolve, from 4 library threads, through a 1,024-slot ring', async (t) => {
  const hub = openHub(t, { capacity: 1024 })
  const lib = openLibrary(t, 4)
  let events = 0
  hub.on('other', () => events++)
  const count = 10_000
  const all = Array.from({ length: count }, (_, i) => hub.request<number>((callback, userData) => lib.echo(callback, userData, bytes(i))))
  t.is(hub.stats().requestsPending, count)
  const values = await Promise.all(all)
  t.deepEqual(values, Array.from({ length: count }, (_, i) => i))
  const s = hub.stats()
  t.is(s.refused, 0, 'no reply was refused for a full ring')
  t.is(s.requestsPending, 0)
  t.is(s.emitted, s.delivered + s.refused + s.discarded + s.queued)
  t.is(events, 0)
})

test('a wedged JS thread never slows the library thread: replies are copied and queued while JS is busy', async (t) => {
  const hub = openHub(t, { capacity: 64 })
  const lib = openLibrary(t, 2)
  const count = 2_000
  // Busy from here until the library has made every reply: none can be
  // delivered meanwhile.
  lib.hostBlocked(true)
  const all = Array.from({ length: count }, (_, i) => hub.request<number>((callback, userData) => lib.echo(callback, userData, bytes(i))))
  const deadline = Date.now() + 60_000
  while (lib.replyCost().replies < count) {
    if (Date.now() > deadline) break
  }
  lib.hostBlocked(false)
  const cost = lib.replyCost()
  t.is(cost.replies, count, 'the library made every reply while the JS thread was busy')
  t.is(cost.whileBlocked, count)
  t.deepEqual(await Promise.all(all), Array.from({ length: count }, (_, i) => i))
  t.is(hub.stats().refused, 0)
})

test('a hub with a pending request is not collected: the request settles although the app dropped the hub', (t) => {
  const result = runNode(
    `
    const { EventHub } = require('ffi-events')
    ;(async () => {
      const { ForeignLibrary } = await import(${JSON.stringify(new URL('./fixtures/foreign/foreign.mjs', import.meta.url).href)})
      const lib = new ForeignLibrary()
      lib.startReplies(1)
      const reply = (() => {
        const hub = new EventHub()
        return hub.request((cb, ud) => lib.echoAfter(cb, ud, new Uint8Array([0x07]), 300000))
      })()
      // Collections (and their finalizers' turns) while the reply is on its way.
      for (let i = 0; i < 10; i++) {
        globalThis.gc()
        await new Promise((r) => setTimeout(r, 10))
      }
      console.log(JSON.stringify({ value: await reply }))
      lib.destroy()
    })()
    `,
    30_000,
    ['--expose-gc'],
  )
  t.is(result.status, 0, result.stderr)
  t.deepEqual(JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}'), { value: 7 })
})

test('a handle outliving its closed hub is a refused no-op, no crash', (t) => {
  const result = runNode(
    `
    const { EventHub, staleSinkCalls } = require('ffi-events')
    ;(async () => {
      const { ForeignLibrary } = await import(${JSON.stringify(new URL('./fixtures/foreign/foreign.mjs', import.meta.url).href)})
      const lib = new ForeignLibrary()
      lib.startReplies(1)
      ;(() => {
        const hub = new EventHub()
        // Closed before the library replies: the late reply is refused.
        hub.request((cb, ud) => lib.echoAfter(cb, ud, new Uint8Array([1]), 50000)).catch(() => {})
        void hub.close()
      })()
      for (let i = 0; i < 50 && lib.replyCost().replies < 1; i++) {
        globalThis.gc()
        await new Promise((r) => setTimeout(r, 10))
      }
      console.log(JSON.stringify({ replies: lib.replyCost().replies }))
      lib.destroy()
    })()
    `,
    30_000,
    ['--expose-gc'],
  )
  t.is(result.signal, null, result.stderr)
  t.is(result.status, 0, result.stderr)
  t.deepEqual(JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}'), { replies: 1 })
})

test('an abort from inside the call rejects the request with the reason', async (t) => {
  const hub = openHub(t)
  const lib = openLibrary(t)
  const controller = new AbortController()
  const reason = new Error('changed my mind')
  const request = hub.request(
    (callback, userData) => {
      const status = lib.never(callback, userData, bytes(1))
      controller.abort(reason)
      return status
    },
    { signal: controller.signal },
  )
  await t.throwsAsync(request, { is: reason })
  t.is(hub.stats().requestsPending, 0)
})

test('a reply that is not one well-formed CBOR item rejects without being decoded', async (t) => {
  const hub = openHub(t)
  const lib = openLibrary(t)
  // 100,000 nested arrays: scanned on the library thread, never handed to cbor-x.
  const deep = new Uint8Array(100_001).fill(0x81)
  deep[100_000] = 0x00
  const error = await t.throwsAsync(hub.request((callback, userData) => lib.echo(callback, userData, deep)), { instanceOf: EventHubError })
  t.is(error?.code, 'ERR_EVENT_DECODE')
  t.regex(error?.message ?? '', /not one well-formed data item/)
  // The same bytes as 'raw' are a reply like any other.
  const raw = await hub.request<Uint8Array>((callback, userData) => lib.echo(callback, userData, deep), { format: 'raw' })
  t.is(raw.length, deep.length)
})

test("an unref'd hub's pending request with a long timeout does not keep the process alive", (t) => {
  const result = runNode(`
    const { EventHub } = require('ffi-events')
    const hub = new EventHub()
    hub.unref()
    hub.request(() => 0, { timeoutMs: 600000 }).catch(() => {})
    console.log('waiting')
  `)
  t.false(result.timedOut, 'the process exited on its own')
  t.is(result.status, 0, result.stderr)
})

test("a request's handle outliving the worker that made it: the late reply is a refused no-op, no crash", (t) => {
  const result = runNode(
    `
    const { Worker } = require('node:worker_threads')
    const entry = require.resolve('ffi-events')
    ;(async () => {
      const { ForeignLibrary } = await import(${JSON.stringify(new URL('./fixtures/foreign/foreign.mjs', import.meta.url).href)})
      const lib = new ForeignLibrary()
      lib.startReplies(1)
      const worker = new Worker(
        \`
        const { parentPort } = require('node:worker_threads')
        const { EventHub } = require(\${JSON.stringify(entry)})
        const hub = new EventHub()
        // The library gets the pair from the main thread; the worker exits before the reply.
        hub.request((callback, userData) => { parentPort.postMessage({ callback, userData }); return 0 }).catch(() => {})
        parentPort.on('message', () => process.exit(0))
        \`,
        { eval: true },
      )
      worker.on('message', (m) => {
        if (lib.echoAfter(m.callback, m.userData, new Uint8Array([1]), 100000) !== 0) process.exit(3)
        worker.postMessage('exit')
      })
      const code = await new Promise((resolve) => worker.on('exit', resolve))
      while (lib.replyCost().replies < 1) await new Promise((r) => setTimeout(r, 5))
      console.log(JSON.stringify({ code, replies: lib.replyCost().replies }))
      lib.destroy()
    })().catch((e) => { console.error(e); process.exit(1) })
    `,
    60_000,
  )
  t.is(result.signal, null, result.stderr)
  t.is(result.status, 0, result.stderr)
  t.deepEqual(JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}'), { code: 0, replies: 1 })
})

test('bad arguments are refused before any native call', (t) => {
  const hub = new EventHub()
  t.teardown(() => hub.close())
  t.throws(() => hub.request(null as never), { instanceOf: TypeError, message: /"call"/ })
  t.throws(() => hub.request(() => 0, { format: 'xml' as never }), { instanceOf: TypeError, message: /"options\.format"/ })
  t.throws(() => hub.request(() => 0, { timeoutMs: -1 }), { instanceOf: RangeError, message: /"options\.timeoutMs"/ })
  t.throws(() => hub.request(() => 0, { accepted: 1 as never }), { instanceOf: TypeError, message: /"options\.accepted"/ })
  t.is(hub.stats().requestsPending, 0)
})
