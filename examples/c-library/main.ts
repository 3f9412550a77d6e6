// A C library with a nim-ffi-style event API (peer.c) reports events from
// its own thread; typed TypeScript listeners receive them, through koffi and
// hub.nativeSink(). Then one request, the nim-ffi way (the library answers
// later, from its own thread), awaited with hub.request(). The library's
// threads never wait for JavaScript.
//
//   node examples/c-library/build.mjs            # cc → examples/c-library/build/libpeer.so
//   node --import tsx examples/c-library/main.ts [path/to/libpeer.so]
import { join } from 'node:path'

import { encode } from 'cbor-x'
import { EventHub, type EventHubError } from 'ffi-events'
import koffi from 'koffi'

/** The library's events: name → payload, as its CBOR envelopes carry them. */
type Events = {
  peer_connected: { peerId: number; address: string }
  message_received: { from: number; text: string }
}

/** peer_ping's reply: the request as sent, and the peers the library knows. */
type Pong = { pong: { nonce: number }; peers: number }

const library = koffi.load(process.argv[2] ?? join(__dirname, 'build', process.platform === 'darwin' ? 'libpeer.dylib' : 'libpeer.so'))
// The callback and user_data parameters are `void *`: the sink's BigInt addresses pass straight through.
const peerCreate = library.func('void *peer_create(void)')
const peerAddEventListener = library.func('uint64_t peer_add_event_listener(void *ctx, const char *event_name, void *callback, void *user_data)')
const peerStart = library.func('int peer_start(void *ctx, uint32_t peers)')
const peerDestroy = library.func('void peer_destroy(void *ctx)')
const peerPing = library.func('int peer_ping(void *ctx, void *callback, void *user_data, const uint8_t *req, size_t len)')

async function main(): Promise<void> {
  const hub = new EventHub<Events>()
  // Format 'envelope' (the default): each event is named by its eventType.
  const sink = hub.nativeSink()

  hub.on('peer_connected', ({ peerId, address }) => {
    console.log(`peer ${peerId} connected from ${address}`)
  })
  hub.on('message_received', ({ from, text }, meta) => {
    console.log(`#${meta.seq} message from peer ${from}: ${text}`)
  })
  // A call with ret != 0 arrives here as ERR_NATIVE_ERROR, in order with the events around it.
  const failed = new Promise<EventHubError>((resolve) => hub.onError(resolve))

  const ctx = peerCreate()
  if (ctx === null) throw new Error('peer_create failed')
  for (const name of ['peer_connected', 'message_received'] as const) {
    if (Number(peerAddEventListener(ctx, name, sink.callback, sink.userData)) === 0) throw new Error(`cannot listen to ${name}`)
  }
  if (peerStart(ctx, 3) !== 0) throw new Error('peer_start failed')

  const error = await failed
  console.log(`library error (${error.code}): ${error.message}`)

  // A request: peer_ping copies the request and returns 0 at once; its thread calls
  // the one-shot (callback, userData) pair later with the CBOR reply.
  const ping = encode({ nonce: 7 })
  const pong = await hub.request<Pong>((callback, userData) => peerPing(ctx, callback, userData, ping, ping.length), {
    format: 'cbor',
    timeoutMs: 2000,
  })
  console.log(`pong ${pong.pong.nonce} from a library with ${pong.peers} peers`)

  // Join the library's thread before going on: after this nothing calls the sink.
  peerDestroy(ctx)
  sink.close()
  const s = sink.stats()
  console.log(`sink: ${s.calls} calls, ${s.accepted} accepted, ${s.refused} refused, ${s.nativeErrors} library error(s), ${s.malformed} malformed`)
  await hub.close()
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
