import test from 'ava'
import { existsSync } from 'node:fs'
import { EventHub, sources } from 'ffi-events'

import { runNode, until } from './helpers'

// The tests that run a child process with spawnSync block this worker's event
// loop while the child runs; they run serially, before the concurrent tests,
// so that no hang guard of another test counts that time.

test('several hubs in one process are independent', async (t) => {
  const a = new EventHub<{ x: number }>()
  const b = new EventHub<{ x: number }>()
  t.teardown(() => Promise.all([a.close(), b.close()]))
  const gotA: number[] = []
  const gotB: number[] = []
  t.is(a.on('x', (n) => gotA.push(n)), 1)
  t.is(b.on('x', (n) => gotB.push(n)), 1, 'ids are per hub')
  a.emit('x', 1)
  b.emit('x', 2)
  b.emit('x', 3)
  await until(() => gotA.length === 1 && gotB.length === 2)
  t.deepEqual(gotA, [1])
  t.deepEqual(gotB, [2, 3])
  await a.close()
  t.true(b.emit('x', 4), 'closing one hub leaves the other open')
  await until(() => gotB.length === 3)
  await b.close()
})

test.serial('hubs in worker threads work, and a worker that exits with an open hub and a running source tears it down cleanly', (t) => {
  const result = runNode(
    `
    const { Worker } = require('node:worker_threads')
    const fs = require('node:fs')
    // Threads of this process where /proc lists them (Linux), else null.
    const threads = () => (fs.existsSync('/proc/self/task') ? fs.readdirSync('/proc/self/task').length : null)
    const code = \`
      const { parentPort } = require('node:worker_threads')
      const { EventHub, sources } = require('ffi-events')
      const hub = new EventHub()
      let n = 0
      hub.on('tick', () => { if (++n === 5) parentPort.postMessage(n) })
      sources.ticker(hub, { name: 'tick', intervalMs: 1 })
      sources.burst(hub, { name: 'load', count: 1e12, threads: 2, payloadBytes: 64, encoding: 'raw' })
    \`
    let heard = 0
    let terminated = 0
    async function runWorker() {
      const worker = new Worker(code, { eval: true })
      const n = await new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject) })
      if (n === 5) heard++
      // terminate() resolves with the exit code once the worker has stopped.
      if ((await worker.terminate()) === 1) terminated++
    }
    async function main() {
      // The first worker starts libuv's thread pool; count from after it.
      await runWorker()
      const baseline = threads()
      for (let i = 0; i < 10; i++) await runWorker()
      // Worker threads are joined by terminate(); ours by the env cleanup hook.
      // A hang guard bounds the wait; the count is compared in the test.
      const deadline = Date.now() + 10000
      while (baseline !== null && threads() > baseline && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      console.log(JSON.stringify({ baseline, after: threads(), heard, terminated }))
    }
    main().catch((e) => { console.error(e); process.exit(1) })
  `,
    60_000,
  )
  t.false(result.timedOut, 'the process exited on its own once the workers were gone')
  t.is(result.signal, null, result.stderr)
  t.is(result.status, 0, result.stderr)
  const { baseline, after, heard, terminated } = JSON.parse(result.stdout) as {
    baseline: number | null
    after: number | null
    heard: number
    terminated: number
  }
  t.is(heard, 11, 'every worker heard its ticks while its burst loaded the hub')
  t.is(terminated, 11, 'every worker was stopped by terminate()')
  if (process.platform === 'linux') t.true(existsSync('/proc/self/task'), 'Linux lists threads in /proc/self/task')
  if (existsSync('/proc/self/task')) {
    t.not(baseline, null)
    t.is(after, baseline, 'no native thread outlived its worker')
  } else {
    t.log(`no /proc/self/task on ${process.platform}: the thread count is checked on Linux only; here the workers' events, their termination and a clean exit are`)
    t.is(baseline, null)
  }
})

test.serial('a worker that exits on its own with an open hub does not crash the process', (t) => {
  const result = runNode(`
    const { Worker } = require('node:worker_threads')
    const code = \`
      const { EventHub, sources } = require('ffi-events')
      const hub = new EventHub()
      hub.on('tick', () => {})
      hub.unref()
      sources.ticker(hub, { name: 'tick', intervalMs: 0 })
      setTimeout(() => process.exit(0), 30)
    \`
    let exits = 0
    for (let i = 0; i < 5; i++) new Worker(code, { eval: true }).on('exit', (code) => { if (code === 0) exits++ })
    process.on('exit', () => console.log(exits))
  `)
  t.is(result.signal, null, result.stderr)
  t.is(result.status, 0, result.stderr)
  t.is(result.stdout.trim(), '5')
})

test('sources on one hub do not leak into another', async (t) => {
  const a = new EventHub()
  const b = new EventHub()
  t.teardown(() => Promise.all([a.close(), b.close()]))
  let heardB = 0
  b.onAny(() => heardB++)
  let heardA = 0
  a.on('tick', () => heardA++)
  sources.ticker(a, { name: 'tick', intervalMs: 0, count: 50 })
  await until(() => heardA === 50)
  t.is(heardB, 0)
  await Promise.all([a.close(), b.close()])
})
