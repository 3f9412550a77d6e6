// Renderer (sandboxed, no Node): talks to the main process only through
// `window.ffiEvents`, which the preload exposed. A script, not a module.
interface Window {
  ffiEvents: import('./bridge').FfiEventsBridge
}

{
  const tickEl = document.getElementById('tick') as HTMLElement
  const latencyEl = document.getElementById('latency') as HTMLElement
  const statsEl = document.getElementById('stats') as HTMLElement

  window.ffiEvents.onTick((tick) => {
    tickEl.textContent = `tick #${tick.n} (seq ${tick.seq})`
    latencyEl.textContent = `${tick.latencyUs.toFixed(0)} µs native thread -> main process`
  })
  window.ffiEvents.onStats((s) => {
    statsEl.textContent =
      `emitted ${s.emitted}, delivered ${s.delivered}, refused ${s.refused}, discarded ${s.discarded}, ` +
      `queued ${s.queued}, batches ${s.batches}${s.stuck ? ', NOT RESPONDING' : ''}`
  })
}
