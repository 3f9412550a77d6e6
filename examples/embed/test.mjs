// Receives events emitted by this example addon's own native threads through
// the shared TypeScript API (EventHub), and checks that a hub created by the
// ffi-events package's own .node is refused instead of being cast blindly.
//
// Prerequisites: `npm run build` at the repository root (the TypeScript API)
// and `npm run build` here (this addon). Run: `node test.mjs`.
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
// The ffi-events package: the repository root here; `ffi-events` in an app.
const pkgRoot = join(here, '..', '..')

// 1. This addon's binding: the whole ffi-events binding (NativeHub, sources)
//    linked in as an rlib, plus startPeerSimulator.
const embed = require('./binding.js')
for (const name of ['NativeHub', 'startTicker', 'startBurst', 'EmitRefusal', 'startPeerSimulator']) {
  assert.ok(name in embed, `the embedding addon exports ${name}`)
}
console.log('ok  the embedding addon exports the ffi-events binding and startPeerSimulator')

// 2. A NativeHub from the ffi-events package's own .node is a different Rust
//    type in a different binary: it must be refused, not cast.
const { EventHub, nativeHubOf, sources } = require(pkgRoot)
const stockHub = new EventHub()
assert.throws(
  () => embed.startPeerSimulator(nativeHubOf(stockHub), { peers: 1, messages: 1, intervalMs: 0 }),
  /NativeHub created by this addon/,
)
console.log("ok  a NativeHub from the ffi-events package's own addon is refused")

// 3. The shared TypeScript API over this addon's binding: its hubs are this
//    addon's NativeHub, and `sources` use this addon's copy of the sources.
assert.throws(() => new EventHub({}, { binding: {} }), /advanced\.binding/)
const peers = 3
const messages = 5
// Counts calls so that step 4 can check which addon's sources ran.
let embeddedTickers = 0
const embedBinding = {
  ...embed,
  startTicker: (...args) => {
    embeddedTickers += 1
    return embed.startTicker(...args)
  },
}
const hub = new EventHub({ capacity: 256 }, { binding: embedBinding })
const connected = new Set()
const received = new Map()
const disconnected = new Map()
let lastAt = 0n
hub.on('peer_connected', (peer) => {
  assert.equal(typeof peer.id, 'string')
  assert.match(peer.addr, /^10\.0\.0\.\d+:4000$/)
  connected.add(peer.id)
})
hub.on('message', (msg, meta) => {
  assert.ok(connected.has(msg.from), 'message after peer_connected')
  assert.equal(msg.n, received.get(msg.from) ?? 0, 'messages of one peer arrive in order')
  assert.equal(msg.text, `hello #${msg.n} from ${msg.from}`)
  assert.equal(meta.lane, 'cbor')
  received.set(msg.from, msg.n + 1)
  lastAt = BigInt(msg.at)
})
const done = new Promise((resolve) => {
  hub.on('peer_disconnected', (peer) => {
    disconnected.set(peer.id, peer.sent)
    if (disconnected.size === peers) resolve()
  })
})

const sim = embed.startPeerSimulator(nativeHubOf(hub), { peers, messages, intervalMs: 2 })
const timeout = setTimeout(() => {
  console.error('FAIL timed out waiting for peer events', { connected, received, disconnected })
  process.exit(1)
}, 10_000)
await done
clearTimeout(timeout)
assert.equal(connected.size, peers)
for (const id of connected) {
  assert.equal(received.get(id), messages, `${id} delivered all its messages`)
  assert.equal(disconnected.get(id), messages)
}
const latencyUs = Number(process.hrtime.bigint() - lastAt) / 1000
console.log(
  `ok  ${peers} peers: peer_connected, ${peers * messages} messages and peer_disconnected received through EventHub` +
    ` (last message ${latencyUs.toFixed(0)} µs after it was emitted)`,
)

// 4. The built-in sources work on both hubs, each through its own addon.
for (const [label, h] of [['embedded', hub], ['stock', stockHub]]) {
  const tick = h.waitFor('tick', { timeoutMs: 2000 })
  sources.ticker(h, { name: 'tick', intervalMs: 1, count: 1 })
  assert.equal((await tick).n, 0)
  console.log(`ok  sources.ticker on the ${label} hub`)
}
assert.equal(embeddedTickers, 1, "the embedded hub's ticker ran in this addon, the stock hub's did not")
await stockHub.close()

// 5. close() joins the peer threads and keeps the counters balanced.
hub.removeAllListeners()
const longRunning = embed.startPeerSimulator(nativeHubOf(hub), { peers: 2, messages: 1_000_000, intervalMs: 1 })
await new Promise((r) => setTimeout(r, 20))
assert.equal(longRunning.running, 2)
await hub.close()
assert.equal(longRunning.running, 0, 'close() stops and joins peer threads')
assert.equal(sim.running, 0)
const s = hub.stats()
assert.equal(s.emitted, s.delivered + s.refused + s.discarded + s.queued)
assert.equal(s.runningThreads, 0)
console.log(`ok  close() joined the peer threads; emitted ${s.emitted} = delivered ${s.delivered} + refused ${s.refused} + discarded ${s.discarded} + queued ${s.queued}`)
console.log('embed example: all checks passed')
