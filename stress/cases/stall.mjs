// Case 4: producer stall. A native ticker heartbeats, stops for longer than
// stallTimeoutMs, and a producer resumes heartbeating: exactly one
// not_responding (reason 'stalled') then exactly one responding, per cycle.
import { Check, EventHub, sleep, sources, until } from '../lib.mjs'

export async function run({ reduced }) {
  const check = new Check()
  const cycles = reduced ? 1 : 5
  const stallTimeoutMs = reduced ? 250 : 300
  const hub = new EventHub({ stallTimeoutMs })
  const liveness = []
  hub.on('not_responding', (p, meta) => liveness.push({ name: 'not_responding', seq: meta.seq, ...p, at: performance.now() }))
  hub.on('responding', (p, meta) => liveness.push({ name: 'responding', seq: meta.seq, ...p, at: performance.now() }))
  let ticks = 0
  hub.on('tick', () => {
    ticks++
  })
  const detections = []
  let ticker = sources.ticker(hub, { name: 'tick', intervalMs: 2, heartbeat: true })
  for (let c = 0; c < cycles; c++) {
    // Heartbeating for a while: no episode.
    const ticksBefore = ticks
    await until(() => ticks >= ticksBefore + 20, 'ticks while heartbeating')
    const stopped = performance.now()
    ticker.stop()
    check.that(!ticker.running, 'ticker still running after stop()')
    await until(() => liveness.length >= 2 * c + 1, `not_responding of cycle ${c + 1}`, 30_000 + 10 * stallTimeoutMs)
    detections.push(liveness[2 * c].at - stopped)
    // Stay stalled a good while longer: still one event only.
    await sleep(3 * stallTimeoutMs)
    check.eq(liveness.length, 2 * c + 1, `liveness events during the stall of cycle ${c + 1}`)
    // Resume.
    ticker = sources.ticker(hub, { name: 'tick', intervalMs: 2, heartbeat: true })
    await until(() => liveness.length >= 2 * c + 2, `responding of cycle ${c + 1}`, 30_000)
  }
  // Stop for good and close before the watchdog can see a new stall.
  ticker.stop()
  await hub.close()
  const s = hub.stats()
  check.eq(liveness.length, 2 * cycles, 'liveness events in all')
  liveness.forEach((l, i) => {
    check.eq(l.name, i % 2 === 0 ? 'not_responding' : 'responding', `liveness event ${i + 1}`)
    check.eq(l.reason, 'stalled', `liveness event ${i + 1} reason`)
    check.eq(l.seq, 0, `liveness event ${i + 1} meta.seq`)
    check.eq(l.overflowed, 0, `liveness event ${i + 1} overflowed`)
  })
  check.eq(s.refused, 0, 'refused ticks')
  check.eq(s.discarded, 0, 'discarded ticks')
  check.eq(s.emitted, s.delivered, 'ticks emitted == delivered')
  check.eq(ticks, s.delivered, 'ticks received')
  const detect = detections.map((d) => Math.round(d))
  return {
    figures: { cycles, stallTimeoutMs, episodes: liveness.length / 2, ticks, detectionMs: detect },
    line: `${cycles} stall cycle(s) at stallTimeoutMs ${stallTimeoutMs}: ${liveness.filter((l) => l.name === 'not_responding').length} not_responding(stalled) + ${liveness.filter((l) => l.name === 'responding').length} responding, in order; detected ${detect.join('/')} ms after the stop; ${ticks} ticks, 0 refused, 0 discarded`,
    violations: check.violations,
  }
}
