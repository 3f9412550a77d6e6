import test from 'ava'

import { runNode } from './helpers'

// Garbage collection runs in a child process started with --expose-gc, so
// that this process's own hubs cannot keep or free anything there.

test('hubs without listeners that nothing references are collected and closed, their native threads joined', (t) => {
  const result = runNode(
    `
    const { EventHub, sources } = require('ffi-events')
    const { existsSync, readdirSync, readFileSync } = require('node:fs')
    let collected = 0
    const registry = new FinalizationRegistry(() => collected++)
    const tickerThreads = () => {
      if (!existsSync('/proc/self/task')) return -1
      return readdirSync('/proc/self/task').filter((tid) => {
        try { return readFileSync('/proc/self/task/' + tid + '/comm', 'utf8').startsWith('ffi-events-tick') } catch { return false }
      }).length
    }
    ;(() => {
      for (let i = 0; i < 200; i++) registry.register(new EventHub(), 'never listened')
      for (let i = 0; i < 200; i++) {
        const hub = new EventHub()
        const id = hub.on('x', () => {})
        hub.onAny(() => {})
        hub.off(id)
        hub.removeAllListeners()
        registry.register(hub, 'listeners removed')
      }
    })()
    // A forgotten hub whose native producer keeps emitting: collecting it
    // closes it, so the producer sees Closed and its thread is joined.
    let control
    let threadsBefore
    ;(() => {
      const hub = new EventHub()
      control = sources.ticker(hub, { name: 'tick', intervalMs: 1 })
      registry.register(hub, 'with a producer')
      // The thread names itself once it runs: wait for that while the hub
      // is still referenced here.
      const deadline = Date.now() + 5000
      do threadsBefore = tickerThreads()
      while (threadsBefore === 0 && Date.now() < deadline)
    })()
    ;(async () => {
      for (let round = 0; round < 200 && (collected < 401 || control.running); round++) {
        globalThis.gc()
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      console.log(JSON.stringify({ collected, running: control.running, threadsBefore, threadsAfter: tickerThreads() }))
    })()
    `,
    60_000,
    ['--expose-gc'],
  )
  t.is(result.status, 0, result.stderr)
  const out = JSON.parse(result.stdout) as { collected: number; running: boolean; threadsBefore: number; threadsAfter: number }
  t.is(out.collected, 401)
  t.false(out.running)
  if (out.threadsBefore === -1) {
    t.log('no /proc on this platform: thread count checked through SourceControl.running only')
  } else {
    t.is(out.threadsBefore, 1)
    t.is(out.threadsAfter, 0)
  }
})

test('a hub that delivered to listeners and then lost them is collected and closed, its producer stopped', (t) => {
  // While it listens the hub is reached strongly from the delivery
  // function the native side holds; removing the last listener must let go.
  const result = runNode(
    `
    const { EventHub, sources } = require('ffi-events')
    let collected = 0
    const registry = new FinalizationRegistry(() => collected++)
    let control
    let heard = 0
    ;(async () => {
      await (async () => {
        const hub = new EventHub()
        const id = hub.on('tick', () => heard++)
        const onAny = hub.onAny(() => {})
        control = sources.ticker(hub, { name: 'tick', intervalMs: 1 })
        registry.register(hub, 'listened, then not')
        while (heard < 20) await new Promise((resolve) => setTimeout(resolve, 5))
        hub.off(id)
        hub.off(onAny)
      })()
      for (let round = 0; round < 200 && (collected < 1 || control.running); round++) {
        globalThis.gc()
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      console.log(JSON.stringify({ collected, running: control.running, heard }))
    })()
    `,
    60_000,
    ['--expose-gc'],
  )
  t.is(result.status, 0, result.stderr)
  const out = JSON.parse(result.stdout) as { collected: number; running: boolean; heard: number }
  t.true(out.heard >= 20)
  t.is(out.collected, 1)
  t.false(out.running)
})

test('a hub with listeners stays alive and keeps delivering when nothing else references it', (t) => {
  const result = runNode(
    `
    const { EventHub, sources } = require('ffi-events')
    let collected = 0
    let heard = 0
    const registry = new FinalizationRegistry(() => collected++)
    ;(() => {
      const hub = new EventHub()
      hub.on('tick', () => heard++)
      hub.unref()
      sources.ticker(hub, { name: 'tick', intervalMs: 1 })
      registry.register(hub, 'listening')
    })()
    ;(async () => {
      let heardAfterGc = 0
      for (let round = 0; round < 20; round++) {
        globalThis.gc()
        const before = heard
        await new Promise((resolve) => setTimeout(resolve, 10))
        heardAfterGc += heard - before
      }
      console.log(JSON.stringify({ collected, heardAfterGc }))
      process.exit(0)
    })()
    `,
    60_000,
    ['--expose-gc'],
  )
  t.is(result.status, 0, result.stderr)
  const out = JSON.parse(result.stdout) as { collected: number; heardAfterGc: number }
  t.is(out.collected, 0)
  t.true(out.heardAfterGc > 0)
})

test('a hub with listeners keeps the process alive until it closes, as a ref’d handle does', (t) => {
  const result = runNode(
    `
    const { EventHub, sources } = require('ffi-events')
    ;(() => {
      const hub = new EventHub()
      let n = 0
      hub.on('tick', () => { if (++n === 20) { console.log('heard 20'); hub.close() } })
      sources.ticker(hub, { name: 'tick', intervalMs: 1 })
    })()
    setImmediate(() => globalThis.gc())
    `,
    60_000,
    ['--expose-gc'],
  )
  t.is(result.status, 0, result.stderr)
  t.is(result.stdout.trim(), 'heard 20')
})
