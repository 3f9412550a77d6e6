// Case 5: teardown. 1,000 hubs created, used and closed in sequence; 200
// worker_threads that each load the addon, open a hub with a running native
// source and exit without calling close(); processes that end (on their own
// or with process.exit) while a hub and a native source are running. No crash,
// no hang (each bounded by a timeout), thread count back to baseline, RSS
// growth bounded.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { Check, EventHub, fmt, mib, rss, settle, sleep, sources, threadCount, until } from '../lib.mjs'

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads')
const { EventHub, sources } = require(workerData.root)
const hub = new EventHub({ capacity: 256 })
let n = 0
hub.on('tick', () => { if (++n === 3) parentPort.postMessage('ticking') })
sources.ticker(hub, { name: 'tick', intervalMs: 0.5 })
if (workerData.mode === 'burst') {
  // Leave a burst running and a backlog queued at exit.
  hub.on('b', () => {})
  sources.burst(hub, { name: 'b', count: 1e9, threads: 2, payloadBytes: 32, encoding: 'raw' })
}
parentPort.on('message', (m) => { if (m === 'exit') process.exit(0) })
`

async function oneWorker(root, mode) {
  const worker = new Worker(WORKER, { eval: true, workerData: { root, mode } })
  let exitCode
  const exited = new Promise((resolve) => worker.once('exit', (code) => resolve((exitCode = code))))
  const errors = []
  worker.on('error', (e) => errors.push(String(e?.stack ?? e)))
  await new Promise((resolve, reject) => {
    const guard = setTimeout(() => reject(new Error(`hang guard: worker (${mode}) never ticked`)), 30_000)
    worker.once('message', () => {
      clearTimeout(guard)
      resolve()
    })
    worker.once('exit', () => {
      clearTimeout(guard)
      resolve()
    })
  })
  if (mode === 'terminate') await worker.terminate()
  else worker.postMessage('exit')
  const guard = sleep(30_000).then(() => 'hang')
  const outcome = await Promise.race([exited, guard])
  return { hung: outcome === 'hang', exitCode, errors }
}

function child(root, script, timeout = 30_000) {
  const started = performance.now()
  const r = spawnSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8', timeout })
  return { status: r.status, signal: r.signal, timedOut: r.error?.code === 'ETIMEDOUT', stderr: r.stderr, stdout: r.stdout, ms: Math.round(performance.now() - started) }
}

export async function run({ reduced, root }) {
  const check = new Check()
  const hubs = reduced ? 100 : 1_000
  const workers = reduced ? 20 : 200
  const pkg = join(root, 'dist', 'index.js')

  // Warm up: first hub, first worker, libuv pool threads, JIT.
  for (let i = 0; i < 5; i++) {
    const hub = new EventHub()
    hub.on('e', () => {})
    await sources.burst(hub, { name: 'e', count: 100, threads: 2 })
    await hub.close()
  }
  await oneWorker(pkg, 'exit')
  await settle()
  await sleep(100)
  const baseThreads = threadCount()
  const baseRss = rss()

  // Part 1: hubs in sequence.
  const t1 = performance.now()
  let hubEvents = 0
  for (let i = 0; i < hubs; i++) {
    const hub = new EventHub({ capacity: 1024 })
    let got = 0
    hub.on('e', () => got++)
    const ticker = sources.ticker(hub, { name: 't', intervalMs: 1 })
    const r = await sources.burst(hub, { name: 'e', count: 1_000, threads: 4, payloadBytes: 64, encoding: i % 2 ? 'raw' : 'cbor' })
    void ticker
    await hub.close()
    hubEvents += got
    const s = hub.stats()
    if (!check.eq(got, r.emitted, `hub ${i}: delivered == accepted`)) break
    if (!check.eq(s.runningThreads, 0, `hub ${i}: threads after close`)) break
  }
  const hubsMs = performance.now() - t1
  await settle()
  const threadsAfterHubs = threadCount()
  const rssAfterHubs = rss()

  // Part 2: workers that exit without close().
  const t2 = performance.now()
  const modes = ['exit', 'terminate', 'burst']
  let hung = 0
  let badExit = 0
  const workerErrors = []
  for (let i = 0; i < workers; i += 4) {
    const batch = []
    for (let j = i; j < Math.min(workers, i + 4); j++) batch.push(oneWorker(pkg, modes[j % modes.length]))
    for (const w of await Promise.all(batch)) {
      if (w.hung) hung++
      if (w.exitCode !== 0 && w.exitCode !== 1) badExit++
      workerErrors.push(...w.errors)
    }
  }
  const workersMs = performance.now() - t2
  check.eq(hung, 0, 'workers that did not exit')
  check.eq(badExit, 0, 'workers with an unexpected exit code')
  check.eq(workerErrors.length, 0, `worker errors ${workerErrors.slice(0, 2).join(' | ')}`)
  await settle()
  // Threads end right after their join; allow the OS a moment to reap.
  let threadsAfter = threadCount()
  const deadline = Date.now() + 10_000
  while (threadsAfter > baseThreads && Date.now() < deadline) {
    await sleep(50)
    threadsAfter = threadCount()
  }
  check.eq(threadsAfterHubs, baseThreads, 'threads after the hubs (baseline)')
  check.eq(threadsAfter, baseThreads, 'threads after the workers (baseline)')
  const endRss = rss()
  const growth = endRss - baseRss
  // Collected hubs' rings are given back to the OS (crates/ffi-events-napi/
  // src/trim.rs); before that, glibc kept them resident and this grew by
  // 105-130 MiB. Now 21-23 MiB: V8 and the allocator's warm-up.
  const bound = 64 * 1048576
  check.that(growth < bound, `RSS grew ${mib(growth)} MiB (bound ${mib(bound)} MiB)`)

  // Part 3: processes that end with a hub and a native source running.
  const pre = `const { EventHub, sources } = require(${JSON.stringify(pkg)});`
  const procs = {
    'unref hub + running ticker, script ends': `${pre} const hub = new EventHub(); hub.on('t', () => {}); hub.unref(); sources.ticker(hub, { name: 't', intervalMs: 1 }); setTimeout(() => console.log('end'), 50)`,
    // A burst's promise is pending native work and holds the loop (like a
    // pending fs call) until the burst ends, even on an unref'd hub.
    'unref hub + finite burst, script ends': `${pre} const hub = new EventHub(); hub.on('b', () => {}); hub.unref(); sources.burst(hub, { name: 'b', count: 2e6, threads: 4 }); setTimeout(() => console.log('end'), 50)`,
    'process.exit during a burst with a backlog': `${pre} const hub = new EventHub(); hub.on('b', () => {}); sources.burst(hub, { name: 'b', count: 1e9, threads: 4, encoding: 'raw' }); setTimeout(() => { console.log('end'); process.exit(0) }, 50)`,
    'unref hub + ticker, nothing else pending': `${pre} const hub = new EventHub(); hub.unref(); hub.on('t', () => {}); sources.ticker(hub, { name: 't', intervalMs: 1 }); process.on('exit', () => console.log('end'))`,
  }
  const procResults = {}
  for (const [what, script] of Object.entries(procs)) {
    const r = child(root, script)
    procResults[what] = r.ms
    check.that(!r.timedOut, `process "${what}" did not exit on its own (hang)`)
    check.that(r.signal === null, `process "${what}" died with ${r.signal}`)
    check.eq(r.status, 0, `process "${what}" exit code (${r.stderr.trim().split('\n').slice(-3).join(' / ')})`)
    check.that(r.stdout.includes('end'), `process "${what}" did not reach its end`)
  }
  const procMs = Object.values(procResults)
  return {
    figures: { hubs, hubEvents, hubsMs: Math.round(hubsMs), workers, workersMs: Math.round(workersMs), baseThreads, threadsAfterHubs, threadsAfter, rssBaseMiB: mib(baseRss), rssAfterHubsMiB: mib(rssAfterHubs), rssEndMiB: mib(endRss), rssGrowthMiB: mib(growth), processes: procResults },
    line: `${fmt(hubs)} hubs in ${Math.round(hubsMs)} ms (${fmt(hubEvents)} events), ${workers} workers exiting without close() in ${Math.round(workersMs)} ms (0 hung), threads ${baseThreads} -> ${threadsAfterHubs} -> ${threadsAfter}, RSS ${mib(baseRss)} -> ${mib(endRss)} MiB (+${mib(growth)} MiB), ${Object.keys(procs).length} exiting processes ok (${Math.min(...procMs)}-${Math.max(...procMs)} ms)`,
    violations: check.violations,
  }
}
