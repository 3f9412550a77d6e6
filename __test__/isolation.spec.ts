import test from 'ava'
import { EventHub, sources } from 'ffi-events'

import { runNode, until } from './helpers'

test('several hubs in one process are independent', async (t) => {
  const a = new EventHub<{ x: number }>()
  const b = new EventHub<{ x: number }>()
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

test('hubs in worker threads work, and a worker that exits with an open hub and a running source tears it down cleanly', (t) => {
  const result = runNode(
    `
    const { Worker } = require('node:worker_threads')
    const fs = require('node:fs')
    const threads = () => fs.readdirSync('/proc/self/task').length
    const code = \`
      const { parentPort } = require('node:worker_threads')
      const { EventHub, sources } = require('ffi-events')
      const hub = new EventHub()
      let n = 0
      hub.on('tick', () => { if (++n === 5) parentPort.postMessage(n) })
      sources.ticker(hub, { name: 'tick', intervalMs: 1 })
      sources.burst(hub, { name: 'load', count: 1e12, threads: 2, payloadBytes: 64, encoding: 'raw' })
    \`
    async function runWorker() {
      const worker = new Worker(code, { eval: true })
      await new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject) })
      await worker.terminate()
    }
    async function main() {
      // The first worker starts libuv's thread pool; count from after it.
      await runWorker()
      const baseline = threads()
      for (let i = 0; i < 10; i++) {
        const worker = new Worker(code, { eval: true })
        await new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject) })
        await worker.terminate()
      }
      // Worker threads are joined by terminate(); ours by the env cleanup hook.
      const deadline = Date.now() + 10000
      while (threads() > baseline && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      console.log(JSON.stringify({ baseline, after: threads() }))
    }
    main().catch((e) => { console.error(e); process.exit(1) })
  `,
    60_000,
  )
  t.is(result.signal, null, result.stderr)
  t.is(result.status, 0, result.stderr)
  const { baseline, after } = JSON.parse(result.stdout)
  t.is(after, baseline, 'no native thread outlived its worker')
})

test('a worker that exits on its own with an open hub does not crash the process', (t) => {
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
  let heardB = 0
  b.onAny(() => heardB++)
  let heardA = 0
  a.on('tick', () => heardA++)
  sources.ticker(a, { name: 'tick', intervalMs: 0, count: 50 })
  await until(() => heardA === 50)
  t.is(heardB, 0)
  await Promise.all([a.close(), b.close()])
})
