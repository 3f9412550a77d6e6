// Runs dist/main.js under plain Node with a fake `electron` module (for CI
// machines without the Electron binary): checks that ticks and stats are
// forwarded over webContents.send and that will-quit closes the hub first.
const Module = require('node:module')
const { EventEmitter } = require('node:events')
const assert = require('node:assert/strict')
const sent = []
let quitCalls = 0
const app = new EventEmitter()
let ready
app.whenReady = () => new Promise((r) => (ready = r))
app.quit = () => {
  quitCalls++
  const event = { defaultPrevented: false, preventDefault() { this.defaultPrevented = true } }
  app.emit('will-quit', event)
  if (!event.defaultPrevented) app.emit('quit-done')
}
app.exit = (code) => { throw new Error('app.exit ' + code) }
class BrowserWindow {
  constructor(opts) { this.opts = opts; BrowserWindow.last = this; this.webContents = { send: (ch, m) => sent.push([ch, m]) } }
  loadFile(f) { this.file = f; return Promise.resolve() }
  isDestroyed() { return false }
  static getAllWindows() { return [BrowserWindow.last] }
}
const fake = { app, BrowserWindow }
const orig = Module._load
Module._load = function (request, ...rest) { return request === 'electron' ? fake : orig.call(this, request, ...rest) }
require(require("node:path").join(__dirname, "dist", "main.js"))
ready()
setTimeout(() => {
  const w = BrowserWindow.last
  assert.equal(w.opts.webPreferences.contextIsolation, true)
  assert.equal(w.opts.webPreferences.sandbox, true)
  const ticks = sent.filter(([c]) => c === 'ffi-events:tick')
  const stats = sent.filter(([c]) => c === 'ffi-events:stats')
  assert.ok(ticks.length >= 5, `ticks forwarded: ${ticks.length}`)
  assert.ok(stats.length >= 1, 'stats forwarded')
  app.on('quit-done', () => {
    assert.equal(quitCalls, 2, 'will-quit deferred once, then quit again after close()')
    const last = stats.at(-1)[1]
    console.log(`ok  electron main (fake electron): ${ticks.length} ticks and ${stats.length} stats sent over IPC, e.g.`, ticks[0][1], last, '; will-quit closed the hub, then quit')
    process.exit(0)
  })
  app.quit()
}, 1200)
setTimeout(() => { console.error('FAIL: quit did not complete'); process.exit(1) }, 5000)
