/**
 * ffi-events: typed events from native threads (Rust crates and any C-ABI
 * library) to TypeScript listeners.
 *
 * @example
 * import { EventHub, sources } from 'ffi-events'
 * type Events = { tick: { n: number; at: bigint } }
 * const hub = new EventHub<Events>()
 * hub.on('tick', (tick, meta) => console.log(meta.seq, tick.n))
 * sources.ticker(hub, { name: 'tick', intervalMs: 10, count: 3 })
 */
export { EventHub, nativeHubOf } from './lib/hub'
export type { EventHubBindingOptions, NativeHubHandle } from './lib/hub'
export type { BindingModule } from './lib/load'
export { EventHubError } from './lib/errors'
export type { EventHubErrorCode, EventHubErrorOptions, ReportingSink } from './lib/errors'
export { NativeSink, staleSinkCalls } from './lib/sink'
export type { NativeSinkFormat } from './lib/sink'
export { sources } from './lib/sources'
export type { BurstEncoding, BurstItem, BurstOptions, BurstPayloads, BurstResult, SourceControl, SourceName, Tick, TickerOptions } from './lib/sources'
export type {
  AllEvents,
  AnyEventArgs,
  AnyListener,
  BuiltinEvents,
  EventHubOptions,
  EventHubStats,
  EmitName,
  EventMap,
  EventMeta,
  EventName,
  EventsOptions,
  Lane,
  Listener,
  LivenessEventName,
  LivenessPayload,
  NativeSinkOptions,
  NativeSinkStats,
  RawEventName,
  RawListener,
  RawSpanListener,
  RequestOptions,
  Delivered,
  WaitForOptions,
} from './lib/types'
