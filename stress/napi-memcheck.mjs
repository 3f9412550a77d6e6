// The workload stress/napi-memcheck.sh runs under valgrind memcheck: every
// piece of the Node-API binding's unsafe code, at sizes a process slowed
// down some 50 times by memcheck finishes in a minute or two.
//
//   node --expose-gc stress/napi-memcheck.mjs <addon.node>
//
// - batch buffers (crates/ffi-events-napi/src/batch.rs): bursts on both
//   lanes from several native threads, drained in batches of various sizes,
//   with overflow and liveness events, and JS emits;
// - the threadsafe function (wake.rs): wake-ups from native threads,
//   ref/unref, polling through the wake-up of an unref'd hub, release;
// - the env cleanup hook (teardown.rs): worker threads that make hubs and
//   exit or are terminated without closing them, with sources running;
// - finalizers: hubs dropped without close() and collected;
// - the C sink (sink.rs), when this build has one: `ffi_events_emit` called
//   through koffi, before and after close.
//
// Checks conservation on the way (delivered == accepted) and prints one
// line, `napi-memcheck: ok ...`; throws (exit 1) on any mismatch.
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')
const require = createRequire(import.meta.url)
const addon = resolve(process.argv[2] ?? join(root, 'ffi-events.linux-x64-gnu.node'))
const binding = require(addon)
const { EventHub, sources } = require(join(root, 'dist', 'index.js'))

const turn = () => new Promise((r) => setImmediate(r))
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const figures = []

function expect(cond, what) {
  if (!cond) throw new Error(`napi-memcheck: ${what}`)
}

async function until(cond, what, ms = 120_000) {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`napi-memcheck: hang guard: ${what}`)
    await sleep(2)
  }
}

const hubOf = (options = {}) => new EventHub(options, { binding })

// 1. Bursts on both lanes, batches of several sizes, conservation.
let bursted = 0
for (const [i, maxBatchEvents] of [1, 7, 4096].entries()) {
  for (const encoding of ['raw', 'cbor']) {
    const hub = hubOf({ capacity: 512, maxBatchEvents })
    let got = 0
    hub.on('e', () => got++)
    const r = await sources.burst(hub, { name: 'e', count: 600, threads: 3, payloadBytes: 16 + 40 * i, encoding })
    await until(() => got >= r.emitted, 'burst delivered')
    await hub.close()
    const s = hub.stats()
    expect(got === r.emitted && s.delivered === r.emitted, `burst ${encoding}/${maxBatchEvents}: ${got} of ${r.emitted}`)
    expect(s.emitted === s.delivered + s.refused + s.discarded + s.queued && s.refused === r.lost, `burst books: ${JSON.stringify(s)}`)
    bursted += got
  }
}
figures.push(`${bursted} burst events`)

// 2. Overflow: a tiny ring and a slow listener; liveness events; refusals.
{
  const hub = hubOf({ capacity: 8 })
  let got = 0
  let liveness = 0
  hub.on('o', () => {
    got++
    const until = performance.now() + 0.2
    while (performance.now() < until);
  })
  hub.on('not_responding', () => liveness++)
  hub.on('responding', () => liveness++)
  const r = await sources.burst(hub, { name: 'o', count: 400, threads: 2, payloadBytes: 24, encoding: 'raw' })
  await until(() => got >= r.emitted, 'overflow delivered')
  await hub.close()
  const s = hub.stats()
  expect(s.delivered === got && s.emitted === s.delivered + s.refused + s.discarded + s.queued && s.refused === r.lost, `overflow books: ${JSON.stringify(s)}`)
  figures.push(`overflow ${s.refused} refused, ${liveness} liveness events`)
}

// 3. JS emits (borrowed Uint8Array slices), ref/unref, polling through the
// wake-up of an unref'd hub, ticker, close with a source running.
{
  const hub = hubOf({ capacity: 64 })
  let got = 0
  hub.on('j', () => got++)
  hub.on('t', () => got++)
  hub.unref()
  // Synchronous emits: the ring (64) takes what it can, the rest is refused.
  let accepted = 0
  for (let i = 0; i < 200; i++) if (hub.emit('j', { i, s: 'x'.repeat(i % 50) })) accepted++
  for (let i = 0; i < 50; i++) if (hub.emitRaw('j', new Uint8Array(i))) accepted++
  await until(() => got >= accepted, 'js emits delivered (unref)')
  const s = hub.stats()
  expect(s.delivered === accepted && s.emitted === s.delivered + s.refused + s.discarded + s.queued && s.refused === 250 - accepted, `js emit books: ${JSON.stringify(s)}`)
  hub.ref()
  const ticker = sources.ticker(hub, { name: 't', intervalMs: 1 })
  await until(() => got >= accepted + 20, 'ticker')
  void ticker
  await hub.close()
  figures.push(`${got} js+ticker events`)
}

