// An app's use of the typed API, type-checked (never run) under strict
// settings by scripts/consumer-types.mjs (`npm run typecheck`).
import { EventHub, EventHubError, sources, type EventHubStats, type EventMeta, type NativeSink, type Tick } from 'ffi-events'

interface Events {
  tick: Tick
  peer_connected: { id: string; addr?: string }
  frame: Uint8Array
}

export async function main(signal: AbortSignal): Promise<number> {
  const hub = new EventHub<Events>({ capacity: 1024, overflow: 'reject', stallTimeoutMs: 5000 })
  hub.on('tick', (tick: Tick, meta: EventMeta<'tick'>) => {
    const at: bigint = tick.at
    return [tick.n, at, meta.seq]
  })
  hub.on('peer_connected', (peer) => peer.addr?.toUpperCase() ?? peer.id)
  hub.on('frame', (bytes) => bytes.byteLength)
  hub.on('not_responding', (why) => why.reason)
  hub.onError((err: EventHubError) => (err.code === 'ERR_EVENT_DECODE' ? err.eventName : err.message))
  // @ts-expect-error: unknown event name
  hub.on('nope', () => {})
  // @ts-expect-error: wrong payload type
  hub.emit('peer_connected', { id: 1 })
  hub.emit('peer_connected', { id: 'a' })
  hub.emitRaw('frame', new Uint8Array(8))

  const sink: NativeSink = hub.nativeSink({ format: 'cbor', name: 'tick' })
  const handle: bigint = sink.callback
  sink[Symbol.dispose]()

  const control = sources.ticker(hub, { name: 'tick', intervalMs: 10, count: 3 })
  const tick = await hub.waitFor('tick', { timeoutMs: 1000, signal })
  for await (const next of hub.events('tick', { signal })) {
    if (next.n >= 2) break
  }
  control.stop()
  const stats: EventHubStats = hub.stats()
  await hub[Symbol.asyncDispose]()
  if (!(new EventHubError('x', { code: 'ERR_HUB_CLOSED' }) instanceof Error)) return -1
  return tick.n + stats.delivered + Number(handle)
}
