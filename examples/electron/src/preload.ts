// Preload of a sandboxed, context-isolated renderer: only `electron`'s
// renderer modules are available here. Exposes a narrow, typed API; the
// renderer never sees ipcRenderer itself.
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron'

import type { FfiEventsBridge, StatsMessage, TickMessage } from './bridge'

// Channel names repeated here: a sandboxed preload cannot require local files.
const CHANNEL_TICK = 'ffi-events:tick'
const CHANNEL_STATS = 'ffi-events:stats'

function subscribe<T>(channel: string, listener: (message: T) => void): () => void {
  const handler = (_event: IpcRendererEvent, message: T): void => listener(message)
  ipcRenderer.on(channel, handler)
  return () => {
    ipcRenderer.removeListener(channel, handler)
  }
}

const bridge: FfiEventsBridge = {
  onTick: (listener) => subscribe<TickMessage>(CHANNEL_TICK, listener),
  onStats: (listener) => subscribe<StatsMessage>(CHANNEL_STATS, listener),
}

contextBridge.exposeInMainWorld('ffiEvents', bridge)
