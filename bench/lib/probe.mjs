// The machine probe: how long a cache line takes to go from one CPU to the
// other and back, measured by two threads that hand a counter back and forth
// through shared memory (this thread and a worker, both spinning).
//
// Why: this VM's two vCPUs are sometimes placed far apart by its host. While
// they are, the probe's round trip is about 550 ns instead of 110–125 ns (70
// when they are two hyperthreads of one core), and every transport whose
// producer and consumer threads must talk, ffi-events, (a) and (b) alike,
// runs at half its rate or less: a 64 B raw burst at 5.0–5.9 M/s in batches
// of 40–75 events instead of 10–14.8 M/s in batches of 250–900, for 20 s to
// more than a minute at a time (bench/README.md, "The machine probe").
// Nothing else in the guest shows it: no steal time, no other load. A
// repetition of a row that ran in that state is not the machine the other
// rows ran on, so the runner reads the probe after every run and does the
// repetition again (`MachineGuard`; the throughput rows in child.mjs, the
// latency rows' turns in latency.mjs).

import { Worker } from 'node:worker_threads'

/**
 * Round trips slower than this mean the two threads ran on distant CPUs:
 * between the states seen here (about 120 ns and 550 ns), and above what two
 * cores of one socket take on common hardware.
 */
const DISTANT_RTT_NS = Number(process.env.FFI_EVENTS_BENCH_DISTANT_RTT_NS ?? 300)

/** How long the partner may take to answer one ping before a reading fails. */
const PARTNER_SILENT_MS = 5000

// Slots of the shared Int32Array, each on a cache line of its own.
const PING = 0
const PONG = 16
const RUN = 32
const QUIT = 48

const PARTNER = `
const { workerData } = require('node:worker_threads')
const a = new Int32Array(workerData)
for (;;) {
  Atomics.wait(a, ${RUN}, 0)
  if (Atomics.load(a, ${QUIT}) === 1) break
  let seen = 0
  while (Atomics.load(a, ${RUN}) === 1) {
    const ping = Atomics.load(a, ${PING})
    if (ping !== seen) {
      seen = ping
      Atomics.store(a, ${PONG}, ping)
    }
  }
}`

/**
 * A reading is the median of this many windows: a thread of the process
 * that takes one of the CPUs for a moment (a GC helper, a producer winding
 * down) spoils a window or two, where distant CPUs slow every window.
 */
const WINDOWS = 5

/**
 * Starts the probe's partner thread (parked until a reading). `read(ms)`
 * spins both threads for about `ms` and returns the round trip in ns;
 * `stop()` ends the partner.
 */
async function startProbe() {
  const shared = new Int32Array(new SharedArrayBuffer(4 * (QUIT + 16)))
  const partner = new Worker(PARTNER, { eval: true, workerData: shared.buffer })
  await new Promise((resolve, reject) => {
    partner.once('online', resolve)
    partner.once('error', reject)
  })
  /** One exchange: this thread pings `i`, waits for the partner's pong (a partner silent for seconds is an error, not a hang). */
  const exchange = (i) => {
    Atomics.store(shared, PING, i)
    let since = 0
    for (let spins = 1; Atomics.load(shared, PONG) !== i; spins++) {
      if (spins % 1_000_000 !== 0) continue
      const now = performance.now()
      if (since === 0) since = now
      else if (now - since > PARTNER_SILENT_MS) throw new Error(`machine probe: the partner thread did not answer for ${PARTNER_SILENT_MS} ms`)
    }
  }
  let next = 0
  return {
    read(ms = 20) {
      Atomics.store(shared, RUN, 1)
      Atomics.notify(shared, RUN)
      // The partner's wake-up is not part of the reading.
      exchange(++next)
      const windows = []
      for (let w = 0; w < WINDOWS; w++) {
        const start = next
        const t0 = performance.now()
        const end = t0 + ms / WINDOWS
        while (performance.now() < end) for (let k = 0; k < 64; k++) exchange(++next)
        windows.push(((performance.now() - t0) * 1e6) / (next - start))
      }
      Atomics.store(shared, RUN, 0)
      return windows.sort((x, y) => x - y)[WINDOWS >> 1]
    },
    async stop() {
      Atomics.store(shared, QUIT, 1)
      Atomics.store(shared, RUN, 1)
      Atomics.notify(shared, RUN)
      await partner.terminate()
    },
  }
}

/** Whether a probe reading says the two threads ran on distant CPUs. */
const distant = (rttNs) => rttNs > DISTANT_RTT_NS

/** Repetitions of a row done again because the CPUs were far apart, at most. */
const MAX_REDONE = 4
/** How long a repetition waits for the CPUs to come close again before it starts, at most. */
const SETTLE_MS = 60_000

/**
 * Keeps a row's repetitions to the machine's usual state: `settle()` before
 * a repetition waits until the probe reads close CPUs, `after()` reads it
 * after each run, and `keep()` at the end of the repetition says whether to
 * keep it or do it again (at most MAX_REDONE times, within `budgetMs` of
 * waiting: past either, it is kept and counted in `report.distantKept`).
 */
export class MachineGuard {
  #probe
  #pending = []
  /** What the row's figures rest on: readings after the kept runs (ns), repetitions done again, time waited. */
  report

  constructor(probe, budgetMs) {
    this.#probe = probe
    this.report = { readings: [], redone: 0, waitedMs: 0, distantKept: 0, budgetMs }
  }

  static async start(budgetMs = 0) {
    return new MachineGuard(await startProbe(), budgetMs)
  }

  /** Waits until the probe no longer reads the CPUs as far apart (at most SETTLE_MS and the budget left). */
  async settle() {
    const t0 = Date.now()
    const limit = Math.min(SETTLE_MS, this.report.budgetMs - this.report.waitedMs)
    while (distant(this.#probe.read()) && Date.now() - t0 < limit) await new Promise((r) => setTimeout(r, 500))
    this.report.waitedMs += Date.now() - t0
  }

  /** A reading after a run of the repetition under way. */
  after() {
    this.#pending.push(this.#probe.read(10))
  }

  /** Ends a repetition: false when it ran with the CPUs far apart and is to be done again. */
  keep() {
    const readings = this.#pending
    this.#pending = []
    const r = this.report
    const far = readings.some(distant)
    if (far && r.redone < MAX_REDONE && r.waitedMs < r.budgetMs) {
      r.redone++
      return false
    }
    if (far) r.distantKept++
    r.readings.push(...readings)
    return true
  }

  async stop() {
    await this.#probe.stop()
  }
}
