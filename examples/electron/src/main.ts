// Electron main process: one hub, one native source, events forwarded to the
// window over IPC. Node-API is ABI-stable, so the same prebuilt .node serves
// Node and Electron (no electron-rebuild).
import { app, BrowserWindow } from 'electron'
import { join } from 'node:path'
import { EventHub, sources, type Tick } from 'ffi-events'

import { CHANNEL_STATS, CHANNEL_TICK, type StatsMessage, type TickMessage } from './bridge'

type Events = { tick: Tick }

let hub: EventHub<Events> | undefined
let window: BrowserWindow | undefined
let ticksSeen = 0

function send(channel: string, message: TickMessage | StatsMessage): void {
  if (window !== undefined && !window.isDestroyed()) window.webContents.send(channel, message)
}

function openHub(): EventHub<Events> {
  const h = new EventHub<Events>({ capacity: 1024, stallTimeoutMs: 2000 })
  h.on('tick', (tick, meta) => {
    ticksSeen++
    const latencyUs = Number(process.hrtime.bigint() - tick.at) / 1000
    send(CHANNEL_TICK, { n: tick.n, seq: meta.seq, latencyUs })
  })
  h.on('not_responding', (why) => console.warn('native side not responding:', why.reason, why.overflowed))
  h.onError((err) => console.error('ffi-events:', err.code, err.message))
  // A native thread, owned by the hub: joined by close().
  sources.ticker(h, { name: 'tick', intervalMs: 100, heartbeat: true })
  const timer = setInterval(() => {
    const s = h.stats()
    send(CHANNEL_STATS, {
      emitted: s.emitted,
      delivered: s.delivered,
      refused: s.refused,
      discarded: s.discarded,
      queued: s.queued,
      batches: s.batches,
      stuck: s.stuck,
    })
  }, 500)
  timer.unref()
  return h
}

function createWindow(): BrowserWindow {
  const w = new BrowserWindow({
    width: 640,
    height: 400,
    webPreferences: {
      preload: join(__dirname, 'preload.js'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
    },
  })
  void w.loadFile(join(__dirname, '..', 'index.html'))
  return w
}

void app.whenReady().then(() => {
  hub = openHub()
  window = createWindow()
  // CI: quit by itself after FFI_EVENTS_EXAMPLE_SMOKE_MS, failing if no tick arrived.
  const smokeMs = Number(process.env.FFI_EVENTS_EXAMPLE_SMOKE_MS ?? 0)
  if (smokeMs > 0) {
    setTimeout(() => {
      console.log(`smoke test: ${ticksSeen} native ticks received in the main process`)
      if (ticksSeen > 0) app.quit()
      else app.exit(1)
    }, smokeMs)
  }
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) window = createWindow()
  })
})

app.on('window-all-closed', () => {
  if (process.platform !== 'darwin') app.quit()
})

// Close the hub before the process exits: stops and joins the native thread
// and delivers what was accepted. Quitting waits for it once.
app.on('will-quit', (event) => {
  const h = hub
  if (h === undefined) return
  hub = undefined
  event.preventDefault()
  h.close().then(
    () => app.quit(),
    (err: unknown) => {
      console.error('closing the hub failed:', err)
      app.exit(1)
    },
  )
})