// 4. The C sink through koffi, if this build has one.
{
  let line = 'sink: not in this build'
  const probe = hubOf()
  if (typeof probe.nativeSink === 'function') {
    const koffi = require('koffi')
    const lib = koffi.load(addon)
    const emit = lib.func('int ffi_events_emit(void *, const char *, size_t, const uint8_t *, size_t, int)')
    const callback = lib.func('void ffi_events_sink_callback(int, const uint8_t *, size_t, void *)')
    const sink = probe.nativeSink({ format: 'raw', name: 's' })
    let got = 0
    probe.on('s', () => got++)
    const payload = Buffer.alloc(48, 7)
    let accepted = 0
    // Lane 1: raw bytes (status 0: accepted).
    for (let i = 0; i < 100; i++) if (emit(sink.userData, 's', 1, payload, i % payload.length, 1) === 0) accepted++
    for (let i = 0; i < 50; i++) callback(0, payload, i % payload.length, sink.userData)
    await until(() => got >= accepted + 50, 'sink delivered')
    expect(accepted === 100, `sink: ${accepted} of 100 emits accepted`)
    await probe.close()
    let refused = 0
    for (let i = 0; i < 10; i++) if (emit(sink.userData, 's', 1, payload, payload.length, 1) !== 0) refused++
    for (let i = 0; i < 10; i++) callback(0, payload, payload.length, sink.userData)
    expect(refused === 10, `sink calls after close: ${refused} of 10 refused`)
    line = `sink: ${accepted} emits + 50 callbacks delivered, ${refused} + 10 refused after close`
  } else await probe.close()
  figures.push(line)
}

// 5. Hubs dropped without close() and collected (finalizer, hook removal).
{
  let made = 0
  for (let i = 0; i < 20; i++) {
    const hub = hubOf({ capacity: 32 })
    hub.on('g', () => {})
    hub.emit('g', i)
    // A ref'd hub with listeners holds the event loop, and so itself.
    hub.unref()
    made++
  }
  for (let i = 0; i < 5; i++) {
    globalThis.gc?.()
    await turn()
  }
  figures.push(`${made} hubs collected unclosed`)
}

// 6. Workers that make hubs and exit (or are terminated) without close().
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads')
const binding = require(workerData.addon)
const { EventHub, sources } = require(workerData.index)
const hub = new EventHub({ capacity: 128 }, { binding })
let n = 0
hub.on('tick', () => { if (++n === 3) parentPort.postMessage('ticking') })
sources.ticker(hub, { name: 'tick', intervalMs: 1 })
if (workerData.mode === 'burst') {
  hub.on('b', () => {})
  sources.burst(hub, { name: 'b', count: 1e9, threads: 2, payloadBytes: 32, encoding: 'raw' })
}
parentPort.on('message', (m) => { if (m === 'exit') process.exit(0) })
`
let workers = 0
for (const mode of ['exit', 'terminate', 'burst']) {
  const worker = new Worker(WORKER, { eval: true, workerData: { addon, index: join(root, 'dist', 'index.js'), mode } })
  const errors = []
  worker.on('error', (e) => errors.push(String(e?.stack ?? e)))
  const exited = new Promise((r) => worker.once('exit', r))
  await new Promise((r) => {
    worker.once('message', r)
    worker.once('exit', r)
  })
  if (mode === 'terminate') await worker.terminate()
  else worker.postMessage('exit')
  let guard
  const hang = new Promise((r) => {
    guard = setTimeout(() => r('hang'), 120_000)
  })
  const code = await Promise.race([exited, hang])
  clearTimeout(guard)
  expect(code !== 'hang', `worker (${mode}) did not exit`)
  expect(errors.length === 0, `worker (${mode}) errors: ${errors.join(' | ')}`)
  workers++
}
figures.push(`${workers} workers exited without close()`)

// 7. A hub still open, with a source running, when the main env ends.
{
  const hub = hubOf({ capacity: 64 })
  hub.on('end', () => {})
  sources.ticker(hub, { name: 'end', intervalMs: 1 })
  hub.unref()
}
console.log(`napi-memcheck: ok: ${figures.join('; ')}`)
