/** What the main process sends over IPC; plain data (no bigint, no Buffer). */
export interface TickMessage {
  n: number
  seq: number
  /** From the native emit (`tick.at`) to the main-process listener, in µs. */
  latencyUs: number
}

export interface StatsMessage {
  emitted: number
  delivered: number
  /** Refused because the ring was full. */
  refused: number
  /** Accepted, then lost (teardown; `'dropOldest'` would count here too). */
  discarded: number
  queued: number
  batches: number
  stuck: boolean
}

/** What the preload exposes as `window.ffiEvents` (contextBridge). */
export interface FfiEventsBridge {
  onTick(listener: (tick: TickMessage) => void): () => void
  onStats(listener: (stats: StatsMessage) => void): () => void
}

export const CHANNEL_TICK = 'ffi-events:tick'
export const CHANNEL_STATS = 'ffi-events:stats'
